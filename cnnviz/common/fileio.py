"""Atomic file writes: a reader never sees a half-written file, and a failed
write never destroys the previous version.

A write goes to ``.NAME.cnnviz-<8 hex nonce><8 hex seal>.tmp.SUFFIX`` beside
the target and is moved over it when complete. The seal is a hash of the
nonce and the target's name, so the temporary's own name proves that cnnviz
made it: a user's ``.notes.deadbeef.tmp.txt`` (or any file someone named
like ours) does not carry a valid seal and is never touched. A process killed
mid-write (kill -9) leaves its temporary behind; :func:`clean_stale_temporaries`
removes the sealed ones older than the running process, and every atomic
write does so in its own folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Iterator

from .errors import CnnvizError

STARTED = time.time()      # a temporary older than this belongs to a process that is gone (or stalled)
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.cnnviz-(?P<nonce>[0-9a-f]{8})(?P<seal>[0-9a-f]{8})"
                        r"\.tmp(?P<suffix>\.[^.]+)?$")


def _seal(stem: str, nonce: str, suffix: str) -> str:
    return hashlib.sha256(f"cnnviz temporary {stem}{suffix} {nonce}".encode()).hexdigest()[:8]


def temporary_name(path: Path) -> Path:
    """A fresh sealed temporary beside ``path`` (same suffix, so writers that
    infer the format from it still work)."""
    nonce = secrets.token_hex(4)
    return path.with_name(f".{path.stem}.cnnviz-{nonce}{_seal(path.stem, nonce, path.suffix)}.tmp{path.suffix}")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is one of cnnviz's own write temporaries: its name has
    our form and carries the seal only :func:`temporary_name` gives."""
    m = _TEMPORARY.match(Path(path).name)
    return bool(m) and m["seal"] == _seal(m["stem"], m["nonce"], m["suffix"] or "")


def clean_stale_temporaries(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Remove cnnviz's write temporaries in ``folder`` that are older than
    this process (left by a killed writer); return what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in (folder.rglob(".*.cnnviz-*.tmp*") if recursive else folder.glob(".*.cnnviz-*.tmp*")):
        try:
            if is_temporary(p) and p.is_file() and p.stat().st_mtime < STARTED:
                p.unlink()
                removed.append(p)
        except OSError:          # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


def check_output_folder(folder: str | os.PathLike, option: str = "the output folder") -> Path:
    """``folder`` as a Path, after refusing one that is a file or lies under
    a file (it is created later where missing)."""
    folder = Path(folder)
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == folder else f"lies under {p}, which is a file"
                raise CnnvizError(f"{option} {folder} {where}: give a folder (it is created if missing)")
            break
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, clean: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` (same suffix, so writers
    that infer the format from it still work); move it over ``path`` on success.
    ``clean=False`` skips removing the folder's stale temporaries: for a writer
    of thousands of files in one folder that cleaned it once before.

    A writer that appends its own suffix to the name it is given (``np.savez``
    adds ``.npz``) is followed: its file is the one moved. Better, write NPZ
    through :func:`write_npz`, which hands NumPy a file object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean:
        clean_stale_temporaries(path.parent)
    tmp = temporary_name(path)
    appended = tmp.with_name(tmp.name + ".npz")
    try:
        yield tmp
        os.replace(appended if not tmp.exists() and appended.exists() else tmp, path)
    finally:
        for leftover in (tmp, appended):
            if leftover.exists():
                leftover.unlink()


def write_json(path: str | os.PathLike, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_npz(path: str | os.PathLike, compressed: bool = False, **arrays) -> None:
    """Save arrays as NPZ at exactly ``path`` (whatever its suffix), atomically."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(f, **arrays)


def save_figure(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the file's suffix)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
