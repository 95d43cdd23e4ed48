"""The Graph tab: the model's graph laid out by the library, a click opens a
layer in the Layer tab, a nested model opens on double-click, and Export PNG
(or SVG) saves the CLI's figure at slide resolution."""
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from test_gui import open_model  # noqa: E402
from test_gui_first_use import save_model  # noqa: E402, F401  (Keras imported after the app's)

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs


def show_graph(qtbot, window):
    view = window.view("graph")
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.graph is not None and view.graph.model == window.session.model.name,
                    timeout=60000)
    return view


def test_the_graph_opens_a_layer_and_exports_the_figure(qtbot, window, tmp_path):
    open_model(qtbot, window)
    view = show_graph(qtbot, window)
    assert list(view.items) == ["input", "conv1", "pool1", "conv2", "pool2", "conv3", "flatten", "dense1",
                                "predictions"]
    assert "9 nodes, 8 edges" in view.header.text()
    assert "RF 8, jump 2" in view.items["conv2"].toolTip() and "Conv2D 64 3×3 valid, relu" in \
        view.items["conv2"].toolTip()
    view._clicked("conv2")
    assert window.tabs.currentWidget() is window.layer_view and window.session.layer == "conv2"
    window.tabs.setCurrentWidget(view)
    assert view.items["conv2"].pen().width() == 3                        # the current layer is marked
    png = window.export_png(str(tmp_path / "graph.png"))
    image = QImage(png)
    assert image.height() > 2000 and image.width() > 400                 # the figure at 200 dpi, not a grab
    svg = window.export_png(str(tmp_path / "graph.svg"))
    assert "conv3" in open(svg).read()


def test_a_nested_model_opens_on_double_click(qtbot, window, tmp_path):
    qtbot.waitUntil(window.runner.started, timeout=60000)
    import keras

    inner_in = keras.Input((28, 28, 4))
    block = keras.Model(inner_in, keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")(inner_in),
                        name="block")
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = keras.layers.Add(name="skip")([x, block(x)])
    out = keras.layers.Dense(10, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "nested.keras"
    keras.Model(inputs, out).save(path)
    open_model(qtbot, window, str(path))
    view = show_graph(qtbot, window)
    assert "block" in view.items and view.graph.node("block").nested and view.expand_button.isVisible()
    assert ("stem", "skip") in view.graph.edges and ("block", "skip") in view.graph.edges
    view._double_clicked("block")
    qtbot.waitUntil(lambda: "block/inner_conv" in view.items, timeout=30000)
    assert "block" not in view.items and view.collapse_button.isVisible()
    view.collapse_all()
    qtbot.waitUntil(lambda: "block" in view.items, timeout=30000)
