"""Live input, the Deep Visualization Toolbox's signature (Yosinski et al.,
2015): the frames of a video file, an animated image or an image folder flow
through the model one after another, and the views (the layer grid, the unit
page, the explain view's maps) follow each frame as they follow any new image.

A frame is read off the GUI thread (a quiet worker job) and handed to the
session as the new image; the next frame is read only once every view has
finished with the current one, so the app plays as fast as the model and the
visible view allow (at most ``max_fps``), never queueing frames it cannot show.
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from cnnviz import CnnvizError
from cnnviz.common.errors import short
from cnnviz.data.images import normalize_image

from .session import Session, read_scaled, shrink

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def frame_files(folder: Path) -> list[Path]:
    """A folder's images in name order; a folder of class folders (as the
    dataset browser and top patches read them) plays its class folders' images,
    folder by folder."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES)
    if files:
        return files
    return sorted(p for sub in folder.iterdir() if sub.is_dir() for p in sub.iterdir()
                  if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES)


class FrameSource:
    """The frames of a video or animated image (whatever imageio reads: GIF
    and multi-page TIFF always; MP4 and other videos when imageio-ffmpeg or
    PyAV is installed) or of an image folder (its images in name order),
    from the start again after the last."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.name = self.path.name
        self.number = 0                        # frames handed out since the (last) start
        self._frames = None                    # the video's frame iterator
        if self.path.is_dir():
            self.files: Optional[list[Path]] = frame_files(self.path)
            if not self.files:
                raise CnnvizError(f"{self.path} holds no images ({' '.join(FRAME_SUFFIXES)}): choose a folder of "
                                  "frames, or a video file")
        elif self.path.is_file():
            self.files = None
        else:
            raise CnnvizError(f"{self.path} does not exist: choose a video file or a folder of frames")

    def next(self) -> tuple[np.ndarray, str]:
        """The next frame as uint8 pixels (at most the app's working size) and
        a caption naming it."""
        if self.files is not None:
            path = self.files[self.number % len(self.files)]
            self.number += 1
            return read_scaled(str(path)), f"{self.name}/{path.relative_to(self.path)} (frame {self.number})"
        for _ in range(2):
            if self._frames is None:
                self._frames, self.number = self._open(), 0
            frame = next(self._frames, None)
            if frame is not None:
                self.number += 1
                return shrink(normalize_image(np.asarray(frame), self.name)), f"{self.name} frame {self.number}"
            self._frames = None                # the end: from the start again
        raise CnnvizError(f"{self.name} has no frames: choose another video")

    def _open(self):
        import imageio.v3 as iio

        try:
            return iter(iio.imiter(self.path))
        except Exception as exc:
            raise CnnvizError(f"cannot read {self.name} as a video ({short(exc)}): give an animated GIF, a "
                              "folder of frames, or install imageio-ffmpeg for MP4 and other videos") from exc


class LivePlayer(QObject):
    """Plays a :class:`FrameSource` into a :class:`Session`."""

    status = Signal(str)             # a line for the status bar: what plays, at what rate
    stopped = Signal()

    def __init__(self, session: Session, max_fps: float = 30.0):
        super().__init__(session)
        self.session, self.max_fps = session, max_fps
        self.source: Optional[FrameSource] = None
        self.playing = False
        self.frames = 0                              # frames shown since play()
        self._shown: deque = deque(maxlen=20)        # when the last frames were shown
        self._first: Optional[float] = None          # when the first frame was shown
        self._reading = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._step)
        session.runner.busy.connect(lambda busy: busy or self._schedule())
        session.image_changed.connect(self._frame_shown)

    def play(self, path: str) -> None:
        """Play the video or folder at ``path`` (a CnnvizError if it holds no frames)."""
        self.stop()
        self.source = FrameSource(path)
        self.playing, self.frames, self._first = True, 0, None
        self.session.live = True
        self._shown.clear()
        self.status.emit(f"live: {self.source.name}, starting…")
        self._step()

    def stop(self) -> None:
        if not self.playing:
            return
        self.playing = self.session.live = False
        self._timer.stop()
        self.session.forget("live")
        self._reading = False
        average = self.average_rate()
        self.status.emit(f"live stopped after {self.frames} frames" + (f" ({average:.1f} frames/s on average)"
                                                                       if average else ""))
        self.stopped.emit()

    def rate(self) -> float:
        """Frames shown per second, over the last few."""
        if len(self._shown) < 2:
            return 0.0
        return (len(self._shown) - 1) / max(self._shown[-1] - self._shown[0], 1e-9)

    def average_rate(self) -> float:
        """Frames shown per second since the first frame of this play."""
        if self._first is None or self.frames < 2:
            return 0.0
        return (self.frames - 1) / max(self._shown[-1] - self._first, 1e-9)

    def _schedule(self) -> None:
        """Every view is done with the frame: read the next one, keeping to ``max_fps``."""
        if self.playing and not self._reading and not self._timer.isActive():
            last = self._shown[-1] if self._shown else 0.0
            wait = max(0.0, 1.0 / self.max_fps - (time.perf_counter() - last))
            self._timer.start(int(wait * 1000))

    def _step(self) -> None:
        if not self.playing or self._reading:
            return
        if self.session.runner.busy_now():           # a view still works on the last frame: wait for it
            return
        self._reading = True
        source = self.source
        self.session.runner.submit("live", lambda progress, cancel: source.next(), self._got, self._failed,
                                   quiet=True)

    def _got(self, frame) -> None:
        self._reading = False
        if self.playing:
            pixels, caption = frame
            self.session.load_image(None, pixels=pixels, source=caption)

    def _failed(self, message: str) -> None:
        self._reading = False
        self.stop()
        self.session.error.emit(message)

    def _frame_shown(self) -> None:
        if not self.playing:
            return
        self.frames += 1
        self._shown.append(time.perf_counter())
        if self._first is None:
            self._first = self._shown[-1]
        rate, average = self.rate(), self.average_rate()
        self.status.emit(f"live: {self.session.image.source}" + (
            f" · {rate:.1f} frames/s (average {average:.1f})" if rate else ""))
        self._timer.stop()                           # counted from this frame, not from the one before
        self._schedule()
