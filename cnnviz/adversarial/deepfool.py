"""DeepFool (Moosavi-Dezfooli et al. 2016), L2 or L-infinity, declared in
:mod:`.registry`: repeated linearization of the logits around the current
point and a step to the nearest linearized decision boundary among the
label's strongest rivals (targeted: the boundary with the target), then
``overshoot`` past it. Pixels at 0 or 1 that a step would push out of the
box take no part in the linear step."""
from __future__ import annotations

from typing import Optional

import numpy as np

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
    logits_fn,
    logits_of,
    prepare,
    run_batches,
    tf_function,
    unroll,
)

NORMS = ("2", "inf")
BOX = True                            # pixels at 0 or 1 do not take part in the linear step


def build_linear_steps(model, preprocessing: str, norm: str, candidates: int, count: int, box_aware: bool = True):
    """A compiled chunk of DeepFool iterations: the gradients of the label's
    and the candidate classes' logits in one batched backward pass (each image
    repeated once per candidate), the step to the nearest linearized boundary."""
    import tensorflow as tf  # heavy: loaded with the first attack

    logits = logits_fn(model, preprocessing)

    def run(x0, r, cand, targets, targeted, first, overshoot, start):
        n = tf.shape(x0)[0]
        for k in range(count):
            x = tf.clip_by_value(x0 + (1.0 + overshoot) * r, 0.0, 1.0)
            xr = tf.repeat(x, candidates, axis=0)
            with tf.GradientTape() as tape:
                tape.watch(xr)
                z = logits(xr)
                chosen = tf.gather(z, tf.reshape(cand, [-1]), axis=1, batch_dims=1)
                total = tf.reduce_sum(chosen)
            g = tape.gradient(total, xr)
            g = tf.reshape(g, tf.concat([[n, candidates], tf.shape(x0)[1:]], 0))
            zc = tf.reshape(chosen, [n, candidates])
            pred = tf.argmax(z[::candidates], -1, output_type=tf.int32)
            ok = tf.where(targeted, tf.equal(pred, targets), tf.not_equal(pred, cand[:, 0]))
            first = tf.where(ok & (first < 0), start + k, first)
            f = zc[:, 1:] - zc[:, :1]                                    # (N, K-1), negative before the boundary
            wdiff = g[:, 1:] - g[:, :1]                                  # (N, K-1, H, W, C)
            if box_aware:   # pixels at 0 or 1 cannot move further out: leave them out of the linear step
                free = ~((x[:, None] <= 0.0) & (wdiff < 0) | (x[:, None] >= 1.0) & (wdiff > 0))
                wdiff = wdiff * tf.cast(free, wdiff.dtype)
            if norm == "2":
                size = tf.sqrt(tf.reduce_sum(tf.square(wdiff), axis=[2, 3, 4]))
            else:
                size = tf.reduce_sum(tf.abs(wdiff), axis=[2, 3, 4])
            distance = tf.math.divide_no_nan(tf.abs(f), size) + tf.cast(size <= 0, tf.float32) * 1e30
            best = tf.argmin(distance, axis=1, output_type=tf.int32)
            f_l = tf.gather(f, best, axis=1, batch_dims=1)
            w_l = tf.gather(wdiff, best, axis=1, batch_dims=1)
            s_l = tf.gather(size, best, axis=1, batch_dims=1)
            if norm == "2":
                step = w_l * tf.math.divide_no_nan(tf.abs(f_l) + 1e-4, tf.square(s_l))[:, None, None, None]
            else:
                step = tf.sign(w_l) * tf.math.divide_no_nan(tf.abs(f_l) + 1e-4, s_l)[:, None, None, None]
            r = r + tf.where(ok[:, None, None, None], tf.zeros_like(step), step)
        return r, first

    return tf_function(run)


def linearize(model, x0, cls, targeted, labels, steps, norm, overshoot, candidates, tick, cancel):
    """One batch: at most ``steps`` linear steps per image; the adversarials
    and the step at which each first crossed the boundary."""
    import tensorflow as tf  # heavy: loaded with the first attack

    preprocessing = model_info(model).preprocessing
    n_classes = int(model.outputs[0].shape[-1])
    kc = 2 if targeted else min(candidates, n_classes)

    def run(count):
        return compiled(model, ("deepfool", preprocessing, norm, kc, BOX, count),
                        lambda: build_linear_steps(model, preprocessing, norm, kc, count, BOX))

    if targeted:
        cand = np.stack([labels, cls], axis=1)
    else:
        order = np.argsort(-logits_of(model, x0), axis=1)
        cand = np.empty((len(x0), kc), np.int64)
        for j in range(len(x0)):
            others = [c for c in order[j] if c != labels[j]][:kc - 1]
            cand[j] = [labels[j], *others]
    r = tf.zeros_like(tf.constant(x0))
    first = tf.fill([len(x0)], -1)
    x0t = tf.constant(x0)
    cand_t, target_t = tf.constant(cand, tf.int32), tf.constant(cls, tf.int32)
    done = 0
    while done < steps:
        check(cancel)
        count = min(max(1, unroll(model) // 2), steps - done)
        r, first = run(count)(x0t, r, cand_t, target_t, tf.constant(targeted), first,
                              tf.constant(overshoot, tf.float32), tf.constant(done))
        done += count
        tick(count)
        if bool(tf.reduce_all(first >= 0)):
            break
    adversarial = np.clip(x0 + (1.0 + overshoot) * r.numpy(), 0.0, 1.0)
    first = first.numpy()
    return adversarial, np.where(first >= 0, first, done), None, None


@api
def deepfool(model, images, target=None, *, eps: Optional[float] = None, norm: str = "2", steps: int = 50,
             overshoot: float = 0.02, candidates: int = 10, seed: int = 0, batch_size: Optional[int] = None,
             labels=None, indices=None, original_probs=None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> AttackResult:
    """Steps to the nearest linearized boundary among the label's
    ``candidates`` - 1 strongest rivals (targeted: towards ``target``), at
    most ``steps``, then ``overshoot`` past it; ``eps``, when given, caps the
    perturbation (the result is projected onto the budget)."""
    norm = check_norm(norm, NORMS, "deepfool")
    x0, _ = as_batch(model, images)
    eps = check_eps(eps, norm, int(np.prod(x0.shape[1:])))
    setup = prepare(model, x0, target, labels, seed, indices, original_probs)

    def batch(sl, tick):
        return linearize(model, setup.x0[sl], setup.cls[sl], setup.targeted, setup.labels[sl], steps, norm,
                         overshoot, candidates, tick, cancel)

    return run_batches(model, setup, batch, method="deepfool", norm=norm, eps=eps, steps=steps, step_size=None,
                       seed=seed, batch_size=batch_size or default_batch(model, copies=candidates),
                       per_image_steps=steps, settings=f"at most {steps} steps, overshoot {overshoot:g}",
                       minimal=True, progress=progress, cancel=cancel)
