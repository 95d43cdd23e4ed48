"""Reusable widgets: labelled tile mosaics that fit their space, colour bars,
the input image with a receptive-field box, the top-5 prediction bars and the
digit pad."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cnnviz.data.digits import mnist_digit

from .render import as_rgb, colorbar, fit_pixmap, to_pixmap, to_qimage


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def scroll_page(widget: QWidget) -> QWidget:
    """Give ``widget`` a frameless scroll area filling it (narrow windows
    scroll rather than clip); returns the page to lay out inside it."""
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    page = QWidget()
    scroll.setWidget(page)
    outer.addWidget(scroll)
    return page


def fill_class_combo(combo: QComboBox, classes: Sequence[str], first: str) -> None:
    """``combo`` lists ``first`` (data None), then "index: name" for every class."""
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(first, None)
    for i, name in enumerate(classes):
        combo.addItem(f"{i}: {name}", i)
    combo.blockSignals(False)


class ColorBar(QWidget):
    """``caption  low [gradient] high`` — what a view's colours mean."""

    def __init__(self, cmap: str = "inferno", width: int = 140):
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self.caption, self.low, self.high = QLabel(), QLabel(), QLabel()
        self.bar = QLabel()
        self.bar.setFrameShape(QFrame.Shape.Box)
        self._width = width
        for w in (self.caption, self.low, self.bar, self.high):
            row.addWidget(w)
        row.addStretch(1)
        self.set_scale(cmap, "low", "high")

    def set_scale(self, cmap: str, low: str, high: str, caption: str = "colour:") -> None:
        self.cmap = cmap
        self.bar.setPixmap(to_pixmap(colorbar(cmap, self._width, 12)))
        self.low.setText(low)
        self.high.setText(high)
        self.caption.setText(caption)

    def set_width(self, width: int) -> None:
        """The gradient's length in pixels."""
        self._width = width
        self.bar.setPixmap(to_pixmap(colorbar(self.cmap, width, 12)))

    def text(self) -> str:
        return f"{self.caption.text()} {self.low.text()} [{self.cmap}] {self.high.text()}"


class MosaicCanvas(QWidget):
    """Equal tiles in a grid, drawn as large as the space allows, each with an
    optional label (in its corner, or on a line below with ``labels_below``)
    and caption below, long texts elided with an ellipsis; parts of a tile
    marked outside (e.g. a receptive field beyond the image) are hatched grey.
    Reports the tile (and the position inside it, in the tile's own pixels)
    under the mouse."""

    hovered = Signal(object)        # (index, row, col) or None
    clicked = Signal(int)
    laid_out = Signal()

    GAP = 3

    def __init__(self, min_tile: int = 28, max_tile: int = 256, max_scale: int = 12, label_min: int = 40,
                 labels_below: bool = False):
        super().__init__()
        self.setMouseTracking(True)
        self.min_tile, self.max_tile, self.max_scale, self.label_min = min_tile, max_tile, max_scale, label_min
        self.labels_below = labels_below
        self.inside: list[tuple[int, int, int, int]] = []     # per tile: (top, left, bottom, right) exclusive
        self.boxes: list[tuple[int, int, int, int]] = []      # per tile: a box to draw, inclusive
        self.image = None           # QImage of all tiles stacked vertically
        self.n = 0
        self.tile_shape = (1, 1)    # (h, w) of one tile in its own pixels
        self.labels: list[str] = []
        self.captions: list[str] = []
        self.selected: Optional[int] = None
        self.hover: Optional[int] = None
        self.columns, self.size_ = 1, 0          # layout: columns, on-screen tile side
        self.placeholder = ""
        self._viewport = QSize(400, 300)

    # -------------------------------------------------------------- content
    def set_tiles(self, tiles: Optional[np.ndarray], labels: Sequence[str] = (), captions: Sequence[str] = (),
                  inside: Sequence[tuple[int, int, int, int]] = (),
                  boxes: Sequence[tuple[int, int, int, int]] = ()) -> None:
        """(N, h, w[, 3]) uint8 tiles, or None to clear; ``inside`` gives per
        tile the part that is content, (top, left, bottom, right) exclusive in
        its own pixels; the rest is drawn hatched as outside. ``boxes`` are
        drawn green on the tiles (top, left, bottom, right inclusive, in the
        tiles' pixels), e.g. a receptive field in its context."""
        self.boxes = [tuple(int(v) for v in b) for b in boxes]
        if tiles is None or len(tiles) == 0:
            self.image, self.n = None, 0
        else:
            tiles = np.asarray(tiles)
            self.n = len(tiles)
            self.tile_shape = tiles.shape[1:3]
            stacked = tiles.reshape(self.n * tiles.shape[1], *tiles.shape[2:])
            self.image = to_qimage(as_rgb(stacked))
        self.labels, self.captions, self.inside = list(labels), list(captions), list(inside)
        self.hover = None
        self.relayout()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.set_tiles(None)

    # -------------------------------------------------------------- layout
    def caption_lines(self) -> list[list[str]]:
        """The text lines under each tile."""
        lines = [self.captions] if self.captions else []
        return ([self.labels] if self.labels_below and self.labels else []) + lines

    def caption_height(self) -> int:
        lines = len(self.caption_lines())
        return lines * (self._small_font_metrics().height() + 1) + (2 if lines else 0)

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        return font

    def shown_text(self, text: str, width: int) -> str:
        """``text`` as drawn in ``width`` pixels: elided with an ellipsis when too long."""
        return self._small_font_metrics().elidedText(text, Qt.TextElideMode.ElideRight, width)

    def _small_font_metrics(self) -> QFontMetrics:
        return QFontMetrics(self._small_font())

    def relayout(self, viewport: Optional[QSize] = None) -> None:
        """Choose columns and tile size to fill ``viewport`` (scroll beyond it
        only when the tiles would get smaller than ``min_tile``)."""
        if viewport is not None:
            self._viewport = viewport
        W, H = max(self._viewport.width() - 2, 50), max(self._viewport.height() - 2, 50)
        if self.n == 0:
            self.setMinimumSize(0, 0)
            self.resize(W, H)
            self.update()
            return
        th, tw = self.tile_shape
        aspect = th / tw
        cap = self.caption_height()
        limit = min(self.max_tile, self.max_scale * max(th, tw))
        best = (1, 0.0)
        for cols in range(1, self.n + 1):
            rows = -(-self.n // cols)
            side = min((W - self.GAP * (cols - 1)) / cols,
                       ((H - self.GAP * (rows - 1)) / rows - cap) / aspect)
            if side > best[1]:
                best = (cols, side)
        cols, side = best
        side = min(side, limit)
        if side < self.min_tile:                   # too many tiles for the space: scroll (beside the scroll bar)
            side = self.min_tile
            W -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 2
            cols = max(1, int((W + self.GAP) // (side + self.GAP)))
        if side >= max(th, tw):                    # whole-pixel enlargement keeps the pixels square
            side = max(th, tw) * int(side // max(th, tw))
        self.columns, self.size_ = cols, int(side)
        rows = -(-self.n // cols)
        height = rows * (self._tile_h() + cap + self.GAP)
        self.setMinimumSize(cols * (self.size_ + self.GAP), height)
        self.resize(max(W, cols * (self.size_ + self.GAP)), max(H, height))
        self.update()
        self.laid_out.emit()

    def height_at_smallest(self, width: int) -> int:
        """The height all tiles take at ``min_tile`` in ``width`` pixels."""
        if self.n == 0:
            return 0
        th, tw = self.tile_shape
        cols = max(1, (width + self.GAP) // (self.min_tile + self.GAP))
        rows = -(-self.n // cols)
        return rows * (int(round(self.min_tile * th / tw)) + self.caption_height() + self.GAP) + 2

    def _tile_h(self) -> int:
        th, tw = self.tile_shape
        return max(1, int(round(self.size_ * th / tw)))

    def tile_rect(self, i: int) -> QRect:
        r, c = divmod(i, self.columns)
        h = self._tile_h() + self.caption_height()
        return QRect(c * (self.size_ + self.GAP), r * (h + self.GAP), self.size_, self._tile_h())

    def unit_at(self, pos: QPoint):
        """(tile index, row, col) in the tile's own pixels, or None."""
        if self.n == 0 or self.size_ == 0:
            return None
        h = self._tile_h() + self.caption_height()
        c, x = divmod(pos.x(), self.size_ + self.GAP)
        r, y = divmod(pos.y(), h + self.GAP)
        i = r * self.columns + c
        if c >= self.columns or i >= self.n or x >= self.size_ or y >= self._tile_h():
            return None
        th, tw = self.tile_shape
        return int(i), int(y * th // self._tile_h()), int(x * tw // self.size_)

    # -------------------------------------------------------------- painting, mouse
    def paintEvent(self, event):
        painter = QPainter(self)
        if self.image is None:
            if self.placeholder:
                painter.setPen(self.palette().color(self.foregroundRole()))
                painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                                 self.placeholder)
            return
        th, tw = self.tile_shape
        smooth = self.size_ < max(th, tw)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.setFont(self._small_font())
        metrics = painter.fontMetrics()
        visible = event.rect()
        lines = self.caption_lines()
        for i in range(self.n):
            rect = self.tile_rect(i)
            if not rect.adjusted(-2, -2, 2, 2 + self.caption_height()).intersects(visible):
                continue
            self._draw_tile(painter, i, rect)
            if i < len(self.boxes):
                t, lf, b, r = self.boxes[i]
                sy, sx = rect.height() / th, rect.width() / tw
                painter.setPen(QPen(QColor(0, 255, 0), 2))
                painter.drawRect(QRectF(rect.left() + lf * sx, rect.top() + t * sy, (r - lf + 1) * sx - 1,
                                        (b - t + 1) * sy - 1))
            if i < len(self.labels) and self.labels[i] and not self.labels_below and self.size_ >= self.label_min:
                text = self.shown_text(self.labels[i], rect.width())
                box = QRect(rect.left(), rect.top(), metrics.horizontalAdvance(text) + 4, metrics.height())
                painter.fillRect(box, QColor(0, 0, 0, 150))
                painter.setPen(QColor(235, 235, 235))
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            painter.setPen(self.palette().color(self.foregroundRole()))
            for k, texts in enumerate(lines):
                if i < len(texts) and texts[i]:
                    line = QRect(rect.left() - 1, rect.bottom() + 2 + k * (metrics.height() + 1), rect.width() + 2,
                                 metrics.height())
                    painter.drawText(line, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                                     self.shown_text(texts[i], rect.width() + 2))
            if i == self.selected:
                painter.setPen(QPen(QColor(0, 200, 255), 3))
                painter.drawRect(rect.adjusted(-1, -1, 0, 0))
            elif i == self.hover:
                painter.setPen(QPen(QColor(0, 200, 0), 3))          # green, as the receptive-field box
                painter.drawRect(rect.adjusted(-1, -1, 0, 0))

    def _draw_tile(self, painter: QPainter, i: int, rect: QRect) -> None:
        th, tw = self.tile_shape
        if i >= len(self.inside) or self.inside[i] == (0, 0, th, tw):
            painter.drawImage(rect, self.image, QRect(0, i * th, tw, th))
            return
        painter.fillRect(rect, QColor(150, 150, 150))                        # outside the image: hatched grey
        painter.fillRect(rect, QBrush(QColor(100, 100, 100), Qt.BrushStyle.BDiagPattern))
        top, left, bottom, right = self.inside[i]
        if bottom > top and right > left:
            sy, sx = rect.height() / th, rect.width() / tw
            target = QRectF(rect.left() + left * sx, rect.top() + top * sy, (right - left) * sx, (bottom - top) * sy)
            painter.drawImage(target, self.image, QRectF(left, i * th + top, right - left, bottom - top))

    def mouseMoveEvent(self, event):
        unit = self.unit_at(event.position().toPoint())
        index = unit[0] if unit else None
        if index != self.hover:
            self.hover = index
            self.update()
        self.hovered.emit(unit)

    def leaveEvent(self, event):
        self.hover = None
        self.update()
        self.hovered.emit(None)

    def mousePressEvent(self, event):
        unit = self.unit_at(event.position().toPoint())
        if unit is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(unit[0])

    def set_selected(self, index: Optional[int]) -> None:
        self.selected = index
        self.update()

    def scroll_to(self, index: int) -> None:
        area = self.parentWidget().parentWidget() if self.parentWidget() else None
        if isinstance(area, QScrollArea):
            rect = self.tile_rect(index)
            area.ensureVisible(rect.center().x(), rect.center().y(), rect.width(), rect.height())


class MosaicArea(QScrollArea):
    """A :class:`MosaicCanvas` that refits itself when the area is resized.
    With ``show_all`` it asks its layout for the height that shows every tile
    at the smallest tile size (for a few tiles on a page that scrolls itself),
    rather than scrolling them inside a strip."""

    def __init__(self, show_all: bool = False, **kwargs):
        super().__init__()
        self.canvas = MosaicCanvas(**kwargs)
        self.show_all = show_all
        self.setWidget(self.canvas)
        self.setWidgetResizable(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumHeight(60)
        if show_all:
            self.canvas.laid_out.connect(self._show_all)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event):
        super().showEvent(event)
        self._fit()

    def _show_all(self):
        needed = self.canvas.height_at_smallest(self.maximumViewportSize().width())
        if needed != self.minimumHeight():
            self.setMinimumHeight(max(60, needed))

    def _fit(self):
        # the size without scroll bars: fitting to the current viewport would make the tiles
        # grow and shrink forever as the scroll bar comes and goes
        size = self.maximumViewportSize()
        if size != self.canvas._viewport or self.canvas.size_ == 0:
            self.canvas.relayout(size)


class ImageLabel(QLabel):
    """An image shown as large as its space allows, up to about ``size``
    pixels (whole-pixel enlargement when it fits twice): when the layout gives
    less it is scaled down to fit, never cropped."""

    SMALLEST = 64       # the layout may shrink the label to this side (the page scrolls below it)

    def __init__(self, size: int = 200, placeholder: str = ""):
        super().__init__(placeholder)
        self.size_ = size
        self.rgb: Optional[np.ndarray] = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(min(size, self.SMALLEST), min(size, self.SMALLEST))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        return QSize(self.size_, self.size_)

    def minimumSizeHint(self) -> QSize:
        return self.minimumSize()

    def hasHeightForWidth(self) -> bool:
        return False             # QLabel's word wrap would tie the height to the text, not the picture

    def show_array(self, rgb: Optional[np.ndarray], note: str = "") -> None:
        self.rgb = rgb
        if rgb is None:
            self.clear()
            self.setText(note)
            return
        self._fit()
        self.setToolTip(note)

    def shown_side(self) -> int:
        """The longer side, in screen pixels, the picture may take now: at most
        ``size`` and whatever fits the label's current rectangle."""
        h, w = self.rgb.shape[:2]
        room = self.contentsRect()
        return max(1, int(min(self.size_, room.width() * max(h, w) / w, room.height() * max(h, w) / h)))

    def _fit(self) -> None:
        if self.rgb is not None:
            self.setPixmap(fit_pixmap(self.rgb, self.shown_side())[0])

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()

    def set_side(self, size: int) -> None:
        """Show the image near ``size`` pixels from now on."""
        if size != self.size_:
            self.size_ = size
            self.setMinimumSize(size, size)
            self.updateGeometry()
            self._fit()


class FigureLabel(QLabel):
    """A rendered figure shown at its own size, or scaled down (aspect kept)
    to the width the layout gives: a wide figure never widens the page."""

    def __init__(self):
        super().__init__()
        self.rgb: Optional[np.ndarray] = None
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    def show_array(self, rgb: Optional[np.ndarray]) -> None:
        self.rgb = rgb
        if rgb is None:
            self.clear()
            self.setFixedHeight(0)
        self._fit()

    def _fit(self) -> None:
        if self.rgb is None:
            return
        h, w = self.rgb.shape[:2]
        side = max(1, min(w, self.width()) * max(h, w) // w)
        pixmap = fit_pixmap(self.rgb, side)[0]
        self.setFixedHeight(pixmap.height())
        self.setPixmap(pixmap)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()


class InputView(QLabel):
    """The image as the model sees it (its input size), with the receptive
    field of the unit under the mouse drawn on it; until there is one, what
    to do to open one."""

    HINT = ("<b>No image yet.</b><br>Open one: <i>File › Open image</i> (Ctrl+I), drag and drop a file here, "
            "paste one (Ctrl+V), pick a <i>sample photo</i> or a <i>Dataset…</i> image in the toolbar")

    def __init__(self, size: int = 280):
        super().__init__(self.HINT)
        self.size_ = size
        self.pixels = None
        self.box = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(size, size)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def show_pixels(self, pixels: Optional[np.ndarray]) -> None:
        self.pixels = None if pixels is None else as_rgb(pixels)
        self.box = None
        self._paint()

    def set_box(self, box) -> None:
        """(top, left, bottom, right) inclusive, in input pixels, or None."""
        if box != self.box:
            self.box = box
            self._paint()

    def _paint(self):
        if self.pixels is None:
            self.setText(self.HINT)
            return
        pixmap, scale = fit_pixmap(self.pixels, self.size_)
        if self.box is not None:
            top, left, bottom, right = self.box
            painter = QPainter(pixmap)
            painter.setPen(QPen(QColor(0, 255, 0), 2))
            painter.drawRect(QRectF(left * scale, top * scale, (right - left + 1) * scale - 1,
                                    (bottom - top + 1) * scale - 1))
            painter.end()
        self.setPixmap(pixmap)


class ErrorBar(QProgressBar):
    """A probability bar that can also draw mean ± std as a black whisker."""

    def __init__(self):
        super().__init__()
        self.std = 0.0

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.std <= 0:
            return
        mean, r = self.value() / self.maximum(), self.rect().adjusted(2, 2, -2, -2)
        lo, hi = (r.left() + r.width() * min(1.0, max(0.0, v)) for v in (mean - self.std, mean + self.std))
        y = r.bottom() - 3                                # below the percentage text
        painter = QPainter(self)
        painter.setPen(QPen(QColor("black"), 2))
        painter.drawLine(int(lo), y, int(hi), y)
        for x in (lo, hi):
            painter.drawLine(int(x), y - 3, int(x), y + 1)
        painter.end()


class PredictionPanel(QWidget):
    """The top-5 classes as labelled bars; with MC dropout, mean ± std."""

    def __init__(self, rows: int = 5):
        super().__init__()
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.names, self.bars = [], []
        for i in range(rows):
            name, bar = QLabel(""), ErrorBar()
            name.setMinimumWidth(90)
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            layout.addWidget(name, i, 0)
            layout.addWidget(bar, i, 1)
            self.names.append(name)
            self.bars.append(bar)

    def show_predictions(self, preds, stds: Sequence[float] = ()) -> None:
        for i, (name, bar) in enumerate(zip(self.names, self.bars)):
            bar.std = float(stds[i]) if i < len(stds) else 0.0
            if i < len(preds):
                name.setText(f"{preds[i].name} [{preds[i].index}]")
                name.setToolTip(preds[i].name)
                bar.setValue(int(round(preds[i].probability * 1000)))
                bar.setFormat(f"{preds[i].probability:.1%}" + (f" ± {bar.std:.1%}" if bar.std else ""))
            else:
                name.setText("")
                bar.setValue(0)
                bar.setFormat("")
            bar.update()

    def clear(self) -> None:
        self.show_predictions([])

    def text(self) -> str:
        return "; ".join(f"{n.text()} {b.format()}" for n, b in zip(self.names, self.bars) if n.text())


class DrawPad(QLabel):
    """Draw a digit with the mouse (white on black, like MNIST); ``drawn``
    fires with the 28x28 uint8 image while drawing (at most every 150 ms) and
    when a stroke ends, made the way MNIST's digits were made
    (:func:`cnnviz.data.digits.mnist_digit`: scaled into 20x20, centred by
    centre of mass). Successive mouse positions are joined by a thick line,
    so a fast stroke stays a stroke rather than a trail of dots. The pad has
    a fixed size; :meth:`set_stale` greys the drawing when another input is
    shown (the next stroke starts afresh)."""

    SIZE, SCALE = 28, 8
    drawn = Signal(object)

    def __init__(self):
        super().__init__()
        self.canvas = np.zeros((self.SIZE * self.SCALE,) * 2, np.uint8)
        self._last: Optional[tuple[int, int]] = None        # the stroke's previous mouse position (x, y)
        self.stale = False
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(self.SIZE * self.SCALE, self.SIZE * self.SCALE)
        self.setToolTip("draw a digit with the left button; right-click clears")
        self._live = QTimer(self)
        self._live.setSingleShot(True)
        self._live.setInterval(150)
        self._live.timeout.connect(self._emit)
        self._paint()

    def _paint(self):
        self.setPixmap(to_pixmap(self.canvas // 3 if self.stale else self.canvas))

    def digit(self) -> np.ndarray:
        return mnist_digit(self.canvas)

    def set_stale(self) -> None:
        """Another input is shown: the drawing no longer is the model's input."""
        if self.canvas.any() and not self.stale:
            self.stale = True
            self._paint()

    def _emit(self):
        self.drawn.emit(self.digit())

    def clear(self):
        self.canvas[:] = 0
        self.stale = False
        self._paint()

    def stroke(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Paint the pen's path from ``start`` to ``end`` (x, y in widget pixels):
        every pixel near the segment between them."""
        (x0, y0), (x1, y1) = start, end
        y, x = np.ogrid[:self.canvas.shape[0], :self.canvas.shape[1]]
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        self.canvas[(x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= (1.4 * self.SCALE) ** 2] = 255

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.RightButton:
            self.clear()
        else:
            if self.stale:
                self.clear()
            self._last = None
            self.mouseMoveEvent(event)

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.MouseButton.LeftButton:
            p = event.position().toPoint()
            here = (p.x(), p.y())
            self.stroke(self._last or here, here)
            self._last = here
            self._paint()
            if not self._live.isActive():
                self._live.start()

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self._live.stop()
            self._emit()
