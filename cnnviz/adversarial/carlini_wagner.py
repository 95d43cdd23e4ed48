"""Carlini & Wagner's L2 attack (2017), declared in :mod:`.registry`: the
smallest L2 perturbation found by Adam in tanh space (so pixels stay in
[0, 1] without clipping) on ``|delta|^2 + c * max(margin, -confidence)``,
the margin taken on the pre-softmax logits, with a binary search on the
constant ``c`` per image. Each image keeps its smallest successful
perturbation over all constants."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check
from ..common.validate import api
from ..models.zoo import model_info
from .base import (
    AttackResult,
    as_batch,
    check_eps,
    check_norm,
    compiled,
    default_batch,
    fooled,
    logits_fn,
    per_image,
    prepare,
    run_batches,
    tf_function,
    unroll,
)

NORMS = ("2",)


def build_adam_steps(model, preprocessing: str, targeted: bool, count: int):
    """A compiled chunk of Adam steps on Carlini-Wagner's L2 objective in tanh
    space, keeping each image's smallest successful perturbation."""
    import tensorflow as tf  # heavy: loaded with the first attack

    logits = logits_fn(model, preprocessing)

    def run(w, m, v, x0, cls, const, best_l2, best, best_step, found, lr, kappa, t0, start):
        for k in range(count):
            with tf.GradientTape() as tape:
                tape.watch(w)
                x = (tf.tanh(w) + 1.0) / 2.0
                z = logits(x)
                l2 = per_image(tf.square(x - x0))
                onehot = tf.one_hot(cls, tf.shape(z)[-1])
                real = tf.reduce_sum(z * onehot, -1)
                other = tf.reduce_max(z - 1e9 * onehot, -1)
                margin = (other - real) if targeted else (real - other)
                loss = tf.reduce_sum(l2 + const * tf.maximum(margin, -kappa))
            g = tape.gradient(loss, w)
            ok = fooled(z, cls, targeted)
            better = ok & (l2 < best_l2)
            best_l2 = tf.where(better, l2, best_l2)
            best = tf.where(better[:, None, None, None], x, best)
            best_step = tf.where(better, start + k, best_step)
            found = found | ok
            t = t0 + tf.cast(k, tf.float32) + 1.0
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * tf.square(g)
            w = w - lr * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return w, m, v, best_l2, best, best_step, found

    return tf_function(run)


def search(model, x0, cls, targeted, steps, binary_steps, learning_rate, initial_const, confidence, tick, cancel):
    """One batch: ``binary_steps`` constants, ``steps`` Adam steps each; the
    smallest adversarials found and the step (over all constants) that found them."""
    import tensorflow as tf  # heavy: loaded with the first attack

    preprocessing = model_info(model).preprocessing

    def run(count):
        return compiled(model, ("cw", preprocessing, targeted, count),
                        lambda: build_adam_steps(model, preprocessing, targeted, count))

    n = len(x0)
    w0 = np.arctanh(np.clip(2 * x0 - 1, -1 + 1e-6, 1 - 1e-6)).astype(np.float32)
    x0t, cls_t = tf.constant(x0), tf.constant(cls, tf.int32)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    const = np.full(n, float(initial_const))
    best_l2, best = tf.fill([n], np.float32(np.inf)), x0t
    best_step = tf.fill([n], -1)
    for b in range(binary_steps):
        w = tf.constant(w0)
        m, v = tf.zeros_like(w), tf.zeros_like(w)
        found = tf.zeros([n], tf.bool)
        done = 0
        while done < steps:
            check(cancel)
            count = min(unroll(model), steps - done)
            w, m, v, best_l2, best, best_step, found = run(count)(
                w, m, v, x0t, cls_t, tf.constant(const, tf.float32), best_l2, best, best_step, found,
                tf.constant(learning_rate, tf.float32), tf.constant(confidence, tf.float32),
                tf.constant(float(done)), tf.constant(b * steps + done))
            done += count
            tick(count)
        found = found.numpy()
        hi = np.where(found, np.minimum(hi, const), hi)
        lo = np.where(found, lo, np.maximum(lo, const))
        const = np.where(np.isfinite(hi), (lo + hi) / 2, const * 10)
    best_step = best_step.numpy()
    return best.numpy(), np.where(best_step >= 0, best_step + 1, binary_steps * steps), None, None


@api
def carlini_wagner(model, images, target=None, *, eps: Optional[float] = None, norm: str = "2", steps: int = 100,
                   binary_steps: int = 6, learning_rate: float = 0.1, initial_const: float = 1.0,
                   confidence: float = 0.0, seed: int = 0, batch_size: Optional[int] = None, labels=None,
                   indices=None, original_probs=None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> AttackResult:
    """The smallest L2 perturbation that fools the model (towards ``target``
    when given), with a logit margin of ``confidence``; ``eps``, when given,
    caps it (the result is projected onto the budget)."""
    norm = check_norm(norm, NORMS, "cw", "deepfool or pgd")
    if binary_steps < 1 or learning_rate <= 0 or initial_const <= 0 or confidence < 0:
        raise CnnvizError("cw needs binary_steps >= 1, a positive learning rate and constant, confidence >= 0")
    x0, _ = as_batch(model, images)
    eps = check_eps(eps, norm, int(np.prod(x0.shape[1:])))
    setup = prepare(model, x0, target, labels, seed, indices, original_probs)

    def batch(sl, tick):
        return search(model, setup.x0[sl], setup.cls[sl], setup.targeted, steps, binary_steps, learning_rate,
                      initial_const, confidence, tick, cancel)

    settings = f"{steps} Adam steps for each of {binary_steps} constants" + (
        f", confidence {confidence:g}" if confidence else "")
    return run_batches(model, setup, batch, method="cw", norm=norm, eps=eps, steps=steps, step_size=None, seed=seed,
                       batch_size=batch_size or default_batch(model), per_image_steps=steps * binary_steps,
                       settings=settings, minimal=True, progress=progress, cancel=cancel)
