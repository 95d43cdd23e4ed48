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

import time
from dataclasses import dataclass
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
LIME_BATCH = 100          # perturbed images built per classifier call (across images)
GROUP_ROWS = 4096         # perturbed images whose scores are held at once (images are taken in groups)
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


def lime_draws(seed: int, superpixels: int, samples: int) -> np.ndarray:
    """Which superpixels each of lime's ``samples`` perturbed images keeps
    (samples, superpixels), the first keeping all: the draws lime's
    ``LimeImageExplainer(random_state=seed).explain_instance`` makes (its
    segmentation seed first, then the samples)."""
    from sklearn.utils import check_random_state

    random_state = check_random_state(seed)
    random_state.randint(0, high=1000)
    data = random_state.randint(0, 2, samples * superpixels).reshape((samples, superpixels))
    data[0, :] = 1
    return data


def hidden_image(image: np.ndarray, segments: np.ndarray, hide_color: Optional[float]) -> np.ndarray:
    """What a hidden superpixel shows (lime's ``fudged_image``): its mean
    colour, or ``hide_color`` everywhere."""
    if hide_color is not None:
        return np.full_like(image, hide_color)
    counts = np.bincount(segments.ravel())[:, None]
    sums = np.stack([np.bincount(segments.ravel(), image[..., c].ravel()) for c in range(3)], axis=1)
    return (sums / np.maximum(counts, 1))[segments]


@dataclass
class Neighbourhood:
    """One image's perturbations: its superpixels, what hidden ones show,
    lime's draws and (once classified) the scores of the perturbed images."""

    image: np.ndarray
    segments: np.ndarray
    hidden: np.ndarray
    draws: np.ndarray
    scores: Optional[np.ndarray] = None

    def perturbed(self, rows: slice) -> np.ndarray:
        """The perturbed images of ``rows`` of the draws (lime's own construction, a batch at a time)."""
        off = self.draws[rows, self.segments] == 0                                      # (rows, H, W)
        return np.where(off[..., None], self.hidden, self.image)


def neighbourhood(model, image: np.ndarray, segment_fn: Superpixels, hide_color: Optional[float], seed: int,
                  samples: int, cancel: Optional[CancelToken] = None) -> Neighbourhood:
    """One model input's superpixels, hidden colours and lime's draws (not yet classified)."""
    check(cancel)
    pixels = pixel_image(model, image)
    segments = segment_fn(pixels)
    return Neighbourhood(pixels, segments, hidden_image(pixels, segments, hide_color),
                         lime_draws(seed, int(segments.max()) + 1, samples))


def classify_all(neighbourhoods: list, classify, chunk: int, cancel: Optional[CancelToken]) -> None:
    """Every neighbourhood's perturbed images through ``classify``, ``chunk``
    images a call however they split between images (50 samples of 32 images:
    16 calls of 100, not 32 of 50)."""
    sizes = np.array([len(hood.draws) for hood in neighbourhoods])
    ends = np.cumsum(sizes)
    starts = ends - sizes
    scores = []
    for begin in range(0, int(ends[-1]), chunk):
        stop = min(begin + chunk, int(ends[-1]))
        check(cancel)
        scores.append(classify(np.concatenate([
            hood.perturbed(slice(max(begin, first) - first, min(stop, last) - first))
            for hood, first, last in zip(neighbourhoods, starts, ends) if first < stop and last > begin])))
    flat = np.concatenate(scores)
    for hood, first, last in zip(neighbourhoods, starts, ends):
        hood.scores = flat[first:last]


def local_fit(hood: Neighbourhood, label: int, seed: int):
    """lime's weighted linear fit of a neighbourhood already drawn and
    classified, as the ``ImageExplanation`` lime's ``explain_instance``
    returns: the same steps after its ``data_labels`` (cosine distances to the
    unperturbed image, its kernel, every superpixel a feature), without
    its per-superpixel Python pass to rebuild the hidden image."""
    from lime.lime_image import ImageExplanation, LimeImageExplainer
    from sklearn.metrics import pairwise_distances

    theirs = LimeImageExplainer(random_state=seed)
    theirs.random_state.randint(0, high=1000)               # the segmentation seed explain_instance draws first
    distances = pairwise_distances(hood.draws, hood.draws[:1], metric="cosine").ravel()
    explanation = ImageExplanation(hood.image, hood.segments)
    (explanation.intercept[label], explanation.local_exp[label], explanation.score,
     explanation.local_pred) = theirs.base.explain_instance_with_data(
        hood.draws, hood.scores, distances, label, 100000, feature_selection=theirs.feature_selection)
    return explanation


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
    classify = classifier_function(model, x.shape[-1], batch_size, progress, cancel, len(x) * samples, score)
    results, per_group = [], max(1, GROUP_ROWS // samples)
    for group in range(0, len(x), per_group):
        hoods = [neighbourhood(model, image, segment_fn, hide_color, seed, samples, cancel)
                 for image in x[group:group + per_group]]
        classify_all(hoods, classify, LIME_BATCH, cancel)
        results += [_unpack(local_fit(hood, int(label), seed), int(label), features)
                    for hood, label in zip(hoods, targets[group:])]
    extras = {key: [r[key] for r in results] for key in results[0] if key != "map"}
    for key in ("segments", "positive", "negative"):
        extras[key] = np.stack(extras[key])
    for key in ("score", "intercept"):
        extras[key] = np.array(extras[key])
    return Attribution("lime", np.stack([r["map"] for r in results]), targets, signed=True,
                       params={"samples": samples, "segmentation": segmentation, "score": score,
                               "superpixels": int(np.mean([len(r["weights"]) for r in results]))},
                       extras=extras, seconds=time.perf_counter() - start)


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
