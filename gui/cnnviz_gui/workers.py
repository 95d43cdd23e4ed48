"""Running cnnviz work off the GUI thread: one job per view at a time; a new
request for a view cancels the old one, and results of superseded jobs are
dropped, so a view never shows an answer to a question it no longer asks."""
from __future__ import annotations

import traceback
from typing import Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from cnnviz import CancelToken, Cancelled, CnnvizError


class _Signals(QObject):
    done = Signal(str, int, object)
    failed = Signal(str, int, str)
    progress = Signal(str, int, int, int, str)


class _Job(QRunnable):
    def __init__(self, view: str, serial: int, fn: Callable, signals: _Signals, cancel: CancelToken):
        super().__init__()
        self.view, self.serial, self.fn, self.signals, self.cancel = view, serial, fn, signals, cancel

    def run(self) -> None:
        def progress(done: int, total: int, message: str = "") -> None:
            self.signals.progress.emit(self.view, self.serial, done, total, message)

        try:
            result = self.fn(progress=progress, cancel=self.cancel)
        except Cancelled:
            self.signals.failed.emit(self.view, self.serial, "")
        except CnnvizError as exc:
            self.signals.failed.emit(self.view, self.serial, str(exc))
        except Exception as exc:  # a bug: show it rather than losing it
            self.signals.failed.emit(self.view, self.serial, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        else:
            self.signals.done.emit(self.view, self.serial, result)


class Runner(QObject):
    """Submit ``fn(progress=..., cancel=...)`` for a view; its ``on_done``
    runs on the GUI thread with the result, unless the job was superseded."""

    progress = Signal(str, int, int, str)     # view, done, total, message
    busy = Signal(bool)

    def __init__(self, parent: Optional[QObject] = None, threads: int = 2):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)
        self._signals.progress.connect(self._progress)
        self._serial = 0
        self._current: dict[str, tuple[int, CancelToken, Callable, Callable]] = {}

    def submit(self, view: str, fn: Callable, on_done: Callable, on_error: Callable) -> None:
        self.cancel(view)
        self._serial += 1
        token = CancelToken()
        self._current[view] = (self._serial, token, on_done, on_error)
        self.busy.emit(True)
        self.pool.start(_Job(view, self._serial, fn, self._signals, token))

    def cancel(self, view: Optional[str] = None) -> None:
        """Cancel the job of one view, or of all views."""
        for key in ([view] if view else list(self._current)):
            entry = self._current.pop(key, None)
            if entry is not None:
                entry[1].cancel()
        if not self._current:
            self.busy.emit(False)

    def running(self, view: str) -> bool:
        return view in self._current

    def _take(self, view: str, serial: int):
        entry = self._current.get(view)
        if entry is None or entry[0] != serial:
            return None                       # superseded or cancelled: drop it
        del self._current[view]
        if not self._current:
            self.busy.emit(False)
        return entry

    def _done(self, view, serial, result):
        entry = self._take(view, serial)
        if entry is not None:
            entry[2](result)

    def _failed(self, view, serial, message):
        entry = self._take(view, serial)
        if entry is not None and message:
            entry[3](message)

    def _progress(self, view, serial, done, total, message):
        entry = self._current.get(view)
        if entry is not None and entry[0] == serial:
            self.progress.emit(view, done, total, message)
