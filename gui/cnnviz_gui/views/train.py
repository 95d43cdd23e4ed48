"""The train view: train a zoo architecture or a model file on MNIST,
CIFAR-10 or an image folder with the optimizer and augmentation of one's
choosing (augmentation previewed on dataset images first), or fine-tune it
as a backbone for a new dataset; the learning curves grow epoch by epoch
while the run goes on in a worker job (progress, cancel, the window stays
responsive), and the trained model then opens in the other views.

It uses only cnnviz's API: :func:`cnnviz.lab.train`,
:func:`cnnviz.lab.finetune` and the figures of
:mod:`cnnviz.plots.training`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from cnnviz.data.augment import Augmentation
from cnnviz.data.sources import NAMED
from cnnviz.data.stream import skipped_line
from cnnviz.lab.training import OPTIMIZER_DECLARATIONS
from cnnviz.models.zoo import ARCHS

from ..widgets import FigureLabel, heading, scroll_page
from .base import View

ZOO = ("mnist_small", "mnist_small_bn", "mnist_cnn", "lenet", "cifar10_cnn")
AUGMENT_SPINS = (("rotation", "Rotation °", 180, 1.0), ("width_shift", "Width shift", 1, 0.05),
                 ("height_shift", "Height shift", 1, 0.05), ("zoom", "Zoom", 1, 0.05),
                 ("channel_shift", "Channel shift", 1, 0.05), ("brightness", "Brightness", 1, 0.05))


def figure_rgb(fig) -> np.ndarray:
    """A matplotlib figure rendered to an RGB array (Agg, no Qt backend needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class TrainView(View):
    title = "Train"
    name = "train"
    uses_layers = False

    epoch_done = Signal(int, int, object)       # epoch, epochs, logs: emitted from the worker thread

    def __init__(self, session):
        super().__init__(session)
        self.history: dict[str, list[float]] = {}
        self.trained: Optional[str] = None      # the model file the last run wrote
        self.epoch_done.connect(self._on_epoch)
        box = QVBoxLayout(scroll_page(self))
        box.addWidget(self._run_group())
        box.addWidget(self._augment_group())
        box.addWidget(self._finetune_group())
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start)
        self.preview_button = QPushButton("Preview augmentation")
        self.preview_button.clicked.connect(self.preview)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        box.addLayout(buttons)
        self.status = heading("Pick a model and a dataset, then Train.")
        box.addWidget(self.status)
        self.curves = FigureLabel()                  # scaled to the page's width: the form never widens
        self.preview_image = FigureLabel()
        box.addWidget(self.curves)
        box.addWidget(self.preview_image)
        box.addStretch(1)
        self._mode_changed()
        self._model_picked(self.model.currentText())

    # -------------------------------------------------------------- layout
    def _run_group(self) -> QGroupBox:
        group = QGroupBox("Run")
        grid = QGridLayout(group)
        self.mode = QComboBox()
        self.mode.addItem("Train", "train")
        self.mode.addItem("Fine-tune (the model as a backbone)", "finetune")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(ZOO)
        self.model.setToolTip("a zoo architecture (trained from scratch) or a .keras/.h5 file")
        self.model.currentTextChanged.connect(self._model_picked)
        browse_model = QPushButton("File…")
        browse_model.clicked.connect(self._browse_model)
        self.dataset = QComboBox()
        self.dataset.setEditable(True)
        self.dataset.addItems(("", *NAMED))
        self.dataset.setToolTip("empty: the model's own dataset; or an image folder with one sub-folder per class")
        browse_data = QPushButton("Folder…")
        browse_data.clicked.connect(self._browse_dataset)
        self.optimizer = QComboBox()
        for k, declared in enumerate(OPTIMIZER_DECLARATIONS):       # the one declaration the CLI and API read
            self.optimizer.addItem(declared.name)
            self.optimizer.setItemData(k, declared.description, Qt.ItemDataRole.ToolTipRole)
        self.optimizer.setCurrentText("adam")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(0, 1)
        self.lr.setSingleStep(1e-4)
        self.lr.setSpecialValueText("default")
        self.lr.setToolTip("learning rate; default: Keras' default for the optimizer")
        self.epochs = self._spin(1, 10000, 5)
        self.batch = self._spin(1, 4096, 128)
        self.limit = self._spin(0, 10_000_000, 0)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("a class-balanced, seeded subset of the training images")
        self.validation = QDoubleSpinBox()
        self.validation.setRange(0.01, 0.99)
        self.validation.setSingleStep(0.05)
        self.validation.setValue(0.1)
        self.out = QLineEdit(str(Path.home() / "cnnviz-runs" / "run.keras"))
        self.force = QCheckBox("Replace an existing file")
        self.resume = QCheckBox("Resume an interrupted run")
        rows = ((("Mode", self.mode), ("Model", self.model), ("", browse_model)),
                (("Dataset", self.dataset), ("", browse_data), ("Optimizer", self.optimizer)),
                (("Learning rate", self.lr), ("Epochs", self.epochs), ("Batch size", self.batch)),
                (("Limit", self.limit), ("Validation", self.validation), ("", self.resume)),
                (("Write to", self.out), ("", self.force)))
        for r, row in enumerate(rows):
            for c, (label, widget) in enumerate(row):
                grid.addWidget(QLabel(label), r, 2 * c)
                grid.addWidget(widget, r, 2 * c + 1)
        return group

    def _augment_group(self) -> QGroupBox:
        group = QGroupBox("Augmentation (training only)")
        grid = QGridLayout(group)
        self.augment: dict[str, QDoubleSpinBox] = {}
        for i, (key, label, top, step) in enumerate(AUGMENT_SPINS):
            spin = QDoubleSpinBox()
            spin.setRange(0, top)
            spin.setSingleStep(step)
            self.augment[key] = spin
            grid.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            grid.addWidget(spin, i // 3, 2 * (i % 3) + 1)
        self.hflip = QCheckBox("Horizontal flip")
        self.vflip = QCheckBox("Vertical flip")
        grid.addWidget(self.hflip, 2, 1)
        grid.addWidget(self.vflip, 2, 3)
        return group

    def _finetune_group(self) -> QGroupBox:
        self.finetune_group = group = QGroupBox("Fine-tuning")
        grid = QGridLayout(group)
        self.head = QLineEdit("dense:256")
        self.head.setToolTip("new layers on the backbone, e.g. dense:256,dropout:0.5")
        self.layer = QLineEdit()
        self.layer.setPlaceholderText("below the last Dense layer")
        self.freeze_until = QLineEdit()
        self.freeze_until.setPlaceholderText("none: unfreeze all")
        self.epochs_head = self._spin(0, 10000, 5)
        self.epochs_all = self._spin(0, 10000, 5)
        self.lr_all = QDoubleSpinBox()
        self.lr_all.setDecimals(7)
        self.lr_all.setRange(1e-7, 1)
        self.lr_all.setValue(1e-5)
        for i, (label, widget) in enumerate((("Head", self.head), ("Backbone layer", self.layer),
                                             ("Freeze until", self.freeze_until), ("Epochs head", self.epochs_head),
                                             ("Epochs all", self.epochs_all), ("Learning rate all", self.lr_all))):
            grid.addWidget(QLabel(label), i // 3, 2 * (i % 3))
            grid.addWidget(widget, i // 3, 2 * (i % 3) + 1)
        return group

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def _mode_changed(self) -> None:
        finetuning = self.mode.currentData() == "finetune"
        self.finetune_group.setEnabled(finetuning)
        self.epochs.setEnabled(not finetuning)
        self.optimizer.setEnabled(not finetuning)

    def _model_picked(self, name: str) -> None:
        """A zoo architecture takes one dataset (its input shape): the dataset
        box names it, unless the user chose an image folder."""
        arch = ARCHS.get(name.strip())
        if arch is not None and self.dataset.currentText().strip() in ("", "mnist", "cifar10"):
            self.dataset.setCurrentText(arch.dataset)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model to train", "", "Keras models (*.keras *.h5 *.hdf5)")
        if path:
            self.model.setCurrentText(path)

    def _browse_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")
        if folder:
            self.dataset.setCurrentText(folder)

    # -------------------------------------------------------------- settings to arguments
    def augmentation(self) -> Augmentation:
        values = {key: spin.value() for key, spin in self.augment.items()}
        return Augmentation(horizontal_flip=self.hflip.isChecked(), vertical_flip=self.vflip.isChecked(), **values)

    def _common(self) -> dict:
        return {"dataset": self.dataset.currentText().strip() or None, "batch_size": self.batch.value(),
                "validation": self.validation.value(), "limit": self.limit.value() or None,
                "out": self.out.text().strip(), "force": self.force.isChecked(), "resume": self.resume.isChecked()}

    # -------------------------------------------------------------- running
    def start(self) -> None:
        """Train (or fine-tune) in a worker job; curves grow as epochs end."""
        from cnnviz.lab.training import train
        from cnnviz.lab.transfer import finetune

        spec = self.model.currentText().strip()
        kwargs = self._common()
        emit = self.epoch_done.emit
        if self.mode.currentData() == "finetune":
            options = {"head": self.head.text(), "layer": self.layer.text().strip() or None,
                       "freeze_until": self.freeze_until.text().strip() or None,
                       "epochs_head": self.epochs_head.value(), "epochs_all": self.epochs_all.value(),
                       "lr_all": self.lr_all.value()}
            dataset = kwargs.pop("dataset")
            if dataset is None:
                self._error("Fine-tuning needs a dataset: pick mnist, cifar10 or an image folder.")
                return

            def work(progress, cancel):
                return finetune(spec, dataset, **kwargs, **options, progress=progress, cancel=cancel,
                                on_epoch=lambda e, n, logs: emit(e, n, logs), command=f"cnnviz-gui finetune {spec}")
        else:
            try:
                augmentation = self.augmentation()
            except Exception as exc:             # a CnnvizError naming the setting
                self._error(str(exc))
                return
            options = {"epochs": self.epochs.value(), "optimizer": self.optimizer.currentText(),
                       "learning_rate": self.lr.value() or None, "augment": augmentation}

            def work(progress, cancel):
                return train(spec, **kwargs, **options, progress=progress, cancel=cancel,
                             on_epoch=lambda e, n, logs: emit(e, n, logs), command=f"cnnviz-gui train {spec}")

        self.history = {}
        self.curves.show_array(None)
        self.status.setText(f"Training {spec}…")
        self.train_button.setEnabled(False)
        self.session.runner.submit(self.jobs("run"), work, self._finished, self._error)

    def _on_epoch(self, epoch: int, epochs: int, logs: dict) -> None:
        if self.train_button.isEnabled():
            return                   # a report that arrived after Cancel
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.status.setText(f"epoch {epoch}/{epochs}: accuracy {logs.get('accuracy', 0):.4f}, "
                            f"validation accuracy {logs.get('val_accuracy', 0):.4f}")
        self._draw_curves()

    def _draw_curves(self) -> None:
        self.curves.show_array(figure_rgb(self._curves_figure()))

    def _curves_figure(self):
        from cnnviz.plots.training import curves_figure  # matplotlib: heavy, loaded with the first figure

        return curves_figure([self.history], [self.model.currentText()])

    def export_figure(self):
        """``cnnviz curves``' figure of the run shown (None before a run)."""
        return self._curves_figure() if self.history else None

    def _finished(self, result) -> None:
        self.train_button.setEnabled(True)
        self.history = result.card["history"]
        self._draw_curves()
        self.trained = str(result.model_path)
        metrics = result.card["metrics"]
        accuracy = metrics["test_accuracy"] if metrics["test_accuracy"] is not None else metrics["val_accuracy"]
        skipped = [(f["file"], f["reason"]) for f in result.card.get("skipped_files", [])]
        note = f" Note: {skipped_line(skipped, result.card['dataset'])}." if skipped else ""
        self.status.setText(f"Wrote {result.model_path} (accuracy {accuracy:.2%}); it is now the current model.{note}")
        self.session.load_model(self.trained)

    def _error(self, message: str) -> None:
        self.train_button.setEnabled(True)
        self.status.setText(f"<span style='color:#b00020'>{message}</span>")

    def cancelled(self) -> None:
        if not self.train_button.isEnabled():
            self.train_button.setEnabled(True)
            self.status.setText("Cancelled: the last finished epoch is checkpointed; tick Resume to continue.")

    def preview(self) -> None:
        """Dataset images beside augmented copies, in a worker job."""
        from cnnviz.data.augment import augment_batch
        from cnnviz.data.datasets import balanced_subset
        from cnnviz.data.sources import load_dataset
        from cnnviz.lab.training import to_unit_interval
        from cnnviz.plots.training import augmentation_figure

        try:
            aug = self.augmentation()
        except Exception as exc:
            self._error(str(exc))
            return
        arch = ARCHS.get(self.model.currentText())
        name = self.dataset.currentText().strip() or (arch.dataset if arch else next(iter(NAMED)))

        def work(progress, cancel):
            data = load_dataset(name, (96, 96, 3), progress, cancel)
            x, y = (data.x_train, data.y_train) if len(data.x_train) else (data.x_test, data.y_test)
            originals = to_unit_interval(x[balanced_subset(y, 4)])
            copies = augment_batch(np.concatenate([originals] * 4), aug, 0).reshape(4, *originals.shape)
            return figure_rgb(augmentation_figure(originals, copies, f"{data.name}: augmentation preview"))

        self.session.runner.submit(self.jobs("preview"), work,
                                   self.preview_image.show_array, self._error)
