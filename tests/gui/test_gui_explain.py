"""The desktop app's Explain and Adversarial views, driven offscreen with
pytest-qt: every job runs to completion (tiny settings), a long one is
cancelled, the class changes, bad values give inline errors, PNG and NPZ
export, and the event loop stays responsive during a LIME run. Screenshots
go to artifacts/gui/."""
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
import test_gui  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from test_gui import ARTIFACTS, LATENCY_BOUND, EventLoopGaps, open_image, open_model, shot  # noqa: E402

from cnnviz import EXPLAIN_METHODS  # noqa: E402

window, no_file_dialogs = test_gui.window, test_gui.no_file_dialogs          # the same fixtures as there

LIME_SAMPLES = 6000         # about a second of LIME on cifar10_cnn


def explain_view(window):
    view = window.view("explain")
    window.tabs.setCurrentWidget(view)
    return view


def maps_ready(view):
    return bool(view.panels) and all(p.images[0] is not None for p in view.panels.values()) and not view.queue \
        and view.computing is None


def adversarial_view(window):
    view = window.view("adversarial")
    window.tabs.setCurrentWidget(view)
    return view


def select(view, method):
    """Select ``method`` in the list (its options below, the one shown alone)."""
    view.methods.setCurrentRow(EXPLAIN_METHODS.index(method))


def edit(qtbot, view, option, text):
    """Type into an option's text field and wait for it to apply."""
    editor = view.form.editors[option][1]
    editor.clear()
    qtbot.keyClicks(editor, text)
    qtbot.waitUntil(lambda: not view._apply.isActive(), timeout=5000)


def test_explain_grid_target_faithfulness_and_export(qtbot, window, tmp_path):
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = explain_view(window)
    assert list(view.panels) == ["saliency", "smoothgrad", "integrated_gradients", "guided_backprop", "gradcam",
                                 "occlusion", "lime"]
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    predicted = window.session.cached_predictions()[0]
    assert f"Explaining the predicted class “{predicted.name}” [{predicted.index}]" in view.header.text()
    gradcam = view.panels["gradcam"]
    assert "Grad-CAM" in gradcam.title.text() and "layer=conv3" in gradcam.title.text()
    assert "weighted activations" in gradcam.caption.text() and "[inferno]" in gradcam.colorbar.text()
    assert f"class “{predicted.name}”" in gradcam.notes.text()
    lime = view.panels["lime"]
    assert "samples=1000" in lime.title.text() and "fit R²" in lime.notes.text() and "[RdBu_r]" in lime.colorbar.text()
    assert "completeness error" in view.panels["integrated_gradients"].notes.text()
    shot(window, "explain_grid")

    ig = view.panels["integrated_gradients"]
    assert ig.colorbar.low.text().startswith("-")                  # signed: symmetric around zero
    view.signed.setCurrentIndex(view.signed.findData(False))
    assert not ig.colorbar.low.text().startswith("-") and "magnitude" in ig.caption.text()
    before = view.panels["saliency"].images[0].copy()
    view.opacity.setValue(10)
    assert not np.array_equal(before, view.panels["saliency"].images[0]) and view.opacity_label.text() == "10%"
    view.opacity.setValue(55)
    view.signed.setCurrentIndex(view.signed.findData(True))

    other = 3 if predicted.index != 3 else 5
    view.set_target(other)
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    assert f"Explaining class “{other}” [{other}]" in view.header.text()
    assert f"class “{other}” [{other}]" in gradcam.notes.text()

    view.score_faithfulness()
    qtbot.waitUntil(lambda: "random map scores" in view.random_scores.text(), timeout=60000)
    assert all("deletion AUC" in p.faithfulness.text() and p.faithfulness.isVisible() for p in view.panels.values())
    shot(window, "explain_faithfulness")

    png = window.export_png(str(tmp_path / "explain.png"))
    assert png and Path(png).stat().st_size > 10000
    from PySide6.QtGui import QImage

    assert QImage(png).width() >= 4 * 3.3 * 200 - 10          # explain_figure's 4 columns at 200 dpi
    with np.load(window.export_npz(str(tmp_path / "explain.npz"))) as f:
        assert f["gradcam_map"].shape == (28, 28) and int(f["gradcam_target"]) == other
        assert "layer=conv3" in str(f["gradcam_options"]) and 0 <= float(f["lime_deletion_auc"]) <= 1
        assert set(f) >= {f"{m}_map" for m in view.panels} | {"input", "image_source"}


def test_explain_options_bad_values_one_at_a_time_and_settings(qtbot, window, tmp_path):
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = explain_view(window)
    view.mode.setCurrentIndex(view.mode.findData("single"))
    select(view, "lime")
    assert view.selected == "lime" and list(view.panels) == ["lime"] and view.panels["lime"].alone
    assert set(view.form.editors) == {"samples", "segmentation", "segments", "features", "hide_color", "seed", "score"}
    view.form.editors["samples"][1].setValue(1)                           # the library refuses: inline
    qtbot.waitUntil(lambda: view.form.error.isVisible(), timeout=10000)
    assert "LIME needs at least 2" in view.form.error.text()
    assert "cannot compute" in view.panels["lime"].overlay.text() and window._last_error is None
    view.form.editors["samples"][1].setValue(200)
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    assert not view.form.error.isVisible() and "samples=200" in view.panels["lime"].title.text()
    assert view.panels["lime"].images[1] is not None                     # the map alone beside the overlay
    shot(window, "explain_single_lime")

    select(view, "occlusion")
    edit(qtbot, view, "patch", "big")
    assert "patch 'big' is not a valid int: give e.g. " in view.form.error.text()      # the app's words, not
    assert "occlusion.patch=" not in view.form.error.text()                          # the command line's
    edit(qtbot, view, "patch", "7")
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    assert "patch=7" in view.panels["occlusion"].title.text() and not view.form.error.isVisible()
    select(view, "gradcam")                                                 # layers of the model
    layers = view.form.editors["layer"][1]
    assert [layers.itemText(i) for i in range(layers.count())] == ["auto", "conv1", "pool1", "conv2", "pool2", "conv3"]
    layers.setCurrentIndex(layers.findText("pool2"))
    qtbot.waitUntil(lambda: maps_ready(view) and "layer=pool2" in view.panels["gradcam"].title.text(), timeout=30000)
    assert view.export_name() == "explain_mnist_cnn_gradcam"
    layers.setCurrentIndex(layers.findText("conv3"))
    qtbot.waitUntil(lambda: maps_ready(view) and view.options["gradcam"] == {"layer": "conv3"}, timeout=30000)
    open_model(qtbot, window, "lenet")                                     # no conv3: Grad-CAM's default again
    qtbot.waitUntil(lambda: maps_ready(view) and "layer=conv2" in view.panels["gradcam"].title.text(), timeout=60000)
    assert view.form.editors["layer"][1].currentText() == "auto"
    view.opacity.setValue(70)
    window.close()
    again = test_gui.make_window(qtbot, tmp_path / "settings.ini")           # the choices are remembered
    try:
        remembered = again.view("explain")
        assert remembered.mode.currentData() == "single" and remembered.selected == "gradcam"
        assert remembered.settings() == view.settings() and remembered.opacity.value() == 70
    finally:
        again.runner.shutdown()


def test_lime_keeps_the_event_loop_responsive_and_cancels(qtbot, window):
    open_model(qtbot, window, "cifar10_cnn")
    open_image(qtbot, window, "skimage:chelsea")
    view = explain_view(window)
    view.mode.setCurrentIndex(view.mode.findData("single"))
    select(view, "lime")
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)                 # warm: LIME at 1000 samples
    loop = EventLoopGaps()
    view.form.editors["samples"][1].setValue(LIME_SAMPLES)
    qtbot.waitUntil(lambda: view.computing == "lime", timeout=5000)
    start = time.perf_counter()
    loop.start()
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    loop.stop()
    gaps = loop.gaps
    seconds, worst = time.perf_counter() - start, max(gaps)
    figure = {"model": "cifar10_cnn", "lime_samples": LIME_SAMPLES, "seconds": round(seconds, 2), "ticks": len(gaps),
              "median_gap_ms": round(float(np.median(gaps)) * 1000, 1), "max_gap_ms": round(worst * 1000, 1)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "event_loop_latency.json").write_text(json.dumps(figure, indent=2) + "\n")
    print(f"event loop during LIME: {figure}")
    assert seconds > 0.3 and len(gaps) > 20
    assert worst < LATENCY_BOUND, f"the event loop stalled {worst * 1000:.0f} ms during LIME"

    view.form.editors["samples"][1].setValue(20000)                      # long: cancel it
    qtbot.waitUntil(lambda: window.cancel_button.isVisible() and view.computing == "lime", timeout=5000)
    qtbot.waitUntil(lambda: "computing… " in view.panels["lime"].overlay.text(), timeout=10000)
    shot(window, "explain_long_job_progress")
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in view.panels["lime"].overlay.text() and not window.runner.running("explain.map")
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=5000)
    view.form.editors["samples"][1].setValue(300)                        # and it still works
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)


def test_adversarial_attacks_save_and_errors(qtbot, window, tmp_path):
    import imageio.v3 as iio

    open_model(qtbot, window)
    open_image(qtbot, window)
    view = adversarial_view(window)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60000)
    r = view.result
    assert r.method == "pgd" and r.norm == "inf" and r.eps == pytest.approx(0.3) and r.steps == 40
    text = view.summary.text()
    assert "PGD" in text and "L-inf eps 0.3" in text and "untargeted, away from" in text and "8-bit image" in text
    assert "L-inf 0.3" in view.perturbation_caption.text() and "L2" in view.perturbation_caption.text()
    assert view.original_top.text() and view.adversarial_top.text() and view.perturbation_bar.isVisible()
    shot(window, "adversarial_pgd")

    predicted = int(r.labels[0])
    view.set_target(predicted)                                            # already the class: inline error
    qtbot.waitUntil(lambda: view.result is None and "Cannot attack" in view.summary.text(), timeout=30000)
    assert "already the predicted class" in view.summary.text() and window._last_error is None
    view.method.setCurrentIndex(view.method.findData("deepfool"))
    view.set_target((predicted + 1) % 10)
    qtbot.waitUntil(lambda: view.result is not None and view.result.method == "deepfool", timeout=60000)
    assert view.result.norm == "2" and view.result.eps is None and "no budget" in view.summary.text()
    assert f"targeted at “{(predicted + 1) % 10}”" in view.summary.text()
    shot(window, "adversarial_deepfool_targeted")

    saved = view.save_image(str(tmp_path / "adv.png"))
    assert saved and np.array_equal(iio.imread(saved), view.result.rounded[0][..., 0])
    assert view.save_image(str(tmp_path / "adv.jpg")) is None
    qtbot.waitUntil(lambda: window._last_error is not None, timeout=5000)
    assert "lossless" in window._last_error
    with np.load(window.export_npz(str(tmp_path / "adversarial.npz"))) as f:
        assert f["adversarial_8bit"].shape == (28, 28, 1) and str(f["method"]) == "deepfool"
        assert int(f["target"]) == (predicted + 1) % 10 and f["adversarial_probs"].shape == (10,)
    assert Path(window.export_png(str(tmp_path / "adversarial.png"))).stat().st_size > 10000

    view.method.setCurrentIndex(view.method.findData("pgd"))
    view.form.editors["steps"][1].setValue(5000)                          # long: cancel it
    qtbot.waitUntil(lambda: window.cancel_button.isVisible() and window.progress.value() > 0, timeout=30000)
    window.cancel_jobs()
    assert "Cancelled" in view.summary.text()
    view.form.editors["steps"][1].setValue(10)
    qtbot.waitUntil(lambda: view.result is not None and view.result.steps == 10, timeout=60000)
    shown, errors = view.result, window._last_error
    view.use_as_input()
    qtbot.waitUntil(lambda: "pgd adversarial of skimage:camera" in window.session.image.source, timeout=30000)
    qtbot.wait(600)                                        # past the settings' debounce: no attack started
    assert view.result is shown and not window.runner.running(view.jobs("attack")) and window._last_error == errors
    assert "now the input image" in view.summary.text() and not view.use_button.isEnabled()


def test_long_jobs_wait_to_be_asked_for_on_large_inputs(qtbot, window, monkeypatch):
    from cnnviz_gui.views import adversarial, explain

    monkeypatch.setattr(explain, "SMALL_INPUT", 0)                        # as if 28x28 were VGG16's 224x224
    monkeypatch.setattr(adversarial, "SMALL_INPUT", 0)
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = explain_view(window)
    qtbot.waitUntil(lambda: view.result("gradcam") is not None and not view.queue and view.computing is None,
                    timeout=60000)
    assert view.result("lime") is None and "LIME takes long on 28×28 images" in view.panels["lime"].overlay.text()
    qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    attack = adversarial_view(window)
    assert attack.result is None and "press “Run attack”" in attack.summary.text()
    qtbot.mouseClick(attack.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: attack.result is not None, timeout=60000)
    attack.form.editors["steps"][1].setValue(20)                          # asked once: changes run at once
    qtbot.waitUntil(lambda: attack.result is not None and attack.result.steps == 20, timeout=60000)


def test_rise_and_score_cam_come_with_their_options_from_their_declarations(qtbot, window, monkeypatch):
    """Nothing in the app names them: the list, the editors, waiting on a large input (declared slow)."""
    from cnnviz_gui.views import explain

    monkeypatch.setattr(explain, "SMALL_INPUT", 0)                        # as if 28x28 were VGG16's 224x224
    open_model(qtbot, window)
    open_image(qtbot, window)
    view = explain_view(window)
    items = [view.methods.item(i) for i in range(view.methods.count())]
    labels = {item.data(Qt.ItemDataRole.UserRole): item.text() for item in items}
    assert labels["rise"] == "RISE" and labels["scorecam"] == "Score-CAM"
    for item in items:
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in ("gradcam", "rise",
                                                                                             "scorecam")
                           else Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: view.result("gradcam") is not None and not view.queue and view.computing is None,
                    timeout=60000)
    assert view.result("rise") is None and "RISE takes long on 28×28 images" in view.panels["rise"].overlay.text()
    assert "Score-CAM takes long" in view.panels["scorecam"].overlay.text()
    select(view, "scorecam")
    assert set(view.form.editors) == {"layer", "max_n", "score"}
    layers = view.form.editors["layer"][1]
    assert [layers.itemText(i) for i in range(layers.count())] == ["auto", "conv1", "pool1", "conv2", "pool2", "conv3"]
    select(view, "rise")
    assert set(view.form.editors) == {"n_masks", "cells", "keep", "fill", "score", "seed"}
    view.form.editors["n_masks"][1].setValue(300)                          # asked for by editing its options
    qtbot.waitUntil(lambda: view.result("rise") is not None, timeout=60000)
    assert view.result("scorecam") is None
    qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: maps_ready(view), timeout=60000)
    rise = view.panels["rise"]
    assert "n_masks=300" in rise.title.text() and "(probability)" in rise.caption.text()
    assert "layer=conv3" in view.panels["scorecam"].title.text()
    shot(window, "explain_rise_scorecam")


def test_models_that_are_no_classifier_are_named_inline(qtbot, window, tmp_path):
    import keras

    from cnnviz import CnnvizError
    from cnnviz.models.predict import predict

    inputs = keras.Input((16, 16, 3))
    features = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs), name="features")
    with pytest.raises(CnnvizError, match="features is no classifier: it outputs 14x14x4 feature maps"):
        predict(features, np.zeros((1, 16, 16, 3), np.float32))
    path = tmp_path / "features.keras"
    features.save(path)
    open_model(qtbot, window, str(path))
    window.load_image("skimage:coffee")
    qtbot.waitUntil(lambda: window.session.image is not None, timeout=30000)
    assert "is no classifier" in window.prediction_title.text() and not window.prediction.isVisible()
    view = explain_view(window)
    assert "Nothing to explain" in view.header.text() and "no classifier" in view.header.text() and not view.panels
    shot(window, "explain_no_classifier")
    view = adversarial_view(window)
    assert "Nothing to attack" in view.summary.text()
    assert window._last_error is None and window.export_npz(str(tmp_path / "x.npz")) is None
