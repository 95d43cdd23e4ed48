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

import contextlib
import ipaddress
import json
import os
import re
import socket
import tempfile
import threading
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


LOOPBACK = "127.0.0.1"
WAIT_S = 5.0           # how long any network step may take before cnnviz says what is wrong
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*$")


_JOINED: Optional[str] = None     # the address connect() last joined (None: a local instance)


def connect(address: Optional[str] = None, workers: Optional[int] = None):
    """Join the Ray cluster at ``address``, or start a local Ray instance
    (``workers`` CPUs, default all) if none is running in this process. An
    ``address`` other than the one this process joined is refused, never
    served by the instance already joined.

    A local instance listens on loopback only, without the dashboard: Ray's
    ports take work from anyone who reaches them (CVE-2023-48022). An address
    on this machine's loopback is dialled from loopback too."""
    global _JOINED
    ray = import_ray()
    if ray.is_initialized():
        if not address or address == _JOINED:
            return ray                      # this process's instance (ours or the caller's own ray.init)
        joined = f"the Ray cluster at {_JOINED}" if _JOINED else "a local Ray instance"
        raise CnnvizError(f"--address {address}: this process already runs its Ray jobs on {joined}, and Ray "
                          "joins one cluster per process: run this job in a new process (a new command or session)")
    _JOINED = address or None
    if address:
        host, port = check_reachable(address)
        target = address if str(address).startswith("ray://") else f"{host}:{port}"     # Ray Client keeps its form
        try:
            if _is_loopback(host):
                with loopback_only():
                    ray.init(address=target, logging_level="ERROR", log_to_driver=False, _node_ip_address=LOOPBACK)
            else:
                ray.init(address=target, logging_level="ERROR", log_to_driver=False)
        except Exception as exc:
            raise CnnvizError(f"cannot join the Ray cluster at {address} ({short(exc)}): check --address "
                              "(the head's host:port, as `ray start --head` prints it)") from None
    else:
        with loopback_only():
            ray.init(address="local", num_cpus=workers, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False, _node_ip_address=LOOPBACK)   # "local": a new one, never a `ray start` cluster
    _quiet(ray)
    return ray


@contextlib.contextmanager
def loopback_only():
    """While Ray starts or joins a node: 127.0.0.1 stays 127.0.0.1. On Linux
    Ray replaces a loopback node address by the host's network address (so
    that other machines could join); for a node of this machine only, that
    is what must not happen. Ray's own switch for it (the one its Windows
    and macOS builds use, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER) is read at
    import, so it is set on Ray's constants for the call."""
    from ray._private import ray_constants  # Ray's switch: no public API sets it after import

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _quiet(ray) -> None:
    """No Ray Data progress bars or execution logs mixed into cnnviz's output."""
    import logging

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` of a Ray head, or a one-line error for anything else."""
    text = str(address).strip()
    hostport = text[len("ray://"):] if text.startswith("ray://") else text
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep:
        host, port = hostport, "6379"
    valid_host = bool(_HOST.match(host))
    try:
        ipaddress.ip_address(host)
        valid_host = True
    except ValueError:
        pass
    if not valid_host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CnnvizError(f"--address {address!r} is not a host:port (e.g. 10.0.0.5:6379, headnode:6379, or auto "
                          "for the cluster started on this machine with `ray start --head`)")
    return host, int(port)


def _resolved(host: str, port: int, timeout: float) -> None:
    """Resolve ``host`` within ``timeout`` (a resolver without an answer can
    wait far longer), or a one-line error."""
    found: list = []

    def lookup():
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found or isinstance(found[0], OSError):
        why = f"({found[0].strerror or found[0]})" if found else f"(no answer in {timeout:g} s)"
        raise CnnvizError(f"--address {host}:{port}: the host name does not resolve {why}: check the name, or give "
                          "the head's IP address")


def _auto_address() -> str:
    """The cluster ``auto`` means (RAY_ADDRESS, else the one started on this
    machine), or a one-line error when there is none."""
    # Ray's own reading of "auto", without its rewriting of 127.0.0.1 to this host's network address
    from ray._private.services import get_ray_address_from_environment

    try:
        found = get_ray_address_from_environment("auto", None)
    except Exception:                  # Ray's "no running instance" and the like
        found = None
    if not found or found == "auto":
        raise CnnvizError("--address auto: no Ray cluster is running on this machine (none was started with "
                          "`ray start --head`, and RAY_ADDRESS is not set): start one, give its host:port, or drop "
                          "--address to use a local Ray instance")
    return found


def check_reachable(address: str, timeout: float = WAIT_S) -> tuple[str, int]:
    """(host, port) of a Ray head that answers, checked within seconds:
    the address's form, the host's name, a TCP connection, and a gRPC
    handshake (Ray's head speaks gRPC; a web server or anything else there
    does not). ``ray.init`` would wait minutes on each of these."""
    import_ray()
    if address == "auto":
        address = _auto_address()
    host, port = parse_address(address)
    _resolved(host, port, timeout)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise CnnvizError(f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
                          "`ray start --head` or fix --address (host:port)") from None
    import grpc  # Ray's own dependency: the protocol its head speaks

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise CnnvizError(f"something answers at {address}, but not as Ray (no gRPC handshake in {timeout:g} s): "
                          "give the Ray head's port (6379 unless `ray start --head --port` chose another)") from None
    finally:
        channel.close()
    return host, port


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
