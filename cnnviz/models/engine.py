"""Running models fast: one compiled forward function per model, reused, and
batched calls over many inputs (never one ``model.predict`` per image)."""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.runtime import model_cache
from .graph import feature_model, is_model

_COMPILED: "weakref.WeakKeyDictionary" = model_cache()
_ACTIVATION_BYTES: "weakref.WeakKeyDictionary" = model_cache()
DEFAULT_BATCH = 256
BATCH_MEMORY = 1 << 29     # bytes of layer outputs one batch may hold: 512 MB (VGG16 at 224: 8 images)


def once_per_model(fn):
    """``tf.function(fn)`` for a function built once per model (and layer, or
    rule). TensorFlow's frequent-retracing warning counts traces per Python
    code object, i.e. across the separate per-model functions built from the
    same code, so working on a sixth model would raise a false alarm."""
    import tensorflow as tf

    function = tf.function(fn, reduce_retracing=True)
    if hasattr(function, "_omit_frequent_tracing_warning"):
        function._omit_frequent_tracing_warning = True
    return function


def compiled(model):
    """``model(x, training=False)`` as a ``tf.function``, built once per model."""
    fn = _COMPILED.get(model)
    if fn is None:
        fn = once_per_model(lambda x: model(x, training=False))
        _COMPILED[model] = fn
    return fn


def activation_bytes(model) -> int:
    """Bytes of every layer's output for one input (float32; the input layer
    included), nested models counted layer by layer; a size the graph leaves
    open counts as 224."""
    size = _ACTIVATION_BYTES.get(model)
    if size is None:
        size = _ACTIVATION_BYTES[model] = 4 * _output_values(model)
    return size


def _output_values(model) -> int:
    total = 0
    for layer in model.layers:
        if is_model(layer):
            total += _output_values(layer)
            continue
        try:
            outputs = layer.output
        except (AttributeError, ValueError):      # a layer never called, or called more than once
            continue
        for tensor in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            total += int(np.prod([d or 224 for d in tensor.shape[1:]]))
    return max(total, 1)


def batch_rows(model, wanted: Optional[int] = None, backward: bool = False) -> int:
    """Inputs per batch: ``wanted`` (default 256) capped so that one batch's
    layer outputs stay within :data:`BATCH_MEMORY`, twice as many bytes per
    input when a backward pass keeps them for the gradients."""
    per_input = activation_bytes(model) * (2 if backward else 1)
    return int(max(1, min(wanted or DEFAULT_BATCH, BATCH_MEMORY // per_input)))


def forward(model, x: np.ndarray, batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None, message: str = "running the model") -> np.ndarray:
    """The model's output for every input in ``x``, in batches of
    ``batch_size`` (default: :func:`batch_rows`)."""
    fn = compiled(model)
    batch_size = batch_size or batch_rows(model)
    outputs = []
    for start in range(0, len(x), batch_size):
        check(cancel)
        report(progress, start, len(x), message)
        outputs.append(np.asarray(fn(np.asarray(x[start:start + batch_size], np.float32))))
    report(progress, len(x), len(x), message)
    return np.concatenate(outputs) if outputs else np.empty((0,) + tuple(model.outputs[0].shape[1:]), np.float32)


_FEATURES: "weakref.WeakKeyDictionary" = model_cache()


def feature_function(model, layers: tuple[str, ...]):
    """A compiled function from input to the outputs of ``layers`` (a list, one
    array per layer), built once per model and layer set and reused."""
    per_model = _FEATURES.setdefault(model, {})
    key = tuple(layers)
    if key not in per_model:
        sub = feature_model(model, list(key))
        per_model[key] = once_per_model(lambda x: sub(x, training=False))
    return per_model[key]


def features(model, x: np.ndarray, layers: tuple[str, ...]) -> list[np.ndarray]:
    """Outputs of ``layers`` for inputs ``x``, in one forward pass."""
    outs = feature_function(model, tuple(layers))(np.asarray(x, np.float32))
    return [np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]
