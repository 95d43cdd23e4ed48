"""Everything an atlas shows, computed by the library's own functions: one
streaming pass for every layer's top-k (:func:`cnnviz.inside.top_patches`),
one for the activation statistics and class probabilities
(:func:`cnnviz.inside.profile.activation_profile`), batched synthesis per layer
(:func:`cnnviz.synthesis.synthesize_channels`: several images per channel
optimized jointly with its diversity term, cached on disk, so a resumed build
does not optimize again), filter weights and receptive fields.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check, stage
from ..data.datasets import balanced_subset
from ..data.sources import load_dataset
from ..data.stream import ImageFiles, decode, list_images
from ..inside.activations import spatial_layers
from ..inside.filters import CONV_TYPES, FilterWeights, conv_layers, filter_weights
from ..inside.profile import Profile, activation_profile, activation_profile_files
from ..inside.receptive import receptive_field
from ..inside.summary import Summary, summarize
from ..inside.top_patches import TopPatches, file_crops, patch_crops, silent_channels, top_patches, top_patches_files
from ..models.graph import get_layer, qualified_name
from ..models.inputs import stream_size
from ..models.zoo import input_shape, model_info
from ..synthesis.maximize import Synthesis, synthesize_channels, synthesize_class

NAMED = ("mnist", "cifar10")
VERSION = 2       # part of every atlas key: bump when pages change


@dataclass
class Source:
    """The dataset an atlas is built over: named test images in memory, or image files streamed from disk."""

    name: str
    description: str
    labels: np.ndarray
    classes: list[str]
    images: Optional[np.ndarray] = None          # (N, H, W, C) uint8, a named dataset
    index: Optional[np.ndarray] = None           # each image's index in the named test split
    files: Optional[ImageFiles] = None
    listing: tuple = ()                          # (source, limit, seed) the files were listed from
    size: Optional[tuple] = None                 # (H, W, C) the files decode to
    skipped: list[dict] = field(default_factory=list)   # {"file", "reason"} of unreadable files
    read: int = 0                                # images that decoded

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:3]) if self.images is not None else tuple(self.size[:2])

    def pixels(self, i: int) -> np.ndarray:
        if self.images is not None:
            return self.images[i]
        return decode(self.files.paths[i], self.size)

    def where(self, i: int) -> str:
        """Where image ``i`` comes from: its file, or its index in the named test split."""
        return self.files.paths[i] if self.files is not None else f"{self.name} test image {self.index[i]}"

    def fingerprint(self) -> list:
        if self.files is not None:
            return ["files", self.files.fingerprint()]
        digest = hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()
        return ["named", self.name, list(self.images.shape), digest]


def is_named(model, dataset: Optional[str]) -> bool:
    """Whether ``dataset`` (default the model's) is a named dataset held in memory rather than image files."""
    dataset = dataset or model_info(model).dataset
    return isinstance(dataset, str) and dataset.lower() in NAMED


def open_source(model, dataset: Optional[str], limit: Optional[int] = None, seed: int = 0) -> Source:
    """``mnist`` or ``cifar10`` (their test split, in memory), else an image
    folder, glob or list of files (streamed); default the model's own dataset."""
    dataset = dataset or model_info(model).dataset
    if dataset is None or dataset == "imagenet":
        raise CnnvizError(f"no dataset known for {model_info(model).name}: pass --dataset mnist, cifar10, "
                          "an image folder or a glob such as 'photos/*.jpg'")
    if is_named(model, dataset):
        data = load_dataset(dataset, input_shape(model), test_only=True)
        index = np.arange(len(data.x_test)) if limit is None else \
            balanced_subset(data.y_test, min(limit, len(data.y_test)), seed)
        images = data.x_test[index]
        images = images[..., None] if images.ndim == 3 else images
        return Source(data.name, f"{data.name} test split, {len(index):,} images ({data.source})",
                      data.y_test[index].reshape(-1), list(data.classes), images=images, index=index, read=len(index))
    files = list_images(dataset, limit, seed)
    return Source(Path(str(files.root)).name or str(files.root), f"image files {files.root}, {len(files):,} images",
                  files.labels, list(files.classes), files=files, listing=(dataset, limit, seed),
                  size=stream_size(model),
                  skipped=[{"file": p, "reason": "not an image file"} for p in files.not_images])


def atlas_layers(model, layers: Optional[Sequence[str]]) -> list[str]:
    """The layers an atlas shows: the named ones (spatial), else every convolution."""
    name = model_info(model).name
    spatial = spatial_layers(model)
    if layers:
        chosen = [qualified_name(model, n) for n in layers]
        for n in chosen:
            if n not in spatial:
                raise CnnvizError(f"layer {n} has no channels to show (its output is not a (H, W, C) map): "
                                  f"use one of {', '.join(spatial) or 'none'}")
        return list(dict.fromkeys(chosen))
    convs = [n for n in conv_layers(model) if n in spatial]
    if not convs:
        raise CnnvizError(f"{name} has no convolution layers: an atlas shows the channels of convolutions "
                          "(a model with Conv2D layers)")
    return convs


def weights_digest(model) -> str:
    """A hash of the model's weights (what its atlas and its app link are keyed by)."""
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    return digest.hexdigest()


def atlas_key(model, source: Source, options: dict, weights: str) -> str:
    """What decides every page: the model (``weights``, its :func:`weights_digest`; contract), the dataset's
    files or pixels, and the options."""
    info = model_info(model)
    digest = hashlib.sha256(json.dumps([VERSION, info.name, info.preprocessing, list(info.classes),
                                        source.fingerprint(), options], default=str).encode())
    digest.update(weights.encode())
    return digest.hexdigest()[:32]


@dataclass
class LayerData:
    name: str
    top: object                          # cnnviz.inside.top_patches.LayerTopK
    patches: TopPatches                  # the whole result (over files: which file each image is)
    syntheses: np.ndarray                # (channels, per channel, H, W, C) in [0, 1], diverse images
    synthesis_values: np.ndarray         # (channels, per channel) the channel's mean activation on each
    silent: dict[int, str]
    filters: Optional[FilterWeights]
    field_size: tuple


def channel_crops(layer: LayerData, source: Source, i: int) -> np.ndarray:
    """(k, rh, rw, ch) receptive-field crops of the top examples of the layer's ``i``-th channel, cut when a
    page needs them (all channels' crops of a deep layer at once would not fit in memory)."""
    top = layer.top
    one = replace(top, channels=top.channels[i:i + 1], values=top.values[i:i + 1],
                  image_index=top.image_index[i:i + 1], position=top.position[i:i + 1], boxes=top.boxes[i:i + 1])
    if source.files is None:          # only the images that hold these patches (not a padded copy of them all)
        used = np.unique(one.image_index[one.image_index >= 0])
        remapped = np.where(one.image_index >= 0, np.searchsorted(used, one.image_index), -1)
        return patch_crops(replace(one, image_index=remapped), source.images[used])[0]
    return file_crops(replace(layer.patches, layers={layer.name: one}), layer.name)[0]


@dataclass
class AtlasData:
    model_name: str
    source: Source
    summary: Summary
    layers: dict[str, LayerData]
    profile: Profile
    k: int
    classes: list[str]
    class_images: Optional[Synthesis]


def collect(model, source: Source, layers: list[str], k: int = 36, syntheses: int = 3, steps: Optional[int] = None,
            seed: int = 0, batch_size: int = 256, engine: str = "local", workers: Optional[int] = None,
            address: Optional[str] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> AtlasData:
    """Every array the atlas's pages show."""
    parts = 3 + len(layers)
    jobs = dict(batch_size=batch_size, progress=stage(progress, 0, parts, "dataset pass 1 of 2"), cancel=cancel)
    if source.files is not None:
        dataset, limit, listing_seed = source.listing
        top = top_patches_files(model, dataset, layers, k=k, limit=limit, seed=listing_seed, engine=engine,
                                workers=workers, address=address, **jobs)
        source.skipped += top.report["skipped"]
        source.read = top.report["read"]
        profile = activation_profile_files(model, source.files, layers, batch_size, engine, workers, address,
                                           stage(progress, 1, parts, "dataset pass 2 of 2"), cancel)
    else:
        top = top_patches(model, source.images, layers, k=k, **jobs)
        profile = activation_profile(model, source.images, layers, batch_size,
                                     stage(progress, 1, parts, "dataset pass 2 of 2"), cancel)
    overrides = {} if steps is None else {"steps": steps}
    data = {}
    for j, layer in enumerate(layers):
        check(cancel)
        step = stage(progress, 2 + j, parts, f"layer {j + 1} of {len(layers)}")
        images, values = _syntheses(model, layer, top.layers[layer].channels, syntheses, seed, batch_size,
                                    overrides, step, cancel)
        data[layer] = _layer_data(model, source, top, layer, images, values)
    class_images = _class_images(model, seed, overrides, stage(progress, parts - 1, parts, "classes"), cancel)
    return AtlasData(model_info(model).name, source, summarize(model), data, profile, top.k,
                     list(model_info(model).classes or source.classes), class_images)


def _syntheses(model, layer: str, channels: np.ndarray, per_channel: int, seed: int, batch_size: int,
               overrides: dict, progress, cancel) -> tuple[np.ndarray, np.ndarray]:
    """``per_channel`` diverse images of each channel and the activation each
    reached, optimized ``batch_size`` images per call at most."""
    step = max(1, batch_size // per_channel)
    chunks = [channels[i:i + step] for i in range(0, len(channels), step)]
    results = [synthesize_channels(model, layer, chunk, seed=seed, per_channel=per_channel, cache=True,
                                   cancel=cancel,
                                   progress=stage(progress, n, len(chunks), f"channels {chunk[0]}-{chunk[-1]}"),
                                   **overrides)
               for n, chunk in enumerate(chunks)]
    images = np.concatenate([r.by_channel for r in results])
    return images, np.concatenate([r.activations for r in results]).reshape(len(channels), per_channel)


def _layer_data(model, source: Source, top: TopPatches, layer: str, images: np.ndarray,
                values: np.ndarray) -> LayerData:
    result = top.layers[layer]
    silent = silent_channels(model, layer, result.channels, result.values,
                             f"did not fire on these {source.read:,} images")
    filters = filter_weights(model, layer) if type(get_layer(model, layer)).__name__ in CONV_TYPES else None
    return LayerData(layer, result, top, images, values, silent, filters, receptive_field(model, layer).size)


def _class_images(model, seed, overrides, progress, cancel) -> Optional[Synthesis]:
    """One synthesized image per class, for a classifier with named classes."""
    classes = model_info(model).classes
    if len(model.outputs[0].shape) != 2 or not classes:
        return None
    return synthesize_class(model, list(range(len(classes))), seed=seed, cache=True, progress=progress,
                            cancel=cancel, **overrides)
