"""What every attribution method shares: the result object, checking a batch
of images against the model, resolving target classes, and the value a
"black" or "grey" pixel has in the model's input scale.

Every method has the call shape ``method(model, images, target=None, **options)``
with ``images`` preprocessed model inputs (N, H, W, C) (``LoadedImage.x``) and
returns an :class:`Attribution` whose ``maps`` are (N, H, W), in the input's frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import check, report
from ..common.validate import model_batch
from ..models.engine import batch_rows, forward
from ..models.inputs import class_index
from ..models.predict import check_classifier
from ..models.preprocessing import input_range, preprocess
from ..models.zoo import model_info


@dataclass
class Attribution:
    """One method's maps for a batch of images."""

    method: str
    maps: np.ndarray                 # (N, H, W) float32, in the input's frame
    targets: np.ndarray              # (N,) class index explained for each image
    signed: bool = False             # True: positive and negative evidence; False: magnitude
    params: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)   # method-specific arrays and figures
    seconds: float = 0.0

    def describe(self) -> str:
        """The method and its options, for titles."""
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.method} ({shown})" if shown else self.method


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, np.ndarray):
        return "array"
    return str(value)


def check_images(model, images) -> np.ndarray:
    """``images`` as float32 (N, H, W, C) fitting the model's input, or a
    clear error (bad values, shape or model: see :mod:`cnnviz.common.validate`).
    A single image (H, W, C) becomes a batch of one."""
    info = model_info(model)
    x = model_batch(model, images, input_range=input_range(info.preprocessing), preprocessing=info.preprocessing,
                    guessed=info.source("preprocessing") == "default")
    check_classifier(model)
    return x


def resolve_targets(model, x: np.ndarray, target=None, predicted: Optional[np.ndarray] = None) -> np.ndarray:
    """Class index per image: the predicted class when ``target`` is None,
    one class (index or name) for all, or one per image."""
    if target is None:
        if predicted is None:
            predicted = forward(model, x)
        return np.argmax(predicted, axis=-1).astype(np.int64)
    if isinstance(target, (list, tuple, np.ndarray)):
        if len(target) != len(x):
            raise CnnvizError(f"{len(target)} targets for {len(x)} images: give one target, or one per image")
        return np.array([class_index(model, t) for t in target], np.int64)
    return np.full(len(x), class_index(model, target), np.int64)


def onehot(targets: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[targets]


def n_classes(model) -> int:
    return int(model.outputs[0].shape[-1])


def pixel_value(model, level: float, channels: int) -> np.ndarray:
    """The model-input value of a uniform pixel of ``level`` (0 black, 255
    white) in every channel: (C,) float32."""
    return preprocess(np.full((1, 1, channels), level, np.float32), model_info(model).preprocessing)[0, 0]


def reduce_channels(gradients: np.ndarray, how: str) -> np.ndarray:
    """(N, H, W, C) to (N, H, W): "absmax" (the largest magnitude over
    channels, Simonyan et al.) or "sum" (signed)."""
    if how == "absmax":
        return np.abs(gradients).max(axis=-1)
    if how == "sum":
        return gradients.sum(axis=-1)
    raise ValueError(f"unknown channel reduction {how!r}")


def run_batches(fn, model, x: np.ndarray, targets: np.ndarray, batch_size: Optional[int] = None, progress=None,
                cancel=None, message: str = "") -> list[np.ndarray]:
    """``fn(x_batch, onehot_batch)`` over ``x`` in batches, with progress and
    cancel; each of its outputs concatenated over the batches."""

    selector = onehot(targets, n_classes(model))
    batch_size = batch_size or batch_size_for(model, x, backward=True)
    outputs = []
    for start in range(0, len(x), batch_size):
        check(cancel)
        report(progress, start, len(x), message)
        outputs.append([np.asarray(o) for o in fn(x[start:start + batch_size], selector[start:start + batch_size])])
    report(progress, len(x), len(x), message)
    return [np.concatenate(parts) for parts in zip(*outputs)]


def batch_size_for(model, x: np.ndarray, backward: bool = False, budget: int = 1 << 22) -> int:
    """A batch size that keeps one batch of inputs around 16 MB and its layer
    outputs within the engine's budget (:func:`batch_rows`)."""
    per_image = int(np.prod(x.shape[1:]))
    return batch_rows(model, int(np.clip(budget // max(per_image, 1), 8, 256)), backward)


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Each image of (N, H, W, C) blurred in space (not across channels)."""
    from skimage.filters import gaussian

    return np.stack([gaussian(im, sigma=sigma, channel_axis=-1, preserve_range=True) for im in x]).astype(np.float32)
