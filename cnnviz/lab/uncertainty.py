"""Monte Carlo dropout (Gal & Ghahramani 2016, "Dropout as a Bayesian
approximation"): keep dropout on at prediction time, run many stochastic
passes, and read the spread of the class probabilities as the model's
uncertainty.

Only the dropout layers are switched to training behaviour (a clone whose
dropout layers always drop; every other layer is the model's own, so
BatchNormalization keeps its inference statistics). The passes go through
the model in batches of at most ``MAX_BATCH`` rows, each image repeated.
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.runtime import model_cache
from ..models.predict import as_probabilities, check_classifier
from ..models.zoo import model_info

_MC: "weakref.WeakKeyDictionary" = model_cache()
MAX_BATCH = 256            # rows per call (images x passes), as the forward pass batches; a big model needs the memory
MAX_SAMPLES = 50_000_000   # probabilities kept (passes x images x classes): 200 MB of float32


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
    Every model call holds at most ``MAX_BATCH`` rows (images x passes): all
    passes of up to ``MAX_BATCH // passes`` images, or, for more passes than
    that, an image's passes in chunks. The same ``seed`` gives the same passes."""
    import tensorflow as tf

    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 2:
        raise CnnvizError(f"--mc-dropout {passes}: give a whole number of at least 2 passes (30 is usual)")
    check_classifier(model)
    classes = int(model.outputs[0].shape[-1] or 1)
    if passes * len(x) * classes > MAX_SAMPLES:
        raise CnnvizError(f"--mc-dropout {passes} on {len(x)} image(s) of {classes} classes keeps "
                          f"{passes * len(x) * classes:,} probabilities, over the {MAX_SAMPLES:,} allowed: "
                          f"use at most {max(2, MAX_SAMPLES // (len(x) * classes)):,} passes (30 is usual)")
    fn = _compiled(mc_dropout_model(model, seed))
    label = f"MC dropout, {passes} passes"
    chunks = []
    if passes <= MAX_BATCH:
        per_call = MAX_BATCH // passes
        for start in range(0, len(x), per_call):
            check(cancel)
            report(progress, start, len(x), label)
            batch = np.repeat(np.asarray(x[start:start + per_call], np.float32), passes, axis=0)
            chunks.append(np.asarray(fn(tf.constant(batch))))
    else:
        for i in range(len(x)):
            for start in range(0, passes, MAX_BATCH):
                check(cancel)
                report(progress, i * passes + start, len(x) * passes, label)
                batch = np.repeat(np.asarray(x[i:i + 1], np.float32), min(MAX_BATCH, passes - start), axis=0)
                chunks.append(np.asarray(fn(tf.constant(batch))))
    report(progress, len(x), len(x), label)
    out = np.concatenate(chunks)
    samples = as_probabilities(model, out.reshape(len(x), passes, out.shape[-1])).transpose(1, 0, 2)
    return MCDropoutResult(samples.mean(0), samples.std(0), samples, tuple(model_info(model).classes))


_FN: "weakref.WeakKeyDictionary" = model_cache()


def _compiled(mc):
    fn = _FN.get(mc)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x: mc(x, training=False), reduce_retracing=True)
        _FN[mc] = fn
    return fn
