"""Images made into a model's input: a photo prepared for one model (resized,
converted, preprocessed, with notes of what was done), dataset arrays as a
model's input, and a class given by index or name."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..common.errors import CnnvizError
from ..common.validate import api
from ..data.images import conform, read_image, to_rgb
from ..data.sources import canonical, named
from ..data.stream import ANY_SIZE
from .preprocessing import preprocess
from .zoo import image_shape, model_info, weights_note


@dataclass
class LoadedImage:
    """An image ready for a model, with what a person should see."""

    source: str
    display: np.ndarray            # the original as RGB uint8 (H, W, 3)
    pixels: np.ndarray             # uint8 at the model's size and channels (h, w, c)
    x: np.ndarray                  # float32 model input (h, w, c), preprocessed
    notes: list[str] = field(default_factory=list)


def prepare(image: np.ndarray, model, source: str = "image") -> LoadedImage:
    """A uint8 image (gray or RGB) made into ``model``'s input, with notes."""
    info = model_info(model)
    h, w, c = image_shape(model)
    notes = []
    if min(image.shape[:2]) < 8 and (h is None or w is None):
        raise CnnvizError(f"{source} is only {image.shape[1]}x{image.shape[0]} pixels: give a larger image")
    if (image.ndim == 3) != (c == 3):
        notes.append(f"converted {'colour' if image.ndim == 3 else 'grayscale'} to "
                     f"{'RGB' if c == 3 else 'grayscale'} for {info.name}")
    pixels = conform(image, (h, w), c)
    if (h, w) != (None, None) and image.shape[:2] != pixels.shape[:2]:
        notes.append(f"resized {image.shape[1]}x{image.shape[0]} to {pixels.shape[1]}x{pixels.shape[0]}")
    known = named(info.dataset or "")
    if known is not None and known.light_on_dark and c == 1 and _border_mean(pixels) > 127:
        pixels = 255 - pixels
        notes.append(f"inverted to light-on-dark, as {known.label} digits are")
    if info.preprocessing_note:
        notes.append(info.preprocessing_note)
    if weights_note(model):
        notes.append(weights_note(model))
    x = preprocess(pixels, info.preprocessing)
    return LoadedImage(source, to_rgb(image), pixels, x.reshape(-1) if info.flat else x, notes)


def _border_mean(pixels: np.ndarray) -> float:
    p = pixels[..., 0].astype(float)
    return float(np.concatenate([p[0], p[-1], p[:, 0], p[:, -1]]).mean())


@api
def load_image(path: str | os.PathLike, model) -> LoadedImage:
    """Read an image file and prepare it for ``model`` (see :func:`prepare`)."""
    return prepare(read_image(path), model, str(path))


def dataset_inputs(model, images: np.ndarray) -> np.ndarray:
    """uint8 dataset images (N, H, W[, C]) as the model's preprocessed input
    (flattened for a dense network)."""
    shape = image_shape(model)
    if images.ndim == 3:
        images = images[..., None]
    if any(s is not None and s != d for s, d in zip(shape, images.shape[1:])):
        images = np.stack([conform(im[..., 0] if im.shape[-1] == 1 else im, shape[:2], shape[2]) for im in images])
    info = model_info(model)
    x = preprocess(images, info.preprocessing)
    return x.reshape(len(x), -1) if info.flat else x


def class_index(model, target) -> int:
    """A class given by index or by name (case-insensitive) for this model."""
    classes = model_info(model).classes
    if isinstance(target, (bool, np.bool_)):
        raise CnnvizError(f"target {target!r} is a boolean, not a class: give a class index (0..{len(classes) - 1}) "
                          "or name")
    if isinstance(target, (float, np.floating)):
        if not (np.isfinite(target) and float(target).is_integer()):
            raise CnnvizError(f"target {target!r} is not a class index: give a whole number 0..{len(classes) - 1} "
                              "or a class name")
        target = int(target)
    if isinstance(target, (int, np.integer)) or str(target).lstrip("-").isdigit():
        i = int(target)
        if not 0 <= i < len(classes):
            raise CnnvizError(f"class {i} is out of range: {model.name} has classes 0..{len(classes) - 1}")
        return i
    lowered = [c.lower() for c in classes]
    if str(target).lower() in lowered:
        return lowered.index(str(target).lower())
    close = [c for c in classes if str(target).lower() in c.lower()][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise CnnvizError(f"unknown class {target!r} for {model.name}{hint}: give a class index or name")


def stream_size(model) -> tuple[int, int, int]:
    """(H, W, C) the stream decodes to for ``model`` (224 for a side it leaves free)."""
    h, w, c = image_shape(model)
    return (h or ANY_SIZE, w or ANY_SIZE, c)


def check_dataset_fits(model, dataset: str) -> None:
    """Refuse to score a model on a named dataset other than the one its card
    says it was trained on: MNIST digits made colour (or CIFAR-10 photos made
    gray) give numbers that look like results but mean nothing. An image
    folder is the explicit way to run on other data."""
    info = model_info(model)
    trained, dataset = info.dataset, canonical(dataset) or dataset
    if named(dataset) and (named(trained) or trained == "imagenet") and dataset != trained:
        raise CnnvizError(
            f"{info.name} was trained on {trained} (its model card), and {dataset} is another dataset with other "
            f"images and classes, so its scores would mean nothing: use {trained}; to run on {dataset} anyway, "
            f"convert its images yourself into a folder DIR/<class>/*.png and pass that folder as the dataset")
