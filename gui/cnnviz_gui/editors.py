"""Editors for a method's options, built from the library's declarations of
them (:class:`cnnviz.common.declare.Option`, for any family: attribution
methods, attacks, synthesis objectives): a check box for a flag, spin boxes
for numbers, a list for a fixed set of choices, a text field (empty: "auto")
for optional values. The library converts and checks the values, so a bad
one comes back as its one-line error, shown under the form."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz import CnnvizError
from cnnviz.common.declare import Option

from .messages import user_text

AUTO = "auto"
LIMIT = 10 ** 8          # spin-box range: the library, not the editor, says what is too small or too large


def _editor(spec: Option, value) -> QWidget:
    if spec.kind is bool:
        editor = QCheckBox()
        editor.setChecked(bool(value))
    elif spec.choices:
        editor = QComboBox()
        if spec.optional:
            editor.addItem(AUTO, None)
        for choice in spec.choices:
            editor.addItem(str(choice), choice)
        editor.setCurrentIndex(max(0, editor.findData(value)))
    elif spec.optional or spec.kind is str:
        editor = QLineEdit("" if value is None else str(value))
        editor.setPlaceholderText(AUTO if spec.optional else "")
    elif spec.kind is int:
        editor = QSpinBox()
        editor.setRange(-LIMIT, LIMIT)
        editor.setValue(int(value))
    else:
        editor = QDoubleSpinBox()
        editor.setDecimals(4)
        editor.setRange(-LIMIT, LIMIT)
        editor.setSingleStep(max(abs(float(spec.default or 0)) / 10, 0.01))
        editor.setValue(float(value))
    default = AUTO if spec.default is None else spec.default
    editor.setToolTip(f"{spec.help}\n{spec.name} ({spec.kind.__name__}), default {default}")
    return editor


def _changed_signal(editor: QWidget):
    if isinstance(editor, QCheckBox):
        return editor.toggled
    if isinstance(editor, QComboBox):
        return editor.currentIndexChanged
    if isinstance(editor, QLineEdit):
        return editor.textEdited
    return editor.valueChanged


class OptionForm(QWidget):
    """One method's options as a form; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self):
        super().__init__()
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        box.addLayout(self.form)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.error.setVisible(False)
        box.addWidget(self.error)
        self.method: Optional[str] = None
        self.editors: dict[str, tuple[Option, QWidget]] = {}

    def build(self, method: str, specs: list[Option], values: dict) -> None:
        """Editors for ``specs``, showing ``values`` (defaults for the rest)."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.method, self.editors = method, {}
        for spec in specs:
            editor = _editor(spec, values.get(spec.name, spec.default))
            _changed_signal(editor).connect(lambda *_: self.changed.emit())
            self.editors[spec.name] = (spec, editor)
            self.form.addRow(spec.name, editor)
        if not specs:
            self.form.addRow(QLabel("this method has no options"))
        self.show_error("")

    def values(self) -> dict:
        """The options that differ from their defaults, converted and checked
        by the library (a CnnvizError names the first bad one)."""
        out = {}
        for name, (spec, editor) in self.editors.items():
            value = self._read(spec, editor)
            if value != spec.default:
                out[name] = value
        return out

    def _read(self, spec: Option, editor: QWidget):
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QLineEdit):
            return spec.convert(editor.text(), f"{self.method}.{spec.name}")
        return editor.value()

    def show_error(self, message: str) -> None:
        self.error.setText(user_text(message).splitlines()[0] if message else "")
        self.error.setVisible(bool(message))

    def check(self) -> Optional[dict]:
        """:meth:`values`, or None after showing why they cannot be used."""
        try:
            values = self.values()
        except CnnvizError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        return values
