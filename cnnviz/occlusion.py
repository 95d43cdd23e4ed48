"""Occlusion maps (Zeiler & Fergus 2014): slide a patch over the image and
record how much the target class's probability drops. All occluded copies of
all images go through the compiled model in a few large batches."""
from __future__ import annotations

import time
from typing import Iterator, Optional

import numpy as np

from .attribution import Attribution, batch_size_for, check_images, gaussian_blur, pixel_value, resolve_targets
from .engine import compiled
from .errors import CnnvizError
from .progress import CancelToken, ProgressFn, check, report

FILLS = ("grey", "mean", "zero", "blurred")


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


def _copies(x, fills, boxes, batch_size) -> Iterator[np.ndarray]:
    """Occluded copies, image by image and patch by patch, in batches."""
    jobs = [(i, box) for i in range(len(x)) for box in boxes]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        batch = np.stack([x[i] for i, _ in chunk])
        for j, (i, (r, c, p)) in enumerate(chunk):
            batch[j, r:r + p[0], c:c + p[1]] = fills[i, r:r + p[0], c:c + p[1]]
        yield batch


def occlusion(model, images, target=None, *, patch: Optional[int] = None, stride: Optional[int] = None,
              fill: str = "grey", batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
              cancel: Optional[CancelToken] = None) -> Attribution:
    """The drop of the target's probability when a ``patch`` x ``patch``
    square (moved by ``stride``) is covered with ``fill``: each pixel gets the
    mean drop of the patches covering it. ``extras["grid"]`` holds the drop
    per patch position (N, rows, cols)."""
    from .predict import probabilities

    start = time.perf_counter()
    x = check_images(model, images)
    H, W = x.shape[1:3]
    patch = default_patch((H, W))[0] if patch is None else patch
    stride = max(1, patch // 2) if stride is None else stride
    if not 1 <= patch <= min(H, W) or stride < 1:
        raise CnnvizError(f"patch {patch}, stride {stride} do not fit a {H}x{W} image: "
                          f"give 1 <= patch <= {min(H, W)} and stride >= 1")
    probs = probabilities(model, x)
    targets = resolve_targets(model, x, target, predicted=probs)
    rows, cols = positions(H, patch, stride), positions(W, patch, stride)
    boxes = [(r, c, (patch, patch)) for r in rows for c in cols]
    fills = np.ascontiguousarray(fill_images(model, x, fill, patch), np.float32)
    batch_size = batch_size or batch_size_for(x)
    occluded = _occluded_probabilities(model, x, fills, boxes, targets, batch_size, progress, cancel)
    drops = probs[np.arange(len(x)), targets][:, None] - occluded
    maps = np.zeros(x.shape[:3], np.float64)
    counts = np.zeros((H, W))
    for k, (r, c, _) in enumerate(boxes):
        maps[:, r:r + patch, c:c + patch] += drops[:, k, None, None]
        counts[r:r + patch, c:c + patch] += 1
    return Attribution("occlusion", (maps / counts).astype(np.float32), targets, signed=True,
                       params={"patch": patch, "stride": stride, "fill": fill},
                       extras={"grid": drops.reshape(len(x), len(rows), len(cols)).astype(np.float32)},
                       seconds=time.perf_counter() - start)


def _occluded_probabilities(model, x, fills, boxes, targets, batch_size, progress, cancel) -> np.ndarray:
    """Target probability for every (image, patch position): (N, positions)."""
    from .predict import as_probabilities

    fn = compiled(model)
    total, done, scores = len(x) * len(boxes), 0, []
    for batch in _copies(x, fills, boxes, batch_size):
        check(cancel)
        report(progress, done, total, "occlusion")
        scores.append(as_probabilities(model, np.asarray(fn(batch))))
        done += len(batch)
    report(progress, total, total, "occlusion")
    out = np.concatenate(scores).reshape(len(x), len(boxes), -1)
    return np.take_along_axis(out, targets[:, None, None], axis=2)[..., 0]
