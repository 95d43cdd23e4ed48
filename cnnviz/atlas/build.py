"""Building an atlas folder: resumable, and never touching what cnnviz did not write.

The folder's manifest (``cnnviz-atlas.json``, written atomically) holds the
atlas's key (model weights and contract, dataset files or pixels, options)
and every file of the plan; it is written before the first page. Each file is
written atomically, so a file that exists is complete: a rerun after a kill
writes only the missing ones, and a rerun of a finished atlas with the same
key writes nothing. A new key removes the old manifest's files, and only those.
A folder that holds files but no manifest is refused and left as it is.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..common import runtime
from ..common.errors import CnnvizError
from ..common.fileio import atomic_path, clean_stale_temporaries, write_json
from ..common.progress import CancelToken, ProgressFn, check, report
from ..common.validate import api, check_model
from ..jobs.engines import check_engine
from ..models.zoo import model_info
from .collect import atlas_key, atlas_layers, collect, is_named, open_source, weights_digest
from .pages import Site, unit_path

MANIFEST = "cnnviz-atlas.json"
REGISTRY = "atlases.json"        # in the cache folder: the atlases built here, by model weights (the app's link)


@dataclass
class AtlasReport:
    folder: Path
    key: str
    files: int                     # in the plan
    written: int                   # written by this run
    up_to_date: bool = False       # nothing to do: the same atlas was complete
    skipped: list[dict] = field(default_factory=list)     # unreadable dataset files, named on the model page

    def line(self) -> str:
        if self.up_to_date:
            return f"{self.folder}: up to date ({self.files} files), nothing rebuilt"
        kept = self.files - self.written
        done = f" ({kept} were done)" if kept else ""
        return (f"wrote {self.written} of {self.files} files in {self.folder}{done}"
                + (f"; skipped {len(self.skipped)} unreadable dataset file(s)" if self.skipped else ""))


def read_manifest(folder: str | os.PathLike) -> Optional[dict]:
    """The manifest of an atlas folder, or None where there is none (or it is damaged)."""
    try:
        data = json.loads((Path(folder) / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "cnnviz atlas" else None


def _check_folder(folder: Path) -> Optional[dict]:
    """The folder's manifest (None for a new or empty folder); a folder holding anything else is refused."""
    if folder.exists() and not folder.is_dir():
        raise CnnvizError(f"{folder} is a file, not a folder: give a new or empty folder for the atlas")
    if not folder.exists() or not any(folder.iterdir()):
        return None
    manifest = read_manifest(folder)
    if manifest is None:
        example = sorted(p.name for p in folder.iterdir())[0]
        raise CnnvizError(f"{folder} already holds files that cnnviz did not write (e.g. {example}) and no atlas "
                          f"manifest ({MANIFEST}): give a new or empty folder; nothing was deleted")
    return manifest


def _remove_old(folder: Path, manifest: dict) -> None:
    """Delete the files an earlier atlas listed (and folders they leave empty), nothing else."""
    root = folder.resolve()
    parents = set()
    for rel in manifest.get("files", []):
        path = (folder / rel).resolve()
        if root not in path.parents:       # a manifest naming files outside its folder is not trusted
            continue
        if path.is_file():
            path.unlink()
        parents.update(p for p in path.parents if root in p.parents)
    for p in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        try:
            p.rmdir()
        except OSError:            # not empty: it holds something else
            pass


def _manifest(model, weights: str, key: str, files: list[str], complete: bool, layers: list[str],
              options: dict) -> dict:
    info = model_info(model)
    return {"tool": "cnnviz atlas", "key": key, "model": info.name, "model_path": info.path,
            "weights": weights, "layers": layers, "options": options, "complete": complete,
            "unit_path": "layers/{layer}/{channel}.html", "files": files}


@api
def build_atlas(model, folder: str | os.PathLike, dataset: Optional[str] = None, limit: Optional[int] = None,
                layers: Optional[Sequence[str]] = None, k: int = 36, syntheses: int = 3,
                steps: Optional[int] = None, seed: int = 0, batch_size: int = 256, engine: str = "local",
                workers: Optional[int] = None, address: Optional[str] = None,
                progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> AtlasReport:
    """A static site of the model, unit by unit, in ``folder`` (see the module docstring for resuming).

    ``dataset``: mnist, cifar10 (test split) or image files (folder, glob),
    default the model's; ``limit`` a seeded class-balanced sample of that many.
    ``layers``: spatial layers (default every convolution). ``k``: top dataset
    examples per channel; ``syntheses``: synthesized images per channel,
    optimized jointly with a diversity term (seed ``seed``, at most
    ``batch_size`` images per call); ``steps``: synthesis steps (default the
    model's). ``engine="ray"`` streams image files on Ray, with the same pages."""
    check_model(model)
    for name, value, least in (("k", k, 1), ("syntheses", syntheses, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise CnnvizError(f"{name} must be a whole number of at least {least} (got {value!r})")
    check_engine(engine, address)
    folder = Path(folder)
    old = _check_folder(folder)
    names = atlas_layers(model, layers)
    if engine != "local" and is_named(model, dataset):
        raise CnnvizError(f"--engine {engine} streams image files: give an image folder or a glob as the dataset")
    source = open_source(model, dataset, limit, seed)
    options = {"layers": names, "k": k, "syntheses": syntheses, "steps": steps, "seed": seed, "limit": limit}
    weights = weights_digest(model)          # once: hashing a large model's weights takes seconds
    key = atlas_key(model, source, options, weights)
    if old is not None and old.get("key") == key and old.get("complete"):
        _remember(weights, folder)
        return AtlasReport(folder, key, len(old.get("files", [])), 0, up_to_date=True)
    if old is not None:
        clean_stale_temporaries(folder, recursive=True)       # once here, not before every one of its files
        if old.get("key") != key:
            _remove_old(folder, old)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MANIFEST, _manifest(model, weights, key, [], False, names, options))

    data = collect(model, source, names, k, syntheses, steps, seed, batch_size, engine, workers, address,
                   _part(progress, 0, 2), cancel)
    plan = Site(model, data, syntheses, seed).files()
    paths = [p for p, _ in plan]
    write_json(folder / MANIFEST, _manifest(model, weights, key, paths, False, names, options))
    written = 0
    pages = _part(progress, 1, 2)
    for n, (rel, produce) in enumerate(plan):
        check(cancel)
        report(pages, n, len(plan), "writing pages")
        target = folder / rel
        if target.is_file():
            continue
        content = produce()
        with atomic_path(target, clean=False) as tmp:
            tmp.write_bytes(content)
        written += 1
    report(pages, len(plan), len(plan), "writing pages")
    write_json(folder / MANIFEST, _manifest(model, weights, key, paths, True, names, options))
    _remember(weights, folder)
    return AtlasReport(folder, key, len(plan), written, skipped=list(source.skipped))


def _part(progress: Optional[ProgressFn], k: int, n: int) -> Optional[ProgressFn]:
    """Progress of part ``k`` of ``n`` as a share of the whole, its messages as they are."""
    if progress is None:
        return None
    return lambda done, total, message="": progress(k * 1000 + int(1000 * done / max(total, 1)), n * 1000, message)


# ---------------------------------------------------------------- finding an atlas (the app's link)

def _registry_path() -> Path:
    return runtime.cache_dir() / REGISTRY


def _remember(digest: str, folder: Path) -> None:
    """Note the folder as an atlas of the model whose weights have this digest (latest first)."""
    path = _registry_path()
    try:
        known = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        known = {}
    where = str(folder.resolve())
    known[digest] = [where] + [f for f in known.get(digest, []) if f != where]
    try:
        write_json(path, known)
    except OSError:   # an unwritable cache folder only loses the app's link
        pass


def find_atlas(model) -> Optional[Path]:
    """A complete atlas folder built here for this model's weights, or None."""
    try:
        known = json.loads(_registry_path().read_text("utf-8"))
    except (OSError, ValueError):
        return None
    digest = weights_digest(model)
    for where in known.get(digest, []):
        manifest = read_manifest(where)
        if manifest is not None and manifest.get("weights") == digest and manifest.get("complete"):
            return Path(where)
    return None


def unit_page(folder: str | os.PathLike, layer: str, channel: int) -> Optional[Path]:
    """The page of one channel in an atlas folder, or None where the atlas does not show it."""
    path = Path(folder) / unit_path(layer, channel)
    return path if path.is_file() else None
