"""The graph view (what Netron shows): the model's layers as boxes with their
type, kernel, stride, padding, activation, output shape, parameters and
receptive field, arrows along the data flow (branches and skip connections
as they are), nested models one box each until double-clicked open. Click a
layer to open it in the Layer tab. The layout is the library's
(:func:`cnnviz.inside.network.layout_graph`), the picture the same as
``cnnviz graph`` draws, and *Export PNG* saves that figure (SVG too)."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
)

from cnnviz.inside.network import LINE_H, PAD, layout_graph, model_graph

from ..widgets import heading
from .base import View

SCALE = 1.35            # screen pixels per layout point


class NodeItem(QGraphicsRectItem):
    """One layer's box; the view learns of clicks through ``GraphCanvas``."""

    def __init__(self, node, rect: QRectF, current: bool):
        from cnnviz.plots.graph import COLOURS  # the figure's colours; matplotlib was loaded by the layout job

        super().__init__(rect)
        self.node = node
        self.setBrush(QBrush(QColor(COLOURS[node.kind])))
        self.setPen(QPen(QColor(0, 140, 220) if current else QColor(90, 90, 90), 3 if current else 1))
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("\n".join(node.lines()) + ("\ndouble-click: show its layers" if node.nested else
                                                   "\nclick: open this layer"))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)

    def paint(self, painter: QPainter, option, widget=None):
        super().paint(painter, option, widget)
        rect = self.rect()
        font = QFont(painter.font())
        font.setPixelSize(int(8 * SCALE * 1.1))
        for i, line in enumerate(self.node.lines()):
            font.setBold(i == 0)
            painter.setFont(font)
            painter.setPen(QColor(20, 20, 20))
            y = rect.top() + (PAD + i * LINE_H) * SCALE
            painter.drawText(QRectF(rect.left() + PAD * SCALE, y, rect.width() - PAD * SCALE, LINE_H * SCALE),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)


class GraphCanvas(QGraphicsView):
    """The scene, zoomed with Ctrl + wheel; clicks and double-clicks on boxes become signals."""

    clicked = Signal(str)
    double_clicked = Signal(str)

    def __init__(self):
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)

    def _node_at(self, event) -> Optional[str]:
        for item in self.items(event.position().toPoint()):
            if isinstance(item, NodeItem):
                return item.node.name
        return None

    def mouseReleaseEvent(self, event):
        super().mouseReleaseEvent(event)
        name = self._node_at(event)
        if name is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(name)

    def mouseDoubleClickEvent(self, event):
        name = self._node_at(event)
        if name is not None:
            self.double_clicked.emit(name)

    def wheelEvent(self, event):
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self.scale(factor, factor)
        else:
            super().wheelEvent(event)


class GraphView(View):
    title = "Graph"
    name = "graph"
    uses_layers = False

    def __init__(self, session):
        super().__init__(session)
        self.graph = None                 # cnnviz.inside.network.ModelGraph shown now
        self.layout_ = None
        self.expanded: set[str] = set()
        self.items: dict[str, NodeItem] = {}
        box = QVBoxLayout(self)
        top = QHBoxLayout()
        self.header = heading("")
        top.addWidget(self.header, 1)
        self.expand_button = QPushButton("Expand all")
        self.expand_button.setToolTip("show the layers of every nested model")
        self.expand_button.clicked.connect(self.expand_all)
        self.collapse_button = QPushButton("Collapse all")
        self.collapse_button.clicked.connect(self.collapse_all)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("the whole graph in the window (Ctrl + wheel zooms)")
        self.fit_button.clicked.connect(self.fit)
        for button in (self.expand_button, self.collapse_button, self.fit_button):
            top.addWidget(button)
        box.addLayout(top)
        self.canvas = GraphCanvas()
        self.canvas.clicked.connect(self._clicked)
        self.canvas.double_clicked.connect(self._double_clicked)
        box.addWidget(self.canvas, 1)

    # -------------------------------------------------------------- state
    def refresh(self, changed: set) -> None:
        s = self.session
        if s.model is None:
            self.header.setText("No model loaded: pick one in the toolbar or File > Open model.")
            self.canvas.scene().clear()
            self.graph = None
            return
        if "model" in changed:
            self.expanded = set()
        if changed & {"model", "work"} or self.graph is None:
            self._compute()
        elif "layer" in changed:
            self._mark_current()

    def _compute(self) -> None:
        s = self.session
        model, expand = s.model, tuple(sorted(self.expanded))

        def work(progress, cancel):
            import cnnviz.plots.graph  # noqa: F401  (matplotlib: heavy, imported here rather than on the GUI thread)

            graph = model_graph(model, expand=expand)
            return graph, layout_graph(graph)

        self.header.setText(f"laying out {s.info.name}'s graph…")
        s.compute(self.jobs("graph"), s.key("graph", expand, image=False), work, self._show, self._failed)

    def _failed(self, message: str) -> None:
        self.header.setText(f"cannot draw the graph: {message.splitlines()[0]}")

    def _show(self, result) -> None:
        self.graph, self.layout_ = result
        scene = self.canvas.scene()
        scene.clear()
        self.items = {}
        pen = QPen(QColor(110, 110, 110), 1.3)
        for points in self.layout_.paths.values():
            path = QPainterPath(QPointF(*(v * SCALE for v in points[0])))
            for p in points[1:]:
                path.lineTo(QPointF(*(v * SCALE for v in p)))
            scene.addPath(path, pen)
            tip = QPointF(*(v * SCALE for v in points[-1]))
            head = QPolygonF([tip, tip + QPointF(-4, -8), tip + QPointF(4, -8)])
            scene.addPolygon(head, pen, QBrush(QColor(110, 110, 110)))
        for node in self.graph.nodes:
            x, y, w, h = (v * SCALE for v in self.layout_.boxes[node.name])
            item = NodeItem(node, QRectF(x, y, w, h), node.name == self.session.layer)
            scene.addItem(item)
            self.items[node.name] = item
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        nested = len(self.graph.nested)
        self.expand_button.setVisible(nested > 0)
        self.collapse_button.setVisible(bool(self.expanded))
        merges = sum(1 for n in self.graph.nodes if sum(1 for e in self.graph.edges if e[1] == n.name) > 1)
        self.header.setText(f"<b>Graph of {self.graph.model}</b>: {len(self.graph.nodes)} nodes, "
                            f"{len(self.graph.edges)} edges, {merges} merges"
                            + (f", {nested} nested models (double-click one to show its layers)" if nested else "")
                            + ". Click a layer to open it.")
        current = self.items.get(self.session.layer)
        if current is not None:
            self.canvas.centerOn(current)

    def _mark_current(self) -> None:
        for name, item in self.items.items():
            current = name == self.session.layer
            item.setPen(QPen(QColor(0, 140, 220) if current else QColor(90, 90, 90), 3 if current else 1))

    # -------------------------------------------------------------- input
    def _clicked(self, name: str) -> None:
        node = self.graph.node(name) if self.graph is not None else None
        if node is None or node.type == "Input" or node.nested:
            return
        if any(row.name == name for row in self.session.rows):
            self.open_layer.emit(name)

    def _double_clicked(self, name: str) -> None:
        if self.graph is not None and self.graph.node(name).nested:
            self.expanded.add(name)
            self._compute()

    def expand_all(self) -> None:
        self.expanded = set(self.graph.nested) if self.graph is not None else set()
        self._compute()

    def collapse_all(self) -> None:
        self.expanded = set()
        self._compute()

    def fit(self) -> None:
        self.canvas.fitInView(self.canvas.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    # -------------------------------------------------------------- export
    def export_figure(self):
        if self.graph is None:
            return None
        from cnnviz.plots.graph import graph_figure  # matplotlib: heavy, loaded with the first figure

        return graph_figure(self.graph, self.layout_, trained=self.session.info.trained)

    def export_arrays(self):
        return None
