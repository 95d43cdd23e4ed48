"""Gradient attacks under a budget, L-infinity or L2 (declared in :mod:`.registry`):

* :func:`fgsm`: the fast gradient sign method (Goodfellow et al. 2015), one
  step of size ``eps`` (for ``norm="2"`` the fast gradient method, along the
  normalized gradient);
* :func:`pgd`: projected gradient descent with a random start in the budget
  (Madry et al. 2018), ``steps`` steps of ``step_size`` (default
  ``2.5 * eps / steps``); with ``random_start=False`` the iterative FGSM of
  Kurakin et al. 2017.

Both ascend the cross-entropy of the pre-softmax logits away from the label
(untargeted) or descend it towards the target, in compiled chunks of
unrolled steps (:mod:`.base`).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check
from ..common.validate import api
from ..models.zoo import model_info
from .base import (
    AXES,
    AttackResult,
    as_batch,
    check_eps,
    check_norm,
    compiled,
    default_batch,
    default_eps,
    fooled,
    logits_fn,
    pixel_probabilities,
    prepare,
    run_batches,
    softmax_of,
    tf_function,
    unroll,
)

NORMS = ("inf", "2")


def random_starts(x0: np.ndarray, indices: np.ndarray, seed: int, eps: float, norm: str) -> np.ndarray:
    """A uniform point of the eps-ball around each image, drawn from (seed, index)."""
    out = np.empty_like(x0)
    d = x0[0].size
    for j, i in enumerate(indices):
        rng = np.random.default_rng([seed, int(i)])
        if norm == "inf":
            noise = rng.uniform(-eps, eps, x0[j].shape)
        else:
            direction = rng.standard_normal(x0[j].shape)
            noise = direction / max(np.linalg.norm(direction), 1e-12) * eps * rng.uniform() ** (1.0 / d)
        out[j] = x0[j] + noise.astype(np.float32)
    return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------- compiled steps (TensorFlow: heavy, imported inside)

def steepest(g, norm: str):
    """The steepest-ascent unit step for a gradient: its sign (L-inf) or the
    gradient over its L2 norm (scaled first, so tiny gradients of saturated
    softmax outputs do not underflow to zero)."""
    import tensorflow as tf

    if norm == "inf":
        return tf.sign(g)
    top = tf.reduce_max(tf.abs(g), axis=AXES, keepdims=True)
    g = tf.math.divide_no_nan(g, top)
    norm2 = tf.sqrt(tf.reduce_sum(tf.square(g), axis=AXES, keepdims=True))
    return tf.math.divide_no_nan(g, norm2)


def into_ball(x, x0, eps, norm: str):
    """Back into the eps-ball around x0 and the [0, 1] box (clipping to the
    box only shrinks each coordinate's offset, so the ball is kept)."""
    import tensorflow as tf

    delta = x - x0
    if norm == "inf":
        delta = tf.clip_by_value(delta, -eps, eps)
    else:
        n = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=AXES, keepdims=True))
        delta = delta * tf.minimum(1.0, tf.math.divide_no_nan(eps, n) + tf.cast(n <= 0, tf.float32))
    return tf.clip_by_value(x0 + delta, 0.0, 1.0)


def cross_entropy(z, cls):
    """Cross-entropy of logits ``z`` for classes ``cls``, written as
    softplus(logsumexp_{i != y}(z_i - z_y)): the same value, but its gradient
    keeps the true class's term when the softmax saturates (the usual form's
    p_y - 1 rounds to 0 in float32 once p_y > 1 - 6e-8, and the step then
    only pushes the other classes up)."""
    import tensorflow as tf

    onehot = tf.one_hot(cls, tf.shape(z)[-1])
    zy = tf.reduce_sum(z * onehot, -1, keepdims=True)
    return tf.nn.softplus(tf.reduce_logsumexp(z - zy - 1e30 * onehot, -1))


def build_steps(model, preprocessing: str, norm: str, targeted: bool, count: int, originals: bool, final: bool):
    """A compiled chunk of ``count`` (projected) gradient steps on the
    cross-entropy; FGSM is one step of size eps from the original. The same
    graph call gives the logits the originals need (``originals``: of x0, for
    a random start; else those of the chunk's first step) and, for the last
    chunk (``final``), those of the final iterate: a whole attack is one call."""
    import tensorflow as tf

    logits = logits_fn(model, preprocessing)
    sign = -1.0 if targeted else 1.0

    def run(x, x0, cls, best, first, eps, alpha, start, freeze):
        z_start = logits(x0) if originals else None
        for k in range(count):          # unrolled: one flat graph, which Grappler optimizes across steps
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = logits(x)
                loss = cross_entropy(z, cls)
            g = tape.gradient(loss, x)
            z_start = z if z_start is None else z_start
            ok = fooled(z, cls, targeted)
            best = tf.where(ok[:, None, None, None], x, best)
            first = tf.where(ok & (first < 0), start + k, first)
            new = into_ball(x + sign * alpha * steepest(g, norm), x0, eps, norm)
            x = tf.where((ok & freeze)[:, None, None, None], x, new)
        return x, best, first, z_start, logits(x) if final else z_start

    return tf_function(run)


# ---------------------------------------------------------------- the attacks

def descend(model, x0, cls, targeted, norm, eps, steps, alpha, randomized, early_stop, seed, indices, tick, cancel,
            want_originals):
    """``steps`` projected gradient steps of ``alpha`` on one batch: the
    adversarials, the step at which each first fooled the model, their
    probabilities and the originals' logits (when ``want_originals``, from
    the first chunk's graph call)."""
    import tensorflow as tf

    preprocessing = model_info(model).preprocessing

    def run(count, originals, final):
        return compiled(model, ("gradient", preprocessing, norm, targeted, originals, final, count),
                        lambda: build_steps(model, preprocessing, norm, targeted, count, originals, final))

    x = random_starts(x0, indices, seed, eps, norm) if randomized else x0.copy()
    best, first = x.copy(), np.full(len(x0), -1, np.int32)
    eps_t, alpha_t, freeze = tf.constant(eps, tf.float32), tf.constant(alpha, tf.float32), tf.constant(early_stop)
    active = np.arange(len(x0))         # with early_stop, images that fool the model leave the batch
    done, start_logits, final_logits = 0, None, None
    while done < steps and len(active):
        check(cancel)
        count = min(unroll(model), steps - done)
        originals, final = want_originals and done == 0 and randomized, done + count == steps and not early_stop
        xa, ba, fa, z_start, z_end = run(count, originals, final)(
            tf.constant(x[active]), tf.constant(x0[active]), tf.constant(cls[active], tf.int32),
            tf.constant(best[active]), tf.constant(first[active]), eps_t, alpha_t, tf.constant(done), freeze)
        x[active], best[active], first[active] = xa.numpy(), ba.numpy(), fa.numpy()
        if done == 0 and want_originals:
            start_logits = z_start.numpy()
        final_logits = z_end.numpy() if final else None
        done += count
        tick(count)
        if early_stop:
            active = active[first[active] < 0]
    # the final iterate, unless it stopped fooling the model after an earlier iterate did
    probs = softmax_of(final_logits) if final_logits is not None else pixel_probabilities(model, x)
    pred = probs.argmax(-1)
    ok = pred == cls if targeted else pred != cls
    back = ~ok & (first >= 0)
    adversarial = np.where(back[:, None, None, None], best, x)
    if back.any():
        probs[back] = pixel_probabilities(model, adversarial[back])
    first = np.where(ok & (first < 0), done, first)
    return adversarial, np.where(first >= 0, first, steps), probs, start_logits


def _gradient_attack(model, images, target, *, method, eps, norm, steps, step_size, random_start, early_stop, seed,
                     batch_size, labels, indices, original_probs, progress, cancel, settings) -> AttackResult:
    randomized = random_start and eps > 0
    setup = prepare(model, images, target, labels, seed, indices, original_probs, defer_probs=True)

    def batch(sl, tick):
        return descend(model, setup.x0[sl], setup.cls[sl], setup.targeted, norm, eps, steps, step_size, randomized,
                       early_stop, seed, setup.indices[sl], tick, cancel, setup.original_probs is None)

    return run_batches(model, setup, batch, method=method, norm=norm, eps=eps, steps=steps, step_size=step_size,
                       seed=seed, batch_size=batch_size or default_batch(model), per_image_steps=steps,
                       settings=settings, progress=progress, cancel=cancel)


def budget(model, x0: np.ndarray, eps, norm) -> tuple[float, str]:
    """The budget and the norm checked (default eps: the usual one for the model's dataset)."""
    norm = check_norm(norm, NORMS, "this attack")
    return check_eps(default_eps(model, norm) if eps is None else eps, norm, int(np.prod(x0.shape[1:]))), norm


@api
def fgsm(model, images, target=None, *, eps: Optional[float] = None, norm: str = "inf", seed: int = 0,
         batch_size: Optional[int] = None, labels=None, indices=None, original_probs=None,
         progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> AttackResult:
    """One step of size ``eps`` along the gradient's sign (L-inf) or its
    direction (L2), away from the label or towards ``target``."""
    x0, _ = as_batch(model, images)
    eps, norm = budget(model, x0, eps, norm)
    return _gradient_attack(model, x0, target, method="fgsm", eps=eps, norm=norm, steps=1, step_size=eps,
                            random_start=False, early_stop=False, seed=seed, batch_size=batch_size, labels=labels,
                            indices=indices, original_probs=original_probs, progress=progress, cancel=cancel,
                            settings=f"one step of {eps:.4g}")


@api
def pgd(model, images, target=None, *, eps: Optional[float] = None, norm: str = "inf", steps: int = 40,
        step_size: Optional[float] = None, random_start: bool = True, early_stop: bool = False, seed: int = 0,
        batch_size: Optional[int] = None, labels=None, indices=None, original_probs=None,
        progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> AttackResult:
    """``steps`` steps of ``step_size`` (default 2.5 * eps / steps), each
    projected back into the budget, from a random start in it.
    ``early_stop`` stops each image once it fools the model and drops it from
    the batch: the same images are fooled, much faster, but with less margin
    than after every step (8-bit rounding undoes more of them)."""
    x0, _ = as_batch(model, images)
    eps, norm = budget(model, x0, eps, norm)
    step_size = 2.5 * eps / steps if step_size is None else float(step_size)
    if not step_size > 0 and eps > 0:
        raise CnnvizError(f"step size must be positive (got {step_size:g})")
    settings = f"{steps} steps of {step_size:.4g}" + (", early stop" if early_stop else "") + \
        ("" if random_start else ", no random start")
    return _gradient_attack(model, x0, target, method="pgd", eps=eps, norm=norm, steps=steps,
                            step_size=step_size, random_start=random_start, early_stop=early_stop, seed=seed,
                            batch_size=batch_size, labels=labels, indices=indices, original_probs=original_probs,
                            progress=progress, cancel=cancel, settings=settings)
