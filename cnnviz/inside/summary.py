"""The lecture's layer table (name, type, output shape, parameters, receptive
field) and the model zoo listing."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..models import zoo
from .receptive import LayerEntry, catalogue


@dataclass
class Summary:
    model: str
    layers: list[LayerEntry]
    total: int
    trainable: int
    non_trainable: int
    weights: str = ""            # what an untrained model's outputs must say ("" when trained)
    contract: dict = field(default_factory=dict)        # part -> value, source, why (ModelInfo.contract)
    contract_lines: list = field(default_factory=list)  # the same, one line a part

    def to_json(self) -> dict:
        data = {**asdict(self), "layers": [asdict(r) for r in self.layers]}
        del data["contract_lines"]
        return data


def _count(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)     # by shape: an architecture-only model has no values


def summarize(model) -> Summary:
    """The layer catalogue (with receptive fields) and parameter totals."""
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    info = zoo.model_info(model)
    return Summary(info.name, catalogue(model), trainable + non_trainable, trainable, non_trainable,
                   zoo.weights_note(model), info.contract(), info.describe())


def _shape_text(shape) -> str:
    return str((None, *shape)) if shape is not None else "?"


def _pair_text(pair) -> str:
    if pair is None:
        return "-"
    values = [f"{v:g}" for v in pair]
    return values[0] if values[0] == values[1] else "x".join(values)


def format_summary(summary: Summary) -> str:
    """The table as text, like Keras' ``model.summary()``, plus each layer's
    receptive-field size and jump (effective stride) in input pixels."""
    header = ("Layer (type)", "Output shape", "Param #", "RF size", "RF jump")
    lines = [(f"{'  ' * r.name.count('/')}{r.name.split('/')[-1]} ({r.type})", _shape_text(r.output_shape),
              f"{r.params:,}", _pair_text(r.rf_size) if r.rf_size else ("all" if "whole input" in r.note else "?"),
              _pair_text(r.rf_jump)) for r in summary.layers]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}  {{:>{widths[3]}}}  {{:>{widths[4]}}}"
    rule = "-" * (sum(widths) + 8)
    out = [f'Model: "{summary.model}"', rule, fmt.format(*header), rule]
    out += [fmt.format(*line) for line in lines]
    out += [rule, f"Total params: {summary.total:,}", f"Trainable params: {summary.trainable:,}",
            f"Non-trainable params: {summary.non_trainable:,}"]
    notes = sorted({r.note for r in summary.layers if r.note and "whole input" not in r.note})
    if summary.weights:
        notes.insert(0, summary.weights)
    contract = ["", "Contract (how cnnviz reads the model; `cnnviz card` declares it):"]
    contract += [f"  {line}" for line in summary.contract_lines]
    return "\n".join(out + [f"Note: {n}" for n in notes] + (contract if summary.contract_lines else []))


def zoo_listing() -> list[dict]:
    """Every zoo model (the shipped ones, the decks' architectures, VGG16):
    dataset, input shape, parameters, its lecture deck, whether a trained
    copy ships, and its test accuracy from the model card."""
    rows = []
    for name in (*zoo.ARCHS, *zoo.DECK_ARCHS, *zoo.VGG16_NAMES):
        path = zoo.shipped_model_path(name) if name in zoo.ARCHS else None
        card = zoo.read_card(path) if path is not None and path.is_file() else {}
        if card:
            shape, params = card["input_shape"], card["parameters"]
        else:
            with zoo.shapes_only():
                model = zoo.build_model(name)
            shape, params = list(model.inputs[0].shape[1:]), model.count_params()
        arch = zoo.ARCHITECTURES.get(name)
        rows.append({"name": name, "dataset": arch.dataset if arch else "imagenet", "input_shape": shape,
                     "parameters": params, "deck": arch.deck if arch else "",
                     "description": arch.description if arch else "keras.applications.VGG16",
                     "shipped": bool(card) or name in zoo.VGG16_NAMES,
                     "test_accuracy": card.get("metrics", {}).get("test_accuracy"),
                     "weights": "shipped" if card else (_vgg16_weights(zoo.VGG16_NAMES[name])
                                                        if name in zoo.VGG16_NAMES else "not trained")})
    return rows


def _vgg16_weights(include_top: bool) -> str:
    """Whether VGG16's ImageNet weights are on disk or would be downloaded."""
    if zoo.vgg16_weights_available(include_top):
        return "ImageNet (on disk)"
    return "ImageNet, not on disk: downloaded on first use (--weights none: random)"
