"""The Layer tab's per-channel histograms: the library's numbers over a
seeded sample of the model's test set (those `cnnviz histograms` takes),
silent channels named, cached per model, layer and image count."""
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from conftest import needs_data  # noqa: E402
from test_gui import open_model, window  # noqa: E402,F401


@needs_data
@pytest.mark.data
def test_layer_tab_histograms_are_the_librarys(qtbot, window):  # noqa: F811
    from cnnviz.data.datasets import balanced_subset
    from cnnviz.data.sources import load_dataset
    from cnnviz.inside.activations import channel_histograms
    from cnnviz.models.inputs import dataset_inputs

    open_model(qtbot, window, "mnist_small")
    window.session.set_layer("conv2")
    lv = window.layer_view
    window.tabs.setCurrentWidget(lv)
    assert "Press Compute" in lv.histograms_header.text() and lv.histograms is None
    lv.histogram_images.setValue(50)
    lv.histogram_button.click()
    qtbot.waitUntil(lambda: lv.histograms is not None, timeout=120000)
    hist, silent = lv.histograms
    data = load_dataset("mnist")
    pick = balanced_subset(data.y_test, 50, 0)
    expected = channel_histograms(window.session.model, dataset_inputs(window.session.model, data.x_test[pick]),
                                  "conv2")
    assert hist.layer == "conv2" and hist.n_images == 50 and len(hist.channels) == 8
    np.testing.assert_allclose(hist.mean, expected.mean, rtol=1e-5)
    np.testing.assert_array_equal(hist.counts, expected.counts)
    assert "over 50 mnist test images" in lv.histograms_header.text() and lv.histogram_figure.rgb is not None
    assert all(f"{c}" in lv.histograms_header.text() for c in silent)
    arrays = lv.export_arrays()                              # Export NPZ: the histograms without an image
    np.testing.assert_array_equal(arrays["histogram_counts"], hist.counts)
    assert "activations" not in arrays and int(arrays["histogram_images"]) == 50
    window.session.set_layer("conv1")                        # another layer: not computed yet
    qtbot.waitUntil(lambda: lv.histograms is None and "Press Compute" in lv.histograms_header.text(), timeout=5000)
    window.session.set_layer("conv2")                        # back: shown from the cache at once
    assert lv.histograms is not None and lv.histograms[0] is hist
