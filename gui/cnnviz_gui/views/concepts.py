"""The concepts view: at the current layer, TCAV (Kim et al. 2018) tests
concept folders the user names against random images, for a class (bars per
concept with significance marks); CRAFT (Fel et al. 2023) finds the class's
own concepts, shown by their most typical crops and ranked by importance;
clicking a concept shows where it is in the current image. Both run in a
worker job with progress and cancel; the folders are remembered."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from cnnviz.concepts import concept_maps, craft, tcav

from ..render import as_rgb, overlay, tile, to_pixmap
from ..widgets import ImageLabel, fill_class_combo, heading, scroll_page
from .base import View
from .train import figure_rgb

ERROR_STYLE = "color: #b00020"
CROPS_SHOWN = 4
SIDE_BY_SIDE = 860        # tab width (px) from which TCAV and CRAFT sit side by side


class ConceptsView(View):
    title = "Concepts"
    name = "concepts"
    uses_layers = True

    def __init__(self, session):
        super().__init__(session)
        self.tcav_result = None
        self.craft_result = None
        self.concepts: list[tuple[str, str]] = []       # (name, folder), remembered
        self.random_folder: Optional[str] = None
        self.class_folder: Optional[str] = None
        self.page = scroll_page(self)
        box = QVBoxLayout(self.page)
        box.addWidget(self._images_group())
        self.columns = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.columns.addWidget(self._tcav_group(), 1)
        self.columns.addWidget(self._craft_group(), 1)
        box.addLayout(self.columns)
        box.addStretch(1)

    # -------------------------------------------------------------- layout
    def _images_group(self) -> QGroupBox:
        group = QGroupBox("Class")
        row = QHBoxLayout(group)
        self.target = QComboBox()
        self.target.setToolTip("the class whose score TCAV tests and whose concepts CRAFT finds")
        self.class_label = QLabel()
        self.class_label.setWordWrap(True)
        choose = QPushButton("Class folder…")
        choose.setToolTip("a folder of this class's images, or a dataset folder with one sub-folder per class")
        choose.clicked.connect(lambda: self.choose_class_folder())
        self.test_set_button = QPushButton("Test set")
        self.test_set_button.setToolTip("use the model's test set (MNIST, CIFAR-10) for the class's images")
        self.test_set_button.clicked.connect(lambda: self.set_class_folder(None))
        for widget in (QLabel("Class"), self.target):
            row.addWidget(widget)
        row.addWidget(self.class_label, 1)
        row.addWidget(choose)
        row.addWidget(self.test_set_button)
        self.target.currentIndexChanged.connect(lambda _: self._stale())
        return group

    def _tcav_group(self) -> QGroupBox:
        group = QGroupBox("TCAV: does the layer use concepts you name?")
        grid = QGridLayout(group)
        self.concept_list = QListWidget()
        self.concept_list.setMaximumHeight(110)
        self.concept_list.setToolTip("each concept is a folder of its example images, named after the folder")
        add = QPushButton("Add concept folder…")
        add.clicked.connect(lambda: self.add_concept())
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_concept)
        self.random_label = QLabel()
        self.random_label.setWordWrap(True)
        random_button = QPushButton("Random folder…")
        random_button.setToolTip("counterexamples: varied images without the concepts, drawn into two random sets "
                                 "per run")
        random_button.clicked.connect(lambda: self.choose_random_folder())
        self.runs = QSpinBox()
        self.runs.setRange(2, 100)
        self.runs.setValue(10)
        self.runs.setToolTip("random runs of the significance test (the paper: at least 10)")
        self.tcav_button = QPushButton("Run TCAV")
        self.tcav_button.clicked.connect(self.run_tcav)
        self.tcav_summary = heading("")
        self.tcav_view = ImageLabel(420, "")
        buttons = QHBoxLayout()
        for widget in (add, remove):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        random_row = QHBoxLayout()
        random_row.addWidget(self.random_label, 1)
        random_row.addWidget(random_button)
        grid.addWidget(self.concept_list, 0, 0, 1, 4)
        grid.addLayout(buttons, 1, 0, 1, 4)
        grid.addLayout(random_row, 2, 0, 1, 4)
        grid.addWidget(QLabel("Runs"), 3, 0)
        grid.addWidget(self.runs, 3, 1)
        grid.addWidget(self.tcav_button, 3, 2)
        grid.setColumnStretch(3, 1)
        grid.addWidget(self.tcav_summary, 4, 0, 1, 4)
        grid.addWidget(self.tcav_view, 5, 0, 1, 4)
        return group

    def _craft_group(self) -> QGroupBox:
        group = QGroupBox("CRAFT: which concepts did the model find for the class?")
        grid = QGridLayout(group)
        self.k = QSpinBox()
        self.k.setRange(1, 50)
        self.k.setValue(6)
        self.k.setToolTip("concepts to find (NMF components)")
        self.patch = QSpinBox()
        self.patch.setRange(0, 1024)
        self.patch.setSpecialValueText("auto")
        self.patch.setToolTip("crop side in pixels (auto: 2/7 of the input side, 64 at 224)")
        self.craft_button = QPushButton("Run CRAFT")
        self.craft_button.clicked.connect(self.run_craft)
        self.craft_summary = heading("")
        self.concept_view = QListWidget()
        self.concept_view.setViewMode(QListWidget.ViewMode.ListMode)
        self.concept_view.setIconSize(QSize(CROPS_SHOWN * 44, 44))
        self.concept_view.setToolTip("click a concept to see where it is in the current image")
        self.concept_view.currentRowChanged.connect(lambda _: self.show_map())
        self.map_caption = heading("")
        self.map_view = ImageLabel(220, "")
        for col, (label, widget) in enumerate((("Concepts", self.k), ("Crop", self.patch))):
            grid.addWidget(QLabel(label), 0, 2 * col)
            grid.addWidget(widget, 0, 2 * col + 1)
        grid.addWidget(self.craft_button, 0, 4)
        grid.setColumnStretch(5, 1)
        grid.addWidget(self.craft_summary, 1, 0, 1, 6)
        grid.addWidget(self.concept_view, 2, 0, 1, 6)
        grid.addWidget(self.map_caption, 3, 0, 1, 6)
        grid.addWidget(self.map_view, 4, 0, 1, 6)
        return group

    def resizeEvent(self, event):
        """TCAV beside CRAFT on a wide tab, above it on a narrow one."""
        super().resizeEvent(event)
        wide = event.size().width() >= SIDE_BY_SIDE
        self.columns.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)

    # -------------------------------------------------------------- folders
    def add_concept(self, folder: Optional[str] = None) -> None:
        folder = folder or QFileDialog.getExistingDirectory(self, "A folder of one concept's example images",
                                                            self._start_folder())
        if not folder:
            return
        name = Path(folder).name or folder
        taken = {n for n, _ in self.concepts}
        n = 2
        while name in taken:
            name, n = f"{Path(folder).name}_{n}", n + 1
        self.concepts.append((name, folder))
        self._show_folders()

    def remove_concept(self) -> None:
        row = self.concept_list.currentRow()
        if 0 <= row < len(self.concepts):
            del self.concepts[row]
            self._show_folders()

    def choose_random_folder(self, folder: Optional[str] = None) -> None:
        folder = folder or QFileDialog.getExistingDirectory(self, "A folder of random images", self._start_folder())
        if folder:
            self.random_folder = folder
            self._show_folders()

    def choose_class_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The class's images (or a dataset with class sub-folders)",
                                                  self._start_folder())
        if folder:
            self.set_class_folder(folder)

    def set_class_folder(self, folder: Optional[str]) -> None:
        self.class_folder = folder
        self._show_folders()
        self._stale()

    def _start_folder(self) -> str:
        known = [f for _, f in self.concepts] + [self.random_folder or "", self.class_folder or ""]
        return str(Path(next((f for f in known if f), "")).parent) if any(known) else ""

    def _show_folders(self) -> None:
        self.concept_list.clear()
        for name, folder in self.concepts:
            item = QListWidgetItem(f"{name}   ({_short(folder)})")
            item.setToolTip(folder)
            self.concept_list.addItem(item)
        if not self.concepts:
            self.concept_list.addItem("(no concepts yet: add a folder of each concept's example images)")
        dataset = self.session.model_dataset() if self.session.model is not None else None
        source = _short(self.class_folder) if self.class_folder else dataset
        self.random_label.setText(f"Random images: {_short(self.random_folder)}" if self.random_folder else
                                  f"Random images: a sample of {source or 'the dataset'}")
        self.random_label.setToolTip(self.random_folder or "")
        self.class_label.setText(f"images from {source}" + ("" if self.class_folder else " (test set)")
                                 if source else "choose a folder of its images")
        self.class_label.setToolTip(self.class_folder or "")
        self.test_set_button.setEnabled(bool(self.class_folder) and dataset is not None)
        self._enable()

    def _images(self):
        return self.class_folder or self.session.model_dataset()

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        if "model" in changed:
            info = self.session.info
            fill_class_combo(self.target, info.classes if info else (), "choose a class")
            if info and info.classes:
                self.target.setCurrentIndex(1)
        if changed & {"model", "layer"}:
            self._stale()
        if "image" in changed:
            self.show_map()
        self._show_folders()

    def _enable(self) -> None:
        ok = self._problem() is None
        self.tcav_button.setEnabled(ok and bool(self.concepts))
        self.craft_button.setEnabled(ok)

    def _problem(self) -> Optional[str]:
        s = self.session
        if s.model is None:
            return "No model loaded: pick one in the toolbar or File > Open model."
        if s.not_classifier:
            return f"Nothing to explain: {s.not_classifier}"
        if self.target.currentData() is None:
            return "Choose a class."
        if self._images() is None:
            return "Choose a folder of the class's images (no test set is known for this model)."
        return None

    def _stale(self) -> None:
        """The model, layer or class changed: results shown are for another question."""
        self.session.forget(self.jobs("tcav"))
        self.session.forget(self.jobs("craft"))
        self.tcav_result = self.craft_result = None
        self.tcav_view.show_array(None, "")
        self.concept_view.clear()
        self.map_view.show_array(None, "")
        self.map_caption.setText("")
        layer = self.session.layer or "the layer"
        problem = self._problem() if self.session.model is not None else None
        self.tcav_summary.setText(problem or f"Add concept folders and press “Run TCAV” to test them at {layer}.")
        self.craft_summary.setText(problem or f"Press “Run CRAFT” to find the class's concepts at {layer}.")
        for label in (self.tcav_summary, self.craft_summary):
            label.setStyleSheet("")
        self._enable()

    def cancelled(self) -> None:
        for job, label in (("tcav", self.tcav_summary), ("craft", self.craft_summary)):
            if self.session.wanted(self.jobs(job)) is not None:
                label.setText("Cancelled: press Run to try again.")
                self.session.forget(self.jobs(job))

    # -------------------------------------------------------------- TCAV
    def run_tcav(self) -> None:
        problem = self._problem()
        if problem or not self.concepts:
            self.tcav_summary.setText(problem or "Add at least one concept folder.")
            return
        s = self.session
        model, layer, target, images = s.model, s.layer, self.target.currentData(), self._images()
        concepts, random, runs = dict(self.concepts), self.random_folder, self.runs.value()
        key = s.key("tcav", layer, target, images, tuple(self.concepts), random, runs, image=False, layer=layer)

        def work(progress, cancel):
            return tcav(model, images, target, [layer], concepts, random, runs=runs, progress=progress, cancel=cancel)

        if not s.compute(self.jobs("tcav"), key, work, self._show_tcav, self._tcav_failed):
            self.tcav_summary.setText(f"Testing {len(concepts)} concept(s) at {layer} ({runs} random runs)…")

    def _tcav_failed(self, message: str) -> None:
        self.tcav_summary.setText(f"Cannot run TCAV: {message.splitlines()[0]}")
        self.tcav_summary.setStyleSheet(ERROR_STYLE)

    def _show_tcav(self, result) -> None:
        from cnnviz.plots.concepts import tcav_figure  # matplotlib: heavy, loaded with the first figure

        self.tcav_result = result
        self.tcav_summary.setStyleSheet("")
        lines = []
        for ki, concept in enumerate(result.concepts):
            verdict = "significant" if result.significant[0, ki] else "<b>not significant</b>"
            lines.append(f"<b>{concept}</b>: TCAV {result.mean[0, ki]:.2f} ± {result.std[0, ki]:.2f}, "
                         f"CAV accuracy {result.accuracies[0, ki].mean():.2f}, p = {result.p_values[0, ki]:.2g} "
                         f"({verdict})")
        skipped = sum(len(s["skipped"]) for s in result.sets)
        if skipped:
            lines.append(f"<small>skipped {skipped} unreadable file(s)</small>")
        self.tcav_summary.setText("<br>".join(lines))
        self.tcav_view.show_array(figure_rgb(tcav_figure(result)))

    # -------------------------------------------------------------- CRAFT
    def run_craft(self) -> None:
        problem = self._problem()
        if problem:
            self.craft_summary.setText(problem)
            return
        s = self.session
        model, layer, target, images = s.model, s.layer, self.target.currentData(), self._images()
        k, patch = self.k.value(), self.patch.value() or None
        key = s.key("craft", layer, target, images, k, patch, image=False, layer=layer)

        def work(progress, cancel):
            return craft(model, images, target, layer, k=k, patch=patch, limit=100, cache=True, progress=progress,
                         cancel=cancel)

        if not s.compute(self.jobs("craft"), key, work, self._show_craft, self._craft_failed):
            self.craft_summary.setText(f"Finding {k} concepts of the class at {layer}…")

    def _craft_failed(self, message: str) -> None:
        self.craft_summary.setText(f"Cannot run CRAFT: {message.splitlines()[0]}")
        self.craft_summary.setStyleSheet(ERROR_STYLE)

    def _show_craft(self, result) -> None:
        self.craft_result = result
        self.craft_summary.setStyleSheet("")
        self.craft_summary.setText(f"{len(result.bank)} concepts of <b>{result.target_name}</b> at {result.layer} "
                                   f"from {result.n_crops} crops of {result.patch} px, most important first "
                                   f"(Sobol total index); click one to see it in the image.")
        self.concept_view.blockSignals(True)
        self.concept_view.clear()
        for i, importance in enumerate(result.importances):
            crops = np.stack([_square(as_rgb(result.crops[c]), 40) for c in result.top[i][:CROPS_SHOWN]])
            item = QListWidgetItem(QIcon(to_pixmap(tile(crops, CROPS_SHOWN))), f"concept {i + 1}: {importance:.3f}")
            self.concept_view.addItem(item)
        self.concept_view.blockSignals(False)
        self.concept_view.setCurrentRow(0)

    def show_map(self) -> None:
        """Where the selected concept is in the current image (a worker job)."""
        s, result, row = self.session, self.craft_result, self.concept_view.currentRow()
        if result is None or row < 0 or s.image is None:
            self.map_view.show_array(None, "")
            self.map_caption.setText("" if result is None else "Open an image to see where the concepts are in it.")
            return
        model, x, pixels = s.model, s.image.x, s.image.pixels
        key = s.key("concept maps", result.target, hash(result.bank.tobytes()), layer=result.layer)

        def work(progress, cancel):
            return concept_maps(model, result, x[None])[0]

        def done(maps):
            m = maps[..., row]
            self.map_view.show_array(overlay(pixels, m / max(float(maps.max()), 1e-12)))
            self.map_caption.setText(f"where concept {row + 1} is in <i>{s.image.source}</i> (bright: much of it)")

        s.compute(self.jobs("maps"), key, work, done, lambda message: self.map_caption.setText(message))

    # -------------------------------------------------------------- export, settings
    def export_arrays(self):
        out = {}
        if self.tcav_result is not None:
            r = self.tcav_result
            out.update(tcav_scores=r.scores, tcav_random_scores=r.random_scores, tcav_p_values=r.p_values,
                       tcav_accuracies=r.accuracies, tcav_concepts=np.array(r.concepts))
        if self.craft_result is not None:
            r = self.craft_result
            out.update(craft_importances=r.importances, craft_bank=r.bank, craft_top_crops=r.crops[r.top[:, 0]])
        return out or None

    def settings(self) -> dict:
        return {"concepts": [list(c) for c in self.concepts], "random": self.random_folder,
                "class_folder": self.class_folder, "runs": self.runs.value(), "k": self.k.value()}

    def restore(self, state: dict) -> None:
        self.concepts = [(str(n), str(f)) for n, f in state.get("concepts", []) if Path(str(f)).is_dir()]
        random, folder = state.get("random"), state.get("class_folder")
        self.random_folder = random if random and Path(random).is_dir() else None
        self.class_folder = folder if folder and Path(folder).is_dir() else None
        self.runs.setValue(int(state.get("runs", 10)))
        self.k.setValue(int(state.get("k", 6)))
        self._show_folders()


def _short(folder: str) -> str:
    """A folder by its last two parts (the full path goes in the tooltip)."""
    parts = Path(folder).parts
    return str(Path(*parts[-2:])) if len(parts) > 2 else folder


def _square(rgb: np.ndarray, side: int) -> np.ndarray:
    """A crop enlarged (nearest neighbour) to about ``side`` pixels for the concept list."""
    scale = max(1, side // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, scale, 0), scale, 1)
