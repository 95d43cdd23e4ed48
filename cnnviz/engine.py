"""Running models fast: one compiled forward function per model, reused, and
batched calls over many inputs (never one ``model.predict`` per image)."""
from __future__ import annotations

import weakref
from typing import Optional

import numpy as np

from .progress import CancelToken, ProgressFn, check, report

_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
DEFAULT_BATCH = 256


def compiled(model):
    """``model(x, training=False)`` as a ``tf.function``, built once per model."""
    fn = _COMPILED.get(model)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
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
