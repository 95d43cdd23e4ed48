"""Running models fast: one compiled forward function per model, reused, and
batched calls over many inputs (never one ``model.predict`` per image)."""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.runtime import model_cache
from .graph import feature_model

_COMPILED: "weakref.WeakKeyDictionary" = model_cache()
DEFAULT_BATCH = 256


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


def forward(model, x: np.ndarray, batch_size: int = DEFAULT_BATCH, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None, message: str = "running the model") -> np.ndarray:
    """The model's output for every input in ``x``, in batches of ``batch_size``."""
    fn = compiled(model)
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
