"""What a dataset-scale job is (the engines that run one are :mod:`.engines`).

A job is cut by the stream's fixed shards (:func:`cnnviz.data.stream.shards`):
``worker(model)`` is built once per process (a Ray actor loads the model and
compiles its functions once) and maps a :class:`~cnnviz.data.stream.Shard` to
a partial result, a dict of NumPy arrays; ``merge`` folds partials into the
total in any order. Engines differ only in who decodes and who calls the
worker, so every engine returns the same result.
"""
from __future__ import annotations

from typing import Callable

from ..data.stream import shard_starts


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


def todo_starts(job: Job, n: int, batch_size: int) -> list[int]:
    """The starts of the shards ``job`` has still to do."""
    return [s for s in shard_starts(n, batch_size) if not job.done(s)]
