"""Adversarial examples (Szegedy et al. 2014): small perturbations, computed
from the gradients, that change a classifier's prediction.

White-box attacks, untargeted or targeted (a class index or name, the same
for every image or one per image, or ``"random"``):
* ``fgsm``: the fast gradient sign method (Goodfellow et al. 2015), one step
  of size ``eps`` (for ``norm="2"`` the fast gradient method, along the
  normalized gradient);
* ``pgd``: projected gradient descent with a random start in the budget
  (Madry et al. 2018), ``steps`` steps of ``step_size`` (default
  ``2.5 * eps / steps``) under an L-infinity or L2 budget; with
  ``random_start=False`` the iterative FGSM of Kurakin et al. 2017;
* ``cw``: Carlini & Wagner's L2 attack (2017), the smallest L2 perturbation
  found by Adam in tanh space with a binary search on the constant;
* ``deepfool``: DeepFool (Moosavi-Dezfooli et al. 2016), L2 or L-infinity,
  repeated linearization towards the nearest decision boundary.

Everything happens in [0, 1] pixel space: images are uint8 pixels (as
:func:`cnnviz.data.load_image` gives in ``.pixels``) or floats in [0, 1] at
the model's input size, and become the model's input (VGG16's
``preprocess_input`` included) inside the compiled graph. The adversarial
image is therefore a real image: quantized to 8 bits (:func:`quantize`, what
``--save-adversarial`` writes) it can be saved and reloaded, and every result
reports whether the 8-bit image still fools the model. ``eps`` is in [0, 1]
pixel units (8/255 for CIFAR-10).

Losses use the pre-softmax logits (:func:`cnnviz.surgery.logits_model`):
cross-entropy away from the label (untargeted) or towards the target; CW's
margin on logits; DeepFool's linearized logit differences. Each attack's loop
is a ``tf.function`` built once per model and configuration and reused (eps,
step size and labels are tensors: no retracing between calls); images go in
batches, steps in compiled chunks of 10 unrolled steps, and progress and
cancel are checked between chunks. Random starts and random targets are drawn per image from
(seed, image index), so a run repeats exactly and does not depend on the
batch size.
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
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api, numeric_array
from ..models.engine import forward
from ..models.inputs import class_index
from ..models.predict import probabilities, softmax, top_k
from ..models.preprocessing import pixels_to_input
from ..models.surgery import logits_model
from ..models.zoo import input_shape, model_info

METHODS = ("fgsm", "pgd", "cw", "deepfool")
NORMS = ("inf", "2")
MINIMAL = ("cw", "deepfool")          # minimal-perturbation attacks: eps is an optional cap
DEFAULT_STEPS = {"fgsm": 1, "pgd": 40, "cw": 100, "deepfool": 50}
CHUNK = 10                            # steps per compiled call for small inputs (progress and cancel between calls)
CW_BINARY_STEPS = 6
CW_LEARNING_RATE = 0.1
CW_INITIAL_CONST = 1.0
DEEPFOOL_OVERSHOOT = 0.02
DEEPFOOL_CANDIDATES = 10
BOX = True                            # deepfool: pixels at 0 or 1 do not take part in the linear step
BUDGET_TOLERANCE = 1e-5               # float32 rounding allowed on top of eps in checks


def default_eps(model, norm: str = "inf") -> float:
    """The usual budget for the model's dataset: L-inf 0.3 for MNIST and 8/255
    otherwise; L2 2.0 for MNIST, 0.5 for CIFAR-10, 3.0 for larger images."""
    dataset = model_info(model).dataset
    if norm == "inf":
        return 0.3 if dataset == "mnist" else 8 / 255
    h, w, _ = input_shape(model)
    if dataset == "mnist":
        return 2.0
    return 0.5 if dataset == "cifar10" or (h or 224) * (w or 224) <= 64 * 64 else 3.0


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
        "rounded" images (a list per image of :class:`cnnviz.predict.Prediction`)."""
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
                "step_size": self.step_size, "seed": self.seed, "targeted": self.targeted,
                "success_rate": self.success_rate, "rounded_success_rate": float(np.mean(self.rounded_success)),
                "seconds": self.seconds, "notes": list(self.notes), "images": images}


# ---------------------------------------------------------------- checks

def _as_batch(model, images) -> tuple[np.ndarray, bool]:
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
                          "model's size, e.g. cnnviz.data.load_image(path, model).pixels")
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


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value)


def _check_method(method: str, norm: Optional[str]) -> tuple[str, str]:
    """The method and norm, checked; norm None means L2 for the
    minimal-perturbation attacks (cw, deepfool) and L-infinity otherwise."""
    method = str(method).lower()
    if norm is None:
        norm = "2" if method in MINIMAL else "inf"
    norm = str(norm).lower().replace("l", "")
    if norm in ("infinity", "np.inf"):
        norm = "inf"
    if method not in METHODS:
        raise CnnvizError(f"unknown attack method {method!r}: use one of {', '.join(METHODS)}")
    if norm not in NORMS:
        raise CnnvizError(f"unknown norm {norm!r}: use inf (L-infinity) or 2 (L2)")
    if method == "cw" and norm != "2":
        raise CnnvizError("cw is Carlini-Wagner's L2 attack: use norm 2 (or deepfool / pgd for L-infinity)")
    return method, norm


def _check_eps(eps, norm: str, dims: int) -> Optional[float]:
    if eps is None:
        return None
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise CnnvizError(f"eps {eps!r} is not a number: give e.g. 0.3 or 8/255") from None
    if not np.isfinite(eps) or eps < 0:
        raise CnnvizError(f"eps must be 0 or positive (got {eps:g}): it is the perturbation budget in [0, 1] pixel "
                          "units")
    top = 1.0 if norm == "inf" else float(np.sqrt(dims))
    if eps > top:
        what = "L-infinity budgets are at most 1 (the whole [0, 1] range)" if norm == "inf" else \
            f"an L2 budget beyond {top:.4g} (the diameter of the image's [0, 1] box) means nothing"
        raise CnnvizError(f"eps {eps:g} is out of range: {what}; pixels are in [0, 1] units (8/255, not 8)")
    return eps


def _check_labels(labels, n: int, n_classes: int, model) -> Optional[np.ndarray]:
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


def _resolve_target(target, labels: np.ndarray, n_classes: int, model, seed: int, indices: np.ndarray,
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


def _unroll(model) -> int:
    """Steps per compiled call: unrolled in the graph, 10 for small inputs; 2
    for large ones, whose graphs take long to trace."""
    h, w, c = input_shape(model)
    return CHUNK if (h or 224) * (w or 224) * c <= 64 * 64 * 3 else 2


def _default_batch(model, method: str) -> int:
    h, w, c = input_shape(model)
    per = max(1, (h or 224) * (w or 224) * c)
    batch = int(np.clip(2_000_000 // per, 1, 256))
    if method == "deepfool":
        batch = max(1, batch // DEEPFOOL_CANDIDATES)
    return batch


# ---------------------------------------------------------------- compiled pieces

_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(model, key: tuple, build):
    per_model = _COMPILED.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _logits_fn(model, preprocessing: str):
    """Pre-softmax scores of [0, 1] pixels, a function of tensors (inside graphs)."""
    logits = logits_model(model)
    return lambda x: logits(pixels_to_input(x, preprocessing), training=False)


AXES = [1, 2, 3]                      # per-image reductions over (H, W, C)


def _per_image(x):
    """Sum over all axes but the first."""
    import tensorflow as tf

    return tf.reduce_sum(x, axis=AXES)


def _function(fn):
    """A ``tf.function`` of one model's attack loop. TensorFlow's warning about
    frequent retracing counts calls per Python code object, i.e. across the
    separate per-model functions built from the same code; for these (each
    traced once per model and configuration) it would be a false alarm."""
    import tensorflow as tf

    compiled = tf.function(fn, reduce_retracing=True)
    if hasattr(compiled, "_omit_frequent_tracing_warning"):
        compiled._omit_frequent_tracing_warning = True
    return compiled


def _direction(g, norm: str):
    """The steepest-ascent unit step for a gradient: its sign (L-inf) or the
    gradient over its L2 norm (scaled first, so tiny gradients of saturated
    softmax outputs do not underflow to zero)."""
    import tensorflow as tf

    if norm == "inf":
        return tf.sign(g)
    top = tf.reduce_max(tf.abs(g), axis=AXES, keepdims=True)
    g = tf.math.divide_no_nan(g, top)
    norm2 = tf.sqrt(tf.reduce_sum(tf.square(g), axis=AXES, keepdims=True))
    return tf.math.divide_no_nan(g, norm2)


def _project(x, x0, eps, norm: str):
    """Back into the eps-ball around x0 and the [0, 1] box (clipping to the
    box only shrinks each coordinate's offset, so the ball is kept)."""
    import tensorflow as tf

    delta = x - x0
    if norm == "inf":
        delta = tf.clip_by_value(delta, -eps, eps)
    else:
        n = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=AXES, keepdims=True))
        delta = delta * tf.minimum(1.0, tf.math.divide_no_nan(eps, n) + tf.cast(n <= 0, tf.float32))
    return tf.clip_by_value(x0 + delta, 0.0, 1.0)


def _cross_entropy(z, cls):
    """Cross-entropy of logits ``z`` for classes ``cls``, written as
    softplus(logsumexp_{i != y}(z_i - z_y)): the same value, but its gradient
    keeps the true class's term when the softmax saturates (the usual form's
    p_y - 1 rounds to 0 in float32 once p_y > 1 - 6e-8, and the step then
    only pushes the other classes up)."""
    import tensorflow as tf

    onehot = tf.one_hot(cls, tf.shape(z)[-1])
    zy = tf.reduce_sum(z * onehot, -1, keepdims=True)
    return tf.nn.softplus(tf.reduce_logsumexp(z - zy - 1e30 * onehot, -1))


def _build_gradient_attack(model, preprocessing: str, norm: str, targeted: bool, count: int):
    """A compiled chunk of ``count`` (projected) gradient steps on the
    cross-entropy; FGSM is one step of size eps from the original."""
    import tensorflow as tf

    logits = _logits_fn(model, preprocessing)
    direction = -1.0 if targeted else 1.0

    def run(x, x0, cls, best, first, eps, alpha, start, freeze):
        z_first = None
        for k in range(count):          # unrolled: one flat graph, which Grappler optimizes across steps
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = logits(x)
                loss = _cross_entropy(z, cls)
            g = tape.gradient(loss, x)
            z_first = z if z_first is None else z_first
            pred = tf.argmax(z, -1, output_type=tf.int32)
            ok = tf.equal(pred, cls) if targeted else tf.not_equal(pred, cls)
            best = tf.where(ok[:, None, None, None], x, best)
            first = tf.where(ok & (first < 0), start + k, first)
            new = _project(x + direction * alpha * _direction(g, norm), x0, eps, norm)
            x = tf.where((ok & freeze)[:, None, None, None], x, new)
        return x, best, first, z_first          # z_first: logits where the chunk started

    return _function(run)


def _build_cw(model, preprocessing: str, targeted: bool, count: int):
    """A compiled chunk of Adam steps on Carlini-Wagner's L2 objective in tanh
    space, keeping each image's smallest successful perturbation."""
    import tensorflow as tf

    logits = _logits_fn(model, preprocessing)

    def run(w, m, v, x0, cls, const, best_l2, best, best_step, found, lr, kappa, t0, start):
        for k in range(count):
            with tf.GradientTape() as tape:
                tape.watch(w)
                x = (tf.tanh(w) + 1.0) / 2.0
                z = logits(x)
                l2 = _per_image(tf.square(x - x0))
                onehot = tf.one_hot(cls, tf.shape(z)[-1])
                real = tf.reduce_sum(z * onehot, -1)
                other = tf.reduce_max(z - 1e9 * onehot, -1)
                margin = (other - real) if targeted else (real - other)
                loss = tf.reduce_sum(l2 + const * tf.maximum(margin, -kappa))
            g = tape.gradient(loss, w)
            pred = tf.argmax(z, -1, output_type=tf.int32)
            ok = tf.equal(pred, cls) if targeted else tf.not_equal(pred, cls)
            better = ok & (l2 < best_l2)
            best_l2 = tf.where(better, l2, best_l2)
            best = tf.where(better[:, None, None, None], x, best)
            best_step = tf.where(better, start + k, best_step)
            found = found | ok
            t = t0 + tf.cast(k, tf.float32) + 1.0
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * tf.square(g)
            w = w - lr * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return w, m, v, best_l2, best, best_step, found

    return _function(run)


def _build_deepfool(model, preprocessing: str, norm: str, candidates: int, count: int, box_aware: bool = True):
    """A compiled chunk of DeepFool iterations: the gradients of the label's
    and the candidate classes' logits in one batched backward pass (each image
    repeated once per candidate), the step to the nearest linearized boundary."""
    import tensorflow as tf

    logits = _logits_fn(model, preprocessing)

    def run(x0, r, cand, targets, targeted, first, overshoot, start):
        n = tf.shape(x0)[0]
        for k in range(count):
            x = tf.clip_by_value(x0 + (1.0 + overshoot) * r, 0.0, 1.0)
            xr = tf.repeat(x, candidates, axis=0)
            with tf.GradientTape() as tape:
                tape.watch(xr)
                z = logits(xr)
                chosen = tf.gather(z, tf.reshape(cand, [-1]), axis=1, batch_dims=1)
                total = tf.reduce_sum(chosen)
            g = tape.gradient(total, xr)
            g = tf.reshape(g, tf.concat([[n, candidates], tf.shape(x0)[1:]], 0))
            zc = tf.reshape(chosen, [n, candidates])
            pred = tf.argmax(z[::candidates], -1, output_type=tf.int32)
            ok = tf.where(targeted, tf.equal(pred, targets), tf.not_equal(pred, cand[:, 0]))
            first = tf.where(ok & (first < 0), start + k, first)
            f = zc[:, 1:] - zc[:, :1]                                    # (N, K-1), negative before the boundary
            wdiff = g[:, 1:] - g[:, :1]                                  # (N, K-1, H, W, C)
            if box_aware:   # pixels at 0 or 1 cannot move further out: leave them out of the linear step
                free = ~((x[:, None] <= 0.0) & (wdiff < 0) | (x[:, None] >= 1.0) & (wdiff > 0))
                wdiff = wdiff * tf.cast(free, wdiff.dtype)
            if norm == "2":
                size = tf.sqrt(tf.reduce_sum(tf.square(wdiff), axis=[2, 3, 4]))
            else:
                size = tf.reduce_sum(tf.abs(wdiff), axis=[2, 3, 4])
            distance = tf.math.divide_no_nan(tf.abs(f), size) + tf.cast(size <= 0, tf.float32) * 1e30
            best = tf.argmin(distance, axis=1, output_type=tf.int32)
            f_l = tf.gather(f, best, axis=1, batch_dims=1)
            w_l = tf.gather(wdiff, best, axis=1, batch_dims=1)
            s_l = tf.gather(size, best, axis=1, batch_dims=1)
            if norm == "2":
                step = w_l * tf.math.divide_no_nan(tf.abs(f_l) + 1e-4, tf.square(s_l))[:, None, None, None]
            else:
                step = tf.sign(w_l) * tf.math.divide_no_nan(tf.abs(f_l) + 1e-4, s_l)[:, None, None, None]
            r = r + tf.where(ok[:, None, None, None], tf.zeros_like(step), step)
        return r, first

    return _function(run)


# ---------------------------------------------------------------- attacks

def _random_start(x0: np.ndarray, indices: np.ndarray, seed: int, eps: float, norm: str) -> np.ndarray:
    """A uniform point of the eps-ball around each image, drawn from (seed, index)."""
    out = np.empty_like(x0)
    d = x0[0].size
    for j, i in enumerate(indices):
        rng = np.random.default_rng([seed, int(i)])
        if norm == "inf":
            noise = rng.uniform(-eps, eps, x0[j].shape)
        else:
            direction = rng.standard_normal(x0[j].shape)
            noise = direction / max(np.linalg.norm(direction), 1e-12) * eps * rng.uniform() ** (1.0 / d)
        out[j] = x0[j] + noise.astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def _gradient_batch(model, x0, cls, targeted, method, norm, eps, steps, alpha, random_start, early_stop, seed,
                    indices, tick, cancel):
    import tensorflow as tf

    preprocessing = model_info(model).preprocessing

    def run(count):
        return _compiled(model, ("gradient", preprocessing, norm, targeted, count), lambda: _build_gradient_attack(
            model, preprocessing, norm, targeted, count))

    randomized = method == "pgd" and random_start and eps > 0
    x = _random_start(x0, indices, seed, eps, norm) if randomized else x0.copy()
    best, first = x.copy(), np.full(len(x0), -1, np.int32)
    eps_t, alpha_t, freeze = tf.constant(eps, tf.float32), tf.constant(alpha, tf.float32), tf.constant(early_stop)
    active = np.arange(len(x0))         # with early_stop, images that fool the model leave the batch
    done, start_logits = 0, None
    while done < steps and len(active):
        check(cancel)
        count = min(_unroll(model), steps - done)
        xa, ba, fa, z = run(count)(tf.constant(x[active]), tf.constant(x0[active]), tf.constant(cls[active], tf.int32),
                                   tf.constant(best[active]), tf.constant(first[active]), eps_t, alpha_t,
                                   tf.constant(done), freeze)
        x[active], best[active], first[active] = xa.numpy(), ba.numpy(), fa.numpy()
        if done == 0 and not randomized:
            start_logits = z.numpy()                      # the originals' logits, for free
        done += count
        tick(count)
        if early_stop:
            active = active[first[active] < 0]
    # the final iterate, unless it stopped fooling the model after an earlier iterate did
    probs = _probabilities(model, x)
    pred = probs.argmax(-1)
    ok = pred == cls if targeted else pred != cls
    back = ~ok & (first >= 0)
    adversarial = np.where(back[:, None, None, None], best, x)
    if back.any():
        probs[back] = _probabilities(model, adversarial[back])
    first = np.where(ok & (first < 0), done, first)
    return adversarial, np.where(first >= 0, first, steps), probs, start_logits


def _cw_batch(model, x0, cls, targeted, steps, tick, cancel, binary_steps, learning_rate, initial_const,
              confidence):
    import tensorflow as tf

    preprocessing = model_info(model).preprocessing

    def run(count):
        return _compiled(model, ("cw", preprocessing, targeted, count), lambda: _build_cw(
            model, preprocessing, targeted, count))
    n = len(x0)
    w0 = np.arctanh(np.clip(2 * x0 - 1, -1 + 1e-6, 1 - 1e-6)).astype(np.float32)
    x0t, cls_t = tf.constant(x0), tf.constant(cls, tf.int32)
    lo, hi = np.zeros(n), np.full(n, np.inf)
    const = np.full(n, float(initial_const))
    best_l2, best = tf.fill([n], np.float32(np.inf)), x0t
    best_step = tf.fill([n], -1)
    for b in range(binary_steps):
        w = tf.constant(w0)
        m, v = tf.zeros_like(w), tf.zeros_like(w)
        found = tf.zeros([n], tf.bool)
        done = 0
        while done < steps:
            check(cancel)
            count = min(_unroll(model), steps - done)
            w, m, v, best_l2, best, best_step, found = run(count)(
                w, m, v, x0t, cls_t, tf.constant(const, tf.float32), best_l2, best, best_step, found,
                tf.constant(learning_rate, tf.float32), tf.constant(confidence, tf.float32),
                tf.constant(float(done)), tf.constant(b * steps + done))
            done += count
            tick(count)
        found = found.numpy()
        hi = np.where(found, np.minimum(hi, const), hi)
        lo = np.where(found, lo, np.maximum(lo, const))
        const = np.where(np.isfinite(hi), (lo + hi) / 2, const * 10)
    best_step = best_step.numpy()
    total = binary_steps * steps
    return best.numpy(), np.where(best_step >= 0, best_step + 1, total), None, None


def _deepfool_batch(model, x0, cls, targeted, labels, steps, norm, tick, cancel, overshoot, candidates):
    import tensorflow as tf

    preprocessing = model_info(model).preprocessing
    n_classes = int(model.outputs[0].shape[-1])
    kc = 2 if targeted else min(candidates, n_classes)

    def run(count):
        return _compiled(model, ("deepfool", preprocessing, norm, kc, BOX, count), lambda: _build_deepfool(
            model, preprocessing, norm, kc, count, BOX))
    z0 = _logits_numpy(model, x0)
    if targeted:
        cand = np.stack([labels, cls], axis=1)
    else:
        order = np.argsort(-z0, axis=1)
        cand = np.empty((len(x0), kc), np.int64)
        for j in range(len(x0)):
            others = [c for c in order[j] if c != labels[j]][:kc - 1]
            cand[j] = [labels[j], *others]
    r = tf.zeros_like(tf.constant(x0))
    first = tf.fill([len(x0)], -1)
    x0t = tf.constant(x0)
    cand_t, target_t = tf.constant(cand, tf.int32), tf.constant(cls, tf.int32)
    done = 0
    while done < steps:
        check(cancel)
        count = min(max(1, _unroll(model) // 2), steps - done)
        r, first = run(count)(x0t, r, cand_t, target_t, tf.constant(targeted), first,
                              tf.constant(overshoot, tf.float32), tf.constant(done))
        done += count
        tick(count)
        if bool(tf.reduce_all(first >= 0)):
            break
    adversarial = np.clip(x0 + (1.0 + overshoot) * r.numpy(), 0.0, 1.0)
    first = first.numpy()
    return adversarial, np.where(first >= 0, first, done), None, None


def _logits_numpy(model, x01: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return forward(logits_model(model), pixels_to_input(x01, model_info(model).preprocessing), batch_size)


def _probabilities(model, x01: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return probabilities(model, pixels_to_input(np.asarray(x01, np.float32), model_info(model).preprocessing),
                         batch_size=batch_size)


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


@api
def attack(model, images, *, method: str = "pgd", eps: Optional[float] = None, norm: Optional[str] = None,
           steps: Optional[int] = None, step_size: Optional[float] = None, target=None, labels=None,
           seed: int = 0, random_start: bool = True, early_stop: bool = False, batch_size: Optional[int] = None,
           confidence: float = 0.0, binary_steps: int = CW_BINARY_STEPS, learning_rate: float = CW_LEARNING_RATE,
           initial_const: float = CW_INITIAL_CONST, overshoot: float = DEEPFOOL_OVERSHOOT,
           progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
           _indices: Optional[np.ndarray] = None, _original_probs: Optional[np.ndarray] = None) -> AttackResult:
    """Adversarial examples for ``images`` (uint8 pixels or floats in [0, 1],
    (N, H, W, C), one image (H, W, C), or gray (N, H, W)) at the model's size.

    ``method``: fgsm, pgd, cw or deepfool; ``norm``: "inf" or "2" (default
    "inf" for fgsm and pgd, "2" for cw and deepfool); ``eps``: the
    budget in [0, 1] pixel units (default :func:`default_eps` for fgsm and pgd;
    for cw and deepfool None, no cap; a cap projects their result onto the
    budget). ``steps``: gradient steps (pgd 40; cw 100 per binary-search step;
    deepfool at most 50); ``step_size``: pgd's step (default 2.5 * eps / steps).
    ``target``: a class index or name, one per image, or "random" (a seeded
    class other than the label); None attacks untargeted. ``labels``: true
    classes (default: the model's predictions). ``early_stop`` (pgd) stops
    each image once it fools the model and drops it from the batch: the same
    images are fooled, much faster, but with less margin than after every
    step (8-bit rounding undoes more of them).
    """
    method, norm = _check_method(method, norm)
    if len(model.outputs[0].shape) != 2:
        raise CnnvizError(f"{model.name} does not output class scores: attacks need a classifier")
    x0, _ = _as_batch(model, images)
    n, dims = len(x0), int(np.prod(x0.shape[1:]))
    n_classes = int(model.outputs[0].shape[-1])
    if eps is None and method not in MINIMAL:
        eps = default_eps(model, norm)
    eps = _check_eps(eps, norm, dims)
    if steps is None:
        steps = DEFAULT_STEPS[method]
    if not _is_number(steps) or int(steps) != steps or steps < 1:
        raise CnnvizError(f"steps must be a whole number of at least 1 (got {steps!r})")
    for name, value in (("confidence", confidence), ("overshoot", overshoot)):
        if not _is_number(value) or value < 0:
            raise CnnvizError(f"{name} must be a finite number of 0 or more (got {value!r})")
    steps = int(steps)
    if method == "fgsm" and steps != 1:
        raise CnnvizError("fgsm takes a single step of size eps: drop steps, or use method pgd for several")
    if method == "pgd":
        step_size = 2.5 * eps / steps if step_size is None else float(step_size)
        if not step_size > 0 and eps > 0:
            raise CnnvizError(f"step size must be positive (got {step_size:g})")
    elif method == "fgsm":
        step_size = eps
    else:
        if step_size is not None:
            raise CnnvizError(f"{method} chooses its own steps: drop step_size")
        if method == "cw" and (binary_steps < 1 or learning_rate <= 0 or initial_const <= 0 or confidence < 0):
            raise CnnvizError("cw needs binary_steps >= 1, a positive learning rate and constant, confidence >= 0")
    indices = np.arange(n) if _indices is None else np.asarray(_indices)
    started = time.perf_counter()

    label_kind = "true" if labels is not None else "predicted"
    labels = _check_labels(labels, n, n_classes, model)
    original_probs = _original_probs
    # with true labels and no random start, the first step's forward pass gives the originals' predictions
    deferred = labels is not None and (method == "fgsm" or (method == "pgd" and not random_start))
    if original_probs is None and not deferred:
        original_probs = _probabilities(model, x0)
    if labels is None:
        labels = original_probs.argmax(-1)
    tgt = _resolve_target(target, labels, n_classes, model, seed, indices, label_kind)
    targeted = tgt is not None
    cls = (tgt if targeted else labels).astype(np.int32)

    batch_size = batch_size or _default_batch(model, method)
    if batch_size < 1:
        raise CnnvizError("batch size must be at least 1")
    per_image = steps * (binary_steps if method == "cw" else 1)
    total, state = n * per_image, {"done": 0}
    label = f"{method} ({'targeted' if targeted else 'untargeted'})"

    adversarial = np.empty_like(x0)
    adversarial_probs = np.empty((n, n_classes), np.float32)
    original_probs_parts = []
    steps_used = np.zeros(n, np.int64)
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        size = len(x0[sl])

        def tick(count, size=size):
            state["done"] += count * size
            report(progress, min(state["done"], total), total, label)

        if method in ("fgsm", "pgd"):
            adv, used, probs, start_logits = _gradient_batch(
                model, x0[sl], cls[sl], targeted, method, norm, eps, steps, step_size, random_start, early_stop, seed,
                indices[sl], tick, cancel)
        elif method == "cw":
            adv, used, probs, start_logits = _cw_batch(
                model, x0[sl], cls[sl], targeted, steps, tick, cancel, binary_steps, learning_rate, initial_const,
                confidence)
        else:
            adv, used, probs, start_logits = _deepfool_batch(
                model, x0[sl], cls[sl], targeted, labels[sl], steps, norm, tick, cancel, overshoot,
                DEEPFOOL_CANDIDATES)
        if method in MINIMAL and eps is not None:
            adv = project(adv, x0[sl], eps, norm)
        adversarial[sl], steps_used[sl] = adv, used
        adversarial_probs[sl] = _probabilities(model, adv) if probs is None else probs
        if original_probs is None:
            original_probs_parts.append(_softmax(start_logits) if start_logits is not None
                                        else _probabilities(model, x0[sl]))
        state["done"] = (start + size) * per_image
    report(progress, total, total, label)
    if original_probs is None:
        original_probs = np.concatenate(original_probs_parts)

    notes = []
    if method in MINIMAL and eps is not None:
        notes.append(f"{method} finds the smallest perturbation it can; it was projected onto eps={eps:g}")
    return AttackResult(method, norm, eps, steps, step_size, seed, x0, adversarial, labels, tgt, original_probs,
                        adversarial_probs, is_fooled(adversarial_probs, labels, tgt), steps_used,
                        quantize(adversarial, x0, eps, norm), tuple(model_info(model).classes),
                        time.perf_counter() - started, notes, model_info(model).name,
                        lambda x01: _probabilities(model, x01))


def _softmax(logits: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64)).astype(np.float32)


def is_fooled(probs: np.ndarray, labels: np.ndarray, target: Optional[np.ndarray]) -> np.ndarray:
    pred = probs.argmax(-1)
    return pred == target if target is not None else pred != labels
