"""The library's errors in the app's words (no command-line option syntax, no
API hints, no imageio internals), and panel texts that follow the state."""
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from cnnviz_gui.messages import user_text  # noqa: E402
from test_gui import open_image, open_model  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs


def test_library_wording_becomes_the_apps():
    assert user_text("integrated_gradients.steps=0 is too small: use 1 or more") == \
        "steps 0 is too small: use 1 or more"
    assert "integrated_gradients." not in user_text("integrated_gradients.steps='x' is not a valid int: give e.g. "
                                                    "integrated_gradients.steps=1")
    assert user_text("target 'cat' (3) is already the predicted class of the image: pick another target, or use "
                     "target='random' for batches") == "target 'cat' (3) is already the predicted class of the " \
                                                       "image: pick another target"
    text = user_text("cannot read clip.xyz as a video (Could not find a backend to open `clip.xyz` with iomode "
                     "`r`.): give an animated GIF\nTraceback ...")
    assert text == "cannot read clip.xyz as a video: give an animated GIF\nTraceback ..."   # details kept below
    assert user_text("") == ""


def test_errors_reach_the_user_reworded(qtbot, window):
    from cnnviz import CnnvizError
    from cnnviz.attribution.registry import convert_option

    open_model(qtbot, window)
    with pytest.raises(CnnvizError) as raised:
        convert_option("integrated_gradients", "steps", "0")
    assert "integrated_gradients.steps" in str(raised.value)
    window.error(str(raised.value))
    assert "integrated_gradients.steps" not in window._last_error and "steps" in window._last_error


def test_the_random_maps_line_goes_when_the_class_changes(qtbot, window):
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = window.view("explain")
    window.tabs.setCurrentWidget(view)
    view.random_scores.setText("A random map scores deletion 0.4, insertion 0.5")
    view.set_target(3)
    assert view.random_scores.text() == ""
