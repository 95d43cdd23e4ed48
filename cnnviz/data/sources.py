"""Dataset sources, declared once: the named datasets (MNIST, CIFAR-10), a
class-per-folder tree, a loose folder (no labels), a glob or list of files,
and a labels file (CSV rows ``file,label``). Every dataset command, the API
and the app take a source the same way (:func:`load_dataset` for arrays in
memory, :func:`cnnviz.data.stream.list_images` for a stream), and folder labels
are matched to a model's classes by name here (:func:`match_classes`).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import check, report
from .classes import CIFAR10_CLASSES, MNIST_CLASSES
from .datasets import Dataset, cifar10_dataset, mnist_dataset
from .stream import ImageFiles, decode_files, list_images

ANY_SIDE = 224       # the side images are read at for a model that takes any size


@dataclass(frozen=True)
class NamedDataset:
    """A dataset known by name: how it loads, what its images are, and the
    settings that depend on them (attack budgets, augmentation)."""

    name: str
    label: str                          # as people write it
    load: Callable
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    aliases: tuple[str, ...] = ()
    linf_eps: float = 8 / 255           # the usual attack budgets in [0, 1] pixel units
    l2_eps: float = 0.5
    flips: bool = True                  # a mirrored image is still of its class (photos, not digits)
    light_on_dark: bool = False         # digits drawn light on a dark ground: a dark-on-light photo is inverted


NAMED = {d.name: d for d in (
    NamedDataset("mnist", "MNIST", lambda progress, cancel, test_only=False: mnist_dataset(), MNIST_CLASSES,
                 (28, 28, 1), linf_eps=0.3, l2_eps=2.0, flips=False, light_on_dark=True),
    NamedDataset("cifar10", "CIFAR-10", cifar10_dataset, CIFAR10_CLASSES, (32, 32, 3), ("cifar-10",)),
)}
BY_SHAPE = {d.image_shape: d.name for d in NAMED.values()}     # input shape -> the named dataset that fits it
SOURCE_HELP = ("mnist, cifar10, an image folder (DIR/<class>/*.jpg), a glob ('photos/*.jpg'), image files, or a "
               "labels file (CSV rows file,label)")


def named(name) -> Optional[NamedDataset]:
    """The named dataset ``name`` means ("mnist", "CIFAR-10"...), or None."""
    key = str(name).lower()
    return next((d for d in NAMED.values() if key == d.name or key in d.aliases), None)


def canonical(name) -> Optional[str]:
    """A named dataset's canonical name, else None."""
    found = named(name)
    return found.name if found else None


# ---------------------------------------------------------------- labels matched to a model's classes

def match_classes(found: Sequence[str], classes: Sequence[str], where: str, *, by_order: bool = False):
    """Each label name in ``found`` as an index into a model's ``classes``:
    the exact name, else the name ignoring case, else a folder named by class
    index (``3``). A name that matches none is refused, naming it and the
    model's classes. ``by_order``: labels are the sorted names' positions (only
    when asked: for a model without class names). Returns (lookup array, notes)."""
    classes = list(classes)
    if by_order:
        if len(found) > len(classes):
            raise CnnvizError(f"{where} has {len(found)} classes but the model has {len(classes)} outputs")
        return np.arange(len(found), dtype=np.int64), [f"labels of {where} are its {len(found)} class names' "
                                                       "sorted positions, as asked"]
    lowered: dict = {}
    for i, c in enumerate(classes):
        lowered.setdefault(c.lower(), []).append(i)
    lut, unmatched = [], []
    for name in found:
        if name in classes:
            lut.append(classes.index(name))
        elif len(lowered.get(name.lower(), ())) == 1:
            lut.append(lowered[name.lower()][0])
        elif name.isdigit() and int(name) < len(classes):
            lut.append(int(name))
        else:
            unmatched.append(name)
    if unmatched:
        shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
        raise CnnvizError(f"{where}: label(s) {', '.join(unmatched[:10])} match no class of the model ({shown}): "
                          "name each class folder after one of its classes or its index 0.."
                          f"{len(classes) - 1}, or declare the model's class names (--classes, `cnnviz card`)")
    notes = []
    missing = [c for i, c in enumerate(classes) if i not in set(lut)]
    if missing and len(missing) < len(classes):
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        notes.append(f"{len(missing)} of the model's {len(classes)} classes have no images in {where}: {shown}")
    return np.asarray(lut, np.int64), notes


def label_files(files: ImageFiles, classes: Sequence[str], *, by_order: bool = False) -> ImageFiles:
    """``files`` with labels that index the model's ``classes`` (see
    :func:`match_classes`); a loose folder, which has no labels, is refused."""
    if not files.labelled:
        raise CnnvizError(f"{files.root} holds loose images without labels: scoring needs one sub-folder per class "
                          "(DIR/<class>/*.jpg) or a labels file (CSV rows file,label)")
    lut, notes = match_classes(files.classes, classes, Path(files.root).name or files.root, by_order=by_order)
    files.labels = lut[files.labels]
    files.classes = list(classes)
    files.notes.extend(notes)
    return files


def label_dataset(data: Dataset, classes: Sequence[str], *, by_order: bool = False) -> Dataset:
    """A folder :class:`Dataset` relabelled to index the model's ``classes``
    (named datasets are left as they are: their labels are their own classes)."""
    if named(data.name) is not None and list(data.classes) == list(named(data.name).classes):
        return data
    lut, notes = match_classes(data.classes, classes, data.name, by_order=by_order)
    data.y_train = lut[np.asarray(data.y_train, np.int64).reshape(-1)] if len(data.y_train) else data.y_train
    data.y_test = lut[np.asarray(data.y_test, np.int64).reshape(-1)]
    data.classes = list(classes)
    data.notes = [*data.notes, *notes]
    return data


# ---------------------------------------------------------------- loading into memory

def is_file_source(name) -> bool:
    """Whether ``name`` names image files (a folder, a glob, a labels file, a
    list) rather than a named dataset."""
    return name is not None and named(name) is None if isinstance(name, (str, os.PathLike)) else name is not None


def image_folder_dataset(source, size: tuple[int, int], channels: int = 3, progress=None, cancel=None,
                         limit: Optional[int] = None, seed: int = 0) -> Dataset:
    """Images of a file source (see :data:`SOURCE_HELP`) resized to ``size``
    (H, W) with ``channels`` channels, as uint8, classes mixed; all go to the
    test split. Files that are no images or do not decode are skipped and
    named in ``Dataset.skipped``; only a source with nothing readable is an error."""
    files = list_images(source, limit, seed)
    x, y, skipped = [], [], [(p, "not an image file") for p in files.not_images]
    step = 256
    for start in range(0, len(files), step):
        check(cancel)
        report(progress, start, len(files), f"reading {Path(files.root).name}")
        ok, pixels, bad = decode_files(files.paths[start:start + step], (*size, channels))
        x.append(pixels)
        y.append(files.labels[start:start + step][ok])
        skipped.extend(bad)
    report(progress, len(files), len(files), f"reading {Path(files.root).name}")
    x, y = np.concatenate(x), np.concatenate(y)
    if not len(x):
        first = skipped[0] if skipped else ("", "no files")
        raise CnnvizError(f"none of the {len(files)} file(s) of {files.root} could be read as an image "
                          f"(e.g. {Path(first[0]).name}: {first[1]}): give JPEG, PNG, BMP, GIF or TIFF files")
    empty = np.empty((0, *size, channels), np.uint8)
    root = Path(files.root)
    data = Dataset(root.name if root.exists() else files.root, empty, np.empty(0, np.int64), x, y, files.classes,
                   files.root, _fingerprint(files))
    data.skipped, data.labelled, data.notes = skipped, files.labelled, list(files.notes)
    return data


def _fingerprint(files: ImageFiles) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(files.fingerprint()).encode()).hexdigest()


def load_dataset(name, input_shape: Optional[tuple] = None, progress=None, cancel=None,
                 test_only: bool = False) -> Dataset:
    """A named dataset, or a file source read into memory at ``input_shape``
    (H, W, C) (see :data:`SOURCE_HELP`; a side left free: 224). ``test_only``:
    a named dataset may leave its training split empty (CIFAR-10 then decodes
    only its 10,000 test images when nothing is cached)."""
    known = named(name)
    if known is not None:
        return known.load(progress, cancel, test_only=test_only)
    if isinstance(name, (str, os.PathLike)) and not Path(name).exists() and not glob.has_magic(str(name)):
        raise CnnvizError(f"unknown dataset {name!r}: use {SOURCE_HELP}")
    if input_shape is None:
        raise CnnvizError("an image-folder dataset needs the model's input shape to resize to")
    size = tuple(side or ANY_SIDE for side in input_shape[:2])
    return image_folder_dataset(name, size, input_shape[2], progress, cancel)
