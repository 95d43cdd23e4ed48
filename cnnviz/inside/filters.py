"""Filter weights as images: first-layer filters in gray or RGB, deeper filters
as one small image per (filter, input channel)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.validate import api
from ..models.graph import get_layer, layer_names

NORMALIZATIONS = ("filter", "layer")
CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")


@dataclass
class FilterWeights:
    layer: str
    kernel: np.ndarray            # as layer.get_weights()[0]: (kh, kw, in, out)
    bias: Optional[np.ndarray]
    images: np.ndarray            # (out, in, kh, kw) scaled to [0, 1]
    normalize: str

    @property
    def shape(self) -> tuple:
        """The kernel's shape as ``get_weights()`` reports it, e.g. (3, 3, 1, 8)."""
        return tuple(self.kernel.shape)

    @property
    def as_rgb(self) -> Optional[np.ndarray]:
        """(out, kh, kw, 3) colour filters when the layer sees 3 channels."""
        return self.images.transpose(0, 2, 3, 1) if self.images.shape[1] == 3 else None


def conv_layers(model) -> list[str]:
    """Qualified names of the model's convolution layers, in graph order."""
    return [n for n in layer_names(model) if type(get_layer(model, n)).__name__ in CONV_TYPES]


@api
def filter_weights(model, layer: Optional[str] = None, normalize: str = "filter") -> FilterWeights:
    """The kernel of ``layer`` (default: the first convolution) as images in
    [0, 1], each filter scaled by its own range (``"filter"``) or all by the
    layer's range (``"layer"``)."""
    if normalize not in NORMALIZATIONS:
        raise CnnvizError(f"unknown normalization {normalize!r}: use filter or layer")
    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise CnnvizError(f"{model.name} has no convolution layer: filters exist only for Conv2D-like layers")
        layer = convs[0]
    target = get_layer(model, layer)
    if type(target).__name__ not in CONV_TYPES:
        raise CnnvizError(f"layer {layer} is a {type(target).__name__}, which has no filters: "
                          f"use one of {', '.join(convs) or 'none'}")
    weights = target.get_weights()
    kernel = weights[0]
    bias = weights[-1] if getattr(target, "use_bias", False) else None
    images = kernel.transpose(3, 2, 0, 1).astype(np.float32)       # (out, in, kh, kw)
    axes = (1, 2, 3) if normalize == "filter" else (0, 1, 2, 3)
    lo, hi = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    images = (images - lo) / np.maximum(hi - lo, 1e-12)
    return FilterWeights(layer, kernel, bias, images, normalize)
