"""The contract "any Keras image model": every keras.applications family, built
with random weights at the smallest input it allows, saved with model.save()
and loaded back through cnnviz, goes through everything cnnviz does: its
family and preprocessing recognized, the summary with receptive fields (each
checked against the support of the unit's gradient on the same model),
activations, every explanation method, top patches, synthesis and an attack.

Tiny inputs and cheap options keep it to seconds per family; one family is
loaded at a time (module-scoped, parametrized fixture). test_applications.py
runs them two families to a process (what TensorFlow keeps of a family
after its release is 0.1-0.5 GB, 3.5 GB over the twelve in one process);
``CNNVIZ_TEST_FAMILIES=VGG16,DenseNet121`` picks families, all when unset."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import cnnviz
from cnnviz.adversarial import attack
from cnnviz.attribution.registry import METHODS
from cnnviz.common.runtime import release_model
from cnnviz.inside import activations, patch_crops, top_patches
from cnnviz.inside.receptive import Field, receptive_fields, unit_box
from cnnviz.inside.summary import format_summary, summarize
from cnnviz.models.graph import get_layer
from cnnviz.models.preprocessing import preprocess
from cnnviz.synthesis import synthesize_channels

pytestmark = pytest.mark.slow

A = keras.applications


def _on_a_base(build):
    """A user's classifier on a family's convolutional base (include_top=False)."""
    def make(shape):
        base = build(weights=None, include_top=False, input_shape=shape)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
        return keras.Model(base.input, keras.layers.Dense(10, activation="softmax", name="head")(x), name="mine")
    return make


def _top(build, **kwargs):
    return lambda shape: build(weights=None, input_shape=shape, classes=10, **kwargs)


# name, builder, smallest input side, family cnnviz must recognize, its preprocessing
FAMILIES = [
    ("VGG16", _on_a_base(A.VGG16), 32, "VGG16", "caffe"),
    ("VGG19", _on_a_base(A.VGG19), 32, "VGG19", "caffe"),
    ("ResNet50V2", _top(A.ResNet50V2), 32, "ResNetV2", "tf"),
    ("MobileNetV2", _top(A.MobileNetV2), 32, "MobileNetV2", "tf"),
    ("MobileNetV3Small", _top(A.MobileNetV3Small), 32, "MobileNetV3", "raw"),
    ("EfficientNetB0", _top(A.EfficientNetB0), 32, "EfficientNet", "raw"),
    ("EfficientNetV2B0", _top(A.EfficientNetV2B0), 32, "EfficientNetV2", "raw"),
    ("DenseNet121", _top(A.DenseNet121), 32, "DenseNet", "torch"),
    ("ConvNeXtTiny", _top(A.ConvNeXtTiny), 32, "ConvNeXt", "raw"),
    ("Xception", _top(A.Xception), 71, "Xception", "tf"),
    ("InceptionV3", _top(A.InceptionV3), 75, "InceptionV3", "tf"),
    ("NASNetMobile", _top(A.NASNetMobile), 32, "NASNet", "tf"),
]
N_IMAGES = 6
CHOSEN = [f for f in FAMILIES if f[0] in os.environ.get("CNNVIZ_TEST_FAMILIES", f[0]).split(",")]


@pytest.fixture(scope="module", params=CHOSEN, ids=[f[0] for f in CHOSEN])
def family(request, tmp_path_factory):
    """(loaded model, uint8 pixels, preprocessed inputs, expected family and mode)."""
    name, build, side, family_name, mode = request.param
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp(name) / f"{name}.keras"
    build((side, side, 3)).save(path)
    keras.backend.clear_session()
    model = cnnviz.load_model(str(path))
    pixels = np.random.default_rng(0).integers(0, 256, (N_IMAGES, side, side, 3), dtype=np.uint8)
    yield model, pixels, preprocess(pixels, cnnviz.model_info(model).preprocessing), family_name, mode
    path.unlink()
    release_model(model)                        # one family's graphs at a time (the suite's memory: under 6 GB)
    keras.backend.clear_session()


def spatial_fields(model) -> list[str]:
    """Top-level layers with a finite receptive field, in graph order."""
    return [n for n, f in receptive_fields(model).items()
            if isinstance(f, Field) and "/" not in n and len(get_layer(model, n).output.shape) == 4]


def gradient_support(sub, x: np.ndarray, row: int, col: int) -> tuple[int, int, int, int]:
    """Bounding box of the input pixels any of the images' gradients of unit
    (row, col) (channels summed) reaches: the brute-force receptive field."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(sub(x, training=False)[:, row, col, :])
    g = np.abs(tape.gradient(y, x).numpy()).sum(axis=(0, 3))
    rows, cols = np.nonzero(g)
    if not len(rows):
        return 0, 0, -1, -1            # a unit in padding added inside the network sees no pixel
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def test_family_and_preprocessing_recognized(family):
    model, _, _, family_name, mode = family
    info = cnnviz.model_info(model)
    assert (info.family, info.preprocessing) == (family_name, mode)
    assert f"keras.applications {family_name}" in info.preprocessing_note


def test_summary_and_receptive_fields_equal_gradient_support(family):
    model, _, x, _, _ = family
    summary = summarize(model)
    assert summary.total == model.count_params()
    assert "Total params" in format_summary(summary)
    names = spatial_fields(model)
    assert len(names) >= 3
    for name in (names[1], names[len(names) // 2], names[-1]):
        sub = keras.Model(model.inputs, get_layer(model, name).output)
        oh, ow = sub.outputs[0].shape[1:3]
        for row, col in {(0, 0), (oh // 2, ow // 2), (oh - 1, ow - 1)}:
            assert unit_box(model, name, row, col).clipped == gradient_support(sub, x, row, col), (name, row, col)


def test_activations(family):
    model, _, x, _, _ = family
    name = spatial_fields(model)[-1]
    maps = activations(model, x[:2], [name])
    assert maps[name].shape == (2, *get_layer(model, name).output.shape[1:])
    assert np.isfinite(maps[name]).all()


def test_every_explanation_method(family):
    model, _, x, _, _ = family
    side = x.shape[1]
    options = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 4},
               "occlusion": {"patch": side // 4}, "lime": {"samples": 16, "segmentation": "slic"},
               "rise": {"n_masks": 8}, "scorecam": {"max_n": 2}}
    results = cnnviz.explain(model, x[:1], list(METHODS), target=3, options=options)
    assert list(results) == list(METHODS)
    for name, result in results.items():
        assert result.maps.shape == (1, side, side) and np.isfinite(result.maps).all(), name


def test_top_patches(family):
    model, pixels, _, _, _ = family
    name = spatial_fields(model)[2]
    found = top_patches(model, pixels, [name], k=2, channels={name: [0, 1]}, cache=False)
    crops = patch_crops(found.layers[name], pixels)
    assert crops.shape[:2] == (2, 2) and crops.dtype == np.uint8


def test_synthesis(family):
    model, _, _, _, _ = family
    name = spatial_fields(model)[len(spatial_fields(model)) // 2]
    result = synthesize_channels(model, name, [0], steps=2)
    assert result.images.shape[0] == 1 and np.isfinite(result.images).all()


def test_fgsm_attack(family):
    model, pixels, _, _, _ = family
    result = attack(model, pixels[:2], method="fgsm", eps=2 / 255)
    assert result.adversarial.shape == (2, *pixels.shape[1:])
    assert np.abs(result.adversarial - pixels[:2] / 255.0).max() <= 2 / 255 + 1e-6


def test_app_layer_and_unit_views(family, qtbot, tmp_path):
    """The desktop app opens the saved file and shows a layer's maps and a unit page."""
    from cnnviz_gui.app import MainWindow
    from PySide6.QtCore import QSettings

    model, pixels, _, _, _ = family
    path = cnnviz.model_info(model).path
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    try:
        window.unit_view.auto.setChecked(False)                  # no top-patch pass over a dataset
        window.load_model(path, "imagenet")
        s = window.session
        qtbot.waitUntil(lambda: s.model_spec == path and not window.runner.running("model"), timeout=120000)
        window.load_image(None, pixels=pixels[0], source="random pixels")
        qtbot.waitUntil(lambda: s.image is not None, timeout=60000)
        row = [r for r in s.rows if r.spatial][2]
        s.set_layer(row.name)
        qtbot.waitUntil(lambda: window.layer_view.maps is not None, timeout=120000)
        assert window.layer_view.maps.shape[-1] == row.channels
        window.open_unit(1)
        qtbot.waitUntil(lambda: window.unit_view.map is not None, timeout=60000)
        assert window.unit_view.map.shape == window.layer_view.maps.shape[:2]
    finally:
        window.runner.shutdown(timeout=20)
