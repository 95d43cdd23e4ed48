"""Faithfulness of attribution maps: deletion and insertion curves and their
areas (Petsiuk et al. 2018, RISE), and a table ranking methods on a set of
images against a random map.

Deletion removes the most important regions first and follows the target
probability down: a faithful map makes it fall fast (low AUC). Insertion
starts from the removed state and puts the most important regions back: a
faithful map makes it rise fast (high AUC).

Pixels go in square regions ranked by their mean importance (the region
perturbation of Samek et al. 2017; ``region=1`` is Petsiuk's pixel order), and
removed pixels take the value of a strongly blurred copy by default. Scattered
single black pixels (the paper's deletion) are noise the model never saw: on
32x32 images they destroy the prediction faster than any ordering, so a random
map beats every method there, which measures the noise, not the map.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report, stage
from ..common.validate import api
from ..models.engine import compiled
from ..models.predict import as_probabilities
from .base import batch_size_for, check_images, gaussian_blur, pixel_value, resolve_targets
from .registry import explain_one

MODES = ("deletion", "insertion")
BASELINES = ("blurred", "black")


@dataclass
class Curves:
    """Target probability as a growing fraction of pixels is deleted or inserted."""

    mode: str
    fractions: np.ndarray        # (steps + 1,) from 0 to 1 (the mean over images where regions differ in size)
    scores: np.ndarray           # (N, steps + 1)
    auc: np.ndarray              # (N,) area under each curve (trapezoid), in [0, 1]


def default_region(shape: tuple) -> int:
    """Region side: an eighth of the image side (4 for MNIST and CIFAR-10, 28 for 224x224)."""
    return max(1, int(round(min(shape[:2]) / 8)))


def check_region(region: Optional[int], shape: tuple) -> int:
    """The region side for images of ``shape`` (H, W, ...): the default, or
    ``region`` if it is a whole number from 1 to the image's shorter side."""
    if region is None:
        return default_region(shape)
    side = min(shape[:2])
    if isinstance(region, bool) or not isinstance(region, (int, np.integer)) or not 1 <= region <= side:
        raise CnnvizError(f"region={region!r}: give a region side from 1 to {side} pixels (the image is "
                          f"{shape[1]}x{shape[0]})")
    return int(region)


def region_labels(shape: tuple, region: int) -> np.ndarray:
    """(H, W) index of the ``region`` x ``region`` square each pixel is in."""
    rows, cols = np.arange(shape[0]) // region, np.arange(shape[1]) // region
    return rows[:, None] * (cols[-1] + 1) + cols[None, :]


def pixel_order(maps: np.ndarray, region: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of each map, most important region first (N, H*W), and the
    number of pixels removed after each region (N, regions + 1). Regions
    rank by mean importance; ties (flat parts of Grad-CAM or occlusion) are
    broken at random, seeded."""
    labels = region_labels(maps.shape[1:], region).ravel()
    sizes = np.bincount(labels)
    rng = np.random.default_rng(seed)
    orders, bounds = [], []
    for amap in maps.reshape(len(maps), -1):
        means = np.bincount(labels, weights=amap) / sizes
        ranked = np.lexsort((rng.random(len(means)), -means))
        rank_of_region = np.empty_like(ranked)
        rank_of_region[ranked] = np.arange(len(ranked))
        orders.append(np.argsort(rank_of_region[labels], kind="stable"))
        bounds.append(np.concatenate([[0], np.cumsum(sizes[ranked])]))
    return np.array(orders), np.array(bounds)


def random_maps(shape: tuple, seed: int = 0) -> np.ndarray:
    """Uniform random maps: the baseline a method must beat."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def removed(model, x: np.ndarray, baseline: str = "blurred") -> np.ndarray:
    """What removed pixels show: a strongly blurred copy, or black."""
    if baseline == "blurred":
        return gaussian_blur(x, sigma=max(x.shape[1:3]) / 5)
    if baseline == "black":
        return np.broadcast_to(pixel_value(model, 0, x.shape[-1]), x.shape).astype(np.float32)
    raise CnnvizError(f"unknown baseline {baseline!r}: use {' or '.join(BASELINES)}")


@api
def curves(model, images, maps: np.ndarray, target=None, *, mode: str = "deletion", steps: int = 32,
           region: Optional[int] = None, baseline: str = "blurred", seed: int = 0, batch_size: Optional[int] = None,
           progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Curves:
    """Deletion or insertion curves of ``maps`` (N, H, W) for ``images``:
    regions of ``region`` pixels square (default :func:`default_region`) in
    ``steps`` about equal increments; all steps of all images batched."""

    if mode not in MODES:
        raise CnnvizError(f"unknown mode {mode!r}: use deletion or insertion")
    if steps < 1:
        raise CnnvizError(f"steps={steps}: give at least 1 step")
    x = check_images(model, images)
    maps = np.asarray(maps, np.float32)
    if maps.shape != x.shape[:3]:
        raise CnnvizError(f"maps of shape {maps.shape} do not match images {x.shape[:3]}: one (H, W) map per image")
    targets = resolve_targets(model, x, target)
    gone = removed(model, x, baseline)
    begin, end = (x, gone) if mode == "deletion" else (gone, x)
    region = check_region(region, x.shape[1:3])
    order, bounds = pixel_order(maps, region, seed)
    n_pixels = order.shape[1]
    picks = np.round(np.linspace(0, bounds.shape[1] - 1, min(steps, bounds.shape[1] - 1) + 1)).astype(int)
    counts = bounds[:, picks]                                   # pixels removed at each step, per image
    fn = compiled(model)
    jobs = [(i, c) for i in range(len(x)) for c in counts[i]]
    batch_size = batch_size or batch_size_for(model, x)
    scores = []
    for start in range(0, len(jobs), batch_size):
        check(cancel)
        report(progress, start, len(jobs), mode)
        batch = []
        for i, count in jobs[start:start + batch_size]:
            image = begin[i].reshape(n_pixels, -1).copy()
            image[order[i, :count]] = end[i].reshape(n_pixels, -1)[order[i, :count]]
            batch.append(image.reshape(x.shape[1:]))
        scores.append(as_probabilities(model, np.asarray(fn(np.stack(batch)))))
    report(progress, len(jobs), len(jobs), mode)
    probs = np.concatenate(scores).reshape(len(x), len(picks), -1)
    target_scores = probs[np.arange(len(x)), :, targets]
    fractions = counts / n_pixels              # per image: edge regions can be smaller than the others
    return Curves(mode, fractions.mean(axis=0), target_scores, np.trapezoid(target_scores, fractions, axis=1))


@dataclass
class Ranking:
    """Methods compared on the same images: mean deletion and insertion AUC."""

    methods: list[str]
    deletion: dict[str, Curves]
    insertion: dict[str, Curves]
    seconds: dict[str, float]
    n_images: int
    params: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One row per method (and "random"), best deletion first."""
        rows = [{"method": m, "deletion_auc": float(self.deletion[m].auc.mean()),
                 "insertion_auc": float(self.insertion[m].auc.mean()),
                 "seconds_per_image": self.seconds[m] / self.n_images, "params": self.params.get(m, "")}
                for m in self.methods]
        return sorted(rows, key=lambda r: r["deletion_auc"])


@api
def compare(model, images, methods: Sequence[str], target=None, *, steps: int = 32, region: Optional[int] = None,
            baseline: str = "blurred", seed: int = 0, options: Optional[dict] = None,
            progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Ranking:
    """Run each method on ``images`` and score its maps by deletion and
    insertion, next to a random map. ``options`` maps method names to their
    keyword options."""

    x = check_images(model, images)
    check_region(region, x.shape[1:3])
    if isinstance(methods, str):
        methods = [methods]
    if not methods:
        raise CnnvizError("no methods given: name at least one attribution method to compare")
    targets = resolve_targets(model, x, target)
    names = list(methods) + ["random"]
    deletion, insertion, seconds, params = {}, {}, {}, {}
    for k, name in enumerate(names):
        start = time.perf_counter()
        if name == "random":
            maps = random_maps(x.shape[:3], seed)
        else:
            result = explain_one(model, x, name, targets, progress=stage(progress, k, len(names), name), cancel=cancel,
                                 **(options or {}).get(name, {}))
            maps, params[name] = result.maps, result.describe()
        seconds[name] = time.perf_counter() - start
        for mode, store in (("deletion", deletion), ("insertion", insertion)):
            store[name] = curves(model, x, maps, targets, mode=mode, steps=steps, region=region, baseline=baseline,
                                 seed=seed, cancel=cancel)
    report(progress, len(names), len(names), "compared")
    return Ranking(names, deletion, insertion, seconds, len(x), params)

