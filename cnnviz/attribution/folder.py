"""Explaining every image of a folder: per-image maps (NPZ) and report
figures written as the stream goes (:mod:`cnnviz.data.stream`, on the local
engine or Ray, :mod:`cnnviz.jobs`), and a ``summary.json`` listing every
image with its prediction.

Resumable, and keyed by what decides the maps: ``job.json`` holds the job's
key (a hash of the model's architecture and weights, its preprocessing, the
input size, the source folder, the methods, target and options), and every
image's NPZ record carries that key and the size and modification time its
file had. A rerun keeps an image only when its NPZ reads back whole, carries
this job's key and its file is unchanged; every other image is redone (its
whole shard: the same batches, so the same maps) and the summary's
``redone`` says which and why. A folder holding another job's key is refused.
Each NPZ is written last and atomically, so a killed run leaves nothing a
rerun would trust.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError, short
from ..common.fileio import check_output_folder, clean_stale_temporaries, save_figure, write_json, write_npz
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import api
from ..data.stream import ImageFiles, list_images, shard_starts
from ..jobs.base import Job
from ..jobs.engines import check_engine
from ..jobs.engines import run as run_job
from ..models.inputs import dataset_inputs, stream_size
from ..models.predict import predict
from ..models.zoo import model_fingerprint, model_info
from .registry import DEFAULT_METHODS, explain, method, method_name, summary

SUMMARY = "summary.json"
UNREADABLE = "unreadable.json"       # beside where an unreadable file's maps would be
JOB = "job.json"                     # the key and description of the job the folder's maps are of
JOB_VERSION = 2                      # bump when what a key covers changes


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


def job_spec(model, base: str, methods, target, options, figures: bool, alpha: float) -> dict:
    """What decides a folder's maps and figures, with its key (a hash of it)."""
    spec = json.loads(json.dumps({
        "version": JOB_VERSION, "model": model_info(model).name, "model_sha256": model_fingerprint(model),
        "preprocessing": model_info(model).preprocessing, "size": list(stream_size(model)), "source": base,
        "methods": list(methods), "target": target, "options": _result_options(options), "figures": figures,
        "alpha": alpha if figures else None}, default=str))
    spec["key"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
    return spec


def _result_options(options: Optional[dict]) -> dict:
    """The options that change a map (not those that only change speed or
    memory, such as a method's batch size)."""
    return {name: {k: v for k, v in (opts or {}).items() if not method(name).option(k).engine}
            for name, opts in (options or {}).items()}


class ExplainJob(Job):
    """Maps and figures for each image, written by the worker that computed
    them; the driver only counts what was written."""

    def __init__(self, files: ImageFiles, batch_size: int, out_dir, spec: dict, options, alpha: float):
        self.out_dir, self.base, self.key = Path(out_dir), spec["source"], spec["key"]
        self.methods, self.target, self.options = spec["methods"], spec["target"], options
        self.figures, self.alpha = spec["figures"], alpha
        self.stats = {p: [size, mtime] for p, size, mtime in files.fingerprint()}   # as listed: a later change redoes
        self.kept, self.redone = {}, []         # path -> record still valid; [{"file", "reason"}] to redo
        for p in files.paths:
            record, reason = self._check(p)
            if record is not None:
                self.kept[p] = record
            elif reason:
                self.redone.append({"file": p, "reason": reason})
        self.unfinished = frozenset(
            s for s in shard_starts(len(files), batch_size)
            if not all(p in self.kept for p in files.paths[s:s + batch_size]))

    def _stem(self, path: str) -> Path:
        return output_stem(self.out_dir, self.base, path)

    def _check(self, path: str) -> tuple[Optional[dict], str]:
        """(the image's valid record, "") when its outputs can be kept, else
        (None, why it is redone; "" for an image never done)."""
        stem = self._stem(path)
        npz, marker = Path(f"{stem}.npz"), Path(f"{stem}.{UNREADABLE}")
        if npz.is_file():
            try:
                with np.load(npz, allow_pickle=False) as f:
                    record = json.loads(str(f["record"]))
                    missing = [m for m in self.methods if m not in f.files]
                if not isinstance(record, dict) or missing:
                    raise ValueError(f"no maps of {', '.join(missing)}" if missing else "no record")
            except Exception as exc:      # truncated, damaged or not an NPZ of ours: redone, never trusted
                return None, f"its maps {npz.name} were unreadable ({short(exc, 80)})"
            if record.get("job") != self.key:
                return None, f"its maps {npz.name} were of another job"
            if record.get("source") != self.stats[path]:
                return None, "the file changed since its maps were made (size or modification time)"
            if self.figures and not Path(f"{stem}.png").is_file():
                return None, "its figure was missing"
            return {**record, "npz": str(npz), "figure": f"{stem}.png" if self.figures else None}, ""
        if marker.is_file():
            try:
                record = json.loads(marker.read_text("utf-8"))
                valid = isinstance(record, dict) and isinstance(record.get("reason"), str)
            except (OSError, ValueError):
                valid = False
            if not valid:
                return None, f"its unreadable-file marker {marker.name} was damaged"
            if record.get("source") != self.stats[path]:
                return None, "it was unreadable before and has changed since"
            if record.get("job") != self.key:
                return None, "it was found unreadable by another job"
            return {"file": path, "reason": record["reason"], "unreadable": True}, ""
        return None, ""

    def done(self, start: int) -> bool:
        return start not in self.unfinished

    def worker(self, model):
        from ..plots.attribution import explain_figure  # matplotlib: heavy, loaded with the first figure

        info = model_info(model)

        def work(shard) -> dict:
            for path, reason in shard.skipped:         # recorded, so a rerun does not try them again
                stem = self._stem(path)
                for old in (Path(f"{stem}.npz"), Path(f"{stem}.png")):   # maps of an earlier version of the file
                    old.unlink(missing_ok=True)
                write_json(f"{stem}.{UNREADABLE}", {"file": path, "reason": reason, "job": self.key,
                                                    "source": self.stats[path]})
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
                          "targets": {m: described[m]["targets"][j] for m in described},
                          "job": self.key, "source": self.stats[path]}
                if self.figures:
                    fig = explain_figure(shard.pixels[j], results, j, preds[j], path, info.name, info.classes,
                                         self.alpha)
                    save_figure(fig, f"{stem}.png", dpi=100)
                write_npz(f"{stem}.npz", compressed=True, record=np.array(json.dumps(record)),
                          **{name: r.maps[j] for name, r in results.items()})
                Path(f"{stem}.{UNREADABLE}").unlink(missing_ok=True)   # it was unreadable before
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
    out = check_output_folder(out_dir, "--out-dir")
    clean_stale_temporaries(out, recursive=True)     # what a killed run left half-written
    spec = job_spec(model, _base(files), methods, target, options, figures, alpha)
    healed = _claim(out, spec)
    job = ExplainJob(files, batch_size, out, spec, options, alpha)
    written, _ = run_job(job, model, files, stream_size(model), batch_size, engine, workers, address,
                         progress, cancel)
    images, skipped = _records(job, files)
    if not images:
        raise CnnvizError(f"none of the {len(files)} file(s) of {files.root} could be read as an image "
                          f"(e.g. {skipped[0]['file']}: {skipped[0]['reason']}): "
                          "give JPEG, PNG, BMP, GIF or TIFF files")
    result = {"source": files.root, "methods": methods, "key": spec["key"], "written": written, "images": images,
              "skipped": skipped, "redone": job.redone, "healed": healed}
    write_json(out / SUMMARY, result)
    return result


def _claim(out: Path, spec: dict) -> list[str]:
    """Record the job ``out`` holds (``job.json``) and refuse a folder that
    holds another job's maps, naming what differs: resuming there would mix
    two jobs' outputs. A ``job.json`` that does not read back is rewritten
    (each image's record carries its job's key, so no other job's maps are
    kept); returns what was healed so."""
    path = out / JOB
    if not path.is_file():
        write_json(path, spec)
        return []
    try:
        before = json.loads(path.read_text("utf-8"))
        if not isinstance(before, dict) or not isinstance(before.get("key"), str):
            raise ValueError("no job key")
    except (OSError, ValueError) as exc:
        write_json(path, spec)
        return [f"{path} was damaged ({short(exc, 80)}) and was rewritten; images of another job are redone"]
    if before["key"] != spec["key"]:
        differ = [k for k in spec if k != "key" and before.get(k) != spec[k]] or ["version"]
        what = ", ".join("the model's weights or architecture" if k == "model_sha256" else k for k in differ)
        raise CnnvizError(f"{out} holds the maps of another job ({path}: its {what} differ): give a new --out-dir, "
                          "or delete that folder to start again")
    return []


def _records(job: ExplainJob, files: ImageFiles) -> tuple[list[dict], list[dict]]:
    """Every done image's record (kept from before, or read back from the NPZ
    this run wrote) and every unreadable file with its reason."""
    records, skipped = [], []
    for path in files.paths:
        record = job.kept.get(path)
        if record is None:
            record, _ = job._check(path)
        if record is None:
            continue
        if record.get("unreadable"):
            skipped.append({"file": record["file"], "reason": record["reason"]})
        else:
            records.append({k: v for k, v in record.items() if k not in ("job", "source")})
    return records, skipped
