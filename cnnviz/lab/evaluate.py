"""Loss, accuracy and confusion matrix of a classifier on a real test set."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import api
from ..data.sources import is_file_source, label_dataset, label_files, load_dataset
from ..data.stream import list_images
from ..jobs.base import Job
from ..jobs.engines import check_engine, run
from ..jobs.merge import add
from ..models.inputs import check_dataset_fits, dataset_inputs, stream_size
from ..models.predict import check_classifier, probabilities
from ..models.zoo import image_shape, model_info


@dataclass
class Evaluation:
    dataset: str
    n: int
    loss: float
    accuracy: float
    confusion: np.ndarray          # (true class, predicted class) counts
    classes: list[str]
    labels: np.ndarray = field(default=None, repr=False)       # per test image: true class
    predicted: np.ndarray = field(default=None, repr=False)    # predicted class
    confidence: np.ndarray = field(default=None, repr=False)   # probability of the predicted class
    notes: list = field(default_factory=list)                   # e.g. the model's classes without images
    skipped: list = field(default_factory=list)                 # (file, why) of unreadable files, skipped

    def mistakes(self, k: Optional[int] = None) -> np.ndarray:
        """Indices (into the evaluated test images) of the misclassified ones,
        most confident mistakes first; the first ``k`` when given."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        return wrong[np.argsort(-self.confidence[wrong], kind="stable")][:k]

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "n": self.n, "loss": self.loss, "accuracy": self.accuracy,
                "classes": self.classes, "confusion": self.confusion.tolist(), "notes": self.notes,
                "skipped": [{"file": f, "reason": r} for f, r in self.skipped]}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@api
def evaluate(model, dataset: Optional[str] = None, limit: Optional[int] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None, *, seed: int = 0,
             engine: str = "local", workers: Optional[int] = None, address: Optional[str] = None,
             labels_by_order: bool = False) -> Evaluation:
    """Evaluate on ``dataset`` (a named dataset or a file source, see
    :data:`cnnviz.data.sources.SOURCE_HELP`; default the model's own) test
    split, or its first ``limit`` images. Files stream from disk (``limit``:
    a seeded class-balanced sample) on the ``engine`` given (see
    :func:`cnnviz.jobs.run`); their labels are matched to the model's classes
    by name (:func:`cnnviz.data.sources.match_classes`; ``labels_by_order``:
    by sorted position instead, only for a model without class names)."""
    info = model_info(model)
    dataset = dataset or info.dataset
    if dataset is None or dataset == "imagenet":
        raise CnnvizError(f"no test set known for {info.name}: pass --dataset mnist, cifar10 or an image folder")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise CnnvizError(f"limit must be a whole number of at least 1 (got {limit!r})")
    check_classifier(model)
    check_dataset_fits(model, dataset)
    if is_file_source(dataset):
        return _evaluate_stream(model, dataset, limit, seed, engine, workers, address, progress, cancel,
                                labels_by_order)
    data = label_dataset(load_dataset(dataset, image_shape(model), progress, cancel), info.classes)
    x, y = data.x_test[:limit], data.y_test.reshape(-1)[:limit].astype(np.int64)
    probs = probabilities(model, dataset_inputs(model, x), progress=progress, cancel=cancel,
                          message=f"evaluating on {data.name}")
    if probs.shape[-1] < len(data.classes):
        raise CnnvizError(f"{info.name} has {probs.shape[-1]} outputs but {data.name} has {len(data.classes)} classes")
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))
    pred = probs.argmax(-1)
    return Evaluation(data.name, len(y), loss, float(np.mean(pred == y)),
                      confusion_matrix(y, pred, probs.shape[-1]), list(info.classes), y, pred, probs.max(-1),
                      list(data.notes))


def _evaluate_stream(model, source, limit, seed, engine, workers, address, progress, cancel,
                     by_order) -> Evaluation:
    """:func:`evaluate` over image files streamed from disk: sums of the
    loss and the confusion matrix, merged by adding."""
    check_engine(engine, address)
    info = model_info(model)
    files = label_files(list_images(source, limit, seed), info.classes, by_order=by_order)
    n_out = int(model.outputs[0].shape[-1])
    total, report = run(_EvaluateJob(files.labels, n_out), model, files, stream_size(model), 256, engine, workers,
                        address, progress, cancel)
    n = int(total["confusion"].sum())
    accuracy = float(np.trace(total["confusion"]) / n)
    skipped = [(p, "not an image file") for p in files.not_images] + list(report.skipped)
    return Evaluation(Path(files.root).name, n, float(total["loss"] / n), accuracy, total["confusion"],
                      list(info.classes), notes=list(files.notes), skipped=skipped)


class _EvaluateJob(Job):
    """Loss sum and confusion counts per shard."""

    def __init__(self, labels: np.ndarray, n_classes: int):
        self.labels, self.n_classes = labels, n_classes

    def worker(self, model):
        def work(shard) -> dict:
            y = self.labels[shard.index]
            probs = probabilities(model, dataset_inputs(model, shard.pixels)) if len(y) else \
                np.ones((0, self.n_classes), np.float32)
            loss = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).astype(np.float64).sum()
            return {"loss": np.array(loss), "confusion": confusion_matrix(y, probs.argmax(-1), self.n_classes)}

        return work

    def empty(self) -> dict:
        return {"loss": np.array(0.0), "confusion": np.zeros((self.n_classes, self.n_classes), np.int64)}

    def merge(self, total: dict, partial: dict) -> dict:
        return add(total, partial)
