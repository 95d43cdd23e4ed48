"""What a layer can reach at all: bounds on every unit's value over all valid
images (each pixel anywhere in its range), carried layer by layer as
intervals (interval bound propagation, Gowal et al. 2018).

The bounds are exact for the first layer and sound (never too tight) further
in. A channel whose upper bound is 0 after its ReLU cannot be activated by
any image: it is dead, not merely unlucky, which is how the synthesis
benchmark tells a dead channel from one that synthesis failed to drive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..common.errors import CnnvizError
from ..models.graph import qualified_name, trace
from ..models.preprocessing import pixels_to_input
from ..models.zoo import input_shape, model_info


class Interval(NamedTuple):
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class Unbounded:
    reason: str


# elementwise and non-decreasing: applied to both ends of an interval
MONOTONE_ACTIVATIONS = {"relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh", "softplus",
                        "linear", "exponential"}
MONOTONE_LAYERS = {"InputLayer", "ReLU", "LeakyReLU", "ELU", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                   "AveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                   "GlobalAveragePooling2D", "Flatten", "Reshape", "ZeroPadding2D", "Cropping2D", "Dropout",
                   "SpatialDropout2D", "GaussianNoise", "GaussianDropout"}
CONVOLUTIONS = {"Conv1D", "Conv2D"}


def _activation_name(layer) -> str:
    fn = getattr(layer, "activation", None)
    return getattr(fn, "__name__", str(fn)) if fn is not None else "linear"


def _monotone(layer, value: Interval) -> Interval:
    lo, hi = (np.asarray(layer(v, training=False)) for v in value)
    return Interval(lo, hi)


def _activate(layer, value: Interval):
    name = _activation_name(layer)
    if name not in MONOTONE_ACTIVATIONS:
        return Unbounded(f"{layer.name}'s activation {name} is not monotone")
    fn = layer.activation
    return Interval(np.asarray(fn(value.lo)), np.asarray(fn(value.hi)))


def _affine(layer, value: Interval, kind: str):
    """A convolution or dense layer through centre and radius: the centre
    through the layer, the radius through the absolute weights."""
    import keras

    centre, radius = (value.hi + value.lo) / 2, (value.hi - value.lo) / 2
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    if kind in CONVOLUTIONS:
        mid = np.asarray(layer.convolution_op(centre, kernel))
        spread = np.asarray(layer.convolution_op(radius, np.abs(kernel)))
    else:
        mid, spread = centre @ kernel, radius @ np.abs(kernel)
    if layer.use_bias:
        mid = mid + keras.ops.convert_to_numpy(layer.bias)
    return _activate(layer, Interval(mid - spread, mid + spread))


def _batch_norm(layer, value: Interval) -> Interval:
    """Inference batch normalization: a per-channel scale (of either sign) and shift."""
    import keras

    def get(w):
        return keras.ops.convert_to_numpy(w) if w is not None else None
    mean, var = get(layer.moving_mean), get(layer.moving_variance)
    gamma, beta = get(getattr(layer, "gamma", None)), get(getattr(layer, "beta", None))
    scale = (gamma if gamma is not None else 1.0) / np.sqrt(var + layer.epsilon)
    shift = (beta if beta is not None else 0.0) - mean * scale
    centre, radius = (value.hi + value.lo) / 2, (value.hi - value.lo) / 2
    return Interval(centre * scale + shift - radius * np.abs(scale), centre * scale + shift + radius * np.abs(scale))


def _propagate(layer, node, args):
    kind = type(layer).__name__
    if any(isinstance(a, Unbounded) for a in args):
        return next(a for a in args if isinstance(a, Unbounded))
    if kind == "Add":
        return Interval(sum(a.lo for a in args), sum(a.hi for a in args))
    if kind == "Concatenate":
        return Interval(*(np.concatenate([getattr(a, end) for a in args], axis=layer.axis) for end in ("lo", "hi")))
    value = args[0]
    if kind in CONVOLUTIONS or kind == "Dense":
        return _affine(layer, value, kind)
    if kind == "BatchNormalization":
        return _batch_norm(layer, value)
    if kind == "Activation":
        return _activate(layer, value)
    if kind in MONOTONE_LAYERS:
        return _monotone(layer, value)
    return Unbounded(f"no interval rule for {layer.name} ({kind})")


def input_interval(model) -> Interval:
    """The model's input range: every pixel anywhere in [0, 255], preprocessed."""
    h, w, c = input_shape(model)
    if h is None or w is None:
        raise CnnvizError(f"{model.name} takes any image size: bounds need a fixed input size")
    ends = [np.asarray(pixels_to_input(np.full((1, h, w, c), v, np.float32), model_info(model).preprocessing))
            for v in (0.0, 1.0)]
    return Interval(np.minimum(*ends), np.maximum(*ends))


def layer_bounds(model, layer: str) -> Interval:
    """Lower and upper bounds (1, h, w, channels) on ``layer``'s output over all valid images."""
    name = qualified_name(model, layer)
    record: dict = {}
    trace(model, [input_interval(model)] * len(model.inputs), _propagate, record)
    value = record[name]
    if isinstance(value, Unbounded):
        raise CnnvizError(f"cannot bound {name}: {value.reason}")
    return value


def dead_channels(model, layer: str) -> np.ndarray:
    """(channels,) bool: channels that no valid image can make positive anywhere."""
    hi = layer_bounds(model, layer).hi
    return hi.reshape(-1, hi.shape[-1]).max(axis=0) <= 0
