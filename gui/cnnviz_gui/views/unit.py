"""The unit page of one channel: its activation map on the current image (and
where on the input it fires), its top-k dataset patches (receptive-field crops
with their values; one pass over the dataset finds them for every channel of
the layer, cached in memory and on disk), its synthesized image, its weights."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QPushButton, QVBoxLayout

from cnnviz import CnnvizError
from cnnviz.atlas import find_atlas, unit_page
from cnnviz.data.sources import named
from cnnviz.data.stream import decode, skipped_line
from cnnviz.inside.filters import filter_weights
from cnnviz.inside.receptive import unit_box
from cnnviz.inside.top_patches import (
    LayerTopK,
    context_crops,
    patch_crops,
    silent_channels,
    top_patches,
    top_patches_files,
)
from cnnviz.synthesis.maximize import synthesize_channels

from ..render import MAPS_CMAP, WEIGHTS_CMAP, as_rgb, colorize, format_value, overlay, signed_unit
from ..session import KNOWN_DATASETS
from ..widgets import ColorBar, ImageLabel, MosaicArea, heading, scroll_page
from .base import View

K = 9            # top patches per channel
PANEL = 180      # on-screen size of the map, overlay and synthesized image


def _panel(title: str) -> tuple[QGroupBox, QVBoxLayout]:
    group = QGroupBox(title)
    box = QVBoxLayout(group)
    return group, box


class UnitView(View):
    title = "Unit"
    name = "unit"

    def __init__(self, session):
        super().__init__(session)
        self.map: Optional[np.ndarray] = None
        self.top: Optional[tuple] = None             # (dataset name, LayerTopK of the whole layer)
        self.skipped: list = []                      # (file, why) the folder search skipped
        self.crops: Optional[np.ndarray] = None      # (k, r, r, ch) of the current channel
        self.patch_files: Optional[list[str]] = None  # over a folder: the file of each of those crops
        self.synthesis = None
        self.page = scroll_page(self)
        box = QVBoxLayout(self.page)
        top = QHBoxLayout()
        self.header = heading("")
        top.addWidget(self.header, 1)
        self.prev_button = QPushButton("◀ channel")
        self.prev_button.setToolTip("previous channel (,)")
        self.prev_button.clicked.connect(lambda: session.set_channel(session.channel - 1))
        self.next_button = QPushButton("channel ▶")
        self.next_button.setToolTip("next channel (.)")
        self.next_button.clicked.connect(lambda: session.set_channel(session.channel + 1))
        self.atlas: Optional[Path] = None              # an atlas folder built for this model (cnnviz atlas)
        self.atlas_button = QPushButton("Open in atlas")
        self.atlas_button.setToolTip("this channel's page in the model's atlas, in the web browser")
        self.atlas_button.clicked.connect(self.open_in_atlas)
        self.atlas_button.hide()
        top.addWidget(self.atlas_button)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        box.addLayout(top)

        self.panels: list[QGroupBox] = []
        self.grid = QGridLayout()
        self.columns = 0
        group, col = _panel("Activation map on this image")
        self.map_view = ImageLabel(PANEL)
        self.map_colorbar = ColorBar(MAPS_CMAP, width=70)
        self.map_stats = heading("")
        col.addWidget(self.map_view)
        col.addWidget(self.map_colorbar)
        col.addWidget(self.map_stats)
        col.addStretch(1)
        self.panels.append(group)

        group, col = _panel("Where it fires on the input")
        self.overlay_view = ImageLabel(PANEL)
        self.overlay_caption = heading("")
        col.addWidget(self.overlay_view)
        col.addWidget(self.overlay_caption)
        col.addStretch(1)
        self.panels.append(group)

        group, col = _panel("Synthesized image (activation maximization)")
        self.synth_view = ImageLabel(PANEL, "not synthesized yet")
        self.synth_button = QPushButton("Synthesize")
        self.synth_button.setToolTip("optimize an input image that maximizes this channel's mean activation")
        self.synth_button.clicked.connect(self.synthesize)
        self.synth_caption = heading("")
        col.addWidget(self.synth_view)
        col.addWidget(self.synth_button)
        col.addWidget(self.synth_caption)
        col.addStretch(1)
        self.panels.append(group)

        group, col = _panel("Weights (one tile per input channel)")
        self.weights_view = MosaicArea(min_tile=18, max_tile=64, max_scale=20, label_min=48)
        self.weights_view.setMinimumSize(150, PANEL)
        self.weights_colorbar = ColorBar(WEIGHTS_CMAP, width=70)
        self.weights_caption = heading("")
        col.addWidget(self.weights_view, 1)
        col.addWidget(self.weights_colorbar)
        col.addWidget(self.weights_caption)
        self.panels.append(group)
        self._reflow(4)

        group, col = _panel(f"Top-{K} dataset patches (receptive-field crops of the most activating units)")
        row = QHBoxLayout()
        self.find_button = QPushButton(f"Find top {K}")
        self.find_button.clicked.connect(lambda: self.find_top_patches(ask=True))
        self.auto = QCheckBox("automatically")
        self.auto.setToolTip("find the top patches whenever a unit page opens (one pass over the dataset per "
                             "layer, then cached in memory and on disk)")
        self.auto.setChecked(True)
        self.folder_button = QPushButton("Image folder…")
        self.folder_button.setToolTip("search an image folder (one sub-folder per class) instead: streamed from "
                                      "disk, cached and reused in later sessions until a file changes")
        self.folder_button.clicked.connect(self.choose_folder)
        self.testset_button = QPushButton("Test set")
        self.testset_button.setToolTip("search the model's own test set again")
        self.testset_button.clicked.connect(self.use_test_set)
        self.context = QCheckBox("in context")
        self.context.setToolTip("show each patch inside a larger crop of its image (the whole image for small "
                                "inputs) with its receptive field boxed; off: the bare receptive-field crop")
        self.context.setChecked(True)
        self.context.toggled.connect(lambda _: self.top is not None and self._found((*self.top, self.skipped)))
        self.patches_title = heading("")
        row.addWidget(self.find_button)
        row.addWidget(self.auto)
        row.addWidget(self.context)
        row.addWidget(self.folder_button)
        row.addWidget(self.testset_button)
        row.addStretch(1)
        col.addLayout(row)
        col.addWidget(self.patches_title)           # its own line: beside the buttons it wrapped into a tall column
        self.patches = MosaicArea(show_all=True, min_tile=84, max_tile=150, labels_below=True)
        self.patches.canvas.clicked.connect(self._patch_clicked)
        self.patches.canvas.setToolTip("click a patch to open its whole image")
        col.addWidget(self.patches, 1)
        box.addWidget(group)             # the page's heart first: above the fold even at 1280x800
        box.addLayout(self.grid, 1)

    def _reflow(self, columns: int) -> None:
        """The four panels in one row, or two rows of two when narrow."""
        if columns == self.columns:
            return
        self.columns = columns
        for panel in self.panels:
            self.grid.removeWidget(panel)
        for i, panel in enumerate(self.panels):
            self.grid.addWidget(panel, i // columns, i % columns)
        for c in range(4):
            self.grid.setColumnStretch(c, (1 if c < 3 else 2) if c < columns else 0)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._reflow(4 if event.size().width() >= 960 else 2)

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        s = self.session
        row = s.row() if s.model is not None else None
        if row is None or not row.spatial:
            what = "No model loaded." if row is None else (f"Layer {row.name} ({row.type}) has no channels with "
                                                           "maps: pick a convolution or pooling layer.")
            self.header.setText(f"<b>Unit page</b>: {what}")
            self._clear()
            return
        self.header.setText(f"<b>Unit page: layer {row.name}, channel {s.channel}</b> of {row.channels} "
                            f"({row.type}, output {row.shape}, receptive field {row.rf})")
        if changed & {"model", "layer"}:
            self.top = None
        self._show_atlas_link()
        self._show_weights()
        self._show_synthesis()
        self._show_patches()
        if s.image is None:
            self.map = None
            self.map_view.show_array(None, "open an image to see this channel's map")
            self.overlay_view.show_array(None, "")
            self.map_stats.setText("")
            self.overlay_caption.setText("")
            return
        if not s.layer_maps(self.jobs("maps"), self._got_maps):
            self.map_view.show_array(None, "computing…")

    # -------------------------------------------------------------- the atlas link
    def _show_atlas_link(self) -> None:
        """Offer the channel's atlas page where an atlas of this model's weights was built (looked up off the GUI
        thread once per model: it hashes the weights)."""
        s = self.session
        model = s.model
        self.atlas_button.setVisible(self.atlas is not None and self._atlas_page() is not None)
        s.compute(self.jobs("atlas"), s.key("atlas", image=False), lambda progress, cancel: find_atlas(model),
                  self._atlas_found, lambda message: None)

    def _atlas_found(self, folder: Optional[Path]) -> None:
        self.atlas = folder
        self.atlas_button.setVisible(folder is not None and self._atlas_page() is not None)

    def _atlas_page(self) -> Optional[Path]:
        s = self.session
        return unit_page(self.atlas, s.layer, s.channel) if self.atlas is not None else None

    def open_in_atlas(self) -> None:
        page = self._atlas_page()
        if page is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(page)))

    def left(self) -> None:
        self.session.forget(self.jobs("maps"))

    def _clear(self):
        self.map = None
        for view in (self.map_view, self.overlay_view, self.synth_view):
            view.show_array(None, "")
        for label in (self.map_stats, self.overlay_caption, self.synth_caption, self.weights_caption,
                      self.patches_title):
            label.setText("")
        self.weights_view.canvas.set_tiles(None)
        self.patches.canvas.set_tiles(None)

    def cancelled(self) -> None:
        if self.crops is None and self.session.wanted(self.jobs("patches")) is not None:
            self.patches.canvas.set_placeholder(f"Cancelled. Press “{self.find_button.text()}” to search again.")
        if self.synthesis is None and self.session.wanted(self.jobs("synthesis")) is not None:
            self.synth_view.show_array(None, "cancelled")
        for job in ("patches", "synthesis"):
            self.session.forget(self.jobs(job))

    # -------------------------------------------------------------- the map on this image
    def _got_maps(self, maps: np.ndarray) -> None:
        s = self.session
        m = maps[..., s.channel]
        self.map = m
        lo, hi = float(m.min()), float(m.max())
        shown = (m - lo) / max(hi - lo, 1e-12)
        self.map_view.show_array(colorize(shown))
        self.map_colorbar.set_scale(MAPS_CMAP, format_value(lo), format_value(hi), "value:")
        r, c = np.unravel_index(int(np.argmax(m)), m.shape)
        flat = hi == lo                                   # no strongest unit to point at
        note = ("; zero everywhere for this image" if flat and hi == 0 else
                f"; constant {format_value(hi)} for this image" if flat else "")
        self.map_stats.setText(f"{m.shape[0]}×{m.shape[1]} map of <i>{s.image.source}</i>; "
                               f"max {format_value(hi)} at ({r}, {c}), min {format_value(lo)}, "
                               f"mean {format_value(m.mean())}{note}")
        image = overlay(s.image.pixels, shown)
        try:
            box = unit_box(s.model, s.layer, int(r), int(c), s.image.pixels.shape[:2]).clipped
        except CnnvizError:
            box = None
        if box is not None and not flat:
            top, left, bottom, right = box
            image = image.copy()
            green = np.array([0, 255, 0], np.uint8)
            w = max(1, int(round(max(image.shape[:2]) / PANEL)))          # about one screen pixel wide
            image[top:top + w, left:right + 1] = image[max(top, bottom - w + 1):bottom + 1, left:right + 1] = green
            image[top:bottom + 1, left:left + w] = image[top:bottom + 1, max(left, right - w + 1):right + 1] = green
        self.overlay_image = image
        self.overlay_view.show_array(image)
        self.overlay_caption.setText("the map stretched over the input (bright: high); green: receptive field of "
                                     "the strongest unit" if not flat else
                                     "the channel is silent on this image" if hi == 0 else
                                     "the channel is constant on this image: no unit stands out")

    # -------------------------------------------------------------- weights
    def _show_weights(self) -> None:
        s = self.session
        try:
            weights = filter_weights(s.model, s.layer)
        except CnnvizError:
            self.weights_view.canvas.set_placeholder(f"a {s.row().type} layer has no weights")
            self.weights_colorbar.setVisible(False)
            self.weights_caption.setText("")
            return
        kernel = weights.kernel[..., s.channel]                      # (kh, kw, in)
        scaled, peak = signed_unit(np.moveaxis(kernel, -1, 0))
        self.weights_view.canvas.set_tiles(colorize(scaled, WEIGHTS_CMAP),
                                           labels=[str(i) for i in range(kernel.shape[-1])])
        self.weights_colorbar.setVisible(True)
        self.weights_colorbar.set_scale(WEIGHTS_CMAP, format_value(-peak), format_value(peak), "weight:")
        bias = f", bias {format_value(weights.bias[s.channel])}" if weights.bias is not None else ""
        self.weights_caption.setText(f"filter {s.channel}: {kernel.shape[0]}×{kernel.shape[1]} over "
                                     f"{kernel.shape[2]} input channels{bias}")

    # -------------------------------------------------------------- synthesis
    def _synthesis_key(self):
        s = self.session
        return s.key("synthesis", s.channel, image=False, layer=s.layer)

    def _show_synthesis(self) -> None:
        result = self.session.cache.get(self._synthesis_key())
        if result is not None:
            self._synthesized(result)
        else:
            self.session.forget(self.jobs("synthesis"))
            self.synthesis = None
            self.synth_view.show_array(None, "press Synthesize (a few seconds)")
            self.synth_caption.setText("")

    def synthesize(self) -> None:
        s = self.session
        if s.model is None or not s.row().spatial:
            return
        model, layer, channel = s.model, s.layer, s.channel
        self.synth_view.show_array(None, "synthesizing…")
        s.compute(self.jobs("synthesis"), self._synthesis_key(),
                  lambda progress, cancel: synthesize_channels(model, layer, [channel], progress=progress,
                                                               cancel=cancel, cache=True),
                  self._synthesized, self._synthesis_failed)

    def _synthesized(self, result) -> None:
        self.synthesis = result
        image = result.uint8[0]
        self.synth_view.show_array(as_rgb(image))
        self.synth_caption.setText(f"{image.shape[0]}×{image.shape[1]} image that drives channel "
                                   f"{int(result.indices[0])}'s mean activation to "
                                   f"{format_value(result.activations[0])}"
                                   + (" (from the disk cache)" if result.from_cache else ""))

    def _synthesis_failed(self, message: str) -> None:
        self.synth_view.show_array(None, "synthesis failed")
        self.synth_caption.setText(message.splitlines()[0])

    # -------------------------------------------------------------- top patches
    def _patches_key(self, dataset: str):
        s = self.session
        return s.key("top_patches", dataset, K, image=False, layer=s.layer)

    def _show_patches(self) -> None:
        s = self.session
        self.crops = None
        dataset = s.patch_dataset_name()
        self.find_button.setText(f"Find top {K} in {self._dataset_label(dataset)}" if dataset
                                 else f"Find top {K} in an image folder…")
        self.testset_button.setVisible(s.model_dataset() is not None and dataset != s.model_dataset())
        if dataset is None:
            self.top = None
            self.patches.canvas.set_placeholder("This model has no known test set: choose an image folder (one "
                                                "sub-folder per class) to search its images.")
            self.patches_title.setText("")
            return
        cached = s.cache.get(self._patches_key(dataset))
        if cached is not None:
            self._found(cached)
        elif self.auto.isChecked():
            self.find_top_patches()
        else:
            self.session.forget(self.jobs("patches"))
            self.top = None
            self.patches.canvas.set_placeholder(f"Press “Find top {K}” to search {self._dataset_label(dataset)}.")
            self.patches_title.setText("")

    @staticmethod
    def _dataset_label(name: Optional[str]) -> str:
        known = named(name or "")
        return f"{known.label} test set" if known else Path(name or "").name

    def choose_folder(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self, "Image folder for top patches (one sub-folder per class)",
                                                  self.session.folder or "")
        if not folder:
            return False
        self.session.folder, self.session.patches_from_folder = folder, True
        self.refresh({"layer"})
        return True

    def use_test_set(self) -> None:
        self.session.patches_from_folder = False
        self.refresh({"layer"})

    def find_top_patches(self, ask: bool = False) -> None:
        s = self.session
        if s.model is None or s.row() is None or not s.row().spatial:
            return
        dataset = s.patch_dataset_name()
        if dataset is None:
            if not ask or not self.choose_folder():
                return
            dataset = s.patch_dataset_name()
        model, layer = s.model, s.layer
        shape = tuple(model.inputs[0].shape[1:])

        def work(progress, cancel):
            if dataset not in KNOWN_DATASETS:      # an image folder: streamed from disk, cached by its files
                result = top_patches_files(model, dataset, [layer], k=K, progress=progress, cancel=cancel)
                skipped = [(f["file"], f["reason"]) for f in (result.report or {}).get("skipped", [])]
                return dataset, result.layers[layer], result.files, result.size, skipped
            data = s.dataset(dataset, progress, cancel, input_shape=shape)
            result = top_patches(model, data.x_test, [layer], k=K, progress=progress, cancel=cancel)
            return dataset, result.layers[layer], None, None, []

        self.patches.canvas.set_placeholder(f"searching {self._dataset_label(dataset)} for every channel of "
                                            f"{layer}…")
        self.patches_title.setText("")
        s.compute(self.jobs("patches"), self._patches_key(dataset), work, self._found, self._patches_failed,
                  background=s.live)

    def _patches_failed(self, message: str) -> None:
        self.patches.canvas.set_placeholder(f"cannot find top patches: {message.splitlines()[0]}")
        self.session.error.emit(message)

    def _found(self, result) -> None:
        s = self.session
        dataset, top, files, size, skipped = result
        self.top, self.skipped = result[:4], skipped
        c = int(np.flatnonzero(top.channels == s.channel)[0])
        index = top.image_index[c]
        valid = index >= 0
        if files is None:
            data = s.dataset(dataset, input_shape=tuple(s.model.inputs[0].shape[1:]))   # loaded by the job
            labels = np.asarray(data.y_test).reshape(-1)
            self._show_channel_patches(c, valid, data.x_test[index[valid]], data.x_test.shape[1:3],
                                       [data.classes[int(labels[i])] for i in index[valid]],
                                       [f"#{i}" for i in index[valid]])
            return
        paths = [files[i] for i in index[valid]]     # a folder: this channel's few files, read off the GUI thread
        s.compute(self.jobs("patch_files"), s.key("patch_files", tuple(paths), size, image=False),
                  lambda progress, cancel: _decode_files(paths, size),
                  lambda images: self._show_channel_patches(c, valid, images, size[:2],
                                                            [Path(p).parent.name for p in paths],
                                                            [Path(p).name for p in paths]))

    def _show_channel_patches(self, c: int, valid: np.ndarray, images: np.ndarray, image_shape: tuple,
                              names: list, sources: list) -> None:
        """The current channel's patches (row ``c`` of the layer's top-k), cut from ``images``."""
        s = self.session
        dataset, top, files, _ = self.top
        index = top.image_index[c]
        one = LayerTopK(top.layer, top.channels[c:c + 1], top.values[c:c + 1][:, valid],
                        np.arange(valid.sum())[None], top.position[c:c + 1][:, valid], top.boxes[c:c + 1][:, valid])
        crops = patch_crops(one, images)[0] if valid.any() else np.zeros((0, 1, 1, 3), np.uint8)
        self.crops = crops
        self.patch_files = [str(files[i]) for i in index[valid]] if files is not None else None
        captions = [f"{format_value(v)} · {src}" for v, src in zip(top.values[c][valid], sources)]
        self.patch_captions = [f"{name}: {caption}" for name, caption in zip(names, captions)]
        if self.context.isChecked() and valid.any():
            around = context_crops(one, images)
            self.patches.canvas.set_tiles(as_rgb_tiles(around.crops[0]), labels=names, captions=captions,
                                          boxes=around.boxes[0])
        else:
            self.patches.canvas.set_tiles(as_rgb_tiles(crops), labels=names, captions=captions,
                                          inside=inside_rects(top.boxes[c][valid], crops.shape[1:3], image_shape))
        self._patch_sources = [(int(i), name) for i, name in zip(index[valid], names)]
        r = crops.shape[1] if len(crops) else 0
        silent = silent_channels(s.model, top.layer, [s.channel], top.values[c:c + 1],
                                 f"did not fire on any image of {self._dataset_label(dataset)}")
        warning = (f"<b style='color:#b00020'>Channel {s.channel} {silent[s.channel]}: these patches mean "
                   "nothing.</b> " if silent else "")
        self.patches_title.setText(f"{warning}{self._dataset_label(dataset)}: the {len(crops)} images where channel "
                                   f"{s.channel} of {top.layer} responds most (max over positions), "
                                   + (f"green: the {r}×{r} receptive field in its image" if self.context.isChecked()
                                      else f"cropped to the {r}×{r} receptive field (hatched: beyond the image's "
                                      "edge)")
                                   + f"; under each: label, activation · {'image number' if files is None else 'file'}"
                                   + (f"; {skipped_line(self.skipped, self._dataset_label(dataset))}"
                                      if self.skipped else ""))

    def _patch_clicked(self, i: int) -> None:
        if self.top is None or i >= len(getattr(self, "_patch_sources", [])):
            return
        dataset, _, files, _ = self.top
        index, name = self._patch_sources[i]
        if files is not None:
            self.session.load_image(files[index])
            return
        data = self.session.dataset(dataset, input_shape=tuple(self.session.model.inputs[0].shape[1:]))
        self.image_picked.emit(data.x_test[index], f"{self._dataset_label(dataset)} #{index} (label {name})")

    # -------------------------------------------------------------- export
    def export_name(self) -> str:
        return f"{super().export_name()}_ch{self.session.channel}"

    def export_figure(self):
        """The unit page drawn as one figure: where it fires, its top patches,
        its synthesized image and its weights, whichever are computed."""
        s = self.session
        if s.model is None or s.row() is None or not s.row().spatial or self.map is None:
            return None
        from cnnviz.plots.inside import unit_figure  # matplotlib: heavy, loaded with the first figure
        try:
            kernel = filter_weights(s.model, s.layer).kernel[..., s.channel]
        except CnnvizError:
            kernel = None
        return unit_figure(f"{s.info.name}: {s.layer}, channel {s.channel}", overlay=self.overlay_image,
                           patches=self.crops, patch_captions=getattr(self, "patch_captions", ()),
                           synthesized=self.synthesis.images[0] if self.synthesis is not None else None,
                           kernel=kernel)

    def export_arrays(self):
        s = self.session
        if s.model is None or s.row() is None or not s.row().spatial:
            return None
        arrays = {"layer": np.array(s.layer), "channel": np.array(s.channel)}
        if self.map is not None:
            arrays["activation_map"] = self.map
            arrays["input"] = s.image.x
        if self.crops is not None and self.top is not None:
            top = self.top[1]
            c = int(np.flatnonzero(top.channels == s.channel)[0])
            arrays.update(patches=self.crops, patch_values=top.values[c], patch_image_index=top.image_index[c],
                          patch_boxes=top.boxes[c])
            if self.patch_files is not None:                 # a folder: which file each patch comes from
                arrays["patch_files"] = np.array(self.patch_files)
        if self.synthesis is not None:
            arrays["synthesized"] = self.synthesis.images[0]
        try:
            arrays["kernel"] = filter_weights(s.model, s.layer).kernel[..., s.channel]
        except CnnvizError:
            pass
        return arrays


def inside_rects(boxes: np.ndarray, crop_shape, image_shape) -> list[tuple[int, int, int, int]]:
    """Per crop, the part inside the image, (top, left, bottom, right)
    exclusive in crop pixels, from its receptive-field ``boxes`` (k, 4)
    (top, left, bottom, right inclusive in image pixels, reaching beyond it)."""
    (rh, rw), (H, W) = crop_shape, image_shape
    return [(max(0, -int(top)), max(0, -int(left)), min(rh, H - int(top)), min(rw, W - int(left)))
            for top, left, _, _ in np.asarray(boxes).reshape(-1, 4)]


def as_rgb_tiles(crops: np.ndarray) -> np.ndarray:
    return np.stack([as_rgb(c) for c in crops]) if len(crops) else crops


def _decode_files(paths: list, size: tuple) -> np.ndarray:
    """The files at the model's input size, as the stream decoded them."""
    return np.stack([decode(p, size) for p in paths]) if paths else np.zeros((0, *size), np.uint8)
