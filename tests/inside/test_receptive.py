"""Receptive fields: the lecture's and VGG16's values, and a brute-force check
against gradients over many random architectures."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnviz import CnnvizError, build_model
from cnnviz.inside.receptive import Unmapped, catalogue, receptive_field, receptive_fields, unit_box
from cnnviz.models.graph import feature_model


def sizes_and_jumps(model):
    return {name: (f.size[0], f.jump[0]) for name, f in receptive_fields(model).items() if not isinstance(f, Unmapped)}


def test_mnist_small_fields_match_the_lecture():
    rf = sizes_and_jumps(build_model("mnist_small"))
    assert rf == {"input": (1, 1), "conv1": (3, 1), "pool1": (4, 2), "conv2": (8, 2), "pool2": (10, 4)} or \
        {k: v for k, v in rf.items() if k != "input"} == {"conv1": (3, 1), "pool1": (4, 2), "conv2": (8, 2),
                                                          "pool2": (10, 4)}


def test_vgg16_fields_match_published_values():
    rf = sizes_and_jumps(build_model("vgg16_notop"))
    expected = {"block1_conv2": (5, 1), "block1_pool": (6, 2), "block3_conv3": (40, 4), "block4_conv3": (92, 8),
                "block5_conv3": (196, 16), "block5_pool": (212, 32)}
    assert {k: rf[k] for k in expected} == expected


def test_nested_vgg16_in_sequential_is_traversed():
    wrapped = keras.Sequential([keras.Input((64, 64, 3)), build_model("vgg16_notop"),
                                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="head")])
    fields = receptive_fields(wrapped)
    assert fields["vgg16/block5_conv3"].size == (196, 196)
    assert receptive_field(wrapped, "block4_conv3").size == (92, 92)      # plain names resolve too
    assert isinstance(fields["head"], Unmapped) and fields["head"].global_


def test_catalogue_rows_have_geometry_and_fields():
    rows = {e.name: e for e in catalogue(build_model("lenet"))}
    conv1 = rows["conv1"]
    assert conv1.kernel == (5, 5) and conv1.stride == (1, 1) and conv1.padding == "same"
    assert conv1.rf_size == (5, 5) and conv1.rf_start == (0, 0) and conv1.output_shape == (28, 28, 20)
    assert rows["pool2"].rf_size == (16, 16) and rows["pool2"].rf_jump == (4, 4)
    assert rows["dense1"].rf_size is None and "whole input" in rows["dense1"].note


def test_same_padding_is_asymmetric_like_tensorflow():
    # 6 pixels, kernel 2, stride 2, 'same': total padding 0 -> start 0.5; with 7 pixels total 1, left 0
    for n, start in ((6, 0.5), (7, 0.5)):
        m = keras.Sequential([keras.Input((n, n, 1)), keras.layers.Conv2D(1, 3, strides=2, padding="same")])
        f = receptive_field(m, m.layers[0].name)
        left_pad = (max((-(-n // 2) - 1) * 2 + 3 - n, 0)) // 2
        assert f.start == (1 - left_pad, 1 - left_pad)


def test_unmappable_layers_are_named():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="c")(inputs)
    x = keras.layers.UpSampling2D(name="up")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, name="after")(x))
    with pytest.raises(CnnvizError, match=r"cannot map receptive fields through up \(UpSampling2D\)"):
        receptive_field(model, "after")
    with pytest.raises(CnnvizError, match="no layer 'nosuch'"):
        receptive_field(model, "nosuch")


def test_branches_that_disagree_in_stride_are_reported():
    inputs = keras.Input((16, 16, 1))
    a = keras.layers.Conv2D(1, 3, strides=2, padding="same", name="a")(inputs)
    b = keras.layers.MaxPooling2D(2, name="b")(keras.layers.Conv2D(1, 1, name="b0")(inputs))
    merged = keras.layers.Add(name="sum")([a, b])
    model = keras.Model(inputs, merged)
    assert receptive_field(model, "sum").note == ""
    inputs = keras.Input((16, 16, 1))
    a = keras.layers.Conv2D(1, 3, strides=2, padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(1, 3, strides=1, padding="same", name="b")(inputs)
    b = keras.layers.Cropping2D(((4, 4), (4, 4)), name="crop")(b)
    model = keras.Model(inputs, keras.layers.Concatenate(name="cat")([a, b]))
    assert "disagree in stride" in receptive_field(model, "cat").note


def test_unit_box_clips_to_the_image_and_counts_padding():
    model = build_model("lenet")            # 'same' 5x5 convolutions pad 2 pixels
    corner = unit_box(model, "conv1", 0, 0)
    assert corner.box == (-2, -2, 2, 2) and corner.clipped == (0, 0, 2, 2)
    assert corner.padding_fraction == pytest.approx(1 - 9 / 25)
    assert unit_box(model, "conv1", 10, 10).padding_fraction == 0


# ---------------------------------------------------------------- brute force

def random_architecture(rng, size):
    """A random linear CNN of all-ones kernels: convolutions (kernel, stride,
    dilation, padding), average pools, zero padding, cropping and branches."""
    inputs = keras.Input((size, size, 1))
    x = inputs
    for i in range(rng.integers(2, 5)):
        h = x.shape[1]
        choice = rng.integers(0, 6)
        if choice <= 1:
            k, d = int(rng.integers(1, 5)), int(rng.integers(1, 3))
            # kernel >= stride: TF 2.21's oneDNN gradient of a 1x1 stride-2 convolution
            # corrupts memory (correct with TF_ENABLE_ONEDNN_OPTS=0)
            s = 1 if d > 1 or k == 1 else int(rng.integers(1, 3))
            pad = "same" if rng.random() < 0.5 else "valid"
            if pad == "valid" and h - d * (k - 1) < 3:
                continue
            x = keras.layers.Conv2D(2, k, strides=s, dilation_rate=d, padding=pad, use_bias=False,
                                    kernel_initializer="ones", name=f"conv{i}")(x)
        elif choice == 2 and h >= 6:
            x = keras.layers.AveragePooling2D(int(rng.integers(2, 4)), strides=int(rng.integers(1, 3)),
                                              padding="valid", name=f"pool{i}")(x)
        elif choice == 3:
            x = keras.layers.ZeroPadding2D(((int(rng.integers(0, 3)), 1), (int(rng.integers(0, 3)), 0)),
                                           name=f"zpad{i}")(x)
        elif choice == 4 and h >= 8:
            x = keras.layers.Cropping2D(((1, int(rng.integers(0, 3))), (int(rng.integers(0, 3)), 1)),
                                        name=f"crop{i}")(x)
        else:
            k1, k2 = (int(v) for v in rng.integers(1, 6, size=2))
            a = keras.layers.Conv2D(2, k1, padding="same", use_bias=False, kernel_initializer="ones",
                                    name=f"br{i}a")(x)
            b = keras.layers.Conv2D(2, k2, padding="same", use_bias=False, kernel_initializer="ones",
                                    name=f"br{i}b")(x)
            merge = keras.layers.Add if rng.random() < 0.5 else keras.layers.Concatenate
            x = merge(name=f"merge{i}")([a, b])
    x = keras.layers.Conv2D(1, int(rng.integers(2, 4)), strides=int(rng.integers(1, 3)), padding="same",
                            use_bias=False, kernel_initializer="ones", name="last")(x)
    return keras.Model(inputs, x)


def gradient_box(model, row, col):
    """Bounding box of the input pixels with non-zero gradient for one unit."""
    x = tf.ones((1, *model.inputs[0].shape[1:]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x)[0, row, col, :])
    g = tape.gradient(y, x).numpy()[0, ..., 0]
    rows, cols = np.nonzero(g)
    if not len(rows):
        return 0, 0, -1, -1            # the unit sees only padding
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


@pytest.mark.parametrize("seed", range(24))
def test_analytic_box_equals_gradient_support(seed):
    rng = np.random.default_rng(seed)
    model = random_architecture(rng, int(rng.integers(17, 34)))
    oh, ow = model.outputs[0].shape[1:3]
    for row, col in {(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 2), (0, ow - 1)}:
        assert unit_box(model, "last", row, col).clipped == gradient_box(model, row, col), \
            (seed, row, col, [type(layer).__name__ for layer in model.layers])


def test_intermediate_layer_boxes_match_gradients():
    rng = np.random.default_rng(100)
    model = random_architecture(rng, 29)
    for name in [layer.name for layer in model.layers[1:] if len(layer.output.shape) == 4]:
        sub = feature_model(model, [name])
        oh, ow = sub.outputs[0].shape[1:3]
        assert unit_box(model, name, oh // 2, ow // 2).clipped == gradient_box(sub, oh // 2, ow // 2), name


def test_depthwise_separable_and_dilated_convolutions():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(inputs)
    x = keras.layers.SeparableConv2D(4, 5, dilation_rate=2, name="sep")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inputs, x)
    fields = receptive_fields(model)
    assert fields["dw"].size == (3, 3) and fields["dw"].jump == (2, 2)
    # dilated 5x5 spans 9 positions at jump 2: 3 + 8 * 2
    assert fields["sep"].size == (19, 19) and fields["sep"].jump == (2, 2)
    assert fields["relu"] == fields["bn"] == fields["sep"]


def test_a_600_layer_graph_is_walked_without_recursion():
    """Deep graphs (ConvNeXt's, loaded from a file) overflowed the recursive walk
    (RecursionError): 600 layers are within what Keras itself builds."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 3, name="first")(inputs)
    for i in range(600):
        x = keras.layers.Identity(name=f"id{i}")(x)
    x = keras.layers.Conv2D(1, 3, name="last")(x)
    model = keras.Model(inputs, x)
    fields = receptive_fields(model)
    assert list(fields)[:2] == ["first", "id0"] and fields["last"].size == (5, 5)
    assert feature_model(model, ["last"]).outputs[0].shape[1:3] == (4, 4)


def test_dense_on_feature_maps_is_pointwise():
    """ConvNeXt's pointwise convolutions are Dense layers on (H, W, C) maps: they
    keep the field; a Dense after Flatten sees the whole input."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Dense(8, name="pointwise")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x)))
    fields = receptive_fields(model)
    assert fields["pointwise"].size == (3, 3) and fields["conv2"].size == (5, 5)
    assert fields["head"].global_
    assert unit_box(model, "conv2", 5, 5).clipped == gradient_box(feature_model(model, ["conv2"]), 5, 5)


def test_keras_operations_in_the_graph_are_layers_too():
    """`x * 2 + 1` on Keras tensors makes operations (not layers) named multiply
    and add, as in MobileNetV3's hard sigmoid: get_layer looped forever on them."""
    from cnnviz.inside import activations

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv2")(x * 2.0 + 1.0)
    model = keras.Model(inputs, x)
    entries = catalogue(model)
    names = [entry.name for entry in entries]
    between = entries[names.index("conv") + 1:names.index("conv2")]
    assert [(e.type, e.params) for e in between] == [("Multiply", 0), ("Add", 0)]
    add = between[1].name                              # "add", or "add_3" after other graphs in the process
    assert receptive_field(model, add).size == (3, 3)
    maps = activations(model, np.ones((1, 8, 8, 1), np.float32), [add])
    assert maps[add].shape == (1, 6, 6, 2)
