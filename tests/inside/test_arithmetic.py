"""How a unit computes, step by step: checked on layers with known weights
(the sum by hand), on TensorFlow's padding and pooling rules, on a softmax
head, on the shipped mnist_cnn (every step equals the layer's own map), and
the fixed kernels on images whose filtered values are known."""
import numpy as np
import pytest

from cnnviz import CnnvizError
from cnnviz.inside.arithmetic import FIXED_KERNELS, apply_fixed_kernel, fixed_kernel_arithmetic, unit_arithmetic


def _model(layer, shape=(5, 5, 1)):
    import keras

    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def test_a_conv_with_a_known_kernel_sums_the_patch_by_hand():
    import keras

    conv = keras.layers.Conv2D(1, 3, padding="same", activation="relu", kernel_initializer="ones",
                               bias_initializer=keras.initializers.Constant(0.5))
    model = _model(conv)
    image = np.arange(25, dtype=np.float32).reshape(5, 5, 1)
    corner = unit_arithmetic(model, image, conv.name, at=(0, 0))
    assert corner.window == (-1, -1) and corner.valid.sum() == 4                 # 'same': one row/col of padding
    assert corner.total == 0 + 1 + 5 + 6 and corner.pre_activation == 12.5 and corner.value == 12.5
    assert corner.map_value == pytest.approx(12.5) and corner.matches
    middle = unit_arithmetic(model, image, conv.name, at=(2, 2))
    assert middle.patch[..., 0].tolist() == [[6, 7, 8], [11, 12, 13], [16, 17, 18]]
    assert (middle.products == middle.patch).all() and middle.total == 9 * 12 and middle.activation == "relu"


def test_strides_dilation_and_many_channels_match_the_layer_everywhere():
    import keras

    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(3, 3, strides=2, dilation_rate=1, padding="same", activation="tanh")
    dilated = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="valid")
    image = np.random.default_rng(0).normal(size=(9, 9, 4)).astype(np.float32)
    for layer in (conv, dilated):
        model = _model(layer, (9, 9, 4))
        h, w = model.outputs[0].shape[1:3]
        for r, c in ((0, 0), (h - 1, w - 1), (h // 2, w // 2), (0, w - 1)):        # corners (padding), middle
            step = unit_arithmetic(model, image, layer.name, at=(r, c), channel=1)
            assert step.matches, (layer.name, r, c, step.value, step.map_value)
            assert step.patch.shape == (3, 3, 4)


def test_pooling_max_picks_the_winner_and_average_leaves_padding_out():
    import keras

    image = np.array([[1, 5, 2], [3, 4, 9], [7, 0, 6]], np.float32)[..., None]
    pool = keras.layers.MaxPooling2D(2)
    top_left = unit_arithmetic(_model(pool, (3, 3, 1)), image, pool.name, at=(0, 0))
    assert top_left.kind == "max_pool" and top_left.value == 5 and top_left.winner == (0, 1) and top_left.matches
    average = keras.layers.AveragePooling2D(2, padding="same")
    corner = unit_arithmetic(_model(average, (3, 3, 1)), image, average.name, at=(1, 1))
    assert corner.valid.sum() == 1 and corner.value == 6 and corner.matches        # padding not counted
    edge = unit_arithmetic(_model(average, (3, 3, 1)), image, average.name, at=(0, 1))
    assert edge.value == pytest.approx((2 + 9) / 2) and edge.matches


def test_a_softmax_head_gives_every_logit_and_probability(tiny_cnn):
    image = np.random.default_rng(1).uniform(size=(16, 16, 3)).astype(np.float32)
    step = unit_arithmetic(tiny_cnn, image, "out", channel=2)
    assert step.kind == "dense" and step.at is None and step.activation == "softmax"
    assert step.probabilities.sum() == pytest.approx(1.0) and step.matches
    assert step.pre_activation == pytest.approx(step.logits[2])
    assert step.probabilities == pytest.approx(tiny_cnn.predict(image[None], verbose=0)[0], rel=1e-4)


def test_every_step_equals_the_shipped_mnist_cnn_map():
    from cnnviz.models.inputs import load_image
    from cnnviz.models.zoo import load_model

    model = load_model("mnist_cnn")
    x = load_image("skimage:camera", model).x
    for layer, at, channel in (("conv1", (3, 11), 0), ("pool1", (6, 5), 3), ("conv2", (4, 4), 7),
                               ("conv3", (1, 2), 5), ("dense1", None, 3), ("predictions", None, 8)):
        step = unit_arithmetic(model, x, layer, at=at, channel=channel)
        assert step.matches and step.map_value is not None, layer
    assert unit_arithmetic(model, x, "conv2", at=(0, 0)).patch.shape == (3, 3, 32)   # every input channel


def test_fixed_kernels_smooth_and_take_gradients_as_known():
    ramp = np.tile(np.arange(8, dtype=np.float64), (8, 1)) * 3                     # f(row, col) = 3 col
    assert apply_fixed_kernel(ramp, "sobel_x")[4, 4] == pytest.approx(3 * 8)       # (f(c+1) - f(c-1)) * (1+2+1)
    assert apply_fixed_kernel(ramp, "sobel_y")[4, 4] == pytest.approx(0)
    assert apply_fixed_kernel(np.full((6, 6), 7.0), "box")[3, 3] == pytest.approx(7)
    assert FIXED_KERNELS["gaussian"].sum() == pytest.approx(1)
    step = fixed_kernel_arithmetic(ramp, "sobel_x", (0, 0))                        # the corner: zero padding
    assert step.valid.sum() == 4 and step.matches and step.value == pytest.approx(3 * 1 * (2 + 1) - 0)


def test_clear_errors_for_what_the_arithmetic_does_not_cover(tiny_cnn):
    image = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(CnnvizError, match="Flatten.*pick one of those"):
        unit_arithmetic(tiny_cnn, image, tiny_cnn.layers[3].name, at=(0, 0))          # its Flatten
    with pytest.raises(CnnvizError, match="outside conv's 14x14 map"):
        unit_arithmetic(tiny_cnn, image, "conv", at=(14, 0))
    with pytest.raises(CnnvizError, match="channel 9 is not in conv"):
        unit_arithmetic(tiny_cnn, image, "conv", at=(0, 0), channel=9)
    with pytest.raises(CnnvizError, match="unknown fixed kernel"):
        apply_fixed_kernel(image, "laplace")
