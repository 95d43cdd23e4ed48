"""Robustness curves: a model's accuracy under attack as the budget grows,
on a labelled image set (Madry et al. 2018 plot accuracy against eps)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, stage
from ..common.validate import api
from ..data.images import conform
from ..data.sources import is_file_source, label_dataset, label_files, load_dataset
from ..data.stream import list_images, read_sample
from ..models.inputs import check_dataset_fits, class_index, stream_size
from ..models.zoo import input_shape, model_info
from .base import (
    as_batch,
    check_eps,
    check_labels,
    default_batch,
    default_eps_grid,
    is_fooled,
    pixel_probabilities,
    project,
    quantize,
)
from .registry import DEFAULT_ATTACK, attack, check_options, declaration


@dataclass
class RobustnessCurve:
    """Accuracy under attack against the budget on a labelled image set."""

    model: str
    method: str
    norm: str
    eps: np.ndarray                    # budgets, [0, 1] pixel units
    accuracy: np.ndarray               # share classified correctly under attack
    accuracy_8bit: np.ndarray          # the same with the adversarials rounded to 8 bits
    success_rate: np.ndarray           # share of the correctly classified images fooled (targeted: sent to the target)
    clean_accuracy: float
    n: int
    steps: int
    targeted: bool = False
    target: Optional[str] = None
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    median_norm: Optional[float] = None   # cw / deepfool: median size of the perturbations that fool
    dataset: Optional[str] = None
    seed: int = 0

    @property
    def label(self) -> str:
        norm = "L-inf" if self.norm == "inf" else "L2"
        return f"{self.model} {self.method} {norm}" + (f" -> {self.target}" if self.targeted else "")

    def to_json(self) -> dict:
        return {"model": self.model, "method": self.method, "norm": self.norm, "targeted": self.targeted,
                "target": self.target, "dataset": self.dataset, "n": self.n, "steps": self.steps, "seed": self.seed,
                "clean_accuracy": self.clean_accuracy, "median_norm": self.median_norm,
                "points": [{"eps": float(e), "accuracy": float(a), "accuracy_8bit": float(q),
                            "success_rate": float(s), "seconds": float(t)}
                           for e, a, q, s, t in zip(self.eps, self.accuracy, self.accuracy_8bit,
                                                    self.success_rate, self.seconds)]}


def _test_images(model, dataset: Optional[str], n: Optional[int]):
    """The first ``n`` uint8 test images of a dataset (of an image folder: a
    class-balanced sample of ``n``) at the model's size, with labels."""
    name = dataset or model_info(model).dataset
    if name is None or name == "imagenet":
        raise CnnvizError(f"no test set known for {model_info(model).name}: pass dataset='mnist', 'cifar10' or an "
                          "image folder")
    if n is not None and n < 1:
        raise CnnvizError(f"n must be at least 1 (got {n})")
    check_dataset_fits(model, name)
    classes = model_info(model).classes
    if is_file_source(name):          # files: a class-balanced sample of n, decoded through the stream
        files = label_files(list_images(name, n), classes)
        x, y, files, _ = read_sample(files, stream_size(model))
        return x, y, Path(files.root).name
    data = label_dataset(load_dataset(name, input_shape(model)), classes)
    x, y = data.x_test[:n], data.y_test.reshape(-1)[:n].astype(np.int64)
    if x.ndim == 3:
        x = x[..., None]
    shape = input_shape(model)
    if any(s is not None and s != d for s, d in zip(shape, x.shape[1:])):
        x = np.stack([conform(im[..., 0] if im.shape[-1] == 1 else im, shape[:2], shape[2]) for im in x])
    return x, y, data.name


@api
def robustness(model, images=None, labels=None, *, method: str = DEFAULT_ATTACK, eps: Optional[Sequence[float]] = None,
               target=None, dataset: Optional[str] = None, n: Optional[int] = 1000,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
               **options) -> RobustnessCurve:
    """Accuracy under ``method`` against each budget in ``eps`` (default
    :func:`~.base.default_eps_grid`), on ``images`` with true ``labels``, or on
    the first ``n`` test images of ``dataset`` (default the model's own).
    ``options`` are the attack's (:data:`~.registry.ATTACKS`: norm, steps,
    seed, ...; None takes the default).

    Only correctly classified images are attacked (the others count as wrong
    at every budget). Attacks within a budget (fgsm, pgd) run once per
    budget; minimal-perturbation attacks (cw, deepfool) run once, unbounded,
    and each budget counts the perturbations that fool within it (projected
    onto the budget). A fixed ``target`` skips images of that class;
    ``target="random"`` gives each image a seeded other class.
    """
    spec = declaration(method)
    if "eps" in options:
        raise CnnvizError("robustness takes a list of budgets as eps, not an attack option")
    settings = {**spec.defaults(), **check_options(spec.name, options)}
    norm, seed = settings["norm"], settings["seed"]
    name = None
    if images is None:
        images, labels, name = _test_images(model, dataset, n)
    elif labels is None:
        raise CnnvizError("robustness needs the true labels of the images")
    x, _ = as_batch(model, images)
    n_classes = int(model.outputs[0].shape[-1])
    y = check_labels(labels, len(x), n_classes, model)
    dims = int(np.prod(x.shape[1:]))
    grid = default_eps_grid(model, norm) if eps is None else [check_eps(e, norm, dims) for e in eps]
    if not grid:
        raise CnnvizError("give at least one eps")
    grid = np.array(grid, np.float64)
    keep = np.arange(len(x))
    target_name = None
    if target is not None and not (isinstance(target, str) and target.lower() == "random"):
        t = class_index(model, target)
        target_name = model_info(model).classes[t] if t < len(model_info(model).classes) else str(t)
        keep = np.flatnonzero(y != t)
        if len(keep) == 0:
            raise CnnvizError(f"every image is of the target class {target_name!r}: pick another target")
    elif target is not None:
        target_name = "random"
    x, y = x[keep], y[keep]

    batch_size = max(settings["batch_size"] or default_batch(model), 64)
    clean_probs = pixel_probabilities(model, x, batch_size)
    pred = clean_probs.argmax(-1)
    correct = np.flatnonzero(pred == y)
    clean = float(np.mean(pred == y))
    xc, yc = x[correct], y[correct]
    attacked = [e for e in grid if e > 0] if not spec.minimal else [None]
    acc, acc8, rate, seconds = [], [], [], []
    median_norm = None

    def run(k, e):
        part = stage(progress, k, len(attacked), f"eps {k + 1}/{len(attacked)}") if not spec.minimal else progress
        return attack(model, xc, target, method=spec.name, labels=yc, indices=keep[correct],
                      original_probs=clean_probs[correct], progress=part, cancel=cancel, **options,
                      **({} if e is None else {"eps": e}))

    if spec.minimal and len(xc):
        result = run(0, None)
        found_norm = result.linf if norm == "inf" else result.l2
        median_norm = float(np.median(found_norm[result.success])) if result.success.any() else None
        per_eps = result.seconds / max(1, len(grid))
    for e in grid:
        started = time.perf_counter()
        if len(xc) == 0 or e == 0:
            fooled = wrong = wrong8 = np.zeros(len(xc), bool)
        elif spec.minimal:
            adv = project(result.adversarial, result.original, e, norm)
            probs = pixel_probabilities(model, adv, batch_size)
            probs8 = pixel_probabilities(model, quantize(adv, result.original, e, norm).astype(np.float32) / 255.0,
                                         batch_size)
            fooled = is_fooled(probs, yc, result.target)
            wrong = probs.argmax(-1) != yc
            wrong8 = probs8.argmax(-1) != yc
        else:
            result = run(attacked.index(e), e)
            fooled = result.success
            wrong = result.adversarial_prediction != yc
            wrong8 = result.rounded_probs.argmax(-1) != yc
        acc.append(float(np.sum(~wrong)) / len(x))
        acc8.append(float(np.sum(~wrong8)) / len(x))
        rate.append(float(np.mean(fooled)) if len(xc) else 0.0)
        seconds.append(time.perf_counter() - started + (per_eps if spec.minimal and len(xc) else 0.0))
    return RobustnessCurve(model_info(model).name, spec.name, norm, grid, np.array(acc), np.array(acc8),
                           np.array(rate), clean, len(x), settings.get("steps", 1), target is not None, target_name,
                           np.array(seconds), median_norm, name, seed)
