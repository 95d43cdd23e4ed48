"""CRAFT: Concept Recursive Activation FacTorization (Fel et al., CVPR 2023).

The concepts a model itself uses for a class, found from the class's images:
square crops of every image (stride 80 % of the crop side), each resized to
the model's input size, give a layer's activations (averaged over space);
non-negative matrix factorization (scikit-learn's NMF) writes them as
``A ≈ U W``, where the k rows of W are the concepts (directions in the
layer's activation space) and U says how much of each concept every crop has.

A concept's importance for the class is its total Sobol index (the paper's
estimator): each image's activations are written in the concepts, the
concepts' coefficients are scaled by quasi-random masks (a Halton design),
the class logit is recomputed from the layer on, and Jansen's estimator
gives the share of the logit's variance each concept accounts for, averaged
over the images. Concepts are ranked by it and shown by their most typical
crops (largest coefficient); ``concept_maps`` says where each concept is in
any image (its coefficient at each place of the layer, upsampled).

The steps follow xplique's ``CraftTf`` (same crops, bicubic resizing, NMF
settings with ``alpha_W``, Halton masks, Jansen estimator), so both give the
same factorization and importances for the same model, layer and images.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Optional

import numpy as np

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import write_npz
from ..common.progress import CancelToken, ProgressFn, check, report, stage
from ..common.validate import api, model_batch
from ..data.sources import named
from ..data.stream import ImageFiles, decode, list_images
from ..jobs import check_engine
from ..models.engine import once_per_model
from ..models.graph import get_layer, layer_names
from ..models.inputs import class_index, stream_size
from ..models.surgery import head_model
from ..models.zoo import input_shape, model_info
from .base import BATCH, activations, layer_list, stream_rows
from .sets import Images, ImageSet, check_size, class_files, class_images, class_label, is_files

SAMPLERS = ("halton", "sobol")
STRIDE = 0.8                # stride between crops as a fraction of their side, as CRAFT's code
TOP_CROPS = 10


@dataclass
class CraftResult:
    """A class's concepts at a layer, ranked by importance."""

    target: int
    target_name: str
    layer: str
    bank: np.ndarray            # (k, C) concept bank W: each concept's direction in the layer's channels
    importances: np.ndarray     # (k,) total Sobol index of each concept, descending
    crops: np.ndarray           # (T, p, p, C) uint8: the concepts' typical crops (of the n_crops factorized)
    crop_origin: np.ndarray     # (T, 3) image index, row and column of each crop's corner
    crop_u: np.ndarray          # (T, k) each crop's coefficient of each concept
    top: np.ndarray             # (k, n) each concept's typical crops (rows of ``crops``), most typical first
    patch: int
    alpha_w: float
    components: np.ndarray      # (k,) index of each ranked concept in the NMF's own order
    n_crops: int                # crops factorized
    options: dict = field(default_factory=dict)
    sets: list = field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False
    cache_note: str = ""        # why a cached result was not used and was recomputed

    def to_json(self) -> dict:
        return {"method": "craft", "target": self.target, "target_name": self.target_name, "layer": self.layer,
                "patch": self.patch, "crops": self.n_crops, "options": self.options, "sets": self.sets,
                "concepts": [{"rank": i + 1, "importance": float(self.importances[i]),
                              "component": int(self.components[i]), "typical_crops": self._crops_json(i)}
                             for i in range(len(self.importances))],
                "seconds": round(self.seconds, 3)}

    def _crops_json(self, concept: int) -> list[dict]:
        return [{"image": int(self.crop_origin[c, 0]), "row": int(self.crop_origin[c, 1]),
                 "col": int(self.crop_origin[c, 2]), "coefficient": float(self.crop_u[c, concept])}
                for c in self.top[concept]]

    def table(self) -> str:
        head = (f"CRAFT for class {self.target_name} ({self.target}) at {self.layer}: {len(self.bank)} concepts "
                f"from {self.n_crops} crops of {self.patch}x{self.patch} px")
        lines = [head, "rank  importance"]
        lines += [f"{i + 1:>4}  {v:10.4f}" for i, v in enumerate(self.importances)]
        return "\n".join(lines)


def default_layer(model) -> str:
    """The last layer with a spatial (H, W, C) output that computes something
    (not the input, not a dropout or noise layer, which only copy it at
    inference): CRAFT's usual cut, before the head."""
    spatial = [n for n in layer_names(model) if len(getattr(get_layer(model, n), "output", None).shape) == 4
               and not _copies(get_layer(model, n))]
    if not spatial:
        raise CnnvizError(f"{model.name} has no layer with a spatial output: give --layer")
    return spatial[-1]


def _copies(layer) -> bool:
    kind = type(layer).__name__
    return kind == "InputLayer" or "Dropout" in kind or "Noise" in kind


def default_patch(model) -> int:
    """2/7 of the input side (64 px at 224, CRAFT's setting)."""
    h = input_shape(model)[0] or 224
    return max(4, round(h * 2 / 7))


@api
def craft(model, images: Images, target, layer: Optional[str] = None, *, k: int = 10, patch: Optional[int] = None,
          alpha_w: float = 1e-2, designs: int = 32, sampler: str = "halton", limit: Optional[int] = None,
          seed: int = 0, batch_size: int = BATCH, cache: bool = False, compute: bool = True,
          engine: Optional[str] = None, workers: Optional[int] = None, address: Optional[str] = None,
          progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> CraftResult:
    """CRAFT's ``k`` concepts of class ``target`` at ``layer``, from ``images``
    (the class's images as uint8 pixels, an image folder, or a dataset name;
    None: the model's dataset), ranked by Sobol importance. ``designs``: the
    quasi-random designs of the Sobol estimate (xplique's ``nb_design``).
    ``cache``: read the result from (or write it to) the cache folder, keyed
    by the model's architecture and weights, the layer, the class, the
    settings and the data (the decoded images; streamed: the files' names,
    sizes and times); a damaged or inconsistent file is recomputed.
    ``compute`` False: only read the cache, and refuse, saying how to compute
    them, when these concepts are not there. ``engine`` ("local" or "ray"):
    stream the class's image files from disk as dataset jobs (only the crops'
    activations and the images' Sobol indices are kept; the typical crops are
    decoded again at the end); None reads the images into memory."""
    started = time.perf_counter()
    target = class_index(model, target)
    layer = layer_list(model, layer or default_layer(model))[0]
    patch = int(patch or default_patch(model))
    _check_options(model, k, patch, designs, sampler, alpha_w)
    steps = 4
    read = stage(progress, 0, steps, "reading images")
    if engine is None:
        data = _Memory(model, class_images(model, target, images, limit, seed, read, cancel), batch_size,
                       _listing(model, target, images, limit, seed))
    else:
        check_engine(engine, address)
        data = _Streamed(model, class_label(model, target), list_images(class_files(model, target, images), limit,
                                                                         seed), batch_size, engine, workers, address)
    settings = {"k": k, "patch": patch, "alpha_w": alpha_w, "designs": designs, "sampler": sampler}
    path = _cache_path(model, layer, target, settings, data.key()) if cache else None
    cached, note = _read(path, model, layer, target, settings) if path is not None else (None, "")
    if cached is not None:
        report(progress, 1, 1, "concepts from the cache")
        return cached
    if not compute:
        label = class_label(model, target)
        named = "" if label in (str(target), f"class {target}") else f" ({label})"
        raise CnnvizError(f"no CRAFT concepts of class {target}{named} at {layer} for these images are cached: "
                          f"compute them (cnnviz concepts craft MODEL --target {target} --layer {layer} -k {k} with "
                          "the same --dataset and --limit), or let them be computed (compute=True)")
    origin, crop_acts = data.crop_activations(layer, patch, stage(progress, 1, steps, "crop activations"), cancel)
    if len(crop_acts) < k:
        raise CnnvizError(f"{len(crop_acts)} crops of {patch} px for {k} concepts: give more images, a smaller "
                          f"--patch, or fewer concepts (-k {len(crop_acts)})")
    u, bank = factorize(crop_acts, k, alpha_w, seed)
    report(progress, 2, steps, "factorized")
    importances = data.importances(partial(sobol_indices, target=target, layer=layer, bank=bank, alpha_w=alpha_w,
                                           designs=designs, sampler=sampler, batch_size=batch_size),
                                   stage(progress, 2, steps, "concept importances"), cancel)
    order = np.argsort(importances)[::-1]
    crop_u = u[:, order]
    typical = np.argsort(-crop_u, axis=0, kind="stable")[:TOP_CROPS].T         # (k, n) of all crops
    kept = np.unique(typical)
    pixel_crops = data.crops(origin[kept], patch)

    report(progress, 1, 1, "done")
    result = CraftResult(target, class_label(model, target), layer, bank[order], importances[order], pixel_crops,
                         origin[kept], crop_u[kept], np.searchsorted(kept, typical), patch, alpha_w, order,
                         len(crop_acts), {**settings, "limit": limit, "seed": seed}, [data.to_json()],
                         time.perf_counter() - started, cache_note=note)
    if path is not None:
        _write(path, result)
    return result


class _Memory:
    """The class's images read into memory (an :class:`ImageSet`), from
    ``files`` when they were image files."""

    def __init__(self, model, images: ImageSet, batch_size: int, files: Optional[ImageFiles]):
        check_size(images, 1, "CRAFT")
        self.model, self.images, self.batch_size, self.files = model, images, batch_size, files

    def key(self) -> bytes:
        """The files (as a stream of them is keyed, so both share the cache), else the pixels."""
        if self.files is not None:
            return _files_key(self.files)
        return str(self.images.pixels.shape).encode() + np.ascontiguousarray(self.images.pixels).tobytes()

    def crop_activations(self, layer, patch, progress, cancel):
        return crop_activations(self.model, self.images.x, layer, patch, self.batch_size, progress, cancel)[1:]

    def importances(self, indices, progress, cancel) -> np.ndarray:
        return indices(self.model, self.images.x, progress=progress, cancel=cancel).mean(axis=0)

    def crops(self, origin, patch) -> np.ndarray:
        return _pixel_crops(self.images.pixels, origin, patch)

    def to_json(self) -> dict:
        return self.images.to_json()


class _Streamed:
    """The class's image files, streamed as dataset jobs on ``engine``."""

    def __init__(self, model, name: str, files: ImageFiles, batch_size: int, engine: str, workers, address):
        self.model, self.name, self.files, self.batch_size = model, name, files, batch_size
        self.run = partial(stream_rows, model, files, batch_size=batch_size, engine=engine, workers=workers,
                           address=address)
        self.decoded, self.skipped = [], []

    def key(self) -> bytes:
        return _files_key(self.files)

    def crop_activations(self, layer, patch, progress, cancel):
        (acts,), index, read = self.run(partial(crop_rows, layer=layer, patch=patch, batch_size=self.batch_size),
                                        progress=progress, cancel=cancel)
        self.decoded, self.skipped = [self.files.paths[i] for i in index], read.skipped
        _check_nonnegative(acts, layer)
        positions = crop_positions(*stream_size(self.model)[:2], patch)
        origin = np.concatenate([np.column_stack([np.full(len(positions), i), positions])
                                 for i in range(len(index))])
        return origin, acts.reshape(-1, acts.shape[-1])

    def importances(self, indices, progress, cancel) -> np.ndarray:
        (rows,), _, _ = self.run(partial(_as_rows, indices), progress=progress, cancel=cancel)
        return rows.mean(axis=0)

    def crops(self, origin, patch) -> np.ndarray:
        """The crops at ``origin``, from the few images they are in, decoded again."""
        needed = {i: decode(self.decoded[i], stream_size(self.model)) for i in np.unique(origin[:, 0])}
        return np.stack([needed[i][r:r + patch, c:c + patch] for i, r, c in origin])

    def to_json(self) -> dict:
        return ImageSet(self.name, np.empty((0,)), np.empty((len(self.decoded),)), self.decoded,
                        self.skipped).to_json()


def _as_rows(fn, model, x) -> list[np.ndarray]:
    return [fn(model, x)]


def _listing(model, target: int, images, limit, seed) -> Optional[ImageFiles]:
    """The class's image files the images are read from, or None (pixels, a named dataset)."""
    if images is None or not is_files(images) or (isinstance(images, str) and named(images) is not None):
        return None
    return list_images(class_files(model, target, images), limit, seed)


def _files_key(files: ImageFiles) -> bytes:
    """The files' names, sizes and modification times, in the listing's order."""
    return json.dumps([(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in files.paths]).encode()


# ---------------------------------------------------------------- disk cache (NPZ + JSON, no pickle)

CACHE_VERSION = 2
_ARRAYS = ("bank", "importances", "crops", "crop_origin", "crop_u", "top", "components")


def _cache_path(model, layer: str, target: int, settings: dict, data: bytes):
    """The cache file of these concepts: a digest of the model's architecture
    (layers, kinds, output shapes), its weights, the layer, the class, the
    settings and the ``data`` (the decoded images, or the streamed files)."""
    architecture = [(lay.name, type(lay).__name__, str(getattr(lay, "output", None) is not None and lay.output.shape))
                    for lay in model.layers]
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, model.name, model_info(model).preprocessing, architecture,
                                        [list(w.shape) for w in model.weights], layer, target, settings]).encode())
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    digest.update(data)
    return runtime.cache_dir() / "craft" / f"{digest.hexdigest()[:32]}.npz"


def _write(path, result: CraftResult) -> None:
    """One NPZ (arrays and a JSON ``meta`` string), written atomically."""
    meta = {"version": CACHE_VERSION, "target": result.target, "target_name": result.target_name,
            "layer": result.layer, "patch": result.patch, "alpha_w": result.alpha_w, "options": result.options,
            "n_crops": result.n_crops, "sets": result.sets, "seconds": result.seconds}
    try:
        write_npz(path, meta=np.array(json.dumps(meta)), **{name: getattr(result, name) for name in _ARRAYS})
    except OSError:     # an unwritable cache folder only costs time
        pass


def _read(path, model, layer: str, target: int, settings: dict) -> tuple[Optional[CraftResult], str]:
    """The cached result and "", or None and why the entry there could not be
    used ("" when there is none): a damaged or inconsistent entry is
    recomputed, never trusted."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in _ARRAYS}
            meta = json.loads(str(f["meta"]))
        result = CraftResult(meta["target"], meta["target_name"], meta["layer"], arrays["bank"],
                             arrays["importances"], arrays["crops"], arrays["crop_origin"], arrays["crop_u"],
                             arrays["top"], meta["patch"], meta["alpha_w"], arrays["components"], meta["n_crops"],
                             meta["options"], meta["sets"], meta["seconds"], from_cache=True)
        if meta["version"] != CACHE_VERSION or not _consistent(result, model, layer, target, settings):
            raise ValueError("its arrays do not fit this model, layer, class and settings")
    except Exception as exc:
        return None, f"the cached CRAFT concepts {path} were unreadable ({short(exc, 80)}) and were recomputed"
    return result, ""


def _consistent(r: CraftResult, model, layer: str, target: int, settings: dict) -> bool:
    """Whether a read result answers this question and its arrays fit together."""
    k, m = settings["k"], len(r.crops)
    channels = get_layer(model, layer).output.shape[-1]
    return (r.layer == layer and r.target == target and r.patch == settings["patch"] and m <= r.n_crops
            and r.bank.shape == (k, channels) and r.importances.shape == (k,) and r.components.shape == (k,)
            and sorted(r.components.tolist()) == list(range(k)) and r.crop_u.shape == (m, k)
            and r.crop_origin.shape == (m, 3) and r.crops.dtype == np.uint8
            and r.crops.shape[1:3] == (r.patch, r.patch) and r.top.ndim == 2 and len(r.top) == k
            and (r.top.size == 0 or 0 <= r.top.min() <= r.top.max() < m)
            and all(np.all(np.isfinite(a)) for a in (r.bank, r.importances, r.crop_u)) and bool(np.all(r.bank >= 0)))


def _check_options(model, k, patch, designs, sampler, alpha_w) -> None:
    if k < 1:
        raise CnnvizError(f"k={k}: give at least 1 concept")
    h, w, _ = input_shape(model)
    if not 2 <= patch <= min(h or 224, w or 224):
        raise CnnvizError(f"patch={patch}: give a crop side between 2 and the input's {min(h or 224, w or 224)} px")
    if designs < 1:
        raise CnnvizError(f"designs={designs}: give at least 1")
    if sampler not in SAMPLERS:
        raise CnnvizError(f"unknown sampler {sampler!r}: use {' or '.join(SAMPLERS)}")
    if alpha_w < 0:
        raise CnnvizError(f"alpha_w={alpha_w:g}: give 0 or more")


def crop_positions(height: int, width: int, patch: int) -> np.ndarray:
    """(row, col) of each crop's corner, row-major, as ``tf.image.extract_patches`` with padding VALID."""
    stride = max(1, int(patch * STRIDE))
    rows = np.arange(0, height - patch + 1, stride)
    cols = np.arange(0, width - patch + 1, stride)
    return np.array([(r, c) for r in rows for c in cols], np.int64).reshape(-1, 2)


def _crop_function(patch: int, size: tuple[int, int]):
    import tensorflow as tf

    stride = max(1, int(patch * STRIDE))

    @tf.function(reduce_retracing=True)
    def crops(x):
        p = tf.image.extract_patches(x, sizes=[1, patch, patch, 1], strides=[1, stride, stride, 1],
                                     rates=[1, 1, 1, 1], padding="VALID")
        p = tf.reshape(p, (-1, patch, patch, tf.shape(x)[-1]))
        return tf.image.resize(p, size, method="bicubic")

    return crops


def crop_activations(model, x: np.ndarray, layer: str, patch: int, batch_size: int = BATCH,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """The crops' positions and the layer's activations of each crop resized to
    the input size (mean over space): (M,) crops, (M, 3) origins, (M, C)."""
    positions = crop_positions(*x.shape[1:3], patch)
    a = crop_rows(model, x, layer, patch, batch_size, progress, cancel)[0]
    _check_nonnegative(a, layer)
    origin = np.concatenate([np.column_stack([np.full(len(positions), i), positions]) for i in range(len(x))])
    a = a.reshape(-1, a.shape[-1])
    return np.arange(len(a)), origin, a


def crop_rows(model, x: np.ndarray, layer: str, patch: int, batch_size: int = BATCH,
              progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> list[np.ndarray]:
    """[(N, crops per image, C)]: each image's crops' activations (what a stream's shard gives)."""
    h, w = x.shape[1:3]
    positions = crop_positions(h, w, patch)
    if not len(positions):
        raise CnnvizError(f"patch={patch} is larger than the {w}x{h} images: give a smaller --patch")
    crops = _crop_function(patch, (h, w))
    per_batch = max(1, batch_size // len(positions))
    acts = []
    for start in range(0, len(x), per_batch):
        check(cancel)
        report(progress, start, len(x), "crop activations")
        resized = np.asarray(crops(np.asarray(x[start:start + per_batch], np.float32)))
        a = activations(model, resized, [layer], batch_size)[0]
        acts.append(a.mean(axis=(1, 2)) if a.ndim == 4 else a.reshape(len(a), -1))
    report(progress, len(x), len(x), "crop activations")
    a = np.concatenate(acts)
    return [a.reshape(len(x), len(positions), a.shape[-1])]


def _check_nonnegative(acts: np.ndarray, layer: str) -> None:
    if acts.min() < 0:
        raise CnnvizError(f"{layer} has negative activations ({acts.min():.3g}): CRAFT factorizes non-negative ones; "
                          "pick a layer after a ReLU")


def factorize(acts: np.ndarray, k: int, alpha_w: float = 1e-2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """NMF of (M, C) activations into U (M, k) and the concept bank W (k, C), with CRAFT's settings."""
    from sklearn.decomposition import NMF  # scikit-learn is heavy: imported on use

    nmf = NMF(n_components=k, alpha_W=alpha_w, random_state=seed)
    u = nmf.fit_transform(np.asarray(acts, np.float32))
    return u, nmf.components_.astype(np.float32)


def masks(k: int, designs: int, sampler: str = "halton") -> np.ndarray:
    """The replicated quasi-Monte-Carlo design: A (designs, k), B, then k
    copies of A with column i taken from B, stacked: (designs (k + 2), k)."""
    from scipy.stats import qmc  # scipy is heavy: imported on use

    engine = qmc.Halton(2 * k, scramble=False) if sampler == "halton" else qmc.Sobol(2 * k, scramble=False)
    ab = engine.random(designs).astype(np.float32)
    a, b = ab[:, :k], ab[:, k:]
    c = np.repeat(a[None], k, 0)
    c[np.arange(k), :, np.arange(k)] = b.T
    return np.concatenate([a, b, c.reshape(-1, k)])


def jansen(outputs: np.ndarray, k: int, designs: int) -> np.ndarray:
    """Jansen's estimator of the total Sobol indices from the outputs on :func:`masks`."""
    a, c = outputs[:designs], outputs[2 * designs:].reshape(k, designs)
    var = max(float(np.var(a, ddof=1)) if designs > 1 else 0.0, 1e-12)
    return ((a[None] - c) ** 2).sum(-1) / (2 * designs * var)


def concept_coefficients(acts: np.ndarray, bank: np.ndarray, alpha_w: float) -> np.ndarray:
    """Activations (N, [h, w,] C) written in the concepts: (N, [h, w,] k),
    by scikit-learn's ``NMF.transform`` with the concept bank fixed (what
    CRAFT's ``transform`` calls on its fitted reducer)."""
    from sklearn.decomposition import NMF  # scikit-learn is heavy: imported on use

    nmf = NMF(n_components=len(bank), alpha_W=alpha_w)
    nmf.components_, nmf.n_components_, nmf.n_features_in_ = bank.astype(np.float32), len(bank), bank.shape[1]
    flat = np.maximum(acts.reshape(-1, acts.shape[-1]), 0).astype(np.float32)
    return nmf.transform(flat).reshape(acts.shape[:-1] + (len(bank),))


def sobol_importance(model, x: np.ndarray, target: int, layer: str, bank: np.ndarray, alpha_w: float,
                     designs: int = 32, sampler: str = "halton", batch_size: int = BATCH,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Each concept's total Sobol index for the ``target`` logit, averaged over the images ``x``."""
    return sobol_indices(model, x, target, layer, bank, alpha_w, designs, sampler, batch_size, progress,
                         cancel).mean(axis=0)


def sobol_indices(model, x: np.ndarray, target: int, layer: str, bank: np.ndarray, alpha_w: float,
                  designs: int = 32, sampler: str = "halton", batch_size: int = BATCH,
                  progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """(N, k): each concept's total Sobol index for the ``target`` logit, per
    image of ``x``: masks scale the concepts' coefficients at every place of
    the layer at once (CRAFT's reparameterization for spatial layers)."""
    head = head_model(model, layer)
    score = once_per_model(lambda a: head(a, training=False)[:, target])
    k = len(bank)
    design = masks(k, designs, sampler)
    acts = activations(model, x, [layer], batch_size)[0]
    u = concept_coefficients(acts, bank, alpha_w)
    indices = []
    for i in range(len(x)):
        check(cancel)
        report(progress, i, len(x), "concept importances")
        spatial = (slice(None),) + (None,) * (u.ndim - 2) + (slice(None),)
        perturbed = (u[i][None] * design[spatial]) @ bank          # (M, [h, w,] C)
        y = np.concatenate([np.asarray(score(perturbed[s:s + batch_size * 4].astype(np.float32)))
                            for s in range(0, len(perturbed), batch_size * 4)])
        indices.append(jansen(y, k, designs))
    report(progress, len(x), len(x), "concept importances")
    return np.stack(indices)


def _pixel_crops(pixels: np.ndarray, origin: np.ndarray, patch: int) -> np.ndarray:
    return np.stack([pixels[i, r:r + patch, c:c + patch] for i, r, c in origin])


@api
def concept_maps(model, result: CraftResult, images, batch_size: int = BATCH) -> np.ndarray:
    """Where each of ``result``'s concepts is in each image: (N, H, W, k), the
    concept's coefficient at each place of the layer, upsampled to the image
    (``images``: model input (N, H, W, C), as :func:`cnnviz.load_image` gives)."""
    from skimage.transform import resize


    x = model_batch(model, images)
    acts = activations(model, x, [result.layer], batch_size)[0]
    if acts.ndim != 4:
        raise CnnvizError(f"{result.layer} has no spatial output: concept maps need a layer with one (H, W, C)")
    u = concept_coefficients(acts, result.bank, result.alpha_w)
    h, w = x.shape[1:3]
    return np.stack([resize(m, (h, w, m.shape[-1]), order=1, preserve_range=True) for m in u]).astype(np.float32)
