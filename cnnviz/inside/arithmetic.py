"""How one unit computes its value, step by step, on the user's own model and
image (what CNN Explainer shows for its fixed TinyVGG; Wang et al., 2020):

- a convolution unit: the input patch under its window (every input
  channel), the kernel, their element-wise products, the sum plus the bias,
  the activation, and the value, checked against the layer's own map;
- a pooling unit (max or average): the window of its channel and which
  entry wins (or their mean);
- a dense unit: its inputs, weights, products, sum plus bias, activation;
  for a softmax head every class's logit and probability.

And the lectures' fixed kernels (box and Gaussian smoothing, Sobel gradients)
applied to an image, with the same arithmetic at a chosen pixel.

The layer's input and output come from one batched call of a sub-model; the
arithmetic is redone here in NumPy, so ``matches`` says the explanation is
the computation and not a story about it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

from ..common.errors import CnnvizError
from ..common.validate import api, model_batch
from ..models.graph import feature_model, get_layer, qualified_name

CONV, MAX_POOL, AVERAGE_POOL, DENSE = "conv", "max_pool", "average_pool", "dense"
KINDS = {"Conv2D": CONV, "MaxPooling2D": MAX_POOL, "AveragePooling2D": AVERAGE_POOL, "Dense": DENSE}
RTOL, ATOL = 1e-4, 1e-5          # float32 sums in a different order


@dataclass
class UnitArithmetic:
    """Every step of one unit's computation (arrays as float64)."""

    layer: str
    kind: str                         # conv, max_pool, average_pool, dense (see KINDS) or a fixed kernel's name
    channel: int
    at: Optional[tuple[int, int]]     # (row, col) in the layer's map; None for a dense unit
    patch: np.ndarray                 # conv (kh, kw, cin) / pool (ph, pw) input window; dense (n,) inputs
    kernel: Optional[np.ndarray]      # the weights the patch meets (None for pooling)
    products: Optional[np.ndarray]    # patch * kernel (None for pooling)
    valid: np.ndarray                 # bool, patch's shape: inside the input (False: padding)
    window: tuple[int, int] = (0, 0)  # input (row, col) of the patch's top-left entry (negative in padding)
    total: float = 0.0                # sum of products; pooling: the max or the mean
    bias: float = 0.0
    pre_activation: float = 0.0       # total + bias
    activation: str = "linear"
    value: float = 0.0                # what this arithmetic gives
    map_value: Optional[float] = None  # what the layer gave at that unit
    winner: Optional[tuple[int, int]] = None   # max pooling: the window entry that wins
    logits: Optional[np.ndarray] = None        # softmax head: every class's pre-activation
    probabilities: Optional[np.ndarray] = None

    @property
    def matches(self) -> bool:
        """Whether the step-by-step value equals the layer's (to float32 rounding)."""
        return self.map_value is None or math.isclose(self.value, self.map_value, rel_tol=RTOL, abs_tol=ATOL)

    def to_json(self) -> dict:
        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v

        keys = ("layer", "kind", "channel", "at", "window", "total", "bias", "pre_activation", "activation",
                "value", "map_value", "winner", "patch", "kernel", "products", "valid", "logits", "probabilities")
        return {**{k: plain(getattr(self, k)) for k in keys}, "matches": self.matches}


def same_padding(n: int, kernel: int, stride: int) -> int:
    """TensorFlow's padding before the first input entry for 'same': floor(total / 2)."""
    return max((math.ceil(n / stride) - 1) * stride + kernel - n, 0) // 2


@api
def unit_arithmetic(model, image, layer: str, at: Optional[tuple[int, int]] = None, channel: int = 0,
                    io: Optional[tuple[np.ndarray, np.ndarray]] = None) -> UnitArithmetic:
    """How unit ``at`` = (row, col) of ``channel`` in ``layer`` (a Conv2D,
    MaxPooling2D, AveragePooling2D or Dense layer) computes its value on
    ``image`` (the model's preprocessed input, (H, W, C)). ``io``, the
    layer's input and output from :func:`layer_io`, saves the model call
    when many units of one layer and image are asked for (stepping the
    window across the map)."""
    name, target = _arithmetic_layer(model, layer)
    kind = KINDS[type(target).__name__]
    inputs, outputs = io if io is not None else layer_io(model, image, name)
    n_channels = outputs.shape[-1]
    if not 0 <= channel < n_channels:
        raise CnnvizError(f"channel {channel} is not in {name}, which has {n_channels}: use 0 to {n_channels - 1}")
    if kind == DENSE:
        if inputs.ndim != 1:
            raise CnnvizError(f"{name} is a Dense layer on feature maps (a 1x1 convolution): pick a Dense layer "
                              "on a vector")
        return _dense(name, target, inputs, outputs, channel)
    h, w = outputs.shape[:2]
    if at is None:
        raise CnnvizError(f"give the unit's position in {name}'s {h}x{w} map: at=(row, col)")
    row, col = (int(v) for v in at)
    if not (0 <= row < h and 0 <= col < w):
        raise CnnvizError(f"unit ({row}, {col}) is outside {name}'s {h}x{w} map: use rows 0-{h - 1}, "
                          f"columns 0-{w - 1}")
    if kind == CONV:
        return _conv(name, target, inputs, outputs, row, col, channel)
    return _pool(name, target, kind, inputs, outputs, row, col, channel)


def _arithmetic_layer(model, layer: str):
    """The qualified name and the layer, if the arithmetic covers its kind."""
    name = qualified_name(model, layer)
    target = get_layer(model, name)
    if type(target).__name__ not in KINDS:
        raise CnnvizError(f"layer {name} is a {type(target).__name__}: the step-by-step arithmetic covers "
                          f"{', '.join(KINDS)} layers; pick one of those")
    return name, target


@api
def layer_io(model, image, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """A layer's input and output for one image (batch axis dropped, float64), from one model call."""
    x = model_batch(model, image, "image")[:1]
    name, target = _arithmetic_layer(model, layer)
    producer = _producer(model, name, target)
    names = [name] if producer is None else [producer, name]
    outs = feature_model(model, names, x.shape[1:])(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    values = [np.asarray(o, np.float64)[0] for o in outs]
    return (x[0].astype(np.float64), values[0]) if producer is None else (values[0], values[1])


def _producer(model, name: str, layer) -> Optional[str]:
    """The qualified name of the layer whose output ``layer`` reads, or None for the model's input."""
    node = layer._inbound_nodes[0]
    if len(node.input_tensors) != 1:
        raise CnnvizError(f"layer {name} reads {len(node.input_tensors)} tensors: the arithmetic takes one input")
    source = node.input_tensors[0]._keras_history.operation
    if type(source).__name__ == "InputLayer":
        if "/" in name:
            raise CnnvizError(f"layer {name} is the first of a nested model: pick the layer before it instead")
        return None
    prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    return prefix + source.name


def _window_rows(n_in: int, index: int, kernel: int, stride: int, dilation: int, padding: str):
    pad = same_padding(n_in, dilation * (kernel - 1) + 1, stride) if padding == "same" else 0
    taps = index * stride - pad + np.arange(kernel) * dilation
    return taps, (taps >= 0) & (taps < n_in)


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _gather(inputs: np.ndarray, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    (r, r_ok), (c, c_ok) = rows, cols
    valid = r_ok[:, None] & c_ok[None, :]
    patch = inputs[np.clip(r, 0, inputs.shape[0] - 1)][:, np.clip(c, 0, inputs.shape[1] - 1)]
    patch = np.where(valid[..., None] if patch.ndim == 3 else valid, patch, 0.0)
    return patch, valid


def _activate(layer, value):
    """The layer's activation applied to ``value`` (a number or array), and its name."""
    import keras

    activation = getattr(layer, "activation", None) or keras.activations.linear
    name = getattr(activation, "__name__", "linear")
    return np.asarray(keras.ops.convert_to_numpy(activation(np.asarray(value, np.float32))), np.float64), name


def _conv(name, layer, inputs, outputs, row, col, channel) -> UnitArithmetic:
    (kh, kw), (sh, sw), (dh, dw) = _pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate)
    if getattr(layer, "groups", 1) != 1:
        raise CnnvizError(f"{name} is a grouped convolution: the arithmetic covers ordinary ones")
    rows = _window_rows(inputs.shape[0], row, kh, sh, dh, layer.padding)
    cols = _window_rows(inputs.shape[1], col, kw, sw, dw, layer.padding)
    patch, valid = _gather(inputs, rows, cols)
    kernel = np.asarray(layer.kernel.numpy(), np.float64)[..., channel]
    products = patch * kernel
    total = float(products.sum())
    bias = float(layer.bias.numpy()[channel]) if layer.use_bias else 0.0
    value, activation = _activate(layer, total + bias)
    return UnitArithmetic(name, CONV, channel, (row, col), patch, kernel, products, valid,
                          (int(rows[0][0]), int(cols[0][0])), total, bias, total + bias, activation, float(value),
                          float(outputs[row, col, channel]))


def _pool(name, layer, kind, inputs, outputs, row, col, channel) -> UnitArithmetic:
    (ph, pw), (sh, sw) = _pair(layer.pool_size), _pair(layer.strides)
    rows = _window_rows(inputs.shape[0], row, ph, sh, 1, layer.padding)
    cols = _window_rows(inputs.shape[1], col, pw, sw, 1, layer.padding)
    patch, valid = _gather(inputs[..., channel], rows, cols)
    winner = None
    if kind == MAX_POOL:
        masked = np.where(valid, patch, -np.inf)
        winner = tuple(int(v) for v in np.unravel_index(int(np.argmax(masked)), masked.shape))
        total = float(masked[winner])
    else:
        total = float(patch[valid].mean())           # TensorFlow's average leaves the padding out
    return UnitArithmetic(name, kind, channel, (row, col), patch, None, None, valid,
                          (int(rows[0][0]), int(cols[0][0])), total, 0.0, total, "linear", total,
                          float(outputs[row, col, channel]), winner=winner)


def _dense(name, layer, inputs, outputs, channel) -> UnitArithmetic:
    weights = np.asarray(layer.kernel.numpy(), np.float64)
    biases = np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias else np.zeros(weights.shape[1])
    products = inputs * weights[:, channel]
    total = float(products.sum())
    bias = float(biases[channel])
    logits = inputs @ weights + biases
    probabilities, activation = _activate(layer, logits)
    value = float(probabilities[channel])
    softmax = activation == "softmax"
    return UnitArithmetic(name, DENSE, channel, None, inputs, weights[:, channel], products,
                          np.ones(inputs.shape, bool), (0, 0), total, bias, total + bias, activation, value,
                          float(outputs[channel]), logits=logits if softmax else None,
                          probabilities=probabilities if softmax else None)


# ---------------------------------------------------------------- fixed kernels

def _gaussian(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


FIXED_KERNELS: dict[str, np.ndarray] = {
    "box": np.full((3, 3), 1 / 9),
    "gaussian": _gaussian(),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64),      # responds to left-to-right change
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64),      # top-to-bottom change
}
FIXED_TEXT = {"box": "3x3 box (mean) smoothing", "gaussian": "5x5 Gaussian smoothing (sigma 1)",
              "sobel_x": "Sobel gradient along x", "sobel_y": "Sobel gradient along y"}


def _fixed(name: str) -> np.ndarray:
    if name not in FIXED_KERNELS:
        raise CnnvizError(f"unknown fixed kernel {name!r}: use one of {', '.join(FIXED_KERNELS)}")
    return FIXED_KERNELS[name]


def _gray(image) -> np.ndarray:
    image = np.asarray(image, np.float64)
    if image.ndim == 3:
        image = image.mean(axis=-1)
    if image.ndim != 2:
        raise CnnvizError(f"a fixed kernel filters one image (H, W) or (H, W, C), not shape {image.shape}")
    return image


@api
def apply_fixed_kernel(image, kernel: str) -> np.ndarray:
    """The image (its grey levels) correlated with a fixed kernel, as a CNN
    layer does (no flip), zero beyond the edge: the lectures' smoothing and
    gradient pictures."""
    return ndimage.correlate(_gray(image), _fixed(kernel), mode="constant", cval=0.0)


@api
def fixed_kernel_arithmetic(image, kernel: str, at: tuple[int, int]) -> UnitArithmetic:
    """The arithmetic of :func:`apply_fixed_kernel` at pixel ``at`` = (row, col)."""
    gray, weights = _gray(image), _fixed(kernel)
    row, col = (int(v) for v in at)
    if not (0 <= row < gray.shape[0] and 0 <= col < gray.shape[1]):
        raise CnnvizError(f"pixel ({row}, {col}) is outside the {gray.shape[0]}x{gray.shape[1]} image")
    k = weights.shape[0]
    rows = _window_rows(gray.shape[0], row, k, 1, 1, "same")
    cols = _window_rows(gray.shape[1], col, k, 1, 1, "same")
    patch, valid = _gather(gray, rows, cols)
    products = patch * weights
    total = float(products.sum())
    filtered = apply_fixed_kernel(gray, kernel)[row, col]
    return UnitArithmetic(kernel, kernel, 0, (row, col), patch, weights, products, valid,
                          (int(rows[0][0]), int(cols[0][0])), total, 0.0, total, "linear", total, float(filtered))
