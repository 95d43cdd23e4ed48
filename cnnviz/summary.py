"""The lecture's layer table (name, type, output shape, parameters) and the
model zoo listing."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from . import zoo


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: Optional[tuple]
    params: int
    depth: int = 0                 # nesting level inside sub-models


@dataclass
class Summary:
    model: str
    layers: list[LayerRow]
    total: int
    trainable: int
    non_trainable: int

    def to_json(self) -> dict:
        return {**asdict(self), "layers": [asdict(r) for r in self.layers]}


def output_shape(layer) -> Optional[tuple]:
    """A layer's output shape without the batch axis (None if not built)."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return None
    return tuple(shape[1:])


def _count(weights) -> int:
    return int(sum(int(w.numpy().size) for w in weights))


def layer_rows(model, depth: int = 0) -> list[LayerRow]:
    """One row per layer, sub-models followed by their own layers (indented)."""
    rows = []
    for layer in model.layers:
        rows.append(LayerRow(layer.name, type(layer).__name__, output_shape(layer), layer.count_params(), depth))
        if hasattr(layer, "layers") and layer.layers:
            rows.extend(layer_rows(layer, depth + 1))
    return rows


def summarize(model) -> Summary:
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    return Summary(model.name, layer_rows(model), trainable + non_trainable, trainable, non_trainable)


def format_summary(summary: Summary) -> str:
    """The table as text, like Keras' ``model.summary()``."""
    header = ("Layer (type)", "Output shape", "Param #")
    lines = [(f"{'  ' * r.depth}{r.name} ({r.type})",
              str((None, *r.output_shape)) if r.output_shape is not None else "?",
              f"{r.params:,}") for r in summary.layers]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{:>{widths[2]}}}"
    rule = "-" * (sum(widths) + 4)
    out = [f'Model: "{summary.model}"', rule, fmt.format(*header), rule]
    out += [fmt.format(*line) for line in lines]
    out += [rule, f"Total params: {summary.total:,}", f"Trainable params: {summary.trainable:,}",
            f"Non-trainable params: {summary.non_trainable:,}"]
    return "\n".join(out)


def zoo_listing() -> list[dict]:
    """Every zoo model: dataset, input shape, parameters, whether a trained
    copy ships, and its test accuracy from the model card."""
    rows = []
    for name in zoo.ZOO_NAMES:
        path = zoo.shipped_model_path(name) if name in zoo.ARCHS else None
        card = zoo.read_card(path) if path is not None and path.is_file() else {}
        if card:
            shape, params = card["input_shape"], card["parameters"]
        else:
            model = zoo.build_model(name)
            shape, params = list(model.inputs[0].shape[1:]), model.count_params()
        dataset = zoo.ARCHS[name].dataset if name in zoo.ARCHS else "imagenet"
        rows.append({"name": name, "dataset": dataset, "input_shape": shape, "parameters": params,
                     "shipped": bool(card) or name in zoo.VGG16_NAMES,
                     "test_accuracy": card.get("metrics", {}).get("test_accuracy"),
                     "weights": "shipped" if card else ("ImageNet (downloaded)" if name in zoo.VGG16_NAMES
                                                        else "not trained")})
    return rows
