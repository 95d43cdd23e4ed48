"""Monte Carlo dropout (Gal & Ghahramani 2016, "Dropout as a Bayesian
approximation"): keep dropout on at prediction time, run many stochastic
passes, and read the spread of the class probabilities as the model's
uncertainty.

Only the dropout layers are switched to training behaviour (a clone whose
dropout layers always drop; every other layer is the model's own, so
BatchNormalization keeps its inference statistics). All passes of all images
go through the model as one batch: each image repeated ``passes`` times.
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..models.predict import as_probabilities, check_classifier
from ..models.zoo import model_info

_MC: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
MAX_BATCH = 256            # rows per call (images x passes), as the forward pass batches; a big model needs the memory


def _dropout_types() -> tuple:
    import keras

    # SpatialDropout* are Dropouts
    return keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout


def dropout_layers(model) -> list[str]:
    """Names of the model's dropout layers (nested models included)."""
    types = _dropout_types()
    found = []
    for layer in model.layers:
        if isinstance(layer, types):
            found.append(layer.name)
        elif hasattr(layer, "layers"):
            found += [f"{layer.name}/{name}" for name in dropout_layers(layer)]
    return found


@functools.cache
def _always_on(cls):
    """A subclass of a dropout layer class that drops whatever ``training`` says."""
    def call(self, inputs, training=None):
        return cls.call(self, inputs, training=True)

    return type(f"MonteCarlo{cls.__name__}", (cls,), {"call": call})


def mc_dropout_model(model, seed: Optional[int] = None):
    """The model with its dropout layers always on and every other layer
    shared (weights and all); built once per model, or anew with the dropout
    layers' random streams started from ``seed``."""
    import keras

    cached = _MC.get(model)
    if cached is not None and seed is None:
        return cached
    if not dropout_layers(model):
        raise CnnvizError(f"{model_info(model).name} has no dropout layers, so MC dropout has nothing to vary: use a "
                          "model trained with Dropout (e.g. cifar10_cnn), or predict without --mc-dropout")
    types = _dropout_types()

    def clone(layer):
        if isinstance(layer, types):
            return _always_on(type(layer)).from_config(layer.get_config())
        return layer

    if seed is not None:
        keras.utils.set_random_seed(seed)      # the new dropout layers draw their seeds from it
    mc = keras.models.clone_model(model, clone_function=clone, recursive=True)
    if seed is None:
        _MC[model] = mc
    return mc


@dataclass
class MCDropoutResult:
    mean: np.ndarray          # (N, classes) mean probability over the passes
    std: np.ndarray           # (N, classes) standard deviation over the passes
    samples: np.ndarray       # (passes, N, classes)
    classes: tuple

    @property
    def passes(self) -> int:
        return len(self.samples)


def mc_dropout(model, x: np.ndarray, passes: int = 30, seed: Optional[int] = None,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> MCDropoutResult:
    """``passes`` stochastic forward passes with dropout on for preprocessed
    inputs ``x``: the mean and standard deviation of each class probability.
    All passes of up to ``MAX_BATCH // passes`` images run as one batch; the
    same ``seed`` gives the same passes."""
    import tensorflow as tf


    if passes < 2:
        raise CnnvizError(f"--mc-dropout {passes}: give at least 2 passes (30 is usual)")
    check_classifier(model)
    fn = _compiled(mc_dropout_model(model, seed))
    per_call = max(1, MAX_BATCH // passes)
    chunks = []
    for start in range(0, len(x), per_call):
        check(cancel)
        report(progress, start, len(x), f"MC dropout, {passes} passes")
        batch = np.repeat(np.asarray(x[start:start + per_call], np.float32), passes, axis=0)
        out = np.asarray(fn(tf.constant(batch)))
        chunks.append(out.reshape(-1, passes, out.shape[-1]))
    report(progress, len(x), len(x), f"MC dropout, {passes} passes")
    samples = as_probabilities(model, np.concatenate(chunks)).transpose(1, 0, 2)     # (passes, N, classes)
    return MCDropoutResult(samples.mean(0), samples.std(0), samples, tuple(model_info(model).classes))


_FN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(mc):
    fn = _FN.get(mc)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: mc(x, training=False), reduce_retracing=True)
        _FN[mc] = fn
    return fn
