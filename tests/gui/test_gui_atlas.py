"""The unit page links to the channel's page in an atlas built for the model's weights."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from test_gui import open_model, window  # noqa: E402,F401


def test_unit_page_opens_the_channel_in_the_atlas(qtbot, window, tmp_path, monkeypatch):  # noqa: F811
    from cnnviz_gui.views import unit

    from cnnviz import load_model
    from cnnviz.atlas import build_atlas, unit_path

    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    site = tmp_path / "site"
    build_atlas(load_model("mnist_small"), site, dataset=str(tmp_path / "*.png"), layers=["conv1"], k=4,
                syntheses=1, steps=4)
    opened = []
    monkeypatch.setattr(unit.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))

    open_model(qtbot, window, "mnist_small")
    window.session.set_layer("conv1")
    window.open_unit(2)
    uv = window.unit_view
    qtbot.waitUntil(lambda: uv.atlas is not None and uv.atlas_button.isVisible(), timeout=30000)
    qtbot.mouseClick(uv.atlas_button, Qt.MouseButton.LeftButton)
    assert opened == [str(site.resolve() / unit_path("conv1", 2))]

    window.session.set_layer("conv2")            # not in this atlas: no link
    window.open_unit(0)
    qtbot.waitUntil(lambda: not uv.atlas_button.isVisible(), timeout=10000)
