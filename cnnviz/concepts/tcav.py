"""Testing with Concept Activation Vectors (TCAV; Kim et al., ICML 2018).

For a layer l, a concept's images and random counterexamples give
activations; a linear classifier (scikit-learn, as the paper's code and
captum) separates them, and its unit normal pointing to the concept is the
concept activation vector (CAV) v, with its held-out accuracy. The
directional derivative of the target class's logit h_k along the CAV,
``S(x) = grad h_k(f_l(x)) . v``, says whether moving an image's activations
towards the concept raises the class score; the TCAV score is the fraction of
the class's images with ``S > 0``.

A score means something only against chance: in each of ``runs`` runs two
disjoint random sets A_i and B_i are drawn from the random images; the
concept is tested against B_i, and A_i against B_i gives the score a
concept-free "concept" reaches. A two-sided t-test (scipy.stats.ttest_ind) of the concept's scores
against these random-vs-random scores gives the p-value; a concept whose p is
not below ``alpha`` is marked not significant, as the paper requires.

All layers share one forward pass per image (activations) and one backward
pass per class image (gradients).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Mapping, Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report, stage
from ..common.validate import api
from ..data.sources import load_dataset, named
from ..data.stream import list_images
from ..jobs import check_engine
from ..jobs import run as run_job
from ..jobs.base import Job
from ..jobs.merge import add
from ..models.inputs import class_index, dataset_inputs, stream_size
from ..models.zoo import input_shape, model_info
from .base import BATCH, activations, class_gradients, flat, layer_list, layer_rows, stream_rows
from .sets import Images, ImageSet, check_size, class_files, class_images, image_set, is_files

CLASSIFIERS = ("sgd", "logistic")
MIN_TEST = 4          # held-out images per concept-vs-random pair, at least
MIN_RUNS = 2          # a t-test needs two scores per side; the paper uses at least 10
DEFAULT_RUNS = 10
RANDOM_POOL = 500     # random images drawn from a dataset when no random folder is given


@dataclass
class TcavResult:
    """TCAV scores, CAV accuracies and significance per layer and concept."""

    target: int
    target_name: str
    layers: list[str]
    concepts: list[str]
    scores: np.ndarray              # (L, K, R) TCAV score of each concept-vs-random run
    accuracies: np.ndarray          # (L, K, R) held-out accuracy of each CAV
    random_scores: np.ndarray       # (L, R) scores of random-vs-random CAVs
    random_accuracies: np.ndarray   # (L, R)
    p_values: np.ndarray            # (L, K) two-sided t-test, concept scores against random ones
    alpha: float
    cavs: dict                      # layer -> (K, R, *layer shape) unit CAVs
    sets: list[dict] = field(default_factory=list)    # what each image set read and skipped
    options: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def significant(self) -> np.ndarray:
        """(L, K): the concept's scores differ from random ones (p < alpha)."""
        return np.nan_to_num(self.p_values, nan=1.0) < self.alpha

    @property
    def mean(self) -> np.ndarray:
        return self.scores.mean(axis=-1)

    @property
    def std(self) -> np.ndarray:
        return self.scores.std(axis=-1)

    def to_json(self) -> dict:
        rows = []
        for li, layer in enumerate(self.layers):
            for ki, concept in enumerate(self.concepts):
                rows.append({"layer": layer, "concept": concept, "tcav_mean": float(self.mean[li, ki]),
                             "tcav_std": float(self.std[li, ki]), "scores": self.scores[li, ki].tolist(),
                             "cav_accuracy_mean": float(self.accuracies[li, ki].mean()),
                             "cav_accuracies": self.accuracies[li, ki].tolist(),
                             "p_value": _finite(self.p_values[li, ki]),
                             "significant": bool(self.significant[li, ki])})
            rows.append({"layer": layer, "concept": "random", "tcav_mean": float(self.random_scores[li].mean()),
                         "tcav_std": float(self.random_scores[li].std()), "scores": self.random_scores[li].tolist(),
                         "cav_accuracy_mean": float(self.random_accuracies[li].mean()),
                         "cav_accuracies": self.random_accuracies[li].tolist()})
        return {"method": "tcav", "target": self.target, "target_name": self.target_name, "alpha": self.alpha,
                "runs": int(self.scores.shape[-1]), "options": self.options, "sets": self.sets, "results": rows,
                "seconds": round(self.seconds, 3)}

    def table(self) -> str:
        """The result as a text table, one line per layer and concept."""
        width = max(len(c) for c in self.concepts + ["concept", "(random)"])
        lw = max(len(layer) for layer in self.layers + ["layer"])
        head = (f"TCAV for class {self.target_name} ({self.target}), {self.scores.shape[-1]} random runs, "
                f"alpha {self.alpha:g}")
        lines = [head, f"{'layer':<{lw}} {'concept':<{width}}  score (mean ± sd)  CAV acc.  p-value"]
        for li, layer in enumerate(self.layers):
            for ki, concept in enumerate(self.concepts):
                p = self.p_values[li, ki]
                mark = "" if self.significant[li, ki] else "  not significant"
                lines.append(f"{layer:<{lw}} {concept:<{width}}  {self.mean[li, ki]:.2f} ± {self.std[li, ki]:.2f}"
                             f"        {self.accuracies[li, ki].mean():.2f}      "
                             f"{'n/a' if not math.isfinite(p) else f'{p:.2g}'}{mark}")
            lines.append(f"{layer:<{lw}} {'(random)':<{width}}  {self.random_scores[li].mean():.2f} ± "
                         f"{self.random_scores[li].std():.2f}        {self.random_accuracies[li].mean():.2f}")
        return "\n".join(lines)


def _finite(value) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


def images_needed(test_fraction: float) -> int:
    """Images a concept set needs so that each of its CAVs is tested on at
    least ``MIN_TEST`` held-out images (the pair has twice the set's images)."""
    return max(5, math.ceil(MIN_TEST / (2 * test_fraction)))


@api
def tcav(model, images: Images, target, layers, concepts: Mapping[str, Images], random: Optional[Images] = None, *,
         runs: int = DEFAULT_RUNS, classifier: str = "sgd", test_fraction: float = 0.2, alpha: float = 0.05,
         limit: Optional[int] = None, seed: int = 0, batch_size: int = BATCH, engine: Optional[str] = None,
         workers: Optional[int] = None, address: Optional[str] = None, progress: Optional[ProgressFn] = None,
         cancel: Optional[CancelToken] = None) -> TcavResult:
    """TCAV of ``concepts`` (name -> uint8 images or an image folder) for class
    ``target`` at ``layers``. ``images``: the class's images (uint8 pixels,
    an image folder or a dataset name; None: the model's dataset).
    ``random``: random counterexamples (default: a sample of the dataset),
    drawn into two disjoint random sets per run. ``limit`` caps every set's size.
    ``engine`` ("local" or "ray"): stream the class's image files from disk
    as a dataset job (only the signs of the directional derivatives are kept,
    so the class may have any number of images), and the concepts' and random
    image files too (only their activations are kept); None reads them into
    memory."""
    started = time.perf_counter()
    target = class_index(model, target)
    layers = layer_list(model, layers)
    _check_options(concepts, runs, classifier, test_fraction, alpha)
    steps = 5
    streamed = engine is not None
    if streamed:
        check_engine(engine, address)
    stream = {"layers": layers, "batch_size": batch_size, "engine": engine, "workers": workers,
              "address": address} if streamed else None
    sets = _read_sets(model, None if streamed else images, target, concepts, random, limit, seed, test_fraction,
                      stage(progress, 0, steps, "reading images"), cancel, random_default=images, stream=stream)
    target_set, concept_sets, pool, streamed_acts = sets
    m = max(len(s) for s in concept_sets)
    if len(pool) < 2 * m:
        raise CnnvizError(f"{pool.name} has {len(pool)} readable image(s): TCAV needs at least {2 * m} (twice the "
                          f"largest concept set, {m}) so that random sets do not share images; add random images "
                          "or cap the concept sets with --limit")
    concept_acts = [streamed_acts.get(k) or activations(model, s.x, layers, batch_size,
                                                         stage(progress, 1, steps, f"activations of {s.name}"), cancel)
                    for k, s in enumerate(concept_sets)]
    pool_acts = streamed_acts.get("random") or activations(model, pool.x, layers, batch_size,
                                                           stage(progress, 2, steps, "random activations"), cancel)
    random_sets = _random_sets(len(pool), m, runs, seed)
    fitted = _fit_cavs(layers, concept_acts, pool_acts, random_sets, classifier, test_fraction, seed,
                       stage(progress, 3, steps, "fitting CAVs"), cancel)
    cavs, random_cavs, accs, raccs = fitted
    directions = {layer: np.concatenate([cavs[layer].reshape(-1, random_cavs[layer].shape[1]), random_cavs[layer]])
                  for layer in layers}
    if streamed:
        files = list_images(class_files(model, target, images), limit, seed)
        total, read = run_job(DirectionalDerivativeJob(target, layers, directions), model, files, stream_size(model),
                              batch_size, engine, workers, address, stage(progress, 4, steps, "gradients"), cancel)
        positive, n = [total[f"positive{i}"] for i in range(len(layers))], int(total["n"])
        target_set = ImageSet(_class_name(model, target), np.empty((0,)), np.empty((n,)), [], read.skipped)
    else:
        grads = class_gradients(model, target_set.x, target, layers, batch_size,
                                stage(progress, 4, steps, "gradients"), cancel)
        positive, n = [positive_counts(g, directions[layer]) for g, layer in zip(grads, layers)], len(target_set)
    check_size(target_set, 1, "TCAV")
    fractions = np.stack(positive) / n                      # (L, K * R + R)
    k = len(concept_sets)
    scores, rscores = fractions[:, :k * runs].reshape(len(layers), k, runs), fractions[:, k * runs:]
    cavs = {layer: cavs[layer].reshape((k, runs) + pool_acts[li].shape[1:]) for li, layer in enumerate(layers)}
    p = _p_values(scores, rscores)

    name = _class_name(model, target)
    options = {"runs": runs, "classifier": classifier, "test_fraction": test_fraction, "seed": seed, "limit": limit,
               "engine": engine}
    report(progress, 1, 1, "done")
    return TcavResult(target, name, layers, [s.name for s in concept_sets], scores, accs, rscores, raccs, p, alpha,
                      cavs, [target_set.to_json()] + [s.to_json() for s in concept_sets] + [pool.to_json()], options,
                      time.perf_counter() - started)


def _class_name(model, target: int) -> str:
    info = model_info(model)
    return info.classes[target] if info.classes and target < len(info.classes) else str(target)


def _check_options(concepts, runs, classifier, test_fraction, alpha) -> None:
    if not concepts:
        raise CnnvizError("no concepts given: name at least one concept and its images (--concept NAME=DIR)")
    if "random" in concepts:
        raise CnnvizError("a concept is named 'random', the name of the random counterexamples: rename it")
    if runs < MIN_RUNS:
        raise CnnvizError(f"runs={runs}: the significance test needs at least {MIN_RUNS} random runs "
                          f"(the paper uses {DEFAULT_RUNS} or more)")
    if classifier not in CLASSIFIERS:
        raise CnnvizError(f"unknown classifier {classifier!r}: use {' or '.join(CLASSIFIERS)}")
    if not 0 < test_fraction < 1:
        raise CnnvizError(f"test_fraction={test_fraction:g}: give a fraction between 0 and 1, such as 0.2")
    if not 0 < alpha < 1:
        raise CnnvizError(f"alpha={alpha:g}: give a significance level between 0 and 1, such as 0.05")


def _read_sets(model, images, target, concepts, random, limit, seed, test_fraction, progress, cancel,
               random_default=None, stream=None):
    """The class's images (unless they stream: ``images`` None), each
    concept's and the random pool, checked for size; with ``stream`` (the
    layers and the engine) the sets given as files stream from disk and only
    their activations are kept: {concept index or "random": activations}."""
    needed = images_needed(test_fraction)
    n = len(concepts) + 2
    if images is None:
        target_set = ImageSet(str(target), np.empty((0,)), np.empty((0,)))
    else:
        target_set = class_images(model, target, images, limit, seed, stage(progress, 0, n, "class images"), cancel)
        check_size(target_set, 1, "TCAV")
    concept_sets, acts = [], {}
    for k, (name, source) in enumerate(concepts.items()):
        s, acts[k] = _image_set(model, name, source, limit, seed, stream, stage(progress, k + 1, n, name), cancel)
        check_size(s, needed, f"a held-out test fraction of {test_fraction:g} with {MIN_TEST} test images")
        concept_sets.append(s)
    pool_limit = None if random is not None else RANDOM_POOL
    source = random if random is not None else (images if images is not None else random_default)
    if source is None:
        source = model_info(model).dataset
    if isinstance(source, str) and named(source) is not None:
        source = load_dataset(source, input_shape(model)).x_test
    if source is None:
        raise CnnvizError(f"no random images: give a folder of random images (--random DIR) for {model.name}")
    pool, acts["random"] = _image_set(model, "random", source, pool_limit, seed + 1, stream,
                                      stage(progress, n - 1, n, "random images"), cancel)
    return target_set, concept_sets, pool, {key: a for key, a in acts.items() if a is not None}


def _image_set(model, name, source, limit, seed, stream, progress, cancel):
    """(the set, None) read into memory, or, with ``stream`` and files, (the
    set without its pixels, its activations of ``stream["layers"]``)."""
    if stream is None or not is_files(source):
        return image_set(model, name, source, limit, seed, progress, cancel), None
    files = list_images(source, limit, seed)
    acts, index, read = stream_rows(model, files, partial(layer_rows, layers=stream["layers"]), stream["batch_size"],
                                    stream["engine"], stream["workers"], stream["address"], progress, cancel)
    paths = [files.paths[i] for i in index]
    return ImageSet(name, np.empty((0,)), np.empty((len(index),)), paths, read.skipped), acts


def _random_sets(n_pool: int, m: int, runs: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per run, two disjoint random sets (A_i, B_i) of ``m`` pool indices each."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(runs):
        order = rng.permutation(n_pool)
        pairs.append((order[:m], order[m:2 * m]))
    return pairs


def _fit_cavs(layers, concept_acts, pool_acts, random_sets, classifier, test_fraction, seed, progress, cancel):
    """Every CAV and its held-out accuracy: concept k against B_i (its first
    n_k images), and A_i against B_i, for each layer and run i."""
    n_concepts, runs = len(concept_acts), len(random_sets)
    accs, raccs = np.zeros((len(layers), n_concepts, runs)), np.zeros((len(layers), runs))
    cavs, random_cavs = {}, {}
    total, done = len(layers) * (n_concepts + 1) * runs, 0
    for li, layer in enumerate(layers):
        pool = flat(pool_acts[li])
        cavs[layer] = np.zeros((n_concepts, runs, pool.shape[1]), np.float32)
        random_cavs[layer] = np.zeros((runs, pool.shape[1]), np.float32)
        for i, (others, negatives) in enumerate(random_sets):
            for k, acts in enumerate(concept_acts):
                check(cancel)
                report(progress, done, total, f"{layer}: CAVs")
                positive = flat(acts[li])
                cavs[layer][k, i], accs[li, k, i] = fit_cav(positive, pool[negatives[:len(positive)]], classifier,
                                                            test_fraction, seed + i)
                done += 1
            random_cavs[layer][i], raccs[li, i] = fit_cav(pool[others], pool[negatives], classifier, test_fraction,
                                                          seed + i)
            done += 1
    report(progress, total, total, "CAVs")
    return cavs, random_cavs, accs, raccs


def positive_counts(gradients: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """For each direction (rows of ``directions``, (M, D)), how many images
    (rows of ``gradients``, (N, ...)) have a positive directional derivative along it."""
    return (flat(gradients) @ directions.T > 0).sum(axis=0).astype(np.int64)


class DirectionalDerivativeJob(Job):
    """Per shard of a class's image files: how many images have a positive
    directional derivative of the class logit along each CAV (counts add up)."""

    def __init__(self, target: int, layers: Sequence[str], directions: dict):
        self.target, self.layers, self.directions = target, list(layers), directions

    def worker(self, model):
        def work(shard) -> dict:
            if not len(shard.index):
                return self.empty()
            grads = class_gradients(model, dataset_inputs(model, shard.pixels), self.target, self.layers,
                                    len(shard.index))
            counts = {f"positive{i}": positive_counts(g, self.directions[layer])
                      for i, (g, layer) in enumerate(zip(grads, self.layers))}
            return {"n": np.array(len(shard.index), np.int64), **counts}

        return work

    def empty(self) -> dict:
        return {"n": np.array(0, np.int64), **{f"positive{i}": np.zeros(len(self.directions[layer]), np.int64)
                                               for i, layer in enumerate(self.layers)}}

    def merge(self, total: dict, partial: dict) -> dict:
        return add(total, partial)


def fit_cav(positive: np.ndarray, negative: np.ndarray, classifier: str = "sgd", test_fraction: float = 0.2,
            seed: int = 0) -> tuple[np.ndarray, float]:
    """The unit CAV (pointing to ``positive``) and its held-out accuracy.

    One ``RandomState(seed)`` drives the split (sklearn's ``train_test_split``)
    and the classifier, as NumPy's global state does for callers that pass no
    seed: xplique's ``Cav`` after ``np.random.seed(seed)`` fits the same CAV.
    "sgd" is the paper's ``SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3)``
    (a linear SVM); "logistic" is ``LogisticRegression``."""
    # scikit-learn is heavy: imported when a CAV is fitted
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.model_selection import train_test_split

    x = np.concatenate([positive, negative]).astype(np.float32)
    y = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))]).astype(np.float32)
    rng = np.random.RandomState(seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=rng)
    if len(np.unique(y_train)) < 2:         # a tiny set can leave one side out of training: split by side instead
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=rng,
                                                            stratify=y)
    if classifier == "sgd":
        model = SGDClassifier(alpha=0.01, max_iter=1000, tol=1e-3, random_state=rng)
    else:
        model = LogisticRegression(max_iter=1000, random_state=seed)
    model.fit(x_train, y_train)
    cav = np.asarray(model.coef_[0], np.float64)
    norm = np.linalg.norm(cav)
    return (cav / norm if norm > 0 else cav).astype(np.float32), float(model.score(x_test, y_test))


def tcav_score(gradients: np.ndarray, cav: np.ndarray) -> float:
    """Fraction of images (rows of ``gradients``, (N, D)) whose directional derivative along ``cav`` is positive."""
    return float(positive_counts(gradients, cav.reshape(1, -1))[0] / len(gradients))


def _p_values(scores: np.ndarray, random_scores: np.ndarray) -> np.ndarray:
    """(L, K) two-sided t-test p-values; NaN where both sides are constant and equal."""
    from scipy.stats import ttest_ind  # scipy is heavy: imported when a test runs

    out = np.full(scores.shape[:2], np.nan)
    for li in range(scores.shape[0]):
        for ki in range(scores.shape[1]):
            a, b = scores[li, ki], random_scores[li]
            if np.ptp(a) == 0 and np.ptp(b) == 0:
                out[li, ki] = 1.0 if a[0] == b[0] else 0.0
            else:
                with warnings.catch_warnings():     # one side constant (all 1.0) is a valid test; scipy warns
                    warnings.simplefilter("ignore", RuntimeWarning)
                    out[li, ki] = ttest_ind(a, b).pvalue
    return out
