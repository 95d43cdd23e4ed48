"""The "How it computes" tab: a convolution unit's patch, kernel, products,
sum, bias and activation that equal the layer's map; stepping and playing the
window; pooling, the softmax head and the fixed kernels."""
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from test_gui import open_image, open_model  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs


def show(qtbot, window, layer):
    view = window.view("arithmetic")
    window.session.set_layer(layer)
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.step is not None and view.step.layer == layer, timeout=60000)
    return view


def test_a_conv_unit_steps_and_plays_across_the_map(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = show(qtbot, window, "conv2")
    step = view.step
    assert step.kind == "conv" and step.matches and step.patch.shape == (3, 3, 32)
    assert len(view.grid_widgets) == 3 * 4 and "equals the layer's own value" in view.result.text()
    assert "4 of 32 input channels" in view.grids_caption.text() and "relu" in view.result.text()
    at = step.at
    view.move(+1)
    assert view.step.at != at and view.step.matches
    view.play_button.setChecked(True)
    seen = view.step.at
    qtbot.waitUntil(lambda: view.step.at != seen, timeout=5000)                  # the window moves by itself
    view.play_button.setChecked(False)
    assert not view.timer.isActive()
    window.session.set_channel(9)
    assert view.channel.value() == 9 and view.step.channel == 9


def test_pooling_the_softmax_head_and_fixed_kernels(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = show(qtbot, window, "pool1")
    assert view.step.kind == "max_pool" and view.step.winner is not None and "max of the window" in \
        view.result.text()
    view = show(qtbot, window, "predictions")
    assert view.step.probabilities is not None and view.step.matches and not view.row.isEnabled()
    assert "softmax" in view.result.text() and len(view.grid_widgets) == 2
    view.kernel_box.setCurrentIndex(view.kernel_box.findData("sobel_x"))
    qtbot.waitUntil(lambda: view.step.kind == "sobel_x", timeout=5000)
    assert view.step.matches and "Sobel" in view.header.text() and view.row.maximum() == 27
    window.session.set_layer("flatten")
    view.kernel_box.setCurrentIndex(0)
    assert "covers" in view.header.text() and view.step is None
