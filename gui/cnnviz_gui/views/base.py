"""What every tab of the main window is: a :class:`View` follows the
session's model, image, layer and channel, computes only while it is the
visible tab (work for a hidden view waits until it is shown), and can export
what it shows (PNG: a figure of the plotting code where the view gives one)
and its raw arrays (NPZ).

A new view is one module: subclass :class:`View`, implement :meth:`refresh`
(and :meth:`export_arrays`), and add the class to ``cnnviz_gui.views.VIEWS``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from ..session import Session


class View(QWidget):
    title = "View"             # tab title
    name = "view"              # job names start with it; used in file names
    uses_layers = True         # whether the window shows the layer list beside it

    message = Signal(str)      # a line for the status bar
    input_box = Signal(object)  # a receptive-field box to draw on the input image, or None
    open_unit = Signal(int)    # ask the window to show a channel's unit page
    open_layer = Signal(str)   # ask the window to show a layer (qualified name) in the Layer tab
    image_picked = Signal(object, str)   # pixels and a source text: make them the input image

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.page: Optional[QWidget] = None    # the content inside the view's scroll area, if it has one
        self._pending = {"model", "image", "layer", "channel"}
        self._current = False
        session.model_changed.connect(lambda: self._changed("model"))
        session.image_changed.connect(lambda: self._changed("image"))
        session.layer_changed.connect(lambda: self._changed("layer"))
        session.channel_changed.connect(lambda: self._changed("channel"))

    # -------------------------------------------------------------- visibility
    def set_current(self, current: bool) -> None:
        """The window tells the view whether it is the visible tab."""
        self._current = current
        if current and self._pending:
            pending, self._pending = self._pending, set()
            self.refresh(pending)
        elif not current:
            self.left()

    def _changed(self, what: str) -> None:
        if self._current:
            self.refresh({what})
        else:
            self._pending.add(what)

    def is_current(self) -> bool:
        return self._current

    def refresh_when_shown(self, what: str = "work") -> None:
        """Refresh (with ``what`` among the changes) the next time the view is
        shown, e.g. to resume work that leaving the tab stopped."""
        self._pending.add(what)

    # -------------------------------------------------------------- for subclasses
    def refresh(self, changed: set) -> None:
        """Show the current state; ``changed`` names what changed since the
        last refresh (model, image, layer, channel)."""

    def left(self) -> None:
        """The user switched to another tab: results still computing for this
        view keep going into the cache but will not be shown."""

    def cancelled(self) -> None:
        """The user pressed Cancel: say so where a result was awaited."""

    def classifier_problem(self, action: str, no_image: str) -> Optional[str]:
        """Why this view cannot ``action`` the current model and image, or None."""
        s = self.session
        if s.model is None:
            return "No model loaded: pick one in the toolbar or File > Open model."
        if s.not_classifier:
            return f"Nothing to {action}: {s.not_classifier}"
        return no_image if s.image is None else None

    def jobs(self, suffix: str) -> str:
        return f"{self.name}.{suffix}"

    def export_arrays(self) -> Optional[dict[str, np.ndarray]]:
        """The raw arrays behind what the view shows, or None."""
        return None

    def settings(self) -> dict:
        """The view's choices to remember across sessions (JSON-ready)."""
        return {}

    def restore(self, state: dict) -> None:
        """Take back what :meth:`settings` gave (possibly from an older version)."""

    def export_name(self) -> str:
        """A file name (no suffix) naming what is shown: the view, the model,
        the layer (views that use one), so exports of different things differ."""
        return "_".join(safe_name(part) for part in (self.name, self.model_name(),
                                                      self.session.layer if self.uses_layers else None) if part)

    def model_name(self) -> Optional[str]:
        s = self.session
        if s.model_spec is None:
            return None
        path = Path(s.model_spec)
        return path.stem if path.suffix else s.model_spec

    def export_figure(self):
        """What *Export PNG* saves when the view has it: a matplotlib figure of
        what it shows, drawn by the same code as the CLI's (no buttons, no
        placeholders), or None to save a picture of the view's widgets."""
        return None

    def export_widgets(self) -> list[QWidget]:
        """What *Export PNG* draws, top to bottom: the view's whole content
        (beyond what is scrolled into sight), without scroll bars."""
        return [self.page] if self.page is not None else [self]

    def export_image(self) -> QImage:
        """The widgets of :meth:`export_widgets` rendered whole, one under the other."""
        shots = [w.grab() for w in self.export_widgets() if w.isVisible()]
        width, height = max((p.width() for p in shots), default=1), sum(p.height() for p in shots) or 1
        image = QImage(width, height, QImage.Format.Format_RGB32)
        image.fill(self.palette().color(self.backgroundRole()))
        painter = QPainter(image)
        y = 0
        for pixmap in shots:
            painter.drawPixmap(0, y, pixmap)
            y += pixmap.height()
        painter.end()
        return image


def safe_name(text) -> str:
    """``text`` fit for a file name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("_")
