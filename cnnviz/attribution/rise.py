"""RISE (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for Explanation
of Black-box Models"): the target's score under many random masks, each pixel
credited with the scores of the masks that kept it. A black box: no gradients,
no layer.

Each mask is a random binary grid of ``cells`` x ``cells`` cells (each kept with
probability ``keep``), upsampled bilinearly to ``(cells + 1) / cells`` times the
image and cropped at a random shift, so that its soft edges fall anywhere (as
xplique's ``Rise``). The map is the Monte Carlo estimate of the paper's
``E[score(x * M) M(pixel)] / E[M]``: ``sum(score * mask) / (N * keep)``.
Every image is probed with the same masks, so its map does not depend on the
batch it came in; the masked copies go through the compiled model in large
batches."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api
from ..models.engine import compiled
from ..models.predict import as_probabilities
from ..models.surgery import logits_model
from .base import Attribution, batch_size_for, check_images, resolve_targets
from .occlusion import SCORES, fill_images


def mask_grids(n: int, cells: int, keep: float, shape: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random binary grids (n, cells, cells) (True: kept) and the shift
    (n, 2) at which each upsampled grid is cropped to ``shape`` (H, W)."""
    rng = np.random.default_rng(seed)
    grids = rng.random((n, cells, cells)) < keep
    spare = np.array(upsampled_size(shape, cells)) - np.array(shape[:2])
    shifts = rng.integers(0, spare + 1, size=(n, 2))
    return grids, shifts


def upsampled_size(shape: tuple, cells: int) -> tuple[int, int]:
    """The side of the upsampled grid, one cell larger than the image (xplique's ``H (1 + 1/cells)``)."""
    return tuple(int(side * (1 + 1 / cells)) for side in shape[:2])


def bilinear_matrix(cells: int, size: int) -> np.ndarray:
    """(size, cells): bilinear interpolation of ``cells`` samples to ``size``
    pixels with half-pixel centres and clamped edges (``tf.image.resize``'s
    bilinear rule)."""
    source = (np.arange(size) + 0.5) * cells / size - 0.5
    return np.stack([np.interp(source, np.arange(cells), np.eye(cells)[i]) for i in range(cells)], axis=1)


def soft_masks(grids: np.ndarray, shifts: np.ndarray, shape: tuple) -> np.ndarray:
    """(n, H, W) float32 masks: each grid upsampled bilinearly and cropped at its shift."""
    H, W = shape[:2]
    cells = grids.shape[1]
    up_h, up_w = upsampled_size(shape, cells)
    rows = bilinear_matrix(cells, up_h).astype(np.float32)[shifts[:, :1] + np.arange(H)]      # (n, H, cells)
    cols = bilinear_matrix(cells, up_w).astype(np.float32)[shifts[:, 1:] + np.arange(W)]      # (n, W, cells)
    return rows @ grids.astype(np.float32) @ cols.transpose(0, 2, 1)


@api
def rise(model, images, target=None, *, n_masks: int = 4000, cells: int = 7, keep: float = 0.5,
         fill: str = "zero", score: str = "probability", seed: int = 0, batch_size: Optional[int] = None,
         progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """RISE: the target's ``score`` averaged over ``n_masks`` random masks
    (grids of ``cells`` x ``cells``, each cell kept with probability ``keep``,
    the rest showing ``fill``), weighted by each mask's value at the pixel and
    divided by ``n_masks * keep``. ``extras["coverage"]`` is the masks' mean
    per pixel (H, W): dividing the map by it times ``keep`` gives xplique's
    per-pixel normalisation."""
    start = time.perf_counter()
    x = check_images(model, images)
    H, W = x.shape[1:3]
    if not 1 <= cells <= min(H, W):
        raise CnnvizError(f"rise.cells={cells} does not fit a {H}x{W} image: give 1 to {min(H, W)}")
    if not 0 < keep <= 1:
        raise CnnvizError(f"rise.keep={keep:g} is no probability of keeping a cell: give a value in (0, 1]")
    if score not in SCORES:
        raise CnnvizError(f"unknown score {score!r}: use {' or '.join(SCORES)}")
    grids, shifts = mask_grids(n_masks, cells, keep, (H, W), seed)
    fills = np.ascontiguousarray(fill_images(model, x, fill, max(1, H // cells)), np.float32)
    targets = resolve_targets(model, x, target)
    sums, coverage = _weighted_sums(model, x, fills, targets, grids, shifts, score,
                                    batch_size or batch_size_for(model, x), progress, cancel)
    return Attribution("rise", (sums / (n_masks * keep)).astype(np.float32), targets,
                       params={"n_masks": n_masks, "cells": cells, "keep": keep, "fill": fill, "score": score,
                               "seed": seed},
                       extras={"coverage": (coverage / n_masks).astype(np.float32)},
                       seconds=time.perf_counter() - start)


def _weighted_sums(model, x, fills, targets, grids, shifts, score, batch_size, progress, cancel):
    """Per image, the sum over masks of the target's score times the mask
    (N, H, W), and the masks' sum (H, W); one model call per ``batch_size``
    masked images, taken across images when the masks are fewer (50 masks of
    32 images at 256 a call: 7 calls, not 32)."""
    logits = score == "logit"
    fn = compiled(logits_model(model) if logits else model)
    n, k = len(x), len(grids)
    sums = np.zeros(x.shape[:3], np.float64)
    coverage = np.zeros(x.shape[1:3], np.float64)
    for begin in range(0, k, batch_size):
        masks = soft_masks(grids[begin:begin + batch_size], shifts[begin:begin + batch_size], x.shape[1:3])
        coverage += masks.sum(axis=0)
        group = max(1, batch_size // len(masks))
        for first in range(0, n, group):
            check(cancel)
            report(progress, begin * n + first * len(masks), n * k, "rise")
            images = slice(first, min(n, first + group))
            masked = masks[None, ..., None] * x[images, None] + (1 - masks[None, ..., None]) * fills[images, None]
            outputs = np.asarray(fn(masked.reshape(-1, *x.shape[1:])))
            outputs = (outputs if logits else as_probabilities(model, outputs)).reshape(len(masked), len(masks), -1)
            scores = np.take_along_axis(outputs, targets[images, None, None], axis=2)[..., 0]     # (images, masks)
            sums[images] += np.einsum("gm,mhw->ghw", scores, masks)
    report(progress, n * k, n * k, "rise")
    return sums, coverage
