"""The app's Train view: a short run in a worker with curves that grow epoch
by epoch and a trained model that becomes the current one; Cancel keeps a
checkpoint that Resume continues; bad settings are named in the view."""
import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from conftest import needs_data  # noqa: E402
from test_gui import make_window, shot  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    w = make_window(qtbot, tmp_path / "settings.ini")
    yield w
    w.runner.shutdown(timeout=30)


def train_view(qtbot, window, tmp_path, epochs=2):
    qtbot.waitUntil(lambda: window.device.text() != "Device: …", timeout=60000)   # TensorFlow imported
    view = window.view("train")
    window.tabs.setCurrentWidget(view)
    view.model.setCurrentText("mnist_small")
    view.dataset.setCurrentText("mnist")
    view.limit.setValue(600)
    view.epochs.setValue(epochs)
    view.optimizer.setCurrentText("rmsprop")
    view.augment["rotation"].setValue(10)
    view.out.setText(str(tmp_path / "gui.keras"))
    return view


@needs_data
@pytest.mark.data
def test_train_view_trains_draws_curves_and_opens_the_model(qtbot, window, tmp_path):
    view = train_view(qtbot, window, tmp_path)
    epochs_seen = []
    view.epoch_done.connect(lambda e, n, logs: epochs_seen.append(e))
    view.start()
    assert not view.train_button.isEnabled()
    qtbot.waitUntil(lambda: view.train_button.isEnabled(), timeout=120000)
    assert view.trained is not None, view.status.text()
    assert epochs_seen == [1, 2] and len(view.history["loss"]) == 2
    assert not view.curves.pixmap().isNull() and view.curves.pixmap().width() > 500
    page = view.curves.parentWidget().width()                   # the scrolled form
    assert view.curves.pixmap().width() <= page <= view.width()            # the curves did not widen it
    qtbot.waitUntil(lambda: window.session.model_spec == str(tmp_path / "gui.keras"), timeout=60000)
    card = window.session.info.card
    assert card["stages"][0]["optimizer"]["name"] == "RMSprop" and card["stages"][0]["augmentation"]["rotation"] == 10
    assert "Wrote" in view.status.text()
    figure = view.export_figure()                      # Export PNG draws the CLI's curves, not the widgets
    lines = [line for ax in figure.axes for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert len(lines) == 4 and figure.axes[0].get_ylabel() == "accuracy"
    shot(window, "train_view")


@needs_data
@pytest.mark.data
def test_train_view_cancel_then_resume(qtbot, window, tmp_path):
    from cnnviz.lab.training import checkpoint_dir

    view = train_view(qtbot, window, tmp_path, epochs=30)
    view.epoch_done.connect(lambda e, n, logs: e == 1 and window.cancel_jobs())
    view.start()
    qtbot.waitUntil(lambda: view.train_button.isEnabled(), timeout=120000)
    assert "Cancelled" in view.status.text()
    window.runner.wait_idle(60)
    state = json.loads((checkpoint_dir(tmp_path / "gui.keras") / "state.json").read_text())
    done = state["epochs_done"]
    assert 1 <= done < 30
    view.epochs.setValue(done + 1)
    view.resume.setChecked(True)
    view.start()
    qtbot.waitUntil(lambda: view.trained is not None, timeout=120000)
    assert len(view.history["loss"]) == done + 1


def test_bad_augmentation_is_named_in_the_view(qtbot, window):
    view = window.view("train")
    view.augment["zoom"].setMaximum(5)
    view.augment["zoom"].setValue(3)
    view.start()
    assert "--zoom 3.0 is out of range" in view.status.text() and view.train_button.isEnabled()


def test_augmentation_settings_from_the_controls(window):
    view = window.view("train")
    view.augment["width_shift"].setValue(0.1)
    view.vflip.setChecked(True)
    aug = view.augmentation()
    assert aug.width_shift == pytest.approx(0.1) and aug.vertical_flip and not aug.horizontal_flip
    assert np.isclose(aug.rotation, 0)


def test_the_dataset_box_names_the_only_dataset_an_architecture_takes(window):
    view = window.view("train")
    view.model.setCurrentText("cifar10_cnn")
    assert view.dataset.currentText() == "cifar10"
    view.model.setCurrentText("lenet")
    assert view.dataset.currentText() == "mnist"
    view.dataset.setCurrentText("/data/my_photos")               # a folder the user chose stays
    view.model.setCurrentText("cifar10_cnn")
    assert view.dataset.currentText() == "/data/my_photos"


def test_the_optimizers_offered_are_the_declared_ones(qtbot, window):
    from PySide6.QtCore import Qt

    from cnnviz.lab.training import OPTIMIZER_DECLARATIONS

    box = window.view("train").optimizer
    assert [box.itemText(i) for i in range(box.count())] == [o.name for o in OPTIMIZER_DECLARATIONS]
    assert {"adamax", "nadam"} <= {box.itemText(i) for i in range(box.count())}
    assert box.itemData(box.findText("nesterov"), Qt.ItemDataRole.ToolTipRole).startswith("SGD with Nesterov")
