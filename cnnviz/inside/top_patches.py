"""Top-activating dataset patches: for each channel of one or more layers, the
k dataset images (and positions) that activate it most, shown as the crop of
that unit's receptive field (the lecture's "images from the data set exciting
the first filters"; the Deep Visualization Toolbox's top-9).

One streaming pass over the data for all layers and channels at once: a
running top-k per channel kept on the device, so memory does not grow with the
dataset. Results are cached on disk (NPZ, keyed by the model's weights, the
layers, the options and the data).

Over an image folder (:func:`top_patches_files`) the images stream from disk
(:mod:`cnnviz.data.stream`) on the local engine or on Ray
(:mod:`cnnviz.jobs`); every patch keeps its file, so crops are re-read from
the files (:func:`file_crops`), and the cache is keyed by the folder's file
list and modification times.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import write_npz
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api, check_model, uint8_batch
from ..data.stream import decode, list_images
from ..jobs.base import Job
from ..jobs.engines import check_engine
from ..jobs.engines import run as run_job
from ..jobs.merge import merge_top_k
from ..models.engine import features
from ..models.graph import feature_model, get_layer, qualified_name
from ..models.inputs import dataset_inputs, stream_size
from ..models.zoo import model_fingerprint
from .activations import spatial_layers
from .bounds import dead_channels
from .receptive import receptive_field

PER = ("image", "unit")
STATS = ("max", "mean")


@dataclass
class LayerTopK:
    layer: str
    channels: np.ndarray        # (C,) channel indices
    values: np.ndarray          # (C, k) activation statistic, best first
    image_index: np.ndarray     # (C, k) dataset index (-1 where the dataset had fewer candidates)
    position: np.ndarray        # (C, k, 2) (row, col) of the unit in the layer's map
    boxes: np.ndarray           # (C, k, 4) receptive-field boxes (top, left, bottom, right) in input pixels


@dataclass
class TopPatches:
    layers: dict[str, LayerTopK]
    k: int
    per: str
    stat: str
    from_cache: bool = False
    files: Optional[list[str]] = None     # over a folder: the file of each image index
    size: Optional[tuple] = None          # (H, W, C) the files were decoded to
    report: Optional[dict] = field(default=None)   # over a folder: files read and skipped
    cache_note: str = ""                  # why a cached result was not used and was recomputed

    def to_json(self, layer: str) -> dict:
        """Per channel of ``layer``, best first: values, files (over a folder;
        else dataset image indices), unit positions and receptive-field boxes."""
        top = self.layers[layer]
        channels = []
        for i, c in enumerate(top.channels):
            found = top.image_index[i] >= 0
            where = ({"files": [self.files[n] for n in top.image_index[i][found]]} if self.files is not None
                     else {"image_index": top.image_index[i][found].tolist()})
            channels.append({"channel": int(c), "values": top.values[i][found].tolist(), **where,
                             "position": top.position[i][found].tolist(), "box": top.boxes[i][found].tolist()})
        out = {"layer": layer, "k": self.k, "per": self.per, "stat": self.stat, "channels": channels}
        if self.report is not None:
            out["report"] = self.report
        return out


def parse_channels(spec: Optional[str], n: int) -> np.ndarray:
    """"0:16", "3", "1,5,9" or None (all) to channel indices below ``n``."""
    if spec is None or spec == "":
        return np.arange(n)
    try:
        if ":" in spec:
            a, b = spec.split(":", 1)
            chosen = np.arange(int(a or 0), int(b) if b else n)
        else:
            chosen = np.array([int(c) for c in spec.split(",")])
    except ValueError:
        raise CnnvizError(f"bad channel list {spec!r}: "
                          "use START:STOP, a number, or numbers separated by commas") from None
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= n:
        raise CnnvizError(f"channels {spec} are out of range: the layer has channels 0..{n - 1}")
    return chosen


def _check_request(model, layers, k, channels, per, stat):
    """Qualified layer names and chosen channels of a request, checked."""
    if per not in PER or stat not in STATS:
        raise CnnvizError(f"per must be one of {PER} and stat one of {STATS}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise CnnvizError(f"k must be a whole number of at least 1 (got {k!r})")
    if isinstance(layers, str):
        layers = [layers]
    spatial = spatial_layers(model)
    names = [qualified_name(model, layer) for layer in layers]
    if not names:
        raise CnnvizError(f"no layers given: name at least one of {', '.join(spatial)}")
    for name in names:
        if name not in spatial:
            raise CnnvizError(f"layer {name} has no spatial output: use one of {', '.join(spatial)}")
    n_channels = {n: int(get_layer(model, n).output.shape[-1]) for n in names}
    wanted = {qualified_name(model, layer): c for layer, c in (channels or {}).items()}
    chosen = [np.asarray(wanted.get(n, np.arange(n_channels[n])), np.int32).reshape(-1) for n in names]
    for name, c in zip(names, chosen):
        if c.size == 0 or c.min() < 0 or c.max() >= n_channels[name]:
            raise CnnvizError(f"channels of {name} must be among 0..{n_channels[name] - 1} (got {c.tolist()})")
    return names, chosen


def _step_function(model, layers, channels, k, per, stat):
    """One compiled step: forward a batch, merge its candidates into the running top-k."""
    import tensorflow as tf

    sub = feature_model(model, list(layers))
    gathers = [tf.constant(c, tf.int32) for c in channels]

    @tf.function(reduce_retracing=True)
    def step(x, images, state):
        outs = sub(x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        new_state = []
        for a, idx, (best_v, best_i, best_p) in zip(outs, gathers, state):
            a = tf.gather(a, idx, axis=-1)
            b, h, w, c = tf.shape(a)[0], tf.shape(a)[1], tf.shape(a)[2], tf.shape(a)[3]
            flat = tf.reshape(a, (b, h * w, c))
            if per == "image":
                pos = tf.argmax(flat, axis=1, output_type=tf.int32)                      # (B, C)
                v = tf.reduce_max(flat, axis=1) if stat == "max" else tf.reduce_mean(flat, axis=1)
                img = tf.tile(images[:, None], (1, c))
            else:
                v = tf.reshape(flat, (b * h * w, c))
                pos = tf.tile(tf.tile(tf.range(h * w)[None, :], (b, 1))[..., None], (1, 1, c))
                pos = tf.reshape(pos, (b * h * w, c))
                img = tf.tile(tf.repeat(images, h * w)[:, None], (1, c))
            cand_v = tf.concat([best_v, v], 0)
            cand_i = tf.concat([best_i, img], 0)
            cand_p = tf.concat([best_p, pos], 0)
            top = tf.math.top_k(tf.transpose(cand_v), k=k)                              # (C, k)

            def pick(candidates):
                return tf.transpose(tf.gather(tf.transpose(candidates), top.indices, batch_dims=1))

            new_state.append((tf.transpose(top.values), pick(cand_i), pick(cand_p)))
        return new_state

    return step


@api
def top_patches(model, images: np.ndarray, layers: Sequence[str], k: int = 9,
                channels: Optional[dict] = None, per: str = "image", stat: str = "max", batch_size: int = 256,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                cache: bool = True) -> TopPatches:
    """The ``k`` most activating dataset units for every chosen channel of ``layers``.

    ``images``: uint8 dataset images (N, H, W[, C]), preprocessed here batch by
    batch. ``channels``: ``{layer: indices}`` (default all). ``per="image"``
    keeps each image's best position once per channel; ``per="unit"`` ranks
    every position. ``stat`` ranks images by the max or the mean over space.
    ``k`` is cut to the patches that exist (the result's ``k`` says how many).
    """
    import tensorflow as tf

    check_model(model)
    names, chosen = _check_request(model, layers, k, channels, per, stat)
    images = uint8_batch(images)
    k = min(int(k), _candidates(model, names, len(images), per))     # no more patches than exist

    key = _cache_key(model, names, chosen, k, per, stat, images)
    path = runtime.cache_dir() / "top_patches" / f"{key}.npz"
    note = ""
    if cache:
        cached, note = _read(path, names, k, per, stat)
        if cached is not None:
            return cached

    step = _step_function(model, names, chosen, k, per, stat)
    state = [(tf.fill((k, len(c)), -np.inf), tf.fill((k, len(c)), -1), tf.zeros((k, len(c)), tf.int32))
             for c in chosen]
    for start in range(0, len(images), batch_size):
        check(cancel)
        report(progress, start, len(images), "top patches")
        x = dataset_inputs(model, images[start:start + batch_size])
        state = step(tf.constant(x), tf.range(start, start + len(x)), state)
    report(progress, len(images), len(images), "top patches")
    check(cancel)

    widths = [m.shape[2] for m in features(model, dataset_inputs(model, images[:1]), tuple(names))]
    result = {}
    for name, c, width, (v, i, p) in zip(names, chosen, widths, state):
        result[name] = _layer_result(model, name, c, width, v.numpy().T, i.numpy().T, p.numpy().T)
    out = TopPatches(result, k, per, stat, cache_note=note)
    if cache:
        _write(path, out)
    return out


def _candidates(model, names, n_images: int, per: str) -> int:
    """How many distinct patches each channel has to rank: one per image, or
    (per unit) every position of the smallest chosen layer map in every image."""
    if per == "image":
        return n_images
    sizes = [get_layer(model, n).output.shape[1:3] for n in names]
    known = [int(h) * int(w) for h, w in sizes if h is not None and w is not None]
    return n_images * min(known) if known else n_images


def _layer_result(model, name, channels, width, values, index, flat_pos) -> LayerTopK:
    rows, cols = np.divmod(flat_pos, width)
    f = receptive_field(model, name)
    top = f.start[0] + rows * f.jump[0] - (f.size[0] - 1) / 2
    left = f.start[1] + cols * f.jump[1] - (f.size[1] - 1) / 2
    boxes = np.stack([top, left, top + f.size[0] - 1, left + f.size[1] - 1], axis=-1).round().astype(int)
    return LayerTopK(name, np.asarray(channels), values, index, np.stack([rows, cols], -1), boxes)


NEAR_SILENT = 0.01      # a channel whose best is under 1% of the strongest channel's barely fires


def silent_channels(model, layer: str, channels, best, observed: str) -> dict[int, str]:
    """The channels whose best value (top patch, or synthesized image) is not
    above 0, or under 1% of the strongest channel's best (a near-dead channel
    that synthesis drives to 0.001 is as meaningless as one at 0), so that
    what is shown for them means nothing, with why: "cannot fire" where
    interval bounds prove that no valid image makes the channel positive
    (:func:`cnnviz.inside.bounds.dead_channels`), otherwise ``observed``
    (e.g. "did not fire on these 200 images") or "barely fired"."""
    channels = np.asarray(channels, int)
    best = np.asarray(best, np.float64).reshape(len(channels), -1)
    best = np.where(np.isfinite(best), best, -np.inf).max(axis=1)
    strongest = max(float(best.max()), 0.0)
    quiet = best <= NEAR_SILENT * strongest
    if not quiet.any():
        return {}
    try:
        dead = dead_channels(model, layer)[channels]
    except CnnvizError:                 # a layer the bounds cannot reach: only what was observed
        dead = np.zeros(len(channels), bool)

    def why(value, proven):
        if proven:
            return "cannot fire (proven for every valid image)"
        if value <= 0:
            return observed
        return f"barely fired (at most {value:.2g}, under {NEAR_SILENT:.0%} of the strongest channel's {strongest:.3g})"

    return {int(c): why(v, d) for c, q, d, v in zip(channels, quiet, dead, best) if q}


@api
def patch_crops(result: LayerTopK, images: np.ndarray, fill: int = 0) -> np.ndarray:
    """The receptive-field crops (C, k, r, r, ch) uint8 of a layer's top units,
    padded with ``fill`` where the field leaves the image."""
    images = uint8_batch(images)
    images = images[..., None] if images.ndim == 3 else images
    top, left, bottom, right = (result.boxes[..., i] for i in range(4))
    rh, rw = int(bottom.max() - top.max() + 1), int(right.max() - left.max() + 1)
    pad = max(rh, rw)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    crops = np.full((*result.values.shape, rh, rw, images.shape[-1]), fill, np.uint8)
    for c, j in np.ndindex(result.values.shape):
        i = result.image_index[c, j]
        if i >= 0:
            y0, x0 = top[c, j] + pad, left[c, j] + pad
            crops[c, j] = padded[i, y0:y0 + rh, x0:x0 + rw]
    return crops


CONTEXT = 3          # a context crop is this many receptive fields wide ...
CONTEXT_MIN = 64     # ... and at least this many pixels (the whole image when it is smaller)


@dataclass
class ContextCrops:
    """Top patches seen in their image, as Microscope and the Deep
    Visualization Toolbox show dataset examples: a crop around each
    receptive field, and where the field lies in it."""

    crops: np.ndarray     # (C, k, s, s, ch) uint8; the whole image (s = its size) for small inputs
    boxes: np.ndarray     # (C, k, 4) the receptive field in crop pixels (top, left, bottom, right inclusive),
                          # clipped to the image


@api
def context_crops(result: LayerTopK, images: np.ndarray, side: Optional[int] = None) -> ContextCrops:
    """Crops of ``side`` pixels (default: three receptive fields, at least
    64, at most the image) around each top unit's receptive field, kept
    inside the image (the field is centred unless that would leave it), with
    the field's box in crop coordinates."""
    images = uint8_batch(images)
    images = images[..., None] if images.ndim == 3 else images
    H, W = images.shape[1:3]
    boxes = np.asarray(result.boxes)
    rf = int((boxes[..., 2] - boxes[..., 0]).max() + 1) if boxes.size else 1
    side = side or max(CONTEXT * rf, CONTEXT_MIN)
    sh, sw = min(side, H), min(side, W)
    crops = np.zeros((*result.values.shape, sh, sw, images.shape[-1]), np.uint8)
    inside = np.zeros((*result.values.shape, 4), np.int64)
    for c, j in np.ndindex(result.values.shape):
        i = result.image_index[c, j]
        t, lf, b, r = (int(v) for v in boxes[c, j])
        t, lf, b, r = max(t, 0), max(lf, 0), min(b, H - 1), min(r, W - 1)          # the field inside the image
        top = int(np.clip((t + b + 1) // 2 - sh // 2, 0, H - sh))
        left = int(np.clip((lf + r + 1) // 2 - sw // 2, 0, W - sw))
        if i >= 0:
            crops[c, j] = images[i, top:top + sh, left:left + sw]
        inside[c, j] = (t - top, lf - left, b - top, r - left)
    return ContextCrops(crops, inside)


# ---------------------------------------------------------------- image folders

class TopPatchesJob(Job):
    """Top-k per channel over a stream: each shard's own top-k, merged by
    keeping the k largest (:func:`cnnviz.jobs.merge.merge_top_k`)."""

    def __init__(self, names, chosen, k, per, stat):
        self.names, self.chosen, self.k, self.per, self.stat = names, chosen, k, per, stat

    def worker(self, model):
        import tensorflow as tf

        step = _step_function(model, self.names, self.chosen, self.k, self.per, self.stat)

        def work(shard) -> dict:
            if not len(shard.index):
                return self._pack(self.empty())
            state = [(tf.fill((self.k, len(c)), -np.inf), tf.fill((self.k, len(c)), -1),
                      tf.zeros((self.k, len(c)), tf.int32)) for c in self.chosen]
            x = dataset_inputs(model, shard.pixels)
            state = step(tf.constant(x), tf.constant(shard.index, tf.int32), state)
            return self._pack([(v.numpy().T, n.numpy().T, p.numpy().T) for v, n, p in state])

        return work

    @staticmethod
    def _pack(state) -> dict:
        return {f"{name}_{j}": a for j, triple in enumerate(state)
                for name, a in zip(("values", "image", "position"), triple)}

    def empty(self):
        return [(np.full((len(c), 0), -np.inf, np.float32), np.zeros((len(c), 0), np.int32),
                 np.zeros((len(c), 0), np.int32)) for c in self.chosen]

    def merge(self, total, partial: dict):
        return [merge_top_k(t, (partial[f"values_{j}"], partial[f"image_{j}"], partial[f"position_{j}"]), self.k)
                for j, t in enumerate(total)]


@api
def top_patches_files(model, source, layers: Sequence[str], k: int = 9, channels: Optional[dict] = None,
                      per: str = "image", stat: str = "max", limit: Optional[int] = None, seed: int = 0,
                      batch_size: int = 256, engine: str = "local", workers: Optional[int] = None,
                      address: Optional[str] = None, progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None, cache: bool = True) -> TopPatches:
    """:func:`top_patches` over an image folder, glob or list of files, streamed
    from disk (memory flat in the dataset's size): the result's ``files`` name
    the file of every ``image_index``, ``report`` the files read and skipped.
    ``limit``: a seeded class-balanced sample of that many files. ``engine``:
    ``"local"`` (tf.data) or ``"ray"`` (Ray Data; ``address`` of a cluster,
    else a local Ray instance with ``workers`` model actors); the same result
    either way."""
    names, chosen = _check_request(model, layers, k, channels, per, stat)
    check_engine(engine, address)
    files = list_images(source, limit, seed)
    size = stream_size(model)
    k = min(int(k), _candidates(model, names, len(files), per))
    key = _files_cache_key(model, names, chosen, k, per, stat, files, size)
    path = runtime.cache_dir() / "top_patches" / f"{key}.npz"
    note = ""
    if cache:
        cached, note = _read(path, names, k, per, stat)
        if cached is not None:
            cached.k = cached.layers[names[0]].values.shape[1]          # fewer where files were unreadable
            return cached

    job = TopPatchesJob(names, chosen, k, per, stat)
    total, read = run_job(job, model, files, size, batch_size, engine, workers, address, progress, cancel)
    k = min(k, _candidates(model, names, read.read, per))        # unreadable files give no patches
    widths = [m.shape[2] for m in features(model, dataset_inputs(model, np.zeros((1, *size), np.uint8)),
                                           tuple(names))]
    result = {name: _layer_result(model, name, c, width, v[:, :k], i[:, :k], p[:, :k])
              for name, c, width, (v, i, p) in zip(names, chosen, widths, total)}
    report = read.to_json()
    report["skipped"] = [{"file": f, "reason": "not an image file"} for f in files.not_images] + report["skipped"]
    out = TopPatches(result, k, per, stat, files=files.paths, size=size, report=report, cache_note=note)
    if cache:
        _write(path, out)
    return out


def file_crops(result: TopPatches, layer: str, fill: int = 0) -> np.ndarray:
    """:func:`patch_crops` of a folder result, its images re-read from their
    files (only the ones that hold a top patch)."""
    top = result.layers[layer]
    used = np.unique(top.image_index[top.image_index >= 0])
    images = np.stack([decode(result.files[i], result.size) for i in used]) if used.size else \
        np.zeros((1, *result.size), np.uint8)
    remapped = np.where(top.image_index >= 0, np.searchsorted(used, top.image_index), -1)
    return patch_crops(replace(top, image_index=remapped), images, fill)


# ---------------------------------------------------------------- cache

def _cache_key(model, names, chosen, k, per, stat, images) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([model_fingerprint(model), names, [c.tolist() for c in chosen], k, per, stat]).encode())
    digest.update(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def _files_cache_key(model, names, chosen, k, per, stat, files, size) -> str:
    """Keyed like :func:`_cache_key`, with the folder's file list, sizes and
    modification times in place of the pixels (a changed file is a new key)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([model_fingerprint(model), names, [c.tolist() for c in chosen], k, per, stat,
                              list(size), files.fingerprint()]).encode())
    return "files-" + digest.hexdigest()[:32]


def _write(path, result: TopPatches) -> None:
    arrays = {"layers": np.array(list(result.layers))}
    if result.files is not None:
        arrays.update(files=np.array(result.files, dtype=str), size=np.array(result.size),
                      report=np.array(json.dumps(result.report)))
    for i, r in enumerate(result.layers.values()):
        arrays.update({f"{i}_channels": r.channels, f"{i}_values": r.values, f"{i}_index": r.image_index,
                       f"{i}_position": r.position, f"{i}_boxes": r.boxes})
    try:
        write_npz(path, **arrays)
    except OSError:  # an unwritable cache folder only costs speed
        pass


def _check_shapes(top: LayerTopK) -> None:
    c, k = top.values.shape
    expected = {"channels": (c,), "image_index": (c, k), "position": (c, k, 2), "boxes": (c, k, 4)}
    for name, shape in expected.items():
        if getattr(top, name).shape != shape:
            raise ValueError(f"{top.layer}'s {name} has shape {getattr(top, name).shape}, not {shape}")


def _read(path, names, k, per, stat) -> tuple[Optional[TopPatches], str]:
    """The cached result and "", or None and why a cache entry there could not
    be used ("" when there is none): a damaged entry is recomputed, never trusted."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as f:
            if list(f["layers"]) != names:
                raise ValueError(f"it holds layers {list(f['layers'])}, not {names}")
            layers = {n: LayerTopK(n, f[f"{i}_channels"], f[f"{i}_values"], f[f"{i}_index"],
                                   f[f"{i}_position"], f[f"{i}_boxes"]) for i, n in enumerate(names)}
            folder = {}
            if "files" in f:
                folder = {"files": f["files"].tolist(), "size": tuple(int(v) for v in f["size"]),
                          "report": json.loads(str(f["report"]))}
        for top in layers.values():
            _check_shapes(top)
    except Exception as exc:
        return None, f"the cached top patches {path} were unreadable ({short(exc, 80)}) and were recomputed"
    return TopPatches(layers, k, per, stat, from_cache=True, **folder), ""
