"""MC dropout in the prediction panel: mean ± std over stochastic passes,
offered only for models with dropout layers."""
import pytest

pytest.importorskip("pytestqt")

from cnnviz_gui.app import MC_PASSES  # noqa: E402
from test_gui import open_image, open_model, shot, window  # noqa: E402,F401

from cnnviz import load_model  # noqa: E402
from cnnviz.lab.uncertainty import mc_dropout  # noqa: E402


def test_mc_dropout_shows_mean_and_spread_for_a_model_with_dropout(qtbot, window):  # noqa: F811
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    plain = window.prediction.text()
    assert window.mc_dropout.isEnabled() and "±" not in plain
    window.mc_dropout.setChecked(True)
    qtbot.waitUntil(lambda: "±" in window.prediction.text(), timeout=60000)
    expected = mc_dropout(load_model("cifar10_cnn"), window.session.image.x[None], MC_PASSES, seed=0)
    top = int(expected.mean[0].argmax())
    first = window.prediction.bars[0]
    assert f"[{top}]" in window.prediction.names[0].text()
    assert first.std == pytest.approx(float(expected.std[0, top]), abs=1e-6) and first.std > 0
    shot(window, "prediction_mc_dropout")
    window.mc_dropout.setChecked(False)
    qtbot.waitUntil(lambda: window.prediction.text() == plain, timeout=30000)


def test_mc_dropout_is_not_offered_without_dropout(qtbot, window):  # noqa: F811
    open_model(qtbot, window, "mnist_small")
    assert not window.mc_dropout.isEnabled() and "no dropout layers" in window.mc_dropout.toolTip()
