"""Synthesized images by activation maximization (Erhan et al. 2009; Simonyan,
Vedaldi & Zisserman 2014): gradient ascent on the input, starting from random
grey, so that one channel (or one unit) fires strongly, or so that one class's
pre-softmax score is high.

All requested channels (or classes) are optimized together in one batch, each
image maximizing its own target, with the regularizers that make the results
readable: random jitter, scale and rotation, L2 decay, periodic blur, total
variation, optionally a decorrelated Fourier-space parameterization (as in
Lucid) and several octaves. Images live in [0, 1] pixel space and are turned
into the model's input (VGG16's ``preprocess_input`` included) inside the graph.
The random transformations are drawn per step from the seed alone, so a batch
gives the same images as optimizing each channel on its own. Several images
per channel are optimized jointly with a diversity term (as Lucid and xplique
offer): a penalty on the cosine similarity of their Gram matrices at the
layer (Mordvintsev et al. 2018), so that each shows another facet of what the
channel responds to. With
``cache=True`` results are kept on disk (NPZ, keyed by the model's weights, the
targets and every setting).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import weakref
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional, Sequence

import numpy as np

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import write_npz
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api
from ..models.graph import feature_model, get_layer, qualified_name
from ..models.inputs import class_index
from ..models.predict import probabilities
from ..models.preprocessing import pixels_to_input
from ..models.surgery import logits_model, pre_activation_features
from ..models.zoo import input_shape, model_fingerprint, model_info


@dataclass(frozen=True)
class Regularization:
    """How the optimization is steered towards readable images."""

    steps: int = 256
    learning_rate: float = 0.05
    jitter: int = 2              # random shift, pixels
    scale: float = 0.0           # random zoom, +- fraction
    rotate: float = 0.0          # random rotation, +- degrees
    l2: float = 1e-3             # decay towards grey (weight of the mean squared deviation)
    blur_every: int = 4          # steps between Gaussian blurs of pixel images (0: never)
    blur_sigma: float = 0.5
    tv: float = 0.0              # total-variation weight
    fourier: bool = False        # decorrelated Fourier-space parameterization
    octaves: int = 1             # coarse-to-fine stages
    octave_scale: float = 1.4
    diversity: float = 0.0       # weight of the penalty on alike Gram matrices among one channel's images


LEAK = 0.1   # slope given to the negative side of the maximized ReLU
CHUNK = 32   # steps per compiled call; progress and cancel are checked between calls
CACHE_VERSION = 2   # part of every cache key: bump when the optimization changes
DEFAULT_DIVERSITY = 0.1   # with several images per channel: unlike images, activations nearly as high


def default_regularization(model) -> Regularization:
    """Defaults that work for the lecture models (28x28, 32x32) and VGG16:
    pixels with jitter and periodic blur on small inputs (smooth and still far
    above the best real images), Lucid's Fourier parameterization with
    transformations and two octaves on large ones."""
    h, w, _ = input_shape(model)
    side = max(h or 224, w or 224)
    if side <= 64:
        return Regularization()
    return Regularization(steps=128, jitter=8, scale=0.05, rotate=5.0, l2=1e-4, blur_every=0, fourier=True,
                          octaves=2)


@dataclass
class Synthesis:
    target: str                    # layer name, or "class"
    indices: np.ndarray            # channels or classes, one per image
    images: np.ndarray             # (N, H, W, C) float in [0, 1]
    activations: np.ndarray        # (N,) objective reached on the final images (no transformations)
    history: np.ndarray            # (steps, N) objective during the optimization
    probabilities: Optional[np.ndarray] = None   # (N,) target class probability, class models only
    settings: Regularization = field(default_factory=Regularization)
    from_cache: bool = False
    per_channel: int = 1           # consecutive images per target (N = targets x per_channel)
    cache_note: str = ""           # why a cached result was not used and was recomputed

    @property
    def uint8(self) -> np.ndarray:
        return np.clip(self.images * 255 + 0.5, 0, 255).astype(np.uint8)

    @property
    def by_channel(self) -> np.ndarray:
        """The images as (targets, per_channel, H, W, C)."""
        return self.images.reshape(-1, self.per_channel, *self.images.shape[1:])


def _image_size(model, size) -> tuple[int, int, int]:
    h, w, c = input_shape(model)
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
    if h is None or w is None:
        h, w = 224, 224
    return int(h), int(w), int(c)


# ---------------------------------------------------------------- parameterizations

# Lucid's square root of ImageNet's colour covariance (columns of unit-or-less norm):
# the spectrum is optimized in decorrelated colours, mixed back before the sigmoid
COLOUR_MIX = np.array([[0.5628, 0.5845, 0.5845],
                       [0.1948, 0.0000, -0.1948],
                       [0.0433, -0.1082, 0.0649]], np.float32)


def _fourier_scale(h: int, w: int):
    """Lucid's spectrum scale: 1/f (low frequencies move first), times the
    image side so that one learning rate suits every image size."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = np.sqrt(fx ** 2 + fy ** 2)
    return (np.sqrt(h * w) / np.maximum(freq, 1.0 / max(h, w))).astype(np.float32)


class _Pixels:
    """Images as their own [0, 1] pixels, clipped after every step."""

    def __init__(self, init: np.ndarray):
        self.shape = init.shape
        self.param = init.astype(np.float32)

    def image(self, param):
        return param

    def project(self, param):
        import tensorflow as tf

        return tf.clip_by_value(param, 0.0, 1.0)


class _Fourier:
    """Images as a 1/f-scaled spectrum in decorrelated colours through a
    sigmoid (Lucid's parameterization): steps move low frequencies first."""

    def __init__(self, init: np.ndarray):
        n, h, w, c = init.shape
        self.shape = init.shape
        self.scale = _fourier_scale(h, w)[None, None] / 4.0
        self.mix = COLOUR_MIX if c == 3 else np.eye(c, dtype=np.float32)
        clipped = np.clip(init, 1e-3, 1 - 1e-3)
        logit = np.log(clipped / (1 - clipped)) @ np.linalg.inv(self.mix)
        spectrum = np.fft.rfft2(logit.transpose(0, 3, 1, 2)) / self.scale
        self.param = np.stack([spectrum.real, spectrum.imag], -1).astype(np.float32)

    def image(self, param):
        import tensorflow as tf

        spectrum = tf.complex(param[..., 0], param[..., 1]) * tf.cast(self.scale, tf.complex64)
        spatial = tf.transpose(tf.signal.irfft2d(spectrum, fft_length=self.shape[1:3]), (0, 2, 3, 1))
        return tf.sigmoid(tf.tensordot(spatial, self.mix, 1))

    def project(self, param):
        return param


# ---------------------------------------------------------------- optimization

def _gaussian_kernel(sigma: float, channels: int):
    radius = max(1, int(round(2 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    k = np.outer(g, g)[:, :, None, None]
    return np.repeat(k, channels, axis=2).astype(np.float32)


def _transform_params(rng: np.random.Generator, reg: Regularization, steps: int) -> np.ndarray:
    """Per-step (dy, dx, zoom, angle) drawn from the seed alone."""
    return np.stack([rng.integers(-reg.jitter, reg.jitter + 1, steps),
                     rng.integers(-reg.jitter, reg.jitter + 1, steps),
                     1.0 + rng.uniform(-reg.scale, reg.scale, steps),
                     np.deg2rad(rng.uniform(-reg.rotate, reg.rotate, steps))], axis=1).astype(np.float32)


def _augment(x, t, h, w, reg: Regularization):
    """Shift a batch by the step's transform (a cheap roll when that is all),
    else shift, zoom and rotate it (bilinear)."""
    import keras
    import tensorflow as tf

    if not (reg.scale or reg.rotate):
        return tf.roll(x, tf.cast(t[:2], tf.int32), axis=(1, 2))
    dy, dx, zoom, angle = t[0], t[1], t[2], t[3]
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # output (y, x) samples input (a0*x + a1*y + a2, b0*x + b1*y + b2)
    a2 = cx - cos * cx + sin * cy - dx
    b2 = cy - sin * cx - cos * cy - dy
    transform = tf.stack([cos, -sin, a2, sin, cos, b2, 0.0, 0.0])[None]
    transform = tf.tile(transform, (tf.shape(x)[0], 1))
    return keras.ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="reflect")


def _compile_run(objective_fn, param_kind, reg: Regularization, blur, sizes, preprocessing: str, diversity_fn=None):
    """A compiled chunk of ascent steps (Python runs only between chunks);
    ``diversity_fn(model_input) -> (N,)`` adds a penalty weighted by ``reg.diversity``."""
    import tensorflow as tf

    oh, ow, h, w = sizes

    def ascent_step(param, m, v, t, i, targets):
        with tf.GradientTape() as tape:
            tape.watch(param)
            img = param_kind.image(param)
            full = tf.image.resize(img, (h, w)) if (oh, ow) != (h, w) else img
            x = pixels_to_input(_augment(full, t, h, w, reg), preprocessing)
            values = objective_fn(x, targets)
            penalty = reg.l2 * tf.reduce_mean(tf.square(img - 0.5), axis=(1, 2, 3))
            if diversity_fn is not None:
                penalty += reg.diversity * diversity_fn(x)
            if reg.tv:
                penalty += reg.tv * tf.image.total_variation(img) / (oh * ow)
            loss = -tf.reduce_sum(values - penalty)
        g = tape.gradient(loss, param)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * tf.square(g)
        mhat, vhat = m / (1 - 0.9 ** i), v / (1 - 0.999 ** i)
        new = param_kind.project(param - reg.learning_rate * mhat / (tf.sqrt(vhat) + 1e-8))
        if reg.blur_every and not reg.fourier:
            new = tf.cond(tf.equal(tf.math.floormod(i, reg.blur_every), 0),
                          lambda: tf.nn.depthwise_conv2d(new, blur, (1, 1, 1, 1), "SAME"), lambda: new)
        return new, m, v, values

    # traced once for any batch size and any number of steps per chunk
    state = tf.TensorSpec((None, *param_kind.param.shape[1:]), tf.float32)
    signature = [state, state, state, tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((), tf.int32),
                 tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=signature)
    def run(param, m, v, transforms, first, targets):
        count = tf.shape(transforms)[0]
        values = tf.TensorArray(tf.float32, size=count)
        for k in tf.range(count):
            param, m, v, value = ascent_step(param, m, v, transforms[k], tf.cast(first + k + 1, tf.float32),
                                             targets)
            values = values.write(k, value)
        return param, m, v, values.stack()

    return run


_COMPILED: "weakref.WeakKeyDictionary" = runtime.model_cache()


def _optimize(model, key: tuple, objective_fn, targets: np.ndarray, init: np.ndarray, reg: Regularization,
              seed: int, preprocessing: str, progress, cancel, label: str, diversity_fn=None):
    """Adam ascent on ``objective_fn(model_input, targets) -> (N,)`` (one
    value per image; ``targets`` holds each image's channel or class), with the
    regularizers; returns final [0, 1] images and the objective history.
    The compiled loops are kept per model and ``key`` (the objective), so
    repeated calls do not trace again."""
    import tensorflow as tf

    compiled = _COMPILED.setdefault(model, {})
    targets = tf.constant(targets, tf.int32)

    rng = np.random.default_rng(seed)
    n, h, w, c = init.shape
    blur = tf.constant(_gaussian_kernel(reg.blur_sigma, c))
    sizes = [(max(8, int(round(h / reg.octave_scale ** (reg.octaves - 1 - o)))),
              max(8, int(round(w / reg.octave_scale ** (reg.octaves - 1 - o))))) for o in range(reg.octaves)]
    steps_per = [reg.steps // reg.octaves + (1 if o < reg.steps % reg.octaves else 0) for o in range(reg.octaves)]
    history, image, done = [], init, 0
    for (oh, ow), steps in zip(sizes, steps_per):
        start = image if image.shape[1:3] == (oh, ow) else tf.image.resize(image, (oh, ow)).numpy()
        param_kind = _Fourier(start) if reg.fourier else _Pixels(start)
        param = tf.constant(param_kind.param)
        m, v = tf.zeros_like(param), tf.zeros_like(param)
        run_key = (key, replace(reg, steps=0), (oh, ow, h, w, c), preprocessing)     # any step count reuses it
        if run_key not in compiled:
            compiled[run_key] = _compile_run(objective_fn, param_kind, reg, blur, (oh, ow, h, w), preprocessing,
                                             diversity_fn)
        run = compiled[run_key]

        transforms = _transform_params(rng, reg, steps)
        for first in range(0, steps, CHUNK):
            check(cancel)
            chunk = tf.constant(transforms[first:first + CHUNK])
            param, m, v, values = run(param, m, v, chunk, tf.constant(first, tf.int32), targets)
            history.extend(values.numpy())
            done += len(chunk)
            report(progress, done, reg.steps, label)
        image = np.asarray(param_kind.image(param))      # the next octave starts from it, resized
    return np.clip(image, 0.0, 1.0), np.array(history)


def _initial_images(indices, shape, seed: int, per_channel: int = 1) -> np.ndarray:
    """Random grey, drawn per target from (seed, index): a batch starts where
    each target's own run would; the k-th of several images of a target from
    (seed, index, k)."""
    h, w, c = shape
    draws = [[seed, int(i)] if per_channel == 1 else [seed, int(i), k % per_channel] for k, i in enumerate(indices)]
    return np.stack([0.5 + 0.02 * np.random.default_rng(d).standard_normal((h, w, c))
                     for d in draws]).astype(np.float32)


def gram_diversity(features_fn, per_channel: int):
    """Lucid's diversity objective as a penalty: ``x -> (N,)``, for each image
    the mean cosine similarity of its Gram matrix at the layer (channels x
    channels over positions) to those of the other images of its group of
    ``per_channel`` consecutive images. Zero when the group's styles are
    orthogonal, one when they are the same."""
    import tensorflow as tf

    def penalty(x):
        maps = features_fn(x)
        flat = tf.reshape(maps, (tf.shape(maps)[0], -1, tf.shape(maps)[-1]))
        gram = tf.linalg.matmul(flat, flat, transpose_a=True)
        gram = tf.math.l2_normalize(tf.reshape(gram, (-1, per_channel, tf.shape(gram)[1] * tf.shape(gram)[2])), -1)
        similar = tf.linalg.matmul(gram, gram, transpose_b=True)                   # (groups, n, n)
        others = (tf.reduce_sum(similar, -1) - tf.linalg.diag_part(similar)) / (per_channel - 1)
        return tf.reshape(others, (-1,))

    return penalty


def default_class_regularization(model) -> Regularization:
    """Class images want a strong pull towards grey (Simonyan et al.'s L2) on
    small inputs; otherwise their strokes saturate to black and white."""
    reg = default_regularization(model)
    return reg if reg.fourier else replace(reg, l2=30.0)


_AT_LEAST_ONE = ("steps", "octaves")
_POSITIVE = ("learning_rate", "blur_sigma", "octave_scale")


def _settings(model, regularization, overrides, default=default_regularization) -> Regularization:
    """The regularization with ``overrides`` (keyword arguments) applied, each
    checked: a misspelt name or a NaN, negative or zero value is named."""
    known = [f.name for f in fields(Regularization)]
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise CnnvizError(f"no synthesis option {key!r}" + (f" (did you mean {close[0]}?)" if close else "")
                              + f": the options are {', '.join(known)}")
    reg = replace(regularization or default(model), **{k: v for k, v in overrides.items() if v is not None})
    for key in known:
        value = getattr(reg, key)
        if key == "fourier":
            if not isinstance(value, (bool, np.bool_)):
                raise CnnvizError(f"fourier must be True or False (got {value!r})")
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise CnnvizError(f"{key} must be a finite number (got {value!r})")
        if key in _AT_LEAST_ONE and (value < 1 or int(value) != value):
            raise CnnvizError(f"{key} must be a whole number of at least 1 (got {value!r})")
        if key in _POSITIVE and value <= 0:
            raise CnnvizError(f"{key} must be above 0 (got {value!r})")
        if value < 0:
            raise CnnvizError(f"{key} must be 0 or more (got {value!r})")
    return reg


@api
def synthesize_channels(model, layer: str, channels: Optional[Sequence[int]] = None, *,
                        unit: Optional[tuple[int, int]] = None, seed: int = 0, size=None,
                        regularization: Optional[Regularization] = None, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None, cache: bool = False, per_channel: int = 1,
                        **overrides) -> Synthesis:
    """Images that maximize the mean activation of each channel of ``layer``
    (or of one ``unit`` (row, col) of it), all channels in one batch; a
    channel the mean leaves silent is started from its centre unit.
    ``per_channel`` > 1: that many images per channel, optimized jointly with
    the diversity term (``diversity`` weight, default 0.1 then); the result's
    ``by_channel`` is (channels, per_channel, H, W, C).
    ``cache=True`` keeps the result on disk and serves repeated calls from it."""
    name = qualified_name(model, layer)
    out_shape = get_layer(model, name).output.shape
    if len(out_shape) != 4:
        raise CnnvizError(f"layer {name} has no spatial output ({tuple(out_shape[1:])}): synthesize a conv or "
                          "pooling layer's channels, or a class with synthesize_class")
    n_channels = int(out_shape[-1])
    channels = np.arange(n_channels) if channels is None else np.asarray(channels, int)
    if channels.size == 0 or channels.min() < 0 or channels.max() >= n_channels:
        raise CnnvizError(f"channels out of range: {name} has channels 0..{n_channels - 1}")
    unit = _check_unit(unit, name, out_shape)
    if isinstance(per_channel, bool) or not isinstance(per_channel, (int, np.integer)) or per_channel < 1:
        raise CnnvizError(f"per_channel must be a whole number of at least 1 (got {per_channel!r})")
    if per_channel > 1 and overrides.get("diversity") is None and regularization is None:
        overrides = {**overrides, "diversity": DEFAULT_DIVERSITY}
    reg = _settings(model, regularization, overrides)
    shape = _image_size(model, size)
    targets = np.repeat(channels, per_channel)
    key = [name, channels.tolist(), unit and list(unit), shape, seed, asdict(reg)] + \
        ([per_channel] if per_channel > 1 else [])
    result = _through_cache(cache, model, key, name, targets, reg, progress,
                            lambda: _channels(model, name, targets, unit, shape, seed, reg, progress, cancel,
                                              per_channel))
    return replace(result, per_channel=int(per_channel))


def _check_unit(unit, name: str, out_shape) -> Optional[tuple[int, int]]:
    """``unit`` as (row, col) inside the layer's map, or a CnnvizError."""
    if unit is None:
        return None
    try:
        row, col = (int(v) for v in unit)
    except (TypeError, ValueError):
        raise CnnvizError(f"unit must be two whole numbers (row, col) (got {unit!r})") from None
    h, w = out_shape[1:3]
    if row < 0 or col < 0 or (h is not None and row >= h) or (w is not None and col >= w):
        raise CnnvizError(f"unit ({row}, {col}) is outside {name}'s {h}x{w} map: rows are 0..{h - 1}, "
                          f"columns 0..{w - 1}")
    return row, col


def _channels(model, name, channels, unit, shape, seed, reg, progress, cancel, per_channel: int = 1) -> Synthesis:
    import tensorflow as tf

    steered, real = _channel_maps(model, name)

    def statistic(maps):
        return maps[:, unit[0], unit[1]] if unit is not None else tf.reduce_mean(maps, axis=(1, 2))

    preprocessing = model_info(model).preprocessing
    diverse = per_channel > 1 and reg.diversity > 0
    diversity = None
    if diverse:
        layer_model = feature_model(model, [name])            # built once; traced into the compiled ascent
        diversity = gram_diversity(lambda x: layer_model(x, training=False), per_channel)
    images, history = _optimize(model, ("channels", name, unit, per_channel if diverse else 1),
                                lambda x, c: statistic(steered(x, c)), channels,
                                _initial_images(channels, shape, seed, per_channel), reg, seed, preprocessing,
                                progress, cancel, f"synthesizing {name}", diversity)
    x = pixels_to_input(tf.constant(images), preprocessing)
    maps = real(x, tf.constant(channels, tf.int32))
    reached = statistic(maps).numpy()
    if unit is None and (reached <= 0).any():
        _unstick(model, name, channels, images, reached, tuple(maps.shape[1:3]), shape, seed, reg, cancel)
    return Synthesis(name, channels, images, reached, history, settings=reg)


def _unstick(model, name, channels, images, reached, map_size, shape, seed, reg, cancel) -> None:
    """Channels left silent: below zero the leaky ReLU's gradient is linear,
    and summed over all positions it favours flat images, which may never
    switch the channel on. Their centre unit alone is driven instead (no
    transformations: it must be the same unit at every step), which makes the
    channel's mean positive. Updates ``images`` and ``reached`` in place."""
    import tensorflow as tf

    stuck = np.flatnonzero(reached <= 0)
    centre = (map_size[0] // 2, map_size[1] // 2)
    still = replace(reg, jitter=0, scale=0.0, rotate=0.0, blur_every=0)
    seeded = _channels(model, name, channels[stuck], centre, shape, seed, still, None, cancel)
    real = _channel_maps(model, name)[1]
    x = pixels_to_input(tf.constant(seeded.images), model_info(model).preprocessing)
    means = tf.reduce_mean(real(x, tf.constant(channels[stuck], tf.int32)), axis=(1, 2)).numpy()
    better = means > reached[stuck]
    images[stuck[better]] = seeded.images[better]
    reached[stuck[better]] = means[better]


# ---------------------------------------------------------------- channel objectives

_CHANNEL_MAPS: "weakref.WeakKeyDictionary" = runtime.model_cache()


def _channel_maps(model, name: str):
    """(steered, real) functions ``(x, channels) -> (N, H, W)``: each image's
    own channel map of the layer, as maximized during the ascent (a ReLU made
    leaky, so a channel silent everywhere still has a gradient; for a plain
    Conv2D only the wanted channel is computed) and as the model computes it.
    Built once per model and layer."""
    per_model = _CHANNEL_MAPS.setdefault(model, {})
    if name not in per_model:
        features = feature_model(model, [name])

        def real(x, channels):
            return _own_channel(features(x, training=False), channels)

        per_model[name] = (_conv_head(model, name) or _leaky_features(model, name) or real, real)
    return per_model[name]


def _own_channel(maps, channels):
    """Each image's own channel of (N, H, W, C) maps: (N, H, W)."""
    import tensorflow as tf

    return tf.reduce_sum(maps * tf.one_hot(channels, tf.shape(maps)[-1])[:, None, None, :], axis=-1)


def _leaky_features(model, name: str):
    """Own-channel maps with the ReLU producing the layer made leaky, or None
    when no ReLU produces it."""
    import tensorflow as tf

    pre = pre_activation_features(model, name)
    if pre is None:
        return None
    return lambda x, channels: tf.nn.leaky_relu(_own_channel(pre(x, training=False), channels), LEAK)


def _conv_head(model, name: str):
    """For a plain Conv2D layer, own-channel maps computed from the layer's
    input with each image's own kernel: one matrix product gives the kernel
    taps' contributions at every position, a fixed convolution adds them up.
    The layer's other channels are never computed. None for other layers."""
    import keras
    import tensorflow as tf

    conv = get_layer(model, name)
    if type(conv).__name__ != "Conv2D" or conv.groups != 1 or conv.data_format != "channels_last":
        return None
    body = _input_model(model, name)
    if body is None:
        return None
    kh, kw = conv.kernel_size
    add_taps = tf.constant(np.eye(kh * kw, dtype=np.float32).reshape(kh, kw, kh * kw, 1))
    activation = conv.activation
    if activation is keras.activations.relu:
        activation = lambda z: tf.nn.leaky_relu(z, LEAK)                           # noqa: E731

    def maps(x, channels):
        y = body(x)
        n, h, w, c = tf.unstack(tf.shape(y))
        kernels = tf.transpose(tf.reshape(tf.gather(conv.kernel, channels, axis=3), (kh * kw, c, n)), (2, 1, 0))
        taps = tf.reshape(tf.matmul(tf.reshape(y, (n, h * w, c)), kernels), (n, h, w, kh * kw))
        z = tf.nn.conv2d(taps, add_taps, conv.strides, conv.padding.upper(), dilations=conv.dilation_rate)[..., 0]
        if conv.use_bias:
            z += tf.gather(conv.bias, channels)[:, None, None]
        return activation(z)

    return maps


def _input_model(model, name: str):
    """A function computing what the layer receives from the model's input,
    or None when that is not a single tensor of the outer graph."""
    layer = get_layer(model, name)
    if "/" in name or not layer._inbound_nodes or len(layer._inbound_nodes[0].input_tensors) != 1:
        return None
    producer = layer._inbound_nodes[0].input_tensors[0]._keras_history[0]
    if type(producer).__name__ == "InputLayer":
        return lambda x: x
    features = feature_model(model, [producer.name])
    return lambda x: features(x, training=False)


@api
def synthesize_class(model, classes: Sequence, *, seed: int = 0, size=None,
                     regularization: Optional[Regularization] = None, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None, cache: bool = False, **overrides) -> Synthesis:
    """Class model visualization: images maximizing each class's pre-softmax
    score with L2 regularization, all classes in one batch.
    ``cache=True`` keeps the result on disk and serves repeated calls from it."""
    if len(model.outputs[0].shape) != 2:
        raise CnnvizError(f"{model.name} does not output class scores: class images need a classifier")
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    indices = np.array([class_index(model, c) for c in classes], int)
    if indices.size == 0:
        raise CnnvizError("no classes given: name at least one class (index or name)")
    reg = _settings(model, regularization, overrides, default_class_regularization)
    shape = _image_size(model, size)
    key = ["class", indices.tolist(), shape, seed, asdict(reg)]
    return _through_cache(cache, model, key, "class", indices, reg, progress,
                          lambda: _classes(model, indices, shape, seed, reg, progress, cancel))


def _classes(model, indices, shape, seed, reg, progress, cancel) -> Synthesis:
    import tensorflow as tf


    logits = logits_model(model)

    def objective(x, classes):
        return tf.gather(logits(x, training=False), classes, axis=1, batch_dims=1)

    preprocessing = model_info(model).preprocessing
    images, history = _optimize(model, ("class",), objective, indices, _initial_images(indices, shape, seed), reg,
                                seed, preprocessing, progress, cancel, "synthesizing classes")
    x = pixels_to_input(tf.constant(images), preprocessing).numpy()
    probs = probabilities(model, x)[np.arange(len(indices)), indices]
    reached = objective(x, tf.constant(indices, tf.int32)).numpy()
    return Synthesis("class", indices, images, reached, history, probs, reg)


# ---------------------------------------------------------------- disk cache

def _through_cache(cache: bool, model, key: list, target: str, indices: np.ndarray, reg: Regularization,
                   progress, compute) -> Synthesis:
    """``compute()``, or with ``cache`` its result read from (or written to) disk."""
    if not cache:
        return compute()
    path = _cache_path(model, key)
    result, note = _read(path, target, indices, reg)
    if result is not None:
        report(progress, reg.steps, reg.steps, "synthesized images from the cache")
        return result
    result = compute()
    result.cache_note = note
    _write(path, result)
    return result


def _cache_path(model, key: list):
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, model_fingerprint(model), key]).encode())
    return runtime.cache_dir() / "synthesis" / f"{digest.hexdigest()[:32]}.npz"


def _write(path, result: Synthesis) -> None:
    arrays = dict(target=np.array(result.target), indices=result.indices, images=result.images,
                  activations=result.activations, history=result.history)
    if result.probabilities is not None:
        arrays["probabilities"] = result.probabilities
    try:
        write_npz(path, **arrays)
    except OSError:  # an unwritable cache folder only costs speed
        pass


def _read(path, target: str, indices: np.ndarray, reg: Regularization) -> tuple[Optional[Synthesis], str]:
    """The cached result and "", or None and why the entry there could not be
    used ("" when there is none): a damaged entry is recomputed, never trusted."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        n = len(indices)
        if not (str(arrays["target"]) == target and np.array_equal(arrays["indices"], indices)
                and arrays["images"].shape[0] == n and arrays["activations"].shape == (n,)
                and arrays["history"].shape == (reg.steps, n)):
            raise ValueError("its arrays do not match the request")
    except Exception as exc:
        return None, f"the cached synthesis {path} was unreadable ({short(exc, 80)}) and was recomputed"
    return Synthesis(target, indices, arrays["images"], arrays["activations"], arrays["history"],
                     arrays.get("probabilities"), reg, from_cache=True), ""
