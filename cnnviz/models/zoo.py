"""The lecture CNNs (buildable untrained by name, loadable trained by the same
name), VGG16, and loading users' ``.keras`` / ``.h5`` models safely.

Every model cnnviz hands out has a :class:`ModelInfo` (dataset, class names,
input preprocessing) that :func:`model_info` returns.
"""
from __future__ import annotations

import hashlib
import json
import os
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import atomic_path
from ..common.progress import CancelToken, ProgressFn, check, report
from ..data.classes import classes_for
from . import decks
from .graph import is_model
from .preprocessing import PREPROCESSING_TEXT, PREPROCESSINGS

VGG16_WEIGHTS_FILES = {True: "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                       False: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"}
VGG16_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"   # as Keras downloads them
VGG16_WEIGHTS_MD5 = {True: "64373286793e3c8b2b4e3219cbf3544b", False: "6d6bbae143d832006294945121d1f1fc"}
VGG16_WEIGHTS_BYTES = {True: 553_467_096, False: 58_889_256}


@dataclass
class ModelInfo:
    """What cnnviz knows about a model beyond its Keras graph."""

    name: str
    dataset: Optional[str] = None          # "mnist", "cifar10", "imagenet" or None
    classes: tuple[str, ...] = ()
    preprocessing: str = "scale01"         # how uint8 pixels become model input
    trained: bool = True
    path: Optional[str] = None
    card: dict = field(default_factory=dict)
    weights_loaded: bool = True            # False: only the architecture was wanted (e.g. a layer table)
    family: Optional[str] = None           # a keras.applications family recognized in the model
    preprocessing_note: str = ""           # how the preprocessing was chosen, when not from a model card


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
        info = recognize(model, ModelInfo(name=model.name))
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


def register(model, info: ModelInfo):
    if not info.classes:
        info.classes = classes_for(info.dataset, _n_outputs(model))
    _INFO[model] = info
    return model


def _n_outputs(model) -> int:
    shape = model.outputs[0].shape
    return int(shape[-1]) if len(shape) == 2 and shape[-1] is not None else 0


# ---------------------------------------------------------------- keras.applications families

@dataclass(frozen=True)
class Family:
    """A keras.applications family: how its model names and layer names look,
    and what its ``keras.applications.<module>.preprocess_input`` does."""

    name: str
    module: str                  # keras.applications.<module>
    preprocessing: str           # that module's preprocess_input mode ("raw": the model rescales inside)
    model_name: str              # regular expression on the model's name
    marker: str = ""             # regular expression on a layer name no other family has
    bare_preprocessing: str = ""  # the mode when built with include_preprocessing=False (no rescaling inside)


FAMILIES = (
    Family("VGG19", "vgg19", "caffe", r"vgg19", "block5_conv4"),
    Family("VGG16", "vgg16", "caffe", r"vgg16", "block5_conv3"),
    Family("ResNetV2", "resnet_v2", "tf", r"resnet\d+v2", "conv2_block1_preact_bn"),
    Family("ResNet", "resnet", "caffe", r"resnet\d+", "conv2_block1_add"),
    Family("DenseNet", "densenet", "torch", r"densenet\d+", "conv2_block1_concat"),
    Family("MobileNet", "mobilenet", "tf", r"mobilenet_[\d.]+_\d+", "conv_dw_1"),
    Family("MobileNetV2", "mobilenet_v2", "tf", r"mobilenetv2_[\d.]+_\d+", "block_16_project"),
    Family("MobileNetV3", "mobilenet_v3", "raw", r"mobilenetv3(small|large)", "expanded_conv_squeeze_excite_mul",
           bare_preprocessing="tf"),
    Family("EfficientNetV2", "efficientnet_v2", "raw", r"efficientnetv2-\w+", "block1a_project_activation",
           bare_preprocessing="tf"),
    Family("EfficientNet", "efficientnet", "raw", r"efficientnetb\d", "block1a_se_excite"),
    Family("ConvNeXt", "convnext", "raw", r"convnext_(tiny|small|base|large|xlarge)",
           r".+_stage_0_block_0_layer_scale", bare_preprocessing="torch"),
    Family("Xception", "xception", "tf", r"xception", "block14_sepconv2"),
    Family("InceptionV3", "inception_v3", "tf", r"inception_v3", "mixed10"),
    Family("InceptionResNetV2", "inception_resnet_v2", "tf", r"inception_resnet_v2", "conv_7b"),
    Family("NASNet", "nasnet", "tf", r"nasnet_(mobile|large)", "reduction_concat_stem_1"),
)
RESCALING_LAYERS = ("Rescaling", "Normalization")


def _all_layers(model) -> list:
    """The model and every layer in it, nested models' layers included."""
    found, stack = [], [model]
    while stack:
        m = stack.pop()
        found.append(m)
        stack.extend(m.layers if is_model(m) else ())
    return found


def find_family(model) -> Optional[Family]:
    """The keras.applications family a model is, or is built on (a nested
    base model counts): by model name, else by a layer name only it has."""
    import re


    layers = _all_layers(model)
    models = [m.name.lower() for m in layers if is_model(m)]
    for family in FAMILIES:
        if any(re.fullmatch(family.model_name, name) for name in models):
            return family
    names = [layer.name for layer in layers]
    return next((f for f in FAMILIES if f.marker and any(re.fullmatch(f.marker, n) for n in names)), None)


def recognize(model, info: ModelInfo) -> ModelInfo:
    """Fill in what a model's graph tells about a model without a card: a
    keras.applications family's preprocessing and, for 1000 outputs, ImageNet's
    class names; otherwise pixels in [0, 1] are assumed. Either way the note
    says which."""
    family = find_family(model)
    n = _n_outputs(model)
    if family is None:
        info.preprocessing = "scale01"
        info.preprocessing_note = (f"unknown model: assumed input {PREPROCESSING_TEXT['scale01']} (scale01); "
                                   "give --preprocess if it was trained otherwise")
    else:
        mode = family.preprocessing
        rescales = any(type(layer).__name__ in RESCALING_LAYERS for layer in _all_layers(model))
        if mode == "raw" and family.bare_preprocessing and not rescales:
            mode = family.bare_preprocessing
        inside = " (the model rescales inside)" if mode == "raw" else ""
        info.family, info.preprocessing = family.name, mode
        info.preprocessing_note = (f"keras.applications {family.name}: input {PREPROCESSING_TEXT[mode]}{inside}, "
                                   f"as keras.applications.{family.module}.preprocess_input gives it; "
                                   "--preprocess overrides")
        if n == 1000:
            info.dataset = info.dataset or "imagenet"
    info.classes = info.classes or classes_for(info.dataset, n)
    return info


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
    Arch("lenet5", "mnist", decks.lenet5, 20, False, "LeNet-5 as in 1998: C1-S2-C3-S4-C5-F6, 32x32 input (61,706)",
         "architecture slides"),
    Arch("alexnet", "imagenet", decks.alexnet, 90, False, "AlexNet, one stream, 227x227 (62,378,344 parameters)",
         "architecture slides"),
)}
ARCHITECTURES = {**ARCHS, **DECK_ARCHS}      # every architecture cnnviz builds by name
VGG16_NAMES = {"vgg16": True, "vgg16_notop": False}   # name -> include_top
ZOO_NAMES = (*ARCHS, *VGG16_NAMES)             # the models that load trained by name


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

def _vgg16(include_top: bool, weights: Optional[str] = "imagenet"):
    """``keras.applications.VGG16``; ``weights`` is "imagenet" (downloaded by
    Keras on first use, with a progress bar), a local weights file, or None."""
    import keras

    runtime.setup_devices()
    source = os.environ.get("CNNVIZ_VGG16_WEIGHTS") if weights == "imagenet" else None
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
               preprocessing: Optional[str] = None, architecture_only: bool = False):
    """A trained model by zoo name (shipped weights; VGG16 with ``weights``) or
    a ``.keras`` / ``.h5`` file path.

    Files load with Keras ``safe_mode`` on; a model holding Lambda layers (code
    that runs on load) needs ``unsafe=True``. ``preprocessing`` overrides how
    pixels are scaled for the model (one of ``PREPROCESSINGS``; by default the
    model card's, else its keras.applications family's, else ``scale01``).
    ``architecture_only``: VGG16 is built without its weights (no download),
    for what needs only the graph (layer tables, receptive fields).
    """
    runtime.setup_devices()
    if preprocessing is not None and preprocessing not in PREPROCESSINGS:
        raise CnnvizError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSINGS)}")
    spec = str(spec)
    if spec in VGG16_NAMES:
        # A weights file given is always read, so a missing or wrong one is refused even where only the
        # architecture is needed; architecture_only skips the ImageNet download alone.
        w = None if weights in (None, "none", "random") or (architecture_only and weights == "imagenet") else weights
        if w not in (None, "imagenet") and not Path(w).is_file():
            raise CnnvizError(f"--weights {w}: no such file; give Keras' {VGG16_WEIGHTS_FILES[VGG16_NAMES[spec]]} "
                              "(or imagenet, or none for random weights)")
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
    if preprocessing is not None:
        info = model_info(model)
        info.preprocessing = preprocessing
        info.preprocessing_note = f"input {PREPROCESSING_TEXT[preprocessing]}, as given"
    return model


def _deck_model(name: str, weights: Optional[str], architecture_only: bool):
    """A deck architecture: its graph (``architecture_only``), random weights
    (``weights`` none), or a user's weights file; none ship with cnnviz."""
    model = build_model(name)
    if architecture_only or weights in (None, "none", "random"):
        model_info(model).weights_loaded = not architecture_only
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
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


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
    classes = tuple(card.get("classes", ()))
    info = ModelInfo(name=card.get("architecture", path.stem), dataset=card.get("dataset"),
                     classes=classes if len(classes) == _n_outputs(model) else (), path=str(path), card=card)
    if "preprocessing" in card:
        info.preprocessing = card["preprocessing"]
    else:
        recognize(model, info)
    return register(model, info)


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
        raise CnnvizError(f"model {model.name} takes inputs of shape {shape}, not images (H, W, C)")
    return shape

