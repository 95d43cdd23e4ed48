"""What a dataset-scale job is, and the one call that runs it on an engine.

A job is cut by the stream's fixed shards (:func:`cnnviz.data.stream.shards`):
``worker(model)`` is built once per process (a Ray actor loads the model and
compiles its functions once) and maps a :class:`~cnnviz.data.stream.Shard` to
a partial result, a dict of NumPy arrays; ``merge`` folds partials into the
total in any order. Engines differ only in who decodes and who calls the
worker, so every engine returns the same result.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..data.stream import ImageFiles, check_readable, shard_starts

ENGINES = ("local", "ray")


class Job:
    """A computation over every image of a stream (subclass and fill in)."""

    def worker(self, model) -> Callable:
        """The per-process function ``shard -> {name: array}`` (also called
        for a shard in which no file decoded, so a job can record that)."""
        raise NotImplementedError

    def empty(self):
        """The total before any shard is merged."""
        raise NotImplementedError

    def merge(self, total, partial: dict):
        """``total`` with one worker's partial result folded in (order-free)."""
        raise NotImplementedError

    def done(self, start: int) -> bool:
        """Whether the shard starting at ``start`` is finished already (a resumed run)."""
        return False


def run(job: Job, model, files: ImageFiles, size, batch_size: int = 256, engine: str = "local",
        workers: Optional[int] = None, address: Optional[str] = None,
        progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """Run ``job`` over ``files`` decoded to ``size`` on ``engine``; returns
    (total, :class:`StreamReport`). A pass in which no file decoded is an error."""
    check_engine(engine, address)
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise CnnvizError(f"batch_size must be at least 1 (got {batch_size!r})")
    if engine == "local":
        from .local import run_local as runner
    else:
        from .ray_engine import run_ray as runner
    total, report = runner(job, model, files, size, int(batch_size), workers=workers, address=address,
                           progress=progress, cancel=cancel)
    if report.files and not report.read:       # files were opened this run and none decoded
        check_readable(report, files.root)
    return total, report


def check_engine(engine: str, address: Optional[str] = None) -> None:
    """Refuse an unknown engine, Ray when it is not installed, and a Ray
    address where nothing answers, before any work (or cache look-up)."""
    if engine not in ENGINES:
        raise CnnvizError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "ray":
        from .ray_engine import check_reachable, import_ray

        import_ray()
        if address:
            check_reachable(address)
    elif address:
        raise CnnvizError("an address is for the Ray engine: add --engine ray (engine=\"ray\")")


def todo_starts(job: Job, n: int, batch_size: int) -> list[int]:
    """The starts of the shards ``job`` has still to do."""
    return [s for s in shard_starts(n, batch_size) if not job.done(s)]
