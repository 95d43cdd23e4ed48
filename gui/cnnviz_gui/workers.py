"""Running cnnviz work off the GUI thread: one job per view at a time; a new
request for a view cancels the old one, and results of superseded jobs are
dropped, so a view never shows an answer to a question it no longer asks.

The workers are long-lived Python threads, not a ``QThreadPool``: TensorFlow
keeps per-thread interpreter state, and pooled Qt threads get a fresh Python
thread state for every job, which crashes TensorFlow's second job on a thread.

A start-up function (importing TensorFlow) runs once on one worker before any
job: two threads importing TensorFlow at once deadlock in its circular imports
(``_DeadlockError``) and leave it half-registered for the rest of the session.
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from cnnviz import Cancelled, CancelToken, CnnvizError

from .messages import user_text


class _Signals(QObject):
    started = Signal(object)
    start_failed = Signal(str)
    done = Signal(str, int, object)
    failed = Signal(str, int, str)
    progress = Signal(str, int, int, int, str)


class Runner(QObject):
    """Submit ``fn(progress=..., cancel=...)`` for a view; its ``on_done``
    runs on the GUI thread with the result, unless the job was superseded."""

    progress = Signal(str, int, int, str)     # view, done, total, message
    busy = Signal(bool)
    ready = Signal(object)                    # the start-up function's result
    start_failed = Signal(str)                # its error (jobs still run: they will say what fails)

    def __init__(self, parent: Optional[QObject] = None, threads: int = 3,
                 startup: Optional[Callable[[], object]] = None):
        """``startup`` runs once, on the first worker, before any job starts."""
        super().__init__(parent)
        self._signals = _Signals()
        self._signals.started.connect(self.ready)
        self._signals.start_failed.connect(self.start_failed)
        self._startup = startup
        self._started = threading.Event()
        if startup is None:
            self._started.set()
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)
        self._signals.progress.connect(self._progress)
        self._serial = 0
        self._current: dict[str, tuple[int, CancelToken, Callable, Callable]] = {}
        self._quiet: set[str] = set()
        self._queue: queue.Queue = queue.Queue()
        self._active = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(i == 0,), name=f"cnnviz-worker-{i}",
                                          daemon=True) for i in range(threads)]
        for t in self._threads:
            t.start()

    # -------------------------------------------------------------- GUI thread
    def submit(self, view: str, fn: Callable, on_done: Callable, on_error: Callable, quiet: bool = False) -> None:
        """``quiet`` jobs (housekeeping) do not show the progress bar and
        Cancel button and are not stopped by :meth:`cancel` of all views."""
        self.cancel(view)
        self._serial += 1
        token = CancelToken()
        self._current[view] = (self._serial, token, on_done, on_error)
        if quiet:
            self._quiet.add(view)
        else:
            self._quiet.discard(view)
            self.busy.emit(True)
        with self._lock:
            self._active += 1
        self._queue.put((view, self._serial, fn, token))

    def cancel(self, view: Optional[str] = None) -> None:
        """Cancel the job of one view, or of all views (but quiet ones)."""
        for key in ([view] if view else [v for v in self._current if v not in self._quiet]):
            entry = self._current.pop(key, None)
            if entry is not None:
                entry[1].cancel()
        self._update_busy()

    def _update_busy(self) -> None:
        if not self.busy_now():
            self.busy.emit(False)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything and stop the worker threads."""
        self._quiet.clear()
        self.cancel()
        for _ in self._threads:
            self._queue.put(None)
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    def busy_now(self) -> bool:
        """Whether a job (but a quiet one) is queued or running for some view."""
        return any(v not in self._quiet for v in self._current)

    def running(self, view: str) -> bool:
        return view in self._current

    def idle(self) -> bool:
        """No job queued or executing (including cancelled ones still winding down)."""
        return self._active == 0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > end:
                return False
            time.sleep(0.01)
        return True

    def _take(self, view: str, serial: int):
        entry = self._current.get(view)
        if entry is None or entry[0] != serial:
            return None                       # superseded or cancelled: drop it
        del self._current[view]
        self._update_busy()
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
        if entry is not None and entry[0] == serial and view not in self._quiet:
            self.progress.emit(view, done, total, message)

    # -------------------------------------------------------------- worker threads
    def _start(self) -> None:
        try:
            result = self._startup()
        except Exception as exc:  # e.g. a broken TensorFlow install: say so, let jobs report their own errors
            self._signals.start_failed.emit(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        else:
            self._signals.started.emit(result)
        finally:
            self._started.set()

    def started(self) -> bool:
        """Whether the start-up function has finished."""
        return self._started.is_set()

    def _loop(self, first: bool) -> None:
        if first and self._startup is not None:
            self._start()
        self._started.wait()
        while True:
            job = self._queue.get()
            if job is None:
                return
            view, serial, fn, token = job
            try:
                self._run(view, serial, fn, token)
            finally:
                with self._lock:
                    self._active -= 1

    def _run(self, view, serial, fn, token) -> None:
        signals = self._signals
        if token.cancelled:                   # superseded while it waited
            signals.failed.emit(view, serial, "")
            return

        def progress(done: int, total: int, message: str = "") -> None:
            signals.progress.emit(view, serial, int(done), int(total), message)

        try:
            result = fn(progress=progress, cancel=token)
        except Cancelled:
            signals.failed.emit(view, serial, "")
        except CnnvizError as exc:
            signals.failed.emit(view, serial, user_text(str(exc)))
        except Exception as exc:  # a bug: show it rather than losing it
            signals.failed.emit(view, serial, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        else:
            signals.done.emit(view, serial, result)
