"""How every channel of some layers behaves over a whole dataset: per image
its maximum and its mean over space, and (for a classifier) the model's class
probabilities, from one forward pass per batch. From these follow a channel's
mean activation, how often it fires (its maximum above 0), its histogram, and
the dataset's most confident examples of each class.

Memory holds two numbers per (image, channel); over an image folder the images
stream from disk on the local engine or on Ray (:mod:`cnnviz.jobs`), cut in
the same shards, so both engines give the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api, check_model, uint8_batch
from ..data.stream import ImageFiles
from ..jobs.base import Job
from ..jobs.engines import run as run_job
from ..models.graph import feature_model, layer_names, qualified_name
from ..models.inputs import dataset_inputs, stream_size
from ..models.predict import as_probabilities
from .activations import spatial_layers


@dataclass
class Profile:
    layers: list[str]
    maxima: dict[str, np.ndarray]        # {layer: (N, C)} maximum over space per image (NaN: image not read)
    means: dict[str, np.ndarray]         # {layer: (N, C)} mean over space per image
    probabilities: Optional[np.ndarray]  # (N, classes), None for a model that is no classifier

    def mean_activation(self, layer: str) -> np.ndarray:
        """(C,) each channel's activation averaged over space and images."""
        return np.nanmean(self.means[layer], axis=0)

    def firing_rate(self, layer: str) -> np.ndarray:
        """(C,) the share of images in which the channel fires somewhere (maximum above 0)."""
        m = self.maxima[layer]
        read = ~np.isnan(m[:, 0])
        return (m[read] > 0).mean(axis=0) if read.any() else np.zeros(m.shape[1])

    def histogram(self, layer: str, channel: int, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """(counts, edges) of one channel's per-image maximum over the dataset."""
        values = self.maxima[layer][:, channel]
        return np.histogram(values[~np.isnan(values)], bins=bins)

    def most_confident(self, cls: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, probabilities) of the ``n`` images given class ``cls`` the highest probability."""
        p = np.nan_to_num(self.probabilities[:, cls], nan=-1.0)
        order = np.argsort(-p, kind="stable")[:n]
        order = order[p[order] >= 0]
        return order, p[order]


def _heads(model, layers) -> tuple[list[str], bool]:
    """The qualified layers checked (spatial), and whether the model's output is class scores."""
    spatial = spatial_layers(model)
    names = [qualified_name(model, n) for n in layers]
    for name in names:
        if name not in spatial:
            raise CnnvizError(f"layer {name} has no spatial output: use one of {', '.join(spatial)}")
    if not names:
        raise CnnvizError(f"no layers given: name at least one of {', '.join(spatial)}")
    return names, len(model.outputs[0].shape) == 2


class _Reducer:
    """One compiled function per model and layer set: a batch of inputs to
    per-channel maxima and means over space (and the model's output)."""

    def __init__(self, model, names: list[str], classifier: bool):
        import tensorflow as tf

        self.model, self.classifier, self.n = model, classifier, len(names)
        last = layer_names(model)[-1]
        sub = feature_model(model, names + ([last] if classifier else []))

        @tf.function(reduce_retracing=True)
        def reduce(x):
            outs = sub(x, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            maps = outs[:len(names)]
            return ([tf.reduce_max(a, axis=(1, 2)) for a in maps], [tf.reduce_mean(a, axis=(1, 2)) for a in maps],
                    outs[len(names):])

        self.reduce = reduce

    def __call__(self, pixels: np.ndarray):
        import tensorflow as tf

        maxima, means, out = self.reduce(tf.constant(dataset_inputs(self.model, pixels), tf.float32))
        probs = as_probabilities(self.model, out[0].numpy()) if self.classifier else None
        return [m.numpy() for m in maxima], [m.numpy() for m in means], probs


@api
def activation_profile(model, images: np.ndarray, layers: Sequence[str], batch_size: int = 256,
                       progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> Profile:
    """Per image and channel of ``layers``, the maximum and mean over space,
    and the class probabilities, for uint8 dataset ``images``."""
    check_model(model)
    names, classifier = _heads(model, layers)
    images = uint8_batch(images)
    reducer = _Reducer(model, names, classifier)
    parts = []
    for start in range(0, len(images), batch_size):
        check(cancel)
        report(progress, start, len(images), "activation statistics")
        parts.append(reducer(images[start:start + batch_size]))
    report(progress, len(images), len(images), "activation statistics")
    return _assemble(names, classifier, parts, None, len(images))


class ProfileJob(Job):
    """:func:`activation_profile` per shard, merged by collecting the shards'
    rows (their image indices say where each goes)."""

    def __init__(self, names: list[str], classifier: bool):
        self.names, self.classifier = names, classifier

    def worker(self, model):
        reducer = _Reducer(model, self.names, self.classifier)

        def work(shard) -> dict:
            if not len(shard.index):
                return {"index": np.zeros(0, np.int64)}
            maxima, means, probs = reducer(shard.pixels)
            out = {"index": np.asarray(shard.index, np.int64)}
            out.update({f"max_{j}": m for j, m in enumerate(maxima)})
            out.update({f"mean_{j}": m for j, m in enumerate(means)})
            if probs is not None:
                out["probs"] = probs
            return out

        return work

    def empty(self):
        return []

    def merge(self, total, partial: dict):
        return total + [partial] if len(partial["index"]) else total


@api
def activation_profile_files(model, files: ImageFiles, layers: Sequence[str], batch_size: int = 256,
                             engine: str = "local", workers: Optional[int] = None, address: Optional[str] = None,
                             progress: Optional[ProgressFn] = None,
                             cancel: Optional[CancelToken] = None) -> Profile:
    """:func:`activation_profile` over image files streamed from disk
    (:func:`cnnviz.data.stream.list_images`); rows of files that did not
    decode are NaN."""
    check_model(model)
    names, classifier = _heads(model, layers)
    parts, _ = run_job(ProfileJob(names, classifier), model, files, stream_size(model), batch_size, engine, workers,
                       address, progress, cancel)
    triples = [([p[f"max_{j}"] for j in range(len(names))], [p[f"mean_{j}"] for j in range(len(names))],
                p.get("probs")) for p in parts]
    return _assemble(names, classifier, triples, [p["index"] for p in parts], len(files))


def _assemble(names, classifier, parts, indices, n: int) -> Profile:
    """Rows of every part (at least one) placed at their image indices (in order when ``indices`` is None)."""
    if indices is None:
        sizes = np.cumsum([0] + [len(maxima[0]) for maxima, _, _ in parts])
        indices = [np.arange(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    where = np.concatenate(indices)

    def place(chunks):
        full = np.full((n, chunks[0].shape[1]), np.nan, np.float32)
        full[where] = np.concatenate(chunks)
        return full

    maxima = {name: place([p[0][j] for p in parts]) for j, name in enumerate(names)}
    means = {name: place([p[1][j] for p in parts]) for j, name in enumerate(names)}
    probs = place([p[2] for p in parts]) if classifier else None
    return Profile(list(names), maxima, means, probs)
