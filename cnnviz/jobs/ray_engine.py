"""The Ray engine: the same jobs on Ray Data, on this machine or a cluster.

Ray Data runs the job in ``map_batches`` by a callable class, so each actor
loads the model and compiles its functions once (``workers`` actors, one GPU
each where the cluster has GPUs); an actor decodes its shard's files with the
stream's own decoder and applies the model, and the driver merges the
partial results as they arrive (memory flat). Decoding stays in the actors:
a separate decode stage of CPU tasks would wait forever for the CPUs the
model actors hold on a machine with as many actors as cores. A row of the Ray dataset is one shard
of the stream: the model sees exactly the batches the local engine gives it,
so the results are equal to the bit.

Ray retries a task whose worker died; a job that still fails raises a
:class:`CnnvizError` and returns nothing, never a partial result. The model
travels as its ``.keras`` file's bytes (Lambda-layer code only where the
driver's model had some, which the user allowed when loading it), so actors
on other machines need no shared disk for it; per-image outputs (explain) go
to a folder every node must see.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from typing import Optional

import numpy as np

from ..common.errors import Cancelled, CnnvizError, short
from ..common.progress import check, report
from ..data.stream import ImageFiles, Shard, StreamReport, decode_files
from ..models.zoo import load_model_file, model_info
from .base import todo_starts

INSTALL = 'pip install "cnnviz[ray]"'
RETRIES = 3            # a dead actor is restarted and its shard retried this often, then the job fails
MODEL_INFO_FIELDS = ("name", "dataset", "classes", "preprocessing", "trained", "family")


def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the Data extra)
    except ImportError as exc:
        raise CnnvizError(f"--engine ray needs Ray Data, which is not installed ({short(exc)}): {INSTALL}") from None
    return ray


def connect(address: Optional[str] = None, workers: Optional[int] = None):
    """Join the Ray cluster at ``address``, or start a local Ray instance
    (``workers`` CPUs, default all) if none is running in this process."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except Exception as exc:
            raise CnnvizError(f"cannot join the Ray cluster at {address} ({short(exc)}): check --address "
                              "(the head's host:port, as `ray start --head` prints it)") from None
    else:
        ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    _quiet(ray)
    return ray


def _quiet(ray) -> None:
    """No Ray Data progress bars or execution logs mixed into cnnviz's output."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """One clear line for an address where nothing answers (``ray.init`` would wait a long time)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host or hostport, int(port) if port.isdigit() else 6379), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise CnnvizError(f"no Ray cluster answers at {address} "
                          f"({exc.strerror or exc if isinstance(exc, OSError) else exc}): "
                          "start one with `ray start --head` or fix --address (host:port)") from None


# ---------------------------------------------------------------- the model, shipped to actors

class ModelSpec:
    """A model as bytes of its ``.keras`` file plus what cnnviz knows of it."""

    def __init__(self, model):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            with open(path, "rb") as f:
                self.data = f.read()
        info = model_info(model)
        self.info = {name: getattr(info, name) for name in MODEL_INFO_FIELDS}

    def load(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            with open(path, "wb") as f:
                f.write(self.data)
            # the driver loaded this very model, with the user's consent to any Lambda layer in it
            model = load_model_file(path, unsafe=True)
        info = model_info(model)
        for name, value in self.info.items():
            setattr(info, name, value)
        return model


class _Worker:
    """Ray Data ``map_batches`` class: loads the model once per actor, then
    for each shard row (its start and files) decodes the files with the
    stream's decoder and applies the job's worker."""

    def __init__(self, spec: ModelSpec, job, size):
        self.work, self.size = job.worker(spec.load()), tuple(size)

    def __call__(self, batch: dict) -> dict:
        start, paths = int(batch["start"][0]), json.loads(batch["paths"][0])
        ok, pixels, skipped = decode_files(paths, self.size)
        shard = Shard(start, ok + start, [paths[i] for i in ok], pixels, skipped)
        return {"start": batch["start"], "read": np.array([len(ok)]), "skipped": np.array([json.dumps(skipped)]),
                "partial": np.array([_pack(self.work(shard))], dtype=object)}    # bytes kept whole (no NUL stripping)


def _pack(partial: dict) -> bytes:
    """A partial result as NPZ bytes (one column whatever the job's arrays are)."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **partial)
    return buffer.getvalue()


def _unpack(data: bytes) -> dict:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def run_ray(job, model, files: ImageFiles, size, batch_size: int, workers: Optional[int] = None,
            address: Optional[str] = None, progress=None, cancel=None):
    """Run ``job`` on Ray Data (see the module's docstring)."""
    ray = connect(address, workers)
    starts = todo_starts(job, len(files), batch_size)
    read = StreamReport(files=sum(min(batch_size, len(files) - s) for s in starts))
    total = job.empty()
    if not starts:
        return total, read
    actors = min(len(starts), max(1, int(workers or ray.available_resources().get("GPU", 0) or 1)))
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= actors else 0
    spec = ModelSpec(model)
    rows = [{"start": s, "paths": json.dumps(files.paths[s:s + batch_size])} for s in starts]
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    ds = ds.map_batches(_Worker, fn_constructor_kwargs={"spec": spec, "job": job, "size": size}, batch_size=1,
                        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=gpus,
                        max_restarts=RETRIES, max_task_retries=RETRIES)
    done, skipped = 0, []
    try:
        for row in ds.iter_rows():
            check(cancel)
            read.read += int(row["read"])
            skipped.append((int(row["start"]), [tuple(s) for s in json.loads(row["skipped"])]))
            total = job.merge(total, _unpack(row["partial"]))
            done += 1
            report(progress, done, len(starts), "running on Ray")
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise CnnvizError(f"the Ray job failed and gave no result ({short(exc)}): see the Ray logs "
                          "(ray/session_latest/logs) and rerun") from None
    if done != len(starts):
        raise CnnvizError(f"the Ray job returned {done} of {len(starts)} shards: no result; rerun")
    read.skipped = [s for _, part in sorted(skipped) for s in part]      # in listing order, as the stream's
    return total, read
