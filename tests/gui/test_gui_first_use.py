"""A new user's first minutes with the app: what to do before an image is
open, a first window that fits the screen, a huge photo read at a reduced
size once, a model file with code asked about, a model that is no classifier
named by its file, the dataset and digit pad of a user's model found by its
input shape, strokes on the digit pad, exports that name what they hold, and
a one-line fix when Qt lacks its system libraries."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from PySide6.QtCore import QPoint, QRect, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from test_gui import hover, open_image, open_model  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs          # the same fixtures as there
ROOT = Path(__file__).resolve().parents[2]


def save_model(qtbot, window, path, input_shape, classifier=True, with_lambda=False):
    """A tiny untrained Keras model saved to ``path`` (no model card); Keras
    is imported once the app has imported it (two threads importing it at
    once break it)."""
    qtbot.waitUntil(window.runner.started, timeout=60000)
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    if with_lambda:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    if classifier:
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(10, activation="softmax", name="out")(x)
    keras.Model(inputs, x).save(path)
    return str(path)


def test_empty_state_until_an_image_is_open(qtbot, window):
    open_model(qtbot, window)
    assert "No image yet" in window.input_view.text() and "Open image" in window.input_view.text()
    assert not window.prediction.isVisible() and "open an image" in window.prediction_title.text()
    open_image(qtbot, window)
    assert window.prediction.isVisible() and "open an image" not in window.prediction_title.text()
    assert not window.input_view.pixmap().isNull()


def test_the_first_window_fits_the_screen(qtbot, tmp_path):
    from cnnviz_gui.app import MainWindow, first_size

    small = first_size(QRect(0, 0, 1280, 800))
    assert small.width() <= 1280 and small.height() <= 800 - 40                  # room for the title bar
    assert first_size(QRect(0, 0, 1600, 1000)).width() >= 1580                  # the screen is used
    assert first_size(QRect(0, 0, 2560, 1440)).width() == 1920
    w = MainWindow(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    hint = w.minimumSizeHint()
    assert hint.width() <= small.width() and hint.height() <= small.height()       # it can be that small
    screen = w.screen().availableGeometry()
    assert w.width() <= max(screen.width(), hint.width()) and w.height() <= max(screen.height(), hint.height())
    w.resize(small)
    w.show()
    qtbot.wait(50)
    assert w.statusBar().isVisible() and w.statusBar().geometry().bottom() < w.height()
    w.runner.shutdown(timeout=20)


def test_a_huge_jpeg_is_read_once_at_a_reduced_size(qtbot, window, tmp_path, monkeypatch):
    from cnnviz_gui import session as session_module
    from PIL import Image

    from cnnviz import Cancelled, CancelToken

    path = tmp_path / "huge.jpg"
    gradient = np.linspace(0, 255, 6000, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(gradient, (4000, 1))] * 3, axis=-1)).save(path, quality=50)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session_module.read_scaled(str(path), cancel=token)
    reads, messages = [], []
    real = session_module.read_scaled
    monkeypatch.setattr(session_module, "read_scaled", lambda *a, **k: reads.append(a) or real(*a, **k))
    window.runner.progress.connect(lambda view, done, total, message: messages.append(message))
    open_model(qtbot, window)
    window.load_image(str(path))
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=60000)
    raw = window.session.raw[0]
    assert max(raw.shape[:2]) <= session_module.WORKING_SIDE and raw.shape[1] > raw.shape[0]
    assert any("huge.jpg (6000×4000) at a reduced size" in m for m in messages)
    open_model(qtbot, window, "cifar10_cnn")                                      # a model switch ...
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.pixels.shape[-1] == 3,
                    timeout=60000)
    assert len(reads) == 1                                                        # ... does not read it again


def test_a_model_with_code_asks_before_running_it(qtbot, window, tmp_path):
    path = save_model(qtbot, window, tmp_path / "with_code.keras", (28, 28, 1), with_lambda=True)
    window.load_model(path)
    qtbot.waitUntil(lambda: getattr(window, "code_dialog", None) is not None and window.code_dialog.isVisible(),
                    timeout=30000)
    box = window.code_dialog
    assert "Lambda" in box.text() and "with_code.keras" in box.text()
    assert "runs that code" in box.informativeText() and "--unsafe" not in box.informativeText()
    assert window.session.model is None and window._last_error is None
    box.buttonClicked.emit(window.run_code_button)
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=30000)
    assert window.session.model_spec == path and window._last_error is None


def test_a_users_models_by_input_shape_and_no_classifier_named_by_file(qtbot, window, tmp_path):
    digits = save_model(qtbot, window, tmp_path / "my_digits.keras", (28, 28, 1))
    open_model(qtbot, window, digits)
    s = window.session
    assert s.model_dataset() == "mnist" and s.patch_dataset_name() == "mnist"
    assert window.draw_pad.isVisible() and window.draw_title.isVisible()
    features = save_model(qtbot, window, tmp_path / "features.keras", (32, 32, 3), classifier=False)
    open_model(qtbot, window, features)
    assert s.model_dataset() == "cifar10" and not window.draw_pad.isVisible()
    message = window.statusBar().currentMessage()
    assert "features.keras" in message and "no classifier" in message and "functional" not in message
    assert "features.keras" in window.prediction_title.text()
    problem = window.view("explain")._problem()
    assert "features.keras" in problem and "functional" not in problem


def test_the_digit_pad_joins_fast_strokes(qtbot, window):
    open_model(qtbot, window)
    pad = window.draw_pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(30, 100))
    hover(pad, QPoint(200, 100), Qt.MouseButton.LeftButton)           # one fast move across the pad
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(200, 100))
    assert pad.canvas[100, 30:201].min() == 255                      # a line, not two dots
    assert pad.digit()[13:15, 4:24].max(axis=0).min() > 0                # the MNIST digit: a 20-pixel bar


def test_exports_name_what_they_hold_and_draw_the_whole_view(qtbot, window, tmp_path):
    window.resize(1000, 560)                                         # the unit page scrolls
    open_model(qtbot, window)
    open_image(qtbot, window)
    window.open_unit(2)
    uv = window.unit_view
    qtbot.waitUntil(lambda: uv.map is not None, timeout=30000)
    first = uv.export_name()
    window.session.set_channel(3)
    assert first == "unit_mnist_cnn_conv1_ch2" and uv.export_name() == "unit_mnist_cnn_conv1_ch3"
    assert window.layer_view.export_name() == "layer_mnist_cnn_conv1"
    figure = uv.export_figure()                       # the unit page as one figure, without its controls
    titles = [" ".join(ax.get_title().split()) for ax in figure.axes]
    assert "where it fires on the input" in titles and "weights, input 0" in titles
    assert "synthesized image" not in titles                       # not computed: left out, not a placeholder
    image = QImage(window.export_png(str(tmp_path / "unit.png")))
    assert image.width() == round(figure.get_figwidth() * 200)     # the figure, at slide resolution (200 dpi)

    view = window.view("arithmetic")                               # a view of widgets: the whole page is drawn
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.step is not None, timeout=60000)
    window.resize(1000, 380)                                         # its page scrolls
    qtbot.waitUntil(lambda: view.page.height() > view.height(), timeout=5000)
    image = QImage(window.export_png(str(tmp_path / "arithmetic.png")))
    assert image.height() == view.page.height() and image.height() > view.height()   # the page, not the viewport
    assert image.width() == view.page.width()


def test_missing_qt_libraries_print_a_one_line_fix():
    script = ("import ctypes, sys\n"
              "from cnnviz_gui import app\n"
              "def missing(path, *a, **k):\n"
              "    raise OSError('libxcb-cursor.so.0: cannot open shared object file: No such file or directory')\n"
              "ctypes.CDLL = missing\n"
              "sys.exit(app.main(['cnnviz-gui']))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "gui"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "libxcb-cursor.so.0 is missing" in lines[0] and "apt-get install" in lines[0]
    assert "libxcb-cursor0" in lines[0] and "qt.qpa" not in done.stderr
