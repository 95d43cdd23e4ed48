"""Atomic file writes: a reader never sees a half-written file, and a failed
write never destroys the previous version.

A write goes to ``.NAME.<8 hex>.tmp.SUFFIX`` beside the target and is moved
over it when complete. A process killed mid-write (kill -9) leaves that
temporary behind; :func:`clean_stale_temporaries` removes the ones older than
the running process, and every atomic write does so in its own folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Iterator

STARTED = time.time()      # a temporary older than this belongs to a process that is gone (or stalled)
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(\.[^.]+)?$")


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is named like one of cnnviz's own write temporaries."""
    return bool(_TEMPORARY.match(path.name))


def clean_stale_temporaries(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Remove cnnviz's write temporaries in ``folder`` that are older than
    this process (left by a killed writer); return what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in (folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*")):
        try:
            if is_temporary(p) and p.is_file() and p.stat().st_mtime < STARTED:
                p.unlink()
                removed.append(p)
        except OSError:          # gone meanwhile, or not ours to remove: leave it
            continue
    return removed


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
