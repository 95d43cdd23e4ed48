"""CRAFT as an explanation of single images (``cnnviz explain --methods
craft``): the concepts of each image's class, read from the cache or found
once and cached (:func:`~.craft.craft`), then where each concept is in the
image. The map of an image is its concepts' maps weighted by their
importance for the class; the concepts' own maps ride along in ``extras``."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..attribution.base import Attribution, check_images, resolve_targets
from ..common.progress import CancelToken, ProgressFn, report, stage
from ..common.validate import api
from .base import BATCH
from .craft import CraftResult, concept_maps, craft


@api
def craft_maps(model, images, target=None, *, layer: Optional[str] = None, k: int = 10, dataset: Optional[str] = None,
               limit: int = 100, patch: Optional[int] = None, designs: int = 32, seed: int = 0, compute: bool = True,
               batch_size: Optional[int] = None, progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> Attribution:
    """Where the CRAFT concepts of each image's class are in it. ``images``:
    model inputs (N, H, W, C); ``target``: the class (default: each image's
    predicted one). The concepts come from ``dataset`` (the class's images:
    mnist, cifar10, an image folder; default: the model's), with the settings
    of ``cnnviz concepts craft``, so concepts found there are reused here.
    ``compute`` False: refuse, saying how, instead of finding absent concepts.

    ``maps`` (N, H, W): the concepts' maps weighted by their importance;
    ``extras``: ``concept_maps`` (N, H, W, k), each concept's coefficient at
    each place (concepts ranked by importance), ``importances`` (N, k), and
    ``from_cache`` (N,), whether the image's concepts were read from the
    cache, and ``cache_notes``, why cached concepts were recomputed, if any."""
    started = time.perf_counter()
    x = check_images(model, images)
    targets = resolve_targets(model, x, target)
    classes = list(dict.fromkeys(targets.tolist()))
    found: dict[int, CraftResult] = {}
    for i, c in enumerate(classes):
        found[c] = craft(model, dataset, c, layer, k=k, patch=patch, designs=designs, limit=limit, seed=seed,
                         batch_size=batch_size or BATCH, cache=True, compute=compute,
                         progress=stage(progress, i, len(classes) + 1, f"concepts of class {c}"), cancel=cancel)
    per_image = [concept_maps(model, found[int(t)], x[j:j + 1], batch_size or BATCH)[0] for j, t in enumerate(targets)]
    report(progress, 1, 1, "concept maps")
    maps = np.stack(per_image).astype(np.float32)
    importances = np.stack([found[int(t)].importances for t in targets]).astype(np.float32)
    params = {"layer": found[classes[0]].layer, "k": k, "dataset": dataset or "the model's", "limit": limit}
    return Attribution("craft", np.einsum("nhwk,nk->nhw", maps, importances).astype(np.float32), targets,
                       params=params, seconds=time.perf_counter() - started,
                       extras={"concept_maps": maps, "importances": importances,
                               "from_cache": np.array([found[int(t)].from_cache for t in targets]),
                               "cache_notes": [r.cache_note for r in found.values() if r.cache_note]})
