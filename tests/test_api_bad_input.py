"""Bad input through the Python API (issue 14): every public compute function
checks what it is given like the command line does, raising a CnnvizError that
names the argument, never a raw NumPy or TensorFlow exception. The same bad
value goes through every function that takes it."""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz import CnnvizError, attack, explain
from cnnviz.attribution import compare, gradcam, integrated_gradients, occlusion, saliency
from cnnviz.inside import activations, effective_receptive_field, patch_crops, top_patches
from cnnviz.inside.profile import activation_profile
from cnnviz.lab import evaluate
from cnnviz.models import predict
from cnnviz.synthesis import synthesize_channels, synthesize_class

# Functions taking preprocessed model input (N, 16, 16, 3) for the tiny CNN.
MODEL_INPUT = {
    "saliency": lambda m, x: saliency(m, x),
    "integrated_gradients": lambda m, x: integrated_gradients(m, x, steps=2),
    "gradcam": lambda m, x: gradcam(m, x),
    "occlusion": lambda m, x: occlusion(m, x, patch=8),
    "explain": lambda m, x: explain(m, x, ["saliency"]),
    "compare": lambda m, x: compare(m, x, ["saliency"], steps=2),
    "activations": lambda m, x: activations(m, x),
    "effective_receptive_field": lambda m, x: effective_receptive_field(m, x, "conv"),
    "predict": lambda m, x: predict(m, x),
}
# Functions taking pixels (uint8, or [0, 1] floats for attacks).
PIXELS = {
    "attack": lambda m, x: attack(m, x, method="fgsm", eps=0.1),
    "top_patches": lambda m, x: top_patches(m, x, ["conv"], k=2, cache=False),
    "activation_profile": lambda m, x: activation_profile(m, x, ["conv"]),
}
ALL = {**MODEL_INPUT, **PIXELS}

BAD_ARRAYS = {
    "nan": (lambda: np.where(np.arange(2 * 16 * 16 * 3).reshape(2, 16, 16, 3) % 97 == 0, np.nan, 0.5)
            .astype(np.float32), "not finite"),
    "inf": (lambda: np.full((1, 16, 16, 3), np.inf, np.float32), "not finite"),
    "text": (lambda: np.full((1, 16, 16, 3), "a"), "holds text"),
    "complex": (lambda: np.zeros((1, 16, 16, 3), np.complex64), "complex"),
    "objects": (lambda: np.array([None, 1], dtype=object), "Python objects"),
    "empty": (lambda: np.zeros((0, 16, 16, 3), np.float32), "empty"),
    "ragged": (lambda: [np.zeros((16, 16, 3)), np.zeros((8, 8, 3))], "not an array of numbers"),
}
BAD_SHAPES = {
    "rank 2": np.zeros((16, 16), np.float32),
    "rank 5": np.zeros((1, 1, 16, 16, 3), np.float32),
}


@pytest.fixture(scope="module")
def two_input_model():
    import keras

    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(2, 3, name="conv")(keras.layers.Add()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(4)(keras.layers.Flatten()(x)), name="two_inputs")


@pytest.mark.parametrize("function", list(ALL))
@pytest.mark.parametrize("case", list(BAD_ARRAYS))
def test_bad_arrays(tiny_cnn, function, case):
    make, message = BAD_ARRAYS[case]
    with pytest.raises(CnnvizError, match=message):
        ALL[function](tiny_cnn, make())


@pytest.mark.parametrize("function", list(ALL))
@pytest.mark.parametrize("case", list(BAD_SHAPES))
def test_wrong_rank(tiny_cnn, function, case):
    with pytest.raises(CnnvizError, match=r"do not fit|batch of images"):
        ALL[function](tiny_cnn, BAD_SHAPES[case])


@pytest.mark.parametrize("function", list(MODEL_INPUT) + ["attack"])
def test_wrong_channels(tiny_cnn, function):
    with pytest.raises(CnnvizError, match="do not fit"):
        ALL[function](tiny_cnn, np.zeros((1, 16, 16, 1), np.float32))


@pytest.mark.parametrize("function", list(ALL))
def test_two_input_model(two_input_model, function):
    with pytest.raises(CnnvizError, match="2 inputs"):
        ALL[function](two_input_model, np.zeros((1, 16, 16, 3), np.float32))


def test_top_patches_refuses_floats_in_0_1(tiny_cnn):
    images = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)
    with pytest.raises(CnnvizError, match=r"floats in \[0, 1\].*astype\('uint8'\)"):
        top_patches(tiny_cnn, images, ["conv"], k=2, cache=False)


def test_patch_crops_refuses_floats_in_0_1(tiny_cnn):
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    result = top_patches(tiny_cnn, images, ["conv"], k=2, cache=False)
    with pytest.raises(CnnvizError, match=r"floats in \[0, 1\]"):
        patch_crops(result.layers["conv"], images / 255.0)


def test_top_patches_k_is_cut_to_what_exists(tiny_cnn):
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    result = top_patches(tiny_cnn, images, ["conv"], k=50, cache=False)
    assert result.k == 3 and result.layers["conv"].values.shape == (4, 3)
    assert (result.layers["conv"].image_index >= 0).all()


X = np.full((2, 16, 16, 3), 0.5, np.float32)
PIXELS_U8 = np.full((2, 16, 16, 3), 128, np.uint8)


@pytest.mark.parametrize("call, message", [
    (lambda m: saliency(m, X, stpes=4), "saliency.. has no argument 'stpes'"),
    (lambda m: integrated_gradients(m, X, stpes=4), "did you mean steps"),
    (lambda m: attack(m, PIXELS_U8, stpes=4), "has no option 'stpes': its options are eps, norm, steps"),
    (lambda m: compare(m, X, ["saliency"], stpes=4), "did you mean steps"),
    (lambda m: activations(m, X, layer="conv"), "did you mean layers"),
    (lambda m: top_patches(m, PIXELS_U8, ["conv"], kk=3), "has no argument 'kk'"),
    (lambda m: synthesize_channels(m, "conv", stpes=4), "no synthesis option 'stpes' .did you mean steps"),
    (lambda m: synthesize_class(m, [0], lerning_rate=0.1), "did you mean learning_rate"),
    (lambda m: evaluate(m, datset="mnist"), "did you mean dataset"),
    (lambda m: explain(m, X, ["saliency"], options={"saliency": {"stpes": 3}}), "saliency has no option 'stpes'"),
])
def test_unknown_keyword_arguments_are_named(tiny_cnn, call, message):
    with pytest.raises(CnnvizError, match=message):
        call(tiny_cnn)


@pytest.mark.parametrize("call, message", [
    (lambda m: saliency(m, X, target=[]), "0 targets for 2 images"),
    (lambda m: explain(m, X, ["saliency"], target=[]), "0 targets for 2 images"),
    (lambda m: attack(m, PIXELS_U8, method="fgsm", target=[]), "0 targets for 2 images"),
    (lambda m: synthesize_class(m, []), "no classes given"),
    (lambda m: explain(m, X, []), "no methods given"),
    (lambda m: compare(m, X, []), "no methods given"),
    (lambda m: top_patches(m, PIXELS_U8, [], cache=False), "no layers given"),
])
def test_empty_lists(tiny_cnn, call, message):
    with pytest.raises(CnnvizError, match=message):
        call(tiny_cnn)


@pytest.mark.parametrize("call, message", [
    (lambda m: synthesize_channels(m, "conv", steps=float("nan")), "steps must be a finite number"),
    (lambda m: synthesize_channels(m, "conv", steps=0), "steps must be a whole number of at least 1"),
    (lambda m: synthesize_channels(m, "conv", learning_rate=-1.0), "learning_rate must be above 0"),
    (lambda m: synthesize_channels(m, "conv", tv=-0.5), "tv must be 0 or more"),
    (lambda m: synthesize_channels(m, "conv", blur_every=float("inf")), "blur_every must be a finite number"),
    (lambda m: synthesize_channels(m, "conv", unit=(99, 0)), r"unit \(99, 0\) is outside conv's 14x14 map"),
    (lambda m: synthesize_channels(m, "conv", unit=(1,)), "unit must be two whole numbers"),
    (lambda m: attack(m, PIXELS_U8, method="pgd", steps=float("nan")), "steps=nan is not a valid int"),
    (lambda m: attack(m, PIXELS_U8, method="deepfool", overshoot=-1.0), "overshoot=-1.0 is too small"),
    (lambda m: attack(m, PIXELS_U8, method="cw", confidence=float("nan")), "confidence=nan is not a finite number"),
    (lambda m: compare(m, X, ["saliency"], region=17), "region=17: give a region side from 1 to 16"),
    (lambda m: compare(m, X, ["saliency"], region=0), "region=0"),
    (lambda m: top_patches(m, PIXELS_U8, ["conv"], k=0), "k must be a whole number of at least 1"),
    (lambda m: top_patches(m, PIXELS_U8, ["conv"], channels={"conv": [7]}, cache=False), r"among 0..3"),
    (lambda m: effective_receptive_field(m, X, "conv", mass=1.5), "mass=1.5"),
])
def test_bad_option_values(tiny_cnn, call, message):
    with pytest.raises(CnnvizError, match=message):
        call(tiny_cnn)


def test_model_without_class_scores(tiny_cnn):
    import keras

    inputs = keras.Input((16, 16, 3))
    regression = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)), name="reg")
    for call in (lambda: saliency(regression, X), lambda: compare(regression, X, ["saliency"]),
                 lambda: predict(regression, X)):
        with pytest.raises(CnnvizError, match="single output unit"):
            call()


@pytest.mark.parametrize("limit", [0, -5, 2.5, float("nan")])
def test_evaluate_limit(limit):
    from cnnviz.models import build_model

    with pytest.raises(CnnvizError, match="limit must be a whole number"):
        evaluate(build_model("mnist_small"), "mnist", limit=limit)


def test_evaluate_refuses_another_dataset_than_the_card():
    from cnnviz.models import build_model

    with pytest.raises(CnnvizError, match=r"mnist_small was trained on mnist .*cifar10 is another dataset"):
        evaluate(build_model("mnist_small"), "cifar10")


# ---------------------------------------------------------------- issue 22: what the CLI checks, the API checks too

GRADIENT_METHODS = {"saliency": saliency,
                    "integrated_gradients": lambda m, x, **k: integrated_gradients(m, x, steps=2, **k),
                    "gradcam": gradcam, "occlusion": lambda m, x, **k: occlusion(m, x, patch=8, **k)}
PIXELS_AS_INPUT = {
    "uint8 0-255": (np.full((1, 16, 16, 3), 200, np.uint8), "are uint8 pixels, but tiny_cnn takes input in \\[0, 1\\]"),
    "float 0-255": (np.full((1, 16, 16, 3), 200.0, np.float32), "values from 200 to 200"),
    "negative": (np.full((1, 16, 16, 3), -3.0, np.float32), "values from -3 to -3"),
}


@pytest.mark.parametrize("function", list(GRADIENT_METHODS))
@pytest.mark.parametrize("case", list(PIXELS_AS_INPUT))
def test_pixels_given_as_model_input_are_refused(tiny_cnn, function, case):
    x, message = PIXELS_AS_INPUT[case]
    with pytest.raises(CnnvizError, match=message):
        GRADIENT_METHODS[function](tiny_cnn, x)


@pytest.mark.parametrize("function", list(GRADIENT_METHODS))
@pytest.mark.parametrize("target,message", [(True, "is a boolean"), (np.bool_(False), "is a boolean"),
                                            (1.5, "not a class index"), (float("nan"), "not a class index"),
                                            ([True, 1], "is a boolean")])
def test_boolean_and_fractional_targets_are_refused(tiny_cnn, function, target, message):
    x = np.full((2, 16, 16, 3), 0.5, np.float32)
    with pytest.raises(CnnvizError, match=message):
        GRADIENT_METHODS[function](tiny_cnn, x, target=target)


def test_a_whole_float_target_is_its_class(tiny_cnn):
    x = np.full((1, 16, 16, 3), 0.5, np.float32)
    assert saliency(tiny_cnn, x, target=2.0).targets.tolist() == [2]


@pytest.mark.parametrize("options,message", [({"patch": 3.5}, "patch=3.5 must be a whole number"),
                                             ({"patch": True}, "patch=True must be a whole number"),
                                             ({"patch": 4, "stride": 2.0}, "stride=2.0 must be a whole number")])
def test_occlusion_sizes_must_be_whole(tiny_cnn, options, message):
    with pytest.raises(CnnvizError, match=message):
        occlusion(tiny_cnn, np.full((1, 16, 16, 3), 0.5, np.float32), **options)


@pytest.mark.parametrize("baseline", [np.zeros((8, 8, 3), np.float32), np.zeros((3, 16, 16, 3), np.float32),
                                      np.zeros((16, 16, 1, 2), np.float32)])
def test_a_baseline_of_the_wrong_shape_is_refused(tiny_cnn, baseline):
    with pytest.raises(CnnvizError, match="baseline of shape .* does not fit images of shape \\(2, 16, 16, 3\\)"):
        integrated_gradients(tiny_cnn, np.full((2, 16, 16, 3), 0.5, np.float32), baseline=baseline, steps=2)


def test_a_nan_baseline_is_refused(tiny_cnn):
    with pytest.raises(CnnvizError, match="baseline has .* not finite"):
        integrated_gradients(tiny_cnn, np.full((1, 16, 16, 3), 0.5, np.float32),
                             baseline=np.full((16, 16, 3), np.nan, np.float32), steps=2)


def test_an_unknown_layer_in_receptive_fields_is_named(tiny_cnn):
    from cnnviz.inside.receptive import receptive_fields

    fields = receptive_fields(tiny_cnn)
    assert fields["conv"].size == (3, 3)
    with pytest.raises(CnnvizError, match="no layer 'conv9'.*did you mean conv"):
        fields["conv9"]


@pytest.mark.parametrize("scope", ["channel", "layer", "global"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_normalize_maps_refuses_non_finite_maps(scope, bad):
    from cnnviz.inside.activations import normalize_maps

    maps = {"conv": np.ones((1, 4, 4, 2), np.float32)}
    maps["conv"][0, 0, 0, 0] = bad
    with pytest.raises(CnnvizError, match="maps\\['conv'\\] has 1 value"):
        normalize_maps(maps, scope)
