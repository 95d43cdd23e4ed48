"""Lecture gallery benchmark: the wall time of each deck's gallery from an
empty folder (models trained, every item computed, the report written), and
of the rerun that reuses it all.

    python benchmarks/run.py lectures                       # the short form (minutes per deck on a laptop CPU)
    CNNVIZ_LECTURE_FORM=smoke python benchmarks/run.py lectures
    CNNVIZ_LECTURE_DECKS=wolter,sakr python benchmarks/run.py lectures
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def lectures_galleries():
    from cnnviz.lectures import DECKS, run_lecture

    form = os.environ.get("CNNVIZ_LECTURE_FORM", "short")
    wanted = [d for d in os.environ.get("CNNVIZ_LECTURE_DECKS", "").split(",") if d]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for deck in DECKS:
            if wanted and deck.name not in wanted:
                continue
            out = Path(tmp) / deck.name
            start = time.perf_counter()
            report = run_lecture(deck, out, form=form)
            first = time.perf_counter() - start
            start = time.perf_counter()
            run_lecture(deck, out, form=form)
            rerun = time.perf_counter() - start
            counts = report.counts
            slowest = max((e for e in report.items if "seconds" in e), key=lambda e: e["seconds"])
            rows.append([f"{deck.number} {deck.name}", counts["done"], counts["pending"], counts["failed"],
                         f"{first:.0f}", f"{rerun:.1f}", f"{slowest['key']} ({slowest['seconds']:.0f} s)"])
    return (f"Lecture galleries, {form} form, from an empty folder (seconds)",
            ["deck", "items computed", "not reproduced", "failed", "first run s", "rerun s", "slowest item"], rows)


BENCHMARKS = [lectures_galleries]
