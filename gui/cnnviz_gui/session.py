"""The app's state (model, image, layer, channel) and how views compute from it.

Views ask :meth:`Session.compute` for a result under a key that names
everything it depends on (model, image, layer, method, parameters). A result
already in the in-memory :class:`ResultCache` arrives at once; otherwise the
work runs off the GUI thread (:class:`~cnnviz_gui.workers.Runner`), is cached
when it finishes (even if nobody waits for it any more), and is handed to the
view only if the view still wants that key: a newer request from the same view
supersedes the old one, so a view never shows an answer to a question it no
longer asks. Dataset-wide work (top patches) is also cached on disk by cnnviz.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QObject, Signal

import cnnviz
from cnnviz.common.progress import check
from cnnviz.common.runtime import release_model
from cnnviz.common.runtime import start_tensorflow as start_tensorflow_quietly
from cnnviz.data.datasets import cifar10_dataset
from cnnviz.data.images import normalize_image, read_image
from cnnviz.data.sources import BY_SHAPE, NAMED, load_dataset
from cnnviz.inside.activations import activations, spatial_layers
from cnnviz.inside.summary import summarize
from cnnviz.lab.uncertainty import mc_dropout
from cnnviz.models import zoo
from cnnviz.models.inputs import prepare
from cnnviz.models.predict import Prediction, check_classifier, predict

from .workers import Runner

KNOWN_DATASETS = tuple(NAMED)
DATASET_BY_SHAPE = BY_SHAPE         # input shape -> the test set that fits it
WORKING_SIDE = 1024     # a larger photo is kept at this longer side: every model's input is far smaller
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def _nbytes(value: Any, depth: int = 0) -> int:
    """Rough memory size of a result (its NumPy arrays)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if depth > 3:
        return 64
    if isinstance(value, (tuple, list)):
        return 64 + sum(_nbytes(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return 64 + sum(_nbytes(v, depth + 1) for v in value.values())
    fields = getattr(value, "__dataclass_fields__", None)
    if fields:
        return 64 + sum(_nbytes(getattr(value, f, None), depth + 1) for f in fields)
    return 64


class ResultCache:
    """A thread-safe least-recently-used cache bounded by the memory its
    arrays take."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key][0]

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key, value) -> None:
        size = _nbytes(value)
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


@dataclass
class LayerRow:
    """One line of the layer browser."""

    name: str
    type: str
    shape: str              # e.g. "11x11x64"
    params: int
    rf: str                 # receptive field, e.g. "8 (jump 2)", or "all"
    spatial: bool           # has (h, w, c) maps
    channels: int


def _rows(summary, spatial: set) -> list[LayerRow]:
    rows = []
    for e in summary.layers:
        shape = tuple(e.output_shape or ())
        rf = f"{e.rf_size[0]:g} (jump {e.rf_jump[0]:g})" if e.rf_size else "all"
        channels = int(shape[-1]) if shape and shape[-1] is not None else 0
        rows.append(LayerRow(e.name, e.type, "x".join("?" if s is None else str(s) for s in shape), e.params, rf,
                             e.name in spatial, channels))
    return rows


def start_tensorflow() -> str:
    """Import TensorFlow and Keras and set up the devices, once, before any
    job uses them (see :mod:`cnnviz_gui.workers`); returns the device's name."""
    device = start_tensorflow_quietly()          # its C++ start-up lines (a failed cuInit ...) mean nothing here
    import keras  # noqa: F401  (Keras' own import is as circular as TensorFlow's)

    return device


def _not_classifier(model, spec: str) -> Optional[str]:
    """Why ``model`` (loaded from ``spec``) gives no class scores, naming its
    file rather than the Keras model's own name, or None for a classifier."""
    try:
        check_classifier(model)
    except cnnviz.CnnvizError as exc:
        name = cnnviz.model_info(model).name
        return str(exc).replace(name, Path(spec).name, 1)
    return None


def model_key(spec: str, weights) -> str:
    """What identifies a model's weights for caching: its name or file (with
    the file's modification time) and the weights it was loaded with."""
    path = Path(spec)
    stamp = f"@{path.stat().st_mtime_ns}" if path.is_file() else ""
    return f"{spec}{stamp}|{weights}"


class Session(QObject):
    model_changed = Signal()
    image_changed = Signal()
    layer_changed = Signal()
    channel_changed = Signal()
    model_failed = Signal(str, str, str)      # spec, weights, message
    weights_needed = Signal(str)              # a VGG16 name whose ImageNet weights are not cached
    code_needed = Signal(str, str)            # a model file with Lambda layers (their names): run its code?
    error = Signal(str)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.runner = Runner(self, startup=start_tensorflow)
        self.cache = ResultCache()
        self.model = None
        self.info: Optional[cnnviz.ModelInfo] = None
        self.summary = None
        self.rows: list[LayerRow] = []
        self.model_key: Optional[str] = None
        self.model_spec: Optional[str] = None
        self.not_classifier: Optional[str] = None     # why the model gives no class scores (named by its file)
        self.image = None                     # cnnviz.data.images.LoadedImage, prepared for self.model
        self.raw: Optional[tuple[np.ndarray, str, Optional[str]]] = None   # (pixels as read, source, path)
        self.image_key: Optional[str] = None
        self.layer: Optional[str] = None
        self.channel = 0
        self.folder: Optional[str] = None     # the image folder top patches search (chosen on the unit page
        self.patches_from_folder = False      # or in the dataset browser), instead of the model's test set
        self.live = False                     # frames are playing (cnnviz_gui.live): views keep per-frame work small
        self._datasets: dict = {}
        self._datasets_lock = threading.Lock()
        self._models: OrderedDict = OrderedDict()
        self._wanted: dict[str, Any] = {}
        self._callbacks: dict[str, tuple[Callable, Callable]] = {}
        self._running: dict[str, Any] = {}

    # ------------------------------------------------------------ computing
    def key(self, method: str, *params, image: bool = True, layer: Optional[str] = None) -> tuple:
        """A cache key: model, image (unless ``image=False``), layer, method, parameters."""
        return (self.model_key, self.image_key if image else None, layer, method, params)

    def compute(self, view: str, key: tuple, fn: Callable, on_done: Callable,
                on_error: Optional[Callable] = None, background: bool = False) -> bool:
        """Get ``fn(progress, cancel)``'s result for ``view`` under ``key``:
        from the cache at once (returns True), or computed off the GUI thread.
        ``background`` work (a dataset search during Live) runs quietly: it
        never holds up the next live frame."""
        self._wanted[view] = key
        self._callbacks[view] = (on_done, on_error or self.error.emit)
        hit = self.cache.get(key, _MISSING)
        if hit is not _MISSING:
            self.runner.cancel(view)
            on_done(hit)
            return True
        if self.runner.running(view) and self._running.get(view) == key:
            return False                      # the same question is already being answered

        def job(progress, cancel):
            result = fn(progress, cancel)
            self.cache.put(key, result)
            return result

        def done(result):
            if self._wanted.get(view) == key:
                self._callbacks[view][0](result)

        def failed(message):
            if self._wanted.get(view) == key:
                self._callbacks[view][1](message)

        self._running[view] = key
        self.runner.submit(view, job, done, failed, quiet=background)
        return False

    def forget(self, view: str) -> None:
        """The view no longer wants its pending result."""
        self._wanted.pop(view, None)
        self.runner.cancel(view)

    def wanted(self, view: str):
        return self._wanted.get(view)

    # ------------------------------------------------------------ model
    def load_model(self, spec: str, weights: str = "imagenet", check_weights: bool = True,
                   unsafe: bool = False, preprocess: Optional[str] = None, classes=None) -> None:
        """Load a zoo model or a model file off the GUI thread. A VGG16 name
        whose ImageNet weights are not cached emits ``weights_needed``, a file
        with Lambda layers ``code_needed`` (unless ``unsafe``), instead.
        ``preprocess`` and ``classes`` declare its contract for this session
        (``cnnviz-gui --preprocess --classes``)."""
        spec = str(spec)
        key = model_key(spec, weights) + (f"|{preprocess}|{classes}" if preprocess or classes else "")

        def work(progress, cancel):
            if key in self._models:
                return self._models[key]
            if (check_weights and spec in zoo.VGG16_NAMES and weights == "imagenet"
                    and not zoo.vgg16_weights_available(zoo.VGG16_NAMES[spec])):
                return "weights"
            path = Path(spec)
            if not unsafe and path.is_file() and path.suffix.lower() in (".keras", ".h5", ".hdf5"):
                lambdas = zoo.lambda_layers(path)
                if lambdas:
                    return "code", ", ".join(lambdas)
            progress(0, 0, f"loading {path.name}")
            model = cnnviz.load_model(spec, weights=weights, unsafe=unsafe, preprocess=preprocess, classes=classes)
            progress(0, 0, "reading its layers")
            return model, summarize(model), spatial_layers(model)

        def done(result):
            if result == "weights":
                self.weights_needed.emit(spec)
                return
            if result[0] == "code":
                self.code_needed.emit(spec, result[1])
                return
            self._models[key] = result
            self._models.move_to_end(key)
            while len(self._models) > 3:
                release_model(self._models.popitem(last=False)[1][0])   # its compiled functions and clones too
            self._set_model(spec, key, *result)

        self.runner.submit("model", work, done, lambda message: self.model_failed.emit(spec, weights, message))

    def _set_model(self, spec, key, model, summary, spatial):
        self.model, self.summary, self.model_spec, self.model_key = model, summary, spec, key
        self.info = cnnviz.model_info(model)
        self.not_classifier = _not_classifier(model, spec)
        self.rows = _rows(summary, set(spatial))
        first = next((r.name for r in self.rows if r.spatial), self.rows[0].name if self.rows else None)
        self.layer, self.channel = first, 0
        self.image, self.image_key = None, None
        self.model_changed.emit()
        if self.raw is not None:                       # the same picture, prepared for the new model
            pixels, source, path = self.raw
            self.load_image(path, pixels=pixels, source=source)

    def declare(self, preprocess: Optional[str] = None, classes=None, save: bool = False) -> None:
        """Declare the current model's preprocessing and class names (the
        model-settings dialog), in its card too with ``save``; every view then
        computes afresh from the model's new contract. A bad value raises a
        :class:`CnnvizError` and changes nothing."""
        if self.model is None:
            raise cnnviz.CnnvizError("no model is loaded: open one first")
        cnnviz.declare_model(self.model, preprocess=preprocess, classes=classes, save=save)
        loaded = self._models.pop(self.model_key, None) or (self.model, self.summary, spatial_layers(self.model))
        key = f"{self.model_key.split('#')[0]}#{self.info.preprocessing}|{','.join(self.info.classes)}"
        self._models[key] = loaded                      # results cached under the old contract are not reused
        self._set_model(self.model_spec, key, *loaded)

    def row(self, name: Optional[str] = None) -> Optional[LayerRow]:
        name = name or self.layer
        return next((r for r in self.rows if r.name == name), None)

    def row_index(self, name: Optional[str] = None) -> int:
        name = name or self.layer
        return next((i for i, r in enumerate(self.rows) if r.name == name), -1)

    # ------------------------------------------------------------ image
    def load_image(self, path: Optional[str] = None, pixels: Optional[np.ndarray] = None,
                   source: Optional[str] = None) -> None:
        """Read ``path`` (or take ``pixels``) off the GUI thread and prepare it
        for the model (kept and prepared later when no model is loaded yet)."""
        model, source = self.model, source or str(path)

        def work(progress, cancel):
            raw = pixels if pixels is not None else read_scaled(path, progress, cancel)
            if model is None:
                return raw, None, None
            check(cancel)
            progress(0, 0, f"preparing {Path(source).name} for the model")
            image = prepare(raw, model, source)
            return raw, image, hashlib.sha1(np.ascontiguousarray(image.x).tobytes()).hexdigest()[:16]

        def done(result):
            raw, image, key = result
            self.raw = (raw, source, path)
            if self.model is None:
                return
            if image is None or model is not self.model:       # the model changed meanwhile: prepare again
                self.load_image(path, pixels=raw, source=source)
                return
            self.image, self.image_key = image, key
            self.image_changed.emit()

        self.runner.submit("image", work, done, self.error.emit)

    # ------------------------------------------------------------ layer, channel
    def set_layer(self, name: str) -> None:
        if name != self.layer and self.row(name) is not None:
            self.layer, self.channel = name, 0
            self.layer_changed.emit()

    def set_channel(self, channel: int) -> None:
        row = self.row()
        if row is None or not row.spatial:
            return
        channel = int(channel) % max(row.channels, 1)
        if channel != self.channel:
            self.channel = channel
            self.channel_changed.emit()

    def layer_maps(self, view: str, on_done: Callable, on_error: Optional[Callable] = None) -> bool:
        """The current image's activation maps (h, w, C) at the current layer."""
        model, image, layer = self.model, self.image, self.layer
        return self.compute(view, self.key("activations", layer=layer),
                            lambda progress, cancel: activations(model, image.x[None], [layer])[layer][0],
                            on_done, on_error)

    def predictions(self, view: str, on_done: Callable, on_error: Optional[Callable] = None) -> bool:
        """The current image's top-5 predictions (a list of cnnviz.models.predict.Prediction);
        a model that is no classifier gives its cnnviz error to ``on_error``."""
        model, image = self.model, self.image
        return self.compute(view, self.key("predict"), lambda progress, cancel: predict(model, image.x[None], 5)[0],
                            on_done, on_error)

    def mc_predictions(self, view: str, passes: int, on_done: Callable, on_error: Optional[Callable] = None) -> bool:
        """The current image's top-5 classes by their mean probability over
        ``passes`` MC dropout passes: ``(predictions, stds)``."""
        model, image = self.model, self.image

        def work(progress, cancel):
            result = mc_dropout(model, image.x[None], passes, seed=0, progress=progress, cancel=cancel)
            order = np.argsort(-result.mean[0])[:5]
            names = self.info.classes
            preds = [Prediction(int(i), names[i] if i < len(names) else f"class {i}", float(result.mean[0, i]))
                     for i in order]
            return preds, [float(result.std[0, i]) for i in order]

        return self.compute(view, self.key("mc_dropout", passes), work, on_done, on_error)

    def cached_predictions(self) -> Optional[list]:
        if self.model is None or self.image is None:
            return None
        return self.cache.get(self.key("predict"))

    def cached_maps(self) -> Optional[np.ndarray]:
        if self.model is None or self.image is None or self.layer is None:
            return None
        return self.cache.get(self.key("activations", layer=self.layer))

    # ------------------------------------------------------------ datasets
    def model_dataset(self) -> Optional[str]:
        """The test set that fits the model: its own (from its card), else the
        one its input shape matches (28x28x1: MNIST, 32x32x3: CIFAR-10), or None."""
        if self.model is None:
            return None
        if self.info.dataset in KNOWN_DATASETS:
            return self.info.dataset
        return DATASET_BY_SHAPE.get(tuple(self.model.inputs[0].shape[1:]))

    def patch_dataset_name(self) -> Optional[str]:
        """The dataset top patches come from: the image folder the user chose
        for them, else the test set that fits the model, else that folder."""
        if self.folder and self.patches_from_folder:
            return self.folder
        return self.model_dataset() or self.folder

    def dataset(self, name: str, progress=None, cancel=None, input_shape: Optional[tuple] = None):
        """A dataset's test images (what the views search and browse), loaded
        once per session (thread-safe); CIFAR-10's training split is not decoded."""
        key = (name, input_shape if name not in KNOWN_DATASETS else None)
        with self._datasets_lock:
            if key in self._datasets:
                return self._datasets[key]
        data = (cifar10_dataset(progress, cancel, test_only=True) if name == "cifar10"      # its test split alone
                else load_dataset(name, input_shape, progress, cancel))
        with self._datasets_lock:
            if len(self._datasets) >= 3:
                self._datasets.pop(next(iter(self._datasets)))
            self._datasets[key] = data
        return data

    def has_dataset(self, name: str) -> bool:
        return any(k[0] == name for k in self._datasets)


_MISSING = object()


def read_scaled(path: str, progress=None, cancel=None, side: int = WORKING_SIDE) -> np.ndarray:
    """An image file as uint8 pixels with the longer side at most ``side``:
    a JPEG decoded straight at a reduced scale (Pillow's ``draft``: the
    decoder skips the detail, so a 6000x4000 photo takes a fraction of a
    second), any other format read whole and reduced once. The app keeps this,
    so a model switch does not read the file again."""
    name = Path(str(path)).name
    if progress is not None:
        progress(0, 0, f"reading {name}")
    if Path(str(path)).suffix.lower() in JPEG_SUFFIXES and Path(str(path)).is_file():
        from PIL import Image

        try:
            with Image.open(path) as image:
                if progress is not None:
                    progress(0, 0, f"decoding {name} ({image.width}×{image.height}) at a reduced size")
                image.draft("RGB", (side, side))
                image.thumbnail((side, side))
                pixels = normalize_image(np.asarray(image.convert("RGB" if image.mode not in ("L", "RGB")
                                                                  else image.mode)), name)
        except OSError:
            pixels = read_image(path)                      # let cnnviz say what is wrong with the file
    else:
        pixels = read_image(path)
    check(cancel)
    if max(pixels.shape[:2]) > side and progress is not None:
        progress(0, 0, f"reducing {name} ({pixels.shape[1]}×{pixels.shape[0]})")
    return shrink(pixels, side)


def shrink(pixels: np.ndarray, side: int = WORKING_SIDE) -> np.ndarray:
    """uint8 pixels with the longer side reduced to at most ``side``."""
    if max(pixels.shape[:2]) <= side:
        return pixels
    from PIL import Image

    image = Image.fromarray(pixels)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def describe_path(path: str) -> str:
    """A short name for a file path in menus."""
    p = Path(path)
    return f"{p.name}  ({p.parent})" if str(p.parent) not in ("", ".") else p.name


def existing(paths) -> list[str]:
    return [p for p in paths if p and (str(p).startswith("skimage:") or os.path.exists(p))]
