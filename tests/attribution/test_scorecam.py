"""Score-CAM: on a model whose one channel is the target's evidence, the
channel weights are the probabilities of the masked images (computed here by
hand), that channel wins and the map lies on it; Faster Score-CAM keeps the
most varied channels; on a shipped model it beats a random map on deletion."""
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import CnnvizError, load_model
from cnnviz.attribution.scorecam import EPSILON, scorecam, strongest_channels
from cnnviz.common.errors import Cancelled
from cnnviz.common.progress import CancelToken
from cnnviz.models.predict import softmax

BRIGHT = (slice(2, 7), slice(2, 7))        # the positive blob: class 0's evidence, in channel 0
DARK = (slice(8, 11), slice(8, 11))        # the negative blob: class 1's, in channel 1
GAIN = 5.0


def two_channel_model():
    """12x12x1 -> 2 classes: a 1x1 convolution splits the input into channel 0
    = relu(x) and channel 1 = relu(-x); class k's logit is GAIN times the mean of channel k."""
    import keras

    inputs = keras.Input((12, 12, 1))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="split")
    out = keras.layers.Dense(2, activation="softmax", name="out")
    outputs = out(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, outputs, name="two_channels")
    conv.set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2), np.zeros(2, np.float32)])
    out.set_weights([GAIN * np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    return model


def blobs() -> np.ndarray:
    x = np.zeros((1, 12, 12, 1), np.float32)
    x[0][BRIGHT] = 1.0
    x[0][DARK] = -0.8
    return x


def _by_hand(x: np.ndarray) -> np.ndarray:
    """The two channel weights: class 0's probability of x masked by each
    channel scaled to [0, 1] (the layer has the input's resolution, so no upsampling)."""
    image = x[0, ..., 0]
    weights = []
    for channel in (np.maximum(image, 0), np.maximum(-image, 0)):
        mask = (channel - channel.min()) / (channel.max() - channel.min() + EPSILON)
        masked = image * mask
        logits = GAIN * np.array([np.maximum(masked, 0).mean(), np.maximum(-masked, 0).mean()])
        weights.append(softmax(logits)[0])
    return np.array(weights)


def test_channel_weights_are_the_probabilities_of_the_masked_images():
    model, x = two_channel_model(), blobs()
    result = scorecam(model, x, 0, layer="split")
    np.testing.assert_allclose(result.extras["weights"][0], _by_hand(x), rtol=1e-5)
    acts = np.stack([np.maximum(x[0, ..., 0], 0), np.maximum(-x[0, ..., 0], 0)], axis=-1)
    expected = np.maximum(acts @ result.extras["weights"][0], 0)
    np.testing.assert_allclose(result.extras["cam"][0], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.maps[0], expected, rtol=1e-5, atol=1e-7)


def test_the_evidence_channel_wins_and_the_map_lies_on_its_blob():
    result = scorecam(two_channel_model(), blobs(), 0)
    weights = result.extras["weights"][0]
    assert weights[0] > 0.5 > weights[1]
    inside = np.zeros((12, 12), bool)
    inside[BRIGHT] = True
    row, col = np.unravel_index(np.argmax(result.maps[0]), (12, 12))
    assert inside[row, col] and result.maps[0][inside].min() > result.maps[0][~inside].max()
    assert result.params == {"layer": "split", "score": "probability"} and not result.signed


def test_explaining_the_other_class_moves_the_map_to_the_other_blob():
    result = scorecam(two_channel_model(), blobs(), 1)
    row, col = np.unravel_index(np.argmax(result.maps[0]), (12, 12))
    assert DARK[0].start <= row < DARK[0].stop and DARK[1].start <= col < DARK[1].stop


def test_faster_score_cam_keeps_the_channels_that_vary_most():
    acts = np.zeros((2, 4, 4, 3), np.float32)
    acts[0, :2, :, 1] = 5        # image 0: channel 1 varies most, then 2
    acts[0, :1, :, 2] = 1
    acts[1, :2, :, 0] = 2        # image 1: channel 0 only
    np.testing.assert_array_equal(strongest_channels(acts, 2)[0], [1, 2])
    assert strongest_channels(acts, 1)[1, 0] == 0
    result = scorecam(two_channel_model(), blobs(), 0, max_n=1)      # the bright blob is larger: channel 0
    assert result.extras["weights"][0, 1] == 0
    np.testing.assert_allclose(result.extras["weights"][0, 0], _by_hand(blobs())[0], rtol=1e-5)


def test_batches_do_not_change_the_map_and_progress_ends_at_every_channel(tiny_cnn):
    x = np.random.default_rng(3).random((3, 16, 16, 3)).astype(np.float32)
    seen = []
    whole = scorecam(tiny_cnn, x, batch_size=64, progress=lambda done, total, _: seen.append((done, total)))
    pieces = scorecam(tiny_cnn, x, batch_size=5)
    np.testing.assert_allclose(whole.maps, pieces.maps, rtol=1e-5, atol=1e-7)
    assert seen[-1] == (12, 12)        # 3 images x 4 channels
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        scorecam(tiny_cnn, x, cancel=token)


@pytest.mark.parametrize("options, named", [({"max_n": 9}, "max_n"), ({"layer": "out"}, "spatial"),
                                            ({"score": "odds"}, "odds")])
def test_values_that_cannot_work_are_refused_by_name(tiny_cnn, options, named):
    with pytest.raises(CnnvizError, match=named):
        scorecam(tiny_cnn, np.zeros((1, 16, 16, 3), np.float32), **options)


@needs_data
def test_score_cam_beats_a_random_map_on_deletion_on_mnist_digits():
    from cnnviz.attribution.faithfulness import curves, random_maps
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.inputs import dataset_inputs

    model = load_model("mnist_cnn")
    x = dataset_inputs(model, load_dataset("mnist").x_test[:20])
    result = scorecam(model, x)
    ours = curves(model, x, result.maps, result.targets, mode="deletion", steps=16).auc
    chance = curves(model, x, random_maps(x.shape[:3]), result.targets, mode="deletion", steps=16).auc
    assert ours.mean() < chance.mean(), (ours.mean(), chance.mean())
