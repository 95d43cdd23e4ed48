"""The model's graph drawn with matplotlib (SVG, PNG, PDF: whatever the
figure is saved as), the lectures' network-structure plot: a box per layer
with its type, kernel, stride, padding, activation, output shape, parameters
and receptive field, arrows along the data flow (skip connections as their
own arrows), nested models expanded inside a dashed frame. The layout is
grandalf's layered one (:func:`cnnviz.inside.network.layout_graph`), the same
the desktop app shows; no system graphviz is needed.

    from cnnviz.plots.graph import graph_figure
    graph_figure(model).savefig("model.svg")
"""
from __future__ import annotations

from typing import Iterable, Optional

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..inside.network import LINE_H, PAD, layout_graph, model_graph
from . import UNTRAINED_MARK, mark_untrained

FONT = 8.0                    # points; the layout sizes its boxes for it
MARGIN = 12.0                 # points around the drawing
COLOURS = {                   # fill per kind of layer (GraphNode.kind), light so the text stays readable
    "conv": "#dbe8f7", "pool": "#dcf2dc", "dense": "#fbe3cc", "merge": "#eadcf5", "input": "#ffffff",
    "nested": "#fff6c8", "other": "#eeeeee",
}


def graph_figure(graph, layout=None, expand: Iterable[str] | bool = (), title: Optional[str] = None,
                 trained: bool = True) -> Figure:
    """The graph as a figure, one point of layout per point of paper.
    ``graph`` is a :class:`cnnviz.inside.network.ModelGraph` (with its
    ``layout``, computed when not given) or a Keras model, whose nested
    models ``expand`` names (or ``True``: all)."""
    if not hasattr(graph, "nodes"):
        from ..models.zoo import model_info

        trained = model_info(graph).trained
        graph = model_graph(graph, expand=expand)
    layout = layout or layout_graph(graph)
    head = 0.0 if title is False else 22.0 if trained else 36.0     # an untrained model's mark gets its own line
    width, height = layout.width + 2 * MARGIN, layout.height + 2 * MARGIN + head
    fig = Figure(figsize=(max(width, 160) / 72, height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-MARGIN, max(width, 160) - MARGIN)
    ax.set_ylim(layout.height + MARGIN, -MARGIN - head)              # y down, as the layout's
    ax.set_axis_off()
    for name in _expanded(graph):
        _frame(ax, name, layout)
    for (a, b), points in layout.paths.items():
        _arrow(ax, points)
    for node in graph.nodes:
        _box(ax, node, layout.boxes[node.name])
    if title is False:
        mark_untrained(fig, trained)
        return fig
    ax.text(0, -MARGIN - 11.0, title or f"{graph.model}: {len(graph.nodes)} nodes", fontsize=FONT + 2,
            fontweight="bold", va="center")
    if not trained:               # above the title, not over it (mark_untrained's suptitle would cover it)
        ax.text(0, -MARGIN - 27.0, UNTRAINED_MARK, fontsize=FONT + 1, color="firebrick", va="center")
    return fig


def _box(ax, node, box) -> None:
    x, y, w, h = box
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=4",
                                facecolor=COLOURS[node.kind], edgecolor="#555555", lw=0.8))
    for i, line in enumerate(node.lines()):
        ax.text(x + PAD, y + PAD + (i + 0.5) * LINE_H, line, fontsize=FONT, va="center", family="DejaVu Sans",
                fontweight="bold" if i == 0 else "normal")


def _arrow(ax, points) -> None:
    xs, ys = zip(*points)
    if len(points) > 2:
        ax.plot(xs[:-1], ys[:-1], color="#666666", lw=0.9, solid_capstyle="round")
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=8, color="#666666",
                                 lw=0.9, shrinkA=0, shrinkB=0))


def _expanded(graph) -> list[str]:
    """The nested models whose layers are drawn (not collapsed into one box)."""
    names = {n.name for n in graph.nodes}
    return [m for m in graph.nested if m not in names and any(n.startswith(m + "/") for n in names)]


def _frame(ax, model_name: str, layout) -> None:
    boxes = [b for n, b in layout.boxes.items() if n.startswith(model_name + "/")]
    left = min(b[0] for b in boxes) - 6
    top = min(b[1] for b in boxes) - 14
    right = max(b[0] + b[2] for b in boxes) + 6
    bottom = max(b[1] + b[3] for b in boxes) + 6
    ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, ls="--", lw=0.8,
                           edgecolor="#a08000"))
    ax.text(left + 3, top + 7, model_name, fontsize=FONT - 1, color="#806000", va="center", style="italic")
