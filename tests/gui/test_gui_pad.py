"""The digit pad: it never moves under the pointer, not even when the first
prediction arrives in mid-stroke; strokes reach the model as MNIST digits
were made (20x20, centred by centre of mass); another input marks the drawing
stale and the next stroke starts afresh."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from scipy import ndimage  # noqa: E402
from test_gui import hover, open_image, open_model  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs


def test_the_pad_stays_put_and_a_stroke_in_the_top_half_is_centred(qtbot, window):
    open_model(qtbot, window)
    pad = window.draw_pad
    where = pad.mapTo(window, QPoint(0, 0))
    assert not window.prediction.isVisible() and window.session.image is None
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(60, 20))
    for x in range(60, 170, 10):                       # a bar across the top of the pad, slowly:
        hover(pad, QPoint(x, 30), Qt.MouseButton.LeftButton)
        qtbot.wait(40)                                 # the pad sends the digit every 150 ms, mid-stroke
        assert pad.mapTo(window, QPoint(0, 0)) == where
    qtbot.waitUntil(lambda: window.prediction.isVisible(), timeout=30000)    # the first prediction came ...
    hover(pad, QPoint(170, 60), Qt.MouseButton.LeftButton)
    assert pad.mapTo(window, QPoint(0, 0)) == where                      # ... and the pad did not move
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(170, 60))
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "drawn digit"
                    and window.session.image.pixels[..., 0].any(), timeout=30000)
    pixels = window.session.image.pixels[..., 0].astype(float)
    assert pad.canvas[:112].any() and not pad.canvas[112:].any()      # drawn in the top half only ...
    assert ndimage.center_of_mass(pixels) == pytest.approx((13.5, 13.5), abs=1.0)   # ... given centred
    cols = np.nonzero(pixels.max(axis=0) > 0)[0]
    assert cols.max() - cols.min() + 1 == pytest.approx(20, abs=1)              # the longer side made 20


def test_another_input_marks_the_drawing_stale(qtbot, window):
    open_model(qtbot, window)
    pad = window.draw_pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 40))
    hover(pad, QPoint(112, 180), Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(112, 180))
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.source == "drawn digit",
                    timeout=30000)
    assert not pad.stale
    open_image(qtbot, window)
    assert pad.stale and pad.canvas.any()
    assert pad.pixmap().toImage().pixelColor(112, 100).value() < 128     # drawn greyed
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(30, 30))   # the next stroke starts afresh
    assert not pad.stale and not pad.canvas[100:120, 100:120].any()
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(30, 30))
