"""Datasets: MNIST and CIFAR-10 as ``keras.datasets`` returns them, from a local
folder (``CNNVIZ_DATA``) when one is configured, otherwise downloaded by Keras;
and image folders (``root/<class>/*.jpg``) for users' own data.

Decoded CIFAR-10 images are cached as an ``.npz`` keyed by the source's hash.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import atomic_path
from ..common.progress import CancelToken, ProgressFn, check, report
from .classes import CIFAR10_CLASSES, MNIST_CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff")
CACHE_LAYOUT = "mixed"    # in the cache's name: caches of the class-sorted order are not reused
ORDER_SEED = 0
_NO_DATA_HINT = "set CNNVIZ_DATA to a folder holding {what} (see README: offline data)"


@dataclass
class Dataset:
    """Train and test arrays (uint8 images, integer labels) with their provenance."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str
    sha256: str = field(repr=False)
    skipped: list = field(default_factory=list, repr=False)   # (file, why) of a folder's unreadable files
    labelled: bool = True           # False: a loose folder, whose one "class" is only its name
    notes: list = field(default_factory=list, repr=False)      # what a reader should know (classes without images)


    @property
    def input_shape(self) -> tuple[int, int, int]:
        shape = self.x_train.shape[1:] if len(self.x_train) else self.x_test.shape[1:]
        return tuple(shape) if len(shape) == 3 else (*shape, 1)


def balanced_order(labels, seed: int = ORDER_SEED) -> np.ndarray:
    """A fixed, seeded permutation of ``range(len(labels))`` in which every
    prefix is as class-balanced as it can be: the classes take turns (in a new
    random order each round), each class's items in a random order. Folder
    datasets are loaded in this order, so any "first N" samples all classes."""
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels), np.int64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rank[rng.permutation(members)] = np.arange(len(members))   # its turn within the class
    return np.lexsort((rng.random(len(labels)), rank))


def balanced_subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` items with the classes as equally represented
    as the data allow (a seeded choice within each class)."""
    if n < 1:
        raise CnnvizError(f"--limit {n}: give at least 1 image")
    y = np.asarray(y).reshape(-1)
    order = np.random.default_rng(seed).permutation(len(y))
    rank = np.empty(len(y), np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y[order] == c)
        rank[members] = np.arange(len(members))
    return np.sort(order[np.argsort(rank, kind="stable")[:n]])



def class_sample(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` seeded images of each class (fewer where a
    class has fewer), class-major: a sample grid's rows are its classes."""
    if per_class < 1:
        raise CnnvizError(f"per_class {per_class}: give at least 1 image per class")
    y = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    picks = [np.sort(rng.permutation(np.flatnonzero(y == c))[:per_class]) for c in np.unique(y)]
    return np.concatenate(picks)


def mixed_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` seeded images, the classes as equally represented as
    the data allow, in a seeded mixed order (a grid of every class at once)."""
    picks = balanced_subset(y, n, seed)
    return picks[np.random.default_rng(seed).permutation(len(picks))]


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def arrays_sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- MNIST

def load_mnist():
    """MNIST as ``keras.datasets.mnist.load_data()``: ``(x_train, y_train), (x_test, y_test)``."""
    d = mnist_dataset()
    return (d.x_train, d.y_train), (d.x_test, d.y_test)


def mnist_dataset() -> Dataset:
    local = runtime.data_dir()
    if local is not None:
        path = local / "mnist.npz"
        if not path.is_file():
            raise CnnvizError(f"no mnist.npz in CNNVIZ_DATA={local}: put mnist.npz there or unset CNNVIZ_DATA to "
                              "download")
        arrays = _read_mnist_npz(path)
        return Dataset("mnist", *arrays, classes=list(MNIST_CLASSES), source=str(path), sha256=file_sha256(path))
    import keras

    try:
        (xa, ya), (xb, yb) = keras.datasets.mnist.load_data()
    except Exception as exc:
        hint = _NO_DATA_HINT.format(what="mnist.npz")
        raise CnnvizError(f"could not download MNIST ({short(exc)}): {hint}") from exc
    return Dataset("mnist", xa, ya, xb, yb, list(MNIST_CLASSES), "keras.datasets.mnist", arrays_sha256(xa, ya, xb, yb))


def _read_mnist_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CnnvizError(f"{path} is not a valid mnist.npz ({short(exc)}): replace it with the file "
                          "keras.datasets.mnist uses") from exc
    x_train, y_train, x_test, y_test = arrays
    if any(x.ndim != 3 or x.shape[1:] != (28, 28) for x in (x_train, x_test)) \
            or len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise CnnvizError(f"{path} does not hold 28x28 MNIST arrays: "
                          "replace it with the file keras.datasets.mnist uses")
    return arrays


# ---------------------------------------------------------------- CIFAR-10

def load_cifar10(progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """CIFAR-10 as ``keras.datasets.cifar10.load_data()`` (labels shaped ``(N, 1)``)."""
    d = cifar10_dataset(progress, cancel)
    return (d.x_train, d.y_train), (d.x_test, d.y_test)


def cifar10_dataset(progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    test_only: bool = False) -> Dataset:
    """CIFAR-10 from ``CNNVIZ_DATA`` (decoded once, then cached). ``test_only``
    decodes only the 10,000 test images when nothing is cached yet (a dataset
    search or browser needs no more); the training split is then empty."""
    local = runtime.data_dir()
    if local is None:
        return _download_cifar10()
    source = _find_cifar_source(local)
    digest = file_sha256(source) if source.is_file() else _folder_fingerprint(source)
    cache = runtime.cache_dir() / "datasets" / f"cifar10-{CACHE_LAYOUT}-{digest[:16]}.npz"
    test_cache = cache.with_name(f"cifar10-test-{CACHE_LAYOUT}-{digest[:16]}.npz")
    arrays = _read_cache(cache) or (_read_cache(test_cache) if test_only else None)
    if arrays is None:
        subsets = ("test",) if test_only else ("train", "test")
        if source.is_file():
            arrays = _decode_cifar_zip(source, progress, cancel, subsets)
        elif (source / "data_batch_1").exists():
            arrays = _read_cifar_batches(source)
        else:
            arrays = _decode_cifar_folder(source, progress, cancel, subsets)
        _write_cache(test_cache if test_only else cache, arrays)
    return Dataset("cifar10", *arrays, classes=list(CIFAR10_CLASSES), source=str(source), sha256=digest)


def _download_cifar10() -> Dataset:
    import keras

    try:
        (xa, ya), (xb, yb) = keras.datasets.cifar10.load_data()
    except Exception as exc:
        hint = _NO_DATA_HINT.format(what="cifar10-jpg.zip")
        raise CnnvizError(f"could not download CIFAR-10 ({short(exc)}): {hint}") from exc
    return Dataset("cifar10", xa, ya, xb, yb, list(CIFAR10_CLASSES), "keras.datasets.cifar10",
                   arrays_sha256(xa, ya, xb, yb))


def _find_cifar_source(local: Path) -> Path:
    for name in ("cifar10-jpg.zip", "cifar10.zip", "cifar10-jpg", "cifar10", "cifar-10-batches-py"):
        candidate = local / name
        if candidate.exists():
            return candidate
    raise CnnvizError(
        f"no CIFAR-10 in CNNVIZ_DATA={local}: put cifar10-jpg.zip, a cifar10/ image folder or "
        "cifar-10-batches-py/ there, or unset CNNVIZ_DATA to download")


_NO_IMAGES = (np.zeros((0, 32, 32, 3), np.uint8), np.zeros((0, 1), np.uint8))     # a split not decoded


def _decode_cifar_zip(path: Path, progress, cancel, subsets=("train", "test")):
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CnnvizError(f"{path} is not a readable zip ({short(exc)}): replace it with cifar10-jpg.zip") from exc
    with archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".jpg")]
        split = {"train": _NO_IMAGES, "test": _NO_IMAGES}
        for subset in subsets:
            entries = _cifar_entries(names, subset, path)
            split[subset] = _decode_entries(entries, lambda n: archive.read(n), progress, cancel, subset)
    return (*split["train"], *split["test"])


def _decode_cifar_folder(root: Path, progress, cancel, subsets=("train", "test")):
    names = [str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*.jpg")]
    split = {"train": _NO_IMAGES, "test": _NO_IMAGES}
    for subset in subsets:
        entries = _cifar_entries(names, subset, root)
        split[subset] = _decode_entries(entries, lambda n: (root / n).read_bytes(), progress, cancel, subset)
    return (*split["train"], *split["test"])


def _cifar_entries(names: Sequence[str], subset: str, source: Path) -> list[tuple[str, int]]:
    """(member name, label) for ``subset/<class>/*.jpg`` in :func:`balanced_order`
    (a folder lists one class after another: a "first N" would be airplanes)."""
    index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    entries = []
    for name in names:
        parts = name.split("/")
        if len(parts) >= 3 and parts[-3] == subset and parts[-2] in index:
            entries.append((name, index[parts[-2]]))
    if not entries:
        raise CnnvizError(f"{source} has no {subset}/<class>/*.jpg images: "
                          "use the layout train/<class>/, test/<class>/")
    entries.sort(key=lambda e: (e[1], e[0]))
    return [entries[i] for i in balanced_order([label for _, label in entries])]


def _decode_entries(entries, read, progress, cancel, label):
    import skimage.io

    x = np.empty((len(entries), 32, 32, 3), np.uint8)
    y = np.empty((len(entries), 1), np.uint8)
    step = max(1, len(entries) // 50)
    for i, (name, cls) in enumerate(entries):
        if i % step == 0:
            check(cancel)
            report(progress, i, len(entries), f"decoding CIFAR-10 {label}")
        try:
            image = skimage.io.imread(io.BytesIO(read(name)))
        except Exception as exc:
            raise CnnvizError(f"cannot decode {name} ({short(exc)}): "
                              "the CIFAR-10 source is damaged, replace it") from exc
        if image.shape != (32, 32, 3):
            raise CnnvizError(f"{name} is {image.shape}, not a 32x32 RGB image: the CIFAR-10 source is damaged, "
                              "replace it")
        x[i], y[i] = image, cls
    report(progress, len(entries), len(entries), f"decoding CIFAR-10 {label}")
    return x, y


class _DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data: containers, bytes, str,
    numbers, and the NumPy array a CIFAR-10 batch keeps its pixels in.
    Refusing every other global is what keeps a crafted file from running code
    (the ``pickle`` documentation, "Restricting Globals")."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}   # bytes in protocol 2

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never does")


def _read_cifar_batches(folder: Path):
    """The original CIFAR-10 python release (pickled batches), read as plain
    data only (never running code from the file)."""
    def batch(name):
        path = folder / name
        try:
            with open(path, "rb") as f:
                d = _DataOnlyUnpickler(f, encoding="bytes").load()
            if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
                raise ValueError("no data and labels in it")
            if np.asarray(d[b"data"]).dtype.kind not in "iu":
                raise ValueError("its data are not pixel values")
            x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            y = np.asarray(d[b"labels"], np.uint8).reshape(-1, 1)
        except Exception as exc:
            raise CnnvizError(f"cannot read {path} ({short(exc)}): replace the CIFAR-10 python batches") from exc
        return x, y

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    return np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]), x_test, y_test


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _read_cache(path: Path):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return tuple(f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None


def _write_cache(path: Path, arrays) -> None:
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    except OSError:  # a read-only cache folder only costs speed
        pass
