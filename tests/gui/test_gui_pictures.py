"""What the app draws must be the whole, true picture: pictures scale to fit
rather than crop (down to a 1280x800 screen), "zero everywhere" means zero,
saturated score maps are flagged, the model box names only a loaded model,
and top-patch tiles keep their crop, captions and the image's edge visible."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from conftest import needs_data  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from test_gui import open_image, open_model, shot  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs          # the same fixtures as there


def assert_whole_picture(label, rows: int):
    """The label shows its whole picture (not cropped by its own size), with
    at least one screen pixel per row of the array."""
    pixmap = label.pixmap()
    room = label.contentsRect()
    assert pixmap.height() <= room.height() and pixmap.width() <= room.width(), (pixmap.size(), room)
    assert pixmap.height() >= rows


def test_unit_page_pictures_fit_down_to_1280x800(qtbot, window):
    open_model(qtbot, window, "lenet")
    open_image(qtbot, window)
    window.open_unit(3)                                        # conv1: 28x28 maps
    uv = window.unit_view
    qtbot.waitUntil(lambda: uv.map is not None, timeout=30000)
    assert uv.map.shape == (28, 28)
    for size in ((1600, 1000), (1500, 900), (1280, 800)):
        window.resize(*size)
        qtbot.wait(50)                                         # the layout settles
        assert_whole_picture(uv.map_view, 28)
        assert_whole_picture(uv.overlay_view, 28)
        assert window.statusBar().geometry().bottom() <= window.height()
    shot(window, "unit_lenet_conv1_1280x800")


def test_an_image_label_shrinks_its_picture_rather_than_crop(qtbot):
    from cnnviz_gui.widgets import ImageLabel

    label = ImageLabel(180)
    qtbot.addWidget(label)
    label.show()
    label.show_array(np.zeros((28, 28, 3), np.uint8))
    for width, height in ((300, 120), (90, 200), (180, 180)):      # what a crowded layout may give it
        label.resize(width, height)
        assert_whole_picture(label, 28)
    assert label.pixmap().height() == 168                           # 6x, whole pixels, when there is room


def test_zero_everywhere_means_zero(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    lv, uv = window.layer_view, window.unit_view
    qtbot.waitUntil(lambda: lv.maps is not None, timeout=30000)
    maps = np.zeros((26, 26, 3), np.float32)
    maps[..., 0] = np.linspace(-0.38, -0.04, 26 * 26).reshape(26, 26)       # no ReLU: negative, not zero
    maps[..., 2] = 0.5 * np.eye(26)
    lv._got_maps(maps)
    assert "1 of them are zero everywhere" in lv.header.text()
    window.open_unit(0)
    uv._got_maps(maps)
    assert "zero everywhere" not in uv.map_stats.text() and "min -0.38" in uv.map_stats.text()
    assert "receptive field of the strongest unit" in uv.overlay_caption.text()
    window.session.set_channel(1)
    uv._got_maps(maps)
    assert "zero everywhere" in uv.map_stats.text() and "silent" in uv.overlay_caption.text()


@needs_data
@pytest.mark.data
def test_saturated_occlusion_and_lime_are_flagged(qtbot, window):
    open_model(qtbot, window)
    data = window.session.dataset("mnist", input_shape=(28, 28, 1))
    window.load_image(None, pixels=data.x_test[0], source="MNIST #0")
    qtbot.waitUntil(lambda: window.prediction.text() != "", timeout=30000)
    assert "100.0%" in window.prediction.text()
    view = window.view("explain")
    for i in range(view.methods.count()):
        item = view.methods.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in ("occlusion", "lime",
                                                                                               "saliency")
                           else Qt.CheckState.Unchecked)
    window.tabs.setCurrentWidget(view)
    def ready():
        return all(p.images[0] is not None for p in view.panels.values()) and not view.queue \
            and view.computing is None
    qtbot.waitUntil(ready, timeout=120000)
    for method in ("occlusion", "lime"):
        panel = view.panels[method]
        assert panel.warning.isVisible() and "Negligible" in panel.warning.text(), method
        assert "probability is saturated" in panel.warning.text() and panel.logit_button.isVisible()
    assert not view.panels["saliency"].warning.isVisible()
    shot(window, "explain_saturated_flagged")
    qtbot.mouseClick(view.panels["occlusion"].logit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ready() and "score=logit" in view.panels["occlusion"].title.text(), timeout=60000)
    panel = view.panels["occlusion"]
    assert not panel.warning.isVisible() and np.ptp(view.result("occlusion").maps) > 0.1


def test_model_box_names_only_a_loaded_model(qtbot, window, monkeypatch):
    from cnnviz.models import zoo

    monkeypatch.setattr(zoo, "vgg16_weights_available", lambda include_top=True: False)
    assert window.model_box.currentData() is None and "no model" in window.model_box.currentText()
    window.load_model("vgg16_notop")
    qtbot.waitUntil(lambda: window.weights_dialog is not None and window.weights_dialog.isVisible(), timeout=30000)
    window.weights_dialog.reject()
    assert window.model_box.currentData() is None and window.session.model is None
    open_model(qtbot, window)
    assert window.model_box.currentData() == "mnist_cnn" and window.model_box.findData(None) < 0
    window.model_box.setCurrentIndex(window.model_box.findData("vgg16_notop"))     # the user picks it ...
    window.model_box.activated.emit(window.model_box.currentIndex())
    qtbot.waitUntil(lambda: window.weights_dialog.isVisible(), timeout=30000)
    window.weights_dialog.reject()                                                  # ... and cancels
    assert window.model_box.currentData() == "mnist_cnn"


def test_patch_tiles_keep_crop_captions_and_the_edge(qtbot):
    from cnnviz_gui.views.unit import inside_rects
    from cnnviz_gui.widgets import MosaicArea

    boxes = np.array([[-3, -3, 4, 4], [10, 10, 17, 17]])              # 8x8 fields, the first past the corner
    inside = inside_rects(boxes, (8, 8), (28, 28))
    assert inside == [(3, 3, 8, 8), (0, 0, 8, 8)]
    area = MosaicArea(min_tile=84, max_tile=150, labels_below=True)
    qtbot.addWidget(area)
    area.resize(400, 300)
    area.show()
    tiles = np.full((2, 8, 8, 3), 255, np.uint8)                      # white content
    tiles[0, :3] = tiles[0, :, :3] = 0                                # the padding patch_crops fills black
    long_name = "a very long class name that cannot fit under a tile"
    area.canvas.set_tiles(tiles, labels=["7", long_name], captions=["1.52 · #1234", "0.9 · #5"], inside=inside)
    qtbot.wait(50)
    canvas = area.canvas
    image = canvas.grab().toImage()
    first, second = canvas.tile_rect(0), canvas.tile_rect(1)
    assert first.width() >= 84
    corner = QColor(image.pixel(first.left() + 2, first.top() + 2))             # outside the image: grey, not black
    assert 80 <= corner.red() <= 170 and corner.red() == corner.green() == corner.blue()
    assert QColor(image.pixel(first.right() - 2, first.bottom() - 2)).red() == 255    # content
    assert QColor(image.pixel(second.left() + 2, second.top() + 2)).red() == 255      # no label over the crop
    metrics = canvas._small_font_metrics()
    assert metrics.horizontalAdvance("1.52 · #1234") <= first.width() + 2          # the caption fits whole
    assert canvas.shown_text(long_name, first.width()).endswith("…")
    assert canvas.caption_height() >= 2 * metrics.height()                         # label and caption lines
