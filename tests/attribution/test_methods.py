"""Attribution methods: analytic values on models built in code, agreement
with independent computations and with the ``lime`` package, and the
behaviour that matters on the shipped models."""
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import CnnvizError, load_model
from cnnviz.attribution.cam import gradcam, upsample_to_input
from cnnviz.attribution.gradients import guided_backprop, integrated_gradients, saliency, smoothgrad
from cnnviz.attribution.lime import (
    SEGMENTATIONS,
    Neighbourhood,
    Superpixels,
    classifier_function,
    classify_all,
    hidden_image,
    lime,
    lime_draws,
    pixel_image,
)
from cnnviz.attribution.occlusion import occlusion, positions
from cnnviz.attribution.registry import METHODS, explain, explain_one, method_name, parse_options


def _keras():
    import keras

    return keras


# ---------------------------------------------------------------- models built in code

def masked_model(region, serializable: bool = True):
    """20x20x3 -> 2 classes whose output depends only on ``region`` of the input:
    a fixed mask, a ReLU convolution with positive weights, global average
    pooling, and class 0 = +sum, class 1 = -sum."""
    keras = _keras()

    class FixedMask(keras.layers.Layer):
        def __init__(self, mask, **kwargs):
            super().__init__(**kwargs)
            self.mask = np.asarray(mask, np.float32)

        def call(self, x):
            return x * self.mask[None, :, :, None]

        if serializable:
            def get_config(self):
                return {**super().get_config(), "mask": self.mask.tolist()}

    mask = np.zeros((20, 20), np.float32)
    mask[region] = 1
    inputs = keras.Input((20, 20, 3))
    x = FixedMask(mask)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.RandomUniform(0.1, 1.0, seed=0))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax", name="out")(x)
    model = keras.Model(inputs, out, name="masked")
    model.get_layer("out").set_weights([np.stack([np.ones(4), -np.ones(4)], axis=1).astype(np.float32),
                                        np.zeros(2, np.float32)])
    return model


REGION = (slice(7, 13), slice(4, 10))      # 6x6 = 36 of 400 pixels


def region_image():
    """Dark noisy background, a bright square on the region (so that
    superpixels can find it too)."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 20, 3)).astype(np.float32) * 0.2
    x[REGION] = 0.8 + 0.2 * rng.random((6, 6, 3))
    return x[None]


def relu_model(kind: str, weights: np.ndarray):
    """y = w . relu(x) on a 2x2x1 input, with the ReLU as a standalone layer,
    an Activation layer or inside a layer, for analytic gradients."""
    keras = _keras()
    inputs = keras.Input((2, 2, 1))
    if kind == "layer":
        h = keras.layers.ReLU()(inputs)
    elif kind == "activation":
        h = keras.layers.Activation("relu")(inputs)
    else:
        h = keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer="ones", bias_initializer="zeros")(inputs)
    out = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, out, name=f"relu_{kind}")
    kernel = np.stack([weights, -weights], axis=1).astype(np.float32)
    model.get_layer("out").set_weights([kernel, np.zeros(2, np.float32)])
    return model


# ---------------------------------------------------------------- gradients

def test_saliency_equals_an_independent_gradient(tiny_cnn):
    import tensorflow as tf

    x = np.random.default_rng(1).random((3, 16, 16, 3)).astype(np.float32)
    result = saliency(tiny_cnn, x, target=2)
    kernel, bias = tiny_cnn.get_layer("out").get_weights()
    flatten = _keras().Model(tiny_cnn.inputs, tiny_cnn.layers[-2].output)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logit = tf.matmul(flatten(xt), kernel)[:, 2] + bias[2]       # the pre-softmax score by hand
    expected = tape.gradient(logit, xt).numpy()
    np.testing.assert_allclose(result.extras["gradients"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.maps, np.abs(expected).max(axis=-1), rtol=1e-5, atol=1e-6)
    assert result.maps.shape == (3, 16, 16) and list(result.targets) == [2, 2, 2]
    signed = explain_one(tiny_cnn, x, "gradient", 2)
    np.testing.assert_allclose(signed.maps, expected.sum(axis=-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["layer", "activation", "inside"])
def test_guided_backprop_and_deconvnet_follow_their_relu_rules(kind):
    w = np.array([1.0, -2.0, 3.0, -4.0], np.float32)
    model = relu_model(kind, w)
    x = np.array([1.0, 1.0, -1.0, -1.0], np.float32).reshape(1, 2, 2, 1)
    plain = saliency(model, x, target=0).extras["gradients"].ravel()
    guided = guided_backprop(model, x, target=0).extras["gradients"].ravel()
    deconv = explain_one(model, x, "deconvnet", 0).extras["gradients"].ravel()
    np.testing.assert_allclose(plain, w * (x.ravel() > 0))                  # [1, -2, 0, 0]
    np.testing.assert_allclose(guided, w * (x.ravel() > 0) * (w > 0))        # [1, 0, 0, 0]
    np.testing.assert_allclose(deconv, np.maximum(w, 0))                     # [1, 0, 3, 0]
    np.testing.assert_allclose(model(x).numpy(), relu_model(kind, w)(x).numpy())   # the model itself is unchanged


def test_smoothgrad_is_reproducible_and_averages_noisy_gradients(tiny_cnn):
    x = np.random.default_rng(2).random((2, 16, 16, 3)).astype(np.float32)
    a = smoothgrad(tiny_cnn, x, 1, samples=8, noise=0.2, seed=3)
    b = smoothgrad(tiny_cnn, x, 1, samples=8, noise=0.2, seed=3)
    np.testing.assert_array_equal(a.maps, b.maps)
    without_noise = smoothgrad(tiny_cnn, x, 1, samples=3, noise=0.0)
    np.testing.assert_allclose(without_noise.maps, saliency(tiny_cnn, x, 1).maps, rtol=1e-5, atol=1e-7)
    assert not np.allclose(a.maps, without_noise.maps)
    with pytest.raises(CnnvizError, match="noise"):
        smoothgrad(tiny_cnn, x, 1, noise=3)


def test_integrated_gradients_of_a_linear_model_is_exact():
    """For a linear score, IG = (x - baseline) * w exactly, at any step count."""
    keras = _keras()
    inputs = keras.Input((3, 3, 1))
    out = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    w = np.arange(9, dtype=np.float32) - 4
    model.get_layer("out").set_weights([np.stack([w, w], 1), np.zeros(2, np.float32)])
    x = np.random.default_rng(0).random((1, 3, 3, 1)).astype(np.float32)
    result = integrated_gradients(model, x, target=0, steps=3)
    np.testing.assert_allclose(result.maps[0], (x[0, ..., 0] * w.reshape(3, 3)), rtol=1e-5, atol=1e-6)
    assert result.extras["completeness_error"][0] < 1e-5


def _curved_model(keras):
    """A score with strong curvature along the path: the trapezoid rule needs many steps."""
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))
    rng = np.random.default_rng(3)
    model.get_layer("hidden").set_weights([rng.normal(0, 100, (16, 6)).astype(np.float32), np.full(6, -4, np.float32)])
    return model


def test_integrated_gradients_chooses_steps_until_completeness_holds():
    """By default the path is refined until the attribution sums to the score
    change within the tolerance (50 fixed steps missed by up to 12% on
    cifar10_cnn); the signed miss is reported as captum's convergence delta."""
    model = _curved_model(_keras())
    x = np.random.default_rng(0).random((3, 4, 4, 1)).astype(np.float32)
    coarse = integrated_gradients(model, x, target=0, steps=32)
    assert coarse.extras["completeness_error"].max() > 0.01
    auto = integrated_gradients(model, x, target=0)
    error, delta = auto.extras["completeness_error"], auto.extras["convergence_delta"]
    assert error.max() <= 0.01 and auto.extras["steps"].max() > 32
    assert auto.params["steps"] == auto.extras["steps"].max() <= 512
    sums = auto.extras["attribution"].sum(axis=(1, 2, 3))
    np.testing.assert_allclose(sums - auto.extras["score_difference"], delta, rtol=1e-4, atol=1e-5)
    fixed = integrated_gradients(model, x, target=0, steps=int(auto.extras["steps"][0]))
    np.testing.assert_allclose(auto.maps[0], fixed.maps[0], rtol=1e-4, atol=1e-6)   # refining = recomputing
    loose = integrated_gradients(model, x, target=0, tolerance=0.5)
    assert loose.extras["steps"].max() < auto.extras["steps"].max()


# ---------------------------------------------------------------- Grad-CAM

def test_gradcam_on_global_average_pooling_is_the_class_activation_map():
    """conv -> GAP -> dense: Grad-CAM's weights are the dense weights / (h*w),
    so the map is ReLU(A . w_c) / (h*w) (Zhou et al.'s CAM)."""
    keras = _keras()
    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv")(inputs)
    out = keras.layers.Dense(3, activation="softmax", name="out")(keras.layers.GlobalAveragePooling2D()(conv))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    result = gradcam(model, x, target=1)
    acts = keras.Model(inputs, conv)(x).numpy()
    w = model.get_layer("out").get_weights()[0][:, 1]
    expected = np.maximum(acts @ w, 0) / 64
    np.testing.assert_allclose(result.extras["cam"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-5,
                               atol=1e-7)   # 'same', stride 1: already the input's frame
    assert result.params["layer"] == "conv"


def test_gradcam_upsampling_puts_units_at_their_receptive_field_centres(tiny_cnn):
    """tiny_cnn's conv is 'valid' 3x3: unit (i, j) is centred on pixel (i+1, j+1)."""
    maps = np.random.default_rng(0).random((1, 14, 14)).astype(np.float32)
    up = upsample_to_input(tiny_cnn, "conv", maps)
    assert up.shape == (1, 16, 16)
    np.testing.assert_allclose(up[0, 1:15, 1:15], maps[0], rtol=1e-6)
    np.testing.assert_allclose(up[0, 0, 1:15], maps[0, 0], rtol=1e-6)      # constant beyond the outer centres


def test_gradcam_errors(tiny_cnn):
    keras = _keras()
    inputs = keras.Input((4, 4, 1))
    dense_only = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(CnnvizError, match="no layer with spatial output"):
        gradcam(dense_only, np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(CnnvizError, match="no layer 'nope'"):
        gradcam(tiny_cnn, np.zeros((1, 16, 16, 3), np.float32), layer="nope")


# ---------------------------------------------------------------- occlusion

def test_occlusion_equals_a_naive_per_patch_loop(tiny_cnn):
    x = np.random.default_rng(5).random((2, 16, 16, 3)).astype(np.float32)
    result = occlusion(tiny_cnn, x, target=[0, 3], patch=5, stride=3, fill="mean", batch_size=7)
    rows = positions(16, 5, 3)
    assert rows == [0, 3, 6, 9, 11]                     # the last patch is flush with the edge
    for i, target in enumerate([0, 3]):
        base = float(tiny_cnn(x[i:i + 1]).numpy()[0, target])
        total, count = np.zeros((16, 16)), np.zeros((16, 16))
        for r in rows:
            for c in rows:
                copy = x[i].copy()
                copy[r:r + 5, c:c + 5] = x[i].mean(axis=(0, 1))
                drop = base - float(tiny_cnn(copy[None]).numpy()[0, target])
                total[r:r + 5, c:c + 5] += drop
                count[r:r + 5, c:c + 5] += 1
        np.testing.assert_allclose(result.maps[i], total / count, atol=1e-6)
    assert result.extras["grid"].shape == (2, 5, 5)


def test_occlusion_options_are_checked(tiny_cnn):
    x = np.zeros((1, 16, 16, 3), np.float32)
    with pytest.raises(CnnvizError, match="patch 40"):
        occlusion(tiny_cnn, x, patch=40)
    with pytest.raises(CnnvizError, match="unknown fill"):
        occlusion(tiny_cnn, x, fill="purple")


# ---------------------------------------------------------------- every method finds the region

@pytest.mark.parametrize("method", METHODS)
def test_every_method_points_at_the_only_region_that_matters(method):
    model = masked_model(REGION)
    x = region_image()
    options = {"lime": {"samples": 300, "segments": 20, "hide_color": 0.0}, "smoothgrad": {"samples": 10},
               "occlusion": {"patch": 3, "stride": 1},
               "rise": {"score": "logit"}}.get(method, {})             # the probability saturates at 1 here
    result = explain_one(model, x, method, 0, **options)
    importance = np.abs(result.maps[0])
    top = np.zeros(importance.size, bool)
    top[np.argsort(-importance.ravel(), kind="stable")[:importance.size // 10]] = True
    top = top.reshape(importance.shape)
    region = np.zeros((20, 20), bool)
    region[REGION] = True
    iou = (top & region).sum() / (top | region).sum()
    assert iou >= 0.5, f"{method}: IoU {iou:.2f}"


def test_custom_layers_without_config_only_block_the_methods_that_copy_the_model():
    model = masked_model(REGION, serializable=False)
    x = region_image()
    assert explain_one(model, x, "saliency", 0).maps.shape == (1, 20, 20)   # logits without copying the model
    with pytest.raises(CnnvizError, match="get_config"):
        explain_one(model, x, "guided_backprop", 0)


# ---------------------------------------------------------------- LIME

def test_lime_wrapper_gives_the_same_explanation_as_lime_called_directly(tiny_cnn):
    from lime.lime_image import LimeImageExplainer

    x = np.random.default_rng(6).random((1, 16, 16, 3)).astype(np.float32)
    ours = lime(tiny_cnn, x, target=1, samples=200, segments=12, seed=7)
    segmenter = Superpixels("quickshift", 12, 7)
    direct = LimeImageExplainer(random_state=7).explain_instance(
        pixel_image(tiny_cnn, x[0]), classifier_function(tiny_cnn, 3), labels=(1,), top_labels=None,
        num_samples=200, segmentation_fn=segmenter)          # lime's default batch_size=10
    expected = dict(direct.local_exp[1])
    assert ours.extras["weights"][0].keys() == expected.keys()
    for segment, weight in expected.items():
        assert ours.extras["weights"][0][segment] == pytest.approx(weight, rel=1e-4, abs=1e-6)
    np.testing.assert_array_equal(ours.extras["segments"][0], direct.segments)
    _, mask = direct.get_image_and_mask(1, positive_only=True, num_features=5, hide_rest=False)
    np.testing.assert_array_equal(ours.extras["positive"][0], mask.astype(bool))


def test_lime_perturbations_built_a_batch_at_a_time_are_lime_s_own():
    """The same random draws, hidden colours and perturbed images as lime's own loop."""
    from lime.lime_image import LimeImageExplainer

    rng = np.random.default_rng(3)
    image = rng.random((12, 10, 3))
    segments = np.repeat(np.arange(6), 20).reshape(12, 10)
    fudged = hidden_image(image, segments, None)
    for segment in range(6):
        np.testing.assert_allclose(fudged[segments == segment], image[segments == segment].mean(axis=0)[None]
                                   .repeat(20, axis=0))
    seen = []

    def classify(batch):
        seen.append(np.array(batch))
        return batch.reshape(len(batch), -1)[:, :4]

    theirs = LimeImageExplainer(random_state=5)
    theirs.random_state.randint(0, high=1000)           # explain_instance's segmentation seed comes first
    data, _ = theirs.data_labels(image, fudged, segments, classify, 25, batch_size=10)
    hood = Neighbourhood(image, segments, fudged, lime_draws(5, 6, 25))
    np.testing.assert_array_equal(hood.draws, data)
    ours = [hood.perturbed(slice(begin, begin + 10)) for begin in (0, 10, 20)]
    assert [len(b) for b in ours] == [len(b) for b in seen] == [10, 10, 5]
    for a, b in zip(ours, seen):
        np.testing.assert_array_equal(a, b)


def test_lime_classifies_perturbations_in_full_batches_across_images():
    rng = np.random.default_rng(4)
    segments = np.repeat(np.arange(4), 16).reshape(8, 8)
    hoods = [Neighbourhood(rng.random((8, 8, 3)), segments, np.zeros((8, 8, 3)), lime_draws(seed, 4, 45))
             for seed in range(3)]
    sizes = []

    def classify(batch):
        sizes.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :5]

    classify_all(hoods, classify, 100, None)
    assert sizes == [100, 35]
    for hood in hoods:
        np.testing.assert_array_equal(hood.scores, hood.perturbed(slice(0, 45)).reshape(45, -1)[:, :5])


def test_lime_on_several_images_is_lime_called_on_each(tiny_cnn):
    from lime.lime_image import LimeImageExplainer

    x = np.random.default_rng(8).random((3, 16, 16, 3)).astype(np.float32)
    ours = lime(tiny_cnn, x, target=[0, 2, 3], samples=70, segments=10, seed=2)     # batches of 70 span images
    for image, label, weights in zip(x, (0, 2, 3), ours.extras["weights"]):
        direct = LimeImageExplainer(random_state=2).explain_instance(
            pixel_image(tiny_cnn, image), classifier_function(tiny_cnn, 3), labels=(label,), top_labels=None,
            num_samples=70, segmentation_fn=Superpixels("quickshift", 10, 2))
        expected = dict(direct.local_exp[label])
        assert weights.keys() == expected.keys()
        for segment, weight in expected.items():
            assert weights[segment] == pytest.approx(weight, rel=1e-4, abs=1e-6)


def test_superpixel_count_is_kept_under_control():
    """lime's default quickshift gives thousands of superpixels on a noisy photo."""
    from skimage import data, transform

    photo = transform.resize(data.astronaut(), (224, 224), anti_aliasing=True)
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 0.1, photo.shape), 0, 1)
    for algorithm in ("quickshift", "slic", "felzenszwalb"):
        count = len(np.unique(Superpixels(algorithm, 50)(noisy)))
        assert 20 <= count <= 120, (algorithm, count)


@needs_data
def test_superpixel_count_on_cifar_images_is_within_half_and_twice_the_wanted():
    """quickshift gave 12-32 superpixels on most 32x32 CIFAR-10 images (its
    kernel cannot go below 1 pixel): the documented 25-100 for segments=50."""
    from cnnviz.data.sources import load_dataset

    images = load_dataset("cifar10").x_test[:30] / 255.0
    for algorithm in SEGMENTATIONS:
        counts = [len(np.unique(Superpixels(algorithm, 50)(image))) for image in images]
        assert 25 <= min(counts) and max(counts) <= 100, (algorithm, counts)


# ---------------------------------------------------------------- the shipped models

@needs_data
def test_integrated_gradients_completeness_on_a_shipped_model():
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.inputs import dataset_inputs

    model = load_model("mnist_cnn")
    x = dataset_inputs(model, load_dataset("mnist").x_test[:4])
    for baseline in ("black", "blurred"):
        result = integrated_gradients(model, x, baseline=baseline, steps=256)
        assert np.all(result.extras["completeness_error"] < 0.02), result.extras["completeness_error"]
        sums = result.extras["attribution"].sum(axis=(1, 2, 3))
        np.testing.assert_allclose(sums, result.extras["score_difference"], rtol=0.02)


@needs_data
@pytest.mark.parametrize("name", ["mnist_cnn", "cifar10_cnn"])
def test_saliency_family_and_occlusion_beat_a_random_map_on_deletion(name):
    from cnnviz.attribution.faithfulness import compare
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.inputs import dataset_inputs

    model = load_model(name)
    x = dataset_inputs(model,
                       load_dataset(model.name if False else ("mnist" if "mnist" in name else "cifar10")).x_test[:100])
    methods = ["saliency", "smoothgrad", "gradient_x_input", "integrated_gradients", "guided_backprop", "occlusion"]
    ranking = compare(model, x, methods, steps=16, options={"smoothgrad": {"samples": 10},
                                                            "integrated_gradients": {"steps": 16}})
    rows = {r["method"]: r for r in ranking.rows()}
    for method in methods:
        assert rows[method]["deletion_auc"] < rows["random"]["deletion_auc"], (method, rows)


def test_deletion_and_insertion_curves_start_and_end_where_they_must(tiny_cnn):
    from cnnviz.attribution.base import gaussian_blur
    from cnnviz.attribution.faithfulness import curves

    x = np.random.default_rng(8).random((2, 16, 16, 3)).astype(np.float32)
    maps = np.random.default_rng(9).random((2, 16, 16)).astype(np.float32)
    p = tiny_cnn(x).numpy()[:, 0]
    deletion = curves(tiny_cnn, x, maps, 0, mode="deletion", steps=8, region=1)
    np.testing.assert_allclose(deletion.scores[:, 0], p, rtol=1e-5)
    blurred = gaussian_blur(x, sigma=16 / 5)
    np.testing.assert_allclose(deletion.scores[:, -1], tiny_cnn(blurred).numpy()[:, 0], rtol=1e-5)
    black = curves(tiny_cnn, x, maps, 0, mode="deletion", steps=8, baseline="black")
    np.testing.assert_allclose(black.scores[:, -1], tiny_cnn(np.zeros_like(x)).numpy()[:, 0], rtol=1e-5)
    insertion = curves(tiny_cnn, x, maps, 0, mode="insertion", steps=5)
    np.testing.assert_allclose(insertion.scores[:, -1], p, rtol=1e-5)
    np.testing.assert_allclose(insertion.scores[:, 0], tiny_cnn(blurred).numpy()[:, 0], rtol=1e-5)
    assert deletion.fractions[0] == 0 and deletion.fractions[-1] == 1 and len(deletion.fractions) == 9
    np.testing.assert_allclose(deletion.auc, np.trapezoid(deletion.scores, deletion.fractions, axis=1))


def test_deletion_removes_whole_regions_in_order_of_mean_importance():
    from cnnviz.attribution.faithfulness import pixel_order

    amap = np.zeros((1, 4, 4), np.float32)
    amap[0, 2:, :2] = 5          # bottom-left 2x2 region: most important
    amap[0, 0, 3] = 3            # one pixel of the top-right region
    order, bounds = pixel_order(amap, region=2)
    assert list(bounds[0]) == [0, 4, 8, 12, 16]
    assert sorted(order[0, :4]) == [8, 9, 12, 13]          # bottom-left pixels first
    assert sorted(order[0, 4:8]) == [2, 3, 6, 7]           # then top-right (mean 0.75)


# ---------------------------------------------------------------- names, options, errors

def test_method_names_options_and_errors(tiny_cnn):
    assert method_name("IG") == "integrated_gradients" and method_name("GradCAM++") == "gradcam++"
    with pytest.raises(CnnvizError, match="unknown method 'magic'"):
        method_name("magic")
    parsed = parse_options(["occlusion.patch=8", "samples=50", "lime.segmentation=slic"],
                           ["occlusion", "smoothgrad", "lime"])
    assert parsed == {"occlusion": {"patch": 8}, "smoothgrad": {"samples": 50},
                      "lime": {"samples": 50, "segmentation": "slic"}}
    with pytest.raises(CnnvizError, match="no option 'bogus'"):
        parse_options(["occlusion.bogus=1"], ["occlusion"])
    with pytest.raises(CnnvizError, match="occlusion.patch='big' is not a valid int"):
        parse_options(["occlusion.patch=big"], ["occlusion"])
    x = np.zeros((1, 16, 16, 3), np.float32)
    with pytest.raises(CnnvizError, match="unknown class 'zebra'"):
        explain(tiny_cnn, x, ["saliency"], target="zebra")
    with pytest.raises(CnnvizError, match="do not fit"):
        explain(tiny_cnn, np.zeros((1, 8, 8, 3), np.float32), ["saliency"])
    with pytest.raises(CnnvizError, match="2 targets for 1 images"):
        explain(tiny_cnn, x, ["saliency"], target=[0, 1])


def test_explaining_several_models_raises_no_retracing_warning(caplog):
    """Each model gets its own compiled gradient function, traced once; TensorFlow
    counts traces per Python code object and warned from the sixth model on."""
    import logging

    keras = _keras()
    caplog.set_level(logging.WARNING, logger="tensorflow")
    x = np.random.default_rng(0).random((1, 8, 8, 1)).astype(np.float32)
    for i in range(7):
        inputs = keras.Input((8, 8, 1))
        conv = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(conv)), name=f"m{i}")
        explain(model, x, ["saliency", "gradcam", "guided_backprop"])
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
