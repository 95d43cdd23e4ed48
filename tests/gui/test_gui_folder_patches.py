"""The unit page's top patches from a user's image folder: chosen on the unit
page or in the dataset browser, streamed from disk in the background, cached
on disk by the folder's files, and reused by a later session."""
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QFileDialog  # noqa: E402
from test_gui import make_window, open_image, open_model, shot  # noqa: E402

from cnnviz import load_model  # noqa: E402
from cnnviz.inside.top_patches import top_patches_files  # noqa: E402


@pytest.fixture
def photo_folder(tmp_path):
    """Two classes of 40x40 colour photos (not the model's 32x32: they are resized like single images)."""
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "photos" / cls).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / cls / f"{cls}_{i}.png")
    return tmp_path / "photos"


def test_unit_page_searches_an_image_folder_and_a_later_session_reuses_it(qtbot, tmp_path, photo_folder,
                                                                          monkeypatch):
    settings = tmp_path / "settings.ini"
    window = make_window(qtbot, settings)
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    window.session.set_layer("conv2")
    window.open_unit(3)
    uv = window.unit_view
    uv.auto.setChecked(False)
    assert "CIFAR-10 test set" in uv.find_button.text() and not uv.testset_button.isVisible()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photo_folder))
    qtbot.mouseClick(uv.folder_button, Qt.MouseButton.LeftButton)
    assert "photos" in uv.find_button.text() and uv.testset_button.isVisible()
    qtbot.mouseClick(uv.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: uv.crops is not None, timeout=120000)
    title, captions = uv.patches_title.text(), uv.patches.canvas.captions
    assert title.startswith("photos: the 9 images") and "file" in title
    assert len(captions) == 9 and all(c.split(" · ")[1].endswith(".png") for c in captions)
    assert set(uv.patches.canvas.labels) <= {"cats", "dogs"}
    assert uv.patches.canvas.tile_shape == (32, 32) and len(uv.patches.canvas.boxes) == 9   # the whole image, boxed
    files = uv.export_arrays()["patch_files"]                  # the NPZ names each patch's file
    assert len(files) == 9 and all(str(f).startswith(str(photo_folder)) for f in files)
    shot(window, "unit_folder_patches")
    uv.context.setChecked(False)                               # the bare crops
    assert uv.patches.canvas.tile_shape == uv.crops.shape[1:3] and uv.patches.canvas.boxes == []

    canvas = uv.patches.canvas                                 # a patch opens its own file
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.tile_rect(0).center())
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source.endswith(".png"),
                    timeout=30000)
    assert str(photo_folder) in window.session.image.source

    qtbot.mouseClick(uv.testset_button, Qt.MouseButton.LeftButton)
    assert "CIFAR-10 test set" in uv.find_button.text()
    qtbot.mouseClick(uv.folder_button, Qt.MouseButton.LeftButton)   # back to the folder for the next session
    window.close()
    window.runner.shutdown(timeout=20)

    # what the app found went to the disk cache, keyed by the folder's files
    again = top_patches_files(load_model("cifar10_cnn"), str(photo_folder), ["conv2"], k=9)
    assert again.from_cache

    later = make_window(qtbot, settings)                       # a later session remembers the folder
    try:
        assert later.session.folder == str(photo_folder) and later.session.patches_from_folder
    finally:
        later.runner.shutdown(timeout=20)


def test_a_folder_opened_in_the_dataset_browser_feeds_the_unit_page(qtbot, tmp_path, photo_folder):
    window = make_window(qtbot, tmp_path / "settings.ini")
    try:
        open_model(qtbot, window, "cifar10_cnn")
        window.browse_dataset("folder", str(photo_folder))
        qtbot.waitUntil(lambda: window.browser.paths is not None, timeout=30000)
        assert window.session.patch_dataset_name() == str(photo_folder)
    finally:
        window.runner.shutdown(timeout=20)
