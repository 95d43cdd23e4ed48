"""The local engine: the ``tf.data`` stream of :mod:`cnnviz.data.stream`
feeding one worker in this process."""
from __future__ import annotations

from ..data.stream import StreamReport, shards
from .base import todo_starts


def run_local(job, model, files, size, batch_size, workers=None, address=None, progress=None, cancel=None):
    """Run ``job`` here (``workers`` and ``address`` are the Ray engine's; unused)."""
    work = job.worker(model)
    total = job.empty()
    report = StreamReport(files=sum(min(batch_size, len(files) - s) for s in todo_starts(job, len(files), batch_size)))
    for shard in shards(files, size, batch_size, progress, cancel, skip=job.done):
        report.add(shard)
        total = job.merge(total, work(shard))
    return total, report
