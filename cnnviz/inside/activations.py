"""Activation maps: every channel of any set of layers for a batch of images,
in one forward pass through a multi-output feature model built once per model
and layer set; normalization per channel, per layer or global (as CNN
Explainer offers); and per-channel histograms of any layer's values (e.g. the
signal after batch normalization)."""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class ChannelHistograms:
    """The distribution of each channel's values over a batch of images (all
    positions of all images), on bins shared by the whole layer so channels
    compare: e.g. a layer's signal before and after batch normalization."""

    layer: str
    channels: np.ndarray           # (C,) channel indices
    edges: np.ndarray              # (bins + 1,) shared bin edges
    counts: np.ndarray             # (C, bins) values per bin
    mean: np.ndarray               # (C,)
    std: np.ndarray                # (C,)
    maximum: np.ndarray            # (C,) largest value (<= 0: the channel never fired)
    zero_fraction: np.ndarray      # (C,) fraction of values exactly 0 (ReLU's floor)
    n_images: int

    def to_json(self) -> dict:
        return {"layer": self.layer, "n_images": self.n_images, "edges": self.edges.tolist(),
                "channels": [{"channel": int(c), "counts": k.tolist(), "mean": float(m), "std": float(s),
                              "max": float(x), "zero_fraction": float(z)}
                             for c, k, m, s, x, z in zip(self.channels, self.counts, self.mean, self.std,
                                                         self.maximum, self.zero_fraction)]}


@api
def channel_histograms(model, images: np.ndarray, layer: str, channels: Optional[Sequence[int]] = None,
                       bins: int = 40) -> ChannelHistograms:
    """Per-channel histograms of ``layer``'s output (a map (h, w, C) or a
    vector (C,)) over preprocessed ``images``, from one batched forward pass."""
    if bins < 2:
        raise CnnvizError(f"bins must be at least 2 (got {bins})")
    images = model_batch(model, images)
    name = qualified_name(model, layer)
    shape = get_layer(model, name).output.shape
    if len(shape) not in (2, 4):
        raise CnnvizError(f"layer {name} outputs shape {tuple(shape)[1:]}: histograms need channels last, "
                          "(h, w, C) maps or (C,) vectors")
    (values,) = features(model, images, (name,))
    values = values.reshape(-1, values.shape[-1]).astype(np.float64)
    picked = np.arange(values.shape[-1]) if channels is None else np.asarray(channels, int)
    if picked.size == 0 or picked.min() < 0 or picked.max() >= values.shape[-1]:
        raise CnnvizError(f"channels {list(picked)} are not all in {name}'s 0..{values.shape[-1] - 1}")
    values = values[:, picked]
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    counts = np.stack([np.histogram(values[:, c], edges)[0] for c in range(values.shape[1])])
    return ChannelHistograms(name, picked, edges, counts, values.mean(0), values.std(0), values.max(0),
                             (values == 0).mean(0), len(images))
