"""Score-CAM (Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations
for Convolutional Neural Networks"): a class activation map weighted by
scores instead of gradients. Each channel of the layer's activations,
upsampled to the input and min-max normalised, masks the image; the target's
score of that masked image (its probability: the softmax over the classes, as
tf-keras-vis's ``Scorecam`` and the authors' code) is the channel's weight;
the map is the ReLU of the weighted sum of the channels. Faster Score-CAM
(``max_n``) keeps only the channels whose activations vary most over space.

Upsampling follows :func:`.cam.upsample_to_input` (each unit at the centre of
its receptive field), like Grad-CAM here; tf-keras-vis zooms corner to
corner, so its masks and maps differ slightly at the borders. The masked
copies go through the compiled model in large batches."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api
from ..models.engine import compiled, feature_function
from ..models.graph import qualified_name
from ..models.predict import as_probabilities
from ..models.surgery import logits_model
from .base import Attribution, batch_size_for, check_images, resolve_targets
from .cam import default_layer, upsample_to_input
from .occlusion import SCORES

EPSILON = 1e-7        # keeps a constant channel's normalisation finite (Keras's epsilon, as tf-keras-vis)


def layer_activations(model, x: np.ndarray, layer: str, batch_size: int) -> np.ndarray:
    """Activations (N, h, w, K) of ``layer``, in batches through its compiled sub-model."""
    fn = feature_function(model, (layer,))
    parts = []
    for start in range(0, len(x), batch_size):
        out = fn(x[start:start + batch_size])
        parts.append(np.asarray(out[0] if isinstance(out, (list, tuple)) else out))
    acts = np.concatenate(parts)
    if acts.ndim != 4:
        raise CnnvizError(f"layer {layer} has no spatial output {acts.shape[1:]}: give a convolutional layer")
    return acts


def strongest_channels(acts: np.ndarray, max_n: Optional[int]) -> np.ndarray:
    """(N, n) channel indices per image: all of them, or Faster Score-CAM's
    ``max_n`` whose activations have the largest standard deviation over space."""
    channels = acts.shape[-1]
    if max_n is None:
        return np.broadcast_to(np.arange(channels), (len(acts), channels))
    if not 1 <= max_n <= channels:
        raise CnnvizError(f"scorecam.max_n={max_n} is not 1 to {channels}, the layer's channels")
    spread = acts.std(axis=(1, 2))
    return np.argsort(-spread, axis=-1, kind="stable")[:, :max_n]


def channel_masks(model, layer: str, maps: np.ndarray) -> np.ndarray:
    """(n, h, w) channel maps as (n, H, W) input masks, each scaled to [0, 1]."""
    up = upsample_to_input(model, layer, maps)
    low = up.min(axis=(1, 2), keepdims=True)
    high = up.max(axis=(1, 2), keepdims=True)
    return (up - low) / (high - low + EPSILON)


@api
def scorecam(model, images, target=None, *, layer: Optional[str] = None, max_n: Optional[int] = None,
             score: str = "probability", batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> Attribution:
    """Score-CAM at ``layer`` (default: the last convolutional layer), over
    every channel or the ``max_n`` most varied (Faster Score-CAM).
    ``extras["cam"]`` is the map at the layer's resolution, ``extras["weights"]``
    the channel weights (N, K), zero for channels left out."""
    start = time.perf_counter()
    x = check_images(model, images)
    layer = qualified_name(model, layer) if layer else default_layer(model)
    if score not in SCORES:
        raise CnnvizError(f"unknown score {score!r}: use {' or '.join(SCORES)}")
    batch_size = batch_size or batch_size_for(model, x)
    acts = layer_activations(model, x, layer, batch_size)
    targets = resolve_targets(model, x, target)
    chosen = strongest_channels(acts, max_n)
    weights = np.zeros((len(acts), acts.shape[-1]), np.float32)
    image, rank = np.divmod(np.arange(chosen.size), chosen.shape[1])
    weights[image, chosen[image, rank]] = _masked_scores(model, layer, x, acts, targets, image, chosen[image, rank],
                                                          score, batch_size, progress, cancel)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", acts, weights), 0).astype(np.float32)
    return Attribution("scorecam", upsample_to_input(model, layer, cam), targets,
                       params={"layer": layer, **({"max_n": max_n} if max_n else {}), "score": score},
                       extras={"cam": cam, "weights": weights}, seconds=time.perf_counter() - start)


def _masked_scores(model, layer, x, acts, targets, image, channel, score, batch_size, progress, cancel):
    """The target's score of image ``image[j]`` masked by its channel
    ``channel[j]``, for every j; one model call per batch of masked images."""
    logits = score == "logit"
    fn = compiled(logits_model(model) if logits else model)
    total, out = len(image), []
    for begin in range(0, total, batch_size):
        check(cancel)
        report(progress, begin, total, "Score-CAM")
        i, k = image[begin:begin + batch_size], channel[begin:begin + batch_size]
        masks = channel_masks(model, layer, acts[i, :, :, k])
        outputs = np.asarray(fn(x[i] * masks[..., None]))
        out.append((outputs if logits else as_probabilities(model, outputs))[np.arange(len(i)), targets[i]])
    report(progress, total, total, "Score-CAM")
    return np.concatenate(out)
