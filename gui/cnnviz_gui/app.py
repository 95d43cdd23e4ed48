"""The cnnviz main window: pick a model and an image, browse the layers, and
look at them through the views (tabs: the layer's activation maps and filters,
a channel's unit page, attribution maps explaining a class, adversarial
examples), with the input and the prediction always in view.

    cnnviz-gui [MODEL] [IMAGE] [--preprocess MODE] [--classes NAMES]

--preprocess (scale01, raw, caffe, tf, torch, vgg16) and --classes (a,b,c or
a text file with one name a line) declare how MODEL reads its pixels and what
its outputs are called, overriding its sidecar card MODEL_STEM.card.json for
this session; File > Model settings edits them and saves them to the card.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QLibraryInfo, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz import CnnvizError
from cnnviz.common.runtime import warnings_as_notes
from cnnviz.data.images import SAMPLE_PREFIX, SAMPLES
from cnnviz.data.sources import NAMED
from cnnviz.lab.uncertainty import dropout_layers
from cnnviz.models import zoo

from .dialogs import DatasetBrowser, ModelPicker, WeightsDialog
from .live import LivePlayer
from .messages import user_text
from .model_settings import ModelSettingsDialog
from .session import Session, describe_path, existing
from .views import VIEWS, View
from .widgets import DrawPad, InputView, PredictionPanel, heading

MC_PASSES = 30
DRAWN = "drawn digit"       # the source text of the digit pad's images
LIVE_STOP_SHOWN_MS = 10000
SLIDE_DPI = 200             # exported figures: sharp on a projector, a 10-inch figure is 2000 pixels wide
WIDE_SCREEN = 1500          # narrower screens get a smaller input image beside the views
MIN_VIEW_WIDTH = 560        # the layer table takes its width from the views down to this
LISTED_TEXT = Qt.ItemDataRole.UserRole + 1      # a model box line as listed, before "UNTRAINED" replaced it

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff)"
VIDEO_FILTER = "Videos and animated images (*.gif *.mp4 *.avi *.mov *.mkv *.webm *.tif *.tiff);;All files (*)"
MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5)"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
RECENT = 10
DEFAULT_SIZE = QSize(1920, 1200)     # the first window takes the screen's free area up to this
FRAME_MARGIN = QSize(16, 48)          # what a window manager's frame and title bar usually take
QT_XCB_PACKAGES = ("libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
                   "libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xkb1")   # Debian/Ubuntu names
DATASET_NAMES = {**{d.name: d.label for d in NAMED.values()}, "imagenet": "ImageNet"}


class MainWindow(QMainWindow):
    def __init__(self, settings: Optional[QSettings] = None):
        super().__init__()
        self.settings = settings or QSettings("cnnviz", "cnnviz-gui")
        self.session = Session(self)
        self.runner = self.session.runner
        self.live = LivePlayer(self.session)
        self.listing: Optional[list] = None          # cnnviz.inside.summary.zoo_listing(), filled off the GUI thread
        self.browser: Optional[DatasetBrowser] = None
        self.picker: Optional[ModelPicker] = None
        self.weights_dialog: Optional[WeightsDialog] = None
        self._last_error: Optional[str] = None
        self.setWindowTitle("cnnviz")
        self._build()
        s = self.session
        s.model_changed.connect(self._model_changed)
        s.image_changed.connect(self._image_changed)
        s.layer_changed.connect(self._layer_changed)
        s.model_failed.connect(self._model_failed)
        s.weights_needed.connect(self.ask_for_weights)
        s.code_needed.connect(self.ask_to_run_code)
        s.error.connect(self.error)
        self.runner.progress.connect(self._on_progress)
        self.runner.busy.connect(self._on_busy)
        self._restore()
        self.runner.ready.connect(lambda text: self.device.setText(f"Device: {text}"))
        self.runner.start_failed.connect(self._tensorflow_failed)

    # ------------------------------------------------------------ layout
    def _build(self):
        self._menus()
        bar = self.addToolBar("main")
        bar.setObjectName("main")
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(250)
        self.model_box.setToolTip("shipped and zoo models: dataset, test accuracy")
        self._fill_model_box()
        self.model_box.activated.connect(lambda i: self.model_box.itemData(i) and
                                         self.load_model(self.model_box.itemData(i)))
        bar.addWidget(QLabel(" Model: "))
        bar.addWidget(self.model_box)
        bar.addAction(self.act_choose)
        bar.addAction(self.act_open_model)
        bar.addSeparator()
        bar.addAction(self.act_open_image)
        self.sample_box = QComboBox()
        self.sample_box.addItem("sample photo…")
        for name in SAMPLES:
            self.sample_box.addItem(name)
        self.sample_box.activated.connect(
            lambda i: i and self.load_image(SAMPLE_PREFIX + self.sample_box.itemText(i)))
        bar.addWidget(self.sample_box)
        bar.addAction(self.act_browse)
        bar.addAction(self.act_live)
        bar.addSeparator()
        bar.addAction(self.act_png)
        bar.addAction(self.act_npz)

        self.layers = QTableWidget(0, 5)
        self.layers.setHorizontalHeaderLabels(["layer", "type", "output", "params", "rec. field"])
        self.layers.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.layers.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers.verticalHeader().setVisible(False)
        self.layers.setToolTip("the model's layers in order; receptive field: side in input pixels (jump: the "
                               "input distance between neighbouring units). PgUp/PgDn: previous/next layer")
        self.layers.currentCellChanged.connect(lambda row, *_: self._row_selected(row))
        self.layers.setMinimumWidth(180)

        compact = self.screen().availableGeometry().width() < WIDE_SCREEN   # e.g. 1280x800: the views need the width
        self.input_view = InputView(224 if compact else 280)
        self.input_caption = heading("")
        self.prediction = PredictionPanel()
        policy = self.prediction.sizePolicy()
        policy.setRetainSizeWhenHidden(True)         # the bars' place is kept until there are predictions
        self.prediction.setSizePolicy(policy)
        self.draw_pad = DrawPad()
        self.draw_pad.drawn.connect(lambda digit: self.load_image(None, pixels=digit, source=DRAWN))
        self.draw_title = heading("<b>Draw a digit</b> (right-click clears; made 20x20 and centred as in MNIST)")
        left = QWidget()
        column = QVBoxLayout(left)
        # the pad comes first: what is below it changes with every prediction, and a pad that moved
        # under the pointer in mid-stroke would spoil the digit
        column.addWidget(self.draw_title)
        column.addWidget(self.draw_pad, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(heading("<b>Input</b> (as the model sees it)"))
        column.addWidget(self.input_view)
        column.addWidget(self.input_caption)
        self.prediction_title = heading("<b>Prediction</b> (top 5)")
        self.mc_dropout = QCheckBox(f"MC dropout ({MC_PASSES} passes): mean ± std")
        self.mc_dropout.setToolTip("dropout as a Bayesian approximation (Gal & Ghahramani 2016): the spread of the "
                                   "class probabilities over stochastic passes says how unsure the model is")
        self.mc_dropout.toggled.connect(lambda _: self._refresh_predictions())
        column.addWidget(self.prediction_title)
        column.addWidget(self.prediction)
        column.addWidget(self.mc_dropout)
        column.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidget(left)
        left_scroll.setWidgetResizable(True)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)   # the bars shrink instead
        left_scroll.setMinimumWidth(self.input_view.minimumWidth() + 60)     # margins and the scroll bar

        self.tabs = QTabWidget()
        self.views: list[View] = []
        for cls in VIEWS:
            self.add_view(cls(self.session))
        self.tabs.currentChanged.connect(self._tab_changed)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.layers)
        self.splitter.addWidget(left_scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([330, self.input_view.minimumWidth() + 60, 900])
        self.setCentralWidget(self.splitter)

        self.device = QLabel("Device: starting TensorFlow…")
        self.model_label = QLabel("no model")
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(320)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the running computation (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_jobs)
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        self.live_label = QLabel("")
        self.live.status.connect(self.live_label.setText)
        self.live.stopped.connect(self._live_stopped)
        self.live_clear = QTimer(self)              # the window's own: it goes with the window
        self.live_clear.setSingleShot(True)
        self.live_clear.timeout.connect(lambda: self.live.playing or self.live_label.clear())
        status.addPermanentWidget(self.live_label)
        status.addPermanentWidget(self.device)

        for keys, slot in ((",", lambda: self.step_channel(-1)), (".", lambda: self.step_channel(+1)),
                           ("PgUp", lambda: self.step_layer(-1)), ("PgDown", lambda: self.step_layer(+1))):
            QShortcut(QKeySequence(keys), self, activated=slot)
        QShortcut(QKeySequence("Esc"), self, activated=self.cancel_jobs)
        for i in range(len(self.views)):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, activated=lambda i=i: self.tabs.setCurrentIndex(i))
        self.setAcceptDrops(True)
        self.resize(first_size(self.screen().availableGeometry()))

    def _action(self, text, slot, shortcut=None, tip=None):
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
        return action

    def _menus(self):
        self.act_choose = self._action("Models…", self.choose_model, "Ctrl+M", "choose a model from a table")
        self.act_open_model = self._action("Open model…", self.open_model_dialog, QKeySequence.StandardKey.Open)
        self.act_model_settings = self._action("Model settings…", self.model_settings, None,
                                               "the model's preprocessing and class names, saved to its card")
        self.act_open_image = self._action("Open image…", self.open_image_dialog, "Ctrl+I")
        self.act_browse = self._action("Dataset…", self.browse_dataset, "Ctrl+D",
                                       "browse MNIST / CIFAR-10 test images or an image folder")
        self.act_live = self._action("Live…", self.play_video, "Ctrl+L",
                                     "play a video or an image folder through the model, frame by frame; the views "
                                     "follow every frame (Esc stops)")
        self.act_live_folder = self._action("Live from an image folder…", self.play_folder)
        self.act_png = self._action("Export PNG…", lambda: self.export_png(), "Ctrl+E", "save the current view")
        self.act_npz = self._action("Export NPZ…", lambda: self.export_npz(), "Ctrl+Shift+E",
                                    "save the current view's arrays")
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_choose)
        menu.addAction(self.act_open_model)
        self.recent_models_menu = menu.addMenu("Recent models")
        menu.addAction(self.act_model_settings)
        menu.addSeparator()
        menu.addAction(self.act_open_image)
        self.recent_images_menu = menu.addMenu("Recent images")
        menu.addAction(self.act_browse)
        menu.addAction(self._action("Paste image", self.paste_image, QKeySequence.StandardKey.Paste))
        menu.addAction(self.act_live)
        menu.addAction(self.act_live_folder)
        menu.addSeparator()
        menu.addAction(self.act_png)
        menu.addAction(self.act_npz)
        menu.addSeparator()
        menu.addAction(self._action("Quit", self.close, QKeySequence.StandardKey.Quit))
        self.view_menu = self.menuBar().addMenu("&View")
        for text, slot in (("Previous layer\tPgUp", lambda: self.step_layer(-1)),
                           ("Next layer\tPgDown", lambda: self.step_layer(+1)),
                           ("Previous channel\t,", lambda: self.step_channel(-1)),
                           ("Next channel\t.", lambda: self.step_channel(+1))):
            self.view_menu.addAction(self._action(text, slot))
        self.view_menu.addSeparator()
        self._update_recent_menus()

    def add_view(self, view: View) -> None:
        """Add a tab (see :mod:`cnnviz_gui.views.base`)."""
        self.views.append(view)
        self.tabs.addTab(view, view.title)
        view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        view.input_box.connect(self.input_view.set_box)
        view.open_unit.connect(self.open_unit)
        view.open_layer.connect(self.open_layer)
        view.image_picked.connect(lambda pixels, source: self.load_image(None, pixels=pixels, source=source))
        if len(self.views) == 1:
            view.set_current(True)

    def view(self, name: str) -> View:
        return next(v for v in self.views if v.name == name)

    @property
    def layer_view(self):
        return self.view("layer")

    @property
    def unit_view(self):
        return self.view("unit")

    def _tab_changed(self, index: int) -> None:
        current = self.tabs.widget(index)
        self.input_view.set_box(None)
        for view in self.views:
            if view is not current:
                view.set_current(False)
        if isinstance(current, View):
            self.layers.setVisible(current.uses_layers)
            current.set_current(True)

    # ------------------------------------------------------------ settings
    def _restore(self):
        st = self.settings
        geometry, state = st.value("geometry"), st.value("window_state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        splitter = st.value("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        scope = self.layer_view.scope.findData(st.value("normalization", "channel"))
        self.layer_view.scope.setCurrentIndex(max(scope, 0))
        self.unit_view.auto.setChecked(st.value("auto_top_patches", "true") in (True, "true"))
        self.session.folder = st.value("folders/patches") or None
        self.session.patches_from_folder = st.value("patches/from_folder", False, type=bool)
        for view in self.views:
            try:
                view.restore(json.loads(st.value(f"views/{view.name}", "{}") or "{}"))
            except (TypeError, ValueError):
                pass                                         # written by another version: keep the defaults
        self.tabs.setCurrentIndex(int(st.value("tab", 0) or 0))

    def _save(self):
        st = self.settings
        st.setValue("geometry", self.saveGeometry())
        st.setValue("window_state", self.saveState())
        st.setValue("splitter", self.splitter.saveState())
        st.setValue("normalization", self.layer_view.scope.currentData())
        st.setValue("auto_top_patches", self.unit_view.auto.isChecked())
        st.setValue("tab", self.tabs.currentIndex())
        for view in self.views:
            st.setValue(f"views/{view.name}", json.dumps(view.settings()))
        if self.session.folder:
            st.setValue("folders/patches", self.session.folder)
        st.setValue("patches/from_folder", self.session.patches_from_folder)
        if self.browser is not None and self.browser.folder:
            st.setValue("folders/dataset", self.browser.folder)
        st.sync()

    def recent(self, kind: str) -> list[str]:
        value = self.settings.value(f"recent/{kind}", [])
        value = [value] if isinstance(value, str) else list(value or [])
        return existing(value)

    def _remember(self, kind: str, path: str) -> None:
        items = [path] + [p for p in self.recent(kind) if p != path]
        self.settings.setValue(f"recent/{kind}", items[:RECENT])
        self._update_recent_menus()

    def _update_recent_menus(self):
        for menu, kind, slot in ((self.recent_models_menu, "models", self.load_model),
                                 (self.recent_images_menu, "images", self.load_image)):
            menu.clear()
            items = self.recent(kind)
            for path in items:
                menu.addAction(describe_path(path), lambda p=path, f=slot: f(p))
            if not items:
                menu.addAction("(none yet)").setEnabled(False)

    # ------------------------------------------------------------ model
    def _fill_model_box(self):
        self.model_box.clear()
        by_name = {r["name"]: r for r in self.listing or []} or _shipped_cards()
        for name in zoo.ZOO_NAMES:
            row = by_name.get(name)
            dataset = DATASET_NAMES.get((row or {}).get("dataset") or (zoo.ARCHS[name].dataset if name in zoo.ARCHS
                                                                        else "imagenet"), "?")
            acc = f", {row['test_accuracy']:.1%}" if row and row.get("test_accuracy") else ""
            self.model_box.addItem(f"{name} ({dataset}{acc})", name)
        self._select_in_model_box()

    def _list_models(self):
        """The full zoo listing, off the GUI thread, when the picker first opens
        (it builds VGG16 to count its parameters: seconds of CPU)."""
        if self.listing is not None or self.runner.running("listing"):
            return

        def done(rows):
            self.listing = rows
            self._fill_model_box()
            if self.picker is not None:
                self.picker.set_listing(rows)

        def work(progress, cancel):
            from cnnviz.inside.summary import zoo_listing

            rows = zoo_listing()
            for row in rows:
                if row["name"] in zoo.VGG16_NAMES:
                    have = zoo.vgg16_weights_available(zoo.VGG16_NAMES[row["name"]])
                    row["weights"] = "ImageNet (cached)" if have else \
                        f"ImageNet ({zoo.VGG16_WEIGHTS_BYTES[zoo.VGG16_NAMES[row['name']]] / 1e6:.0f} MB download)"
            return rows

        self.runner.submit("listing", work, done, lambda message: None, quiet=True)

    def choose_model(self):
        self.picker = ModelPicker(self.listing, self.recent("models"), self)
        self.picker.chosen.connect(self.load_model)
        self.picker.open()
        self._list_models()

    def open_model_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open a Keras model", self.settings.value("folders/model", ""),
                                              MODEL_FILTER)
        if path:
            self.settings.setValue("folders/model", str(Path(path).parent))
            self.load_model(path)

    def load_model(self, spec: str, weights: str = "imagenet", **contract):
        """Load a model; ``contract``: its ``preprocess`` and ``classes`` for this session."""
        self.model_label.setText(f"loading {Path(str(spec)).name}…")
        self._select_in_model_box()                  # the box names the loaded model until the new one is
        self.session.load_model(spec, weights, **contract)

    def model_settings(self):
        """The model-settings dialog (preprocessing, class names) for the loaded model."""
        if self.session.model is None:
            self.error("no model is loaded: open one first")
            return
        self.settings_dialog = ModelSettingsDialog(self.session, self)
        self.settings_dialog.open()

    def ask_for_weights(self, spec: str):
        self._show_model_label()
        self.weights_dialog = WeightsDialog(self.session, spec, self)
        self.weights_dialog.rejected.connect(self._show_model_label)
        self.weights_dialog.open()

    def ask_to_run_code(self, spec: str, lambdas: str):
        """A model file with Lambda layers: say what loading it means, and
        load it only if the user allows its code to run."""
        box = QMessageBox(QMessageBox.Icon.Warning, "cnnviz: run this model's code?",
                          f"{Path(spec).name} contains Lambda layers ({lambdas}).", parent=self)
        box.setInformativeText(
            "A Lambda layer is Python code stored in the model file. Loading the model runs that code on this "
            "computer, with your rights: it can read, change or delete your files and reach the network, like any "
            "program you start. Allow it only if you trust where the file comes from (e.g. you saved it yourself).")
        self.run_code_button = box.addButton("Run its code and load it", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(button):
            if button is self.run_code_button:
                self.model_label.setText(f"loading {Path(spec).name}…")
                self.session.load_model(spec, unsafe=True)
            else:
                self._show_model_label()

        box.buttonClicked.connect(answered)
        self.code_dialog = box
        box.open()

    def _model_failed(self, spec: str, weights: str, message: str):
        self._show_model_label()
        if spec in zoo.VGG16_NAMES and weights == "imagenet":
            self.ask_for_weights(spec)
            self.weights_dialog.status.setText(message)
        else:
            self.error(message)

    def _select_in_model_box(self):
        """The box names the loaded model, or says that none is (never the
        one the user picked last if it did not load)."""
        s, box = self.session, self.model_box
        placeholder = box.findData(None)
        if s.model is None:
            if placeholder < 0:
                box.insertItem(0, "(no model loaded)", None)
                placeholder = 0
            box.setCurrentIndex(placeholder)
            return
        if placeholder >= 0:
            box.removeItem(placeholder)
        index = box.findData(s.model_spec)
        if index < 0:
            box.addItem(Path(s.model_spec).name, s.model_spec)
            index = box.count() - 1
        for i in range(box.count()):                    # the loaded model's line says how it was loaded
            listed = box.itemData(i, LISTED_TEXT)
            if listed is None:
                box.setItemData(i, listed := box.itemText(i), LISTED_TEXT)
            untrained = i == index and not s.info.trained
            name = box.itemData(i) if box.itemData(i) in zoo.ZOO_NAMES else listed
            box.setItemText(i, f"{name} (UNTRAINED: random weights)" if untrained else listed)
        box.setCurrentIndex(index)

    def _model_text(self) -> tuple[str, bool]:
        s = self.session
        info = s.info
        parts = [f"Model: <b>{info.name}</b>"]
        if info.dataset:
            parts.append(DATASET_NAMES.get(info.dataset, info.dataset))
        acc = info.card.get("metrics", {}).get("test_accuracy") if info.card else None
        if acc:
            parts.append(f"test accuracy {acc:.2%}")
        parts.append(f"{s.model.count_params():,} parameters")
        if info.path:
            parts.append(Path(info.path).name)
        parts.append(f"input {info.preprocessing} ({info.source('preprocessing')})")
        if info.source("classes") == "default":
            parts.append("classes unnamed (File ▸ Model settings)")
        untrained = not info.trained
        if untrained:
            parts.append("<b style='color:#b00020'>UNTRAINED (random weights)</b>")
        return " · ".join(parts), untrained

    def _show_model_label(self):
        if self.session.model is None:
            self.model_label.setText("no model")
        else:
            self.model_label.setText(self._model_text()[0])
            self.model_label.setToolTip("\n".join(self.session.info.describe()))
        self._select_in_model_box()

    def _update_title(self):
        s = self.session
        if s.model is None:
            self.setWindowTitle("cnnviz")
            return
        untrained = " [UNTRAINED: random weights]" if not s.info.trained else ""
        image = f" — {s.image.source}" if s.image is not None else ""
        self.setWindowTitle(f"cnnviz — {s.info.name}{untrained}{image}")

    def _model_changed(self):
        s = self.session
        self._show_model_label()
        self._update_title()
        self.settings.setValue("model", s.model_spec)
        if Path(s.model_spec).suffix.lower() in MODEL_SUFFIXES:
            self._remember("models", str(Path(s.model_spec).resolve()))
        self._select_in_model_box()
        mnist = s.model_dataset() == "mnist"
        self.draw_pad.setVisible(mnist)
        self.draw_title.setVisible(mnist)
        self.prediction.clear()
        dropout = bool(dropout_layers(s.model))
        self.mc_dropout.setEnabled(dropout)
        self.mc_dropout.setToolTip(self.mc_dropout.toolTip().split(" (this model")[0]
                                   + ("" if dropout else " (this model has no dropout layers)"))
        if s.not_classifier:
            self._prediction_failed(s.not_classifier)
        else:
            self._show_prediction_title()
        self.prediction.setVisible(False)                   # no empty bars before there is an image
        self.input_view.show_pixels(None)
        self.layers.blockSignals(True)
        self.layers.setRowCount(len(s.rows))
        for i, row in enumerate(s.rows):
            for col, text in enumerate((row.name, row.type, row.shape, f"{row.params:,}", row.rf)):
                item = QTableWidgetItem(text)
                if col == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if not row.spatial:
                    item.setForeground(self.palette().color(self.palette().ColorGroup.Disabled,
                                                            self.palette().ColorRole.Text))
                self.layers.setItem(i, col, item)
        self.layers.resizeColumnsToContents()
        width = sum(self.layers.columnWidth(c) for c in range(self.layers.columnCount())) + 24
        sizes = self.splitter.sizes()
        if sizes[0] < width and sum(sizes) > 1100:        # give the table its width, taken from the views
            grow = min(width - sizes[0], max(0, sizes[2] - MIN_VIEW_WIDTH))
            self.splitter.setSizes([sizes[0] + grow, sizes[1], sizes[2] - grow])
        self.layers.blockSignals(False)
        self._layer_changed()
        if s.not_classifier:                               # said at load time, naming the file
            self.statusBar().showMessage(f"{s.not_classifier.splitlines()[0]} Its layers, maps, filters and unit "
                                         "pages work; Explain and Adversarial need class scores.", 30000)

    # ------------------------------------------------------------ layers and channels
    def _row_selected(self, row: int):
        if 0 <= row < len(self.session.rows):
            self.session.set_layer(self.session.rows[row].name)

    def _layer_changed(self):
        row = self.session.row_index()
        if row >= 0 and self.layers.currentRow() != row:
            self.layers.blockSignals(True)
            self.layers.selectRow(row)
            self.layers.blockSignals(False)
        self.input_view.set_box(None)
        self.statusBar().clearMessage()

    def step_layer(self, delta: int):
        row = self.session.row_index() + delta
        if 0 <= row < len(self.session.rows):
            self.layers.selectRow(row)

    def step_channel(self, delta: int):
        s = self.session
        if s.row() is not None and s.row().spatial:
            s.set_channel(s.channel + delta)

    def open_layer(self, name: str):
        self.session.set_layer(name)
        self.tabs.setCurrentWidget(self.layer_view)

    def open_unit(self, channel: int):
        self.session.set_channel(channel)
        self.tabs.setCurrentWidget(self.unit_view)

    # ------------------------------------------------------------ image
    def open_image_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", self.settings.value("folders/image", ""),
                                              IMAGE_FILTER)
        if path:
            self.settings.setValue("folders/image", str(Path(path).parent))
            self.load_image(path)

    def load_image(self, path: Optional[str], pixels: Optional[np.ndarray] = None, source: Optional[str] = None):
        self.session.load_image(path, pixels=pixels, source=source)

    def play_video(self):
        """Start live input from a video file, or stop it when playing."""
        if self.live.playing:
            self.live.stop()
            return
        path, _ = QFileDialog.getOpenFileName(self, "Play a video through the model",
                                              self.settings.value("folders/live", ""), VIDEO_FILTER)
        if path:
            self.play(path)

    def play_folder(self):
        folder = QFileDialog.getExistingDirectory(self, "Play an image folder through the model",
                                                  self.settings.value("folders/live", ""))
        if folder:
            self.play(folder)

    def play(self, path: str):
        """Play a video file or an image folder through the model (see :mod:`cnnviz_gui.live`)."""
        try:
            self.live.play(path)
        except CnnvizError as exc:
            self.error(str(exc))
            return
        self.settings.setValue("folders/live", str(Path(path).parent))
        self.act_live.setText("Stop live")

    def _live_stopped(self):
        """The stop line ("live stopped after N frames") stays a while, then goes:
        it describes the play that ended, not what is shown later."""
        self.act_live.setText("Live…")
        self.live_clear.start(LIVE_STOP_SHOWN_MS)

    def browse_dataset(self, source: Optional[str] = None, folder: Optional[str] = None):
        if self.browser is None:
            self.browser = DatasetBrowser(self.session, self, self.settings.value("folders/dataset") or None)
            self.browser.picked.connect(lambda pixels, path, text: self.load_image(path, pixels=pixels, source=text))
        source = source or self.session.model_dataset() or "folder"
        self.browser.show()
        self.browser.raise_()
        if folder is not None or self.browser.name is None or source != self.browser.source.currentData():
            self.browser.open_source(source, folder=folder)

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event):
        urls = event.mimeData().urls()
        if urls:
            path = urls[0].toLocalFile()
            if Path(path).suffix.lower() in MODEL_SUFFIXES:
                self.load_model(path)
            else:
                self.load_image(path)
        elif event.mimeData().hasImage():
            self._load_qimage(event.mimeData().imageData())

    def paste_image(self):
        clipboard = QApplication.clipboard()
        if clipboard.mimeData().hasImage():
            self._load_qimage(clipboard.image())
        elif clipboard.mimeData().hasUrls():
            self.load_image(clipboard.mimeData().urls()[0].toLocalFile())
        else:
            self.error("the clipboard holds no image: copy an image or an image file first")

    def _load_qimage(self, qimage):
        qimage = QImage(qimage).convertToFormat(QImage.Format.Format_RGB888)
        w, h = qimage.width(), qimage.height()
        if w == 0 or h == 0:
            self.error("the pasted image is empty")
            return
        data = np.frombuffer(qimage.constBits(), np.uint8).reshape(h, qimage.bytesPerLine())[:, :3 * w]
        self.load_image(None, pixels=data.reshape(h, w, 3).copy(), source="pasted image")

    def _image_changed(self):
        s = self.session
        image = s.image
        if image is None or s.model is None:
            return
        if image.source != DRAWN:
            self.draw_pad.set_stale()
        if not self.live.playing:
            self.live_label.clear()                  # the last play's line no longer describes what is shown
        notes = f" ({'; '.join(image.notes)})" if image.notes else ""
        self.input_caption.setText(f"{image.source}{notes}")
        self.input_view.show_pixels(image.pixels)
        self._update_title()
        path = s.raw[2] if s.raw else None
        if path and not str(path).startswith(SAMPLE_PREFIX):
            self._remember("images", str(Path(path).resolve()))
        self._refresh_predictions()

    def _refresh_predictions(self):
        s = self.session
        if s.model is None or s.image is None or s.not_classifier:
            return
        if self.mc_dropout.isChecked() and self.mc_dropout.isEnabled():
            s.mc_predictions("predict", MC_PASSES, lambda r: self._show_predictions(*r), self._prediction_failed)
        else:
            s.predictions("predict", self._show_predictions, self._prediction_failed)

    def _show_prediction_title(self):
        s = self.session
        waiting = ": open an image to see what the model makes of it" if s.image is None else ""
        self.prediction_title.setText("<b>Prediction</b> (top 5)" + waiting + (
            "" if s.info.trained else " — <b>untrained model</b>: meaningless"))

    def _show_predictions(self, predictions, stds=()):
        self._show_prediction_title()
        self.prediction.setVisible(True)
        self.prediction.show_predictions(predictions, stds)

    def _prediction_failed(self, message: str):
        """Inline under the input, not a dialog: a model without classes is no error of the user's."""
        self.prediction.clear()
        self.prediction.setVisible(False)
        self.prediction_title.setText(f"<b>Prediction</b>: none. {message.splitlines()[0]}")

    # ------------------------------------------------------------ export
    def current_view(self) -> Optional[View]:
        view = self.tabs.currentWidget()
        return view if isinstance(view, View) else None

    def _export_path(self, path: Optional[str], view: View, suffix: str, title: str, kinds: str) -> Optional[str]:
        """``path``, or where the user chooses (starting in the last export
        folder); the folder is remembered."""
        if path is None:
            default = str(Path(self.settings.value("folders/export", "")) / f"{view.export_name()}.{suffix}")
            path, _ = QFileDialog.getSaveFileName(self, title, default, kinds)
        if path:
            self.settings.setValue("folders/export", str(Path(path).parent))
        return path or None

    def export_png(self, path: Optional[str] = None) -> Optional[str]:
        """The view's figure (the CLI's plotting code, at slide resolution;
        SVG too) where it has one, else a picture of its widgets."""
        view = self.current_view()
        figure = view.export_figure()
        kinds = "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)" if figure is not None else "PNG (*.png)"
        path = self._export_path(path, view, "png", "Export the view as PNG", kinds)
        if not path:
            return None
        from cnnviz.common.fileio import atomic_path, save_figure

        if figure is not None:
            try:
                save_figure(figure, path, dpi=SLIDE_DPI)
            except (OSError, ValueError) as exc:
                self.error(f"could not write {path}: {exc}")
                return None
            self.statusBar().showMessage(f"saved {path}", 5000)
            return path
        with atomic_path(path) as tmp:
            if not view.export_image().save(str(tmp), "PNG"):
                self.error(f"could not write {path}: check the folder is writable")
                return None
        self.statusBar().showMessage(f"saved {path}", 5000)
        return path

    def export_npz(self, path: Optional[str] = None) -> Optional[str]:
        view = self.current_view()
        arrays = view.export_arrays() if view else None
        if not arrays:
            self.error("nothing to export yet: open a model and an image, and pick a layer with maps")
            return None
        path = self._export_path(path, view, "npz", "Export the view's arrays as NPZ", "NumPy (*.npz)")
        if not path:
            return None
        from cnnviz.common.fileio import atomic_path

        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        self.statusBar().showMessage(f"saved {path}: {', '.join(arrays)}", 5000)
        return path

    # ------------------------------------------------------------ progress, errors
    def cancel_jobs(self):
        self.live.stop()
        if not self.cancel_button.isVisible():
            return
        self.runner.cancel()
        for view in self.views:
            view.cancelled()
        self.statusBar().showMessage("cancelled", 4000)

    def _on_progress(self, view, done, total, message):
        if total <= 0:
            self.progress.setRange(0, 0)               # busy, size unknown
            self.progress.setFormat(message)
        else:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat(f"{message} %p%")

    def _on_busy(self, busy: bool):
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.progress.setRange(0, 1)
            self.progress.reset()

    def _tensorflow_failed(self, message: str):
        self.device.setText("Device: TensorFlow failed to start")
        self.error(f"TensorFlow failed to start: {message}")

    def error(self, message: str):
        """Show a problem in a dialog that does not block the app."""
        message = user_text(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "cnnviz", message.splitlines()[0], parent=self)
        if "\n" in message:
            box.setDetailedText(message)
        box.open()
        self._last_error = message
        self._show_model_label()

    def closeEvent(self, event):
        self.live.stop()
        self._save()
        for dialog in (self.browser, self.picker, self.weights_dialog):
            if dialog is not None:
                dialog.close()
        self.runner.shutdown(timeout=3.0)
        super().closeEvent(event)


def first_size(available: QRect) -> QSize:
    """The window's size at its first start: the screen's free area less room
    for the window frame (the status bar, the progress and Cancel stay on
    screen), up to 1920x1200 (a larger window would only spread thin)."""
    return QSize(min(DEFAULT_SIZE.width(), available.width() - FRAME_MARGIN.width()),
                 min(DEFAULT_SIZE.height(), available.height() - FRAME_MARGIN.height()))


def _shipped_cards() -> dict:
    """Dataset and test accuracy of the shipped models from their cards (no
    TensorFlow needed), until the full zoo listing arrives."""
    rows = {}
    for name in zoo.ARCHS:
        card = zoo.read_card(zoo.shipped_model_path(name))
        if card:
            rows[name] = {"dataset": card.get("dataset"),
                          "test_accuracy": card.get("metrics", {}).get("test_accuracy")}
    return rows


def xcb_problem() -> Optional[str]:
    """Why Qt's X11 platform plugin (xcb, Linux's default) cannot load, as one
    line with the fix, or None. Qt itself would abort with lines that name the
    plugin but not the system library it lacks."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or (platform and not platform.startswith("xcb")) or \
            (not platform and os.environ.get("XDG_SESSION_TYPE") == "wayland"):
        return None
    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        missing = str(exc).split(":")[0].strip()
        return (f"cnnviz-gui: Qt cannot open a window: the system library {missing} is missing. Install what Qt "
                f"needs on Linux: sudo apt-get install {QT_XCB_PACKAGES} (or run without a display: "
                "QT_QPA_PLATFORM=offscreen)")
    return None


def main(argv=None, settings: Optional[QSettings] = None) -> int:
    argv = sys.argv if argv is None else argv
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip())
        return 0
    problem = xcb_problem() if QApplication.instance() is None else None
    if problem:
        print(problem, file=sys.stderr)
        return 1
    warnings_as_notes(lambda text: print(f"cnnviz: note: {text}", file=sys.stderr))
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("cnnviz")
    try:
        args = _arguments(argv[1:])
    except CnnvizError as exc:
        print(f"cnnviz-gui: error: {exc}", file=sys.stderr)
        return 2
    window = MainWindow(settings)
    window.show()
    window.load_model(args.model or window.settings.value("model", "mnist_cnn"), preprocess=args.preprocess,
                      classes=args.classes)
    if args.image:
        window.load_image(args.image)
    return app.exec()


def _arguments(argv):
    """MODEL, IMAGE and the contract options of the command line (checked
    before any window opens)."""
    import argparse

    from cnnviz.models.contract import check_options, read_classes

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            raise CnnvizError(message)

    parser = Parser(prog="cnnviz-gui", add_help=False)
    parser.add_argument("model", nargs="?")
    parser.add_argument("image", nargs="?")
    parser.add_argument("--preprocess")
    parser.add_argument("--classes")
    args, _ = parser.parse_known_args(argv)          # Qt's own options (-platform ...) pass through
    check_options(args.preprocess)
    read_classes(args.classes)
    return args


if __name__ == "__main__":
    sys.exit(main())
