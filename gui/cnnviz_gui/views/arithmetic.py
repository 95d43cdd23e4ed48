"""The "How it computes" view (what CNN Explainer shows, on the user's own
model and image): for a unit of the current layer, the input patch under its
window (the input channels that contribute most), the kernel, their
element-wise products, the sum plus the bias, the activation and the value,
which equals the layer's own map value; a pooling unit's window and winner;
a dense unit's largest contributions and the softmax over the classes. Step
or play the window across the map; click the map to pick a unit. The
lectures' fixed kernels (box and Gaussian smoothing, Sobel gradients) apply
to the current image the same way.

The arrays come from :mod:`cnnviz.inside.arithmetic`; the layer's input and
output are computed once per image and layer in a worker, every step after
that is NumPy on the GUI thread."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from cnnviz import CnnvizError
from cnnviz.inside.arithmetic import (
    FIXED_KERNELS,
    FIXED_TEXT,
    KINDS,
    apply_fixed_kernel,
    fixed_kernel_arithmetic,
    layer_io,
    unit_arithmetic,
)

from ..render import MAPS_CMAP, WEIGHTS_CMAP, colorize, format_value, signed_unit
from ..widgets import ImageLabel, MosaicArea, heading, scroll_page
from .base import View

SHOWN_CHANNELS = 4      # input channels drawn (the ones contributing most)
TOP_INPUTS = 12         # a dense unit's largest contributions drawn
STEP_MS = 350           # the window moves this often while playing


class NumberGrid(QWidget):
    """A small array as coloured cells with their values written in them (red
    positive, blue negative, or light to dark for values of one sign);
    padding cells hatched, one cell ringed."""

    CELL = 38

    def __init__(self, title: str = ""):
        super().__init__()
        self.title = title
        self.values: Optional[np.ndarray] = None
        self.valid: Optional[np.ndarray] = None
        self.ring: Optional[tuple[int, int]] = None
        self.labels: list[str] = []          # per row, written left of it (a dense unit's inputs)

    def set_array(self, values: Optional[np.ndarray], valid: Optional[np.ndarray] = None,
                  ring: Optional[tuple[int, int]] = None, labels: list[str] = ()) -> None:
        self.values = None if values is None else np.atleast_2d(np.asarray(values, np.float64))
        self.valid = None if valid is None else np.atleast_2d(valid)
        self.ring, self.labels = ring, list(labels)
        self.updateGeometry()
        self.setFixedSize(self.sizeHint())
        self.update()

    def _label_width(self) -> int:
        return 58 if self.labels else 0

    def sizeHint(self) -> QSize:
        if self.values is None:
            return QSize(10, 10)
        h, w = self.values.shape
        title = self.fontMetrics().horizontalAdvance(self.title) + 8
        return QSize(max(self._label_width() + w * self.CELL + 2, title), 18 + h * self.CELL + 2)

    def paintEvent(self, event):
        if self.values is None:
            return
        painter = QPainter(self)
        font = QFont(self.font())
        font.setPixelSize(11)
        painter.setFont(font)
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignLeft, self.title)
        values = self.values
        signed = values.min() < 0
        scaled = signed_unit(values)[0] if signed else values / max(float(values.max()), 1e-12)
        colours = colorize(scaled, WEIGHTS_CMAP if signed else MAPS_CMAP)
        x0 = self._label_width()
        for (r, c), v in np.ndenumerate(values):
            rect = QRectF(x0 + c * self.CELL, 18 + r * self.CELL, self.CELL - 1, self.CELL - 1)
            inside = self.valid is None or bool(self.valid[r, c])
            red, green, blue = (int(x) for x in colours[r, c])
            painter.fillRect(rect, QColor(red, green, blue) if inside else QColor(170, 170, 170))
            if not inside:
                painter.fillRect(rect, QColor(120, 120, 120, 90))
            light = (0.299 * red + 0.587 * green + 0.114 * blue) > 140
            painter.setPen(QColor(0, 0, 0) if light or not inside else QColor(255, 255, 255))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "pad" if not inside else _short(v))
            if self.ring == (r, c):
                painter.setPen(QPen(QColor(0, 200, 0), 3))
                painter.drawRect(rect.adjusted(1, 1, -1, -1))
        painter.setPen(self.palette().color(self.foregroundRole()))
        for r, text in enumerate(self.labels):
            painter.drawText(QRectF(0, 18 + r * self.CELL, x0 - 4, self.CELL), Qt.AlignmentFlag.AlignRight |
                             Qt.AlignmentFlag.AlignVCenter, text)


def _short(v: float) -> str:
    """A value in at most 5 characters."""
    if v == 0:
        return "0"
    if abs(v) >= 100 or abs(v) < 0.01:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


class ArithmeticView(View):
    title = "How it computes"
    name = "arithmetic"

    def __init__(self, session):
        super().__init__(session)
        self.io: Optional[tuple[np.ndarray, np.ndarray]] = None     # the layer's input and output for the image
        self.step = None                                             # the UnitArithmetic shown
        self._hovered: Optional[tuple[int, int]] = None
        self.page = scroll_page(self)
        box = QVBoxLayout(self.page)
        self.header = heading("")
        box.addWidget(self.header)
        controls = QHBoxLayout()
        self.kernel_box = QComboBox()
        self.kernel_box.addItem("the model's layer", None)
        for name in FIXED_KERNELS:
            self.kernel_box.addItem(FIXED_TEXT[name], name)
        self.kernel_box.setToolTip("the current layer's own kernels, or a fixed kernel applied to the image")
        self.kernel_box.currentIndexChanged.connect(lambda _: self.refresh({"layer"}))
        self.row, self.col, self.channel = QSpinBox(), QSpinBox(), QSpinBox()
        for spin in (self.row, self.col, self.channel):
            spin.valueChanged.connect(lambda _: self._show())
        self.channel.valueChanged.connect(self._channel_edited)
        self.back_button, self.next_button = QPushButton("◀ step"), QPushButton("step ▶")
        self.back_button.clicked.connect(lambda: self.move(-1))
        self.next_button.clicked.connect(lambda: self.move(+1))
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("move the window across the map, unit by unit")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play)
        controls.addWidget(QLabel("Kernel"))
        controls.addWidget(self.kernel_box)
        controls.addStretch(1)
        box.addLayout(controls)
        position = QHBoxLayout()                  # a line of its own: the page fits 1280x800 beside the input
        for label, widget in (("row", self.row), ("col", self.col), ("channel", self.channel)):
            position.addWidget(QLabel(label))
            position.addWidget(widget)
        for button in (self.back_button, self.next_button, self.play_button):
            position.addWidget(button)
        position.addStretch(1)
        box.addLayout(position)
        self.timer = QTimer(self)
        self.timer.setInterval(STEP_MS)
        self.timer.timeout.connect(lambda: self.move(+1))

        pictures = QHBoxLayout()
        self.input_picture = ImageLabel(180)
        self.input_caption = heading("")
        self.map_view = MosaicArea(min_tile=120, max_tile=240, max_scale=16)
        self.map_view.setMinimumSize(160, 200)
        self.map_view.canvas.hovered.connect(lambda unit: setattr(self, "_hovered", unit[1:] if unit else None))
        self.map_view.canvas.clicked.connect(self._map_clicked)
        self.map_view.canvas.setToolTip("click a unit to see how it computes")
        self.map_caption = heading("")
        for picture, caption in ((self.input_picture, self.input_caption), (self.map_view, self.map_caption)):
            column = QVBoxLayout()
            column.addWidget(picture)
            column.addWidget(caption)
            pictures.addLayout(column, 1)
        box.addLayout(pictures)
        self.grids_caption = heading("")
        box.addWidget(self.grids_caption)
        self.grids = QGridLayout()
        self.grids.setColumnStretch(3, 1)         # the cells keep their size, packed to the left
        box.addLayout(self.grids)
        self.grid_widgets: list[QWidget] = []
        self.result = heading("")
        box.addWidget(self.result)
        box.addStretch(1)

    # -------------------------------------------------------------- state
    def fixed(self) -> Optional[str]:
        return self.kernel_box.currentData()

    def refresh(self, changed: set) -> None:
        s = self.session
        self._play(False)
        if s.model is None or s.image is None:
            self._clear("Open a model and an image to see how a unit computes its value.")
            return
        if self.fixed():
            self.io = None
            h, w = s.image.pixels.shape[:2]
            self._ranges(h, w, 1)
            self._show()
            return
        row = s.row()
        if row is None or row.type not in KINDS:
            self._clear(f"Layer {row.name if row else '?'} is a {row.type if row else 'layer'}: the step-by-step "
                        f"arithmetic covers {', '.join(KINDS)} layers. Pick one of those in the layer list, or a "
                        "fixed kernel above.")
            return
        if changed & {"model", "image", "layer", "work"} or self.io is None:
            self.io = None
            model, x, layer = s.model, s.image.x, s.layer
            self.header.setText(f"computing {layer}'s input and output for {s.image.source}…")
            s.compute(self.jobs("io"), s.key("layer_io", layer=layer), lambda progress, cancel:
                      layer_io(model, x, layer), self._got_io, lambda message: self._clear(message.splitlines()[0]))
        elif "channel" in changed and row.spatial:
            self.channel.setValue(s.channel)

    def left(self) -> None:
        self._play(False)
        self.session.forget(self.jobs("io"))

    def _got_io(self, io) -> None:
        self.io = io
        out = io[1]
        if out.ndim == 3:
            h, w = out.shape[:2]
            r, c = np.unravel_index(int(np.argmax(out[..., min(self.session.channel, out.shape[-1] - 1)])),
                                    out.shape[:2])
            self._ranges(h, w, out.shape[-1], (int(r), int(c)), self.session.channel)
        else:
            self._ranges(1, 1, out.shape[-1], (0, 0), int(np.argmax(out)))
        self._show()

    def _ranges(self, h: int, w: int, channels: int, at=(0, 0), channel: int = 0) -> None:
        for spin, top, value in ((self.row, h, at[0]), (self.col, w, at[1]), (self.channel, channels, channel)):
            spin.blockSignals(True)
            spin.setRange(0, max(0, top - 1))
            spin.setValue(min(value, top - 1))
            spin.blockSignals(False)
        dense = self.io is not None and self.io[1].ndim == 1
        for widget in (self.row, self.col, self.back_button, self.next_button, self.play_button):
            widget.setEnabled(not dense)
        self.channel.setEnabled(not self.fixed())

    def _channel_edited(self, channel: int) -> None:
        row = self.session.row()
        if self.io is not None and row is not None and row.spatial:
            self.session.set_channel(channel)

    def _clear(self, text: str) -> None:
        self.io, self.step = None, None
        self.header.setText(text)
        self.input_picture.show_array(None, "")
        self.map_view.canvas.set_tiles(None)
        for label in (self.input_caption, self.map_caption, self.result):
            label.setText("")
        self._set_grids([])

    # -------------------------------------------------------------- stepping
    def move(self, delta: int) -> None:
        """The next (previous) unit in reading order, wrapping at the map's end."""
        h, w = self.row.maximum() + 1, self.col.maximum() + 1
        index = (self.row.value() * w + self.col.value() + delta) % (h * w)
        self.row.blockSignals(True)
        self.row.setValue(index // w)
        self.row.blockSignals(False)
        self.col.setValue(index % w)

    def _play(self, on: bool) -> None:
        if on and self.play_button.isEnabled():
            self.timer.start()
        else:
            self.timer.stop()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(self.timer.isActive())
        self.play_button.setText("Pause" if self.timer.isActive() else "Play")
        self.play_button.blockSignals(False)

    def _map_clicked(self, _index: int) -> None:
        if self._hovered is not None:
            r, c = self._hovered
            self.row.blockSignals(True)
            self.row.setValue(r)
            self.row.blockSignals(False)
            self.col.setValue(c)

    # -------------------------------------------------------------- drawing
    def _show(self) -> None:
        s = self.session
        if s.image is None or s.model is None:
            return
        at = (self.row.value(), self.col.value())
        try:
            if self.fixed():
                step = fixed_kernel_arithmetic(s.image.pixels, self.fixed(), at)
            elif self.io is not None:
                step = unit_arithmetic(s.model, None, s.layer, at=at if self.io[1].ndim == 3 else None,
                                       channel=self.channel.value(), io=self.io)
            else:
                return
        except CnnvizError as exc:
            self._clear(str(exc))
            return
        self.step = step
        self._pictures(step)
        if step.kind in ("max_pool", "average_pool"):
            self._set_grids([[_grid(f"window of channel {step.channel}", step.patch, step.valid, step.winner)]])
        elif step.at is None:
            self._dense(step)
        else:
            self._conv(step)
        self.result.setText(_verdict(step))

    def _pictures(self, step) -> None:
        s = self.session
        if self.fixed():
            filtered = apply_fixed_kernel(s.image.pixels, self.fixed())
            self.header.setText(f"<b>{FIXED_TEXT[self.fixed()]}</b> of {s.image.source} at pixel "
                                f"({step.at[0]}, {step.at[1]}): the kernel slides over the image as a "
                                "convolution layer's does (no flip), zero beyond the edge")
            self._show_map(filtered, step.at, "the filtered image (click a pixel)")
        else:
            where = f"unit ({step.at[0]}, {step.at[1]}) of " if step.at is not None else "unit "
            self.header.setText(f"<b>How {where}channel {step.channel} of {step.layer} computes its value</b> "
                                f"on {s.image.source}")
            out = self.io[1]
            if out.ndim == 3:
                self._show_map(out[..., step.channel], step.at, f"{step.layer} channel {step.channel}: "
                               f"{out.shape[0]}×{out.shape[1]} map (click a unit)")
            else:
                self.map_view.canvas.set_tiles(None)
                self.map_caption.setText("")
        if step.at is None:
            self.input_picture.show_array(None, "")
            self.input_caption.setText("")
            return
        if self.fixed():
            picture, what = _gray_rgb(np.asarray(s.image.pixels, np.float64).mean(axis=-1)), "the image"
        else:
            inputs = self.io[0]
            picture = _gray_rgb(inputs.mean(axis=-1))
            what = f"the layer's input ({'×'.join(str(n) for n in inputs.shape)}, mean over channels)"
        t, lf = step.window
        kh, kw = step.patch.shape[:2]
        self.input_picture.show_array(_boxed(picture, t, lf, t + kh - 1, lf + kw - 1))
        self.input_caption.setText(f"{what}; green: the {kh}×{kw} window at ({t}, {lf})")

    def _show_map(self, values: np.ndarray, at, caption: str) -> None:
        lo, hi = float(values.min()), float(values.max())
        rgb = _boxed(colorize((values - lo) / max(hi - lo, 1e-12)), at[0], at[1], at[0], at[1])
        self.map_view.canvas.set_tiles(rgb[None])
        self.map_caption.setText(f"{caption}; from {format_value(lo)} to {format_value(hi)}")

    def _conv(self, step) -> None:
        patch, kernel, products = step.patch, step.kernel, step.products
        if patch.ndim == 2:                                   # a fixed kernel on a grey image
            patch, kernel, products, valid = patch[..., None], kernel[..., None], products[..., None], \
                step.valid
        else:
            valid = step.valid
        sums = products.sum(axis=(0, 1))
        order = np.argsort(-np.abs(sums))[:SHOWN_CHANNELS]
        rows = []
        for c in order:
            rows.append([_grid(f"input channel {c}", patch[..., c], valid), _grid("× kernel", kernel[..., c]),
                         _grid(f"= products (sum {_short(float(sums[c]))})", products[..., c], valid)])
        self._set_grids(rows)
        n = patch.shape[-1]
        self.grids_caption.setText(f"the {len(order)} of {n} input channels whose products add up to most (in "
                                   f"size); the sum runs over all {n}" if n > len(order) else "")

    def _dense(self, step) -> None:
        order = np.argsort(-np.abs(step.products))[:TOP_INPUTS]
        table = np.stack([step.patch[order], step.kernel[order], step.products[order]], axis=1)
        rows = [[_grid("input · weight · product", table, labels=[f"in {i}" for i in order])]]
        if step.probabilities is not None:
            classes = self.session.info.classes or []
            scores = np.stack([step.logits, step.probabilities], axis=1)
            rows[0].append(_grid("logit · softmax probability", scores, ring=(step.channel, 1),
                                 labels=[str(classes[i])[:8] if i < len(classes) else str(i)
                                         for i in range(len(scores))]))
        self._set_grids(rows)

    def _set_grids(self, rows: list[list[QWidget]]) -> None:
        for widget in self.grid_widgets:
            self.grids.removeWidget(widget)
            widget.deleteLater()
        self.grid_widgets = [w for row in rows for w in row]
        if not rows or len(rows) == 1:
            self.grids_caption.setText("")
        for r, row in enumerate(rows):
            for c, widget in enumerate(row):
                self.grids.addWidget(widget, r, c, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    # -------------------------------------------------------------- export
    def export_arrays(self):
        step = self.step
        if step is None:
            return None
        return {k: np.asarray(v) for k, v in step.to_json().items() if v is not None}


def _grid(title: str, values, valid=None, ring=None, labels=()) -> NumberGrid:
    grid = NumberGrid(title)
    grid.set_array(values, valid, ring, labels)
    return grid


def _verdict(step) -> str:
    """The last steps as a line, ending with whether they give the layer's value."""
    if step.kind == "max_pool":
        text = f"max of the window = <b>{format_value(step.value)}</b> (entry {step.winner})"
    elif step.kind == "average_pool":
        text = f"mean of the {int(step.valid.sum())} entries inside the input = <b>{format_value(step.value)}</b>"
    else:
        text = (f"sum of the {step.products.size} products = {format_value(step.total)}; "
                f"+ bias {format_value(step.bias)} = {format_value(step.pre_activation)}; ")
        text += (f"softmax over the classes → <b>{format_value(step.value)}</b>" if step.probabilities is not None
                 else f"{step.activation} → <b>{format_value(step.value)}</b>")
    same = "equals" if step.matches else "<b style='color:#b00020'>differs from</b>"
    return f"{text}; it {same} the layer's own value {format_value(step.map_value)}"


def _gray_rgb(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if values.ndim == 3 and values.shape[-1] == 3:
        return values.astype(np.uint8)
    values = values[..., 0] if values.ndim == 3 else values
    lo, hi = values.min(), values.max()
    gray = ((values - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _boxed(rgb: np.ndarray, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """``rgb`` with a one-pixel green frame around rows top..bottom, columns left..right (clipped)."""
    out = rgb.copy()
    h, w = out.shape[:2]
    t, b, lf, r = max(top, 0), min(bottom, h - 1), max(left, 0), min(right, w - 1)
    green = np.array([0, 255, 0], np.uint8)
    if top >= 0:
        out[t, lf:r + 1] = green
    if bottom < h:
        out[b, lf:r + 1] = green
    if left >= 0:
        out[t:b + 1, lf] = green
    if right < w:
        out[t:b + 1, r] = green
    return out
