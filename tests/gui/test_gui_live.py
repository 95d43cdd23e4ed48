"""Live input: an image folder and an animated GIF played through the model,
frame after frame, with the layer grid, the unit page and an attribution map
following the frames; the rate shown; Esc stops it."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from test_gui import open_image, open_model, shot  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs          # the same fixtures as there


def frames(n=4):
    """28x28 frames of a bar moving across, white on black like MNIST."""
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        out[i, 4:24, 4 + 5 * i:8 + 5 * i] = 255
    return out


def test_a_folder_plays_and_every_view_follows(qtbot, window, tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, frame in enumerate(frames()):
        Image.fromarray(frame).save(folder / f"f{i}.png")
    open_model(qtbot, window)
    s, lv = window.session, window.layer_view
    seen = {}                                   # frame caption -> the layer grid's maps shown for it
    lv.maps_shown.connect(lambda: seen.setdefault(s.image.source, lv.maps.copy()))
    window.play(str(folder))
    qtbot.waitUntil(lambda: len(seen) >= 4, timeout=60000)
    assert {caption.split(" ")[0] for caption in seen} == {f"clip/f{i}.png" for i in range(4)}
    maps = list(seen.values())
    assert not np.array_equal(maps[0], maps[1])                                  # the maps follow the frames
    assert "frames/s" in window.live_label.text() and window.act_live.text() == "Stop live"
    shot(window, "live_layer")
    uv = window.unit_view
    window.open_unit(3)
    followed = set()
    qtbot.waitUntil(lambda: uv.map is not None and followed.add(s.image.source) is None and len(followed) >= 3,
                    timeout=60000)
    assert s.image.source.split(" ")[0] in uv.map_stats.text()                    # the unit page's map of that frame
    view = window.view("explain")
    view.mode.setCurrentIndex(view.mode.findData("single"))
    view.methods.setCurrentRow(0)                                                # saliency alone
    window.tabs.setCurrentWidget(view)
    explained = set()

    def explaining():
        result = view.result("saliency")
        if result is not None:
            explained.add(s.image.source)
        return len(explained) >= 3

    qtbot.waitUntil(explaining, timeout=60000)
    shot(window, "live_explain")
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.live.playing and "live stopped" in window.live_label.text()
    count = window.live.frames
    qtbot.wait(300)
    assert window.live.frames == count and window.act_live.text() == "Live…"


def test_an_animated_gif_plays_and_loops(qtbot, window, tmp_path):
    path = tmp_path / "bar.gif"
    images = [Image.fromarray(f) for f in frames(3)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40)
    open_model(qtbot, window)
    window.play(str(path))
    qtbot.waitUntil(lambda: window.live.frames >= 5, timeout=60000)              # past the last frame: looped
    assert window.session.image.source.startswith("bar.gif frame ")
    window.live.stop()


def test_a_folder_without_frames_says_so(qtbot, window, tmp_path):
    open_model(qtbot, window)
    window.play(str(tmp_path))
    assert "holds no images" in window._last_error and not window.live.playing


def test_class_folders_play_and_the_stop_line_goes_with_the_play(qtbot, window, tmp_path):
    for cls, frame in zip(("cat", "dog"), frames(2)):
        (tmp_path / cls).mkdir()
        Image.fromarray(frame).save(tmp_path / cls / f"{cls}.png")
    open_model(qtbot, window)
    window.play(str(tmp_path))
    qtbot.waitUntil(lambda: window.live.frames >= 3, timeout=60000)
    assert window.session.image.source.startswith(f"{tmp_path.name}/")
    assert "average" in window.live_label.text()
    window.live.stop()
    assert "on average" in window.live_label.text() and "stopped after" in window.live_label.text()
    open_image(qtbot, window)                                    # another input: the play's line goes
    assert window.live_label.text() == ""


def test_live_explain_computes_every_ticked_method_for_some_frame(qtbot, window, tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, frame in enumerate(frames()):
        Image.fromarray(frame).save(folder / f"f{i}.png")
    open_model(qtbot, window)
    view = window.view("explain")
    ticked = ("saliency", "gradcam", "smoothgrad", "integrated_gradients", "occlusion")
    for i in range(view.methods.count()):
        item = view.methods.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in ticked
                           else Qt.CheckState.Unchecked)
    window.tabs.setCurrentWidget(view)
    window.play(str(folder))
    drawn = set()

    def every_method_drawn():
        drawn.update(m for m in ticked if m in view.panels and view.panels[m].images[0] is not None)
        return drawn == set(ticked) and window.live.frames >= 6

    qtbot.waitUntil(every_method_drawn, timeout=120000)
    assert view.queue == [] or set(view.queue) <= set(ticked)
    assert any(view.panels[m].warning.isVisible() for m in ("smoothgrad", "integrated_gradients", "occlusion"))
    window.live.stop()
