"""Receptive fields by the standard recurrence (Araujo, Norris & Sim,
"Computing receptive fields of convolutional neural networks", Distill 2019),
the layer catalogue that shows them, the input box a unit sees, and the
effective receptive field by gradients (Luo et al. 2016).

Per spatial axis a field is (size r, jump j, start s): a unit at index i of a
layer sees input pixels centred at ``s + i*j`` spanning ``r`` pixels. Through a
layer with kernel k, dilation d, stride t and left padding p (as TensorFlow
places it: for 'same', floor(total/2) on the left):

    k' = d(k-1)+1,   r' = r + (k'-1) j,   s' = s + ((k'-1)/2 - p) j,   j' = j t
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.validate import api, model_batch
from ..models.graph import feature_model, get_layer, qualified_name, trace

IDENTITY_LAYERS = {
    "InputLayer", "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "Normalization", "Rescaling", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "Identity", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
    "RandomBrightness", "Masking",
    "LayerScale", "StochasticDepth",    # ConvNeXt's per-channel scale and residual drop (keras.applications)
}
WINDOW_LAYERS = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D"}
MERGE_LAYERS = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
GLOBAL_LAYERS = {"Flatten", "Dense", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Reshape"}


@dataclass(frozen=True)
class Field:
    """Receptive field of a spatial layer, per axis (rows, columns)."""

    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]          # input coordinate of unit (0, 0)'s centre
    note: str = ""                      # e.g. branches that disagree in stride

    def box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """(top, left, bottom, right) input pixels, inclusive, unclipped."""
        top = self.start[0] + row * self.jump[0] - (self.size[0] - 1) / 2
        left = self.start[1] + col * self.jump[1] - (self.size[1] - 1) / 2
        return top, left, top + self.size[0] - 1, left + self.size[1] - 1


@dataclass(frozen=True)
class Unmapped:
    """A layer past which spatial fields are undefined, and why."""

    reason: str
    global_: bool = False               # True: every unit sees the whole input (after Flatten/Dense...)


INPUT_FIELD = Field((1, 1), (1, 1), (0, 0))


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _same_left_pad(n: Optional[int], k: int, s: int) -> int:
    """TensorFlow's left/top padding for 'same': floor(total / 2)."""
    if n is None:  # size unknown until an image comes: assume one the stride divides
        total = max(k - s, 0)
    else:
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2


def _window(layer) -> tuple[tuple, tuple, tuple, str]:
    """(kernel, stride, dilation, padding) of a convolution or pooling layer."""
    if hasattr(layer, "pool_size"):
        return _pair(layer.pool_size), _pair(layer.strides), (1, 1), layer.padding
    return _pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate), layer.padding


def _input_size(node, axis: int) -> Optional[int]:
    try:
        return node.input_tensors[0].shape[1 + axis]
    except (AttributeError, IndexError):
        return None


def _through_window(layer, node, f: Field) -> Field:
    kernel, stride, dilation, padding = _window(layer)
    size, jump, start = [], [], []
    for a in range(2):
        k_eff = dilation[a] * (kernel[a] - 1) + 1
        pad = _same_left_pad(_input_size(node, a), k_eff, stride[a]) if padding == "same" else 0
        size.append(f.size[a] + (k_eff - 1) * f.jump[a])
        start.append(f.start[a] + ((k_eff - 1) / 2 - pad) * f.jump[a])
        jump.append(f.jump[a] * stride[a])
    return Field(tuple(size), tuple(jump), tuple(start), f.note)


def _through_padding(layer, f: Field, sign: int) -> Field:
    """ZeroPadding2D (sign -1: unit 0 moves before the input) or Cropping2D (+1)."""
    amounts = layer.padding if hasattr(layer, "padding") and sign < 0 else layer.cropping
    (top, _), (left, _) = amounts
    start = (f.start[0] + sign * top * f.jump[0], f.start[1] + sign * left * f.jump[1])
    return Field(f.size, f.jump, start, f.note)


def _merge(layer, fields: Sequence) -> Field | Unmapped:
    """The union of the branches' fields."""
    unmapped = [f for f in fields if isinstance(f, Unmapped)]
    if unmapped:
        return unmapped[0]
    note = ""
    if len({f.jump for f in fields}) > 1:
        note = (f"branches into {layer.name} disagree in stride "
                f"({', '.join(str(f.jump) for f in fields)}): the field is the union at unit (0, 0)")
    lo = [min(f.start[a] - (f.size[a] - 1) / 2 for f in fields) for a in range(2)]
    hi = [max(f.start[a] + (f.size[a] - 1) / 2 for f in fields) for a in range(2)]
    jump = tuple(max(f.jump[a] for f in fields) for a in range(2))
    return Field(tuple(hi[a] - lo[a] + 1 for a in range(2)), jump,
                 tuple((lo[a] + hi[a]) / 2 for a in range(2)), note or next((f.note for f in fields if f.note), ""))


def _pointwise(layer, node) -> bool:
    """Whether a layer maps each spatial position on its own: the identity
    layers, and Dense on feature maps (a 1x1 convolution, as in ConvNeXt)."""
    kind = type(layer).__name__
    if kind in IDENTITY_LAYERS:
        return True
    if kind != "Dense":
        return False
    try:
        shape = node.input_tensors[0].shape if node is not None else layer.input.shape
    except (AttributeError, IndexError, ValueError):
        return False
    return len(shape) == 4


def _propagate(layer, node, args):
    kind = type(layer).__name__
    if kind in MERGE_LAYERS:
        return _merge(layer, args)
    f = args[0]
    if isinstance(f, Unmapped):
        return f
    if _pointwise(layer, node):
        return f
    if kind in WINDOW_LAYERS:
        return _through_window(layer, node, f)
    if kind == "ZeroPadding2D":
        return _through_padding(layer, f, -1)
    if kind == "Cropping2D":
        return _through_padding(layer, f, +1)
    if kind in GLOBAL_LAYERS:
        return Unmapped(f"{layer.name} ({kind}) is not spatial: each unit sees the whole input", global_=True)
    return Unmapped(f"cannot map receptive fields through {layer.name} ({kind}): "
                    "only convolutions, pooling, padding, cropping, merges and pointwise layers are mapped")


class Fields(dict):
    """Receptive fields by qualified layer name; an unknown name is a
    CnnvizError listing the layers (not a bare KeyError)."""

    def __missing__(self, name):
        close = difflib.get_close_matches(str(name), list(self), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CnnvizError(f"no layer {name!r} in this model: {hint}its layers are {', '.join(self)}")


def receptive_fields(model) -> Fields:
    """Every layer's receptive field, by qualified layer name, in graph order."""
    record = Fields()
    trace(model, [INPUT_FIELD] * len(model.inputs), _propagate, record)
    return record


def receptive_field(model, layer: str) -> Field:
    """The receptive field of one layer; a clear error if it has none."""
    f = receptive_fields(model)[qualified_name(model, layer)]
    if isinstance(f, Unmapped):
        raise CnnvizError(f"layer {layer} has no spatial receptive field: {f.reason}")
    return f


# ---------------------------------------------------------------- catalogue

@dataclass
class LayerEntry:
    name: str
    type: str
    output_shape: Optional[tuple]
    params: int
    kernel: Optional[tuple] = None
    stride: Optional[tuple] = None
    padding: Optional[str] = None
    dilation: Optional[tuple] = None
    rf_size: Optional[tuple] = None
    rf_jump: Optional[tuple] = None
    rf_start: Optional[tuple] = None
    note: str = ""


def catalogue(model) -> list[LayerEntry]:
    """Every layer with its geometry and receptive field (size, jump and the
    input position of unit (0, 0)'s centre); nested layers as ``outer/inner``."""
    fields = receptive_fields(model)
    entries = []
    for name, f in fields.items():
        layer = get_layer(model, name)
        out = _output_shape(layer)
        params = layer.count_params() if hasattr(layer, "count_params") else 0     # a Keras operation: none
        entry = LayerEntry(name, type(layer).__name__, out, params)
        if type(layer).__name__ in WINDOW_LAYERS:
            k, s, d, p = _window(layer)
            entry.kernel, entry.stride, entry.dilation, entry.padding = k, s, d, p
        if isinstance(f, Field):
            entry.rf_size, entry.rf_jump, entry.rf_start, entry.note = f.size, f.jump, f.start, f.note
        else:
            entry.note = f.reason
        entries.append(entry)
    return entries


def _output_shape(layer):
    try:
        return tuple(layer.output.shape[1:])
    except (AttributeError, ValueError):
        return None


# ---------------------------------------------------------------- units
#
# The exact input pixels a unit sees: per axis and per output index, the
# interval of input pixels it depends on, propagated layer by layer and clipped
# at every layer (padding and cropping inside the network included), so that
# it equals the support of the unit's gradient.

@dataclass(frozen=True)
class _Support:
    lo: tuple[np.ndarray, np.ndarray]   # per axis, first input pixel seen by each index (inf: none)
    hi: tuple[np.ndarray, np.ndarray]   # per axis, last input pixel seen by each index (-inf: none)


def _support_window(layer, s: _Support) -> _Support:
    kernel, stride, dilation, padding = _window(layer)
    lo, hi = [], []
    for a in range(2):
        n = len(s.lo[a])
        k_eff = dilation[a] * (kernel[a] - 1) + 1
        if padding == "same":
            n_out, pad = math.ceil(n / stride[a]), _same_left_pad(n, k_eff, stride[a])
        else:
            n_out, pad = (n - k_eff) // stride[a] + 1, 0
        taps = np.arange(n_out)[:, None] * stride[a] - pad + np.arange(kernel[a])[None, :] * dilation[a]
        valid = (taps >= 0) & (taps < n)
        safe = np.clip(taps, 0, n - 1)
        lo.append(np.where(valid, s.lo[a][safe], np.inf).min(axis=1))
        hi.append(np.where(valid, s.hi[a][safe], -np.inf).max(axis=1))
    return _Support(tuple(lo), tuple(hi))


def _support_shift(layer, s: _Support, sign: int) -> _Support:
    amounts = layer.padding if sign < 0 else layer.cropping
    lo, hi = [], []
    for a in range(2):
        before, after = amounts[a]
        if sign < 0:
            lo.append(np.concatenate([np.full(before, np.inf), s.lo[a], np.full(after, np.inf)]))
            hi.append(np.concatenate([np.full(before, -np.inf), s.hi[a], np.full(after, -np.inf)]))
        else:
            end = len(s.lo[a]) - after
            lo.append(s.lo[a][before:end])
            hi.append(s.hi[a][before:end])
    return _Support(tuple(lo), tuple(hi))


def _propagate_support(layer, node, args):
    kind = type(layer).__name__
    if kind in MERGE_LAYERS:
        if any(isinstance(a, Unmapped) for a in args):
            return next(a for a in args if isinstance(a, Unmapped))
        if len({len(a.lo[0]) for a in args}) > 1 or len({len(a.lo[1]) for a in args}) > 1:
            return Unmapped(f"{layer.name} merges maps of different sizes")
        return _Support(tuple(np.minimum.reduce([a.lo[i] for a in args]) for i in range(2)),
                        tuple(np.maximum.reduce([a.hi[i] for a in args]) for i in range(2)))
    s = args[0]
    if isinstance(s, Unmapped) or _pointwise(layer, node):
        return s
    if kind in WINDOW_LAYERS:
        return _support_window(layer, s)
    if kind in ("ZeroPadding2D", "Cropping2D"):
        return _support_shift(layer, s, -1 if kind == "ZeroPadding2D" else +1)
    return _propagate(layer, node, [INPUT_FIELD])   # the same Unmapped reason as for fields


@dataclass
class UnitBox:
    """The input pixels a unit sees."""

    box: tuple[int, int, int,
               int]      # the theoretical field (top, left, bottom, right), inclusive; may leave the image
    clipped: tuple[int, int, int, int]  # the pixels it actually depends on (padding inside the network excluded)
    padding_fraction: float             # share of the theoretical field that is padding, not image


def unit_box(model, layer: str, row: int, col: int, image_size: Optional[tuple] = None) -> UnitBox:
    """The box of input pixels that unit (row, col) of ``layer`` sees, for an
    input of ``image_size`` (H, W; default the model's input size)."""
    f = receptive_field(model, layer)
    h, w = image_size or tuple(model.inputs[0].shape[1:3])
    if h is None or w is None:
        raise CnnvizError("this model takes any image size: pass image_size=(height, width)")
    start = _Support((np.arange(h, dtype=float), np.arange(w, dtype=float)),
                     (np.arange(h, dtype=float), np.arange(w, dtype=float)))
    record: dict = {}
    trace(model, [start] * len(model.inputs), _propagate_support, record)
    support = record[qualified_name(model, layer)]
    n_rows, n_cols = len(support.lo[0]), len(support.lo[1])
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        raise CnnvizError(f"unit ({row}, {col}) is outside {layer}'s {n_rows}x{n_cols} map")
    top, left, bottom, right = (int(round(v)) for v in f.box(row, col))
    seen = (support.lo[0][row], support.lo[1][col], support.hi[0][row], support.hi[1][col])
    clipped = tuple(int(v) for v in seen) if np.isfinite(seen).all() else (0, 0, -1, -1)
    inside = max(0, clipped[2] - clipped[0] + 1) * max(0, clipped[3] - clipped[1] + 1)
    return UnitBox((top, left, bottom, right), clipped, 1.0 - inside / ((bottom - top + 1) * (right - left + 1)))


# ---------------------------------------------------------------- effective field

@dataclass
class EffectiveField:
    heatmap: np.ndarray          # (H, W) mean |d unit / d input|, normalized to max 1
    size: float                  # side of the smallest centred square holding `mass` of the gradient
    theoretical: Field
    centre: tuple[int, int]      # the unit measured (row, col)
    mass: float = field(default=0.95)


@api
def effective_receptive_field(model, images: np.ndarray, layer: str, mass: float = 0.95,
                              batch_size: int = 64) -> EffectiveField:
    """The effective receptive field of ``layer``'s centre unit (Luo et al.
    2016): the gradient of that unit's summed channels with respect to the
    input, its absolute value averaged over ``images`` (preprocessed)."""
    import tensorflow as tf

    images = model_batch(model, images)
    if not 0 < mass <= 1:
        raise CnnvizError(f"mass={mass!r}: give a share of the gradient mass in (0, 1], e.g. 0.95")
    theoretical = receptive_field(model, layer)
    sub = feature_model(model, [layer])
    x = tf.convert_to_tensor(images[:1], tf.float32)
    oh, ow = sub(x).shape[1:3]
    centre = (oh // 2, ow // 2)

    @tf.function(reduce_retracing=True)
    def grads(batch):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            unit = tf.reduce_sum(sub(batch, training=False)[:, centre[0], centre[1], :])
        return tf.reduce_sum(tf.abs(tape.gradient(unit, batch)), axis=(0, 3))

    total = None
    for start in range(0, len(images), batch_size):
        g = grads(tf.convert_to_tensor(images[start:start + batch_size], tf.float32)).numpy()
        total = g if total is None else total + g
    heat = total / max(total.max(), 1e-12)
    top, left, bottom, right = theoretical.box(*centre)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    return EffectiveField(heat, _mass_square(heat, (cy, cx), mass), theoretical, centre, mass)


def _mass_square(heat: np.ndarray, centre: tuple[float, float], mass: float) -> float:
    """Side of the smallest square centred on ``centre`` holding ``mass`` of ``heat``."""
    total = heat.sum()
    if total <= 0:
        return 0.0
    rows, cols = np.indices(heat.shape)
    dist = np.maximum(np.abs(rows - centre[0]), np.abs(cols - centre[1]))   # Chebyshev distance
    order = np.argsort(dist, axis=None)
    cumulative = np.cumsum(heat.ravel()[order])
    radius = dist.ravel()[order][np.searchsorted(cumulative, mass * total)]
    return float(2 * radius + 1)
