"""The desktop app fed the bad files of the command line's table (issue 14)
through its Open model and Open image actions: each gives a warning dialog
naming the problem, and the app stays usable (a good model and image load
after)."""
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from cnnviz_gui.app import MainWindow  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QMessageBox  # noqa: E402


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """The same kinds of bad file as tests/cli/test_bad_input.py."""
    import imageio.v3 as iio
    import keras

    folder = tmp_path_factory.mktemp("gui-bad")
    (folder / "garbage.keras").write_bytes(b"not a zip at all")
    (folder / "text.h5").write_text("hello")
    (folder / "dir.keras").mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "photos").mkdir()
    pixels = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    pixels[:3, :3] = np.nan
    iio.imwrite(folder / "nan.tif", pixels)
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))).save(
        folder / "good.keras")
    with zipfile.ZipFile(folder / "good.keras") as z:
        members = {name: z.read(name) for name in z.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer.update(class_name="FancyDense", module="my_lab.layers", registered_name="FancyDense")
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(folder / "custom.keras", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return folder


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
