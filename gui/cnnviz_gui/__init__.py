"""cnnviz-gui: the desktop app (PySide6) for browsing a CNN layer by layer.
It uses only cnnviz's public API; all computation runs off the GUI thread."""
from __future__ import annotations

import sys


def _leaks_none() -> bool:
    """Whether this PySide6 drops a reference to ``None`` on every call of a
    method that returns nothing (PySide6 6.12.0 on Python < 3.12 does)."""
    from PySide6.QtCore import QCoreApplication

    name = QCoreApplication.applicationName()
    before = sys.getrefcount(None)
    for _ in range(20):
        QCoreApplication.setApplicationName(name)
    return sys.getrefcount(None) < before - 10


def guard_none_refcount() -> bool:
    """Keep the interpreter alive under PySide6's ``None`` reference leak.

    With the leak, ``None``'s reference count reaches zero after some 10^5
    Qt calls and Python aborts ("none_dealloc: deallocating None"). Python
    3.12 made ``None`` immortal; this gives it the same protection here by
    adding 2^48 references (``None`` is never freed anyway). Returns whether
    the guard was needed. The real fix: a PySide6 without the leak (6.11).
    """
    if sys.version_info >= (3, 12) or not _leaks_none():
        return False
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 48      # ob_refcnt, the first field of every object
    return True


NONE_GUARDED = guard_none_refcount()
