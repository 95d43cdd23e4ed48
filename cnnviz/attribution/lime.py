"""LIME (Ribeiro et al. 2016) through the ``lime`` package's
``LimeImageExplainer``, with scikit-image superpixels whose number is kept
under control, and the model called on large batches of perturbed images
through one compiled function.

LIME works in pixel space here: it sees the image as RGB in [0, 1] (gray
images repeated to three channels), so segmentation and the "hidden"
superpixel colour mean what they look like; the classifier function converts
its batches to the model's input scale.
"""
from __future__ import annotations

import contextlib
import time
from typing import Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api
from ..models.engine import forward
from ..models.predict import check_classifier, probabilities
from ..models.preprocessing import deprocess, preprocess
from ..models.surgery import logits_model
from ..models.zoo import model_info
from .base import Attribution, check_images, resolve_targets
from .occlusion import SCORES

SEGMENTATIONS = ("quickshift", "slic", "felzenszwalb")
LIME_BATCH = 100          # perturbed images lime builds per classifier call
MIN_KNOB = 0.25           # the finest coarseness tried (quickshift: max_dist 1, one superpixel a pixel)


class Superpixels:
    """A segmentation function for lime: scikit-image's ``algorithm`` with its
    coarseness adjusted (a few tries) until it gives between half and twice
    ``segments`` superpixels; lime's own quickshift defaults give thousands on
    a noisy 224x224 photo, or a handful on a clean one."""

    def __init__(self, algorithm: str = "quickshift", segments: int = 50, seed: int = 0, tries: int = 6):
        if algorithm not in SEGMENTATIONS:
            raise CnnvizError(f"unknown segmentation {algorithm!r}: use {', '.join(SEGMENTATIONS)}")
        if segments < 2:
            raise CnnvizError(f"segments={segments}: LIME needs at least 2 superpixels")
        self.algorithm, self.segments, self.seed, self.tries = algorithm, segments, seed, tries

    def _run(self, image: np.ndarray, knob: float) -> np.ndarray:
        from skimage import segmentation

        h, w = image.shape[:2]
        if self.algorithm == "slic":
            return segmentation.slic(image, n_segments=max(2, int(round(knob))), compactness=20, start_label=0,
                                     channel_axis=-1)
        if self.algorithm == "felzenszwalb":
            min_size = max(2, h * w // (4 * self.segments))
            return segmentation.felzenszwalb(image, scale=knob, sigma=0.5, min_size=min_size)
        # kernel_size stops at 1 (scikit-image's minimum); max_dist keeps refining small images such as CIFAR's
        return segmentation.quickshift(image, kernel_size=max(1.0, knob), max_dist=4 * knob, ratio=0.2, rng=self.seed)

    def _first_knob(self, shape) -> float:
        if self.algorithm == "slic":
            return float(self.segments)
        if self.algorithm == "felzenszwalb":
            return 100.0
        return max(1.0, 0.25 * np.sqrt(shape[0] * shape[1] / self.segments))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        knob, lo, hi, best = self._first_knob(image.shape), None, None, None
        for _ in range(self.tries):
            labels = self._run(image, knob)
            count = len(np.unique(labels))
            miss = abs(np.log(count / self.segments))
            if best is None or miss < best[0]:
                best = (miss, labels)
            if self.segments / 2 <= count <= 2 * self.segments:
                break
            # quickshift and felzenszwalb get coarser as the knob grows, slic finer
            if (count > self.segments) == (self.algorithm != "slic"):
                lo = knob
            else:
                hi = knob
            if hi is not None and hi <= MIN_KNOB:
                break
            knob = np.sqrt(lo * hi) if lo is not None and hi is not None else (
                lo * 2 if lo is not None else max(MIN_KNOB, hi / 2))
        _, labels = best
        return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def pixel_image(model, x: np.ndarray) -> np.ndarray:
    """A model input as the RGB [0, 1] float64 image LIME perturbs."""
    pixels = np.clip(deprocess(x, model_info(model).preprocessing) / 255.0, 0, 1).astype(np.float64)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def classifier_function(model, channels: int, batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None, total: int = 0, score: str = "probability"):
    """``f(pixel_images) -> scores`` for lime (class probabilities, or logits
    for ``score="logit"``): RGB [0, 1] batches to the model's input, through
    the compiled model, in batches of ``batch_size`` (default: the engine's :func:`batch_rows`)."""

    preprocessing = model_info(model).preprocessing
    seen = [0]

    def classify(images: np.ndarray) -> np.ndarray:
        check(cancel)
        pixels = np.asarray(images, np.float32) * 255.0
        if channels == 1:
            pixels = pixels[..., :1]
        x = preprocess(pixels, preprocessing)
        if score == "logit":
            check_classifier(model)
            scores = forward(logits_model(model), x, batch_size=batch_size)
        else:
            scores = probabilities(model, x, batch_size=batch_size)
        seen[0] += len(images)
        report(progress, min(seen[0], total), total, "LIME")
        return scores

    return classify


def explainer(seed: int):
    """lime's ``LimeImageExplainer`` with its perturbed images built a batch
    at a time: the same random draws and images as lime's own loop, which
    spends a Python pass per superpixel per sample (0.17 s of 1000 samples
    on a 32x32 image, where the model takes 1 s)."""
    from lime.lime_image import LimeImageExplainer

    class Explainer(LimeImageExplainer):
        def data_labels(self, image, fudged_image, segments, classifier_fn, num_samples, batch_size=10):
            n_features = np.unique(segments).shape[0]
            data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
            data[0, :] = 1
            labels = []
            for start in range(0, num_samples, batch_size):
                hidden = data[start:start + batch_size, segments] == 0               # (batch, H, W)
                labels.extend(classifier_fn(np.where(hidden[..., None], fudged_image, image)))
            return data, np.array(labels)

    return Explainer(random_state=seed)


@contextlib.contextmanager
def _quiet_lime():
    """lime prints a tqdm bar per explanation; ours reports progress instead."""
    from lime import lime_image

    original = lime_image.tqdm
    lime_image.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        lime_image.tqdm = original


@api
def lime(model, images, target=None, *, samples: int = 1000, segmentation: str = "quickshift", segments: int = 50,
         features: int = 5, hide_color: Optional[float] = None, seed: int = 0, score: str = "probability",
         batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
         cancel: Optional[CancelToken] = None) -> Attribution:
    """LIME: each pixel gets the weight of its superpixel in lime's local
    linear fit for the target class. ``extras`` holds per image the
    ``segments``, the ``weights`` {superpixel: weight}, lime's fit ``score``
    (R^2) and ``intercept``, and the ``positive`` and ``negative`` masks of the
    top ``features`` superpixels (``get_image_and_mask`` semantics). ``score``
    is what the linear fit explains: the class ``"probability"`` (flat on a
    confident prediction) or its pre-softmax ``"logit"``."""
    if samples < 2:
        raise CnnvizError(f"samples={samples}: LIME needs at least 2 perturbed samples (1000 is usual)")
    if score not in SCORES:
        raise CnnvizError(f"unknown score {score!r}: use {' or '.join(SCORES)}")
    start = time.perf_counter()
    x = check_images(model, images)
    targets = resolve_targets(model, x, target)
    segment_fn = Superpixels(segmentation, segments, seed)
    results = []
    with _quiet_lime():
        for i, (image, label) in enumerate(zip(x, targets)):
            step = _offset_progress(progress, i * samples, len(x) * samples)
            classify = classifier_function(model, x.shape[-1], batch_size, step, cancel, samples, score)
            explanation = explainer(seed).explain_instance(
                pixel_image(model, image), classify, labels=(int(label),), top_labels=None, hide_color=hide_color,
                num_samples=samples, batch_size=min(LIME_BATCH, samples), segmentation_fn=segment_fn)
            results.append(_unpack(explanation, int(label), features))
    extras = {key: [r[key] for r in results] for key in results[0] if key != "map"}
    for key in ("segments", "positive", "negative"):
        extras[key] = np.stack(extras[key])
    for key in ("score", "intercept"):
        extras[key] = np.array(extras[key])
    return Attribution("lime", np.stack([r["map"] for r in results]), targets, signed=True,
                       params={"samples": samples, "segmentation": segmentation, "score": score,
                               "superpixels": int(np.mean([len(r["weights"]) for r in results]))},
                       extras=extras, seconds=time.perf_counter() - start)


def _offset_progress(progress, offset, total):
    if progress is None:
        return None
    return lambda done, _total, message="": progress(offset + done, total, message)


def _unpack(explanation, label: int, features: int) -> dict:
    """The arrays of one ``lime`` explanation."""
    segments = explanation.segments
    weights = {int(k): float(v) for k, v in explanation.local_exp[label]}
    lookup = np.zeros(segments.max() + 1, np.float32)
    for segment, weight in weights.items():
        lookup[segment] = weight
    _, positive = explanation.get_image_and_mask(label, positive_only=True, num_features=features, hide_rest=False)
    _, negative = explanation.get_image_and_mask(label, positive_only=False, negative_only=True,
                                                 num_features=features, hide_rest=False)
    return {"map": lookup[segments], "segments": segments, "weights": weights,
            "score": float(explanation.score[label] if isinstance(explanation.score, dict) else explanation.score),
            "intercept": float(explanation.intercept[label]),
            "positive": positive.astype(bool), "negative": negative.astype(bool)}
