"""The adversarial view: attack the current image (FGSM, PGD, Carlini-Wagner
or DeepFool; L-infinity or L2; untargeted or towards a class) and show the
original, the perturbation amplified to be visible and the adversarial image,
with both top-5 predictions, the perturbation's norms, whether the attack
succeeded and whether its 8-bit version (what "Save adversarial image" writes)
still fools the model. The attack runs in a worker job with progress and
cancel, and is cached per (model, image, settings). The attacks, their
labels, tips, norms and options come from the library's declarations
(``cnnviz.adversarial.ATTACKS``); the budget has an editor of its own (in
1/255 steps for L-inf), every other option the generic option editor."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from cnnviz import CnnvizError
from cnnviz.adversarial import ATTACKS, DEFAULT_ATTACK, attack
from cnnviz.adversarial.base import NORM_NAMES, default_eps
from cnnviz.plots.adversarial import LOSSLESS_SUFFIXES, save_adversarial

from ..editors import OptionForm
from ..render import WEIGHTS_CMAP, as_rgb, colorize, format_value, signed_unit
from ..widgets import ColorBar, ImageLabel, PredictionPanel, fill_class_combo, heading, scroll_page
from .base import View

MIN_SIDE, MAX_SIDE = 120, 360     # on-screen size of the three images
SMALL_INPUT = 64 * 64               # pixels: larger inputs (VGG16: a minute of CPU) wait for "Run attack"
OWN_EDITORS = ("eps", "norm")      # options with editors of their own; the rest go to the option form
ERROR_STYLE = "color: #b00020"


def _uint8(image01: np.ndarray) -> np.ndarray:
    return as_rgb(np.clip(np.round(image01 * 255), 0, 255).astype(np.uint8))


def _budget_text(eps: Optional[float], norm: str) -> str:
    norm_text = NORM_NAMES[norm]
    if eps is None:
        return f"{norm_text}, no budget (the smallest perturbation it finds)"
    return f"{norm_text} eps {format_value(eps)}" + (f" (= {eps * 255:.3g}/255)" if norm == "inf" else "")


def _pct(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


class AdversarialView(View):
    title = "Adversarial"
    name = "adversarial"
    uses_layers = False

    def __init__(self, session):
        super().__init__(session)
        self.result = None                  # the AttackResult shown
        self.options: dict[str, dict] = {}   # per attack: the option form's values that differ from the defaults
        self.asked = False                  # the user pressed "Run attack" for this model and image
        self._handed_over = False           # "Use as input" made the adversarial the input image
        self._run_later = QTimer(self)      # settings apply once editing pauses
        self._run_later.setSingleShot(True)
        self._run_later.setInterval(400)
        self._run_later.timeout.connect(self._attack)
        self.page = scroll_page(self)
        box = QVBoxLayout(self.page)
        self.settings_group = self._controls()
        box.addWidget(self.settings_group)
        self.summary = heading("")
        box.addWidget(self.summary)
        columns = QHBoxLayout()
        for group in self._columns():
            columns.addWidget(group, 1)
        box.addLayout(columns)
        box.addStretch(1)
        self._method_changed()

    # -------------------------------------------------------------- layout
    def _controls(self) -> QGroupBox:
        group = QGroupBox("Attack")
        grid = QGridLayout(group)
        self.method = QComboBox()
        for i, spec in enumerate(ATTACKS.values()):
            self.method.addItem(spec.label, spec.name)
            self.method.setItemData(i, spec.tip, Qt.ItemDataRole.ToolTipRole)
        self.method.setCurrentIndex(self.method.findData(DEFAULT_ATTACK))
        self.norm = QComboBox()
        self.norm.setToolTip(ATTACKS[DEFAULT_ATTACK].option("norm").help)
        self.eps = QDoubleSpinBox()
        self.eps.setToolTip("the perturbation budget, in pixel values (L-inf: in 1/255 steps of the 8-bit range)")
        self.eps_note = QLabel()
        self.form = OptionForm()
        self.form.changed.connect(self._options_changed)
        self.target = QComboBox()
        self.target.setToolTip("untargeted: any other class will do; a class: make the model say that class")
        self.run_button = QPushButton("Run attack")
        self.run_button.clicked.connect(self.run)
        self.save_button = QPushButton("Save adversarial image…")
        self.save_button.setToolTip("write the 8-bit adversarial image (PNG, lossless) to open it later anywhere")
        self.save_button.clicked.connect(lambda: self.save_image())
        self.use_button = QPushButton("Use as input")
        self.use_button.setToolTip("make the 8-bit adversarial the input image (then explain it, or browse its layers)")
        self.use_button.clicked.connect(self.use_as_input)
        eps_row = QHBoxLayout()
        eps_row.addWidget(self.eps)
        eps_row.addWidget(self.eps_note, 1)
        for col, (label, widget) in enumerate((("Method", self.method), ("Norm", self.norm), ("Target", self.target))):
            grid.addWidget(QLabel(label), 0, 2 * col)
            grid.addWidget(widget, 0, 2 * col + 1)
        grid.addWidget(QLabel("eps"), 1, 0)
        grid.addLayout(eps_row, 1, 1, 1, 5)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.save_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        grid.addLayout(buttons, 2, 0, 1, 6)
        grid.setRowStretch(3, 1)
        grid.addWidget(self.form, 0, 6, 4, 1)           # the attack's other options, beside the budget
        grid.setColumnMinimumWidth(6, 260)
        grid.setColumnStretch(7, 1)
        self.method.currentIndexChanged.connect(lambda _: self._method_changed())
        self.norm.currentIndexChanged.connect(lambda _: self._norm_changed())
        for signal in (self.eps.valueChanged, self.target.currentIndexChanged):
            signal.connect(lambda *_: self._settings_changed())
        return group

    def _columns(self) -> list[QGroupBox]:
        self.original_group = QGroupBox("Original")
        box = QVBoxLayout(self.original_group)
        self.original_view = ImageLabel(MIN_SIDE)
        self.original_caption = heading("")
        self.original_top = PredictionPanel()
        for widget in (self.original_view, self.original_caption, self.original_top):
            box.addWidget(widget)
        box.addStretch(1)

        self.perturbation_group = QGroupBox("Perturbation (amplified to be visible)")
        box = QVBoxLayout(self.perturbation_group)
        self.perturbation_view = ImageLabel(MIN_SIDE)
        self.perturbation_bar = ColorBar(WEIGHTS_CMAP, width=80)
        self.perturbation_caption = heading("")
        for widget in (self.perturbation_view, self.perturbation_bar, self.perturbation_caption):
            box.addWidget(widget)
        box.addStretch(1)

        self.adversarial_group = QGroupBox("Adversarial")
        box = QVBoxLayout(self.adversarial_group)
        self.adversarial_view = ImageLabel(MIN_SIDE)
        self.adversarial_caption = heading("")
        self.adversarial_top = PredictionPanel()
        for widget in (self.adversarial_view, self.adversarial_caption, self.adversarial_top):
            box.addWidget(widget)
        box.addStretch(1)
        return [self.original_group, self.perturbation_group, self.adversarial_group]

    def resizeEvent(self, event):
        super().resizeEvent(event)
        side = int(np.clip((event.size().width() - 60) // 3 - 60, MIN_SIDE, MAX_SIDE))
        for view in (self.original_view, self.perturbation_view, self.adversarial_view):
            view.set_side(side)

    # -------------------------------------------------------------- settings
    def spec(self):
        """The chosen attack's declaration."""
        return ATTACKS[self.method.currentData()]

    def _method_changed(self) -> None:
        """The attack's norms (its usual one first), and its options in the form."""
        spec = self.spec()
        self.norm.blockSignals(True)
        self.norm.clear()
        for norm in spec.norms:
            self.norm.addItem(NORM_NAMES[norm], norm)
        self.norm.setEnabled(len(spec.norms) > 1)
        self.norm.blockSignals(False)
        specs = [o for o in spec.options if o.name not in OWN_EDITORS and not o.engine]
        self.form.build(spec.name, specs, self.options.get(spec.name, {}))
        self._norm_changed()

    def _options_changed(self) -> None:
        values = self.form.check()
        if values is not None:
            self.options[self.spec().name] = values
            self._settings_changed()

    def _norm_changed(self) -> None:
        """The eps editor in the norm's units, at the usual budget (none for
        the minimal-perturbation attacks)."""
        s, norm = self.session, self.norm.currentData()
        self.eps.blockSignals(True)
        if norm == "inf":
            self.eps.setRange(0, 255)
            self.eps.setDecimals(1)
            self.eps.setSingleStep(1)
            self.eps.setSuffix(" /255")
        else:
            self.eps.setRange(0, 1000)
            self.eps.setDecimals(3)
            self.eps.setSingleStep(0.1)
            self.eps.setSuffix("")
        minimal = self.spec().minimal
        self.eps.setSpecialValueText("no cap" if minimal else "")
        if minimal or s.model is None:
            self.eps.setValue(0)
        else:
            eps = default_eps(s.model, norm)
            self.eps.setValue(eps * 255 if norm == "inf" else eps)
        self.eps.blockSignals(False)
        self._settings_changed()

    def _settings_changed(self) -> None:
        eps = self._eps()
        self.eps_note.setText("" if eps is None else f"= {format_value(eps)} in [0, 1] pixel units"
                              if self.norm.currentData() == "inf" else "in [0, 1] pixel units")
        if self.is_current():
            self._run_later.start()

    def _eps(self) -> Optional[float]:
        value = self.eps.value()
        if self.spec().minimal and value == 0:
            return None
        return value / 255 if self.norm.currentData() == "inf" else value

    def _fill_targets(self) -> None:
        info = self.session.info
        fill_class_combo(self.target, info.classes if info else (), "untargeted (any other class)")

    def set_target(self, index: Optional[int]) -> None:
        """Attack towards class ``index`` (None: untargeted)."""
        self.target.setCurrentIndex(self.target.findData(index) if index is not None else 0)

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        if "model" in changed:
            self._fill_targets()
            self._norm_changed()                      # the model's usual budget
        if changed & {"model", "image"}:
            self.asked = False
        if changed == {"image"} and self._handed_over:
            self._handed_over = False                 # our own adversarial became the input: show it, do not
            self.summary.setText("This adversarial example is now the input image (see the other tabs). Press "
                                 "“Run attack” to attack it in turn.")           # attack it unasked
            self.summary.setStyleSheet("")
            self.use_button.setEnabled(False)
            return
        self._handed_over = False
        if changed & {"model", "image", "work"}:
            self._attack()

    def left(self) -> None:
        self._run_later.stop()
        self.session.forget(self.jobs("attack"))
        self.refresh_when_shown()                     # from the cache when it had finished

    def cancelled(self) -> None:
        if self.session.wanted(self.jobs("attack")) is not None and self.result is None:
            self._clear("Cancelled: press “Run attack” to try again.")
        self.session.forget(self.jobs("attack"))

    def _problem(self) -> Optional[str]:
        return self.classifier_problem("attack", "Open an image to attack.")

    def _clear(self, text: str, error: bool = False) -> None:
        self.result = None
        self.summary.setText(text)
        self.summary.setStyleSheet(ERROR_STYLE if error else "")
        for view in (self.original_view, self.perturbation_view, self.adversarial_view):
            view.show_array(None, "")
        for label in (self.original_caption, self.perturbation_caption, self.adversarial_caption):
            label.setText("")
        for panel in (self.original_top, self.adversarial_top):
            panel.clear()
        self.perturbation_bar.setVisible(False)
        for button in (self.save_button, self.use_button):
            button.setEnabled(False)

    # -------------------------------------------------------------- attacking
    def run(self) -> None:
        """Attack the current image with the current settings (the "Run attack" button)."""
        self.asked = True
        self._attack()

    def _settings(self) -> dict:
        method = self.method.currentData()
        return dict(method=method, norm=self.norm.currentData(), eps=self._eps(), target=self.target.currentData(),
                    **self.options.get(method, {}))

    def _attack(self) -> None:
        """Attack at once (or show the cached attack); on a large input only once asked to."""
        self._run_later.stop()
        if not self.is_current():
            self.refresh_when_shown()
            return
        problem = self._problem()
        self.settings_group.setEnabled(problem is None)
        if problem:
            self.session.forget(self.jobs("attack"))
            self._clear(f"<b>Adversarial</b>: {problem}")
            return
        s = self.session
        model, pixels, settings = s.model, s.image.pixels, self._settings()
        key = s.key("attack", *settings.items())
        h, w = pixels.shape[:2]
        if h * w > SMALL_INPUT and not self.asked and key not in s.cache:
            s.forget(self.jobs("attack"))
            self._clear(f"Attacks on {h}×{w} images take a while here (a forward and backward pass per step): "
                        "choose the settings and press “Run attack”.")
            return

        def work(progress, cancel):
            result = attack(model, pixels, progress=progress, cancel=cancel, **settings)
            result.rounded_probs          # the 8-bit image's predictions (a forward pass): here, not on the GUI thread
            return result

        if not s.compute(self.jobs("attack"), key, work, self._show, self._failed):
            self._clear(f"Attacking <i>{s.image.source}</i> with {ATTACKS[settings['method']].label}…")

    def _failed(self, message: str) -> None:
        self._clear(f"Cannot attack: {message.splitlines()[0]}", error=True)

    def _show(self, result) -> None:
        self.result = result
        self.summary.setStyleSheet("")
        self.summary.setText(self._summary(result))
        orig, adv = result.top("original")[0], result.top("adversarial")[0]
        self.original_view.show_array(_uint8(result.original[0]))
        self.original_caption.setText(f"the model says <b>{orig[0].name}</b> ({_pct(orig[0].probability)})")
        self.original_top.show_predictions(orig)
        self.adversarial_view.show_array(_uint8(result.adversarial[0]))
        verdict = "<b style='color:#b00020'>fooled</b>" if result.success[0] else "not fooled"
        self.adversarial_caption.setText(f"the model says <b>{adv[0].name}</b> ({_pct(adv[0].probability)}): "
                                         f"{verdict}")
        self.adversarial_top.show_predictions(adv)
        self._show_perturbation(result.perturbation[0])
        for button in (self.save_button, self.use_button):
            button.setEnabled(True)

    def _show_perturbation(self, delta: np.ndarray) -> None:
        """Gray images: the signed change in red (brighter) and blue (darker);
        colour images: the change itself, stretched so the largest is full range."""
        size = float(np.abs(delta).max())
        self.perturbation_bar.setVisible(delta.shape[-1] == 1)
        if delta.shape[-1] == 1:
            scaled, _ = signed_unit(delta[..., 0])
            self.perturbation_view.show_array(colorize(scaled, WEIGHTS_CMAP))
            self.perturbation_bar.set_scale(WEIGHTS_CMAP, f"−{format_value(size)}", f"+{format_value(size)}", "")
            how = "pixel change: red brighter, blue darker, white unchanged"
        else:
            amp = 0.5 / size if size > 0 else 1.0
            self.perturbation_view.show_array(_uint8(np.clip(0.5 + amp * delta, 0, 1)))
            how = f"the change ×{amp:.0f}, grey: unchanged"
        r = self.result
        self.perturbation_caption.setText(f"{how}<br>L-inf {r.linf[0]:.4f} (= {r.linf[0] * 255:.1f}/255), "
                                          f"L2 {r.l2[0]:.3f}")

    def _summary(self, r) -> str:
        def name(c):
            return f"“{r.classes[int(c)]}” [{int(c)}]"

        settings = f"<b>{ATTACKS[r.method].label}</b>, {_budget_text(r.eps, r.norm)}, {r.settings}"
        aim = f"targeted at {name(r.target[0])}" if r.targeted else f"untargeted, away from {name(r.labels[0])}"
        adv = r.top("adversarial", 1)[0][0]
        outcome = (f"<b style='color:#b00020'>Fools the model</b> after {int(r.steps_used[0])} step(s): now "
                   f"{name(adv.index)} ({_pct(adv.probability)})" if r.success[0]
                   else f"<b>Does not fool the model</b> in {int(r.steps_used[0])} step(s): still "
                        f"{name(adv.index)} ({_pct(adv.probability)})")
        rounded = r.top("rounded", 1)[0][0]
        verdict = ("still fools the model" if r.rounded_success[0] else
                   "rounding to 8 bits undoes the attack" if r.success[0] else "does not fool it either")
        lines = [f"{settings}; {aim}.", f"{outcome}. {r.seconds:.2f} s.",
                 f"8-bit image (what Save writes): {name(rounded.index)} ({_pct(rounded.probability)}): {verdict}."]
        lines += [f"<small>{note}</small>" for note in r.notes if "8-bit" not in note]
        return "<br>".join(lines)

    # -------------------------------------------------------------- saving
    def save_image(self, path: Optional[str] = None) -> Optional[str]:
        """Write the 8-bit adversarial image (a lossless format)."""
        if self.result is None:
            return None
        if path is None:
            stem = Path(self.session.image.source.replace("skimage:", "")).stem or "image"
            suffixes = " ".join(f"*{suffix}" for suffix in LOSSLESS_SUFFIXES)
            path, _ = QFileDialog.getSaveFileName(self, "Save the adversarial image",
                                                  f"{stem}_{self.result.method}_adversarial.png",
                                                  f"Lossless images ({suffixes})")
        if not path:
            return None
        try:
            save_adversarial(self.result, path)
        except (CnnvizError, OSError) as exc:
            self.session.error.emit(f"cannot save the adversarial image: {exc}")
            return None
        fools = "still fools" if self.result.rounded_success[0] else "does not fool"
        self.message.emit(f"saved {path}: the 8-bit adversarial image, which {fools} the model")
        return path

    def use_as_input(self) -> None:
        if self.result is not None:
            self._handed_over = True
            pixels = self.result.rounded[0]
            source = f"{self.result.method} adversarial of {self.session.image.source}"
            self.image_picked.emit(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, source)

    # -------------------------------------------------------------- export, settings
    def export_figure(self):
        """``cnnviz attack``'s figure of the attack shown."""
        if self.result is None:
            return None
        from cnnviz.plots.adversarial import attack_figure  # matplotlib: heavy, loaded with the first figure

        return attack_figure(self.result, title=f"{self.session.info.name}: {self.session.image.source}")

    def export_arrays(self):
        r = self.result
        if r is None:
            return None
        return {"original": r.original[0], "adversarial": r.adversarial[0], "perturbation": r.perturbation[0],
                "adversarial_8bit": r.rounded[0], "original_probs": r.original_probs[0],
                "adversarial_probs": r.adversarial_probs[0], "adversarial_8bit_probs": r.rounded_probs[0],
                "method": np.array(r.method), "norm": np.array(r.norm), "eps": np.array(np.nan if r.eps is None
                                                                                         else r.eps),
                "steps": np.array(r.steps), "target": np.array(-1 if r.target is None else int(r.target[0])),
                "success": np.array(bool(r.success[0])), "success_8bit": np.array(bool(r.rounded_success[0]))}

    def export_name(self) -> str:
        return f"{super().export_name()}_{self.method.currentData()}"

    def settings(self) -> dict:
        return {"method": self.method.currentData(), "norm": self.norm.currentData()}

    def restore(self, state: dict) -> None:
        for box, value in ((self.method, state.get("method")), (self.norm, state.get("norm"))):
            if box.findData(value) >= 0:
                box.setCurrentIndex(box.findData(value))
