"""Run cnnviz's benchmarks and print their tables.

    python benchmarks/run.py              # every benchmark
    python benchmarks/run.py training     # those whose name contains "training"

Each ``bench_*.py`` module beside this file lists its benchmarks in
``BENCHMARKS``: functions that return (title, header, rows). Ratios are taken
against a baseline measured in the same run, never against stored numbers.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def table(title: str, header, rows) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"### {title}", "", line(cells[0]), rule, *map(line, cells[1:]), ""])


def machine() -> str:
    import tensorflow as tf

    from cnnviz.common.runtime import setup_devices

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {setup_devices()}, "
            f"TF {tf.__version__}, Python {platform.python_version()}, {datetime.date.today()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="run benchmarks whose name contains one of these")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(HERE))
    print(f"Machine: {machine()}\n", flush=True)
    for module_path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(module_path.stem)
        for bench in module.BENCHMARKS:
            if args.only and not any(word in bench.__name__ for word in args.only):
                continue
            print(table(*bench()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
