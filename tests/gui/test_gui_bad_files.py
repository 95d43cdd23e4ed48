"""The desktop app fed the bad files of the command line's table (issue 14)
through its Open model and Open image actions: each gives a warning dialog
naming the problem, and the app stays usable (a good model and image load
after)."""

import pytest
from bad_files import make_bad_files  # noqa: E402

pytest.importorskip("pytestqt")
from cnnviz_gui.app import MainWindow  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """The same kinds of bad file as tests/cli/test_bad_input.py."""
    return make_bad_files(tmp_path_factory.mktemp("gui-bad"))


@pytest.fixture
def dialogs(monkeypatch):
    """Warning dialogs the app opens, recorded instead of shown."""
    shown = []
    monkeypatch.setattr(QMessageBox, "open", lambda box: shown.append(box.text()))
    return shown


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.runner.shutdown(timeout=20)


def choose_file(monkeypatch, path):
    """The next file dialog answers ``path``, as a user picking it would."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))


def wait_for_model(qtbot, window, spec):
    qtbot.waitUntil(lambda: window.session.model_spec == spec and not window.runner.running("model"), timeout=60000)


@pytest.mark.parametrize("name, message", [
    ("dir.keras", "is a folder, not a model file"), ("garbage.keras", "not a readable Keras model"),
    ("text.h5", "not a readable Keras model"), ("custom.keras", "custom layers must be importable"),
])
def test_open_model_with_a_bad_file(qtbot, window, monkeypatch, dialogs, bad_files, name, message):
    choose_file(monkeypatch, bad_files / name)
    window.open_model_dialog()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=30000)
    assert message in dialogs[0]
    choose_file(monkeypatch, bad_files / "good.keras")                   # still usable
    window.open_model_dialog()
    wait_for_model(qtbot, window, str(bad_files / "good.keras"))
    assert window.session.model is not None and len(dialogs) == 1


@pytest.mark.parametrize("name, message", [
    ("photos", "is a folder, not an image file"), ("broken.png", "cannot read"),
    ("nan.tif", "9 pixel(s) that are not finite"),
])
def test_open_image_with_a_bad_file(qtbot, window, monkeypatch, dialogs, bad_files, name, message):
    window.load_model("mnist_small")
    wait_for_model(qtbot, window, "mnist_small")
    choose_file(monkeypatch, bad_files / name)
    window.open_image_dialog()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=30000)
    assert message in dialogs[0]
    window.load_image("skimage:camera")                                  # still usable
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "skimage:camera",
                    timeout=30000)
    assert len(dialogs) == 1
