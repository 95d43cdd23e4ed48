"""The desktop app with users' own models (tests/user_models.py): each opens,
its contract and sources are in the model panel, its views compute; the
model-settings dialog declares preprocessing and class names (typed, or from
a file) and saves them to the model's card; cnnviz-gui takes --preprocess and
--classes; the dataset browser names the files it skipped."""
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from cnnviz_gui.app import _arguments  # noqa: E402
from cnnviz_gui.dialogs import DatasetBrowser  # noqa: E402
from cnnviz_gui.model_settings import ModelSettingsDialog  # noqa: E402
from test_gui import open_model, shot  # noqa: E402
from user_models import CONV_CORPUS, CORPUS, images, write_images  # noqa: E402

from cnnviz import CnnvizError  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs          # the same fixtures as there


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return {m.name: str(m.save(folder)) for m in CORPUS}


def _image(qtbot, window, tmp_path, user):
    path = write_images(tmp_path, images(user.channels, 1), [f"{user.name}.png"])[0]
    window.load_image(str(path))
    qtbot.waitUntil(lambda: window.session.image is not None and window.prediction.text() != "", timeout=30000)


@pytest.mark.parametrize("user", CONV_CORPUS, ids=[m.name for m in CONV_CORPUS])
def test_each_user_model_opens_with_its_contract_and_its_views_compute(qtbot, window, saved, user, tmp_path):
    open_model(qtbot, window, saved[user.name])
    info = window.session.info
    assert f"input {info.preprocessing} ({info.source('preprocessing')})" in window.model_label.text()
    assert "preprocessing:" in window.model_label.toolTip() and "classes:" in window.model_label.toolTip()
    _image(qtbot, window, tmp_path, user)
    assert window.session.image.x.shape == (12, 12, user.channels)
    np.testing.assert_array_equal(window.session.image.x[None], user.pipeline(window.session.image.pixels[None]))
    lv = window.layer_view
    qtbot.waitUntil(lambda: lv.maps is not None, timeout=30000)
    explain = window.view("explain")
    window.tabs.setCurrentWidget(explain)
    qtbot.waitUntil(lambda: bool(explain.panels) and all(p.images[0] is not None for p in explain.panels.values())
                    and not explain.queue and explain.computing is None, timeout=120000)
    assert window._last_error is None


def test_settings_dialog_declares_and_saves_to_the_card(qtbot, window, saved, tmp_path):
    spec = saved["nested"]
    open_model(qtbot, window, spec)
    user = next(m for m in CORPUS if m.name == "nested")
    _image(qtbot, window, tmp_path, user)
    assert window.session.info.source("classes") == "default"
    assert "classes unnamed" in window.model_label.text()
    dialog = ModelSettingsDialog(window.session, window)
    qtbot.addWidget(dialog)
    dialog.show()
    shot(dialog, "model_settings")
    dialog.classes.setPlainText("cat\ndog")                   # one name short: said in the dialog, nothing changes
    dialog.accept()
    assert dialog.isVisible() and "2 class names given" in dialog.status.text()
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    dialog.load_names(str(names))
    dialog.preprocess.setCurrentIndex(dialog.preprocess.findData("tf"))
    assert dialog.save.isChecked()
    dialog.accept()
    qtbot.waitUntil(lambda: window.session.image is not None and window.prediction.text() != "", timeout=30000)
    info = window.session.info
    assert (info.classes, info.preprocessing) == (("cat", "dog", "bird"), "tf")
    assert window.session.image.x.min() < 0                  # the picture was prepared again, on [-1, 1]
    card = json.loads(Path(spec).with_name("nested.card.json").read_text())
    assert card == {"classes": ["cat", "dog", "bird"], "preprocessing": "tf"}
    assert any(name in window.prediction.text() for name in ("cat", "dog", "bird"))


def test_command_line_contract_options(qtbot, window, saved, tmp_path):
    args = _arguments([saved["gray"], "--preprocess", "raw", "--classes", "x,y,z"])
    assert (args.model, args.preprocess, args.classes) == (saved["gray"], "raw", "x,y,z")
    with pytest.raises(CnnvizError, match="unknown preprocessing"):
        _arguments([saved["gray"], "--preprocess", "imagenet"])
    window.load_model(args.model, preprocess=args.preprocess, classes=args.classes)
    qtbot.waitUntil(lambda: window.session.model_spec == args.model and not window.runner.running("model"),
                    timeout=60000)
    info = window.session.info
    assert (info.preprocessing, info.classes, info.source("classes")) == ("raw", ("x", "y", "z"), "option")


def test_dataset_browser_names_skipped_files(qtbot, window, tmp_path):
    open_model(qtbot, window)
    folder = tmp_path / "photos"
    write_images(folder / "a", images(3, 3), ["1.png", "2.png", "3.png"])
    (folder / "a" / "broken.png").write_bytes(b"not a png")
    (folder / "a" / "notes.txt").write_text("no image")
    browser = DatasetBrowser(window.session, window, folder=str(folder))
    qtbot.addWidget(browser)
    browser.open_source("folder", folder=str(folder))
    qtbot.waitUntil(lambda: "images in" in browser.status.text(), timeout=30000)
    assert "3 images in" in browser.status.text()
    assert "skipped 2 unreadable or non-image file(s)" in browser.status.text()
    assert "broken.png" in browser.status.text() and "notes.txt" in browser.status.text()


def test_a_dense_network_opens_and_predicts_on_its_flattened_image(qtbot, window, saved, tmp_path):
    user = next(m for m in CORPUS if m.dense)
    open_model(qtbot, window, saved[user.name])
    assert window.session.info.flat and window.session.info.image_shape == (12, 12, 1)
    _image(qtbot, window, tmp_path, user)
    assert window.session.image.x.shape == (144,)
    np.testing.assert_array_equal(window.session.image.x[None], user.pipeline(window.session.image.pixels[None]))
    assert window._last_error is None
