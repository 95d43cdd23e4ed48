"""Class probabilities and top-k predictions with class names."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..common.errors import CnnvizError
from ..common.validate import api, model_batch
from .engine import forward
from .zoo import model_info


class Prediction(NamedTuple):
    index: int
    name: str
    probability: float


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def as_probabilities(model, outputs: np.ndarray) -> np.ndarray:
    """The model's outputs as probabilities: a softmax for a model whose
    contract says it outputs logits."""
    return outputs if model_info(model).output == "probability" else softmax(outputs)


def check_classifier(model) -> None:
    """Raise a :class:`CnnvizError` unless ``model`` ends in a vector of at
    least two class scores (what predictions, attributions and attacks need)."""
    shape, name = tuple(model.outputs[0].shape)[1:], model_info(model).name
    if len(shape) != 1:
        shown = "x".join("?" if d is None else str(d) for d in shape)
        raise CnnvizError(f"{name} is no classifier: it outputs {shown} feature maps per image, not class "
                          "scores; predictions need a model ending in Dense(classes) (its activations and filters "
                          "can still be shown)")
    if shape[0] is not None and shape[0] < 2:
        raise CnnvizError(f"{name} has a single output unit, not class scores: predictions need a classifier "
                          "with one output per class (at least two), e.g. Dense(2, activation='softmax')")


@api
def probabilities(model, x: np.ndarray, **kwargs) -> np.ndarray:
    """Class probabilities (N, classes) for preprocessed inputs ``x``; a
    :class:`CnnvizError` for a model that is no classifier or inputs that do not fit it."""
    x = model_batch(model, x, "x", images_only=False)
    check_classifier(model)
    return as_probabilities(model, forward(model, x, **kwargs))


def top_k(probs: np.ndarray, classes, k: int = 5) -> list[list[Prediction]]:
    """The ``k`` most probable classes of each row, best first."""
    k = min(k, probs.shape[-1])
    order = np.argsort(-probs, axis=-1)[:, :k]
    return [[Prediction(int(i), classes[i], float(row[i])) for i in idx] for row, idx in zip(probs, order)]


@api
def predict(model, x: np.ndarray, k: int = 5) -> list[list[Prediction]]:
    """Top-``k`` predictions with class names for preprocessed inputs ``x``."""
    return top_k(probabilities(model, x), model_info(model).classes, k)
