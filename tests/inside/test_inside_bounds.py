"""Interval bounds over all valid images: exact on a first layer, sound deeper
in (no real image goes beyond them), and a clear error where no rule exists."""
import keras
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import CnnvizError, load_model
from cnnviz.data.sources import load_dataset
from cnnviz.inside.bounds import dead_channels, layer_bounds
from cnnviz.models.engine import features
from cnnviz.models.inputs import dataset_inputs


def _first_layer_model():
    """6x6 gray in [0, 1]; channel 0 all +1 (bias -0.5), channel 1 all -1
    (bias -0.1: never positive), channel 2 half +1, half -1 (bias 0)."""
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")
    outputs = conv(inputs)
    kernel = np.zeros((3, 3, 1, 3), np.float32)
    kernel[..., 0], kernel[..., 1] = 1.0, -1.0
    kernel[..., 2] = np.where(np.arange(9).reshape(3, 3, 1) < 4, 1.0, -1.0)
    conv.set_weights([kernel, np.array([-0.5, -0.1, 0.0], np.float32)])
    return keras.Model(inputs, outputs)


def test_first_layer_bounds_are_exact():
    bounds = layer_bounds(_first_layer_model(), "conv")
    assert bounds.hi.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(bounds.hi[0, 0, 0], [8.5, 0.0, 4.0])
    np.testing.assert_allclose(bounds.lo[0, 0, 0], [0.0, 0.0, 0.0])
    assert dead_channels(_first_layer_model(), "conv").tolist() == [False, True, False]


@needs_data
def test_real_images_stay_within_the_bounds_of_a_shipped_model():
    model = load_model("mnist_cnn")
    x = dataset_inputs(model, load_dataset("mnist").x_test[:300])
    layers = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    for layer, maps in zip(layers, features(model, x, tuple(layers))):
        bounds = layer_bounds(model, layer)
        assert (maps <= bounds.hi + 1e-4).all() and (maps >= bounds.lo - 1e-4).all(), layer
        assert not (dead_channels(model, layer) & (maps.max(axis=(0, 1, 2)) > 0)).any(), layer


def test_a_layer_without_an_interval_rule_is_named():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="gelu", name="conv1")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv2")(x))
    with pytest.raises(CnnvizError, match="conv1's activation gelu is not monotone"):
        layer_bounds(model, "conv2")
