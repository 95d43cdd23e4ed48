"""Occlusion maps (Zeiler & Fergus 2014): slide a patch over the image and
record how much the target class's probability (or logit) drops. All occluded copies of
all images go through the compiled model in a few large batches."""
from __future__ import annotations

import time
import weakref
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.runtime import model_cache
from ..common.validate import api
from ..models.engine import once_per_model
from ..models.predict import as_probabilities
from ..models.surgery import logits_model
from .base import Attribution, batch_size_for, check_images, gaussian_blur, pixel_value, resolve_targets

FILLS = ("grey", "mean", "zero", "blurred")
SCORES = ("probability", "logit")     # what occlusion and LIME measure of the target class


def default_patch(shape: tuple) -> tuple[int, int]:
    """A patch of about a seventh of the image side, and half of it as stride
    (4 and 2 for MNIST, 32 and 16 for 224x224)."""
    patch = max(2, int(round(min(shape[:2]) / 7)))
    return patch, max(1, patch // 2)


def positions(size: int, patch: int, stride: int) -> list[int]:
    """Patch offsets along one axis, the last one flush with the far edge so
    that every pixel is covered."""
    offsets = list(range(0, size - patch + 1, stride))
    if offsets[-1] != size - patch:
        offsets.append(size - patch)
    return offsets


def fill_images(model, x: np.ndarray, fill: str, patch: int) -> np.ndarray:
    """What an occluded region shows, per image (N, H, W, C)."""
    channels = x.shape[-1]
    if fill == "grey":
        return np.broadcast_to(pixel_value(model, 127.5, channels), x.shape)
    if fill == "zero":
        return np.zeros_like(x)
    if fill == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    if fill == "blurred":
        return gaussian_blur(x, sigma=patch / 2)
    raise CnnvizError(f"unknown fill {fill!r}: use {', '.join(FILLS)}")


def patch_masks(H: int, W: int, rows: list[int], cols: list[int], patch: int) -> np.ndarray:
    """(positions, H, W) bool: the pixels each patch position covers, row by row."""
    masks = np.zeros((len(rows), len(cols), H, W), bool)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            masks[i, j, r:r + patch, c:c + patch] = True
    return masks.reshape(-1, H, W)


_OCCLUDED: "weakref.WeakKeyDictionary" = model_cache()


def occluded_scores(model, logits: bool):
    """A compiled ``(images (n, H, W, C), fills (n, H, W, C), masks (m, H, W))
    -> scores (n, m, classes)``: every image with every mask covered by its
    fill, built on the device inside the graph (no host-side copies), through
    the model or its pre-softmax copy. Built once per model and score."""
    import tensorflow as tf

    per_model = _OCCLUDED.setdefault(model, {})
    if logits not in per_model:
        net = logits_model(model) if logits else model

        def scores(images, fills, masks):
            n, m = tf.shape(images)[0], tf.shape(masks)[0]
            covered = masks[None, :, :, :, None]
            copies = tf.where(covered, fills[:, None], images[:, None])           # (n, m, H, W, C)
            out = net(tf.reshape(copies, tf.concat([[n * m], tf.shape(images)[1:]], 0)), training=False)
            return tf.reshape(out, (n, m, -1))

        per_model[logits] = once_per_model(scores)
    return per_model[logits]


@api
def occlusion(model, images, target=None, *, patch: Optional[int] = None, stride: Optional[int] = None,
              fill: str = "grey", score: str = "probability", batch_size: Optional[int] = None,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """The drop of the target's ``score`` when a ``patch`` x ``patch``
    square (moved by ``stride``) is covered with ``fill``: each pixel gets the
    mean drop of the patches covering it. ``extras["grid"]`` holds the drop
    per patch position (N, rows, cols). The probability saturates on a
    confident prediction (1.0 stays 1.0 in float32 whatever is covered); the
    pre-softmax ``"logit"`` does not."""
    start = time.perf_counter()
    x = check_images(model, images)
    H, W = x.shape[1:3]
    for name, value in (("patch", patch), ("stride", stride)):
        if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))):
            raise CnnvizError(f"occlusion {name}={value!r} must be a whole number of pixels (e.g. {name}=8)")
    patch = default_patch((H, W))[0] if patch is None else int(patch)
    stride = max(1, patch // 2) if stride is None else int(stride)
    if not 1 <= patch <= min(H, W) or stride < 1:
        raise CnnvizError(f"patch {patch}, stride {stride} do not fit a {H}x{W} image: "
                          f"give 1 <= patch <= {min(H, W)} and stride >= 1")
    rows, cols = positions(H, patch, stride), positions(W, patch, stride)
    masks = patch_masks(H, W, rows, cols, patch)
    if score not in SCORES:
        raise CnnvizError(f"unknown score {score!r}: use {' or '.join(SCORES)}")
    fills = np.ascontiguousarray(fill_images(model, x, fill, patch), np.float32)
    probs, occluded = _scores(model, x, fills, masks, score, batch_size or batch_size_for(model, x), progress, cancel)
    targets = resolve_targets(model, x, target, predicted=probs)
    def pick(p):
        return np.take_along_axis(p, targets.reshape((-1,) + (1,) * (p.ndim - 1)), axis=-1)[..., 0]
    drops = pick(probs)[:, None] - pick(occluded)
    flat = masks.reshape(len(masks), -1).astype(np.float32)
    maps = (drops.astype(np.float32) @ flat) / flat.sum(axis=0)
    return Attribution("occlusion", maps.reshape(x.shape[:3]), targets, signed=True,
                       params={"patch": patch, "stride": stride, "fill": fill, "score": score},
                       extras={"grid": drops.reshape(len(x), len(rows), len(cols)).astype(np.float32)},
                       seconds=time.perf_counter() - start)


def _scores(model, x, fills, masks, score, batch_size, progress, cancel) -> tuple[np.ndarray, np.ndarray]:
    """Class scores (probabilities or logits) of the images (N, classes) and of
    every occluded copy (N, positions, classes), in batches of about
    ``batch_size`` copies built on the device. An empty mask first makes the
    image itself the first copy, so it needs no call of its own."""
    logits = score == "logit"
    fn = occluded_scores(model, logits)
    masks = np.concatenate([np.zeros((1,) + masks.shape[1:], bool), masks])
    per_image = max(1, batch_size // len(masks))           # images per call when all masks fit in one batch
    per_mask = min(len(masks), batch_size)                 # masks per call otherwise
    total, done, out = len(x) * len(masks), 0, []
    for start in range(0, len(x), per_image):
        rows = slice(start, start + per_image)
        parts = []
        for m in range(0, len(masks), per_mask):
            check(cancel)
            report(progress, done, total, "occlusion")
            parts.append(np.asarray(fn(x[rows], fills[rows], masks[m:m + per_mask])))
            done += len(x[rows]) * len(masks[m:m + per_mask])
        out.append(np.concatenate(parts, axis=1))
    report(progress, total, total, "occlusion")
    scores = np.concatenate(out)
    if not logits:
        scores = as_probabilities(model, scores)
    return scores[:, 0], scores[:, 1:]
