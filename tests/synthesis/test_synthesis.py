"""Activation maximization: the objective rises, batches equal single runs,
outputs are valid images, and on the shipped models the synthesized images
beat the real test set and reach their classes."""
import keras
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import Cancelled, CancelToken, CnnvizError, build_model, load_model
from cnnviz.inside.bounds import dead_channels, layer_bounds
from cnnviz.models.engine import features
from cnnviz.models.inputs import dataset_inputs
from cnnviz.synthesis.maximize import Regularization, synthesize_channels, synthesize_class


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(5)
    return build_model("mnist_small")


def test_objective_increases_over_the_first_steps(small):
    result = synthesize_channels(small, "conv2", [0, 3, 6], steps=30)
    start, end = result.history[0], result.history[-1]
    assert result.history.shape == (30, 3)
    assert (end > start).all()


def test_batch_equals_one_channel_at_a_time(small):
    batch = synthesize_channels(small, "conv2", [1, 4, 7], steps=20, seed=3)
    for i, channel in enumerate([1, 4, 7]):
        single = synthesize_channels(small, "conv2", [channel], steps=20, seed=3)
        np.testing.assert_allclose(single.images[0], batch.images[i], atol=1e-5)
        assert single.activations[0] == pytest.approx(batch.activations[i], rel=1e-4, abs=1e-6)


def test_seed_reproduces_and_changes(small):
    a = synthesize_channels(small, "conv1", [2], steps=10, seed=1)
    b = synthesize_channels(small, "conv1", [2], steps=10, seed=1)
    c = synthesize_channels(small, "conv1", [2], steps=10, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.allclose(a.images, c.images)


def test_outputs_are_images_in_range(small):
    gray = synthesize_channels(small, "pool1", None, steps=5)
    assert gray.images.shape == (8, 28, 28, 1) and gray.uint8.dtype == np.uint8
    assert gray.images.min() >= 0 and gray.images.max() <= 1
    colour = build_model("cifar10_cnn")
    fourier = synthesize_channels(colour, "conv3", [0, 1], steps=6, fourier=True, octaves=2, jitter=2,
                                  rotate=5.0, scale=0.05, tv=0.1)
    assert fourier.images.shape == (2, 32, 32, 3)
    assert 0 <= fourier.images.min() and fourier.images.max() <= 1
    assert np.isfinite(fourier.activations).all()


def test_reached_activation_is_the_real_channel_mean(small):
    result = synthesize_channels(small, "conv2", [5], steps=15)
    (maps,) = features(small, result.images, ("conv2",))
    assert result.activations[0] == pytest.approx(maps[0, ..., 5].mean(), rel=1e-5)


def test_single_unit_objective(small):
    result = synthesize_channels(small, "conv2", [1], unit=(5, 5), steps=15)
    (maps,) = features(small, result.images, ("conv2",))
    assert result.activations[0] == pytest.approx(maps[0, 5, 5, 1], rel=1e-5)


def test_progress_and_cancel(small):
    seen = []
    synthesize_channels(small, "conv1", [0], steps=7, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1] == (7, 7)
    cancel = CancelToken()

    def stop(done, total, message):
        seen.append(done)
        cancel.cancel()                          # at the first report, long before the end

    seen.clear()
    with pytest.raises(Cancelled):
        synthesize_channels(small, "conv1", [0], steps=500, progress=stop, cancel=cancel)
    assert seen and seen[-1] < 500


def test_clear_errors(small):
    with pytest.raises(CnnvizError, match="no spatial output"):
        synthesize_channels(small, "dense1")
    inputs = keras.Input((10,))
    dense_only = keras.Model(inputs, keras.layers.Dense(3, name="d")(keras.layers.Dense(4)(inputs)))
    with pytest.raises(CnnvizError, match="no spatial output|takes inputs of shape"):
        synthesize_channels(dense_only, "d")
    with pytest.raises(CnnvizError, match="channels out of range"):
        synthesize_channels(small, "conv1", [8])
    with pytest.raises(CnnvizError, match="steps"):
        synthesize_channels(small, "conv1", [0], steps=0)
    with pytest.raises(CnnvizError, match="no layer 'nosuch'"):
        synthesize_channels(small, "nosuch")
    with pytest.raises(CnnvizError, match="unknown class 'zebra'"):
        synthesize_class(small, ["zebra"])
    with pytest.raises(CnnvizError, match="out of range"):
        synthesize_class(small, [10])


def test_fourier_reaches_the_pixel_activations(small):
    pixels = synthesize_channels(small, "conv2", [0, 3, 6], steps=60)
    fourier = synthesize_channels(small, "conv2", [0, 3, 6], steps=60, fourier=True)
    assert np.median(fourier.activations / pixels.activations) > 0.5


@pytest.mark.parametrize("strides, padding, dilation", [(1, "valid", 1), (2, "same", 1), (1, "same", 2)])
def test_own_channel_conv_head_equals_the_layer(strides, padding, dilation):
    import tensorflow as tf

    from cnnviz.models.surgery import pre_activation_features
    from cnnviz.synthesis.maximize import LEAK, _channel_maps

    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=strides, padding=padding, dilation_rate=dilation, activation="relu",
                            name="c2")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    images = np.random.default_rng(0).random((3, 12, 12, 3)).astype(np.float32)
    channels = np.array([4, 0, 2])
    steered, _ = _channel_maps(model, "c2")
    expected = pre_activation_features(model, "c2")(images).numpy()[np.arange(3), ..., channels]
    got = steered(tf.constant(images), tf.constant(channels))
    np.testing.assert_allclose(got, tf.nn.leaky_relu(expected, LEAK), rtol=1e-5, atol=1e-6)


def test_cache_serves_repeats_and_recomputes_damaged_entries(small, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    first = synthesize_channels(small, "conv1", [1, 2], steps=8, cache=True)
    again = synthesize_channels(small, "conv1", [1, 2], steps=8, cache=True)
    assert not first.from_cache and again.from_cache
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.history, again.history)
    other = synthesize_channels(small, "conv1", [1, 2], steps=8, l2=0.5, cache=True)
    assert not other.from_cache and not np.array_equal(other.images, first.images)
    assert not synthesize_channels(small, "conv1", [1, 2], steps=8, seed=1, cache=True).from_cache
    assert not synthesize_channels(small, "conv1", [1, 2], steps=8).from_cache          # cache off by default
    files = list((tmp_path / "synthesis").glob("*.npz"))
    assert len(files) == 3
    for f in files:
        f.write_bytes(f.read_bytes()[:100])
    repaired = synthesize_channels(small, "conv1", [1, 2], steps=8, cache=True)
    assert not repaired.from_cache and "was unreadable" in repaired.cache_note
    assert again.cache_note == ""
    np.testing.assert_array_equal(repaired.images, first.images)
    assert synthesize_channels(small, "conv1", [1, 2], steps=8, cache=True).from_cache


def test_class_cache_keeps_probabilities(small, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    first = synthesize_class(small, [3, 7], steps=5, cache=True)
    again = synthesize_class(small, [3, 7], steps=5, cache=True)
    assert again.from_cache and again.target == "class"
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    assert not synthesize_class(small, [7, 3], steps=5, cache=True).from_cache


def test_default_regularization_depends_on_input_size(small):
    from cnnviz.synthesis.maximize import default_regularization

    assert default_regularization(small) == Regularization()
    large = default_regularization(build_model("vgg16_notop"))
    assert large.fourier and large.octaves > 1 and large.jitter > 1


# ---------------------------------------------------------------- shipped models, real data

def dataset_max_of_channel_means(model, layer, images, batch=1000):
    """The most a real image activates each channel (mean over space), streamed."""
    best = None
    for start in range(0, len(images), batch):
        (maps,) = features(model, dataset_inputs(model, images[start:start + batch]), (layer,))
        means = maps.mean(axis=(1, 2)).max(axis=0)
        best = means if best is None else np.maximum(best, means)
    return best


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("name", ["mnist_cnn", "lenet", "cifar10_cnn"])
def test_synthesized_images_beat_the_real_test_set(name):
    from cnnviz.data.sources import load_dataset

    model = load_model(name)
    images = load_dataset("mnist" if name != "cifar10_cnn" else "cifar10").x_test
    for layer in [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]:
        n = model.get_layer(layer).filters
        channels = np.linspace(0, n - 1, 10).round().astype(int)      # a subset keeps CI short
        result = synthesize_channels(model, layer, channels)
        real = dataset_max_of_channel_means(model, layer, images)[channels]
        dead = dead_channels(model, layer)[channels]        # proven: no valid image can activate them
        assert np.mean((result.activations > real) | dead) >= 0.9, (layer, result.activations, real)


def test_a_channel_the_mean_leaves_silent_starts_from_its_centre_unit():
    model = load_model("cifar10_cnn")
    silent = [1, 29]                   # conv1 channels no test image activates, nor the mean objective alone
    result = synthesize_channels(model, "conv1", silent)
    reachable = layer_bounds(model, "conv1").hi.max(axis=(0, 1, 2))[silent]
    assert (result.activations > 0).all() and (result.activations <= reachable).all(), result.activations


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("name", ["mnist_cnn", "cifar10_cnn"])
def test_class_images_reach_their_class(name):
    model = load_model(name)
    result = synthesize_class(model, list(range(10)))
    assert (result.probabilities >= 0.99).all(), result.probabilities


def test_command_line_reuses_the_cache(capsys, tmp_path, monkeypatch):
    import json

    from cnnviz.cli.main import main

    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    argv = ["synthesize", "mnist_small", "--layer", "conv1", "--channels", "0:2", "--steps", "6", "--json",
            "-o", str(tmp_path / "g.png")]
    runs = []
    for extra in ([], [], ["--no-cache"]):
        assert main(argv + extra) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert [r["from_cache"] for r in runs] == [False, True, False]
    assert runs[0]["results"] == runs[1]["results"] == runs[2]["results"]


def test_the_diversity_penalty_is_the_cosine_similarity_of_gram_matrices():
    import tensorflow as tf

    from cnnviz.synthesis.maximize import gram_diversity

    same = np.ones((2, 3, 3, 2), np.float32)
    apart = np.zeros((2, 3, 3, 2), np.float32)
    apart[0, ..., 0], apart[1, ..., 1] = 1, 1                 # each image fires another channel: orthogonal Grams
    penalty = gram_diversity(lambda x: x, 2)
    np.testing.assert_allclose(penalty(tf.constant(np.concatenate([same, apart]))).numpy(), [1, 1, 0, 0], atol=1e-6)


def test_several_images_per_channel_are_diverse(small):
    """Four images of each channel, optimized jointly: with the diversity term
    their Gram matrices at the layer are less alike than without, and each
    still drives its channel."""
    import tensorflow as tf

    from cnnviz.models.graph import feature_model
    from cnnviz.models.preprocessing import pixels_to_input
    from cnnviz.synthesis.maximize import gram_diversity

    layer_model = feature_model(small, ["conv2"])
    alike = gram_diversity(lambda x: layer_model(x, training=False), 4)
    found = {}
    for weight in (0.0, 0.1):
        result = synthesize_channels(small, "conv2", [0, 3], steps=48, per_channel=4, diversity=weight)
        assert result.by_channel.shape == (2, 4, 28, 28, 1) and list(result.indices) == [0] * 4 + [3] * 4
        x = pixels_to_input(tf.constant(result.images), "scale01")
        found[weight] = (float(np.mean(alike(x).numpy())), result.activations)
    assert found[0.1][0] < found[0.0][0]
    assert (found[0.1][1] > 0).all()
    with pytest.raises(CnnvizError, match="per_channel must be a whole number of at least 1"):
        synthesize_channels(small, "conv2", [0], per_channel=0)
