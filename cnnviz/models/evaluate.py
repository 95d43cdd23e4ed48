"""Loss, accuracy and confusion matrix of a classifier on a real test set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import api
from ..data.datasets import load_dataset
from ..data.images import conform, preprocess
from .predict import check_classifier, probabilities
from .zoo import input_shape, model_info


@dataclass
class Evaluation:
    dataset: str
    n: int
    loss: float
    accuracy: float
    confusion: np.ndarray          # (true class, predicted class) counts
    classes: list[str]

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "n": self.n, "loss": self.loss, "accuracy": self.accuracy,
                "classes": self.classes, "confusion": self.confusion.tolist()}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def dataset_inputs(model, images: np.ndarray) -> np.ndarray:
    """uint8 dataset images (N, H, W[, C]) as the model's preprocessed input."""
    shape = input_shape(model)
    if images.ndim == 3:
        images = images[..., None]
    if any(s is not None and s != d for s, d in zip(shape, images.shape[1:])):
        images = np.stack([conform(im[..., 0] if im.shape[-1] == 1 else im, shape[:2], shape[2]) for im in images])
    return preprocess(images, model_info(model).preprocessing)


NAMED_DATASETS = ("mnist", "cifar10")


def check_dataset_fits(model, dataset: str) -> None:
    """Refuse to score a model on a named dataset other than the one its card
    says it was trained on: MNIST digits made colour (or CIFAR-10 photos made
    gray) give numbers that look like results but mean nothing. An image
    folder is the explicit way to run on other data."""
    info = model_info(model)
    trained = info.dataset
    if dataset in NAMED_DATASETS and trained in (*NAMED_DATASETS, "imagenet") and dataset != trained:
        raise CnnvizError(
            f"{info.name} was trained on {trained} (its model card), and {dataset} is another dataset with other "
            f"images and classes, so its scores would mean nothing: use {trained}; to run on {dataset} anyway, "
            f"convert its images yourself into a folder DIR/<class>/*.png and pass that folder as the dataset")


@api
def evaluate(model, dataset: Optional[str] = None, limit: Optional[int] = None,
             progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Evaluation:
    """Evaluate on ``dataset`` ("mnist", "cifar10" or an image folder; default
    the model's own) test split, or its first ``limit`` images."""
    info = model_info(model)
    dataset = dataset or info.dataset
    if dataset is None or dataset == "imagenet":
        raise CnnvizError(f"no test set known for {info.name}: pass --dataset mnist, cifar10 or an image folder")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise CnnvizError(f"limit must be a whole number of at least 1 (got {limit!r})")
    check_classifier(model)
    check_dataset_fits(model, dataset)
    data = load_dataset(dataset, input_shape(model), progress, cancel)
    x, y = data.x_test[:limit], data.y_test.reshape(-1)[:limit].astype(np.int64)
    probs = probabilities(model, dataset_inputs(model, x), progress=progress, cancel=cancel,
                          message=f"evaluating on {data.name}")
    if probs.shape[-1] < len(data.classes):
        raise CnnvizError(f"{info.name} has {probs.shape[-1]} outputs but {data.name} has {len(data.classes)} classes")
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))
    pred = probs.argmax(-1)
    return Evaluation(data.name, len(y), loss, float(np.mean(pred == y)),
                      confusion_matrix(y, pred, probs.shape[-1]), list(info.classes or data.classes))
