"""The explain view: attribution maps of the current image for one class (the
predicted one unless another is chosen), several methods side by side or one
at a time, each over the image with its colour scale.

Methods and options come from the library's registry (``cnnviz.explain``);
the option editors are built from each option's default and type. Maps are
computed one after another, the methods declared slow last (on large inputs
they wait to be asked for), each in a worker job with progress and cancel, and cached per (model, image, method,
options, class). "Score faithfulness" adds each map's deletion and insertion
AUC (``cnnviz.faithfulness``) beside a random map's."""
from __future__ import annotations

from functools import partial
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from cnnviz import EXPLAIN_METHODS
from cnnviz.attribution.faithfulness import MODES, curves, random_maps
from cnnviz.attribution.registry import explain_one, explained_score, method_label, method_values, option_specs
from cnnviz.attribution.registry import method as declaration
from cnnviz.common.progress import stage
from cnnviz.plots.attribution import ABS_CMAP, SIGNED_CMAP, heatmap_rgb, overlay_rgb, scale_limits

from ..editors import OptionForm
from ..render import fit_pixmap, format_value
from ..widgets import ColorBar, fill_class_combo, heading
from .base import View

SIDE_BY_SIDE = ("saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "gradcam", "occlusion", "lime")
LIVE_CHEAP = 2                          # model passes: maps cheaper than this are computed for every live frame
SMALL_INPUT = 64 * 64                  # pixels: on larger inputs (VGG16: minutes) slow methods wait to be asked for
TEXT_HEIGHT = 150                      # a panel's title, colour bar and notes below its image
FRAME = 40                             # a panel's margins and the grid's spacing
MIN_SIDE, MAX_SIDE = 150, 560          # a map's on-screen size
CONTROLS_WIDTH = 280
NEGLIGIBLE = 1e-3                      # a score map spanning less (in probability or logit units) shows only noise


def _params_text(params: dict) -> str:
    shown = [f"{k}={format_value(v) if isinstance(v, float) else v}" for k, v in params.items()
             if not isinstance(v, np.ndarray)]
    return ", ".join(shown) or "no options"


def _notes(result) -> list[str]:
    """What a method reports beside its map."""
    notes = [f"{result.seconds:.2f} s" if result.seconds >= 1 else f"{result.seconds * 1000:.0f} ms"]
    extras = result.extras
    if "completeness_error" in extras:
        notes.append(f"completeness error {float(np.ravel(extras['completeness_error'])[0]):.1%}")
    if "score" in extras and result.method == "lime":
        notes.append(f"fit R² {float(np.ravel(extras['score'])[0]):.2f}")
    return notes


def negligible(result) -> Optional[str]:
    """Why a map of score changes (occlusion, LIME) shows noise rather than
    evidence: its whole range is under :data:`NEGLIGIBLE` of the score it
    measures (a saturated probability: 1.0 stays 1.0 whatever is covered), or None."""
    score = result.params.get("score")
    span = float(np.ptp(result.maps[0]))
    if score is None or span >= NEGLIGIBLE:
        return None
    return (f"Negligible: the whole map spans {format_value(span)} of the class {score}, so its colours show "
            "float noise, not evidence." + (" The probability is saturated; the logit score is not."
                                            if score == "probability" else ""))


class MapPanel(QFrame):
    """One method's map: what it is, the map over the image (and alone when
    shown big), its colour scale, notes and faithfulness."""

    clicked = Signal(str)
    opened = Signal(str)             # double-click: see it alone
    use_logit = Signal(str)          # measure the logit instead of the saturated probability

    def __init__(self, method: str, alone: bool = False):
        super().__init__()
        self.method, self.alone, self.side = method, alone, 200
        self.images: tuple = (None, None)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        self.title = heading(f"<b>{method_label(method)}</b>")
        box.addWidget(self.title)
        self.warning = heading("")                  # above the map: seen before its colours are believed
        self.warning.setStyleSheet("color: #b00020")
        self.logit_button = QPushButton("Use the logit score")
        self.logit_button.setToolTip("measure the class's pre-softmax logit, which does not saturate")
        self.logit_button.clicked.connect(lambda: self.use_logit.emit(self.method))
        box.addWidget(self.warning)
        box.addWidget(self.logit_button)
        self.row = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.overlay, self.heatmap = QLabel(), QLabel()
        for label in (self.overlay, self.heatmap):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            self.row.addWidget(label)
        self.heatmap.setToolTip("the map alone")
        box.addLayout(self.row)
        self.heatmap.setVisible(alone)              # only now: shown before it has a parent, it would be a window
        self.caption = heading("")
        self.colorbar = ColorBar(ABS_CMAP, width=110)
        self.notes = heading("")
        self.faithfulness = heading("")
        for widget in (self.caption, self.colorbar, self.notes, self.faithfulness):
            box.addWidget(widget)
        self.set_warning(None)
        box.addStretch(1)
        self.setToolTip("click: this method's options; double-click: see it alone")

    def set_side(self, side: int, stacked: bool = False) -> None:
        """Images of ``side`` pixels; the map alone beside the overlay, or under it when ``stacked``."""
        self.side = side
        for label in (self.overlay, self.heatmap):
            label.setMinimumSize(side, side)
        self.row.setDirection(QBoxLayout.Direction.TopToBottom if stacked else QBoxLayout.Direction.LeftToRight)
        self.colorbar.set_width(max(50, min(side - 100, 240)))
        self.setFixedWidth(side * (2 if self.alone and not stacked else 1) + FRAME)
        self._paint()

    def _paint(self) -> None:
        for label, rgb in zip((self.overlay, self.heatmap), self.images):
            if rgb is not None:
                label.setPixmap(fit_pixmap(rgb, self.side)[0])

    def show_state(self, text: str, error: bool = False) -> None:
        """No map: a line saying why (waiting, computing, failed)."""
        self.images = (None, None)
        for label in (self.overlay, self.heatmap):
            label.clear()
        self.overlay.setText(text)
        self.overlay.setStyleSheet("color: #b00020" if error else "")
        for widget in (self.caption, self.colorbar, self.notes, self.faithfulness):
            widget.setVisible(False)
        self.set_warning(None)

    def show_map(self, overlay: np.ndarray, heatmap: Optional[np.ndarray], params: str, caption: str,
                 scale: tuple, notes: str) -> None:
        self.images = (overlay, heatmap)
        self.overlay.setStyleSheet("")
        self.title.setText(f"<b>{method_label(self.method)}</b><br><small>{params}</small>")
        self.caption.setText(f"<small>{caption}</small>")
        self.colorbar.set_scale(*scale, caption="")
        self.notes.setText(f"<small>{notes}</small>")
        for widget in (self.caption, self.colorbar, self.notes):
            widget.setVisible(True)
        self._paint()

    def set_warning(self, text: Optional[str], logit: bool = False) -> None:
        """A line in red under the map (e.g. its range is negligible), with the
        button that switches to the logit score when that is the remedy."""
        self.warning.setText(f"<small>{text}</small>" if text else "")
        self.warning.setVisible(bool(text))
        self.logit_button.setVisible(bool(text) and logit)

    def show_faithfulness(self, text: str) -> None:
        self.faithfulness.setText(f"<small>{text}</small>")
        self.faithfulness.setVisible(bool(text) and self.images[0] is not None)

    def set_selected(self, selected: bool) -> None:
        self.setStyleSheet("MapPanel { border: 2px solid #00a0e0; }" if selected else "")

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.method)

    def mouseDoubleClickEvent(self, event):
        self.opened.emit(self.method)


class ExplainView(View):
    title = "Explain"
    name = "explain"
    uses_layers = False

    def __init__(self, session):
        super().__init__(session)
        self.selected = "gradcam"
        self.options: dict[str, dict] = {}          # per method: the options that differ from their defaults
        self.failed: dict[tuple, str] = {}          # cache key -> why that map could not be computed
        self.asked: set[str] = set()                # slow methods the user asked for on a large input
        self.queue: list[str] = []                  # methods still to compute, in order
        self._live_frame = 0                        # live frames seen: whose turn a slow method's is
        self.computing: Optional[str] = None
        self.scoring = False                        # a faithfulness job is running
        self.panels: dict[str, MapPanel] = {}
        self._layout_key = None
        self._apply = QTimer(self)                  # options apply once typing pauses
        self._apply.setSingleShot(True)
        self._apply.setInterval(500)
        self._apply.timeout.connect(self._options_edited)
        outer = QHBoxLayout(self)
        self.controls = self._controls()
        outer.addWidget(self.controls)
        right = QVBoxLayout()
        self.header = heading("")
        right.addWidget(self.header)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget()
        self.grid = QGridLayout(page)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll.setWidget(page)
        right.addWidget(self.scroll, 1)
        outer.addLayout(right, 1)
        session.runner.progress.connect(self._progress)
        self._select(self.selected)

    # -------------------------------------------------------------- controls
    def _controls(self) -> QScrollArea:
        column = QWidget()
        box = QVBoxLayout(column)
        box.setContentsMargins(0, 0, 4, 0)
        box.addWidget(self._methods_group())
        self.options_group = QGroupBox()
        obox = QVBoxLayout(self.options_group)
        self.form = OptionForm()
        self.form.changed.connect(self._apply.start)
        obox.addWidget(self.form)
        defaults = QPushButton("Defaults")
        defaults.setToolTip("reset this method's options")
        defaults.clicked.connect(self._defaults)
        obox.addWidget(defaults, 0, Qt.AlignmentFlag.AlignRight)
        box.addWidget(self.options_group)
        box.addWidget(self._display_group())
        box.addWidget(self._faithfulness_group())
        box.addStretch(1)
        for combo in column.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        column.setFixedWidth(CONTROLS_WIDTH)
        scroll = QScrollArea()
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFixedWidth(CONTROLS_WIDTH + self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 2)
        return scroll

    def _methods_group(self) -> QGroupBox:
        group = QGroupBox("Methods")
        box = QVBoxLayout(group)
        self.methods = QListWidget()
        self.methods.setToolTip("ticked: shown side by side; selected: its options below, and the one shown alone")
        for method in EXPLAIN_METHODS:
            item = QListWidgetItem(method_label(method))
            item.setData(Qt.ItemDataRole.UserRole, method)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if method in SIDE_BY_SIDE else Qt.CheckState.Unchecked)
            self.methods.addItem(item)
        self.methods.setFixedHeight(self.methods.sizeHintForRow(0) * len(EXPLAIN_METHODS) + 6)
        self.methods.currentItemChanged.connect(
            lambda item, _: item is not None and self._select(item.data(Qt.ItemDataRole.UserRole)))
        self.methods.itemChanged.connect(lambda _: self._restart())
        box.addWidget(self.methods)
        self.compute_button = QPushButton("Compute missing maps")
        self.compute_button.setToolTip("compute the maps not shown yet (after a cancel or a failure)")
        self.compute_button.clicked.connect(self._compute_missing)
        box.addWidget(self.compute_button)
        return group

    def _display_group(self) -> QGroupBox:
        group = QGroupBox("Display")
        form = QFormLayout(group)
        self.mode = QComboBox()
        self.mode.addItem("side by side", "grid")
        self.mode.addItem("one at a time", "single")
        self.mode.setToolTip("side by side: the ticked methods; one at a time: the selected method, larger, with "
                             "its map alone")
        self.mode.currentIndexChanged.connect(lambda _: self._restart())
        form.addRow("Show", self.mode)
        self.target = QComboBox()
        self.target.setToolTip("the class whose evidence the maps show")
        self.target.currentIndexChanged.connect(self._target_changed)
        form.addRow("Class", self.target)
        self.signed = QComboBox()
        self.signed.addItem("signed (red +, blue −)", True)
        self.signed.addItem("absolute |value|", False)
        self.signed.setToolTip("for methods whose maps have a sign (gradient × input, Integrated Gradients, "
                               "occlusion, LIME): show both directions, or the magnitude only")
        self.signed.currentIndexChanged.connect(lambda _: self._redraw())
        form.addRow("Signed maps", self.signed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity_label = QLabel("55%")
        self.opacity.valueChanged.connect(lambda _: self._redraw())
        row = QHBoxLayout()
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        form.addRow("Opacity", row)
        self.percentile = QDoubleSpinBox()
        self.percentile.setRange(50, 100)
        self.percentile.setDecimals(1)
        self.percentile.setValue(99)
        self.percentile.setPrefix("p")
        self.percentile.setToolTip("colours saturate at this percentile of the map's values (a few extreme pixels "
                                   "would otherwise leave the rest dark)")
        self.percentile.valueChanged.connect(lambda _: self._redraw())
        form.addRow("Clip at", self.percentile)
        return group

    def _faithfulness_group(self) -> QGroupBox:
        group = QGroupBox("Faithfulness")
        box = QVBoxLayout(group)
        self.score_button = QPushButton("Score faithfulness")
        self.score_button.setToolTip("deletion and insertion curves of every map shown (cnnviz.faithfulness)")
        self.score_button.clicked.connect(self.score_faithfulness)
        box.addWidget(self.score_button)
        box.addWidget(heading("<small>Deletion: the class probability as the most important regions are blurred "
                              "away, most important first (a low area ↓ is better). Insertion: as they are put "
                              "back into a blurred image (a high area ↑ is better).</small>"))
        self.random_scores = heading("")
        box.addWidget(self.random_scores)
        return group

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        if "model" in changed:
            self._fill_targets()
            self._drop_stale_options()
            self._select(self.selected)                # Grad-CAM's layers are the new model's
        if changed & {"model", "image"}:
            self.failed.clear()
            self.asked.clear()
            self.random_scores.setText("")
        if changed & {"model", "image", "work"}:
            self._restart()

    def left(self) -> None:
        self._stop()
        self.refresh_when_shown()

    def cancelled(self) -> None:
        if self.queue or self.computing:
            for method in self._shown():
                if self.result(method) is None and method in self.panels:
                    self.panels[method].show_state("cancelled: press “Compute missing maps”")
        self._stop()

    def _stop(self) -> None:
        if self.scoring:
            self.random_scores.setText("Scoring stopped: press “Score faithfulness” again.")
        self.queue, self.computing, self.scoring = [], None, False
        for job in ("map", "faithfulness", "predict"):
            self.session.forget(self.jobs(job))

    def _problem(self) -> Optional[str]:
        return self.classifier_problem("explain", "Open an image to explain the model's decision on it.")

    def _shown(self) -> list[str]:
        return [self.selected] if self.mode.currentData() == "single" else self._ticked()

    def _ticked(self) -> list[str]:
        items = (self.methods.item(i) for i in range(self.methods.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def _key(self, method: str) -> tuple:
        options = tuple(sorted(self.options.get(method, {}).items()))
        return self.session.key("explain", method, options, self.target.currentData())

    def result(self, method: str):
        """The method's Attribution for the current image, options and class, when computed."""
        return self.session.cache.get(self._key(method)) if self._problem() is None else None

    # -------------------------------------------------------------- computing
    def _restart(self) -> None:
        """Show every wanted map: cached ones at once, the others queued."""
        if not self.is_current():
            self.refresh_when_shown()
            return
        s = self.session
        problem = self._problem()
        self.controls.setEnabled(problem is None)
        if problem:
            self._stop()
            self._layout([])
            self.header.setText(f"<b>Explain</b>: {problem}")
            return
        shown = self._shown()
        self._layout(shown)
        job = self.jobs("map")
        running = s.wanted(job) if s.runner.running(job) else None
        keys = {m: self._key(m) for m in shown}
        if running not in keys.values():
            s.forget(job)
            self.computing = None
        self.queue = []
        turn = self._live_turn(shown) if s.live else shown
        for method in shown:
            key, panel = keys[method], self.panels[method]
            result = s.cache.get(key)
            if result is not None:
                self._draw(method, result)
            elif key == running:
                panel.show_state("computing…")
            elif key in self.failed:
                panel.show_state(f"cannot compute: {self.failed[key].splitlines()[0]}", error=True)
            elif method not in turn:
                if panel.images[0] is not None:
                    panel.set_warning("from an earlier frame: Live computes one slow map per frame, in turn")
                else:
                    panel.show_state("waiting for its turn: Live computes one slow map per frame")
            elif not self._automatic(method):
                h, w = s.image.x.shape[:2]
                panel.show_state(f"{method_label(method)} takes long on {h}×{w} images: press “Compute missing "
                                 "maps” (or edit its options)")
            else:
                self.queue.append(method)
                panel.show_state("waiting…")
        self.queue.sort(key=lambda m: method_cost(m))          # cheap maps first
        if s.live:
            self._live_frame += 1
        self._header()
        self._next()

    def _live_turn(self, shown: list[str]) -> list[str]:
        """During Live, the maps this frame computes: every cheap one, and one
        slow one in turn, so that every ticked method is computed for some
        frame (frames are skipped rather than methods)."""
        cheap = [m for m in shown if method_cost(m) <= LIVE_CHEAP]
        slow = [m for m in shown if m not in cheap and self._automatic(m)]
        return cheap + ([slow[self._live_frame % len(slow)]] if slow else [])

    def _target_changed(self) -> None:
        self.random_scores.setText("")          # a random map's scores were for the class explained before
        self._restart()

    def _automatic(self, method: str) -> bool:
        """Whether the method runs without being asked: slow ones only on small inputs."""
        h, w = self.session.image.x.shape[:2]
        return (not declaration(method).slow or h * w <= SMALL_INPUT or method in self.asked
                or self.mode.currentData() == "single")

    def _next(self) -> None:
        """Start the next queued map: one job at a time, each answer starts the next."""
        s = self.session
        if s.runner.running(self.jobs("map")):
            return                                   # its answer calls _next again
        while self.queue:
            method = self.queue.pop(0)
            key = self._key(method)
            self.computing = method
            self.panels[method].show_state("computing…")
            if not s.compute(self.jobs("map"), key, self._work(method), partial(self._got, method, key),
                             partial(self._failed, method, key)):
                return
        self.computing = None

    def _work(self, method: str):
        s = self.session
        model, x, target, options = s.model, s.image.x[None], self.target.currentData(), self.options.get(method, {})
        label = method_label(method)

        def work(progress, cancel):
            def labelled(done, total, message=""):
                progress(done, total, label if message.lower() in ("", label.lower()) else f"{label}: {message}")

            return explain_one(model, x, method, target, progress=labelled, cancel=cancel, **options)

        return work

    def _got(self, method: str, key: tuple, result) -> None:
        self.computing = None
        if method in self.panels and self._key(method) == key:
            self._draw(method, result)
            self._header()
        self._next()

    def _failed(self, method: str, key: tuple, message: str) -> None:
        self.computing = None
        self.failed[key] = message
        if method in self.panels and self._key(method) == key:
            self.panels[method].show_state(f"cannot compute: {message.splitlines()[0]}", error=True)
        if method == self.selected and self._key(method) == key:
            self.form.show_error(message)
        self._next()

    def _compute_missing(self) -> None:
        self.failed.clear()
        self.asked.update(m for m in EXPLAIN_METHODS if declaration(m).slow)
        self._restart()

    def _progress(self, view: str, done: int, total: int, message: str) -> None:
        if view == self.jobs("map") and self.computing in self.panels and total > 0:
            self.panels[self.computing].show_state(f"computing… {100 * done // total}%")

    # -------------------------------------------------------------- methods and options
    def _select(self, method: str) -> None:
        if self._apply.isActive():                            # edits still pending belong to the method left
            self._apply.stop()
            self._options_edited()
        self.selected = method
        row = EXPLAIN_METHODS.index(method)
        if self.methods.currentRow() != row:
            self.methods.setCurrentRow(row)                   # comes back here through currentItemChanged
            return
        self.options_group.setTitle(f"Options: {method_label(method)}")
        self.form.build(method, option_specs(method, self.session.model), self.options.get(method, {}))
        key = self._key(method) if self.session.model is not None else None
        if key in self.failed:
            self.form.show_error(self.failed[key])
        for name, panel in self.panels.items():
            panel.set_selected(name == method and len(self.panels) > 1)
        if self.mode.currentData() == "single":
            self._restart()

    def _options_edited(self) -> None:
        values = self.form.check()
        if values is None:                                    # a value the library cannot read: shown inline
            return
        self.options[self.selected] = values
        self.asked.add(self.selected)
        self._restart()

    def _drop_stale_options(self) -> None:
        """Options naming what the new model lacks (Grad-CAM's layer) go back to their defaults."""
        for method, values in self.options.items():
            for spec in option_specs(method, self.session.model):
                if spec.choices and values.get(spec.name) not in (*spec.choices, None):
                    values.pop(spec.name)

    def _defaults(self) -> None:
        self.options.pop(self.selected, None)
        self._select(self.selected)
        self._restart()

    def _open_alone(self, method: str) -> None:
        self._select(method)
        self.mode.setCurrentIndex(self.mode.findData("single"))

    def _fill_targets(self) -> None:
        info = self.session.info
        fill_class_combo(self.target, info.classes if info else (), "the predicted class")

    def set_target(self, index: Optional[int]) -> None:
        """Explain class ``index`` (None: the predicted class)."""
        self.target.setCurrentIndex(self.target.findData(index) if index is not None else 0)

    # -------------------------------------------------------------- drawing
    def _layout(self, shown: list[str]) -> None:
        """One panel per shown method (rebuilt when the set or the mode changes)."""
        single = self.mode.currentData() == "single"
        key = (single, tuple(shown))
        if key == self._layout_key:
            return
        self._layout_key = key
        for panel in self.panels.values():
            self.grid.removeWidget(panel)
            panel.setParent(None)
            panel.deleteLater()
        self.panels = {}
        for method in shown:
            panel = MapPanel(method, alone=single)
            panel.clicked.connect(lambda m: self.methods.setCurrentRow(EXPLAIN_METHODS.index(m)))
            panel.opened.connect(self._open_alone)
            panel.use_logit.connect(self.use_logit)
            panel.set_selected(method == self.selected and not single)
            self.panels[method] = panel
        self._reflow()

    def _reflow(self) -> None:
        """Panels in as many columns as make their images largest."""
        panels = list(self.panels.values())
        if not panels:
            return
        size, gap = self.scroll.maximumViewportSize(), self.grid.spacing()
        margins = self.grid.contentsMargins()
        width = (size.width() - margins.left() - margins.right()
                 - self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + gap)
        height = size.height() - margins.top() - margins.bottom() + gap
        stacked = False
        if len(panels) == 1 and panels[0].alone:
            columns, side = 1, min((width - gap - FRAME) / 2, height - gap - TEXT_HEIGHT)
            below = min(width - gap - FRAME, (height - gap - TEXT_HEIGHT - 30) / 2)
            stacked, side = below > side, max(side, below)
        else:
            across = lambda c: width / c - gap - FRAME                                   # noqa: E731
            down = lambda c: height / -(-len(panels) // c) - gap - TEXT_HEIGHT           # noqa: E731
            fitting = [c for c in range(1, len(panels) + 1) if across(c) >= MIN_SIDE] or [1]
            columns = max(fitting, key=lambda c: min(across(c), down(c)))
            side = min(across(columns), max(down(columns), MIN_SIDE))
        side = int(np.clip(side, MIN_SIDE, MAX_SIDE))
        for panel in panels:
            self.grid.removeWidget(panel)
        for i, panel in enumerate(panels):
            self.grid.addWidget(panel, i // columns, i % columns)
            panel.set_side(side, stacked)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._reflow()

    def _redraw(self) -> None:
        self.opacity_label.setText(f"{self.opacity.value()}%")
        for method in self.panels:
            result = self.result(method)
            if result is not None:
                self._draw(method, result)

    def _draw(self, method: str, result) -> None:
        s = self.session
        signed = bool(result.signed and self.signed.currentData())
        amap = result.maps[0] if signed or not result.signed else np.abs(result.maps[0])
        p = self.percentile.value()
        panel = self.panels[method]
        overlay = overlay_rgb(s.image.pixels, amap, signed, self.opacity.value() / 100, p)
        heat = (heatmap_rgb(amap, signed, p) * 255).astype(np.uint8) if panel.alone else None
        low, high = scale_limits(amap, signed, p)
        values = f"{method_values(method)} ({explained_score(method, result.params)})"
        what = values if signed or not result.signed else f"magnitude of the {values}"
        caption = f"{what}{'; red: for the class, blue: against' if signed else ''} (clipped at p{p:g}):"
        notes = [f"class {self._class_text(int(result.targets[0]))}"] + _notes(result)
        panel.show_map(overlay, heat, _params_text(result.params), caption,
                       (SIGNED_CMAP if signed else ABS_CMAP, format_value(low), format_value(high)), " · ".join(notes))
        panel.show_faithfulness(self._scores_text(self._key(method)))
        warning = negligible(result)
        panel.set_warning(warning, logit=result.params.get("score") == "probability")

    def use_logit(self, method: str) -> None:
        """Recompute ``method`` measuring the logit (its option ``score``)."""
        self.options.setdefault(method, {})["score"] = "logit"
        self.asked.add(method)
        self._select(method)
        self._restart()

    def _class_text(self, index: int) -> str:
        classes = self.session.info.classes
        return f"“{classes[index]}” [{index}]" if index < len(classes) else str(index)

    def _header(self) -> None:
        s = self.session
        target = self.target.currentData()
        predictions = s.cached_predictions()
        if target is not None:
            what = f"class {self._class_text(target)}"
        elif predictions:
            top = predictions[0]
            what = f"the predicted class {self._class_text(top.index)} ({top.probability:.1%})"
        else:
            what = "the predicted class"
            s.predictions(self.jobs("predict"), lambda _: self._header(), lambda _: None)
        shown = self._shown()
        how = (f"{len(shown)} methods side by side" if self.mode.currentData() == "grid"
               else f"{method_label(shown[0])} alone (overlay and map)")
        waiting = f"; {len(self.queue) + bool(self.computing)} still to compute" if self.queue or self.computing else ""
        self.header.setText(f"<b>Explaining {what}</b> for <i>{s.image.source}</i>: {how}{waiting}.<br>"
                            "Click a map for its options; double-click to see it alone.")

    # -------------------------------------------------------------- faithfulness
    def _scores_key(self, key: tuple) -> tuple:
        return self.session.key("faithfulness", key)

    def _scores_text(self, key: tuple) -> str:
        scores = self.session.cache.get(self._scores_key(key))
        if scores is None:
            return ""
        return f"deletion AUC {scores[0]:.3f} ↓ · insertion AUC {scores[1]:.3f} ↑"

    def score_faithfulness(self) -> None:
        """Deletion and insertion AUC of every map shown, and of a random map."""
        s = self.session
        done = [(self._key(m), self.result(m)) for m in self.panels]
        done = [(key, result) for key, result in done if result is not None]
        if not done:
            self.random_scores.setText("No maps to score yet.")
            return
        model, x, target = s.model, s.image.x[None], int(done[0][1].targets[0])
        items = [(self._scores_key(key), result.maps) for key, result in done]
        items.append((s.key("faithfulness", "random", target), random_maps(x.shape[:3])))
        cache = s.cache

        def work(progress, cancel):
            for i, (key, maps) in enumerate(items):
                if key not in cache:
                    aucs = [float(curves(model, x, maps, target, mode=mode, cancel=cancel,
                                         progress=stage(progress, 2 * i + j, 2 * len(items), "faithfulness")).auc[0])
                            for j, mode in enumerate(MODES)]
                    cache.put(key, tuple(aucs))
            return cache.get(items[-1][0])

        self.random_scores.setText("scoring…")
        self.scoring = True
        s.compute(self.jobs("faithfulness"), s.key("faithfulness", tuple(k for k, _ in items)), work,
                  self._scored, self._scoring_failed)

    def _scored(self, random: tuple) -> None:
        self.scoring = False
        for method, panel in self.panels.items():
            panel.show_faithfulness(self._scores_text(self._key(method)))
        self.random_scores.setText(f"<small>A random map scores deletion {random[0]:.3f}, insertion "
                                   f"{random[1]:.3f}: a faithful map beats both.</small>")

    def _scoring_failed(self, message: str) -> None:
        self.scoring = False
        self.random_scores.setText(f"<span style='color:#b00020'>cannot score: {message.splitlines()[0]}</span>")

    # -------------------------------------------------------------- export, settings
    def export_arrays(self):
        s = self.session
        if self._problem():
            return None
        arrays = {"input": s.image.x, "image_source": np.array(s.image.source)}
        for method in self.panels:
            key, result = self._key(method), self.result(method)
            if result is None:
                continue
            arrays[f"{method}_map"] = result.maps[0]
            arrays[f"{method}_target"] = np.array(int(result.targets[0]))
            arrays[f"{method}_options"] = np.array(_params_text(result.params))
            scores = s.cache.get(self._scores_key(key))
            if scores is not None:
                arrays[f"{method}_deletion_auc"], arrays[f"{method}_insertion_auc"] = map(np.array, scores)
        return arrays if len(arrays) > 2 else None

    def export_name(self) -> str:
        single = self.mode.currentData() == "single"
        return f"{super().export_name()}_{self.selected}" if single else super().export_name()

    def export_figure(self):
        """``cnnviz explain``'s figure of the maps shown that are computed."""
        s = self.session
        results = {m: r for m in self._shown() if (r := self.result(m)) is not None}
        if not results:
            return None
        from cnnviz.plots.attribution import explain_figure  # matplotlib: heavy, loaded with the first figure

        predictions = s.cached_predictions()
        return explain_figure(s.image.pixels, results, 0, predictions or None, s.image.source, s.info.name,
                              s.info.classes, self.opacity.value() / 100, self.percentile.value())

    def export_widgets(self) -> list:
        return [self.header, self.scroll.widget()]

    def settings(self) -> dict:
        return {"ticked": self._ticked(), "selected": self.selected, "mode": self.mode.currentData(),
                "signed": self.signed.currentData(), "opacity": self.opacity.value(),
                "percentile": self.percentile.value()}

    def restore(self, state: dict) -> None:
        ticked = set(state.get("ticked", SIDE_BY_SIDE))
        self.methods.blockSignals(True)
        for i in range(self.methods.count()):
            item = self.methods.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in ticked
                               else Qt.CheckState.Unchecked)
        self.methods.blockSignals(False)
        if state.get("selected") in EXPLAIN_METHODS:
            self._select(state["selected"])
        for box, value in ((self.mode, state.get("mode")), (self.signed, state.get("signed"))):
            if box.findData(value) >= 0:
                box.setCurrentIndex(box.findData(value))
        self.opacity.setValue(int(state.get("opacity", self.opacity.value())))
        self.percentile.setValue(float(state.get("percentile", self.percentile.value())))


def method_cost(name: str) -> int:
    """Model passes per image at the default options (the method's declaration)."""
    return declaration(name).cost
