"""Class activation maps: Grad-CAM (Selvaraju et al. 2017), Grad-CAM++
(Chattopadhay et al. 2018) and guided Grad-CAM, at a chosen spatial layer or
the last one, upsampled to the input through the layer's receptive-field
geometry (each unit's value sits at the centre of its receptive field)."""
from __future__ import annotations

import time
import weakref
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..common.runtime import model_cache
from ..common.validate import api
from ..inside.activations import spatial_layers
from ..inside.receptive import receptive_field
from ..models.engine import once_per_model
from ..models.graph import get_layer, layer_names, qualified_name
from ..models.surgery import features_and_logits
from .base import Attribution, check_images, resolve_targets, run_batches
from .gradients import input_gradients

_CAMS: "weakref.WeakKeyDictionary" = model_cache()


def default_layer(model) -> str:
    """The last convolutional feature map (else the last layer with a spatial
    output), nested models' layers included: Grad-CAM's usual choice. A
    class-score map (as many channels as classes, and no weights between it
    and the output, e.g. a convolution feeding a global pooling into the
    softmax) is skipped: each of its units already sees the whole decision."""
    spatial = [name for name in spatial_layers(model) if type(get_layer(model, name)).__name__ != "InputLayer"]
    spatial = [name for name in spatial if not is_class_score_map(model, name)] or spatial
    if not spatial:
        raise CnnvizError(f"{model.name} has no layer with spatial output: Grad-CAM needs a convolutional layer")
    convolutions = [name for name in spatial if "Conv" in type(get_layer(model, name)).__name__]
    return (convolutions or spatial)[-1]


def is_class_score_map(model, name: str) -> bool:
    """Whether layer ``name`` holds one map per class that reaches the output
    through layers without weights (pooling, activations, softmax)."""
    names = layer_names(model)
    layer = get_layer(model, name)
    n_classes = int(model.outputs[0].shape[-1])
    if int(layer.output.shape[-1]) != n_classes:
        return False
    later = [get_layer(model, n) for n in names[names.index(name) + 1:]]
    return not any(lay.weights for lay in later if not hasattr(lay, "layers"))


def _cam_function(model, layer: str):
    """Compiled ``(x, onehot) -> (A, dS/dA, S)`` for the layer's activations A
    and the target logit S. Built once per model and layer."""
    per_model = _CAMS.setdefault(model, {})
    if layer not in per_model:
        import tensorflow as tf


        net = features_and_logits(model, layer)

        def fn(x, selector):
            with tf.GradientTape() as tape:
                features, logits = net(x, training=False)
                score = tf.reduce_sum(logits * selector, axis=-1)
            return features, tape.gradient(score, features), score

        per_model[layer] = once_per_model(fn)
    return per_model[layer]


def layer_gradients(model, x: np.ndarray, targets: np.ndarray, layer: str, batch_size: Optional[int] = None,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """Activations (N, h, w, K) of ``layer`` and the gradients of the target logits with respect to them."""
    acts, grads, _ = run_batches(_cam_function(model, layer), model, x, targets, batch_size, progress, cancel,
                                 f"Grad-CAM at {layer}")
    return acts, grads


def cam_weights(acts: np.ndarray, grads: np.ndarray, plus: bool) -> np.ndarray:
    """Per-channel weights (N, K): the spatial mean of the gradients
    (Grad-CAM), or Grad-CAM++'s weighted sum of positive gradients.

    Grad-CAM++ here is the paper's closed form (Chattopadhay et al. 2018,
    eq. 19 with the higher derivatives of the exponentiated score written as
    powers of the first): with g the gradient of the pre-softmax score at each
    position and A the activations,
    ``alpha = g^2 / (2 g^2 + sum(A) g^3)`` and ``w = sum(alpha * relu(g))``.
    Other libraries compute other variants of these weights, so their maps
    need not match cnnviz's."""
    if not plus:
        return grads.mean(axis=(1, 2))
    g2 = grads * grads
    g3 = g2 * grads                   # not grads ** 3: NumPy's power takes 20x longer for a cube than two products
    denominator = 2 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denominator != 0, denominator, 1)
    return (alpha * np.maximum(grads, 0)).sum(axis=(1, 2))


def upsample_to_input(model, layer: str, maps: np.ndarray) -> np.ndarray:
    """(N, h, w) layer maps to (N, H, W): linear interpolation between the
    units' receptive-field centres (a plain resize where no field is defined)."""
    rows, cols = _upsampling(model, layer, maps.shape[1:])
    return (rows.astype(np.float32) @ np.asarray(maps, np.float32) @ cols.T.astype(np.float32)).astype(np.float32)


_UPSAMPLING: "weakref.WeakKeyDictionary" = model_cache()


def _upsampling(model, layer: str, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Row and column interpolation matrices of a layer, built once per model."""
    per_model = _UPSAMPLING.setdefault(model, {})
    key = (layer, tuple(size))
    if key not in per_model:
        h, w = size
        H, W = (int(s) for s in model.inputs[0].shape[1:3])
        try:
            field = receptive_field(model, layer)
            centres = [field.start[i] + field.jump[i] * np.arange(n) for i, n in enumerate((h, w))]
        except CnnvizError:
            centres = [(np.arange(n) + 0.5) * size / n - 0.5 for n, size in ((h, H), (w, W))]
        per_model[key] = (_interpolation_matrix(centres[0], H), _interpolation_matrix(centres[1], W))
    return per_model[key]


def _interpolation_matrix(centres: np.ndarray, size: int) -> np.ndarray:
    """(size, n): row p holds the linear-interpolation weights of the n
    samples at ``centres`` for pixel p (constant beyond the ends)."""
    pixels = np.arange(size)
    if len(centres) == 1:
        return np.ones((size, 1))
    return np.stack([np.interp(pixels, centres, np.eye(len(centres))[i]) for i in range(len(centres))], axis=1)


@api
def gradcam(model, images, target=None, *, layer: Optional[str] = None, plus: bool = False,
            batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> Attribution:
    """Grad-CAM (or Grad-CAM++ with ``plus``): ReLU of the channel-weighted sum
    of ``layer``'s activations (default: the last spatial layer), upsampled to
    the input. ``extras["cam"]`` is the map at the layer's resolution."""

    start = time.perf_counter()
    x = check_images(model, images)
    layer = qualified_name(model, layer) if layer else default_layer(model)
    targets = resolve_targets(model, x, target)
    acts, grads = layer_gradients(model, x, targets, layer, batch_size, progress, cancel)
    if acts.ndim != 4:
        raise CnnvizError(f"layer {layer} has no spatial output {acts.shape[1:]}: give a convolutional layer")
    cam = np.maximum((acts @ cam_weights(acts, grads, plus)[:, :, None, None].transpose(0, 2, 1, 3))[..., 0], 0)
    return Attribution("gradcam++" if plus else "gradcam", upsample_to_input(model, layer, cam), targets,
                       params={"layer": layer}, extras={"cam": cam}, seconds=time.perf_counter() - start)


@api
def gradcam_plus_plus(model, images, target=None, **options) -> Attribution:
    """Grad-CAM++ (see :func:`gradcam`)."""
    return gradcam(model, images, target, plus=True, **options)


@api
def guided_gradcam(model, images, target=None, *, layer: Optional[str] = None, batch_size: Optional[int] = None,
                   progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Attribution:
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM,
    per pixel. ``extras["gradients"]`` is the colour image."""

    start = time.perf_counter()
    cam = gradcam(model, images, target, layer=layer, batch_size=batch_size, progress=progress, cancel=cancel)
    x = check_images(model, images)
    guided, _ = input_gradients(model, x, cam.targets, rule="guided", batch_size=batch_size, progress=progress,
                                cancel=cancel, message="guided backprop")
    product = guided * cam.maps[..., None]
    return Attribution("guided_gradcam", np.abs(product).max(axis=-1), cam.targets, params=cam.params,
                       extras={"gradients": product}, seconds=time.perf_counter() - start)
