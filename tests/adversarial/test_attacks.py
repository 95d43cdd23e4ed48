"""Adversarial examples: analytic checks on linear models (FGSM is eps times
the sign of the weight difference, DeepFool reaches the boundary in one
step), budgets and ranges for every method and norm, targeted attacks,
8-bit images that still fool after saving and reloading, seeds, progress
and cancel, clear errors, and the literature's figures on the shipped
mnist_cnn (on 200 test images here; the benchmark uses 1,000)."""
import json

import keras
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import Cancelled, CancelToken, CnnvizError, load_model
from cnnviz.adversarial import AttackResult, attack, project, quantize
from cnnviz.adversarial.base import COMPILED, default_eps, logits_fn
from cnnviz.adversarial.gradient import random_starts
from cnnviz.adversarial.robustness import robustness
from cnnviz.cli.main import main
from cnnviz.models.zoo import ModelInfo, register

METHOD_NORMS = [("fgsm", "inf"), ("fgsm", "2"), ("pgd", "inf"), ("pgd", "2"), ("cw", "2"),
                ("deepfool", "inf"), ("deepfool", "2")]


def linear_model(shape=(4, 4, 1), classes=2, seed=0, scale=1.0, softmax=False, info=None):
    """Flatten -> Dense: logits are w . x + b, gradients known in closed form."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax" if softmax else None, name="out")(x)
    model = keras.Model(inputs, outputs, name="linear")
    w, b = model.layers[-1].get_weights()
    model.layers[-1].set_weights([w * scale, b])
    if info is not None:
        register(model, info)
    return model


def weight_difference(model, a=1, b=0):
    w = model.layers[-1].get_weights()[0]
    return (w[:, a] - w[:, b]).reshape(model.inputs[0].shape[1:])


def mid_grey(shape, n=1, seed=0):
    """Images away from the [0, 1] box edges, so no step is clipped."""
    return (0.5 + 0.05 * np.random.default_rng(seed).uniform(-1, 1, (n, *shape))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.fixture(scope="module")
def tiny_images():
    return np.random.default_rng(3).integers(0, 256, (6, 12, 12, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def mnist_cnn():
    return load_model("mnist_cnn")


@pytest.fixture(scope="module")
def mnist_test():
    from cnnviz import load_dataset

    data = load_dataset("mnist")
    return data.x_test[:200], data.y_test[:200].astype(np.int64)


# ---------------------------------------------------------------- analytic checks on linear models

def predicted(model, x):
    return int(np.argmax(model(x[None] if x.ndim == 3 else x)[0]))


def test_fgsm_on_a_linear_model_is_eps_times_the_sign_of_the_weight_difference():
    model = linear_model()
    x = mid_grey((4, 4, 1))
    label = predicted(model, x)
    other = 1 - label
    result = attack(model, x, method="fgsm", eps=0.03)
    expected = x[0] + 0.03 * np.sign(weight_difference(model, other, label))
    np.testing.assert_allclose(result.adversarial[0], expected, atol=1e-6)
    assert result.linf[0] == pytest.approx(0.03, abs=1e-6) and result.steps_used[0] == 1
    targeted = attack(model, x, method="fgsm", eps=0.03, target=other)   # towards the other class: the same step
    np.testing.assert_allclose(targeted.adversarial, result.adversarial, atol=1e-6)


def test_fgm_l2_on_a_saturated_softmax_moves_along_the_normalized_weight_difference():
    """The logit margin is about 50: softmax gradients are ~1e-22 and their
    squares underflow in float32; the step must still have length eps."""
    model = linear_model(softmax=True, scale=1.0)
    x = mid_grey((4, 4, 1))
    w = weight_difference(model)
    bias = model.layers[-1].get_weights()[1]
    margin = float(np.sum(w * x[0]) + bias[1] - bias[0])
    model.layers[-1].set_weights([model.layers[-1].get_weights()[0] * (50 / abs(margin)), bias])
    w = weight_difference(model)
    label = predicted(model, x)
    result = attack(model, x, method="fgsm", norm="2", eps=0.1)
    direction = w if label == 0 else -w
    np.testing.assert_allclose(result.adversarial[0], x[0] + 0.1 * direction / np.linalg.norm(direction), atol=1e-6)
    assert result.l2[0] == pytest.approx(0.1, rel=1e-4)


def test_fgsm_goes_through_vgg16_preprocessing_in_pixel_space():
    """preprocess_input turns RGB into BGR and scales by 255: the pixel-space
    gradient is the weight difference with its channels flipped back."""
    model = linear_model((3, 3, 3), info=ModelInfo("linear_vgg", preprocessing="vgg16", classes=("a", "b")))
    x = mid_grey((3, 3, 3))
    label = predicted(model, keras.applications.vgg16.preprocess_input(x * 255.0))
    result = attack(model, x, method="fgsm", eps=0.02)
    flipped = weight_difference(model, 1 - label, label)[..., ::-1]
    np.testing.assert_allclose(result.adversarial[0], x[0] + 0.02 * np.sign(flipped), atol=1e-6)


@pytest.mark.parametrize("preprocessing, module", [("tf", "mobilenet_v2"), ("torch", "densenet"),
                                                   ("caffe", "resnet"), ("raw", "efficientnet")])
def test_attacks_go_through_every_keras_applications_preprocessing(preprocessing, module):
    """The attack's logits of [0, 1] pixels are the model's logits of the family's
    preprocess_input(pixels * 255); FGSM's step follows their gradient's sign."""
    import importlib

    import tensorflow as tf

    info = ModelInfo("linear", preprocessing=preprocessing, classes=("a", "b"))
    model = linear_model((3, 3, 3), scale=0.01, info=info)          # small logits: softmax not saturated
    x = mid_grey((3, 3, 3))
    keras_input = importlib.import_module(f"keras.applications.{module}").preprocess_input(x * 255.0)
    np.testing.assert_allclose(logits_fn(model, preprocessing)(tf.constant(x)), model(keras_input), rtol=1e-4,
                               atol=1e-4)
    label = predicted(model, keras_input)
    scale = {"tf": 2.0, "torch": 1.0 / np.array([0.229, 0.224, 0.225]), "caffe": 255.0, "raw": 255.0}[preprocessing]
    w = weight_difference(model, 1 - label, label)
    direction = np.sign((w[..., ::-1] if preprocessing == "caffe" else w) * scale)
    result = attack(model, x, method="fgsm", eps=0.02)
    np.testing.assert_allclose(result.adversarial[0], x[0] + 0.02 * direction, atol=1e-6)


@pytest.mark.parametrize("norm", ["2", "inf"])
def test_deepfool_reaches_a_linear_boundary_in_one_step_with_the_minimal_perturbation(norm):
    model = linear_model(scale=0.3)
    x = mid_grey((4, 4, 1))
    z = np.asarray(model(x))[0]
    w = weight_difference(model)
    dual = np.linalg.norm(w.ravel()) if norm == "2" else np.abs(w).sum()
    minimal = abs(z[1] - z[0]) / dual                      # distance to the boundary in this norm
    result = attack(model, x, method="deepfool", norm=norm)
    size = result.l2[0] if norm == "2" else result.linf[0]
    assert result.success[0] and result.steps_used[0] == 1
    # DeepFool's step: (|f| + 1e-4) / ||w||, then 2% overshoot
    assert size == pytest.approx(1.02 * (minimal + 1e-4 / dual), rel=1e-4)


def test_carlini_wagner_finds_nearly_the_minimal_l2_perturbation():
    model = linear_model(scale=0.3)
    x = mid_grey((4, 4, 1), n=3, seed=1)
    z = np.asarray(model(x))
    minimal = np.abs(z[:, 1] - z[:, 0]) / np.linalg.norm(weight_difference(model).ravel())
    result = attack(model, x, method="cw", steps=100, binary_steps=6)
    assert result.success.all()
    assert (result.l2 >= minimal * 0.999).all() and (result.l2 <= minimal * 1.15).all()


# ---------------------------------------------------------------- budgets, ranges, targets

@pytest.mark.parametrize("method, norm", METHOD_NORMS)
def test_budget_and_range_are_respected(tiny, tiny_images, method, norm):
    eps = 4 / 255 if norm == "inf" else 0.3
    result = attack(tiny, tiny_images, method=method, norm=norm, eps=eps, steps=None if method == "fgsm" else 10)
    size = result.linf if norm == "inf" else result.l2
    assert result.adversarial.shape == (6, 12, 12, 3) and result.adversarial.dtype == np.float32
    assert (size <= eps + 1e-5).all()
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert np.allclose(result.original * 255, tiny_images)
    rounded = result.rounded.astype(np.float64) / 255 - tiny_images / 255
    flat = rounded.reshape(6, -1)
    rounded_size = np.abs(flat).max(1) if norm == "inf" else np.linalg.norm(flat, axis=1)
    assert result.rounded.dtype == np.uint8 and (rounded_size <= eps + 1e-9).all()
    assert result.success.dtype == bool and result.steps_used.shape == (6,)
    assert np.array_equal(result.success, result.adversarial_prediction != result.labels)


def test_original_predictions_do_not_depend_on_how_they_were_obtained(tiny, tiny_images):
    """With labels and no random start, the originals' predictions come from
    the first step's forward pass instead of a separate one."""
    from cnnviz.models.predict import probabilities

    labels = np.arange(6) % 4
    reference = probabilities(tiny, tiny_images.astype(np.float32) / 255)
    for options in (dict(method="fgsm"), dict(method="pgd", random_start=False, steps=3), dict(method="pgd", steps=3)):
        for given in (None, labels):
            result = attack(tiny, tiny_images, eps=4 / 255, labels=given, **options)
            np.testing.assert_allclose(result.original_probs, reference, atol=1e-5)
            np.testing.assert_allclose(result.adversarial_probs, probabilities(tiny, result.adversarial), atol=1e-5)


@pytest.mark.parametrize("options", [dict(method="fgsm"), dict(method="pgd", steps=3),
                                     dict(method="pgd", steps=3, random_start=False)])
def test_a_gradient_attack_with_labels_is_one_graph_call(tiny, tiny_images, monkeypatch, options):
    """Both predictions come from the attack's own compiled call (issue 27:
    three graph calls where the floor makes one cost 1.2-1.5x at batch 1)."""
    from cnnviz.adversarial import base, gradient

    def refused(*args, **kwargs):
        raise AssertionError("a separate forward pass")

    for module in (base, gradient):
        monkeypatch.setattr(module, "pixel_probabilities", refused)
    result = attack(tiny, tiny_images, eps=4 / 255, labels=np.arange(6) % 4, **options)
    assert result.adversarial_probs.shape == result.original_probs.shape == (6, 4)


def test_minimal_attacks_are_unbounded_unless_capped(tiny, tiny_images):
    free = attack(tiny, tiny_images, method="deepfool", norm="2")
    assert free.eps is None and free.success.all()
    cap = float(np.median(free.l2))
    capped = attack(tiny, tiny_images, method="deepfool", norm="2", eps=cap)
    assert (capped.l2 <= cap + 1e-5).all() and capped.success.sum() < 6 and "projected" in capped.notes[0]


def test_quantize_keeps_the_budget_where_rounding_to_nearest_would_break_it():
    original = np.array([[[[100 / 255]], [[100 / 255]]]], np.float32)       # (1, 2, 1, 1)
    eps = 0.3                                                                # 76.5 levels: +76 allowed, not +77
    adversarial = np.clip(original + np.array([[[[eps]], [[-eps]]]], np.float32), 0, 1)
    q = quantize(adversarial, original, eps, "inf")
    assert q.ravel().tolist() == [176, 24]                                  # nearest would give 177 and 23
    assert quantize(adversarial, original).ravel().tolist() == [177, 23]    # no budget: nearest
    l2 = quantize(adversarial, original, eps * np.sqrt(2), "2")
    assert np.linalg.norm(l2.astype(float) / 255 - original.ravel()[0]) <= eps * np.sqrt(2)
    np.testing.assert_allclose(project(original + 0.2, original, 0.1, "inf"), original + 0.1, atol=1e-7)
    far = project(original + np.array([[[[0.3]], [[0.4]]]], np.float32), original, 0.1, "2")
    np.testing.assert_allclose(far - original, np.array([[[[0.06]], [[0.08]]]]), atol=1e-6)   # scaled onto the ball


@needs_data
@pytest.mark.parametrize("method", ["fgsm", "pgd", "cw", "deepfool"])
def test_targeted_attacks_change_the_prediction_to_the_target(mnist_cnn, mnist_test, method):
    x, y = mnist_test[0][:12], mnist_test[1][:12]
    target = (y + 3) % 10
    eps = {"fgsm": 0.4, "pgd": 0.3}.get(method)
    result = attack(mnist_cnn, x, method=method, eps=eps, target=target, labels=y,
                    norm="2" if method == "cw" else "inf")
    assert np.array_equal(result.target, target)
    hit = result.adversarial_prediction == target
    assert np.array_equal(result.success, hit)
    assert hit.mean() >= (0.5 if method == "fgsm" else 0.9)


def test_target_by_name_on_an_imagenet_model():
    from cnnviz import imagenet_classes

    model = linear_model((8, 8, 3), classes=1000, scale=0.2, info=ModelInfo(
        "linear_imagenet", dataset="imagenet", classes=tuple(imagenet_classes()), preprocessing="vgg16"))
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    result = attack(model, x, method="pgd", eps=0.1, target="Ostrich")
    assert result.target[0] == 9 and result.success[0]
    assert result.top("adversarial")[0][0].name == "ostrich"


# ---------------------------------------------------------------- 8-bit images that still fool

@needs_data
def test_saved_and_reloaded_png_still_fools(tmp_path, mnist_cnn, mnist_test):
    import imageio.v3 as iio

    from cnnviz.models.inputs import load_image
    from cnnviz.models.predict import predict

    x, y = mnist_test[0][:8], mnist_test[1][:8]
    pgd = attack(mnist_cnn, x, method="pgd", eps=0.3, labels=y)
    deepfool = attack(mnist_cnn, x, method="deepfool", labels=y)
    for result in (pgd, deepfool):
        for i in range(len(x)):
            path = tmp_path / f"{result.method}{i}.png"
            iio.imwrite(path, result.rounded[i, ..., 0])
            again = load_image(path, mnist_cnn)
            assert np.array_equal(again.pixels, result.rounded[i])
            fooled = predict(mnist_cnn, again.x[None])[0][0].index != y[i]
            assert fooled == result.rounded_success[i]           # the report tells the truth either way
    assert pgd.rounded_success.all()                              # full-strength PGD survives rounding
    assert not deepfool.rounded_success.all()                     # DeepFool stops 2% past the boundary: some undone
    assert any("8-bit rounding undoes" in n for n in deepfool.notes)


# ---------------------------------------------------------------- seeds, progress, cancel

def test_seeded_runs_repeat_and_seeds_differ(tiny, tiny_images):
    a = attack(tiny, tiny_images, method="pgd", eps=8 / 255, steps=5, seed=1)
    b = attack(tiny, tiny_images, method="pgd", eps=8 / 255, steps=5, seed=1)
    c = attack(tiny, tiny_images, method="pgd", eps=8 / 255, steps=5, seed=2)
    np.testing.assert_array_equal(a.adversarial, b.adversarial)
    assert not np.allclose(a.adversarial, c.adversarial)
    random_a = attack(tiny, tiny_images, method="pgd", eps=8 / 255, steps=2, target="random", seed=4)
    random_b = attack(tiny, tiny_images, method="pgd", eps=8 / 255, steps=2, target="random", seed=4)
    assert np.array_equal(random_a.target, random_b.target) and (random_a.target != random_a.labels).all()


def test_random_start_is_drawn_per_image_not_per_batch(tiny_images):
    x = tiny_images.astype(np.float32) / 255
    whole = random_starts(x, np.arange(6), 7, 0.1, "inf")
    part = random_starts(x[3:5], np.arange(3, 5), 7, 0.1, "inf")
    np.testing.assert_array_equal(whole[3:5], part)
    ball = random_starts(x, np.arange(6), 7, 0.5, "2") - x
    assert (np.linalg.norm(ball.reshape(6, -1), axis=1) <= 0.5 + 1e-6).all()


@needs_data
def test_early_stop_fools_the_same_images_after_the_same_steps(mnist_cnn, mnist_test):
    x, y = mnist_test[0][:100], mnist_test[1][:100]
    full = attack(mnist_cnn, x, labels=y, eps=0.1, steps=20)
    early = attack(mnist_cnn, x, labels=y, eps=0.1, steps=20, early_stop=True)
    assert 0.1 < full.success.mean() < 0.9
    assert np.mean(full.success == early.success) >= 0.98
    same = full.success & early.success
    assert np.mean(full.steps_used[same] == early.steps_used[same]) >= 0.95
    assert (early.linf <= 0.1 + 1e-6).all()


def test_progress_reaches_the_end_and_cancel_stops(tiny, tiny_images):
    calls = []
    attack(tiny, tiny_images, method="pgd", steps=25, batch_size=4, progress=lambda d, t, m: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (150, 150)
    token = CancelToken()

    def cancel_soon(done, total, message):
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        attack(tiny, tiny_images, method="pgd", steps=40, batch_size=2, progress=cancel_soon, cancel=token)
    with pytest.raises(Cancelled):
        robustness(tiny, tiny_images, [0] * 6, eps=[0, 0.1], progress=cancel_soon, cancel=token)


def test_compiled_once_per_model_and_configuration(tiny, tiny_images):
    attack(tiny, tiny_images, method="pgd", eps=0.01, steps=23)
    runs = {k: f for k, f in COMPILED[tiny].items() if k[:4] == ("gradient", "scale01", "inf", False)}
    assert {3, 10} <= {k[-1] for k in runs}                       # chunks of 10 unrolled steps and the remainder
    traced = {k: f.experimental_get_tracing_count() for k, f in runs.items()}
    for eps, steps in ((0.02, 23), (0.05, 13), (0.1, 30)):       # eps and step size are tensors: no retracing
        attack(tiny, tiny_images, method="pgd", eps=eps, steps=steps)
    assert {k: f.experimental_get_tracing_count() for k, f in runs.items()} == traced


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("options, message", [
    (dict(eps=-0.1), "eps must be 0 or positive"),
    (dict(eps=8), "out of range"),
    (dict(norm="2", eps=1000), "out of range"),
    (dict(method="jsma"), "unknown attack method 'jsma'"),
    (dict(norm="1"), "unknown norm '1'"),
    (dict(method="cw", norm="inf"), "use norm 2"),
    (dict(target="ostrich"), "unknown class 'ostrich'"),
    (dict(target=12), "out of range"),
    (dict(method="fgsm", steps=5), "fgsm takes a single step"),
    (dict(steps=0), "at least 1"),
])
def test_bad_options_give_clear_errors(tiny, tiny_images, options, message):
    with pytest.raises(CnnvizError, match=message.replace("(", r"\(")):
        attack(tiny, tiny_images[:1], **options)


def test_target_equal_to_the_true_class_is_an_error(tiny, tiny_images):
    label = int(attack(tiny, tiny_images[:1], method="fgsm", eps=0.0).labels[0])
    with pytest.raises(CnnvizError, match="already the predicted class"):
        attack(tiny, tiny_images[:1], target=label)
    with pytest.raises(CnnvizError, match="already the true class of 1 of the 2 images"):
        attack(tiny, tiny_images[:2], labels=[2, 1], target=1)


def test_images_must_be_pixels_at_the_model_size(tiny, tiny_images):
    with pytest.raises(CnnvizError, match=r"float images must be pixels in \[0, 1\]"):
        attack(tiny, tiny_images.astype(np.float32))              # 0..255 floats: not [0, 1]
    with pytest.raises(CnnvizError, match="do not fit tiny"):
        attack(tiny, np.zeros((2, 8, 8, 3), np.uint8))


# ---------------------------------------------------------------- the literature, on the shipped mnist_cnn

@needs_data
def test_mnist_cnn_pgd_fgsm_and_targeted_pgd_reach_the_literature_figures(mnist_cnn, mnist_test):
    x, y = mnist_test
    pgd = attack(mnist_cnn, x, method="pgd", eps=0.3, steps=40, labels=y)
    assert np.mean(pgd.adversarial_prediction == y) < 0.05                # Madry et al.: ~0-4% for standard training
    assert (pgd.linf <= 0.3 + 1e-6).all() and pgd.adversarial.min() >= 0 and pgd.adversarial.max() <= 1
    fgsm = attack(mnist_cnn, x, method="fgsm", eps=0.25, labels=y)
    assert np.mean(fgsm.adversarial_prediction == y) < 0.5                 # Goodfellow et al.
    assert (fgsm.linf <= 0.25 + 1e-6).all()
    targeted = attack(mnist_cnn, x, method="pgd", eps=0.3, steps=40, labels=y, target="random")
    assert np.mean(targeted.adversarial_prediction == targeted.target) >= 0.9
    assert (targeted.linf <= 0.3 + 1e-6).all()
    assert default_eps(mnist_cnn) == 0.3


@needs_data
def test_robustness_curve_on_the_test_set(mnist_cnn):
    from cnnviz.lab.evaluate import evaluate

    pgd = robustness(mnist_cnn, method="pgd", eps=[0, 0.1, 0.3], n=100, steps=20)
    fgsm = robustness(mnist_cnn, method="fgsm", eps=[0, 0.1, 0.3], n=100)
    clean = evaluate(mnist_cnn, limit=100).accuracy
    for curve in (pgd, fgsm):
        assert curve.n == 100 and curve.accuracy[0] == pytest.approx(clean) == curve.clean_accuracy
        assert curve.accuracy[-1] < curve.accuracy[0]
    assert pgd.accuracy[-1] <= fgsm.accuracy[-1] and pgd.accuracy[-1] < 0.05
    deepfool = robustness(mnist_cnn, method="deepfool", norm="2", eps=[0, 1, 4], n=50)
    assert deepfool.accuracy[0] > deepfool.accuracy[1] > deepfool.accuracy[2] and deepfool.median_norm > 0
    skipped = robustness(mnist_cnn, method="fgsm", eps=[0.2], n=100, target=1)
    assert skipped.n == 100 - 14 and skipped.targeted                    # the 14 ones of the first 100 are skipped
    data = json.loads(json.dumps(pgd.to_json()))
    assert [p["eps"] for p in data["points"]] == [0, 0.1, 0.3]


# ---------------------------------------------------------------- figures and command line

def test_figures_show_the_three_columns_and_the_curves(tiny, tiny_images):
    from cnnviz.plots.adversarial import attack_figure, robustness_figure

    result = attack(tiny, tiny_images[:2], method="pgd", eps=8 / 255, steps=5)
    assert isinstance(result, AttackResult)
    fig = attack_figure(result, title="tiny")
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith("original: ") and "top-5" not in t for t in titles) == 2
    assert sum(t.startswith("perturbation") for t in titles) == 2
    assert any(t.startswith("adversarial:") for t in titles)
    curves = [robustness(tiny, tiny_images, [0, 1, 2, 3, 0, 1], eps=[0, 2 / 255, 8 / 255], method=m, steps=s)
              for m, s in (("fgsm", None), ("pgd", 3))]
    fig = robustness_figure(curves, show_8bit=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "2/255", "8/255"]
    assert len([line for line in ax.get_lines() if line.get_label().startswith("tiny")]) == 2


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@needs_data
def test_attack_command_writes_figure_json_and_a_png_that_still_fools(capsys, tmp_path, mnist_test):
    import imageio.v3 as iio

    digit = tmp_path / "digit.png"
    iio.imwrite(digit, mnist_test[0][0])
    code, out, err = run(capsys, "attack", str(digit), "--model", "mnist_cnn", "--target", "3", "--eps", "76/255",
                         "-o", str(tmp_path / "adv.png"), "--save-adversarial", str(tmp_path / "out.png"), "--json")
    data = json.loads(out)
    assert code == 0 and data["success"] and data["target"] == 3 and data["adversarial_top"][0]["index"] == 3
    assert data["linf"] <= 76 / 255 + 1e-6 and data["label"] == mnist_test[1][0]
    saved = data["saved_adversarial"]
    assert saved["identical"] and saved["success"] and saved["top"][0]["index"] == 3
    assert (tmp_path / "adv.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run(capsys, "attack", str(digit), "-m", "mnist_cnn", "--method", "fgsm", "--eps", "0.25",
                       "-o", str(tmp_path / "f.png"))
    assert code == 0 and "FGSM L-inf eps 0.25" in out and "L2" in out


@needs_data
def test_robustness_command_compares_models(capsys, tmp_path):
    code, out, _ = run(capsys, "robustness", "mnist_small", "lenet", "--method", "fgsm,pgd", "--steps", "5",
                       "--eps", "0,0.2", "--n", "40", "-o", str(tmp_path / "curve.png"), "--json")
    curves = json.loads(out)
    assert code == 0 and [(c["model"], c["method"]) for c in curves] == [
        ("mnist_small", "fgsm"), ("mnist_small", "pgd"), ("lenet", "fgsm"), ("lenet", "pgd")]
    assert all(c["n"] == 40 and c["points"][0]["accuracy"] >= c["points"][1]["accuracy"] for c in curves)
    assert (tmp_path / "curve.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["attack", "skimage:camera", "-m", "mnist_small", "--eps", "-0.1", "-o", "x.png"], "eps must be 0 or positive"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--eps", "abc", "-o", "x.png"], "cannot read eps 'abc'"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--target", "ostrich", "-o", "x.png"],
     "unknown class 'ostrich'"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--target", "4", "--label", "4", "-o", "x.png"],
     "already the true class"),
    (["attack", "skimage:camera", "-m", "mnist_small", "-o", "x.png", "--save-adversarial", "a.jpg"], "lossless"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--method", "cw", "--norm", "inf", "-o", "x.png"], "use norm 2"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--method", "fgsm", "--steps", "3", "-o", "x.png"],
     "fgsm takes a single step"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--confidence", "1", "-o", "x.png"],
     "pgd has no option 'confidence'"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--method", "cw", "--option", "binary_steps=0", "-o", "x.png"],
     "cw.binary_steps=0 is too small: use at least 1"),
    (["attack", "skimage:camera", "-m", "mnist_small", "--steps", "0", "-o", "x.png"], "pgd.steps=0 is too small"),
    (["robustness", "mnist_small", "--method", "fgsm,deepfool", "--step-size", "0.1", "-o", "x.png"],
     "--step-size is not an option of fgsm, deepfool: only pgd has it"),
    (["robustness", "mnist_small", "--method", "pgd,nosuch", "--n", "5", "-o", "x.png"], "unknown attack method"),
    (["robustness", "mnist_small", "--n", "0", "-o", "x.png"], "--n must be at least 1"),
    (["robustness", "vgg16", "--weights", "none", "-o", "x.png"], "no test set known"),
])
def test_command_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    errors = [line for line in err.strip().splitlines() if not line.startswith("cnnviz: note: UNTRAINED")]
    assert code == 2 and errors[0].startswith("cnnviz: error: ") and message in errors[0]
    assert len(errors) == 1 and not (tmp_path / "x.png").exists()
