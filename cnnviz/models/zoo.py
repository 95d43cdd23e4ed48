"""The lecture CNNs (buildable untrained by name, loadable trained by the same
name), VGG16, and loading users' ``.keras`` / ``.h5`` models safely.

Every model cnnviz hands out has a :class:`~.contract.ModelInfo`, its
contract (preprocessing, class names, output kind, input; each with its
source), that :func:`model_info` returns; the sidecar card ``<stem>.card.json``
declares a user's model's parts once (:func:`write_card`).
"""
from __future__ import annotations

import hashlib
import json
import os
import weakref
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import atomic_path, write_json
from ..common.progress import CancelToken, ProgressFn, check, report
from ..data.classes import classes_for
from . import decks
from .contract import (
    CARD_FIELDS,
    FAMILIES,
    ModelInfo,
    check_options,
    declare,
    find_family,
    n_outputs,
    read_classes,
    resolve,
)

__all__ = ["FAMILIES", "ModelInfo", "find_family", "model_info", "register", "load_model", "load_model_file",
           "build_model", "input_shape", "image_shape", "read_card", "write_card", "card_path"]

VGG16_WEIGHTS_FILES = {True: "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                       False: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"}
VGG16_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"   # as Keras downloads them
VGG16_WEIGHTS_MD5 = {True: "64373286793e3c8b2b4e3219cbf3544b", False: "6d6bbae143d832006294945121d1f1fc"}
VGG16_WEIGHTS_BYTES = {True: 553_467_096, False: 58_889_256}


@dataclass(frozen=True)
class Arch:
    name: str
    dataset: str
    build: Callable
    epochs: int          # epochs of the lecture recipe for this model
    augment: bool        # whether the shipped model was trained with augmentation
    description: str
    deck: str = ""       # the lecture deck whose network this is ("" when no one deck's)


_INFO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_info(model) -> ModelInfo:
    """The :class:`ModelInfo` of a model cnnviz built or loaded; for any other
    model, one recognized from its graph (:func:`recognize`)."""
    info = _INFO.get(model)
    if info is None:
        info = resolve(model, ModelInfo(name=model.name))
        _INFO[model] = info
    return info


def model_fingerprint(model) -> str:
    """A hash of everything about ``model`` that decides what cnnviz computes
    from it: its architecture (Keras config), every weight, its preprocessing
    and class names. Resumable jobs and caches are keyed by it, so two models
    of the same name and file name but other weights never share results."""
    info = model_info(model)
    digest = hashlib.sha256()
    try:
        architecture = json.dumps(model.get_config(), sort_keys=True, default=str)
    except Exception:                      # a subclassed model without get_config: its layer structure
        architecture = repr([(w.path, tuple(w.shape)) for w in model.weights])
    digest.update(json.dumps([architecture, info.preprocessing, list(info.classes)]).encode())
    for w in model.weights:
        value = w.numpy()
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def weights_note(model) -> str:
    """What every output made from an untrained model must say ("" when trained)."""
    info = model_info(model)
    if info.trained:
        return ""
    if not info.weights_loaded:
        return f"{info.name}: architecture only, weights not loaded"
    return f"{info.name} has random weights (untrained): what it shows says nothing about a trained network"


def declare_model(model, *, preprocess: Optional[str] = None, classes=None, output: Optional[str] = None,
                  save: bool = False):
    """Declare parts of a loaded model's contract (see :func:`load_model`'s
    options); with ``save`` also in its sidecar card (:func:`write_card`),
    so every later session reads them. Returns the model's info."""
    info = model_info(model)
    if save:
        if not info.path:
            raise CnnvizError(f"{info.name} is no model file of yours, so it has no card to save to: "
                              "declare it for this session only")
        write_card(info.path, classes=classes, preprocessing=preprocess, output=output)
        info.card = read_card(info.path)
    return declare(model, info, preprocessing=preprocess, classes=classes, output=output)


def register(model, info: ModelInfo, declared=("preprocessing", "classes")):
    """Make ``info`` the model's contract: its ``card``'s parts, else those
    ``declared`` (set in ``info`` by the code that built the model), else
    what the graph shows (see :func:`~.contract.resolve`)."""
    if not info.classes:
        info.classes = classes_for(info.dataset, n_outputs(model))
    _INFO[model] = resolve(model, info, declared)
    return model


# ---------------------------------------------------------------- architectures

def _stack(name: str, input_shape, layers):
    import keras

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def _mnist_small(batch_norm: bool = False, name: str = "mnist_small"):
    from keras import layers as L

    def conv_block(i):
        block = [L.Conv2D(8, 3, activation="relu", name=f"conv{i}")]
        if batch_norm:
            block.append(L.BatchNormalization(name=f"bn{i}"))
        return block + [L.MaxPooling2D(2, name=f"pool{i}")]

    return _stack(name, (28, 28, 1), [
        *conv_block(1), *conv_block(2), L.Flatten(name="flatten"),
        L.Dense(64, activation="relu", name="dense1"),
        L.Dense(10, activation="softmax", name="predictions")])


def _mnist_cnn():
    from keras import layers as L

    return _stack("mnist_cnn", (28, 28, 1), [
        L.Conv2D(32, 3, activation="relu", name="conv1"), L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(64, 3, activation="relu", name="conv2"), L.MaxPooling2D(2, name="pool2"),
        L.Conv2D(64, 3, activation="relu", name="conv3"), L.Flatten(name="flatten"),
        L.Dense(64, activation="relu", name="dense1"),
        L.Dense(10, activation="softmax", name="predictions")])


def _lenet():
    from keras import layers as L

    return _stack("lenet", (28, 28, 1), [
        L.Conv2D(20, 5, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, strides=2, name="pool1"),
        L.Conv2D(50, 5, padding="same", activation="relu", name="conv2"),
        L.MaxPooling2D(2, strides=2, name="pool2"), L.Flatten(name="flatten"),
        L.Dense(500, activation="relu", name="dense1"),
        L.Dense(10, activation="softmax", name="predictions")])


def _cifar10_cnn():
    from keras import layers as L

    return _stack("cifar10_cnn", (32, 32, 3), [
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(32, 3, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool1"), L.Dropout(0.25, name="dropout1"),
        L.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        L.Conv2D(64, 3, activation="relu", name="conv4"),
        L.MaxPooling2D(2, name="pool2"), L.Dropout(0.25, name="dropout2"),
        L.Flatten(name="flatten"), L.Dense(512, activation="relu", name="dense1"),
        L.Dropout(0.5, name="dropout3"), L.Dense(10, activation="softmax", name="predictions")])


ARCHS = {a.name: a for a in (
    Arch("mnist_small", "mnist", _mnist_small, 15, False, "the lecture's small MNIST CNN (14,178 parameters)"),
    Arch("mnist_small_bn", "mnist", lambda: _mnist_small(True, "mnist_small_bn"), 15, False,
         "mnist_small with batch normalization after each convolution"),
    Arch("mnist_cnn", "mnist", _mnist_cnn, 12, False, "three-convolution MNIST CNN (Keras tutorial)"),
    Arch("lenet", "mnist", _lenet, 12, False, "LeNet-style CNN, 20 and 50 5x5 filters"),
    Arch("cifar10_cnn", "cifar10", _cifar10_cnn, 60, True, "the Keras CIFAR-10 CNN (1,250,858 parameters)"),
)}
# The decks' networks (cnnviz.models.decks): built by name and trained with `cnnviz train NAME`; none ships trained.
DECK_ARCHS = {a.name: a for a in (
    Arch("wolter_dense", "mnist", decks.wolter_dense, 20, False, "three hidden Dense(512) layers (932,362 parameters)",
         "wolter"),
    Arch("mattie_dense", "mnist", decks.mattie_dense, 5, False,
         "Dense(512) on the flattened digit (407,050 parameters)",
         "mattie"),
    Arch("mueller_dense", "mnist", decks.mueller_dense, 10, False, "Dense(32), Dense(10) (25,450 parameters)",
         "mueller"),
    Arch("sick_cnn1", "cifar10", decks.sick_cnn1, 30, False, "four conv+BN layers, Dense(80) (251,546 parameters)",
         "sick"),
    Arch("sick_cnn2", "cifar10", decks.sick_cnn2, 30, False, "conv+BN blocks, global pooling (35,862 parameters)",
         "sick"),
    Arch("sakr_cifar", "cifar10", decks.sakr_cifar, 20, False,
         "first CIFAR-10 net: two conv(32)+pool, Dense(128) (273,706; reconstructed)", "sakr"),
    Arch("sakr_bn64", "cifar10", decks.sakr_bn64, 20, False,
         "sakr_cifar with 64 filters and batch normalization (564,938; reconstructed)", "sakr"),
    Arch("lenet5", "mnist", decks.lenet5, 20, False, "LeNet-5 as in 1998: C1-S2-C3-S4-C5-F6, 32x32 input (61,706)",
         "architecture slides"),
    Arch("alexnet", "imagenet", decks.alexnet, 90, False, "AlexNet, one stream, 227x227 (62,378,344 parameters)",
         "architecture slides"),
)}
ARCHITECTURES = {**ARCHS, **DECK_ARCHS}      # every architecture cnnviz builds by name
VGG16_NAMES = {"vgg16": True, "vgg16_notop": False}   # name -> include_top
ZOO_NAMES = (*ARCHS, *VGG16_NAMES)             # the models that load trained by name


@contextmanager
def shapes_only():
    """Models built inside hold variables with shapes and no values (Keras'
    deferred initialization): their graph, output shapes and parameter counts
    without allocating their weights (VGG16's 138M). Such a model cannot be
    run. Keras forgets the deferred variables afterwards, so none is filled in
    by a later scope."""
    import keras
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


def build_model(name: str):
    """An untrained zoo model by name (VGG16 with random weights)."""
    if name in VGG16_NAMES:
        return _vgg16(VGG16_NAMES[name], weights=None)
    arch = _arch(name)
    return register(arch.build(), ModelInfo(name=name, dataset=arch.dataset, trained=False))


def _arch(name: str) -> Arch:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise CnnvizError(f"unknown model {name!r}: use one of {', '.join((*ARCHITECTURES, *VGG16_NAMES))} or a "
                          ".keras/.h5 file") from None


# ---------------------------------------------------------------- VGG16

VGG16_CONVS = tuple(f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1))
VGG16_TOP = ("fc1", "fc2", "predictions")


def _check_vgg16_weights(path: Path, include_top: bool) -> None:
    """Refuse, before the 138M-parameter build, a weights file that cannot be
    VGG16's: not a file, not HDF5, or other layers with weights than VGG16's
    (by name in Keras' legacy layout, as Keras ships them; by count in Keras 3's
    ``.weights.h5``, which names layers by type)."""
    import h5py

    fix = f"give Keras' {VGG16_WEIGHTS_FILES[include_top]} (or imagenet, or none for random weights)"
    if not path.is_file():
        raise CnnvizError(f"--weights {path}: no such file; {fix}")
    if not h5py.is_hdf5(path):
        raise CnnvizError(f"--weights {path}: not an HDF5 weights file; {fix}")
    expected = [*VGG16_CONVS, *VGG16_TOP] if include_top else list(VGG16_CONVS)
    try:
        with h5py.File(path, "r") as f:
            found = _weighted_layers(f)
    except (OSError, KeyError, ValueError) as exc:
        raise CnnvizError(f"--weights {path}: unreadable HDF5 ({short(exc)}); {fix}") from None
    if found in (expected, len(expected)):           # names (legacy layout) or a count (Keras 3)
        return
    if isinstance(found, int):
        held = f"{found} layers with weights"
    else:
        held = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "") if found else "no layers with weights"
    raise CnnvizError(f"--weights {path}: holds {held}, not VGG16's {len(expected)} "
                      f"({expected[0]} ... {expected[-1]}); {fix}")


def _weighted_layers(f) -> "list[str] | int | None":
    """The names of an HDF5 weights file's layers that hold weights (Keras'
    legacy layout, alone or in a saved model), their count (Keras 3), or None."""
    group = f["model_weights"] if "model_weights" in f else f
    if "layer_names" in group.attrs:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
        return [n for n in names if n in group and len(group[n].attrs.get("weight_names", []))]
    if "layers" in f:
        return sum(1 for n in f["layers"] if len(f["layers"][n].get("vars", {})))
    return None


def _vgg16(include_top: bool, weights: Optional[str] = "imagenet"):
    """``keras.applications.VGG16``; ``weights`` is "imagenet" (downloaded by
    Keras on first use, with a progress bar), a local weights file, or None."""
    import keras

    runtime.setup_devices()
    source = os.environ.get("CNNVIZ_VGG16_WEIGHTS") if weights == "imagenet" else None
    if (source or weights) not in (None, "imagenet"):
        _check_vgg16_weights(Path(source or weights), include_top)
    try:
        model = keras.applications.VGG16(weights=source or weights, include_top=include_top)
    except Exception as exc:
        if weights != "imagenet" or source:
            raise CnnvizError(f"cannot load VGG16 weights from {source or weights} ({short(exc)}): "
                              f"give Keras' {VGG16_WEIGHTS_FILES[include_top]}") from exc
        raise CnnvizError(
            f"VGG16's ImageNet weights could not be downloaded ({short(exc)}): when offline, put "
            f"{VGG16_WEIGHTS_FILES[include_top]} in ~/.keras/models/ or pass --weights FILE "
            f"(or set CNNVIZ_VGG16_WEIGHTS), or use a shipped model: {', '.join(ARCHS)}") from exc
    name = "vgg16" if include_top else "vgg16_notop"
    trained = weights is not None
    return register(model, ModelInfo(name=name, dataset="imagenet" if include_top else None,
                                      preprocessing="vgg16", trained=trained))


def keras_models_dir() -> Path:
    """Where Keras keeps downloaded application weights: ``$KERAS_HOME/models``,
    else ``~/.keras/models`` (``/tmp/.keras/models`` when home is not
    writable), by Keras' own rule. Pure path logic: it must not import Keras,
    since the app calls it on threads that may race TensorFlow's import."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def vgg16_weights_path(include_top: bool = True, folder: Optional[str | os.PathLike] = None) -> Path:
    """The file Keras loads VGG16's ImageNet weights from (in ``folder``, by
    default the Keras cache)."""
    return Path(folder or keras_models_dir()) / VGG16_WEIGHTS_FILES[include_top]


def vgg16_weights_available(include_top: bool = True) -> bool:
    """Whether VGG16's ImageNet weights load without a download: the file is
    in the Keras cache, or ``CNNVIZ_VGG16_WEIGHTS`` names a weights file."""
    source = os.environ.get("CNNVIZ_VGG16_WEIGHTS")
    if source:
        return Path(source).is_file()
    path = vgg16_weights_path(include_top)
    return path.is_file() and path.stat().st_size > 0


def download_vgg16_weights(include_top: bool = True, *, url: Optional[str] = None, md5: Optional[str] = None,
                           folder: Optional[str | os.PathLike] = None, progress: Optional[ProgressFn] = None,
                           cancel: Optional[CancelToken] = None, timeout: float = 30.0) -> Path:
    """Download VGG16's ImageNet weights into the Keras cache (or ``folder``),
    where ``keras.applications.VGG16(weights="imagenet")`` finds them.

    Reports bytes through ``progress`` and stops at ``cancel`` (nothing is left
    behind: the file appears only once complete and its MD5 checked). ``url``
    and ``md5`` default to Keras' own; with another ``url`` and no ``md5`` the
    checksum is not checked. Returns the file's path.
    """
    import urllib.request


    name = VGG16_WEIGHTS_FILES[include_top]
    if url is None:
        url, md5 = VGG16_WEIGHTS_URL + name, md5 or VGG16_WEIGHTS_MD5[include_top]
    target = vgg16_weights_path(include_top, folder)
    label = f"downloading {name}"
    digest = hashlib.md5()
    check(cancel)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or VGG16_WEIGHTS_BYTES[include_top]
            done = 0
            with atomic_path(target) as tmp, open(tmp, "wb") as out:
                report(progress, 0, total, label)
                while True:
                    check(cancel)
                    block = response.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    report(progress, min(done, total), total, label)
                if md5 and digest.hexdigest() != md5:
                    raise CnnvizError(f"the download of {name} from {url} is damaged (MD5 {digest.hexdigest()}, "
                                      f"expected {md5}): try again, or get the file another way")
    except CnnvizError:            # cancelled, or a damaged download
        raise
    except Exception as exc:
        raise CnnvizError(f"could not download VGG16's ImageNet weights from {url} ({short(exc)}): check the "
                          f"internet connection, or put {name} in {target.parent} (or choose it as a local "
                          "weights file), or use random weights") from exc
    return target


# ---------------------------------------------------------------- loading

def load_model(spec: str, *, unsafe: bool = False, weights: Optional[str] = "imagenet",
               preprocess: Optional[str] = None, classes=None, output: Optional[str] = None,
               architecture_only: bool = False, preprocessing: Optional[str] = None):
    """A trained model by zoo name (shipped weights; VGG16 with ``weights``) or
    a ``.keras`` / ``.h5`` file path.

    Files load with Keras ``safe_mode`` on; a model holding Lambda layers (code
    that runs on load) needs ``unsafe=True``. ``preprocess`` (one of
    ``PREPROCESSINGS``; ``preprocessing`` is the same), ``classes`` (names, or
    a text file with one name a line) and ``output`` ("probability" or
    "logit") declare parts of the model's contract for this session,
    overriding its card (to declare them for good: :func:`write_card`), what
    its graph shows and the defaults. ``architecture_only``: VGG16 is built
    without its weights (no download), for what needs only the graph.
    """
    runtime.setup_devices()
    preprocess = preprocess or preprocessing
    declare_options = dict(preprocessing=preprocess, classes=classes, output=output)
    check_options(preprocess, output)                     # bad values fail before a model loads
    spec = str(spec)
    if spec in VGG16_NAMES:
        # A weights file given is always checked (by _vgg16), so a missing or wrong one is refused even where
        # only the architecture is needed; architecture_only skips the ImageNet download alone.
        w = None if weights in (None, "none", "random") or (architecture_only and weights == "imagenet") else weights
        if w is None and architecture_only:
            with shapes_only():
                model = _vgg16(VGG16_NAMES[spec], None)
        else:
            model = _vgg16(VGG16_NAMES[spec], w)
        model_info(model).weights_loaded = w is not None or not architecture_only
    elif spec in ARCHS:
        path = shipped_model_path(spec)
        if not path.is_file():
            raise CnnvizError(f"no trained {spec} in {path.parent}: train it with `cnnviz train {spec}` "
                              f"or pick a shipped model (`cnnviz models`)")
        model = load_model_file(path, unsafe=unsafe)
    elif spec in DECK_ARCHS and not Path(spec).exists():
        model = _deck_model(spec, weights, architecture_only)
    elif Path(spec).suffix.lower() in (".keras", ".h5", ".hdf5") or os.sep in spec or Path(spec).exists():
        model = load_model_file(spec, unsafe=unsafe)
    else:
        raise CnnvizError(f"unknown model {spec!r}: use one of {', '.join(ZOO_NAMES)} or a .keras/.h5 file")
    declare(model, model_info(model), **declare_options)
    return model


def _deck_model(name: str, weights: Optional[str], architecture_only: bool):
    """A deck architecture: its graph (``architecture_only``), random weights
    (``weights`` none), or a user's weights file; none ship with cnnviz."""
    if architecture_only:
        with shapes_only():
            model = build_model(name)
        model_info(model).weights_loaded = False
        return model
    model = build_model(name)
    if weights in (None, "none", "random"):
        return model
    if weights == "imagenet" or not Path(str(weights)).is_file():
        raise CnnvizError(f"{name} ships without trained weights: train it with `cnnviz train {name} --out "
                          f"{name}.keras` and load that file, give --weights FILE (a .weights.h5 of this "
                          "architecture), or --weights none for random weights")
    try:
        model.load_weights(str(weights))
    except Exception as exc:
        raise CnnvizError(f"cannot load {weights} into {name} ({short(exc)}): give weights saved from this "
                          "architecture with model.save_weights('x.weights.h5')") from exc
    model_info(model).trained = True
    return model


def shipped_model_path(name: str) -> Path:
    return runtime.shipped_models_dir() / f"{name}.keras"


def card_path(model_path: str | os.PathLike) -> Path:
    """The model card JSON that sits beside a model file."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


def read_card(model_path: str | os.PathLike) -> dict:
    """The model's sidecar card ({} when there is none); a card that cannot be
    read is an error, never silently ignored (it declares how to read the model)."""
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CnnvizError(f"model card {path} is not readable JSON ({short(exc)}): fix it, or delete it and "
                          f"declare the model again with `cnnviz card {model_path} --classes ... --preprocess ...`") \
            from exc
    if not isinstance(card, dict):
        raise CnnvizError(f"model card {path} holds a {type(card).__name__}, not a JSON object: fix it or delete it")
    return card


def write_card(model_path: str | os.PathLike, *, unsafe: bool = False, **parts) -> dict:
    """Declare parts of a model file's contract in its sidecar card
    (``classes``, ``preprocessing``, ``output``; None leaves a part as it
    is), written atomically and keeping every field it does not set. Checks
    the values against the model first. Returns the card written."""
    unknown = sorted(set(parts) - set(CARD_FIELDS))
    if unknown:
        raise ValueError(f"unknown card field(s) {unknown}: use {', '.join(CARD_FIELDS)}")
    model = load_model_file(model_path, unsafe=unsafe)
    check_options(parts.get("preprocessing"), parts.get("output"))
    declare(model, ModelInfo(name=Path(model_path).stem), classes=parts.get("classes"), output=parts.get("output"))
    card = read_card(model_path)
    if parts.get("classes") is not None:
        card["classes"] = list(read_classes(parts["classes"]))
    for key in ("preprocessing", "output"):
        if parts.get(key) is not None:
            card[key] = parts[key]
    write_json(card_path(model_path), card)
    return card


def load_model_file(path: str | os.PathLike, *, unsafe: bool = False, compile: bool = False):
    """Load a ``.keras`` or ``.h5`` model with ``safe_mode`` on (see :func:`load_model`).
    Every model file cnnviz opens (a user's, a training checkpoint, a model
    to fine-tune) comes through here; ``compile`` keeps the optimizer state."""
    import keras

    path = Path(path)
    if path.is_dir():
        raise CnnvizError(f"{path} is a folder, not a model file: give the .keras or .h5 file (a TensorFlow "
                          "SavedModel folder must be re-saved with model.save('model.keras'))")
    if not path.is_file():
        raise CnnvizError(f"model file {path} does not exist: check the path, or use a zoo name "
                          f"({', '.join(ZOO_NAMES)})")
    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise CnnvizError(f"{path} is not a .keras or .h5 model file: save the model with model.save('model.keras')")
    lambdas = lambda_layers(path)
    if lambdas and not unsafe:
        raise CnnvizError(f"{path.name} contains Lambda layer(s) {', '.join(lambdas)} whose code would run on load: "
                          "pass --unsafe (unsafe=True) only if you trust this file")
    try:
        model = keras.models.load_model(path, compile=compile, safe_mode=not unsafe)
    except Exception as exc:
        raise CnnvizError(_load_failure(path, exc)) from exc
    if not isinstance(model, keras.Model):
        raise CnnvizError(f"{path} holds a {type(model).__name__}, not a Keras model")
    card = read_card(path)
    info = ModelInfo(name=card.get("architecture", path.stem), dataset=card.get("dataset"), path=str(path),
                     card=card)
    _INFO[model] = resolve(model, info)
    return model


def _load_failure(path: Path, exc: Exception) -> str:
    """Why a model file did not load, and the fix: a custom class Keras cannot
    find needs its defining module imported and registered, not a re-save."""
    import re

    custom = re.search(r"Could not (?:locate|deserialize) (\w+) '([^']+)'(?: because its parent module (\S+) "
                       r"cannot be imported)?", str(exc))
    if custom:
        kind, name, module = custom.groups()
        named = re.search(r"'module': '([^']+)'", str(exc)[custom.end():])   # Keras' "Full object config"
        module = module or (named.group(1) if named and not named.group(1).startswith("keras") else None)
        where = f" (from module {module})" if module else ""
        return (f"{path.name} uses the custom {kind} {name!r}{where}, which Keras does not know: custom layers must "
                "be importable and registered: decorate the class with "
                "@keras.saving.register_keras_serializable(), import its module, then load the file from Python "
                "(cnnviz.load_model)")
    return f"cannot load {path} ({short(exc)}): is it a Keras model saved with model.save()?"


def lambda_layers(path: Path) -> list[str]:
    """Names of Lambda layers in a saved model's config, read without loading it."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as z:
                config = json.loads(z.read("config.json"))
        else:
            import h5py

            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
            if raw is None:
                return []
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except Exception as exc:
        raise CnnvizError(f"{path} is not a readable Keras model file ({short(exc)}): "
                          "re-save it with model.save()") from exc
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("class_name") == "Lambda":
                found.append(node.get("config", {}).get("name", "?"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def input_shape(model) -> tuple:
    """The model's input shape without the batch axis, e.g. (28, 28, 1)."""
    if not model.inputs:
        raise CnnvizError(f"model {model.name} has no defined input: build it with keras.Input(shape=...)")
    if len(model.inputs) != 1:
        raise CnnvizError(f"model {model.name} has {len(model.inputs)} inputs: cnnviz needs a single image input")
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3:
        raise CnnvizError(f"model {model.name} takes inputs of shape {shape}, not images (H, W, C): this needs a "
                          "convolutional network (a dense network can be predicted and evaluated)")
    return shape


def image_shape(model) -> tuple:
    """(H, W, C) of the images the model reads: its input shape, or for a
    dense network taking images flattened to a vector, that image's shape
    (from its card's ``image_shape``, else a square gray or RGB image)."""
    info = model_info(model)
    if info.image_shape:
        return info.image_shape
    if model.inputs and len(model.inputs) == 1 and len(model.inputs[0].shape) == 2:
        raise CnnvizError(f"{info.name} takes vectors of {model.inputs[0].shape[-1]} values, not a square image: "
                          "write its image shape in the model card (\"image_shape\": [H, W, C])")
    return input_shape(model)

