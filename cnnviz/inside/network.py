"""A model's graph as Netron shows it: one node per layer (its type, output
shape, kernel, stride, padding, dilation, activation, parameters and
receptive field size and jump), edges from each layer to the layers that read
its output (branches, merges and skip connections as they are), nested models
one node each unless expanded into their layers.

:func:`layout_graph` places the nodes with a layered (Sugiyama) layout,
grandalf's, so that the drawing (:mod:`cnnviz.plots.graph`) and the app draw
the same picture; nothing here draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from ..common.errors import CnnvizError
from ..common.validate import check_model
from ..models.graph import get_layer, is_model, trace
from .receptive import MERGE_LAYERS, Field, receptive_fields

INPUT = "input"


@dataclass
class GraphNode:
    """One layer (or a collapsed nested model) of the graph."""

    name: str                       # qualified name (``outer/inner``), as the layer table and views use it
    type: str
    output_shape: Optional[tuple]
    params: int = 0
    kernel: Optional[tuple] = None
    stride: Optional[tuple] = None
    padding: Optional[str] = None
    dilation: Optional[tuple] = None
    activation: Optional[str] = None
    units: Optional[int] = None     # filters of a convolution, units of a Dense layer
    rf_size: Optional[tuple] = None
    rf_jump: Optional[tuple] = None
    nested: bool = False            # a nested model shown as one node (expand it to see its layers)

    @property
    def kind(self) -> str:
        """What kind of layer: input, conv, pool, dense, merge, nested or other (a drawing colours by it)."""
        if self.nested:
            return "nested"
        for name, test in (("input", self.type == "Input"), ("conv", "Conv" in self.type),
                           ("pool", "Pool" in self.type), ("dense", self.type == "Dense"),
                           ("merge", self.type in MERGE_LAYERS)):
            if test:
                return name
        return "other"

    def lines(self) -> list[str]:
        """The node's text, first line its name: what a box in the drawing says."""
        head = self.type + (f" {self.units}" if self.units else "")
        if self.kernel:
            head += " " + "×".join(str(k) for k in self.kernel)
            if self.stride and tuple(self.stride) != (1, 1):
                head += f" /{_pair(self.stride)}"
            if self.dilation and tuple(self.dilation) != (1, 1):
                head += f" d{_pair(self.dilation)}"
            if self.padding:
                head += f" {self.padding}"
        if self.activation:
            head += f", {self.activation}"
        shape = "×".join("?" if s is None else str(s) for s in self.output_shape) if self.output_shape else "?"
        detail = shape + (f" · {self.params:,} params" if self.params else "")
        lines = [self.name.split("/")[-1] + (" [+]" if self.nested else ""), head, detail]
        if self.rf_size:
            lines.append(f"RF {_pair(self.rf_size)}, jump {_pair(self.rf_jump)}")
        return lines


@dataclass
class ModelGraph:
    model: str
    nodes: list[GraphNode]
    edges: list[tuple[str, str]]          # (from, to) node names
    nested: list[str] = field(default_factory=list)    # every nested model (collapsed or not)

    def node(self, name: str) -> GraphNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise CnnvizError(f"no node {name!r} in the graph of {self.model}")

    def to_json(self) -> dict:
        from dataclasses import asdict

        return {"model": self.model, "nodes": [asdict(n) for n in self.nodes],
                "edges": [list(e) for e in self.edges], "nested": self.nested}


class _Token:
    """What flows along the graph while it is walked: who made it, from what."""

    def __init__(self, layer, inputs: list):
        self.layer, self.inputs = layer, inputs


def model_graph(model, expand: Iterable[str] | bool = ()) -> ModelGraph:
    """The graph of ``model``; nested models stay one node each unless named
    in ``expand`` (qualified names) or ``expand=True`` (all of them)."""
    check_model(model)
    inputs = [_Token(None, []) for _ in range(max(1, len(model.inputs or [None])))]
    made: list[_Token] = []
    record: dict = {}

    def apply(layer, node, args):
        token = _Token(layer, _flat(args))
        made.append(token)
        count = len(node.output_tensors) if node is not None else 1
        return [token] * count if count > 1 else token

    trace(model, inputs, apply, record)
    layer_names: dict[int, str] = {}          # a layer's qualified name: the first recorded (the leaf, not
    for name, value in record.items():        # the nested model that ends with it; a shared layer once)
        for t in _flat([value]):
            layer_names.setdefault(id(t.layer), name)
    input_names = [INPUT if len(inputs) == 1 else f"{INPUT}_{i}" for i in range(len(inputs))]
    by_token = {id(t): n for t, n in zip(inputs, input_names)}

    def name_of(token: _Token) -> str:
        return by_token.get(id(token)) or layer_names[id(token.layer)]

    nested = [n for n in record if is_model(get_layer(model, n))]
    leaves = [n for n in record if n not in nested]
    shown = {n: _shown_as(n, nested, expand) for n in [*input_names, *leaves]}
    fields = receptive_fields(model)
    nodes = [_node(model, n, fields, n in nested) for n in dict.fromkeys(shown[n] for n in shown)]
    edges: list[tuple[str, str]] = []
    for token in made:
        for source in token.inputs:
            edge = (shown[name_of(source)], shown[name_of(token)])
            if edge[0] != edge[1] and edge not in edges:
                edges.append(edge)
    return ModelGraph(model.name, nodes, edges, nested)


def _flat(values) -> list:
    """The tokens in a list of values (merges take lists; multi-output layers give them)."""
    out = []
    for v in values:
        out.extend(_flat(v) if isinstance(v, (list, tuple)) else [v] if isinstance(v, _Token) else [])
    return out


def _shown_as(name: str, nested: Sequence[str], expand) -> str:
    """The node a layer is drawn as: itself, or the outermost collapsed model around it."""
    if expand is True:
        return name
    expanded = set(expand)
    parts = name.split("/")
    for i in range(1, len(parts)):
        outer = "/".join(parts[:i])
        if outer in nested and outer not in expanded:
            return outer
    return name


def _node(model, name: str, fields: dict, nested: bool) -> GraphNode:
    if name.startswith(INPUT) and name not in fields:
        index = 0 if name == INPUT else int(name.split("_")[-1])
        return GraphNode(name, "Input", tuple(model.inputs[index].shape[1:]) if model.inputs else None,
                         rf_size=(1, 1), rf_jump=(1, 1))
    layer = get_layer(model, name)
    f = fields.get(name)
    node = GraphNode(name, type(layer).__name__, _output_shape(layer),
                     layer.count_params() if hasattr(layer, "count_params") and layer.built else 0, nested=nested)
    if hasattr(layer, "pool_size"):
        node.kernel, node.stride, node.padding = _pair2(layer.pool_size), _pair2(layer.strides), layer.padding
    elif hasattr(layer, "kernel_size"):
        node.kernel, node.stride = _pair2(layer.kernel_size), _pair2(layer.strides)
        node.padding, node.dilation = layer.padding, _pair2(layer.dilation_rate)
    node.units = getattr(layer, "filters", None) or getattr(layer, "units", None)
    activation = getattr(layer, "activation", None)
    name_of = getattr(activation, "__name__", None)
    if name_of and name_of != "linear":
        node.activation = name_of
    if isinstance(f, Field):
        node.rf_size, node.rf_jump = f.size, f.jump
    return node


def _output_shape(layer) -> Optional[tuple]:
    try:
        return tuple(layer.output.shape[1:])
    except (AttributeError, ValueError):
        return None


def _pair2(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _pair(pair) -> str:
    values = [f"{v:g}" if isinstance(v, float) else str(v) for v in pair]
    return values[0] if len(set(values)) == 1 else "x".join(values)


# ---------------------------------------------------------------- layout

CHAR_W, LINE_H, PAD, GAP_X, GAP_Y = 5.6, 13.0, 6.0, 24.0, 34.0     # points: text of about 9 pt


@dataclass
class Layout:
    """Where every node's box lies and how every edge runs, in points, y down."""

    boxes: dict[str, tuple[float, float, float, float]]      # name -> (x, y, width, height), top-left corner
    paths: dict[tuple[str, str], list[tuple[float, float]]]  # edge -> points, source's bottom to target's top
    width: float
    height: float


class _View:
    def __init__(self, w: float, h: float):
        self.w, self.h, self.xy = w, h, (0.0, 0.0)


class _EdgeView:
    def __init__(self):
        self.points: list = []

    def setpath(self, points):
        self.points = points


def node_size(node: GraphNode) -> tuple[float, float]:
    lines = node.lines()
    return max(len(line) for line in lines) * CHAR_W + 2 * PAD, len(lines) * LINE_H + 2 * PAD


def layout_graph(graph: ModelGraph) -> Layout:
    """A layered layout (grandalf's Sugiyama) of ``graph``, inputs at the top;
    separate parts side by side."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    vertices = {n.name: Vertex(n.name) for n in graph.nodes}
    for n in graph.nodes:
        vertices[n.name].view = _View(*node_size(n))
    edges = []
    for a, b in graph.edges:
        edge = Edge(vertices[a], vertices[b])
        edge.view = _EdgeView()
        edges.append(edge)
    g = Graph(list(vertices.values()), edges)
    boxes, paths, x0, height = {}, {}, 0.0, 0.0
    for part in g.C:
        sugiyama = SugiyamaLayout(part)
        sugiyama.xspace, sugiyama.yspace = GAP_X, GAP_Y
        roots = [v for v in part.sV if not v.e_in()]
        sugiyama.init_all(roots=roots)
        sugiyama.draw()
        views = [v.view for v in part.sV]
        left = min(v.xy[0] - v.w / 2 for v in views)
        top = min(v.xy[1] - v.h / 2 for v in views)
        right = max(v.xy[0] + v.w / 2 for v in views)
        for v in part.sV:
            x, y = v.view.xy
            boxes[v.data] = (x - v.view.w / 2 - left + x0, y - v.view.h / 2 - top, v.view.w, v.view.h)
        for e in part.E():
            a, b = e.v[0].data, e.v[1].data
            (ax, ay, aw, ah), (bx, by, bw, _) = boxes[a], boxes[b]
            middle = [(px - left + x0, py - top) for px, py in e.view.points[1:-1]]
            paths[(a, b)] = [(ax + aw / 2, ay + ah), *middle, (bx + bw / 2, by)]
        height = max(height, max(v.xy[1] + v.h / 2 for v in views) - top)
        x0 += right - left + 2 * GAP_X
    return Layout(boxes, paths, max(x0 - 2 * GAP_X, 1.0), max(height, 1.0))
