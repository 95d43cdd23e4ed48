"""The model's graph: nodes with their geometry and receptive fields, edges
along branches and skip connections, nested models collapsed or expanded,
laid out in layers (inputs first, no overlaps) and drawn as SVG/PNG."""
import numpy as np
import pytest

from cnnviz.inside.network import layout_graph, model_graph
from cnnviz.plots.graph import graph_figure


@pytest.fixture(scope="module")
def residual():
    """conv -> nested block (conv, batch norm) -> add (skip from conv) -> pool -> dense."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    inner = keras.Input((16, 16, 4))
    y = keras.layers.Conv2D(4, 3, strides=1, dilation_rate=2, padding="same", name="ic")(inner)
    y = keras.layers.BatchNormalization(name="ibn")(y)
    block = keras.Model(inner, y, name="block")
    s = keras.layers.Add(name="add")([x, block(x)])
    s = keras.layers.MaxPooling2D(2, name="pool")(s)
    out = keras.layers.Dense(3, activation="softmax", name="out")(keras.layers.Flatten(name="flat")(s))
    return keras.Model(inputs, out, name="residual")


def test_nodes_carry_type_shape_geometry_and_receptive_field(tiny_cnn):
    graph = model_graph(tiny_cnn)
    names = [n.name for n in graph.nodes]
    assert names[0] == "input" and names[1:3] == ["conv", "pool"] and names[-1] == "out"
    conv = graph.node("conv")
    assert (conv.type, conv.output_shape, conv.kernel, conv.stride, conv.padding) == \
        ("Conv2D", (14, 14, 4), (3, 3), (1, 1), "valid")
    assert conv.activation == "relu" and conv.params == 3 * 3 * 3 * 4 + 4 and conv.units == 4
    assert graph.node("pool").rf_size == (4, 4) and graph.node("pool").rf_jump == (2, 2)   # 3 + (2-1) * 1
    assert graph.edges[:2] == [("input", "conv"), ("conv", "pool")] and len(graph.edges) == len(names) - 1
    assert "Conv2D 4 3×3 valid, relu" in conv.lines()[1] and "RF 3, jump 1" in conv.lines()


def test_skip_connections_and_nested_models(residual):
    graph = model_graph(residual)
    assert graph.nested == ["block"] and graph.node("block").nested and graph.node("block").type == "Functional"
    assert ("c1", "add") in graph.edges and ("c1", "block") in graph.edges and ("block", "add") in graph.edges
    open_ = model_graph(residual, expand=["block"])
    assert "block" not in [n.name for n in open_.nodes] and open_.node("block/ic").dilation == (2, 2)
    assert ("c1", "block/ic") in open_.edges and ("block/ibn", "add") in open_.edges and ("c1", "add") in open_.edges
    assert open_.node("block/ic").rf_size == (3 + 4, 3 + 4)                          # dilated 3x3 spans 5
    assert [n.name for n in model_graph(residual, expand=True).nodes] == [n.name for n in open_.nodes]


def test_the_layout_is_layered_without_overlaps(residual):
    graph = model_graph(residual, expand=True)
    layout = layout_graph(graph)
    boxes = layout.boxes
    assert set(boxes) == {n.name for n in graph.nodes}
    for a, b in graph.edges:                                            # data flows down
        assert boxes[a][1] + boxes[a][3] <= boxes[b][1]
        path = layout.paths[(a, b)]
        assert path[0] == pytest.approx((boxes[a][0] + boxes[a][2] / 2, boxes[a][1] + boxes[a][3]))
        assert path[-1] == pytest.approx((boxes[b][0] + boxes[b][2] / 2, boxes[b][1]))
    assert len(layout.paths[("c1", "add")]) > 2                         # the skip bends round the block
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[a], boxes[b]
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, (a, b)
    assert all(x + w <= layout.width + 1e-6 and y + h <= layout.height + 1e-6 for x, y, w, h in boxes.values())


def test_the_figure_saves_as_svg_and_png(residual, tmp_path):
    fig = graph_figure(residual, expand=["block"])
    fig.savefig(tmp_path / "g.svg")
    fig.savefig(tmp_path / "g.png", dpi=100)
    svg = (tmp_path / "g.svg").read_text()
    assert "ibn" in svg and "BatchNormalization" in svg and "RF 7, jump 1" in svg
    assert "residual: 8 nodes" in svg                                   # the title
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "g.png").convert("L"))
    assert png.shape[0] > png.shape[1] and png.min() < 100            # tall, with ink on it
