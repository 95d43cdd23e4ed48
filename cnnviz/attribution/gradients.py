"""The saliency family: maps from the gradient of the target's pre-softmax
score with respect to the input pixels.

Saliency (Simonyan et al. 2014), its signed form, SmoothGrad (Smilkov et al.
2017), gradient x input, Integrated Gradients (Sundararajan et al. 2017),
guided backpropagation (Springenberg et al. 2015) and the deconvnet (Zeiler &
Fergus 2014). One compiled gradient function per model and ReLU rule does the
work for all of them, on batches of images, noisy copies or path points.
"""
from __future__ import annotations

import time
import weakref
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..common.runtime import model_cache
from ..common.validate import api, numeric_array
from ..models.engine import once_per_model
from ..models.surgery import logits_model, relu_rule_model
from .base import Attribution, check_images, gaussian_blur, pixel_value, reduce_channels, resolve_targets, run_batches

_GRADIENTS: "weakref.WeakKeyDictionary" = model_cache()


def gradient_function(model, rule: str = "plain"):
    """A compiled ``(x, onehot) -> (d score / d x, score)`` where score is the
    logit selected by ``onehot``; ``rule`` "guided" or "deconvnet" changes how
    gradients pass ReLUs. Built once per model and rule."""
    per_model = _GRADIENTS.setdefault(model, {})
    if rule not in per_model:
        import tensorflow as tf


        net = logits_model(model) if rule == "plain" else relu_rule_model(model, rule)

        def fn(x, selector):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(net(x, training=False) * selector, axis=-1)
            return tape.gradient(score, x), score

        per_model[rule] = once_per_model(fn)
    return per_model[rule]


def input_gradients(model, x: np.ndarray, targets: np.ndarray, rule: str = "plain", batch_size: Optional[int] = None,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    message: str = "gradients") -> tuple[np.ndarray, np.ndarray]:
    """Gradients (N, H, W, C) of each input's target logit, and the logits
    (N,), in batches."""
    grads, scores = run_batches(gradient_function(model, rule), model, x, targets, batch_size, progress, cancel,
                                message)
    return grads, scores


def _begin(model, images):
    return check_images(model, images), time.perf_counter()


@api
def saliency(model, images, target=None, *, signed: bool = False, batch_size: Optional[int] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """|gradient| of the target logit, the largest over colour channels
    (Simonyan et al.); ``signed`` gives the gradient summed over channels."""
    x, start = _begin(model, images)
    targets = resolve_targets(model, x, target)
    grads, _ = input_gradients(model, x, targets, batch_size=batch_size, progress=progress, cancel=cancel,
                               message="saliency")
    return Attribution("gradient" if signed else "saliency", reduce_channels(grads, "sum" if signed else "absmax"),
                       targets, signed=signed, extras={"gradients": grads}, seconds=time.perf_counter() - start)


@api
def smoothgrad(model, images, target=None, *, samples: int = 25, noise: float = 0.15, seed: int = 0,
               batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> Attribution:
    """SmoothGrad: the gradient averaged over ``samples`` copies with Gaussian
    noise of ``noise`` times each image's value range, then reduced as saliency."""
    if samples < 1:
        raise CnnvizError(f"samples={samples}: SmoothGrad needs at least 1 noisy sample")
    if not 0 <= noise <= 1:
        raise CnnvizError(f"noise={noise} is out of range: give a fraction of the input range in [0, 1], e.g. 0.15")
    x, start = _begin(model, images)
    targets = resolve_targets(model, x, target)
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    noisy = np.repeat(x, samples, axis=0)
    noisy += rng.standard_normal(noisy.shape).astype(np.float32) * np.repeat(sigma, samples)[:, None, None, None]
    grads, _ = input_gradients(model, noisy, np.repeat(targets, samples), batch_size=batch_size, progress=progress,
                               cancel=cancel, message="SmoothGrad")
    mean = grads.reshape((len(x), samples) + x.shape[1:]).mean(axis=1)
    return Attribution("smoothgrad", reduce_channels(mean, "absmax"), targets,
                       params={"samples": samples, "noise": noise}, extras={"gradients": mean},
                       seconds=time.perf_counter() - start)


@api
def gradient_x_input(model, images, target=None, *, batch_size: Optional[int] = None,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """Gradient times input (Shrikumar et al.), summed over channels (signed)."""
    x, start = _begin(model, images)
    targets = resolve_targets(model, x, target)
    grads, _ = input_gradients(model, x, targets, batch_size=batch_size, progress=progress, cancel=cancel,
                               message="gradient x input")
    return Attribution("gradient_x_input", reduce_channels(grads * x, "sum"), targets, signed=True,
                       seconds=time.perf_counter() - start)


BASELINES = ("black", "blurred", "grey")


def _baseline(model, x: np.ndarray, baseline) -> np.ndarray:
    if isinstance(baseline, np.ndarray) or isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        given = numeric_array(baseline, "baseline").astype(np.float32)
        try:
            b = np.broadcast_to(given, x.shape)
        except ValueError:
            raise CnnvizError(f"baseline of shape {given.shape} does not fit images of shape {x.shape}: give one "
                              f"image {x.shape[1:]}, a batch {x.shape}, a number, or black, grey or blurred") from None
        return np.array(b)
    if baseline == "black":
        return np.broadcast_to(pixel_value(model, 0, x.shape[-1]), x.shape).copy()
    if baseline == "grey":
        return np.broadcast_to(pixel_value(model, 127.5, x.shape[-1]), x.shape).copy()
    if baseline == "blurred":
        return gaussian_blur(x, sigma=max(x.shape[1:3]) / 8)
    raise CnnvizError(f"unknown baseline {baseline!r}: use black, blurred, grey or an array of the images' shape")


IG_FIRST_STEPS, IG_MAX_STEPS = 32, 512


@api
def integrated_gradients(model, images, target=None, *, baseline="black", steps: Optional[int] = None,
                         tolerance: float = 0.01, batch_size: Optional[int] = None,
                         progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """Integrated Gradients: (x - baseline) times the gradient averaged along
    the straight path (trapezoid rule), summed over channels.

    Completeness says the attribution sums to score(x) - score(baseline); how
    far it misses is the quadrature's error. With ``steps`` None the path is
    refined (32 intervals, doubled, reusing the points already computed) for
    each image until that miss is within ``tolerance`` of the score difference,
    or 512 intervals are reached. ``extras``: ``completeness_error`` (that
    relative miss, per image), ``convergence_delta`` (the signed miss, as
    captum's ``return_convergence_delta``) and ``steps`` (per image)."""
    if steps is not None and steps < 1:
        raise CnnvizError(f"steps={steps}: Integrated Gradients needs at least 1 step")
    if not tolerance >= 0:
        raise CnnvizError(f"tolerance={tolerance}: give a relative completeness error, e.g. 0.01")
    x, start = _begin(model, images)
    targets = resolve_targets(model, x, target)
    base = _baseline(model, x, baseline)
    n = steps or IG_FIRST_STEPS
    def run(rows, alphas, label):
        return _path_gradients(model, x[rows], base[rows], targets[rows], alphas, batch_size,
                                                          progress, cancel, label)
    grads, scores = run(np.arange(len(x)), np.linspace(0, 1, n + 1, dtype=np.float32), "Integrated Gradients")
    ends = scores[:, [0, -1]]
    mean_grad = (grads[:, 1:-1].sum(axis=1) + (grads[:, 0] + grads[:, -1]) / 2) / n     # trapezoid rule
    used = np.full(len(x), n)
    error, delta = _completeness(x, base, mean_grad, ends)
    while steps is None:
        rows = np.flatnonzero((error > tolerance) & (used < IG_MAX_STEPS))
        if not len(rows):
            break
        n = int(used[rows].min())
        rows = rows[used[rows] == n]
        midpoints = (np.arange(n, dtype=np.float32) + 0.5) / n
        grads, _ = run(rows, midpoints, f"Integrated Gradients, {2 * n} steps")
        mean_grad[rows] = (mean_grad[rows] + grads.mean(axis=1)) / 2                     # the trapezoid rule at 2n
        used[rows] = 2 * n
        error, delta = _completeness(x, base, mean_grad, ends)
    attribution = (x - base) * mean_grad
    name = baseline if isinstance(baseline, str) else "custom"
    return Attribution("integrated_gradients", reduce_channels(attribution, "sum"), targets, signed=True,
                       params={"baseline": name, "steps": int(used.max())},
                       extras={"attribution": attribution, "score_difference": ends[:, 1] - ends[:, 0],
                               "completeness_error": error, "convergence_delta": delta, "steps": used},
                       seconds=time.perf_counter() - start)


def _path_gradients(model, x, base, targets, alphas, batch_size, progress, cancel, message):
    """Gradients (N, len(alphas), H, W, C) and scores (N, len(alphas)) at the
    points ``base + alpha (x - base)`` of each image's path."""
    path = base[:, None] + alphas[None, :, None, None, None] * (x - base)[:, None]
    grads, scores = input_gradients(model, path.reshape((-1,) + x.shape[1:]), np.repeat(targets, len(alphas)),
                                    batch_size=batch_size, progress=progress, cancel=cancel, message=message)
    return grads.reshape((len(x), len(alphas)) + x.shape[1:]), scores.reshape(len(x), len(alphas))


def _completeness(x, base, mean_grad, ends):
    """(relative error, signed delta) of completeness per image."""
    total = ((x - base) * mean_grad).sum(axis=(1, 2, 3))
    difference = ends[:, 1] - ends[:, 0]
    delta = total - difference
    return np.abs(delta) / np.maximum(np.abs(difference), 1e-6), delta


@api
def guided_backprop(model, images, target=None, *, batch_size: Optional[int] = None,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """Guided backpropagation: only positive gradients pass each ReLU, and
    only where its input was positive. ``extras["gradients"]`` is the colour image."""
    return _relu_rule("guided", "guided_backprop", model, images, target, batch_size, progress, cancel)


@api
def deconvnet(model, images, target=None, *, batch_size: Optional[int] = None,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """The deconvnet (Zeiler & Fergus): ReLUs pass positive gradients whatever
    their input was. ``extras["gradients"]`` is the colour image."""
    return _relu_rule("deconvnet", "deconvnet", model, images, target, batch_size, progress, cancel)


def _relu_rule(rule, name, model, images, target, batch_size, progress, cancel) -> Attribution:
    x, start = _begin(model, images)
    targets = resolve_targets(model, x, target)
    grads, _ = input_gradients(model, x, targets, rule=rule, batch_size=batch_size, progress=progress, cancel=cancel,
                               message=name.replace("_", " "))
    return Attribution(name, reduce_channels(grads, "absmax"), targets, extras={"gradients": grads},
                       seconds=time.perf_counter() - start)
