"""Commands that train (``train``, ``finetune``, ``features``) run in a child
process that this one supervises, because a crash in TensorFlow's native code
(a segmentation fault in its oneDNN kernels on some CPUs, for one) kills the
process outright: no Python exception, no ``finally``, only the shell's
"Segmentation fault". The parent, which never imports TensorFlow, turns the
child's death by a signal into one line that names what crashed, the known
workaround and how to resume; ``faulthandler`` in the child records where
Python was when it happened. Checkpoints are written so that a crash at any
moment leaves the last finished epoch's one valid
(:func:`cnnviz.lab.training.fit_epochs`). Only the command line supervises
(``cnnviz.cli.main()`` without arguments); ``main([...])`` called from Python
runs the command in the caller's process."""
from __future__ import annotations

import faulthandler
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

SUPERVISED = ("train", "finetune", "features")
RESUMABLE = ("train", "finetune")
CHILD = "CNNVIZ_SUPERVISED_CHILD"        # set in the child: it runs the command itself
FAULT_LOG = "CNNVIZ_FAULT_LOG"           # where the child's faulthandler writes
WORKAROUND = "TF_ENABLE_ONEDNN_OPTS=0"
_fault_file = None                       # kept open for faulthandler, which writes to it on a crash


def supervised(command: str) -> bool:
    """Whether this process should run ``command`` in a supervised child."""
    return command in SUPERVISED and not os.environ.get(CHILD)


def run_child(argv: list[str], command: str, exit_error: int) -> int:
    """Run ``cnnviz argv`` in a child process; its exit status, or after a
    crash one line on stderr and ``exit_error``."""
    fd, log = tempfile.mkstemp(prefix="cnnviz-fault-", suffix=".txt")
    os.close(fd)
    env = dict(os.environ, **{CHILD: "1", FAULT_LOG: log})
    try:
        child = subprocess.Popen([sys.executable, "-m", "cnnviz.cli", *argv], env=env)
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:    # the child got the Ctrl+C too: it stops at an epoch's end and says so
                continue
        if code >= 0:
            return code
        print(f"cnnviz: error: {crash_line(command, argv, -code, Path(log).read_text(errors='replace'))}",
              file=sys.stderr)
        return exit_error
    finally:
        os.unlink(log)


def record_faults() -> None:
    """In the child: have ``faulthandler`` write the Python stack to the
    parent's log file if native code crashes."""
    global _fault_file
    path = os.environ.get(FAULT_LOG)
    if path and _fault_file is None:
        _fault_file = open(path, "w")      # noqa: SIM115 (must stay open until the process ends)
        faulthandler.enable(_fault_file)


def crash_line(command: str, argv: list[str], signum: int, fault_log: str) -> str:
    """One line: what crashed (and where Python was), the known workaround,
    and the command that resumes from the last checkpoint."""
    try:
        name = f"{signal.Signals(signum).name}, {signal.strsignal(signum)}"
    except ValueError:
        name = f"signal {signum}"
    where = innermost_frame(fault_log)
    in_tf = where is not None and re.search(r"[/\\](tensorflow|keras|tf_keras)[/\\]", where[0])
    what = "TensorFlow's native code" if in_tf or where is None else "native code"
    at = f" while Python was in {where[2]} ({Path(where[0]).name}:{where[1]})" if where else ""
    rerun = ["cnnviz", *argv] + (["--resume"] if command in RESUMABLE and "--resume" not in argv else [])
    kept = " (the last finished epoch's checkpoint is kept)" if command in RESUMABLE else ""
    return (f"{command} crashed in {what} ({name}){at}{kept}: a known cause is TensorFlow's oneDNN kernels on "
            f"some CPUs; rerun as {WORKAROUND} {shlex.join(rerun)}")


def innermost_frame(fault_log: str) -> Optional[tuple[str, str, str]]:
    """(file, line, function) of the most recent call of the crashing thread
    in a ``faulthandler`` dump, or None."""
    current = fault_log.find("Current thread")
    match = re.search(r'File "([^"]+)", line (\d+) in (\S+)', fault_log[max(current, 0):])
    return match.groups() if match else None
