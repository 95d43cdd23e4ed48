"""A model's contract: what it expects and what it says, declared once and
read by every command, API function and the desktop app.

The parts are how 0-255 pixels become its input (the preprocessing), its
class names, whether its outputs are probabilities or logits, and the image
size and channels it reads. Each part comes from the first of these that
declares it, and :class:`ModelInfo` records which one did:

1. ``option``: given explicitly (``--preprocess``, ``--classes``,
   ``load_model(path, classes=..., preprocess=...)``, the app's model settings);
2. ``card``: the sidecar ``<stem>.card.json`` beside the model file
   (``cnnviz card MODEL`` writes it; ``cnnviz train`` too);
3. ``graph``: what the model's layers show (a ``Rescaling`` or ``Normalization``
   layer at the input means raw 0-255 pixels; a keras.applications family's
   own preprocessing; a final softmax means probabilities);
4. ``default``: pixels / 255 and "class i" names, with a note saying so.

``cnnviz`` marks the parts it declares itself for its own zoo models.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..common.errors import CnnvizError
from ..data.classes import classes_for
from .graph import get_layer, is_model, layer_names
from .preprocessing import PREPROCESSING_TEXT, PREPROCESSINGS
from .surgery import final_activation

PARTS = ("preprocessing", "classes", "output", "input")
SOURCES = ("option", "card", "graph", "default", "cnnviz")
SOURCE_TEXT = {"option": "given as an option", "card": "from the model card", "graph": "from the model's layers",
               "default": "the default", "cnnviz": "declared by cnnviz"}
OUTPUTS = ("probability", "logit")
CARD_FIELDS = ("classes", "preprocessing", "output")     # what a user declares in a card


@dataclass
class ModelInfo:
    """What cnnviz knows about a model beyond its Keras graph: its contract
    (see the module docstring) and where it came from."""

    name: str
    dataset: Optional[str] = None          # "mnist", "cifar10", "imagenet" or None
    classes: tuple[str, ...] = ()
    preprocessing: str = "scale01"         # how uint8 pixels become model input
    trained: bool = True
    path: Optional[str] = None
    card: dict = field(default_factory=dict)
    weights_loaded: bool = True            # False: only the architecture was wanted (e.g. a layer table)
    family: Optional[str] = None           # a keras.applications family recognized in the model
    preprocessing_note: str = ""           # how the preprocessing was chosen, when not declared
    output: str = "probability"            # "probability" (a final softmax) or "logit"
    image_shape: tuple = ()                # (H, W, C) images are read at (for a flat input: its image)
    flat: bool = False                     # the model takes images flattened to a vector (a dense network)
    sources: dict = field(default_factory=dict)    # part -> one of SOURCES
    why: dict = field(default_factory=dict)        # part -> what in that source gave it

    def source(self, part: str) -> str:
        return self.sources.get(part, "cnnviz")

    def contract(self) -> dict:
        """Each part, its value and its source, for ``summary --json`` and the app."""
        h, w, c = self.image_shape or (None, None, None)
        values = {"preprocessing": self.preprocessing, "classes": list(self.classes), "output": self.output,
                  "input": {"height": h, "width": w, "channels": c, "flat": self.flat}}
        return {part: {"value": values[part], "source": self.source(part), "why": self.why.get(part, "")}
                for part in PARTS}

    def describe(self) -> list[str]:
        """One line per part, saying its value and which source gave it."""
        shown = ", ".join(self.classes[:6]) + (", ..." if len(self.classes) > 6 else "")
        h, w, c = self.image_shape or (None, None, None)
        size = "any size" if h is None else f"{w}x{h}"
        values = {"preprocessing": f"{self.preprocessing}: {PREPROCESSING_TEXT[self.preprocessing]}",
                  "classes": f"{len(self.classes)}: {shown}",
                  "output": self.output + ("" if self.output == "probability" else "s (cnnviz applies the softmax)"),
                  "input": f"{size}, {c} channel{'s' if c != 1 else ''}" + (", flattened" if self.flat else "")}
        lines = []
        for part in PARTS:
            why = self.why.get(part)
            lines.append(f"{part}: {values[part]} ({SOURCE_TEXT[self.source(part)]}{': ' + why if why else ''})")
        return lines


# ---------------------------------------------------------------- what the graph shows

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
# Layers that may stand between the input and a rescaling layer without changing pixel values' scale.
PASS_THROUGH = ("InputLayer", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
                "RandomTranslation", "RandomCrop", "RandomContrast", "RandomBrightness", "Permute")


def all_layers(model) -> list:
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
    layers = all_layers(model)
    models = [m.name.lower() for m in layers if is_model(m)]
    for family in FAMILIES:
        if any(re.fullmatch(family.model_name, name) for name in models):
            return family
    names = [layer.name for layer in layers]
    return next((f for f in FAMILIES if f.marker and any(re.fullmatch(f.marker, n) for n in names)), None)


def input_rescaling(model) -> Optional[str]:
    """The (qualified) name of a ``Rescaling`` or ``Normalization`` layer the
    input reaches before any layer that computes features, or None: such a
    model takes raw 0-255 pixels and scales them itself."""
    for name in layer_names(model):
        layer = get_layer(model, name)
        kind = type(layer).__name__
        if is_model(layer) or kind in PASS_THROUGH:
            continue
        return name if kind in RESCALING_LAYERS else None
    return None


def n_outputs(model) -> int:
    shape = model.outputs[0].shape
    return int(shape[-1]) if len(shape) == 2 and shape[-1] is not None else 0


def _graph_family(model, info: ModelInfo) -> None:
    """A keras.applications family's name and, for its 1000 outputs, ImageNet as the dataset."""
    family = find_family(model)
    info.family = family.name if family else None
    if family is not None and n_outputs(model) == 1000:
        info.dataset = info.dataset or "imagenet"


def _graph_preprocessing(model, info: ModelInfo) -> None:
    family = next((f for f in FAMILIES if f.name == info.family), None)
    if family is not None:
        mode = family.preprocessing
        rescales = any(type(layer).__name__ in RESCALING_LAYERS for layer in all_layers(model))
        if mode == "raw" and family.bare_preprocessing and not rescales:
            mode = family.bare_preprocessing
        inside = " (the model rescales inside)" if mode == "raw" else ""
        info.preprocessing = mode
        _set(info, "preprocessing", "graph", f"keras.applications {family.name}")
        info.preprocessing_note = (f"keras.applications {family.name}: input {PREPROCESSING_TEXT[mode]}{inside}, "
                                   f"as keras.applications.{family.module}.preprocess_input gives it; "
                                   "--preprocess overrides")
        return
    rescaling = input_rescaling(model)
    if rescaling is not None:
        info.preprocessing = "raw"
        _set(info, "preprocessing", "graph", f"{type(get_layer(model, rescaling)).__name__} layer "
                                             f"{rescaling} at the input scales raw 0-255 pixels")
        return
    info.preprocessing = "scale01"
    _set(info, "preprocessing", "default", "nothing declares it")
    info.preprocessing_note = (f"unknown model: assumed input {PREPROCESSING_TEXT['scale01']} (scale01), as nothing "
                               "declares it: give --preprocess or write it in the model card "
                               "(cnnviz card MODEL --preprocess ...) "
                               "if it was trained otherwise")


def _graph_input(model, info: ModelInfo) -> None:
    if not model.inputs or len(model.inputs) != 1:
        return
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) == 3:
        info.image_shape, info.flat = shape, False
        _set(info, "input", "graph", "")
        return
    if len(shape) != 1 or shape[0] is None:
        return
    declared = info.card.get("image_shape")
    if declared and len(declared) == 3 and int(declared[0]) * int(declared[1]) * int(declared[2]) == shape[0]:
        info.image_shape, info.flat = tuple(int(d) for d in declared), True
        _set(info, "input", "card", f"image_shape {list(info.image_shape)} for {shape[0]} inputs")
        return
    for channels in (1, 3):
        side = round((shape[0] / channels) ** 0.5)
        if side * side * channels == shape[0]:
            info.image_shape, info.flat = (side, side, channels), True
            _set(info, "input", "graph", f"a vector of {shape[0]} = {side}x{side}x{channels} pixels")
            return


def _set(info: ModelInfo, part: str, source: str, why: str) -> None:
    info.sources[part], info.why[part] = source, why


# ---------------------------------------------------------------- resolving

def read_classes(classes) -> tuple[str, ...]:
    """Class names given as a sequence, as ``"a,b,c"``, or as the path of a
    text file with one name a line (blank lines ignored)."""
    if classes is None:
        return ()
    if isinstance(classes, (list, tuple)):
        names = [str(c).strip() for c in classes]
    else:
        text = str(classes)
        path = Path(text)
        if path.is_file():
            try:
                names = [line.strip() for line in path.read_text("utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as exc:
                raise CnnvizError(f"cannot read class names from {path} ({exc}): give a text file with one "
                                  "name a line") from exc
            names = [n for n in names if n]
        elif path.suffix.lower() in (".txt", ".csv", ".names") and "," not in text:
            raise CnnvizError(f"class-name file {path} does not exist: give a text file with one name a line, "
                              "or the names separated by commas")
        else:
            names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise CnnvizError(f"empty class name in {classes!r}: give one name per class, e.g. cat,dog,bird")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise CnnvizError(f"class name(s) {', '.join(duplicated)} given twice: each class needs its own name")
    return tuple(names)


def check_options(preprocessing: Optional[str] = None, output: Optional[str] = None) -> None:
    if preprocessing is not None and preprocessing not in PREPROCESSINGS:
        raise CnnvizError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSINGS)}")
    if output is not None and output not in OUTPUTS:
        raise CnnvizError(f"unknown output kind {output!r}: use probability or logit")


def resolve(model, info: ModelInfo, declared: Sequence[str] = ()) -> ModelInfo:
    """Fill in ``info``'s contract from ``info.card`` (a sidecar card), else
    the parts in ``declared`` that ``info`` already holds (cnnviz's own zoo),
    else the graph, else the default. Options come after: :func:`declare`."""
    card = info.card or {}
    n = n_outputs(model)
    _graph_input(model, info)
    _graph_family(model, info)
    if card.get("preprocessing") in PREPROCESSINGS:
        info.preprocessing, info.preprocessing_note = card["preprocessing"], ""
        _set(info, "preprocessing", "card", card_name(info))
    elif "preprocessing" in declared:
        _set(info, "preprocessing", "cnnviz", "")
    else:
        _graph_preprocessing(model, info)
    card_classes = tuple(str(c) for c in card.get("classes", ()))
    numbered = classes_for(None, n)
    if card_classes and len(card_classes) == n:
        info.classes = card_classes
        _set(info, "classes", "card", card_name(info))
    elif "classes" in declared and len(info.classes) == n:
        _set(info, "classes", "cnnviz", "")
    elif info.dataset and classes_for(info.dataset, n) != numbered:
        info.classes = classes_for(info.dataset, n)
        _set(info, "classes", "card" if card.get("dataset") else "graph", f"the {info.dataset} classes")
    else:
        info.classes = numbered
        mismatch = f"; the card's {len(card_classes)} names do not fit its {n} outputs" if card_classes else ""
        _set(info, "classes", "default", f"numbered, as nothing names them{mismatch}: give --classes or write "
                                         "them in the model card (cnnviz card MODEL --classes ...)")
    if card.get("output") in OUTPUTS:
        info.output = card["output"]
        _set(info, "output", "card", card_name(info))
    else:
        activation = final_activation(model)
        info.output = "probability" if activation == "softmax" else "logit"
        _set(info, "output", "graph", "a final softmax" if activation == "softmax"
             else f"no final softmax (last activation: {activation})")
    return info


def declare(model, info: ModelInfo, *, preprocessing: Optional[str] = None, classes=None,
            output: Optional[str] = None) -> ModelInfo:
    """Override parts of ``info``'s contract with options given explicitly
    (they win over the card, the graph and the default)."""
    check_options(preprocessing, output)
    if preprocessing is not None:
        info.preprocessing = preprocessing
        info.preprocessing_note = f"input {PREPROCESSING_TEXT[preprocessing]}, as given"
        _set(info, "preprocessing", "option", "")
    names = read_classes(classes)
    if names:
        n = n_outputs(model)
        if n and len(names) != n:
            raise CnnvizError(f"{len(names)} class names given but {info.name} has {n} outputs: give one name "
                              "per output, in the model's output order")
        info.classes = names
        _set(info, "classes", "option", "")
    if output is not None:
        info.output = output
        _set(info, "output", "option", "")
    return info


def card_name(info: ModelInfo) -> str:
    return Path(info.path).stem + ".card.json" if info.path else ""
