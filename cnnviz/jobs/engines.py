"""The one call that runs a dataset-scale job on an engine: ``local``
(:mod:`.local`, ``tf.data`` in this process) or ``ray`` (:mod:`.ray_engine`,
Ray Data; Ray itself is imported only when that engine is used)."""
from __future__ import annotations

from typing import Optional

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn
from ..data.stream import ImageFiles, check_readable
from .base import Job
from .local import run_local
from .ray_engine import check_reachable, import_ray, run_ray

ENGINES = ("local", "ray")


def run(job: Job, model, files: ImageFiles, size, batch_size: int = 256, engine: str = "local",
        workers: Optional[int] = None, address: Optional[str] = None,
        progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None):
    """Run ``job`` over ``files`` decoded to ``size`` on ``engine``; returns
    (total, :class:`StreamReport`). A pass in which no file decoded is an error."""
    check_engine(engine, address)
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise CnnvizError(f"batch_size must be at least 1 (got {batch_size!r})")
    runner = run_local if engine == "local" else run_ray
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
        import_ray()
        if address:
            check_reachable(address)
    elif address:
        raise CnnvizError("an address is for the Ray engine: add --engine ray (engine=\"ray\")")
