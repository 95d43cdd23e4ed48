"""Progress reporting and cancellation shared by all long-running work.

Long functions take ``progress`` (a callable ``progress(done, total, message)``)
and ``cancel`` (a :class:`CancelToken`). The CLI turns them into a progress bar
and Ctrl-C; the GUI into a progress bar and a cancel button.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import Cancelled

ProgressFn = Callable[[int, int, str], None]


class CancelToken:
    """A thread-safe flag a caller sets to stop long work at the next step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def report(progress: Optional[ProgressFn], done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, message)


def stage(progress: Optional[ProgressFn], k: int, n: int, name: str) -> Optional[ProgressFn]:
    """Progress of part ``k`` of ``n`` (named ``name``) as a share of the whole."""
    if progress is None:
        return None

    def report_part(done: int, total: int, message: str = "") -> None:
        progress(k * 1000 + int(1000 * done / max(total, 1)), n * 1000, f"{name}: {message}" if message else name)

    return report_part


def check(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` if ``cancel`` was set."""
    if cancel is not None:
        cancel.check()
