"""Activation maps: every channel of any set of layers for a batch of images,
in one forward pass through a multi-output feature model built once per model
and layer set; normalization per channel, per layer or global (as CNN
Explainer offers)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.validate import api, model_batch, numeric_array
from ..models.engine import features
from ..models.graph import get_layer, layer_names, qualified_name

SCOPES = ("channel", "layer", "global")


def spatial_layers(model) -> list[str]:
    """Qualified names of layers whose output is a (H, W, C) map."""
    names = []
    for name in layer_names(model):
        layer = get_layer(model, name)
        try:
            if len(layer.output.shape) == 4 and not hasattr(layer, "layers"):
                names.append(name)
        except (AttributeError, ValueError):
            continue
    return names


@api
def activations(model, images: np.ndarray, layers: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
    """Activation maps ``{layer: (N, h, w, C)}`` for preprocessed ``images``
    (N, H, W, C); default layers: every spatial layer."""
    spatial = spatial_layers(model)
    if not spatial:
        raise CnnvizError(f"{model.name} has no layer with spatial (H, W, C) output: activation maps need a CNN")
    images = model_batch(model, images)
    names = [qualified_name(model, name) for name in (layers or spatial)]
    for name in names:
        if name not in spatial:
            raise CnnvizError(f"layer {name} has no spatial output: use one of {', '.join(spatial)}")
    return dict(zip(names, features(model, images, tuple(names))))


def normalize_maps(maps: dict[str, np.ndarray], scope: str = "channel") -> dict[str, np.ndarray]:
    """Scale maps to [0, 1] by the range of each channel (of each image), of
    each layer, or of all layers together."""
    if scope not in SCOPES:
        raise CnnvizError(f"unknown normalization scope {scope!r}: use channel, layer or global")
    maps = {k: numeric_array(m, f"maps[{k!r}]") for k, m in maps.items()}      # NaN or inf: one line naming it
    if scope == "global":
        lo = min(float(m.min()) for m in maps.values())
        hi = max(float(m.max()) for m in maps.values())
        return {k: (m - lo) / max(hi - lo, 1e-12) for k, m in maps.items()}
    axes = (1, 2) if scope == "channel" else (1, 2, 3)
    out = {}
    for k, m in maps.items():
        lo, hi = m.min(axis=axes, keepdims=True), m.max(axis=axes, keepdims=True)
        out[k] = (m - lo) / np.maximum(hi - lo, 1e-12)
    return out
