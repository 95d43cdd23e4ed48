"""What every attack shares (Szegedy et al. 2014: small perturbations,
computed from the gradients, that change a classifier's prediction): the
result, the checks of images, labels, targets and budgets, the losses and
gradient steps inside compiled graphs, projection and 8-bit quantization, and
:func:`run_batches`, the loop over batches with progress and cancel that each
attack family (:mod:`.gradient`, :mod:`.carlini_wagner`, :mod:`.deepfool`)
drives with its own compiled steps.

Everything happens in [0, 1] pixel space: images are uint8 pixels (as
:func:`cnnviz.models.load_image` gives in ``.pixels``) or floats in [0, 1] at
the model's input size, and become the model's input (VGG16's
``preprocess_input`` included) inside the compiled graph. The adversarial
image is therefore a real image: quantized to 8 bits (:func:`quantize`, what
``--save-adversarial`` writes) it can be saved and reloaded, and every result
reports whether the 8-bit image still fools the model. ``eps`` is in [0, 1]
pixel units (8/255 for CIFAR-10).

Losses use the pre-softmax logits (:func:`cnnviz.models.surgery.logits_model`).
Each attack's loop is a ``tf.function`` built once per model and
configuration and reused (eps, step size and labels are tensors: no
retracing between calls); images go in batches, steps in compiled chunks of
10 unrolled steps, and progress and cancel are checked between chunks.
Random starts and random targets are drawn per image from (seed, image
index), so a run repeats exactly and does not depend on the batch size.
"""
from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Optional

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, report
from ..common.runtime import model_cache
from ..common.validate import numeric_array
from ..data.sources import named
from ..models.engine import batch_rows, forward
from ..models.inputs import class_index
from ..models.predict import probabilities, softmax, top_k
from ..models.preprocessing import pixels_to_input
from ..models.surgery import logits_model
from ..models.zoo import input_shape, model_info

NORMS = ("inf", "2")
NORM_NAMES = {"inf": "L-inf", "2": "L2"}
CHUNK = 10                            # steps per compiled call for small inputs (progress and cancel between calls)
BUDGET_TOLERANCE = 1e-5               # float32 rounding allowed on top of eps in checks
AXES = [1, 2, 3]                      # per-image reductions over (H, W, C)


def default_eps(model, norm: str = "inf") -> float:
    """The usual budget for the model's dataset (declared with it in
    :data:`cnnviz.data.sources.NAMED`: L-inf 0.3 for MNIST, L2 2.0 for MNIST,
    0.5 for CIFAR-10); otherwise L-inf 8/255, and L2 0.5 for small images,
    3.0 for larger ones."""
    known = named(model_info(model).dataset or "")
    if known is not None:
        return known.linf_eps if norm == "inf" else known.l2_eps
    if norm == "inf":
        return 8 / 255
    h, w, _ = input_shape(model)
    return 0.5 if (h or 224) * (w or 224) <= 64 * 64 else 3.0


def default_eps_grid(model, norm: str = "inf") -> list[float]:
    """Budgets for a robustness curve, 0 (clean accuracy) first."""
    top = default_eps(model, norm)
    if norm == "inf" and top == 0.3:
        return [0.0, 0.05, 0.1, 0.2, 0.3]
    if norm == "inf":
        return [0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255]
    return [0.0, top / 4, top / 2, top, 1.5 * top]


# ---------------------------------------------------------------- results

@dataclass
class AttackResult:
    """Original and adversarial images with what the model says about them.

    Images are float32 (N, H, W, C) in [0, 1]; probabilities (N, classes).
    ``labels`` are the classes the attack moved away from (the true labels
    when given, else the model's predictions); ``target`` the classes it moved
    towards (None when untargeted). ``success`` is judged on ``adversarial``;
    ``rounded_*`` on its 8-bit quantization (:attr:`rounded`), whose
    predictions are computed when first asked for (one more forward pass).
    """

    method: str
    norm: str
    eps: Optional[float]                 # budget (None: unbounded minimal-perturbation attack)
    steps: int                           # steps asked for (per binary-search step for cw)
    step_size: Optional[float]
    seed: int
    original: np.ndarray
    adversarial: np.ndarray
    labels: np.ndarray
    target: Optional[np.ndarray]
    original_probs: np.ndarray
    adversarial_probs: np.ndarray
    success: np.ndarray                  # (N,) bool
    steps_used: np.ndarray               # (N,) steps until the image first fooled the model (all steps on failure)
    rounded: np.ndarray                  # (N, H, W, C) uint8 within the budget
    classes: tuple = ()
    seconds: float = 0.0
    attack_notes: list = field(default_factory=list)
    model: str = ""
    predict: Optional[Callable] = field(default=None, repr=False, compare=False)  # [0, 1] pixels -> probabilities
    settings: str = ""                   # what the attack did, in words (e.g. "40 steps of 0.0075")

    @property
    def targeted(self) -> bool:
        return self.target is not None

    @cached_property
    def rounded_probs(self) -> np.ndarray:
        """The model's probabilities for the 8-bit images."""
        if self.predict is None:
            raise CnnvizError("this result has no model to predict its 8-bit images with")
        return self.predict(self.rounded.astype(np.float32) / 255.0)

    @property
    def rounded_success(self) -> np.ndarray:
        """(N,) bool: whether each 8-bit image still fools the model."""
        return is_fooled(self.rounded_probs, self.labels, self.target)

    @property
    def notes(self) -> list[str]:
        """What the attack had to do, and where 8-bit rounding undid it."""
        lost = int(np.sum(self.success & ~self.rounded_success))
        rounding = [f"8-bit rounding undoes the attack on {lost} of {int(self.success.sum())} fooled images"]
        return list(self.attack_notes) + (rounding if lost else [])

    @property
    def perturbation(self) -> np.ndarray:
        """adversarial - original, (N, H, W, C), in [0, 1] pixel units."""
        return self.adversarial - self.original

    @property
    def linf(self) -> np.ndarray:
        return np.abs(self.perturbation).reshape(len(self.original), -1).max(axis=1)

    @property
    def l2(self) -> np.ndarray:
        return np.sqrt(np.square(self.perturbation, dtype=np.float64).reshape(len(self.original), -1).sum(axis=1))

    @property
    def original_prediction(self) -> np.ndarray:
        return self.original_probs.argmax(-1)

    @property
    def adversarial_prediction(self) -> np.ndarray:
        return self.adversarial_probs.argmax(-1)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self.success) else 0.0

    def top(self, which: str = "adversarial", k: int = 5):
        """Top-``k`` predictions with names for "original", "adversarial" or
        "rounded" images (a list per image of :class:`cnnviz.models.predict.Prediction`)."""
        probs = {"original": self.original_probs, "adversarial": self.adversarial_probs,
                 "rounded": self.rounded_probs}[which]
        return top_k(probs, self.classes, k)

    def to_json(self, k: int = 5) -> dict:
        tops = {w: self.top(w, k) for w in ("original", "adversarial", "rounded")}
        def name(i):
            return self.classes[int(i)] if int(i) < len(self.classes) else str(int(i))

        images = []
        for i in range(len(self.original)):
            row = {"label": int(self.labels[i]), "label_name": name(self.labels[i]),
                   "success": bool(self.success[i]), "steps_used": int(self.steps_used[i]),
                   "linf": float(self.linf[i]), "l2": float(self.l2[i]),
                   "original_top": [p._asdict() for p in tops["original"][i]],
                   "adversarial_top": [p._asdict() for p in tops["adversarial"][i]],
                   "rounded_8bit": {"success": bool(self.rounded_success[i]),
                                    "top": [p._asdict() for p in tops["rounded"][i]]}}
            if self.target is not None:
                row.update(target=int(self.target[i]), target_name=name(self.target[i]))
            images.append(row)
        return {"model": self.model, "method": self.method, "norm": self.norm, "eps": self.eps, "steps": self.steps,
                "step_size": self.step_size, "settings": self.settings, "seed": self.seed, "targeted": self.targeted,
                "success_rate": self.success_rate, "rounded_success_rate": float(np.mean(self.rounded_success)),
                "seconds": self.seconds, "notes": list(self.notes), "images": images}


# ---------------------------------------------------------------- checks

def as_batch(model, images) -> tuple[np.ndarray, bool]:
    """Images as float32 (N, H, W, C) in [0, 1], and whether one image was given."""
    x = numeric_array(images)
    shape = input_shape(model)
    single = x.ndim == 3 and (x.shape[-1] == shape[2] and all(s is None or s == d for s, d in zip(shape, x.shape)))
    if single:
        x = x[None]
    elif x.ndim == 3 and shape[2] == 1:
        x = x[..., None]                                   # (N, H, W) gray, as keras.datasets gives MNIST
    if x.ndim != 4 or x.shape[-1] != shape[2] or any(s is not None and s != d for s, d in zip(shape[:2], x.shape[1:3])):
        want = "x".join("?" if s is None else str(s) for s in shape)
        raise CnnvizError(f"images of shape {x.shape} do not fit {model.name} (input {want}): give pixels at the "
                          "model's size, e.g. cnnviz.models.load_image(path, model).pixels")
    if len(x) == 0:
        raise CnnvizError("no images to attack")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0, single
    if x.dtype.kind not in "fiu":
        raise CnnvizError(f"images of dtype {x.dtype}: give uint8 pixels or floats in [0, 1]")
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise CnnvizError(f"float images must be pixels in [0, 1] (got {x.min():.3g}..{x.max():.3g}): attacks work "
                          "before preprocessing; give uint8 pixels or pixels / 255, not the model's input")
    return x, single


def norm_name(norm) -> str:
    """A norm as "inf" or "2" ("L2", "linf", 2 and numpy's inf allowed)."""
    if isinstance(norm, (int, float, np.integer, np.floating)) and not isinstance(norm, bool):
        text = "inf" if math.isinf(norm) else f"{norm:g}"
    else:
        text = str(norm).strip().lower().replace("l", "").replace("-", "")
    text = "inf" if text in ("infinity", "np.inf") else text
    if text not in NORMS:
        raise CnnvizError(f"unknown norm {norm!r}: use inf (L-infinity) or 2 (L2)")
    return text


def check_eps(eps, norm: str, dims: int) -> Optional[float]:
    """``eps`` checked against the norm's range for images of ``dims`` values (None: no budget)."""
    if eps is None:
        return None
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise CnnvizError(f"eps {eps!r} is not a number: give e.g. 0.3 or 8/255") from None
    if not np.isfinite(eps) or eps < 0:
        raise CnnvizError(f"eps must be 0 or positive (got {eps:g}): it is the perturbation budget in [0, 1] "
                          "pixel units")
    top = 1.0 if norm == "inf" else float(np.sqrt(dims))
    if eps > top:
        what = "L-infinity budgets are at most 1 (the whole [0, 1] range)" if norm == "inf" else \
            f"an L2 budget beyond {top:.4g} (the diameter of the image's [0, 1] box) means nothing"
        raise CnnvizError(f"eps {eps:g} is out of range: {what}; pixels are in [0, 1] units (8/255, not 8)")
    return eps


def check_labels(labels, n: int, n_classes: int, model) -> Optional[np.ndarray]:
    """True labels (class indices or names, one per image) as indices; None stays None."""
    if labels is None:
        return None
    if np.ndim(labels) == 0 and not isinstance(labels, (list, tuple)):
        labels = [labels] * n
    array = np.asarray(labels).reshape(-1)
    if array.dtype.kind in "iu" and array.size and 0 <= array.min() and array.max() < n_classes:
        resolved = array.astype(np.int64)                        # class indices: nothing to look up
    else:
        resolved = np.array([class_index(model, c) for c in np.asarray(labels, dtype=object).reshape(-1)], np.int64)
    if len(resolved) != n:
        raise CnnvizError(f"{len(resolved)} labels for {n} images: give one label per image")
    return resolved


def resolve_target(target, labels: np.ndarray, n_classes: int, model, seed: int, indices: np.ndarray,
                    label_kind: str) -> Optional[np.ndarray]:
    """Target classes per image (None: untargeted). ``"random"`` draws a class
    other than the label per image from (seed, image index)."""
    if target is None:
        return None
    if isinstance(target, str) and target.lower() == "random":
        if n_classes < 2:
            raise CnnvizError("a random target needs at least two classes")
        out = np.empty(len(labels), np.int64)
        for j, (i, y) in enumerate(zip(indices, labels)):
            t = int(np.random.default_rng([seed, int(i), 1]).integers(n_classes - 1))
            out[j] = t + (t >= y)
        return out
    if np.ndim(target) == 0:
        resolved = np.full(len(labels), class_index(model, target), np.int64)
    else:
        resolved = np.array([class_index(model, c) for c in np.asarray(target, dtype=object).reshape(-1)], np.int64)
        if len(resolved) != len(labels):
            raise CnnvizError(f"{len(resolved)} targets for {len(labels)} images: give one target or one per image")
    same = np.flatnonzero(resolved == labels)
    if len(same):
        classes = model_info(model).classes
        c = int(resolved[same[0]])
        name = classes[c] if c < len(classes) else str(c)
        where = "the image" if len(labels) == 1 else f"{len(same)} of the {len(labels)} images (first: image {same[0]})"
        raise CnnvizError(f"target {name!r} ({c}) is already the {label_kind} class of {where}: pick another target, "
                          "or use target='random' for batches")
    return resolved


def unroll(model) -> int:
    """Steps per compiled call: unrolled in the graph, 10 for small inputs; 2
    for large ones, whose graphs take long to trace."""
    h, w, c = input_shape(model)
    return CHUNK if (h or 224) * (w or 224) * c <= 64 * 64 * 3 else 2


def default_batch(model, copies: int = 1) -> int:
    """Images per batch from the input size and the model's layer sizes
    (:func:`batch_rows`); ``copies``: how many times an
    attack repeats each image in its backward pass (DeepFool: per candidate class)."""
    h, w, c = input_shape(model)
    per = max(1, (h or 224) * (w or 224) * c)
    return max(1, batch_rows(model, int(np.clip(2_000_000 // per, 1, 256)), backward=True) // copies)


def check_norm(norm, supported: tuple, method: str, alternatives: str = "") -> str:
    """``norm`` as "inf" or "2", refused with the fix when ``method`` supports only others."""
    norm = norm_name(norm)
    if norm not in supported:
        only = " and ".join(NORM_NAMES[n] for n in supported)
        instead = f" (or {alternatives} for {NORM_NAMES[norm]})" if alternatives else ""
        raise CnnvizError(f"{method} is an {only} attack: use norm {supported[0]}{instead}")
    return norm


def check_classifier(model) -> int:
    """The number of classes, or a CnnvizError if the model gives no class scores."""
    if len(model.outputs[0].shape) != 2:
        raise CnnvizError(f"{model.name} does not output class scores: attacks need a classifier")
    return int(model.outputs[0].shape[-1])


# ---------------------------------------------------------------- compiled pieces
# TensorFlow is heavy: imported inside the functions that build graphs.

COMPILED: "weakref.WeakKeyDictionary" = model_cache()    # model -> {configuration: tf.function}


def compiled(model, key: tuple, build):
    """The compiled loop for ``model`` and ``key``, built by ``build()`` the first time."""
    per_model = COMPILED.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def logits_fn(model, preprocessing: str):
    """Pre-softmax scores of [0, 1] pixels, a function of tensors (inside graphs)."""
    logits = logits_model(model)
    return lambda x: logits(pixels_to_input(x, preprocessing), training=False)


def per_image(x):
    """Sum over all axes but the first."""
    import tensorflow as tf

    return tf.reduce_sum(x, axis=AXES)


def tf_function(fn):
    """A ``tf.function`` of one model's attack loop. TensorFlow's warning about
    frequent retracing counts calls per Python code object, i.e. across the
    separate per-model functions built from the same code; for these (each
    traced once per model and configuration) it would be a false alarm."""
    import tensorflow as tf

    function = tf.function(fn, reduce_retracing=True)
    if hasattr(function, "_omit_frequent_tracing_warning"):
        function._omit_frequent_tracing_warning = True
    return function


def fooled(z, cls, targeted: bool):
    """Per image (a tensor): whether logits ``z`` reach the target class or leave the label."""
    import tensorflow as tf

    pred = tf.argmax(z, -1, output_type=tf.int32)
    return tf.equal(pred, cls) if targeted else tf.not_equal(pred, cls)


# ---------------------------------------------------------------- NumPy side

def logits_of(model, x01: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's pre-softmax scores of [0, 1] pixels."""
    return forward(logits_model(model), pixels_to_input(x01, model_info(model).preprocessing), batch_size)


def pixel_probabilities(model, x01: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's probabilities of [0, 1] pixels."""
    return probabilities(model, pixels_to_input(np.asarray(x01, np.float32), model_info(model).preprocessing),
                         batch_size=batch_size)


def softmax_of(logits: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64)).astype(np.float32)


def is_fooled(probs: np.ndarray, labels: np.ndarray, target: Optional[np.ndarray]) -> np.ndarray:
    """(N,) bool: the prediction is the target (targeted) or not the label."""
    pred = probs.argmax(-1)
    return pred == target if target is not None else pred != labels

def project(adversarial: np.ndarray, original: np.ndarray, eps: float, norm: str = "inf") -> np.ndarray:
    """Adversarial images moved into the eps-ball around the originals (and [0, 1])."""
    delta = np.asarray(adversarial, np.float32) - original
    if norm == "inf":
        delta = np.clip(delta, -eps, eps)
    else:
        n = np.sqrt(np.square(delta, dtype=np.float64).reshape(len(delta), -1).sum(1))
        scale = np.where(n > eps, eps / np.maximum(n, 1e-30), 1.0).astype(np.float32)
        delta = delta * scale[:, None, None, None]
    return np.clip(original + delta, 0.0, 1.0).astype(np.float32)


def quantize(adversarial: np.ndarray, original: np.ndarray, eps: Optional[float] = None,
             norm: str = "inf") -> np.ndarray:
    """Adversarial images as 8-bit pixels (what a PNG holds), kept within the
    budget: each pixel is rounded to the nearest level, except (L-inf) where
    that level lies outside [original - eps, original + eps], or (L2) in
    images whose rounded perturbation would exceed eps, where it is rounded
    towards the original instead. Exact for 8-bit originals."""
    a = np.asarray(adversarial, np.float32) * np.float32(255)
    o = np.asarray(original, np.float32) * np.float32(255)
    q = np.rint(a)
    if eps is not None:
        if norm == "inf":
            q = np.clip(q, np.ceil(o - eps * 255.0 - 1e-3), np.floor(o + eps * 255.0 + 1e-3))
        else:
            size = np.sqrt(np.square(q - o, dtype=np.float64).reshape(len(q), -1).sum(1)) / 255.0
            over = size > eps + BUDGET_TOLERANCE
            toward = np.where(a >= o, np.floor(a + 1e-6), np.ceil(a - 1e-6))
            q[over] = toward[over]
    return np.clip(q, 0, 255).astype(np.uint8)



# ---------------------------------------------------------------- the loop every attack runs

@dataclass
class Setup:
    """An attack's checked inputs: [0, 1] images, labels, targets, and the
    class each image is pushed away from (untargeted) or towards (targeted)."""

    x0: np.ndarray
    labels: np.ndarray
    target: Optional[np.ndarray]
    cls: np.ndarray
    indices: np.ndarray
    n_classes: int
    original_probs: Optional[np.ndarray]     # None: the first step's forward pass gives them

    @property
    def targeted(self) -> bool:
        return self.target is not None

    @property
    def dims(self) -> int:
        return int(np.prod(self.x0.shape[1:]))


def prepare(model, images, target, labels, seed: int, indices=None, original_probs=None,
            defer_probs: bool = False) -> Setup:
    """Images, labels and target checked (labels default to the model's
    predictions). ``indices``: the images' places in a larger set, which seed
    random starts and random targets; ``original_probs``: the originals'
    probabilities when known; ``defer_probs``: the attack's first step
    computes them (only when labels are given)."""
    n_classes = check_classifier(model)
    x0, _ = as_batch(model, images)
    indices = np.arange(len(x0)) if indices is None else np.asarray(indices)
    label_kind = "true" if labels is not None else "predicted"
    labels = check_labels(labels, len(x0), n_classes, model)
    if original_probs is None and not (defer_probs and labels is not None):
        original_probs = pixel_probabilities(model, x0)
    if labels is None:
        labels = original_probs.argmax(-1)
    tgt = resolve_target(target, labels, n_classes, model, seed, indices, label_kind)
    cls = (tgt if tgt is not None else labels).astype(np.int32)
    return Setup(x0, labels, tgt, cls, indices, n_classes, original_probs)


BatchFn = Callable[[slice, Callable[[int], None]], tuple]


def run_batches(model, setup: Setup, batch: BatchFn, *, method: str, norm: str, eps: Optional[float], steps: int,
                step_size: Optional[float], seed: int, batch_size: int, per_image_steps: int, settings: str,
                minimal: bool = False, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> AttackResult:
    """Run ``batch(slice, tick)`` over the images in batches of ``batch_size``
    and collect an :class:`AttackResult`. ``batch`` returns the adversarials,
    the steps each took, their probabilities (or None) and the originals'
    logits where its first step saw them (or None), and calls ``tick(count)``
    after each compiled chunk of ``count`` steps. A minimal-perturbation
    attack's result is projected onto ``eps`` when one is given."""
    if batch_size < 1:
        raise CnnvizError("batch size must be at least 1")
    x0, n = setup.x0, len(setup.x0)
    started = time.perf_counter()
    total, state = n * per_image_steps, {"done": 0}
    label = f"{method} ({'targeted' if setup.targeted else 'untargeted'})"
    adversarial = np.empty_like(x0)
    adversarial_probs = np.empty((n, setup.n_classes), np.float32)
    original_parts = []
    steps_used = np.zeros(n, np.int64)
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        size = len(x0[sl])

        def tick(count, size=size):
            state["done"] += count * size
            report(progress, min(state["done"], total), total, label)

        adv, used, probs, start_logits = batch(sl, tick)
        if minimal and eps is not None:
            adv = project(adv, x0[sl], eps, norm)
        adversarial[sl], steps_used[sl] = adv, used
        adversarial_probs[sl] = pixel_probabilities(model, adv) if probs is None else probs
        if setup.original_probs is None:
            original_parts.append(softmax_of(start_logits) if start_logits is not None
                                  else pixel_probabilities(model, x0[sl]))
        state["done"] = (start + size) * per_image_steps
    report(progress, total, total, label)
    original_probs = setup.original_probs if setup.original_probs is not None else np.concatenate(original_parts)
    notes = []
    if minimal and eps is not None:
        notes.append(f"{method} finds the smallest perturbation it can; it was projected onto eps={eps:g}")
    info = model_info(model)
    return AttackResult(method, norm, eps, steps, step_size, seed, x0, adversarial, setup.labels, setup.target,
                        original_probs, adversarial_probs, is_fooled(adversarial_probs, setup.labels, setup.target),
                        steps_used, quantize(adversarial, x0, eps, norm), tuple(info.classes),
                        time.perf_counter() - started, notes, info.name,
                        lambda x01: pixel_probabilities(model, x01), settings)
