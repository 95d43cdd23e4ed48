"""Run cnnviz's benchmarks and print their tables.

    python benchmarks/run.py              # every benchmark
    python benchmarks/run.py training     # those whose name contains "training"
    python benchmarks/run.py --peers      # every method against its floor and the peers (floors.py)
    python benchmarks/run.py --peers lime occlusion --repeats 3

Each ``bench_*.py`` module beside this file lists its benchmarks in
``BENCHMARKS``: functions that return (title, header, rows). Ratios are taken
against a baseline measured in the same run, never against stored numbers.

Each table says how busy the machine was while it ran: the CPU time that
other processes took, from ``/proc/stat`` less this process's own. A table
whose run shared the machine with more than ``--max-other-cores`` of other
work is printed without its figures, since they would not mean anything;
``--peers`` applies the same guard to each row of its table. A complete
``--peers`` run (no NAME given) rewrites its section of benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def table(title: str, header, rows) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"### {title}", "", line(cells[0]), rule, *map(line, cells[1:]), ""])


def busy_seconds() -> float:
    """CPU seconds all processes have spent since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def measured(bench, max_other_cores: float) -> str:
    """Run one benchmark and print its table with the load beside it, or
    without its figures when other work took more than ``max_other_cores``."""
    wall, busy, own = time.perf_counter(), busy_seconds(), own_seconds()
    title, header, rows = bench()
    wall = time.perf_counter() - wall
    other = max(0.0, (busy_seconds() - busy) - (own_seconds() - own)) / wall
    load = f"other processes used {other:.2f} of {os.cpu_count()} cores while it ran ({wall:.0f} s)"
    if other > max_other_cores:
        return (f"### {title}\n\nNot shown: {load}, more than --max-other-cores {max_other_cores:g}; "
                "rerun on a quieter machine.\n")
    return table(title, header, rows) + f"\n*{load}.*\n"


def machine() -> str:
    import tensorflow as tf

    from cnnviz.common.runtime import setup_devices

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {setup_devices()}, "
            f"TF {tf.__version__}, Python {platform.python_version()}, {datetime.date.today()}")


SECTION = ("<!-- side by side: written by `python benchmarks/run.py --peers`, do not edit -->",
           "<!-- side by side: end -->")


def side_by_side(args) -> int:
    """The --peers table: every method against its floor and the peers, each
    row refused when the machine was too busy; the README section rewritten
    after a complete run."""
    import floors

    peers_python = args.peers_python or floors.peers_python_default()
    about = machine()
    print(f"Machine: {about}\nPeers: {peers_python or 'not found (set CNNVIZ_PEERS_PYTHON)'}\n", flush=True)
    before = os.getloadavg()
    peers = floors.Peers(peers_python) if peers_python else floors.NoPeers()
    try:
        measured = floors.rows(peers, args.only, args.repeats,
                               report=lambda r: print(f"  {r.job}, batch {r.batch}: done", flush=True))
    finally:
        peers.close()
    after = os.getloadavg()
    title = (f"Every method against its floor and the peers, side by side (cifar10_cnn; median of {args.repeats} "
             "taken in turn after a warm-up)")
    text = "\n".join([
        table(title, floors.HEADER, floors.table_rows(measured, args.max_other_cores)),
        f"*Command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`. Machine: {about}. "
        f"Peers: {', '.join(peers.names) or 'none'} ({peers_python or 'no peers venv'}). "
        f"Load average (1 min) {before[0]:.2f} before, {after[0]:.2f} after; \"other cores\" is the CPU that other "
        f"processes took during a row's timed runs, and a row above --max-other-cores {args.max_other_cores:g} shows "
        "no figures. Floors: one tf.function (gradients, CAMs, attacks) or the forward passes of the copies, built "
        "beforehand (occlusion, RISE, Score-CAM, LIME; LIME's adds a segmentation per image and lime's fit); "
        "the first call is cnnviz's on a freshly loaded model.*", ""])
    print(text, flush=True)
    if not args.only and not args.no_readme:
        write_section(HERE / "README.md", text)
        print(f"(rewrote its section of {HERE / 'README.md'})")
    return 0


def write_section(readme: Path, text: str) -> None:
    """Replace the generated section of ``readme`` (or add it before the first table)."""
    from cnnviz.common.fileio import atomic_path

    old = readme.read_text()
    block = f"{SECTION[0]}\n{text}\n{SECTION[1]}"
    if SECTION[0] in old:
        head, rest = old.split(SECTION[0], 1)
        new = head + block + rest.split(SECTION[1], 1)[1]
    else:
        at = old.index("\n### ") + 1 if "\n### " in old else len(old)
        new = old[:at] + block + "\n\n" + old[at:]
    with atomic_path(readme) as path:
        path.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*",
                        help="run benchmarks (with --peers: methods) whose name contains one of these")
    parser.add_argument("--max-other-cores", type=float, default=0.5, metavar="F",
                        help="print no figures of a table while other processes used more than F cores (0.5)")
    parser.add_argument("--peers", action="store_true",
                        help="every method against its floor and the peers, side by side (benchmarks/floors.py)")
    parser.add_argument("--peers-python", metavar="PYTHON",
                        help="the peers' interpreter (default: CNNVIZ_PEERS_PYTHON, else /work/peers-venv/bin/python)")
    parser.add_argument("--repeats", type=int, default=5, help="with --peers: timed runs per contender (5)")
    parser.add_argument("--no-readme", action="store_true", help="with --peers: leave benchmarks/README.md as it is")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(HERE))
    if args.peers:
        return side_by_side(args)
    print(f"Machine: {machine()}\n", flush=True)
    for module_path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(module_path.stem)
        for bench in module.BENCHMARKS:
            if args.only and not any(word in bench.__name__ for word in args.only):
                continue
            print(measured(bench, args.max_other_cores), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
