"""Dialogs: the model picker (zoo models with dataset and test accuracy, and
recent files), VGG16's missing ImageNet weights (download with progress,
a local file, or random weights), and the dataset browser (MNIST / CIFAR-10
test images or an image folder as thumbnails with their labels)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from cnnviz.data.images import conform
from cnnviz.data.sources import NAMED
from cnnviz.data.stream import list_images, skipped_line, try_decode
from cnnviz.models import zoo

from .render import as_rgb, fit_scale, to_pixmap
from .session import Session

THUMB = 64          # thumbnail side, pixels


def model_rows(listing: Optional[list], recent: list[str]) -> list[dict]:
    """Rows of the model picker: the zoo (once listed) and recent model files."""
    rows = []
    for row in listing or [{"name": n, "dataset": (zoo.ARCHS[n].dataset if n in zoo.ARCHS else "imagenet"),
                            "input_shape": None, "parameters": None, "test_accuracy": None, "weights": "…"}
                           for n in zoo.ZOO_NAMES]:
        arch = zoo.ARCHS.get(row["name"])
        description = arch.description if arch else ("VGG16 with its ImageNet classifier" if row["name"] == "vgg16"
                                                      else "VGG16's convolutional part (any image size)")
        rows.append({**row, "spec": row["name"], "description": description})
    for path in recent:
        card = zoo.read_card(path)
        rows.append({"name": Path(path).name, "spec": path, "dataset": card.get("dataset") or "?",
                     "input_shape": card.get("input_shape"), "parameters": card.get("parameters"),
                     "test_accuracy": card.get("metrics", {}).get("test_accuracy"), "weights": "file",
                     "description": f"recent file: {path}"})
    return rows


class ModelPicker(QDialog):
    """Pick a zoo model (with its dataset and test accuracy) or a recent file."""

    chosen = Signal(str)
    COLUMNS = ("model", "dataset", "input", "parameters", "test accuracy", "weights", "description")

    def __init__(self, listing: Optional[list], recent: list[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Choose a model")
        box = QVBoxLayout(self)
        box.addWidget(QLabel("Shipped and zoo models (test accuracy from each model's card) and recent model files. "
                             "Double-click to load."))
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.cellDoubleClicked.connect(lambda row, _: self._choose(row))
        box.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        load, browse, close = QPushButton("Load"), QPushButton("Open a file…"), QPushButton("Close")
        load.setDefault(True)
        load.clicked.connect(lambda: self._choose(self.table.currentRow()))
        browse.clicked.connect(self._browse)
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        for b in (load, browse, close):
            buttons.addWidget(b)
        box.addLayout(buttons)
        self.recent = recent
        self.resize(980, 420)
        self.set_listing(listing)

    def set_listing(self, listing: Optional[list]) -> None:
        self.rows = model_rows(listing, self.recent)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            shape = "×".join("any" if s is None else str(s) for s in row["input_shape"]) if row["input_shape"] else ""
            params = f"{row['parameters']:,}" if row["parameters"] else ""
            acc = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] else "—"
            for col, text in enumerate((row["name"], row["dataset"], shape, params, acc, row["weights"],
                                        row["description"])):
                item = QTableWidgetItem(text)
                if col in (3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, col, item)
        self.table.resizeColumnsToContents()
        self._fit_width()

    def _fit_width(self) -> None:
        """Wide enough for every column (the descriptions were cut), within the screen."""
        needed = sum(self.table.columnWidth(c) for c in range(self.table.columnCount()))
        needed += self.table.verticalHeader().width() + 2 * self.table.frameWidth() + 60
        room = self.screen().availableGeometry().width() - 40 if self.screen() else needed
        if self.width() < min(needed, room):
            self.resize(min(needed, room), self.height())

    def _choose(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.chosen.emit(self.rows[row]["spec"])
            self.accept()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a Keras model", "", "Keras models (*.keras *.h5 *.hdf5)")
        if path:
            self.chosen.emit(path)
            self.accept()


class WeightsDialog(QDialog):
    """VGG16 without its ImageNet weights in the Keras cache: download them
    (progress, cancel), use a local weights file, or random weights."""

    def __init__(self, session: Session, spec: str, parent=None):
        super().__init__(parent)
        self.session, self.spec = session, spec
        self.include_top = zoo.VGG16_NAMES[spec]
        name = zoo.VGG16_WEIGHTS_FILES[self.include_top]
        mb = zoo.VGG16_WEIGHTS_BYTES[self.include_top] / 1e6
        self.setWindowTitle(f"{spec}: ImageNet weights")
        box = QVBoxLayout(self)
        text = QLabel(f"<b>{spec}</b> needs its ImageNet weights, <tt>{name}</tt> ({mb:.0f} MB), which are not in "
                      f"the Keras cache ({zoo.vgg16_weights_path(self.include_top).parent}).<br><br>"
                      "Download them once, choose a copy of that file, or explore the architecture with "
                      "<b>random weights</b>: its maps and predictions then mean nothing (the model is marked "
                      "UNTRAINED).")
        text.setWordWrap(True)
        box.addWidget(text)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        box.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        box.addWidget(self.status)
        row = QHBoxLayout()
        self.download_button = QPushButton(f"Download ({mb:.0f} MB)")
        self.download_button.clicked.connect(self.download)
        self.stop_button = QPushButton("Stop download")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setVisible(False)
        self.file_button = QPushButton("Local weights file…")
        self.file_button.clicked.connect(self.local_file)
        self.random_button = QPushButton("Random weights (untrained)")
        self.random_button.clicked.connect(self.random_weights)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        for b in (self.download_button, self.stop_button, self.file_button, self.random_button, self.cancel_button):
            row.addWidget(b)
        box.addLayout(row)
        session.runner.progress.connect(self._progress)
        self.resize(640, 220)

    def _buttons(self, downloading: bool) -> None:
        for b in (self.download_button, self.file_button, self.random_button):
            b.setEnabled(not downloading)
        self.stop_button.setVisible(downloading)
        self.progress.setVisible(downloading)

    def download(self) -> None:
        include_top = self.include_top
        self.status.setText("connecting…")
        self.status.setStyleSheet("")
        self.progress.setRange(0, 0)
        self._buttons(True)
        self.session.runner.submit(
            "download", lambda progress, cancel: zoo.download_vgg16_weights(include_top, progress=progress,
                                                                            cancel=cancel),
            self._downloaded, self._failed)

    def _progress(self, view, done, total, message):
        if view == "download" and total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.0f} of {total / 1e6:.0f} MB")
            self.status.setText(message)

    def _downloaded(self, path) -> None:
        self._buttons(False)
        self.status.setText(f"saved {path}")
        self.accept()
        self.session.load_model(self.spec)

    def _failed(self, message: str) -> None:
        self._buttons(False)
        self.status.setStyleSheet("color: #b00020")
        self.status.setText(message)

    def stop(self) -> None:
        self.session.runner.cancel("download")
        self._buttons(False)
        self.status.setStyleSheet("")
        self.status.setText("download stopped; nothing was saved")

    def local_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "VGG16 weights file", "", "Keras weights (*.h5 *.weights.h5)")
        if path:
            self.accept()
            self.session.load_model(self.spec, weights=path)

    def random_weights(self) -> None:
        self.accept()
        self.session.load_model(self.spec, weights="none")

    def reject(self) -> None:
        if self.session.runner.running("download"):
            self.session.runner.cancel("download")
        super().reject()


class ThumbModel(QAbstractListModel):
    """Thumbnails of dataset images, rendered when first shown."""

    def __init__(self):
        super().__init__()
        self.images = None         # (N, h, w[, c]) uint8, or a list of thumbnails
        self.labels = np.zeros(0, int)
        self.classes: list[str] = []
        self.rows = np.zeros(0, int)     # dataset indices shown (after the label filter)
        self._pixmaps: dict = {}

    def set_data(self, images, labels, classes) -> None:
        self.beginResetModel()
        self.images, self.labels, self.classes = images, np.asarray(labels).reshape(-1), list(classes)
        self.rows = np.arange(len(self.labels))
        self._pixmaps = {}
        self.endResetModel()

    def set_filter(self, label: Optional[int]) -> None:
        self.beginResetModel()
        self.rows = np.arange(len(self.labels)) if label is None else np.flatnonzero(self.labels == label)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        i = int(self.rows[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            return self.classes[int(self.labels[i])]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"#{i}: {self.classes[int(self.labels[i])]}"
        if role == Qt.ItemDataRole.DecorationRole:
            if i not in self._pixmaps:
                image = as_rgb(self.images[i])
                self._pixmaps[i] = to_pixmap(image, fit_scale(image.shape, THUMB))
            return self._pixmaps[i]
        if role == Qt.ItemDataRole.UserRole:
            return i
        return None


def folder_thumbnails(root: str, progress=None, cancel=None):
    """(paths, thumbnails, labels, classes, skipped) of an image folder (class
    sub-folders, or loose images), thumbnails at most THUMB pixels; skipped:
    the files that are no images or do not decode, (path, why)."""
    files = list_images(root)
    thumbs, paths, labels = [], [], []
    skipped = [(p, "not an image file") for p in files.not_images]
    for n, (path, label) in enumerate(zip(files.paths, files.labels)):
        if cancel is not None:
            cancel.check()
        if progress is not None and n % 8 == 0:
            progress(n, len(files), f"reading thumbnails of {Path(root).name}")
        image, why = try_decode(path, None)
        if image is None:
            skipped.append((path, why))
            continue
        h, w = image.shape[:2]
        s = THUMB / max(h, w)
        thumbs.append(conform(image, (max(1, round(h * s)), max(1, round(w * s))), 3) if s < 1 else as_rgb(image))
        paths.append(str(path))
        labels.append(label)
    return paths, thumbs, np.asarray(labels, int), files.classes, skipped


class DatasetBrowser(QDialog):
    """MNIST / CIFAR-10 test images or an image folder as thumbnails with
    their labels; filter by label; double-click (or Open) makes one the current
    image. Stays open while you browse."""

    picked = Signal(object, object, str)      # pixels (or None), path (or None), source text

    SOURCES = (*((f"{d.label} test set", d.name) for d in NAMED.values()), ("Image folder…", "folder"))

    def __init__(self, session: Session, parent=None, folder: Optional[str] = None):
        super().__init__(parent)
        self.session = session
        self.folder = folder
        self.paths: Optional[list[str]] = None
        self.name: Optional[str] = None
        self.setWindowTitle("Dataset browser")
        box = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Images from"))
        self.source = QComboBox()
        for text, key in self.SOURCES:
            self.source.addItem(text, key)
        self.source.activated.connect(lambda _: self.open_source(self.source.currentData(), ask=True))
        row.addWidget(self.source)
        row.addWidget(QLabel("label"))
        self.label_filter = QComboBox()
        self.label_filter.currentIndexChanged.connect(self._filter)
        row.addWidget(self.label_filter)
        self.count = QLabel("")
        row.addWidget(self.count, 1)
        box.addLayout(row)
        self.model = ThumbModel()
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 28, THUMB + 36))
        self.view.setSpacing(2)
        self.view.setModel(self.model)
        self.view.activated.connect(self._open)          # double-click or Enter
        box.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        bottom.addWidget(self.status, 1)
        open_button, close = QPushButton("Open image"), QPushButton("Close")
        open_button.clicked.connect(lambda: self._open(self.view.currentIndex()))
        close.clicked.connect(self.close)
        bottom.addWidget(open_button)
        bottom.addWidget(close)
        box.addLayout(bottom)
        self.resize(760, 600)

    # -------------------------------------------------------------- sources
    def open_source(self, key: str, ask: bool = False, folder: Optional[str] = None) -> None:
        """Show ``mnist``, ``cifar10`` or ``folder`` (asking which when ``ask``)."""
        self.source.setCurrentIndex(max(0, self.source.findData(key)))
        if key == "folder":
            folder = folder or self.folder
            if ask or not folder:
                folder = QFileDialog.getExistingDirectory(self, "Image folder (images, or one sub-folder per class)",
                                                          folder or "")
            if not folder:
                return
            self.folder = folder
            self.session.folder, self.session.patches_from_folder = folder, True    # the unit page searches it too
            self.status.setText(f"reading {folder}…")
            self.session.runner.submit("browser", lambda progress, cancel: folder_thumbnails(folder, progress, cancel),
                                       lambda r: self._show_folder(folder, r), self._failed)
            return
        self.status.setText(f"loading {key}…")
        self.session.runner.submit("browser", lambda progress, cancel: self.session.dataset(key, progress, cancel),
                                   self._show_dataset, self._failed)

    def _show_dataset(self, data) -> None:
        self.paths, self.name = None, data.name
        self._fill(data.x_test, data.y_test, data.classes)
        self.status.setText(f"{data.name} test set from {data.source}; double-click an image to open it")

    def _show_folder(self, folder: str, result) -> None:
        paths, thumbs, labels, classes, skipped = result
        self.paths, self.name = paths, Path(folder).name
        self._fill(thumbs, labels, classes)
        skipped = f"; {skipped_line(skipped, Path(folder).name)}" if skipped else ""
        self.status.setText(f"{len(paths)} images in {folder}{skipped}; double-click one to open it")

    def _failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b00020'>{message.splitlines()[0]}</span>")

    def _fill(self, images, labels, classes) -> None:
        self.model.set_data(images, labels, classes)
        self.label_filter.blockSignals(True)
        self.label_filter.clear()
        self.label_filter.addItem("all", None)
        for i, name in enumerate(classes):
            self.label_filter.addItem(f"{i}: {name}" if name != str(i) else name, i)
        self.label_filter.blockSignals(False)
        self._count()

    def _filter(self) -> None:
        self.model.set_filter(self.label_filter.currentData())
        self._count()

    def _count(self) -> None:
        self.count.setText(f"{self.model.rowCount()} of {len(self.model.labels)} images")

    def _open(self, index) -> None:
        if not index.isValid():
            return
        i = self.model.data(index, Qt.ItemDataRole.UserRole)
        label = self.model.classes[int(self.model.labels[i])]
        if self.paths is not None:
            self.picked.emit(None, self.paths[i], f"{Path(self.paths[i]).name} (label {label})")
        else:
            self.picked.emit(self.model.images[i], None, f"{self.name} test #{i} (label {label})")

    def pick(self, row: int) -> None:
        """Open the ``row``-th image shown (as a double-click would)."""
        self._open(self.model.index(row))
