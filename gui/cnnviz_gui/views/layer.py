"""The layer view: the activation maps of every channel of the current layer
for the current image (normalized per channel or over the layer, with its
colour scale), the layer's filter weights, and per-channel histograms of the
layer's values over test images (``cnnviz histograms``' figure, silent
channels marked). Hovering a map position draws that unit's receptive field
on the input; clicking a map opens its unit page."""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz import CnnvizError
from cnnviz.data.datasets import balanced_subset
from cnnviz.inside.activations import channel_histograms
from cnnviz.inside.filters import filter_weights
from cnnviz.inside.receptive import unit_box
from cnnviz.inside.top_patches import silent_channels
from cnnviz.models.inputs import dataset_inputs

from ..render import MAPS_CMAP, WEIGHTS_CMAP, colorize, format_value, signed_unit
from ..widgets import ColorBar, FigureLabel, MosaicArea, heading
from .base import View
from .train import figure_rgb

HISTOGRAM_SEED = 0          # the images `cnnviz histograms MODEL --layer L --n N` takes (its default seed)


class LayerView(View):
    title = "Layer"
    name = "layer"
    maps_shown = Signal()          # the activation grid was (re)drawn

    def __init__(self, session):
        super().__init__(session)
        self.maps: Optional[np.ndarray] = None          # (h, w, C) shown now
        self.weights = None                             # cnnviz.inside.filters.FilterWeights of the layer, or None
        self.histograms = None                          # (ChannelHistograms, silent {channel: why}) shown, or None
        self._hovered: Optional[tuple] = None           # the map unit under the pointer (channel, row, col)
        box = QVBoxLayout(self)
        self.header = heading("")
        box.addWidget(self.header)
        self.controls = QWidget()
        row = QHBoxLayout(self.controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Normalize"))
        self.scope = QComboBox()
        self.scope.addItem("per channel", "channel")
        self.scope.addItem("over the layer", "layer")
        self.scope.setToolTip("per channel: each map stretched to its own min..max (shows the pattern of weak "
                              "channels); over the layer: one scale for all (shows which channels respond most)")
        self.scope.currentIndexChanged.connect(lambda _: self._draw())
        row.addWidget(self.scope)
        row.addSpacing(12)
        self.colorbar = ColorBar(MAPS_CMAP)
        row.addWidget(self.colorbar, 1)
        box.addWidget(self.controls)

        split = QSplitter(Qt.Orientation.Vertical)
        self.grid = MosaicArea(min_tile=28, max_tile=220)
        self.grid.canvas.hovered.connect(self._hover)
        self.grid.canvas.clicked.connect(self._click)
        split.addWidget(self.grid)
        filters = QWidget()
        fbox = QVBoxLayout(filters)
        fbox.setContentsMargins(0, 0, 0, 0)
        self.filters_header = heading("")
        fbox.addWidget(self.filters_header)
        frow = QHBoxLayout()
        self.input_label = QLabel("input channel")
        frow.addWidget(self.input_label)
        self.input_channel = QSpinBox()
        self.input_channel.setToolTip("which input channel of each filter to show (RGB: all three as colour)")
        self.input_channel.valueChanged.connect(lambda _: self._draw_filters())
        frow.addWidget(self.input_channel)
        frow.addSpacing(12)
        self.filters_colorbar = ColorBar(WEIGHTS_CMAP)
        frow.addWidget(self.filters_colorbar, 1)
        fbox.addLayout(frow)
        self.filters = MosaicArea(min_tile=22, max_tile=96, max_scale=24, label_min=56)
        self.filters.canvas.clicked.connect(self._click)
        fbox.addWidget(self.filters, 1)
        split.addWidget(filters)
        split.addWidget(self._histograms_pane())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 1)
        split.setSizes([600, 200, 200])
        self.splitter = split
        box.addWidget(split, 1)

    def _histograms_pane(self) -> QWidget:
        pane = QWidget()
        box = QVBoxLayout(pane)
        box.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.histograms_header = heading("")
        row.addWidget(self.histograms_header, 1)
        row.addWidget(QLabel("test images"))
        self.histogram_images = QSpinBox()
        self.histogram_images.setRange(10, 10000)
        self.histogram_images.setValue(200)
        self.histogram_images.setToolTip("how many test images (a seeded class-balanced sample) the histograms "
                                         "are computed over")
        self.histogram_images.valueChanged.connect(lambda _: self._histograms_stale())
        row.addWidget(self.histogram_images)
        self.histogram_button = QPushButton("Compute histograms")
        self.histogram_button.setToolTip("per-channel histograms of this layer's values over test images "
                                         "(cnnviz histograms); channels that never fire are marked")
        self.histogram_button.clicked.connect(self.compute_histograms)
        row.addWidget(self.histogram_button)
        box.addLayout(row)
        self.histogram_figure = FigureLabel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.histogram_figure)
        box.addWidget(scroll, 1)
        return pane

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        s = self.session
        if s.model is None or s.layer is None:
            self.header.setText("No model loaded: pick one in the toolbar or File > Open model")
            self._clear_maps("")
            self._histograms_stale()
            return
        if changed & {"model", "layer"}:
            self._show_filters()
            self._histograms_stale()
        row = s.row()
        if not row.spatial:
            self.header.setText(f"<b>Layer {row.name}</b> ({row.type}, output {row.shape}) has no spatial maps: it is "
                                "a dense or flattened layer. Pick a convolution or pooling layer to see maps.")
            self._clear_maps("no activation maps for this layer")
            return
        if s.image is None:
            self.header.setText(f"<b>Layer {row.name}</b> ({row.type}, output {row.shape})")
            self._clear_maps("Open an image to see this layer's activation maps.")
            return
        if changed == {"channel"} and self.maps is not None:
            self.grid.canvas.set_selected(s.channel)
            self.filters.canvas.set_selected(s.channel if self.weights is not None else None)
            return
        if not s.layer_maps(self.jobs("maps"), self._got_maps, self._failed):
            self.maps = None
            self.header.setText(f"<b>Layer {row.name}</b> ({row.type}, output {row.shape}): computing the "
                                f"activation maps for {s.image.source}…")

    def left(self) -> None:
        self.session.forget(self.jobs("maps"))

    def _clear_maps(self, text: str) -> None:
        self.maps = None
        self.grid.canvas.set_placeholder(text)
        self.controls.setVisible(False)

    def _failed(self, message: str) -> None:
        self._clear_maps(f"cannot compute this layer's maps: {message}")
        self.session.error.emit(message)

    def _got_maps(self, maps: np.ndarray) -> None:
        self.maps = maps
        self._draw()

    def _draw(self) -> None:
        s = self.session
        maps = self.maps
        if maps is None or s.image is None:
            return
        scope = self.scope.currentData()
        h, w, n = maps.shape
        if scope == "channel":
            lo, hi = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
            shown = (maps - lo) / np.maximum(hi - lo, 1e-12)
            self.colorbar.set_scale(MAPS_CMAP, "its min", "its max", "colour, each map from")
        else:
            lo, hi = float(maps.min()), float(maps.max())
            shown = (maps - lo) / max(hi - lo, 1e-12)
            self.colorbar.set_scale(MAPS_CMAP, format_value(lo), format_value(hi), "colour, whole layer:")
        self.controls.setVisible(True)
        tiles = colorize(np.moveaxis(shown, -1, 0))
        self.grid.canvas.set_tiles(tiles, labels=[str(i) for i in range(n)])
        self.grid.canvas.set_selected(s.channel)
        if self._hovered is not None and self.grid.canvas.underMouse():
            self._hover(self._hovered)               # a new image (a live frame) under a still pointer
        row = s.row()
        dead = int(((maps.max(axis=(0, 1)) == 0) & (maps.min(axis=(0, 1)) == 0)).sum())   # not "max <= 0": no ReLU
        dead_text = f" {dead} of them are zero everywhere for this image." if dead else ""
        self.header.setText(
            f"<b>Layer {row.name}</b> ({row.type}): activation maps of all {n} channels ({h}×{w}) for "
            f"<i>{s.image.source}</i>, normalized {self.scope.currentText()}.{dead_text}<br>"
            "Hover a map: the unit's receptive field on the input. Click: the channel's unit page. "
            "Keys: PgUp/PgDn layer, ,/. channel.")
        self.maps_shown.emit()

    # -------------------------------------------------------------- filters
    def _show_filters(self) -> None:
        s = self.session
        try:
            self.weights = filter_weights(s.model, s.layer)
        except CnnvizError:
            self.weights = None
        visible = self.weights is not None
        for widget in (self.input_label, self.input_channel, self.filters_colorbar):
            widget.setVisible(visible)
        if not visible:
            row = s.row()
            self.filters_header.setText(f"<b>Filters</b>: a {row.type} layer has no filter weights "
                                        "(only convolutions have).")
            self.filters.canvas.set_tiles(None)
            return
        n_in = self.weights.kernel.shape[2]
        self.input_channel.blockSignals(True)
        self.input_channel.setRange(-1 if n_in == 3 else 0, n_in - 1)
        self.input_channel.setSpecialValueText("RGB" if n_in == 3 else "")
        self.input_channel.setValue(-1 if n_in == 3 else 0)
        self.input_channel.blockSignals(False)
        self._draw_filters()

    def _draw_filters(self) -> None:
        if self.weights is None:
            return
        kernel = self.weights.kernel                      # (kh, kw, in, out)
        kh, kw, n_in, n_out = kernel.shape
        c = self.input_channel.value()
        if c < 0:
            tiles = (self.weights.as_rgb * 255).astype(np.uint8)
            self.filters_colorbar.set_scale(WEIGHTS_CMAP, "", "", "colour: the filter as an RGB image, each scaled "
                                            "to its own range")
            self.filters_colorbar.bar.setVisible(False)
            what = "as RGB images"
        else:
            scaled, _ = signed_unit(np.moveaxis(kernel[:, :, c, :], -1, 0), axes=(1, 2))
            tiles = colorize(scaled, WEIGHTS_CMAP)
            self.filters_colorbar.bar.setVisible(True)
            self.filters_colorbar.set_scale(WEIGHTS_CMAP, "−max", "+max (white: 0)", "weight, each filter from")
            what = f"input channel {c} of each"
        self.filters.canvas.set_tiles(tiles, labels=[str(i) for i in range(n_out)])
        self.filters.canvas.set_selected(self.session.channel)
        self.filters_header.setText(f"<b>Filters of {self.weights.layer}</b>: {n_out} filters of {kh}×{kw}×{n_in}, "
                                    f"showing {what}. Click one for its unit page.")

    # -------------------------------------------------------------- histograms
    def _histograms_key(self, dataset: str, n: int) -> tuple:
        return self.session.key("histograms", dataset, n, HISTOGRAM_SEED, image=False, layer=self.session.layer)

    def _histograms_stale(self) -> None:
        """The model, layer or image count changed: show the histograms cached for it, or offer to compute them."""
        s = self.session
        self.histograms = None
        self.histogram_figure.show_array(None)
        dataset = s.model_dataset() if s.model is not None else None
        self.histogram_button.setEnabled(dataset is not None and s.layer is not None)
        if s.model is None or s.layer is None:
            self.histograms_header.setText("")
            return
        if dataset is None:
            self.histograms_header.setText("<b>Histograms</b>: no test set fits this model (MNIST 28×28×1 or "
                                           "CIFAR-10 32×32×3); use <code>cnnviz histograms MODEL --dataset "
                                           "FOLDER</code>.")
            return
        cached = s.cache.get(self._histograms_key(dataset, self.histogram_images.value()))
        if cached is not None:
            self._got_histograms(cached)
            return
        self.histograms_header.setText(f"<b>Histograms of {s.layer}</b>: its values per channel over "
                                       f"{self.histogram_images.value()} {dataset} test images. Press Compute.")

    def compute_histograms(self) -> None:
        s = self.session
        dataset = s.model_dataset()
        if s.model is None or s.layer is None or dataset is None:
            return
        model, layer, n = s.model, s.layer, self.histogram_images.value()
        shape = tuple(model.inputs[0].shape[1:])

        def work(progress, cancel):
            data = s.dataset(dataset, progress, cancel, input_shape=shape)
            pick = balanced_subset(data.y_test, min(n, len(data.y_test)), HISTOGRAM_SEED)
            hist = channel_histograms(model, dataset_inputs(model, data.x_test[pick]), layer)
            silent = silent_channels(model, layer, hist.channels, hist.maximum,
                                     f"did not fire on these {len(pick):,} images")
            return hist, silent, dataset

        self.histograms_header.setText(f"<b>Histograms of {layer}</b>: computing over {n} {dataset} test images…")
        s.compute(self.jobs("histograms"), self._histograms_key(dataset, n), work, self._got_histograms,
                  self._histograms_failed)

    def _histograms_failed(self, message: str) -> None:
        self.histograms_header.setText(f"<b>Histograms</b>: cannot compute them: {message.splitlines()[0]}")
        self.session.error.emit(message)

    def _got_histograms(self, result) -> None:
        from cnnviz.plots import mark_untrained
        from cnnviz.plots.inside import histograms_figure  # matplotlib: heavy, loaded with the first figure

        hist, silent, dataset = result
        self.histograms = hist, silent
        title = f"{self.session.model.name} {hist.layer}: values per channel over {hist.n_images} {dataset} images"
        fig = histograms_figure(hist, silent, title=title)
        mark_untrained(fig, self.session.info.trained)         # random weights: the figure says so
        self.histogram_figure.show_array(figure_rgb(fig))
        shown = f" (the first 32 of {len(hist.channels)} drawn)" if len(hist.channels) > 32 else ""
        quiet = f" {len(silent)} silent channel(s), drawn in red: {', '.join(map(str, sorted(silent)))}." \
            if silent else ""
        self.histograms_header.setText(
            f"<b>Histograms of {hist.layer}</b> over {hist.n_images} {dataset} test images{shown}: channel means "
            f"{format_value(hist.mean.min())} to {format_value(hist.mean.max())}, standard deviations "
            f"{format_value(hist.std.min())} to {format_value(hist.std.max())}.{quiet}")

    # -------------------------------------------------------------- mouse
    def _hover(self, unit) -> None:
        s = self.session
        self._hovered = unit
        if unit is None or self.maps is None or s.image is None:
            self.input_box.emit(None)
            return
        channel, row, col = unit
        try:
            box = unit_box(s.model, s.layer, row, col, s.image.pixels.shape[:2])
        except CnnvizError as exc:
            self.message.emit(str(exc))
            return
        value = self.maps[row, col, channel]
        top, left, bottom, right = box.clipped
        self.message.emit(f"{s.layer} channel {channel} unit ({row}, {col}) = {format_value(value)}; "
                          f"sees input rows {top}-{bottom}, columns {left}-{right}")
        self.input_box.emit(box.clipped)

    def _click(self, channel: int) -> None:
        self.session.set_channel(channel)
        self.open_unit.emit(channel)

    # -------------------------------------------------------------- export
    def export_figure(self):
        """``cnnviz activations``' figure of the maps shown, normalized as shown."""
        s = self.session
        if self.maps is None or s.image is None:
            return None
        from cnnviz.inside.activations import normalize_maps
        from cnnviz.plots.inside import activation_figure  # matplotlib: heavy, loaded with the first figure

        scope = self.scope.currentData()
        shown = normalize_maps({s.layer: self.maps[None]}, scope)[s.layer][0]
        pixels = s.image.pixels
        return activation_figure(shown, s.layer, pixels[..., 0] if pixels.shape[-1] == 1 else pixels, scope=scope,
                                 max_channels=self.maps.shape[-1])

    def export_widgets(self) -> list:
        return [self.header, self.controls, self.grid.canvas, self.filters_header, self.filters.canvas]

    def export_arrays(self):
        s = self.session
        if self.maps is None and self.histograms is None:
            return None
        arrays = {"layer": np.array(s.layer)}
        if self.maps is not None:
            arrays.update(activations=self.maps, input=s.image.x, normalization=np.array(self.scope.currentData()),
                          image_source=np.array(s.image.source))
        if self.weights is not None:
            arrays["kernel"] = self.weights.kernel
        if self.histograms is not None:
            hist, silent = self.histograms
            arrays.update(histogram_channels=hist.channels, histogram_edges=hist.edges, histogram_counts=hist.counts,
                          histogram_images=np.array(hist.n_images), silent_channels=np.array(sorted(silent), int))
        return arrays
