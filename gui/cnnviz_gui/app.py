"""The cnnviz main window: pick a model and an image, browse the layers, see
each layer's activation maps and filters, open a channel's unit page (its map,
top dataset patches, synthesized image), with the prediction always in view.

    cnnviz-gui [MODEL] [IMAGE]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

import cnnviz
from cnnviz.activations import activations, normalize_maps, spatial_layers
from cnnviz.data import load_dataset
from cnnviz.filters import filter_weights
from cnnviz.images import SAMPLES, SAMPLE_PREFIX, prepare, read_image
from cnnviz.predict import predict
from cnnviz.receptive import unit_box
from cnnviz.runtime import setup_devices
from cnnviz.summary import summarize, zoo_listing
from cnnviz.synthesis import synthesize_channels
from cnnviz.top_patches import patch_crops, top_patches

from .render import colorize, grid_columns, tile, to_pixmap
from .workers import Runner

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff)"
MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5)"
TILE = 64          # on-screen size of one activation map tile, pixels
INPUT_VIEW = 280   # on-screen size of the input image


class MapGrid(QLabel):
    """The mosaic of a layer's channel maps; reports the unit under the mouse."""

    def __init__(self, window: "MainWindow"):
        super().__init__()
        self.window = window
        self.setMouseTracking(True)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.geometry_ = None            # (columns, tile_h, tile_w, map_h, map_w, channels)

    def _unit_at(self, pos):
        if self.geometry_ is None:
            return None
        cols, th, tw, mh, mw, n = self.geometry_
        col, x = divmod(pos.x(), tw + 2)
        row, y = divmod(pos.y(), th + 2)
        channel = row * cols + col
        if col >= cols or channel >= n or x >= tw or y >= th:
            return None
        return channel, int(y * mh / th), int(x * mw / tw)

    def mouseMoveEvent(self, event):
        unit = self._unit_at(event.position().toPoint())
        self.window.hover_unit(unit)

    def leaveEvent(self, event):
        self.window.hover_unit(None)

    def mousePressEvent(self, event):
        unit = self._unit_at(event.position().toPoint())
        if unit is not None:
            self.window.open_unit(unit[0])


class PredictionPanel(QWidget):
    """The top-5 classes as labelled bars."""

    def __init__(self, rows: int = 5):
        super().__init__()
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.names, self.bars = [], []
        for i in range(rows):
            name, bar = QLabel(""), QProgressBar()
            name.setMinimumWidth(90)
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            layout.addWidget(name, i, 0)
            layout.addWidget(bar, i, 1)
            self.names.append(name)
            self.bars.append(bar)

    def show_predictions(self, preds):
        for i, (name, bar) in enumerate(zip(self.names, self.bars)):
            if i < len(preds):
                name.setText(f"{preds[i].name} [{preds[i].index}]")
                bar.setValue(int(round(preds[i].probability * 1000)))
                bar.setFormat(f"{preds[i].probability:.1%}")
            else:
                name.setText("")
                bar.setValue(0)
                bar.setFormat("")

    def text(self) -> str:
        return "; ".join(f"{n.text()} {b.format()}" for n, b in zip(self.names, self.bars) if n.text())


class DrawPad(QLabel):
    """Draw a digit with the mouse (white on black, like MNIST); ``drawn``
    fires with the 28x28 uint8 image when a stroke ends."""

    SIZE, SCALE = 28, 8

    def __init__(self, drawn):
        super().__init__()
        self.drawn = drawn
        self.canvas = np.zeros((self.SIZE * self.SCALE,) * 2, np.uint8)
        self.setFixedSize(self.SIZE * self.SCALE, self.SIZE * self.SCALE)
        self.setToolTip("draw a digit; right-click clears")
        self._paint()

    def _paint(self):
        self.setPixmap(to_pixmap(self.canvas))

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.RightButton:
            self.canvas[:] = 0
            self._paint()
        else:
            self.mouseMoveEvent(event)

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.MouseButton.LeftButton:
            p = event.position().toPoint()
            y, x = np.ogrid[:self.canvas.shape[0], :self.canvas.shape[1]]
            self.canvas[(y - p.y()) ** 2 + (x - p.x()) ** 2 <= (1.4 * self.SCALE) ** 2] = 255
            self._paint()

    def mouseReleaseEvent(self, event):
        small = self.canvas.reshape(self.SIZE, self.SCALE, self.SIZE, self.SCALE).mean(axis=(1, 3))
        self.drawn(small.astype(np.uint8))


class MainWindow(QMainWindow):
    def __init__(self, settings: Optional[QSettings] = None):
        super().__init__()
        self.settings = settings or QSettings("cnnviz", "cnnviz-gui")
        self.runner = Runner(self)
        self.model = None
        self.image = None                # cnnviz.images.LoadedImage, prepared for self.model
        self.raw = None                  # (uint8 pixels as read, source) of the current image
        self.layer: Optional[str] = None
        self.channel = 0
        self.maps: dict = {}             # in-memory cache: (model id, image source, layer) -> maps
        self.dataset = None
        self.setWindowTitle("cnnviz")
        self._build()
        self.runner.progress.connect(self._on_progress)
        self.runner.busy.connect(self._on_busy)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.device.setText(f"Device: {setup_devices()}")

    # ------------------------------------------------------------ layout
    def _build(self):
        bar = self.addToolBar("main")
        bar.setObjectName("main")
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(260)
        for row in zoo_listing():
            acc = f", {row['test_accuracy']:.1%}" if row["test_accuracy"] else ""
            self.model_box.addItem(f"{row['name']} ({row['dataset']}{acc})", row["name"])
        self.model_box.activated.connect(lambda i: self.load_model(self.model_box.itemData(i)))
        bar.addWidget(QLabel(" Model: "))
        bar.addWidget(self.model_box)
        bar.addAction(self._action("Open model…", self.open_model_dialog, QKeySequence.StandardKey.Open))
        bar.addSeparator()
        bar.addAction(self._action("Open image…", self.open_image_dialog, "Ctrl+I"))
        self.sample_box = QComboBox()
        self.sample_box.addItem("sample photo…")
        for name in SAMPLES:
            self.sample_box.addItem(name)
        self.sample_box.activated.connect(
            lambda i: i and self.load_image(SAMPLE_PREFIX + self.sample_box.itemText(i)))
        bar.addWidget(self.sample_box)
        bar.addWidget(QLabel(" Test image #"))
        self.test_index = QSpinBox()
        self.test_index.setRange(0, 9999)
        self.test_index.setKeyboardTracking(False)
        self.test_index.valueChanged.connect(self.load_test_image)
        bar.addWidget(self.test_index)
        bar.addSeparator()
        bar.addAction(self._action("Export PNG…", self.export_png, "Ctrl+E"))
        bar.addAction(self._action("Export NPZ…", self.export_npz, "Ctrl+Shift+E"))

        self.layers = QTableWidget(0, 5)
        self.layers.setHorizontalHeaderLabels(["layer", "type", "output", "params", "RF"])
        self.layers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.layers.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers.verticalHeader().setVisible(False)
        self.layers.currentCellChanged.connect(lambda row, *_: self.select_layer_row(row))

        self.input_view = QLabel("Open an image (file, drag and drop, Ctrl+V, a sample or a test image)")
        self.input_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_view.setMinimumSize(INPUT_VIEW, INPUT_VIEW)
        self.input_view.setWordWrap(True)
        self.input_caption = QLabel("")
        self.input_caption.setWordWrap(True)
        self.prediction = PredictionPanel()
        self.draw_pad = DrawPad(lambda digit: self.load_image(None, pixels=digit, source="drawn digit"))
        self.draw_title = QLabel("<b>Draw a digit</b> (right-click clears)")
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(QLabel("<b>Input</b>"))
        column.addWidget(self.input_view)
        column.addWidget(self.input_caption)
        column.addWidget(QLabel("<b>Prediction</b> (top 5)"))
        column.addWidget(self.prediction)
        column.addWidget(self.draw_title)
        column.addWidget(self.draw_pad)
        column.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._layer_tab(), "Layer")
        self.tabs.addTab(self._unit_tab(), "Unit")

        split = QSplitter()
        split.addWidget(self.layers)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 0)
        split.setStretchFactor(2, 1)
        self.layers.setMinimumWidth(360)
        self.setCentralWidget(split)

        self.device = QLabel()
        self.model_label = QLabel("no model")
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(320)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: self.runner.cancel())
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.device)

        QShortcut(QKeySequence("Ctrl+V"), self, activated=self.paste_image)
        QShortcut(QKeySequence(","), self, activated=lambda: self.step_channel(-1))
        QShortcut(QKeySequence("."), self, activated=lambda: self.step_channel(+1))
        QShortcut(QKeySequence("PgUp"), self, activated=lambda: self.step_layer(-1))
        QShortcut(QKeySequence("PgDown"), self, activated=lambda: self.step_layer(+1))
        self.setAcceptDrops(True)
        self.resize(1500, 900)

    def _action(self, text, slot, shortcut=None):
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _layer_tab(self):
        page = QWidget()
        box = QVBoxLayout(page)
        row = QHBoxLayout()
        self.layer_title = QLabel("")
        row.addWidget(self.layer_title, 1)
        row.addWidget(QLabel("normalize per"))
        self.scope = QComboBox()
        self.scope.addItems(["channel", "layer"])
        self.scope.currentTextChanged.connect(lambda _: self.show_layer())
        row.addWidget(self.scope)
        legend = QLabel()
        legend.setPixmap(to_pixmap(np.repeat(colorize(np.linspace(0, 1, 120))[None], 12, axis=0)))
        legend.setToolTip("colour scale: low (black) to high (yellow) activation")
        row.addWidget(QLabel(" low"))
        row.addWidget(legend)
        row.addWidget(QLabel("high"))
        box.addLayout(row)
        self.grid = MapGrid(self)
        box.addWidget(self.grid, 3)
        self.filters_title = QLabel("")
        box.addWidget(self.filters_title)
        self.filters_view = QLabel()
        self.filters_view.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box.addWidget(self.filters_view, 1)
        return page

    def _unit_tab(self):
        page = QWidget()
        box = QVBoxLayout(page)
        self.unit_title = QLabel("")
        box.addWidget(self.unit_title)
        row = QHBoxLayout()
        self.unit_map = QLabel()
        self.unit_synth = QLabel("")
        self.unit_weights = QLabel("")
        for title, widget in (("activation map (this image)", self.unit_map), ("synthesized image", self.unit_synth),
                              ("weights (per input channel)", self.unit_weights)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(widget)
            col.addStretch(1)
            row.addLayout(col)
        box.addLayout(row)
        buttons = QHBoxLayout()
        find = QPushButton("Find top-9 dataset patches")
        find.clicked.connect(self.find_top_patches)
        synth = QPushButton("Synthesize image")
        synth.clicked.connect(self.synthesize)
        buttons.addWidget(find)
        buttons.addWidget(synth)
        buttons.addStretch(1)
        box.addLayout(buttons)
        self.patches_title = QLabel("")
        box.addWidget(self.patches_title)
        self.patches_view = QLabel()
        self.patches_view.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box.addWidget(self.patches_view, 1)
        return page

    # ------------------------------------------------------------ model
    def open_model_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open a Keras model", self.settings.value("folder", ""),
                                              MODEL_FILTER)
        if path:
            self.settings.setValue("folder", str(Path(path).parent))
            self.load_model(path)

    def load_model(self, spec: str, weights: str = "imagenet"):
        def work(progress, cancel):
            model = cnnviz.load_model(spec, weights=weights)
            return model, summarize(model)

        def failed(message):
            if spec in ("vgg16", "vgg16_notop") and weights == "imagenet":
                answer = QMessageBox.question(self, "VGG16 weights", f"{message}\n\nUse random weights instead? "
                                              "The model will be labelled untrained.")
                if answer == QMessageBox.StandardButton.Yes:
                    self.load_model(spec, weights="none")
                return
            self.error(message)

        self.model_label.setText(f"loading {spec}…")
        self.runner.submit("model", work, self._model_loaded, failed)

    def _model_loaded(self, result):
        self.model, summary = result
        info = cnnviz.model_info(self.model)
        self.settings.setValue("model", info.path or info.name)
        trained = "" if info.trained else " — UNTRAINED (random weights)"
        self.model_label.setText(f"Model: {info.name} ({self.model.count_params():,} parameters){trained}")
        index = self.model_box.findData(info.name) if not info.path or info.card else -1
        if index < 0:
            self.model_box.addItem(f"{Path(info.path).name if info.path else info.name}", info.path or info.name)
            index = self.model_box.count() - 1
        self.model_box.setCurrentIndex(index)
        mnist = info.dataset == "mnist"
        self.draw_pad.setVisible(mnist)
        self.draw_title.setVisible(mnist)
        self.maps.clear()
        self.dataset = None
        spatial = set(spatial_layers(self.model))
        self.layers.blockSignals(True)
        self.layers.setRowCount(0)
        self.layer_rows = []
        for entry in summary.layers:
            row = self.layers.rowCount()
            self.layers.insertRow(row)
            rf = f"{entry.rf_size[0]:g} (jump {entry.rf_jump[0]:g})" if entry.rf_size else "all"
            shape = "x".join("?" if s is None else str(s) for s in (entry.output_shape or ()))
            for col, text in enumerate((entry.name, entry.type, shape, f"{entry.params:,}", rf)):
                self.layers.setItem(row, col, QTableWidgetItem(text))
            self.layer_rows.append((entry.name, entry.name in spatial))
        self.layers.resizeColumnsToContents()
        self.layers.blockSignals(False)
        first = next((i for i, (_, s) in enumerate(self.layer_rows) if s), 0)
        self.layers.selectRow(first)
        self.select_layer_row(first)
        self.image = None
        if self.raw is not None:                       # the same picture, prepared for the new model
            self.load_image(None, pixels=self.raw[0], source=self.raw[1])

    # ------------------------------------------------------------ image
    def open_image_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self.settings.value("folder", ""), IMAGE_FILTER)
        if path:
            self.settings.setValue("folder", str(Path(path).parent))
            self.load_image(path)

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event):
        urls = event.mimeData().urls()
        if urls:
            self.load_image(urls[0].toLocalFile())
        elif event.mimeData().hasImage():
            self._load_qimage(event.mimeData().imageData())

    def paste_image(self):
        clipboard = QApplication.clipboard()
        if clipboard.mimeData().hasImage():
            self._load_qimage(clipboard.image())
        elif clipboard.mimeData().hasUrls():
            self.load_image(clipboard.mimeData().urls()[0].toLocalFile())

    def _load_qimage(self, qimage):
        from PySide6.QtGui import QImage

        qimage = qimage.convertToFormat(QImage.Format.Format_RGB888)
        w, h = qimage.width(), qimage.height()
        data = np.frombuffer(qimage.constBits(), np.uint8).reshape(h, qimage.bytesPerLine())[:, :3 * w]
        self.load_image(None, pixels=data.reshape(h, w, 3).copy(), source="pasted image")

    def load_test_image(self, index: int):
        if self.model is None:
            return
        name = cnnviz.model_info(self.model).dataset
        if name not in ("mnist", "cifar10"):
            self.error("this model has no known test set: open an image file instead")
            return

        def work(progress, cancel):
            if self.dataset is None or self.dataset.name != name:
                self.dataset = load_dataset(name, progress=progress, cancel=cancel)
            return self.dataset

        def loaded(data):
            label = data.classes[int(data.y_test.reshape(-1)[index])]
            self.load_image(None, pixels=data.x_test[index], source=f"test #{index} ({data.name}, label {label})")

        self.runner.submit("dataset", work, loaded, self.error)

    def load_image(self, path: Optional[str], pixels: Optional[np.ndarray] = None, source: Optional[str] = None):
        """Read ``path`` (or take ``pixels``) and prepare it for the model."""
        if self.model is None:
            self.error("load a model first")
            return
        model, source = self.model, source or str(path)

        def work(progress, cancel):
            raw = pixels if pixels is not None else read_image(path)
            return raw, prepare(raw, model, source)

        self.runner.submit("image", work, self._image_loaded, self.error)

    def _image_loaded(self, result):
        raw, image = result
        self.raw, self.image = (raw, image.source), image
        notes = f" ({'; '.join(image.notes)})" if image.notes else ""
        self.input_caption.setText(f"{image.source}{notes}")
        self.show_input()
        self.refresh()

    def show_input(self, box=None):
        if self.image is None:
            return
        pixels = self.image.pixels[..., 0] if self.image.pixels.shape[-1] == 1 else self.image.pixels
        h, w = pixels.shape[:2]
        scale = max(1, INPUT_VIEW // max(h, w))
        pixmap = to_pixmap(pixels, scale)
        if box is not None:
            painter = QPainter(pixmap)
            painter.setPen(QPen(Qt.GlobalColor.green, 2))
            top, left, bottom, right = box
            painter.drawRect(left * scale, top * scale, (right - left + 1) * scale - 1, (bottom - top + 1) * scale - 1)
            painter.end()
        self.input_view.setPixmap(pixmap)

    # ------------------------------------------------------------ computing views
    def refresh(self):
        if self.model is None or self.image is None:
            return
        model, image = self.model, self.image
        self.runner.submit("predict", lambda progress, cancel: predict(model, image.x[None], 5)[0],
                           self._show_prediction, self.error)
        self.show_layer()

    def _show_prediction(self, preds):
        self.prediction.show_predictions(preds)

    def select_layer_row(self, row: int):
        if self.model is None or not 0 <= row < len(self.layer_rows):
            return
        name, spatial = self.layer_rows[row]
        self.layer = name
        self.channel = 0
        self.show_layer()

    def step_layer(self, delta: int):
        row = self.layers.currentRow() + delta
        if 0 <= row < self.layers.rowCount():
            self.layers.selectRow(row)

    def step_channel(self, delta: int):
        maps = self._current_maps()
        if maps is not None:
            self.open_unit((self.channel + delta) % maps.shape[-1])

    def _key(self):
        return id(self.model), self.image.source if self.image else None, self.layer

    def _current_maps(self):
        return self.maps.get(self._key())

    def show_layer(self):
        if self.model is None or self.layer is None:
            return
        self.filters_title.setText("")
        self.filters_view.clear()
        spatial = dict(self.layer_rows).get(self.layer, False)
        if not spatial:
            self.layer_title.setText(f"<b>{self.layer}</b>: no spatial maps (dense or flattened layer)")
            self.grid.clear()
            self.grid.geometry_ = None
            return
        self._show_filters()
        if self.image is None:
            self.layer_title.setText(f"<b>{self.layer}</b>: open an image to see its activation maps")
            return
        key = self._key()
        if key in self.maps:
            self._draw_grid(self.maps[key])
            return
        model, image, layer = self.model, self.image, self.layer
        self.runner.submit("layer", lambda progress, cancel: activations(model, image.x[None], [layer])[layer][0],
                           lambda maps: self._layer_computed(key, maps), self.error)

    def _layer_computed(self, key, maps):
        self.maps[key] = maps
        if key == self._key():
            self._draw_grid(maps)

    def _draw_grid(self, maps: np.ndarray):
        shown = normalize_maps({"m": maps[None]}, self.scope.currentText())["m"][0]
        h, w, n = shown.shape
        scale = max(1, TILE // max(h, w))
        tiles = colorize(np.moveaxis(shown, -1, 0))                   # (n, h, w, 3)
        tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
        columns = grid_columns(n)
        self.grid.setPixmap(to_pixmap(tile(tiles, columns)))
        self.grid.geometry_ = (columns, h * scale, w * scale, h, w, n)
        self.layer_title.setText(f"<b>{self.layer}</b>: {n} channels of {h}x{w} "
                                 f"(colour: inferno, 0 to 1 per {self.scope.currentText()}) — hover a map to see "
                                 "a unit's receptive field, click to open the channel")

    def _show_filters(self):
        try:
            weights = filter_weights(self.model, self.layer)
        except cnnviz.CnnvizError:
            return
        images = weights.images[:64]
        if weights.as_rgb is not None:
            tiles = (weights.as_rgb[:64] * 255).astype(np.uint8)
        else:
            tiles = colorize(images[:, 0], "gray")
        scale = max(1, 24 // tiles.shape[1])
        tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
        self.filters_view.setPixmap(to_pixmap(tile(tiles, min(32, len(tiles)))))
        first = "" if weights.as_rgb is not None or images.shape[1] == 1 else " (input channel 0 of each filter)"
        self.filters_title.setText(f"<b>filter weights</b> {weights.shape}{first}, gray: low to high per filter")

    def hover_unit(self, unit):
        if unit is None or self.image is None:
            self.show_input()
            return
        channel, row, col = unit
        box = unit_box(self.model, self.layer, row, col, self.image.pixels.shape[:2])
        maps = self._current_maps()
        value = f" = {maps[row, col, channel]:.3f}" if maps is not None else ""
        self.statusBar().showMessage(f"{self.layer} channel {channel} unit ({row}, {col}){value}; "
                                     f"sees input rows {box.clipped[0]}-{box.clipped[2]}, "
                                     f"columns {box.clipped[1]}-{box.clipped[3]}")
        self.show_input(box.clipped)

    # ------------------------------------------------------------ unit page
    def open_unit(self, channel: int):
        self.channel = channel
        self.tabs.setCurrentIndex(1)
        maps = self._current_maps()
        self.unit_title.setText(f"<b>{self.layer}, channel {channel}</b>")
        self.patches_title.setText("")
        self.patches_view.clear()
        self.unit_synth.setText("press Synthesize")
        if maps is not None:
            m = maps[..., channel]
            shown = (m - m.min()) / max(float(m.max() - m.min()), 1e-12)
            self.unit_map.setPixmap(to_pixmap(colorize(shown), max(1, 220 // max(m.shape))))
            self.unit_title.setText(f"<b>{self.layer}, channel {channel}</b>: max {m.max():.3f}, mean {m.mean():.3f}")
        try:
            weights = filter_weights(self.model, self.layer)
            per_input = colorize(weights.images[channel], "gray")[:32]
            self.unit_weights.setPixmap(to_pixmap(tile(np.repeat(np.repeat(per_input, 8, 1), 8, 2),
                                                       min(8, len(per_input)))))
        except cnnviz.CnnvizError:
            self.unit_weights.setText("(no weights: not a convolution)")

    def find_top_patches(self):
        if self.model is None or self.layer is None:
            return
        name = cnnviz.model_info(self.model).dataset
        model, layer, channel = self.model, self.layer, self.channel
        if name not in ("mnist", "cifar10"):
            folder = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")
            if not folder:
                return
            name = folder

        def work(progress, cancel):
            data = load_dataset(name, tuple(model.inputs[0].shape[1:]), progress, cancel)
            result = top_patches(model, data.x_test, [layer], k=9, channels={layer: [channel]},
                                 progress=progress, cancel=cancel)
            return data.name, result.layers[layer], patch_crops(result.layers[layer], data.x_test)

        def done(result):
            dataset, top, crops = result
            tiles = crops[0]
            tiles = np.repeat(tiles, 3, axis=-1) if tiles.shape[-1] == 1 else tiles
            scale = max(1, 72 // tiles.shape[1])
            tiles = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
            self.patches_view.setPixmap(to_pixmap(tile(tiles, 9, gap=6, background=230)))
            values = ", ".join(f"{v:.2f}" for v in top.values[0])
            self.patches_title.setText(f"<b>top-9 {dataset} test patches</b> (receptive-field crops), "
                                       f"activations {values}")

        self.runner.submit("patches", work, done, self.error)

    def synthesize(self):
        if self.model is None or self.layer is None:
            return
        model, layer, channel = self.model, self.layer, self.channel

        def work(progress, cancel):
            return synthesize_channels(model, layer, [channel], progress=progress, cancel=cancel)

        def done(result):
            image = result.uint8[0]
            self.unit_synth.setPixmap(to_pixmap(image[..., 0] if image.shape[-1] == 1 else image,
                                                max(1, 220 // max(image.shape[:2]))))
            self.unit_synth.setToolTip(f"activation reached {result.activations[0]:.3f}")

        self.runner.submit("synthesis", work, done, self.error)

    # ------------------------------------------------------------ export, status, errors
    def export_png(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export the view as PNG", "view.png", "PNG (*.png)")
        if path:
            from cnnviz.fileio import atomic_path

            with atomic_path(path) as tmp:
                if not self.tabs.currentWidget().grab().save(str(tmp), "PNG"):
                    self.error(f"could not write {path}")

    def export_npz(self):
        maps = self._current_maps()
        if maps is None:
            self.error("nothing to export yet: open a model, an image and a spatial layer")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the maps as NPZ", "maps.npz", "NumPy (*.npz)")
        if path:
            from cnnviz.fileio import atomic_path

            with atomic_path(path) as tmp:
                np.savez_compressed(tmp, maps=maps, input=self.image.x, layer=self.layer)

    def _on_progress(self, view, done, total, message):
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{message} %p%")

    def _on_busy(self, busy: bool):
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.reset()

    def error(self, message: str):
        box = QMessageBox(QMessageBox.Icon.Warning, "cnnviz", message.splitlines()[0], parent=self)
        if "\n" in message:
            box.setDetailedText(message)
        box.open()                       # not modal-blocking: the app stays usable
        self._last_error = message

    def closeEvent(self, event):
        self.runner.cancel()
        self.settings.setValue("geometry", self.saveGeometry())
        super().closeEvent(event)


def main(argv=None) -> int:
    argv = sys.argv if argv is None else argv
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("cnnviz")
    window = MainWindow()
    args = [a for a in argv[1:] if not a.startswith("-")]
    model = args[0] if args else window.settings.value("model", "mnist_cnn")
    window.load_model(model)
    if len(args) > 1:
        QTimer.singleShot(0, lambda: _open_when_ready(window, args[1]))
    window.show()
    return app.exec()


def _open_when_ready(window: MainWindow, image: str):
    """Open the command line's image once the model has loaded."""
    if window.model is None:
        QTimer.singleShot(100, lambda: _open_when_ready(window, image))
    else:
        window.load_image(image)


if __name__ == "__main__":
    sys.exit(main())
