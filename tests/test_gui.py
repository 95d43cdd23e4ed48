"""The desktop app, driven offscreen with pytest-qt: load a shipped model and
an image, visit the views and layers, run jobs to completion, cancel one,
feed bad files, and measure the event loop's latency during a long job.
Screenshots of every view go to artifacts/gui/."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from cnnviz_gui.app import MainWindow  # noqa: E402
from conftest import needs_data  # noqa: E402

ARTIFACTS = Path(os.environ.get("CNNVIZ_ARTIFACTS", Path(__file__).resolve().parent.parent / "artifacts")) / "gui"


def shot(window, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.runner.cancel()
    w.runner.pool.waitForDone(10000)


def open_model(qtbot, window, spec="mnist_cnn"):
    window.load_model(spec)
    qtbot.waitUntil(lambda: window.model is not None and window.model.name.startswith(spec.split(".")[0][:5]),
                    timeout=60000)


def open_image(qtbot, window, spec="skimage:camera"):
    window.load_image(spec)
    qtbot.waitUntil(lambda: window.image is not None and window.image.source == spec, timeout=30000)
    qtbot.waitUntil(lambda: window.prediction.text() != "", timeout=30000)


def test_device_and_model_in_status_bar(qtbot, window):
    open_model(qtbot, window)
    assert window.device.text() in ("Device: CPU",) or window.device.text().startswith("Device: GPU")
    assert "mnist_cnn" in window.model_label.text() and "93,322 parameters" in window.model_label.text()
    assert window.model_box.currentData() == "mnist_cnn"


def test_browse_layers_hover_and_unit_page(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    assert "8 [8]" in window.prediction.text() or "%" in window.prediction.text()
    qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
    assert window._current_maps().shape == (26, 26, 32)
    shot(window, "layer_conv1")
    for row, shape in ((1, (13, 13, 32)), (2, (11, 11, 64)), (4, (3, 3, 64))):
        window.layers.selectRow(row)
        qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
        assert window._current_maps().shape == shape
        assert window.layer in window.layer_title.text()
    window.layers.selectRow(2)
    qtbot.waitUntil(lambda: window.grid.geometry_ is not None and window.grid.geometry_[5] == 64, timeout=30000)
    qtbot.mouseMove(window.grid, QPoint(2, 2))
    qtbot.waitUntil(lambda: "sees input rows" in window.statusBar().currentMessage(), timeout=5000)
    assert "conv2 channel 0 unit (0, 0)" in window.statusBar().currentMessage()
    assert "rows 0-7, columns 0-7" in window.statusBar().currentMessage()        # RF 8 at the corner
    shot(window, "layer_conv2_hover")
    qtbot.mouseClick(window.grid, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))
    assert window.tabs.currentIndex() == 1 and "conv2, channel 0" in window.unit_title.text()
    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert window.channel == 1
    window.synthesize()
    qtbot.waitUntil(lambda: not window.runner.running("synthesis"), timeout=60000)
    assert window.unit_synth.pixmap() is not None and not window.unit_synth.pixmap().isNull()
    shot(window, "unit_conv2")


def test_results_are_cached_in_memory(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
    window.layers.selectRow(2)
    qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
    window.layers.selectRow(0)
    assert window._current_maps() is not None and not window.runner.running("layer")   # no recomputation


def test_superseded_results_are_dropped(qtbot, window):
    shown = []
    slow = lambda progress, cancel: (time.sleep(0.3), "old")[1]
    window.runner.submit("layer", slow, shown.append, shown.append)
    window.runner.submit("layer", lambda progress, cancel: "new", shown.append, shown.append)
    qtbot.waitUntil(lambda: shown == ["new"], timeout=5000)
    qtbot.wait(500)
    assert shown == ["new"]


def test_bad_files_show_a_message_and_the_app_stays_usable(qtbot, window, tmp_path, monkeypatch):
    open_model(qtbot, window)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    window.load_image(str(bad))
    qtbot.waitUntil(lambda: getattr(window, "_last_error", None) is not None, timeout=10000)
    assert "cannot read" in window._last_error and "notes.png" in window._last_error
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"garbage")
    window._last_error = None
    window.load_model(str(broken))
    qtbot.waitUntil(lambda: window._last_error is not None, timeout=10000)
    assert "broken.keras" in window._last_error
    assert window.model.name == "mnist_cnn"                  # the loaded model is kept
    open_image(qtbot, window)                                # and the app still works


def test_vgg16_without_weights_offers_random_weights(qtbot, window, monkeypatch):
    from keras.src.applications import vgg16

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: offline")

    monkeypatch.setattr(vgg16.file_utils, "get_file", offline)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.load_model("vgg16_notop")
    qtbot.waitUntil(lambda: window.model is not None, timeout=60000)
    assert "UNTRAINED" in window.model_label.text()


def test_draw_a_digit(qtbot, window):
    open_model(qtbot, window)
    assert window.draw_pad.isVisible()
    pad = window.draw_pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 40))
    for y in range(40, 200, 8):
        qtbot.mouseMove(pad, QPoint(112, y))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 200))
    qtbot.waitUntil(lambda: window.image is not None and window.image.source == "drawn digit", timeout=30000)
    qtbot.waitUntil(lambda: window.prediction.text() != "", timeout=30000)
    assert window.image.pixels[..., 0].max() > 200 and window.image.pixels[0, 0, 0] == 0
    shot(window, "drawn_digit")


@needs_data
@pytest.mark.data
def test_top_patches_job_completes(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    window.layers.selectRow(2)
    qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
    window.open_unit(3)
    window.find_top_patches()
    qtbot.waitUntil(lambda: not window.runner.running("patches"), timeout=120000)
    assert "top-9 mnist test patches" in window.patches_title.text()
    shot(window, "unit_top_patches")


@needs_data
@pytest.mark.data
def test_long_job_cancels_and_the_event_loop_stays_responsive(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))          # no cached answer: a real long job
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    window.layers.selectRow(0)
    qtbot.waitUntil(lambda: window._current_maps() is not None, timeout=30000)
    window.open_unit(0)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    window.find_top_patches()
    qtbot.waitUntil(lambda: window.progress.value() > 0, timeout=60000)
    gaps.clear()
    last[0] = time.perf_counter()
    qtbot.wait(1500)
    timer.stop()
    assert window.runner.running("patches")
    assert window.cancel_button.isVisible()
    shot(window, "long_job_progress")
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.runner.running("patches")
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=5000)
    assert window.patches_title.text() == ""
    assert len(gaps) > 50 and max(gaps) < 0.1, f"event loop stalled {max(gaps) * 1000:.0f} ms"
