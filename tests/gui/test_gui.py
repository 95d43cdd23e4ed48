"""The desktop app, driven offscreen with pytest-qt: load a shipped model and
an image, visit the views and layers, run jobs to completion, cancel one,
feed bad files, and measure the event loop's latency during a long job.
Screenshots of every view and dialog go to artifacts/gui/."""
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from cnnviz_gui.app import MainWindow  # noqa: E402
from conftest import needs_data  # noqa: E402
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ARTIFACTS = Path(os.environ.get("CNNVIZ_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts")) / "gui"
LATENCY_BOUND = 0.25        # seconds: generous for 2 loaded CI cores; bench_gui.py has the real figures


def shot(widget, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(ARTIFACTS / f"{name}.png"))


def make_window(qtbot, settings_path):
    w = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    return w


@pytest.fixture(autouse=True)
def no_file_dialogs(monkeypatch):
    """A modal file dialog would wait forever offscreen: answer "cancelled"."""
    from PySide6.QtWidgets import QFileDialog

    asked = []
    for name, answer in (("getOpenFileName", ("", "")), ("getSaveFileName", ("", "")), ("getExistingDirectory", "")):
        monkeypatch.setattr(QFileDialog, name, lambda *a, _answer=answer, _name=name, **k: asked.append(_name)
                            or _answer)
    return asked


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "settings.ini")
    yield w
    w.runner.shutdown(timeout=20)


def open_model(qtbot, window, spec="mnist_cnn", weights="imagenet"):
    window.load_model(spec, weights)
    qtbot.waitUntil(lambda: window.session.model_spec == spec and not window.runner.running("model"),
                    timeout=60000)


def open_image(qtbot, window, spec="skimage:camera"):
    window.load_image(spec)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == spec, timeout=30000)
    qtbot.waitUntil(lambda: window.prediction.text() != "", timeout=30000)


def hover(widget, pos, buttons=Qt.MouseButton.NoButton):
    """Move the mouse over ``widget`` to ``pos`` (with ``buttons`` held): the
    event sent to the widget itself (``qtbot.mouseMove`` goes through the
    platform's cursor, and the offscreen platform sometimes drops it)."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent

    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def maps_of(window):
    return window.session.cached_maps()


def test_device_model_and_title(qtbot, window):
    open_model(qtbot, window)
    qtbot.waitUntil(lambda: not window.device.text().startswith("Device: starting"), timeout=30000)
    assert window.device.text() == "Device: CPU" or window.device.text().startswith("Device: GPU")
    label = window.model_label.text()
    assert "mnist_cnn" in label and "93,322 parameters" in label and "MNIST" in label and "test accuracy" in label
    assert window.model_box.currentData() == "mnist_cnn" and "MNIST" in window.model_box.currentText()
    assert window.windowTitle().startswith("cnnviz — mnist_cnn")
    assert [window.layers.item(r, 0).text() for r in range(3)] == ["conv1", "pool1", "conv2"]
    assert window.layers.item(2, 4).text() == "8 (jump 2)" and window.layers.item(2, 3).text() == "18,496"


def test_browse_layers_hover_and_unit_page(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    lv = window.layer_view
    qtbot.waitUntil(lambda: lv.maps is not None, timeout=30000)
    assert lv.maps.shape == (26, 26, 32) and "Layer conv1" in lv.header.text() and "skimage:camera" in lv.header.text()
    assert "each map from its min" in lv.colorbar.text()
    shot(window, "layer_conv1")
    for row, shape in ((1, (13, 13, 32)), (2, (11, 11, 64)), (4, (3, 3, 64))):
        window.layers.selectRow(row)
        qtbot.waitUntil(lambda: lv.maps is not None and lv.maps.shape == shape, timeout=30000)
        assert window.session.layer in lv.header.text()
    window.layers.selectRow(2)
    qtbot.waitUntil(lambda: lv.maps is not None and lv.maps.shape[-1] == 64, timeout=30000)
    lv.scope.setCurrentIndex(1)
    low, high = float(lv.maps.min()), float(lv.maps.max())
    assert "whole layer" in lv.colorbar.text() and f"{high:.3g}" in lv.colorbar.text()
    assert low == 0.0
    canvas = lv.grid.canvas
    corner = canvas.tile_rect(0).topLeft() + QPoint(1, 1)
    hover(canvas, corner)
    qtbot.waitUntil(lambda: "sees input rows" in window.statusBar().currentMessage(), timeout=5000)
    assert "conv2 channel 0 unit (0, 0)" in window.statusBar().currentMessage()
    assert "rows 0-7, columns 0-7" in window.statusBar().currentMessage()        # RF 8 at the corner
    assert window.input_view.box == (0, 0, 7, 7)
    shot(window, "layer_conv2_hover")
    assert "Filters of conv2" in lv.filters_header.text() and "input channel 0" in lv.filters_header.text()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.tile_rect(5).center())
    uv = window.unit_view
    assert window.tabs.currentWidget() is uv and window.session.channel == 5
    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert window.session.channel == 6 and "conv2, channel 6" in uv.header.text()
    qtbot.waitUntil(lambda: uv.map is not None, timeout=30000)
    assert uv.map.shape == (11, 11) and "value:" in uv.map_colorbar.text()
    assert "filter 6: 3×3 over 32 input channels" in uv.weights_caption.text()
    uv.synthesize()
    qtbot.waitUntil(lambda: uv.synthesis is not None, timeout=60000)
    assert "drives channel 6" in uv.synth_caption.text()
    qtbot.waitUntil(lambda: not window.runner.running("unit.patches"), timeout=60000)
    assert window._last_error is None and QApplication.activeWindow() is window    # else keys go elsewhere
    shot(window, "unit_conv2_6")
    qtbot.keyClick(window, Qt.Key.Key_Comma)
    assert window.session.channel == 5 and uv.synthesis is None                 # channel 5 not synthesized
    window.session.cache.clear()                      # as in a new session: channel 6 comes from the disk cache
    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert uv.synthesis is None
    uv.synthesize()
    qtbot.waitUntil(lambda: uv.synthesis is not None, timeout=60000)
    assert "drives channel 6" in uv.synth_caption.text() and "from the disk cache" in uv.synth_caption.text()
    window.layers.selectRow(6)                                                    # dense1: no maps
    assert "no channels with maps" in uv.header.text()
    window.tabs.setCurrentIndex(0)
    assert "no spatial maps" in lv.header.text()
    shot(window, "layer_dense")


def test_results_are_cached_in_memory(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    qtbot.waitUntil(lambda: maps_of(window) is not None, timeout=30000)
    window.layers.selectRow(2)
    qtbot.waitUntil(lambda: maps_of(window) is not None, timeout=30000)
    window.layers.selectRow(0)
    assert window.layer_view.maps.shape == (26, 26, 32) and not window.runner.running("layer.maps")   # no job
    open_model(qtbot, window, "mnist_small")
    open_model(qtbot, window, "mnist_cnn")                     # back again: the model and its maps are kept
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=30000)
    assert window.layer_view.maps is not None and window.layer_view.maps.shape == (26, 26, 32)


def test_superseded_and_left_results_are_dropped(qtbot, window):
    shown = []
    def slow(progress, cancel):
        return (time.sleep(0.3), "old")[1]
    window.runner.submit("layer", slow, shown.append, shown.append)
    window.runner.submit("layer", lambda progress, cancel: "new", shown.append, shown.append)
    qtbot.waitUntil(lambda: shown == ["new"], timeout=5000)
    qtbot.wait(500)
    assert shown == ["new"]
    s, got, started = window.session, [], threading.Event()
    s.compute("v", ("a",), lambda progress, cancel: (started.set(), time.sleep(0.3), "A")[2], got.append)
    assert started.wait(5)
    s.forget("v")                                             # the user left the view
    qtbot.waitUntil(lambda: ("a",) in s.cache, timeout=5000)  # still computed and cached ...
    qtbot.wait(100)
    assert got == []                                          # ... but not shown
    assert s.compute("v", ("a",), lambda progress, cancel: "never", got.append) and got == ["A"]   # instant


def test_bad_files_show_a_message_and_the_app_stays_usable(qtbot, window, tmp_path):
    open_model(qtbot, window)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    window.load_image(str(bad))
    qtbot.waitUntil(lambda: window._last_error is not None, timeout=10000)
    assert "cannot read" in window._last_error and "notes.png" in window._last_error
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"garbage")
    window._last_error = None
    window.load_model(str(broken))
    qtbot.waitUntil(lambda: window._last_error is not None, timeout=10000)
    assert "broken.keras" in window._last_error
    assert window.session.model.name == "mnist_cnn" and "mnist_cnn" in window.model_label.text()   # kept
    window._last_error = None
    window.export_npz(str(tmp_path / "nothing.npz"))
    assert "nothing to export" in window._last_error
    open_image(qtbot, window)                                # and the app still works
    window.browse_dataset("folder", folder=str(tmp_path / "empty"))
    qtbot.waitUntil(lambda: "empty" in window.browser.status.text(), timeout=10000)     # named in the refusal
    window.browser.close()


def test_image_before_model_and_any_size_models(qtbot, window):
    window.load_image("skimage:coffee")                      # as `cnnviz-gui MODEL IMAGE` does
    open_model(qtbot, window, "vgg16_notop", weights="none")
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=30000)
    assert window.session.image.source == "skimage:coffee"
    assert "UNTRAINED" in window.model_label.text() and "UNTRAINED" in window.windowTitle()
    assert not window.prediction.isVisible() and "no classifier" in window.prediction_title.text()
    qtbot.waitUntil(lambda: window.layer_view.maps is not None, timeout=60000)
    assert window.layer_view.maps.shape[-1] == 64
    window.step_layer(+1)
    assert window.session.layer == "block1_conv2"
    assert window._last_error is None


def test_vgg16_weights_dialog(qtbot, window, monkeypatch):
    from cnnviz import CnnvizError
    from cnnviz.models import zoo

    monkeypatch.setattr(zoo, "vgg16_weights_available", lambda include_top=True: False)

    def fake_download(include_top=True, progress=None, cancel=None, **kwargs):
        for i in range(200):
            cancel.check()
            progress(i * 1_000_000, 59_000_000, "downloading")
            time.sleep(0.02)
        raise CnnvizError("could not download VGG16's ImageNet weights from https://example (offline)")

    monkeypatch.setattr(zoo, "download_vgg16_weights", fake_download)
    open_model(qtbot, window)
    window.load_model("vgg16_notop")
    qtbot.waitUntil(lambda: window.weights_dialog is not None and window.weights_dialog.isVisible(), timeout=30000)
    dialog = window.weights_dialog
    assert window.session.model_spec == "mnist_cnn"                     # nothing replaced yet
    assert "random weights" in dialog.random_button.text().lower() and "MB" in dialog.download_button.text()
    shot(dialog, "vgg16_weights_dialog")
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() > 50, timeout=10000)
    assert "MB" in dialog.progress.format() and not dialog.random_button.isEnabled()
    shot(dialog, "vgg16_weights_downloading")
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    assert "stopped" in dialog.status.text() and dialog.random_button.isEnabled()
    assert not window.runner.running("download")
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "could not download" in dialog.status.text(), timeout=20000)   # offline: stays open
    assert dialog.isVisible() and dialog.random_button.isEnabled()
    shot(dialog, "vgg16_weights_failed")
    qtbot.mouseClick(dialog.random_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.model_spec == "vgg16_notop", timeout=60000)
    assert "UNTRAINED (random weights)" in window.model_label.text()
    assert window.model_box.currentText() == "vgg16_notop (UNTRAINED: random weights)"      # not "(ImageNet)"
    open_model(qtbot, window)
    assert "UNTRAINED" not in window.model_box.currentText() and "ImageNet" in window.model_box.itemText(
        window.model_box.findData("vgg16_notop"))


def test_draw_a_digit(qtbot, window):
    open_model(qtbot, window)
    assert window.draw_pad.isVisible()
    pad = window.draw_pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 40))
    for y in range(40, 200, 8):
        qtbot.mouseMove(pad, QPoint(112, y))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 200))
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "drawn digit",
                    timeout=30000)
    qtbot.waitUntil(lambda: window.prediction.text() != "", timeout=30000)
    pixels = window.session.image.pixels[..., 0]
    assert pixels.max() > 200 and pixels[0, 0] == 0
    first = window.session.image_key
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(40, 112))
    qtbot.mouseMove(pad, QPoint(200, 112))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(200, 112))
    qtbot.waitUntil(lambda: window.session.image_key != first, timeout=30000)   # a new drawing, not the cache
    shot(window, "drawn_digit")
    open_model(qtbot, window, "vgg16_notop", weights="none")
    assert not window.draw_pad.isVisible()


def test_recent_models_images_and_the_model_picker(qtbot, window, tmp_path):
    import shutil

    from cnnviz.models.zoo import card_path, shipped_model_path

    copy = tmp_path / "my_mnist.keras"
    shutil.copy(shipped_model_path("mnist_small"), copy)
    shutil.copy(card_path(shipped_model_path("mnist_small")), card_path(copy))
    open_model(qtbot, window, str(copy))
    assert "my_mnist.keras" in window.model_label.text() and window.model_box.currentData() == str(copy)
    image = tmp_path / "digit.png"
    import imageio.v3 as iio

    iio.imwrite(image, np.zeros((28, 28), np.uint8))
    open_image(qtbot, window, str(image))
    assert window.recent("models") == [str(copy.resolve())]
    assert window.recent("images") == [str(image.resolve())]
    assert [a.text() for a in window.recent_models_menu.actions()][0].startswith("my_mnist.keras")
    window.choose_model()
    picker = window.picker
    qtbot.waitUntil(lambda: window.listing is not None, timeout=60000)
    rows = {picker.table.item(r, 0).text(): r for r in range(picker.table.rowCount())}
    assert {"mnist_cnn", "cifar10_cnn", "vgg16", "my_mnist.keras"} <= set(rows)
    assert picker.table.item(rows["mnist_cnn"], 1).text() == "mnist"
    assert picker.table.item(rows["mnist_cnn"], 4).text().endswith("%")
    weights_cell = picker.table.item(rows["vgg16"], 5).text()
    assert "download" in weights_cell or "cached" in weights_cell
    shot(picker, "model_picker")
    picker._choose(rows["mnist_cnn"])
    qtbot.waitUntil(lambda: window.session.model_spec == "mnist_cnn", timeout=60000)
    window.close()
    again = make_window(qtbot, tmp_path / "settings.ini")                 # remembered across sessions
    try:
        assert again.recent("models") == [str(copy.resolve())]
        assert again.settings.value("model") == "mnist_cnn"
    finally:
        again.runner.shutdown()


def test_export_png_and_npz(qtbot, window, tmp_path):
    open_model(qtbot, window)
    open_image(qtbot, window)
    qtbot.waitUntil(lambda: window.layer_view.maps is not None, timeout=30000)
    png = window.export_png(str(tmp_path / "layer.png"))
    assert png and Path(png).stat().st_size > 1000
    from PySide6.QtGui import QImage

    assert QImage(png).width() > window.width()          # the CLI's figure at 200 dpi, not a grab of the view
    with np.load(window.export_npz(str(tmp_path / "layer.npz"))) as f:
        assert f["activations"].shape == (26, 26, 32) and str(f["layer"]) == "conv1"
        assert f["kernel"].shape == (3, 3, 1, 32) and str(f["normalization"]) == "channel"
    window.open_unit(2)
    qtbot.waitUntil(lambda: window.unit_view.map is not None, timeout=30000)
    with np.load(window.export_npz(str(tmp_path / "unit.npz"))) as f:
        assert f["activation_map"].shape == (26, 26) and int(f["channel"]) == 2 and f["kernel"].shape == (3, 3, 1)


@needs_data
@pytest.mark.data
def test_dataset_browser(qtbot, window, tmp_path):
    open_model(qtbot, window)
    window.browse_dataset()
    browser = window.browser
    qtbot.waitUntil(lambda: browser.name == "mnist", timeout=30000)
    assert browser.count.text() == "10000 of 10000 images"
    browser.label_filter.setCurrentIndex(browser.label_filter.findData(7))
    assert browser.model.rowCount() == 1028 and browser.count.text().startswith("1028 of")
    shot(browser, "dataset_browser_mnist_7")
    browser.pick(0)
    qtbot.waitUntil(lambda: window.session.image is not None and "(label 7)" in window.session.image.source,
                    timeout=30000)
    assert window.session.image.source == "mnist test #0 (label 7)"
    qtbot.waitUntil(lambda: window.prediction.text().startswith("7 [7]"), timeout=30000)
    folder = tmp_path / "photos"
    folder.mkdir()
    import imageio.v3 as iio

    for i, name in enumerate(("b.png", "a.png")):
        iio.imwrite(folder / name, np.full((40, 60, 3), 80 * i, np.uint8))
    browser.open_source("folder", folder=str(folder))
    qtbot.waitUntil(lambda: browser.paths is not None, timeout=30000)
    assert [Path(p).name for p in browser.paths] == ["a.png", "b.png"] and browser.count.text() == "2 of 2 images"
    browser.pick(1)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source.startswith("b.png"),
                    timeout=30000)
    assert window.recent("images") == [str((folder / "b.png").resolve())]


@needs_data
@pytest.mark.data
def test_top_patches_job_completes(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    window.layers.selectRow(2)
    window.open_unit(3)
    uv = window.unit_view
    qtbot.waitUntil(lambda: uv.crops is not None, timeout=120000)                # found automatically
    assert "MNIST test set" in uv.patches_title.text() and "8×8 receptive field" in uv.patches_title.text()
    assert uv.crops.shape == (9, 8, 8, 1) and len(uv.patches.canvas.captions) == 9
    shot(window, "unit_top_patches")
    window.session.set_channel(4)                              # another channel of the layer: no new pass
    assert uv.crops is not None and not window.runner.running("unit.patches")
    canvas = uv.patches.canvas
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.tile_rect(0).center())
    qtbot.waitUntil(lambda: window.session.image is not None and "MNIST test set #" in window.session.image.source,
                    timeout=30000)


class EventLoopGaps:
    """The gaps between the ticks of a 10 ms timer: how long the event loop
    went unanswered. ``start()`` begins measuring afresh."""

    def __init__(self):
        self.gaps, self._last = [], time.perf_counter()
        self._timer = QTimer()
        self._timer.timeout.connect(self._tick)

    def _tick(self):
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self):
        self.gaps.clear()
        self._last = time.perf_counter()
        self._timer.start(10)

    def stop(self):
        self._timer.stop()


@needs_data
@pytest.mark.data
def test_long_job_cancels_and_the_event_loop_stays_responsive(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))          # no cached answer: a real long job
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    window.unit_view.auto.setChecked(False)
    window.open_unit(0)
    window.unit_view.find_top_patches()
    qtbot.waitUntil(lambda: window.progress.value() > 0, timeout=60000)
    loop = EventLoopGaps()
    loop.start()
    qtbot.wait(1500)
    loop.stop()
    gaps = loop.gaps
    assert window.runner.running("unit.patches")
    assert window.cancel_button.isVisible()
    shot(window, "long_job_progress")
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert not window.runner.running("unit.patches")
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=5000)
    assert window.unit_view.crops is None
    assert len(gaps) > 50 and max(gaps) < LATENCY_BOUND, f"event loop stalled {max(gaps) * 1000:.0f} ms"


def test_command_line_opens_model_and_image(qtbot, tmp_path, monkeypatch):
    from cnnviz_gui import app as gui_app

    seen = {}

    def run_until_loaded(self):
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.settings is settings)
        qtbot.waitUntil(lambda: window.session.image is not None and window.layer_view.maps is not None,
                        timeout=60000)
        seen.update(model=window.session.model_spec, image=window.session.image.source, title=window.windowTitle())
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", run_until_loaded)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert gui_app.main(["cnnviz-gui", "lenet", "skimage:coffee"], settings) == 0
    assert seen == {"model": "lenet", "image": "skimage:coffee", "title": "cnnviz — lenet — skimage:coffee"}
    assert settings.value("model") == "lenet"


def test_a_new_view_is_one_module_and_computes_only_when_shown(qtbot, window):
    from cnnviz_gui.views import View

    class Probe(View):
        title, name = "Probe", "probe"

        def __init__(self, session):
            super().__init__(session)
            self.calls = []

        def refresh(self, changed):
            self.calls.append(set(changed))

    probe = Probe(window.session)
    window.add_view(probe)
    assert window.tabs.tabText(window.tabs.count() - 1) == "Probe" and probe.calls == []
    window.session.layer_changed.emit()
    window.session.channel_changed.emit()
    assert probe.calls == []                                   # hidden: nothing computed yet
    window.tabs.setCurrentWidget(probe)
    assert probe.calls == [{"model", "image", "layer", "channel"}]
    window.session.image_changed.emit()
    assert probe.calls[-1] == {"image"}
    window.tabs.setCurrentIndex(0)
    window.session.image_changed.emit()
    assert len(probe.calls) == 2
