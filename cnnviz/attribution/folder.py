"""Explaining every image of a folder: per-image maps (NPZ) and report
figures written as the stream goes (:mod:`cnnviz.data.stream`, on the local
engine or Ray, :mod:`cnnviz.jobs`), and a ``summary.json`` listing every
image with its prediction.

Resumable: each image's NPZ is written last and atomically, so an image is
done exactly when its NPZ exists; a rerun skips the shards whose images are
all done and redoes the others whole (the same batches, so the same maps).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.fileio import clean_stale_temporaries, save_figure, write_json, write_npz
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import api
from ..data.stream import ImageFiles, list_images, shard_starts
from ..jobs.base import Job
from ..jobs.engines import check_engine
from ..jobs.engines import run as run_job
from ..models.inputs import dataset_inputs, stream_size
from ..models.predict import predict
from ..models.zoo import model_info
from .registry import DEFAULT_METHODS, explain, method_name, summary

SUMMARY = "summary.json"
UNREADABLE = "unreadable.json"       # beside where an unreadable file's maps would be
JOB = "job.json"                     # the model, methods and options the folder's maps are of


def output_stem(out_dir: Path, base: str, path: str) -> Path:
    """Where an image's outputs go: its path below ``base`` mirrored in
    ``out_dir`` (``cat/001.jpg`` -> ``out_dir/cat/001.jpg.npz`` and ``.png``)."""
    return Path(out_dir) / os.path.relpath(os.path.abspath(path), base)


def _base(files: ImageFiles) -> str:
    """The folder whose layout the outputs mirror: the folder given, else the
    one every file lies below."""
    if os.path.isdir(files.root):
        return os.path.abspath(files.root)
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in files.paths])


class ExplainJob(Job):
    """Maps and figures for each image, written by the worker that computed
    them; the driver only counts what was written."""

    def __init__(self, files: ImageFiles, batch_size: int, out_dir, methods, target, options, figures, alpha):
        self.out_dir, self.base = Path(out_dir), _base(files)
        self.methods, self.target, self.options = list(methods), target, options
        self.figures, self.alpha = figures, alpha
        self.unfinished = frozenset(
            s for s in shard_starts(len(files), batch_size)
            if not all(self._done(p) for p in files.paths[s:s + batch_size]))

    def _stem(self, path: str) -> Path:
        return output_stem(self.out_dir, self.base, path)

    def _done(self, path: str) -> bool:
        stem = self._stem(path)
        if Path(f"{stem}.{UNREADABLE}").is_file():
            return True
        return Path(f"{stem}.npz").is_file() and (not self.figures or Path(f"{stem}.png").is_file())

    def done(self, start: int) -> bool:
        return start not in self.unfinished

    def worker(self, model):
        from ..plots.attribution import explain_figure  # matplotlib: heavy, loaded with the first figure

        info = model_info(model)

        def work(shard) -> dict:
            for path, reason in shard.skipped:         # recorded, so a rerun does not try them again
                write_json(f"{self._stem(path)}.{UNREADABLE}", {"file": path, "reason": reason})
            if not shard.paths:
                return {"written": np.array(0)}
            x = dataset_inputs(model, shard.pixels)
            preds = predict(model, x, 5)
            target = self.target if self.target is not None else [p[0].index for p in preds]
            results = explain(model, x, self.methods, target, options=self.options)
            described = summary(results)
            for j, path in enumerate(shard.paths):
                stem = self._stem(path)
                record = {"file": path, "top": [p._asdict() for p in preds[j]],
                          "targets": {m: described[m]["targets"][j] for m in described}}
                if self.figures:
                    fig = explain_figure(shard.pixels[j], results, j, preds[j], path, info.name, info.classes,
                                         self.alpha)
                    save_figure(fig, f"{stem}.png", dpi=100)
                write_npz(f"{stem}.npz", compressed=True, record=np.array(json.dumps(record)),
                          **{name: r.maps[j] for name, r in results.items()})
            return {"written": np.array(len(shard.paths))}

        return work

    def empty(self):
        return 0

    def merge(self, total, partial: dict):
        return total + int(partial["written"])


@api
def explain_files(model, source, out_dir, methods: Sequence[str] = DEFAULT_METHODS, target=None, *,
                  options: Optional[dict] = None, limit: Optional[int] = None, seed: int = 0,
                  figures: bool = True, alpha: float = 0.5, batch_size: int = 16, engine: str = "local",
                  workers: Optional[int] = None, address: Optional[str] = None,
                  progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> dict:
    """Explain every image of a folder, glob or list of files with ``methods``
    into ``out_dir``: per image ``<name>.npz`` (one map per method, and a
    ``record`` JSON string: file, top-5, targets) and ``<name>.png``, then
    ``summary.json``. Images already done are skipped (resumable); returns the
    summary (``written``: images done by this run)."""
    methods = [method_name(m) for m in methods]
    if not methods:
        raise CnnvizError("no methods given: name at least one explanation method")
    check_engine(engine, address)
    files = list_images(source, limit, seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CnnvizError(f"{out} is a file: give --out-dir a folder (it is created if missing)")
    clean_stale_temporaries(out, recursive=True)     # what a killed run left half-written
    _claim(out, model, methods, target, options, figures)
    job = ExplainJob(files, batch_size, out, methods, target, options, figures, alpha)
    written, _ = run_job(job, model, files, stream_size(model), batch_size, engine, workers, address,
                            progress, cancel)
    images, skipped = _records(job, files)
    if not images:
        raise CnnvizError(f"none of the {len(files)} file(s) of {files.root} could be read as an image "
                          f"(e.g. {skipped[0]['file']}: {skipped[0]['reason']}): "
                          "give JPEG, PNG, BMP, GIF or TIFF files")
    result = {"source": files.root, "methods": methods, "written": written, "images": images, "skipped": skipped}
    write_json(out / SUMMARY, result)
    return result


def _claim(out: Path, model, methods, target, options, figures) -> None:
    """Record what ``out`` holds maps of (``job.json``), and refuse to resume
    into a folder that holds another model's or other methods' maps: skipping
    those images would mix two jobs' outputs."""
    spec = json.loads(json.dumps({"model": model_info(model).name, "methods": list(methods), "target": target,
                                  "options": options or {}, "figures": figures}, default=str))
    path = out / JOB
    if path.is_file():
        try:
            before = json.loads(path.read_text("utf-8"))
        except ValueError:
            before = None
        if before != spec:
            raise CnnvizError(f"{out} holds the maps of another job ({path}: {json.dumps(before)}): give a new "
                              "--out-dir, or delete that one to start again")
    else:
        write_json(path, spec)


def _records(job: ExplainJob, files: ImageFiles) -> tuple[list[dict], list[dict]]:
    """Every done image's record, read back from its NPZ, and every unreadable
    file with its reason (those of the runs before a resume too)."""
    records, skipped = [], []
    for path in files.paths:
        stem = job._stem(path)
        npz, unreadable = Path(f"{stem}.npz"), Path(f"{stem}.{UNREADABLE}")
        if npz.is_file():
            with np.load(npz, allow_pickle=False) as f:
                record = json.loads(str(f["record"]))
            record.update(npz=str(npz), figure=f"{stem}.png" if job.figures else None)
            records.append(record)
        elif unreadable.is_file():
            skipped.append(json.loads(unreadable.read_text("utf-8")))
    return records, skipped
