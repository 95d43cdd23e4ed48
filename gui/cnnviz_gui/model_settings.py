"""The model-settings dialog: how the loaded model reads its pixels and what
its outputs are called, each part with the source that gave it (options, the
model card, its layers, the default), editable here and saved to the model's
sidecar card (``<stem>.card.json``), as ``cnnviz card`` does, so every later
command, script and session reads the model the same way."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from cnnviz import CnnvizError
from cnnviz.models.contract import read_classes
from cnnviz.models.preprocessing import PREPROCESSING_TEXT, PREPROCESSINGS

from .session import Session


class ModelSettingsDialog(QDialog):
    """Preprocessing and class names of the loaded model (a list typed here,
    or a text file with one name a line), for this session or saved to its card."""

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        info = session.info
        self.setWindowTitle(f"Model settings: {info.name}")
        box = QVBoxLayout(self)
        self.contract = QLabel("<br>".join(_escape(line) for line in info.describe()))
        self.contract.setWordWrap(True)
        box.addWidget(self.contract)
        form = QFormLayout()
        self.preprocess = QComboBox()
        for mode in PREPROCESSINGS:
            self.preprocess.addItem(f"{mode}: {PREPROCESSING_TEXT[mode]}", mode)
        self.preprocess.setCurrentIndex(PREPROCESSINGS.index(info.preprocessing))
        self.preprocess.setToolTip("how 0-255 pixels become the model's input: as it was trained")
        form.addRow("Preprocessing", self.preprocess)
        self.classes = QPlainTextEdit("\n".join(info.classes))
        self.classes.setToolTip("one class name a line, in the model's output order")
        self.classes.setMinimumHeight(140)
        names = QVBoxLayout()
        names.addWidget(self.classes)
        self.file_button = QPushButton("Load names from a file…")
        self.file_button.clicked.connect(self.load_names)
        row = QHBoxLayout()
        row.addWidget(self.file_button)
        row.addStretch(1)
        names.addLayout(row)
        form.addRow(f"Class names ({len(info.classes)})", names)
        box.addLayout(form)
        self.save = QCheckBox(f"Save to the model card ({Path(info.path).stem}.card.json)" if info.path
                              else "Save to the model card (only for a model file)")
        self.save.setEnabled(bool(info.path))
        self.save.setChecked(bool(info.path))
        self.save.setToolTip("every later command, script and session then reads the model this way; "
                             "unchecked: for this session only")
        box.addWidget(self.save)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        box.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        box.addWidget(buttons)

    def load_names(self, path: str = "") -> None:
        """Fill the names from a text file with one name a line."""
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Class names, one a line", "", "Text files (*.txt);;All (*)")
        if not path:
            return
        try:
            self.classes.setPlainText("\n".join(read_classes(path)))
        except CnnvizError as exc:
            self._fail(str(exc))

    def names(self) -> list[str]:
        return [line.strip() for line in self.classes.toPlainText().splitlines() if line.strip()]

    def accept(self) -> None:
        """Declare the settings (and save them when asked); a bad value is
        said here and the dialog stays open."""
        info, save = self.session.info, self.save.isChecked()
        preprocess, names = self.preprocess.currentData(), self.names()
        keep = lambda part, changed: changed or (save and info.source(part) == "option")   # noqa: E731
        try:
            self.session.declare(preprocess=preprocess if keep("preprocessing", preprocess != info.preprocessing)
                                 else None,
                                 classes=names if keep("classes", tuple(names) != info.classes) else None, save=save)
        except CnnvizError as exc:
            self._fail(str(exc))
            return
        super().accept()

    def _fail(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b00020'>{_escape(message)}</span>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
