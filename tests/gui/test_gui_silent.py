"""The unit page says when a channel's top patches mean nothing: a channel
that never fires on the dataset ("cannot fire" where interval bounds prove it)."""
import pytest

pytest.importorskip("pytestqt")

from conftest import needs_data  # noqa: E402
from test_gui import open_image, open_model, window  # noqa: E402,F401


@needs_data
@pytest.mark.data
def test_unit_page_marks_a_channel_that_never_fires(qtbot, window):  # noqa: F811
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    window.session.set_layer("conv1")
    uv = window.unit_view
    for channel, silent in ((1, True), (0, False)):            # conv1 channel 1 fires on no CIFAR-10 test image
        window.open_unit(channel)
        qtbot.waitUntil(lambda: uv.crops is not None and f"channel {channel} of conv1" in uv.patches_title.text(),
                        timeout=180000)
        assert ("these patches mean nothing" in uv.patches_title.text()) == silent
