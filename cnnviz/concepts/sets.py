"""The image sets concept methods work on: a concept's examples, random
counterexamples and a class's images, each given as uint8 pixels or as an
image folder, glob or file list that streams from disk (converted exactly as
single images are; unreadable files are skipped and named)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import uint8_batch
from ..data.sources import load_dataset, named
from ..data.stream import list_images, read_sample
from ..models.inputs import dataset_inputs, stream_size
from ..models.preprocessing import deprocess
from ..models.zoo import input_shape, model_info

Images = Union[np.ndarray, str, os.PathLike, Sequence[Union[str, os.PathLike]]]


@dataclass
class ImageSet:
    """Images of one set at the model's size, as pixels and as model input."""

    name: str
    pixels: np.ndarray                  # uint8 (N, H, W, C)
    x: np.ndarray                       # float32 model input (N, H, W, C)
    files: list[str] = field(default_factory=list)           # one per image; empty for arrays
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason) not read

    def __len__(self) -> int:
        return len(self.x)

    def to_json(self) -> dict:
        return {"name": self.name, "images": len(self), "skipped": [{"file": f, "reason": r} for f, r in self.skipped]}


def is_files(images) -> bool:
    """Whether ``images`` names files (a path, glob or list of paths) rather than holding pixels."""
    return isinstance(images, (str, os.PathLike)) or (isinstance(images, (list, tuple)) and bool(images)
                                                      and isinstance(images[0], (str, os.PathLike)))


def image_set(model, name: str, images: Images, limit: Optional[int] = None, seed: int = 0,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> ImageSet:
    """``images`` (uint8 pixels (N, H, W[, C]), or files) as an :class:`ImageSet`
    for ``model``; ``limit`` takes a seeded sample of that many."""
    if is_files(images):
        pixels, _, files, report = read_sample(images, stream_size(model), limit, seed, progress, cancel)
        skipped = {f for f, _ in report.skipped}           # the stream keeps the listing's order
        return ImageSet(name, pixels, dataset_inputs(model, pixels), [p for p in files.paths if p not in skipped],
                        report.skipped)
    pixels = uint8_batch(images, name)
    if limit is not None and limit < len(pixels):
        pixels = pixels[np.sort(np.random.default_rng(seed).choice(len(pixels), limit, replace=False))]
    x = dataset_inputs(model, pixels)

    shown = np.clip(deprocess(x, model_info(model).preprocessing).round(), 0, 255).astype(np.uint8)   # at its size
    return ImageSet(name, shown, x)


def class_images(model, target: int, dataset=None, limit: Optional[int] = None, seed: int = 0,
                 progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> ImageSet:
    """The images of class ``target``: uint8 pixels as given, mnist/cifar10's
    test images of that class, or an image folder's: the sub-folder named like
    the class (else the one at its index), or all loose images."""
    info = model_info(model)
    label = class_label(model, target)
    if dataset is not None and not isinstance(dataset, str) and not is_files(dataset):
        return image_set(model, label, dataset, limit, seed, progress, cancel)
    name = dataset or info.dataset
    if name is None or name == "imagenet":
        raise CnnvizError(f"no dataset known for {model.name}: give the class's images (--dataset DIR, an image "
                          f"folder with one sub-folder per class, or a folder of {label} images)")
    if named(name) is not None:
        data = load_dataset(name, input_shape(model), progress, cancel)
        pixels = data.x_test[data.y_test.reshape(-1) == target]
        return image_set(model, label, pixels, limit, seed)
    return image_set(model, label, _class_files(name, target, label), limit, seed, progress, cancel)


def class_files(model, target: int, source) -> list[str]:
    """The image files of class ``target`` in ``source`` (an image folder, glob
    or file list), for work that streams them from disk."""
    if source is None or not is_files(source):
        raise CnnvizError("streaming (--engine) reads image files: give the class's images as an image folder "
                          "(--dataset DIR, one sub-folder per class or a folder of that class's images)")
    return _class_files(source, target, class_label(model, target))


def class_label(model, target: int) -> str:
    info = model_info(model)
    return info.classes[target] if info.classes and target < len(info.classes) else str(target)


def _class_files(source, target: int, label: str) -> list[str]:
    files = list_images(source)
    if len(files.classes) == 1:
        return files.paths
    lowered = [c.lower() for c in files.classes]
    index = lowered.index(label.lower()) if label.lower() in lowered else target
    if index >= len(files.classes):
        raise CnnvizError(f"{source} has no sub-folder for class {label} ({target}): its classes are "
                          f"{', '.join(files.classes[:10])}; give a folder of {label} images")
    return [p for p, y in zip(files.paths, files.labels) if y == index]


def check_size(images: ImageSet, needed: int, what: str) -> None:
    """Refuse a set with fewer than ``needed`` images, naming the number and the skipped files."""
    if len(images) >= needed:
        return
    skipped = ""
    if images.skipped:
        named = ", ".join(Path(f).name for f, _ in images.skipped[:3]) + (" ..." if len(images.skipped) > 3 else "")
        skipped = f" (skipped {len(images.skipped)} unreadable: {named})"
    raise CnnvizError(f"{images.name} has {len(images)} readable image(s){skipped}: {what} needs at least {needed}; "
                      f"add images to it")
