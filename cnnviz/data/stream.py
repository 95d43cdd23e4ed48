"""Image folders read as a stream: a ``tf.data`` pipeline that lists the
files, decodes and resizes them in parallel, batches and prefetches while the
model runs, so memory stays flat whatever the dataset's size.

Files are decoded exactly as single images are (:func:`cnnviz.data.images.read_image`,
then :func:`~cnnviz.data.images.conform` to the model's size and channels: gray,
RGBA, 16-bit, any size), inside ``tf.numpy_function`` on ``tf.data``'s parallel
map (Pillow releases the GIL while it decodes). A file that does not decode
is skipped and named in the :class:`StreamReport`, never fatal unless nothing
is readable.

The stream is cut into fixed shards of ``batch_size`` consecutive files of the
listing. Every engine (this one, and Ray in :mod:`cnnviz.jobs.ray_engine`)
runs the model on exactly these batches, so their results are equal to the
bit: a convolution's float sums depend on how a batch is blocked.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from ..common.errors import CnnvizError, short
from ..common.progress import CancelToken, ProgressFn, check, report
from .datasets import IMAGE_SUFFIXES, balanced_order, balanced_subset
from .images import conform, read_image

Source = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]
ANY_SIZE = 224          # the side used for a model that takes any size (as load_dataset does)


@dataclass
class ImageFiles:
    """The files of a dataset in stream order, with class labels and the
    files that are no images at all (skipped without being opened)."""

    root: str                       # the folder, glob or "files" the listing came from
    paths: list[str]
    labels: np.ndarray              # (N,) class index per file
    classes: list[str]
    not_images: list[str] = field(default_factory=list)
    labelled: bool = True           # False: loose images, whose one "class" is only the folder's name
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def fingerprint(self) -> list:
        """(path, size, modification time) of every file: what a cache of results over them is keyed by."""
        out = []
        for p in self.paths:
            try:
                st = os.stat(p)
                out.append([p, st.st_size, st.st_mtime_ns])
            except OSError:
                out.append([p, -1, -1])
        return out


@dataclass
class Shard:
    """One batch of the stream: the decoded images of files ``start..start+n``
    of the listing (those that decoded), and the ones that did not."""

    start: int
    index: np.ndarray               # (B,) positions in the listing of the decoded images
    paths: list[str]                # (B,) their files
    pixels: np.ndarray              # (B, H, W, C) uint8 at the model's size
    skipped: list[tuple[str, str]]  # (path, reason) of the files of the shard that did not decode


@dataclass
class StreamReport:
    """What a pass over a dataset read and what it skipped."""

    files: int = 0
    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, shard: Shard) -> None:
        self.read += len(shard.index)
        self.skipped.extend(shard.skipped)

    def to_json(self) -> dict:
        return {"files": self.files, "read": self.read,
                "skipped": [{"file": f, "reason": r} for f, r in self.skipped]}

    def line(self) -> str:
        if not self.skipped:
            return f"read {self.read} images"
        named = ", ".join(Path(f).name for f, _ in self.skipped[:3]) + (" ..." if len(self.skipped) > 3 else "")
        return f"read {self.read} images, skipped {len(self.skipped)} unreadable file(s): {named}"


def skipped_line(skipped: Sequence[tuple[str, str]], where: str) -> str:
    """How many files of ``where`` were skipped as unreadable or no images, and which."""
    named = ", ".join(Path(f).name for f, _ in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
    return f"skipped {len(skipped)} unreadable or non-image file(s) of {where}: {named}"


# ---------------------------------------------------------------- listing

def list_images(source: Source, limit: Optional[int] = None, seed: int = 0) -> ImageFiles:
    """The image files of a folder (``root/<class>/*`` with classes the sorted
    sub-folder names, or loose images as one class), a glob pattern, or a list
    of files, in the fixed class-mixed order folder datasets load in
    (:func:`~cnnviz.data.datasets.balanced_order`); with ``limit`` a seeded
    class-balanced sample of that many (never the first N of a sorted listing)."""
    labelled = True
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files, labelled = _folder(Path(source))
        root = str(source)
    elif isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".csv":
        files, root = _labels_file(Path(source)), str(source)
    else:
        names = [str(source)] if isinstance(source, (str, os.PathLike)) else [str(s) for s in source]
        files = _patterns(names)
        root = names[0] if len(names) == 1 else "files"
    images = [(p, c) for p, c in files if Path(p).suffix.lower() in IMAGE_SUFFIXES]
    not_images = [p for p, _ in files if Path(p).suffix.lower() not in IMAGE_SUFFIXES]
    if not images:
        found = (f" (only {len(not_images)} file(s) that are no images, e.g. {Path(not_images[0]).name})"
                 if not_images else "")
        raise CnnvizError(f"{root} has no image files{found}: give a folder of JPEG/PNG/BMP/GIF/TIFF images "
                          f"(one sub-folder per class, or loose), a glob such as 'photos/*.jpg', or image files")
    classes = sorted({c for _, c in images})
    lookup = {c: i for i, c in enumerate(classes)}
    order = balanced_order([lookup[c] for _, c in images])      # as folder datasets load: classes mixed
    paths = [images[i][0] for i in order]
    labels = np.array([lookup[images[i][1]] for i in order], np.int64)
    if limit is not None:
        pick = balanced_subset(labels, int(limit), seed)
        paths, labels = [paths[i] for i in pick], labels[pick]
    return ImageFiles(root, paths, labels, classes, not_images, labelled)


def _folder(root: Path) -> tuple[list[tuple[str, str]], bool]:
    """(path, class) of the files in ``root``'s class sub-folders, else its
    loose files as one class (then False: they have no labels)."""
    def visible(p):
        return not p.name.startswith(".")
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and visible(p))
    files = [(str(f), d.name) for d in subfolders for f in sorted(d.iterdir()) if f.is_file() and visible(f)]
    if not any(Path(p).suffix.lower() in IMAGE_SUFFIXES for p, _ in files):
        return [(str(f), root.name) for f in sorted(root.iterdir()) if f.is_file() and visible(f)], False
    return files, True


def _labels_file(path: Path) -> list[tuple[str, str]]:
    """(path, label) of the rows ``file,label`` of a CSV labels file (file
    names relative to its folder; a header row ``file,label`` is allowed)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CnnvizError(f"cannot read labels file {path} ({short(exc)}): give a CSV with rows file,label") from exc
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["file", "label"]:
        rows = rows[1:]
    bad = next((i for i, r in enumerate(rows) if len(r) < 2 or not r[0].strip() or not r[1].strip()), None)
    if bad is not None:
        raise CnnvizError(f"{path} row {bad + 1} is {','.join(rows[bad])!r}: every row must be file,label")
    if not rows:
        raise CnnvizError(f"{path} has no rows: give one row file,label per image")
    files = [((path.parent / r[0].strip()), r[1].strip()) for r in rows]
    missing = [str(p) for p, _ in files if not p.is_file()]
    if missing:
        raise CnnvizError(f"{path} names {len(missing)} file(s) that do not exist, e.g. {missing[0]}: file names "
                          "are relative to the labels file's folder")
    return [(str(p), label) for p, label in files]


def _patterns(names: list[str]) -> list[tuple[str, str]]:
    """(path, class = parent folder name) of files named or matched by glob patterns."""
    paths = []
    for name in names:
        if glob.has_magic(name):
            matched = sorted(p for p in glob.glob(name, recursive=True) if Path(p).is_file())
            if not matched:
                raise CnnvizError(f"no file matches {name}: check the pattern (quote it so the shell leaves it to "
                                  "cnnviz)")
            paths.extend(matched)
        elif Path(name).is_file():
            paths.append(name)
        else:
            raise CnnvizError(f"{name} does not exist: give an image folder, a glob such as 'photos/*.jpg', or files")
    return [(p, Path(p).parent.name) for p in paths]


# ---------------------------------------------------------------- decoding

def decode(path: str, size) -> np.ndarray:
    """One file as uint8 (H, W, C) at ``size``, converted exactly as a single
    image is (:func:`~cnnviz.data.images.read_image` then ``conform``); with
    ``size`` None, as it is (H, W) or (H, W, 3)."""
    image = read_image(path)
    return image if size is None else conform(image, size[:2], size[2])


def try_decode(path: str, size) -> tuple[Optional[np.ndarray], str]:
    """(pixels, "") for a readable file, else (None, why not): never raises for a bad file."""
    try:
        return decode(path, size), ""
    except CnnvizError as exc:
        return None, str(exc)
    except Exception as exc:    # a decoder failing in its own way: the same skip, with its reason
        return None, short(exc)


def decode_files(paths: Sequence[str], size) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode ``paths``: (positions that decoded, their pixels, (path, reason) of the others)."""
    ok, pixels, skipped = [], [], []
    for i, p in enumerate(paths):
        image, reason = try_decode(p, size)
        if image is None:
            skipped.append((p, reason))
        else:
            pixels.append(image)
            ok.append(i)
    stacked = np.stack(pixels) if pixels else np.empty((0, *size), np.uint8)
    return np.asarray(ok, np.int64), stacked, skipped


def _decoded_dataset(paths: list[str], positions: np.ndarray, size, batch_size: int):
    """The tf.data pipeline: listing positions -> parallel decode -> batches of
    ``batch_size`` -> prefetch. Each element is (position, pixels, readable,
    reason); an unreadable file yields zeros and its reason."""
    import tensorflow as tf

    def load(i):
        image, reason = try_decode(paths[int(i)], size)
        readable = image is not None
        return np.int64(i), image if readable else np.zeros(size, np.uint8), readable, reason.encode()

    def tf_load(i):
        index, pixels, readable, reason = tf.numpy_function(load, [i], [tf.int64, tf.uint8, tf.bool, tf.string],
                                                            stateful=False)
        pixels.set_shape(size)
        return index, pixels, readable, reason

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(positions, np.int64))
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def shard_starts(n: int, batch_size: int) -> range:
    """Where each shard of a listing of ``n`` files starts."""
    return range(0, n, batch_size)


def shards(files: ImageFiles, size, batch_size: int = 256, progress: Optional[ProgressFn] = None,
           cancel: Optional[CancelToken] = None, skip=None, message: str = "reading images") -> Iterator[Shard]:
    """The stream as :class:`Shard` s, decoded by ``tf.data`` while the caller
    works on the previous one. ``skip(start)`` true leaves a shard out
    undecoded (a resumed job's finished work)."""
    total = len(files)
    starts = [s for s in shard_starts(total, batch_size) if skip is None or not skip(s)]
    positions = [np.arange(s, min(s + batch_size, total)) for s in starts]
    if not starts:
        return
    dataset = _decoded_dataset(files.paths, np.concatenate(positions), size, batch_size)
    for done, (start, (index, pixels, readable, reason)) in enumerate(zip(starts, dataset.as_numpy_iterator())):
        check(cancel)
        report(progress, done * batch_size, len(starts) * batch_size, message)
        yield _shard(files, start, index, pixels, readable, reason)
    report(progress, 1, 1, message)


def _shard(files, start, index, pixels, readable, reason) -> Shard:
    skipped = [(files.paths[int(i)], r.decode()) for i, r in zip(index[~readable], reason[~readable])]
    return Shard(start, index[readable], [files.paths[int(i)] for i in index[readable]], pixels[readable], skipped)


def check_readable(report_: StreamReport, root: str) -> None:
    """Refuse a pass in which no file decoded (every one skipped)."""
    if report_.read == 0:
        first = report_.skipped[0] if report_.skipped else ("", "no files")
        raise CnnvizError(f"none of the {report_.files} file(s) of {root} could be read as an image "
                          f"(e.g. {Path(first[0]).name}: {first[1]}): give JPEG, PNG, BMP, GIF or TIFF files")



def read_sample(source: Source, size: tuple[int, int, int], n: Optional[int] = None, seed: int = 0,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """A seeded class-balanced sample of ``n`` images (all with None) decoded
    through the stream at ``size`` (H, W, C), for work that needs its images in
    memory (faithfulness curves, attacks): only those are decoded, never the
    whole folder. ``source`` may be a listing already made (:class:`ImageFiles`,
    e.g. labelled for a model). Returns (uint8 pixels, labels, the listing, the report)."""
    files = source if isinstance(source, ImageFiles) else list_images(source, n, seed)
    report_ = StreamReport(files=len(files))
    pixels, labels = [], []
    for shard in shards(files, size, 256, progress, cancel):
        report_.add(shard)
        pixels.append(shard.pixels)
        labels.append(files.labels[shard.index])
    check_readable(report_, files.root)
    return np.concatenate(pixels), np.concatenate(labels), files, report_
