"""Seeing inside a CNN: filter images, activation maps, top-activating dataset
patches (checked against brute force), patch crops and the effective
receptive field."""

import keras
import numpy as np
import pytest
from conftest import needs_data

import cnnviz
from cnnviz import Cancelled, CancelToken, CnnvizError, build_model
from cnnviz.inside.activations import activations, normalize_maps, spatial_layers
from cnnviz.inside.filters import conv_layers, filter_weights
from cnnviz.inside.receptive import effective_receptive_field, receptive_field
from cnnviz.inside.top_patches import LayerTopK, parse_channels, patch_crops, top_patches
from cnnviz.models.graph import feature_model, get_layer, layer_names

# calling a functional model with a bare tensor instead of a list is fine here
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs` doesn't match:UserWarning")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def small():
    """mnist_small, untrained, with fixed random weights."""
    keras.utils.set_random_seed(7)
    return build_model("mnist_small")


@pytest.fixture(scope="module")
def vgg():
    return build_model("vgg16_notop")


@pytest.fixture(scope="module")
def digits():
    """300 random uint8 'digits' (28x28)."""
    return np.random.default_rng(3).integers(0, 256, (300, 28, 28), dtype=np.uint8)


@pytest.fixture(scope="module")
def digit_maps(small, digits):
    """Brute-force activations of every spatial layer for all of ``digits``."""
    return activations(small, digits[..., None].astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def top_max(small, digits):
    return top_patches(small, digits, ["conv1", "pool2"], k=5, cache=False)


def dense_only():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="d1"), keras.layers.Dense(2, name="d2")],
                            name="dense_only")


def brute_top_per_image(maps, k, stat="max"):
    """Per channel: the k best images by max (or mean) over space, stably
    sorted (ties: lower image index first, like tf.math.top_k), and each
    image's argmax position."""
    n, h, w, c = maps.shape
    flat = maps.reshape(n, h * w, c)
    score = flat.max(axis=1) if stat == "max" else flat.mean(axis=1)          # (N, C)
    order = np.argsort(-score, axis=0, kind="stable")[:k].T                   # (C, k)
    values = np.take_along_axis(score.T, order, axis=1)
    argmax = flat.argmax(axis=1)                                              # (N, C)
    pos = np.take_along_axis(argmax.T, order, axis=1)
    return values, order, np.stack(np.divmod(pos, w), -1)


def assert_same_topk(result: LayerTopK, maps, values, index, position, channels=None):
    """The values equal the brute-force top-k; the indices and positions too,
    except where two candidates tie (then either is right, but the value at
    the returned image and position must be the reported one)."""
    channels = np.arange(maps.shape[-1]) if channels is None else channels
    np.testing.assert_array_equal(result.channels, channels)
    np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-6)
    for ci, ch in enumerate(channels):
        for j in range(values.shape[1]):
            others = np.delete(values[ci], j)
            tied = np.any(np.isclose(others, values[ci, j], rtol=1e-5, atol=1e-6))
            if not tied:
                assert result.image_index[ci, j] == index[ci, j], (ch, j)
                np.testing.assert_array_equal(result.position[ci, j], position[ci, j])


# ---------------------------------------------------------------- graph

def test_layer_names_and_feature_model(small, rng):
    assert layer_names(small)[-7:] == ["conv1", "pool1", "conv2", "pool2", "flatten", "dense1", "predictions"]
    assert conv_layers(small) == ["conv1", "conv2"]
    assert spatial_layers(small)[-4:] == ["conv1", "pool1", "conv2", "pool2"]
    assert get_layer(small, "conv2") is small.get_layer("conv2")
    with pytest.raises(CnnvizError, match="nope"):
        get_layer(small, "nope")
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    sub = feature_model(small, ["pool1", "dense1"])
    pool1, dense1 = (np.asarray(o) for o in sub(x))
    assert pool1.shape == (2, 13, 13, 8) and dense1.shape == (2, 64)
    ref = keras.Model(small.inputs, small.get_layer("dense1").output)(x)
    np.testing.assert_allclose(dense1, np.asarray(ref), atol=1e-5)


# ---------------------------------------------------------------- filters

def test_filter_shapes_of_mnist_small(small):
    assert filter_weights(small, "conv1").shape == (3, 3, 1, 8)
    f2 = filter_weights(small, "conv2")
    assert f2.shape == (3, 3, 8, 8)
    assert f2.images.shape == (8, 8, 3, 3)              # (out, in, kh, kw)
    assert f2.as_rgb is None                             # 8 input channels are not a colour image
    np.testing.assert_array_equal(f2.kernel, small.get_layer("conv2").get_weights()[0])
    np.testing.assert_array_equal(f2.bias, small.get_layer("conv2").get_weights()[1])


def test_default_layer_is_the_first_convolution(small):
    f = filter_weights(small)
    assert f.layer == "conv1" and f.shape == (3, 3, 1, 8)
    np.testing.assert_array_equal(f.kernel, small.get_layer("conv1").get_weights()[0])


def test_vgg16_first_layer_filters_are_rgb(vgg):
    f = filter_weights(vgg, "block1_conv1")
    assert f.shape == (3, 3, 3, 64)
    rgb = f.as_rgb
    assert rgb.shape == (64, 3, 3, 3)
    assert rgb.min() >= 0 and rgb.max() <= 1
    # as_rgb[o, y, x, c] is the kernel's [y, x, c, o], rescaled per filter
    k = f.kernel[..., 5]
    np.testing.assert_allclose(rgb[5], (k - k.min()) / (k.max() - k.min()), atol=1e-6)


def test_per_filter_normalization_spans_zero_to_one_for_every_filter(small):
    for layer in ("conv1", "conv2"):
        images = filter_weights(small, layer, normalize="filter").images
        flat = images.reshape(images.shape[0], -1)
        assert images.min() >= 0 and images.max() <= 1
        np.testing.assert_allclose(flat.min(axis=1), 0, atol=1e-7)
        np.testing.assert_allclose(flat.max(axis=1), 1, atol=1e-6)


def test_per_layer_normalization_is_one_affine_map_of_the_kernel(small):
    f = filter_weights(small, "conv2", normalize="layer")
    kernel = f.kernel
    kmin, kmax = kernel.min(), kernel.max()
    np.testing.assert_allclose(f.images, (kernel.transpose(3, 2, 0, 1) - kmin) / (kmax - kmin), atol=1e-6)
    assert f.images.min() == pytest.approx(0, abs=1e-7) and f.images.max() == pytest.approx(1, abs=1e-6)
    flat = f.images.reshape(f.images.shape[0], -1)
    # not per filter: some filter does not reach 0 or 1 on its own
    assert (flat.min(axis=1) > 1e-6).any() or (flat.max(axis=1) < 1 - 1e-6).any()
    assert f.normalize == "layer"


def test_filter_errors(small):
    with pytest.raises(CnnvizError, match="dense1"):
        filter_weights(small, "dense1")
    with pytest.raises(CnnvizError, match="no_such_layer"):
        filter_weights(small, "no_such_layer")
    with pytest.raises(CnnvizError, match="convolution"):
        filter_weights(dense_only())
    with pytest.raises(CnnvizError, match="normalization"):
        filter_weights(small, "conv1", normalize="channel")


# ---------------------------------------------------------------- activations

def test_activations_equal_an_independent_keras_submodel(small, rng):
    x = rng.random((3, 28, 28, 1)).astype(np.float32)
    maps = activations(small, x, ["conv1", "pool1", "conv2", "pool2"])
    assert list(maps) == ["conv1", "pool1", "conv2", "pool2"]
    shapes = {"conv1": (3, 26, 26, 8), "pool1": (3, 13, 13, 8), "conv2": (3, 11, 11, 8), "pool2": (3, 5, 5, 8)}
    for name, a in maps.items():
        assert a.shape == shapes[name]
        ref = np.asarray(keras.Model(small.inputs, small.get_layer(name).output)(x))
        np.testing.assert_allclose(a, ref, atol=1e-5)
        np.testing.assert_allclose(activations(small, x, [name])[name], a, atol=1e-5)


def test_default_layers_are_all_spatial_layers(small, rng):
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    maps = activations(small, x)
    assert list(maps) == spatial_layers(small)
    assert {"conv1", "pool1", "conv2", "pool2"} <= set(maps) and "dense1" not in maps


def test_single_image_without_batch_axis(small, rng):
    x = rng.random((28, 28, 1)).astype(np.float32)
    one = activations(small, x, ["conv2"])["conv2"]
    assert one.shape == (1, 11, 11, 8)
    np.testing.assert_allclose(one, activations(small, x[None], ["conv2"])["conv2"], atol=1e-6)


def test_vgg16_maps_keep_any_input_size(vgg):
    x = np.random.default_rng(1).uniform(-100, 100, (1, 600, 384, 3)).astype(np.float32)
    maps = activations(vgg, x, ["block1_pool", "block2_pool"])
    assert maps["block1_pool"].shape == (1, 300, 192, 64)
    assert maps["block2_pool"].shape == (1, 150, 96, 128)


def test_maps_inside_a_nested_model(rng):
    keras.utils.set_random_seed(11)
    inp = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv")(inp)
    h = keras.layers.MaxPooling2D(2, name="inner_pool")(h)
    inner = keras.Model(inp, h, name="inner")
    outer = keras.Sequential([keras.Input((32, 32, 3)), inner, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)], name="outer")
    assert "inner/inner_conv" in spatial_layers(outer)
    x = rng.random((2, 32, 32, 3)).astype(np.float32)
    maps = activations(outer, x, ["inner/inner_conv", "inner/inner_pool"])
    ref_conv = np.asarray(keras.Model(inner.inputs, inner.get_layer("inner_conv").output)(x))
    assert maps["inner/inner_conv"].shape == (2, 30, 30, 4)
    np.testing.assert_allclose(maps["inner/inner_conv"], ref_conv, atol=1e-5)
    np.testing.assert_allclose(maps["inner/inner_pool"], np.asarray(inner(x)), atol=1e-5)
    # a plain inner name resolves to the qualified one
    np.testing.assert_allclose(activations(outer, x, ["inner_conv"])["inner/inner_conv"], ref_conv, atol=1e-5)


def test_normalize_maps_per_channel_layer_and_global(small, rng):
    x = rng.random((3, 28, 28, 1)).astype(np.float32)
    maps = activations(small, x, ["conv1", "pool2"])
    maps = {k: v * 3 - 0.5 for k, v in maps.items()}            # away from [0, 1] already

    per_channel = normalize_maps(maps, "channel")
    for name, m in per_channel.items():
        raw = maps[name]
        for i in range(m.shape[0]):
            for c in range(m.shape[-1]):
                if np.ptp(raw[i, ..., c]) > 1e-6:
                    assert m[i, ..., c].min() == pytest.approx(0, abs=1e-6)
                    assert m[i, ..., c].max() == pytest.approx(1, abs=1e-6)

    per_layer = normalize_maps(maps, "layer")
    for name, m in per_layer.items():
        raw = maps[name]
        for i in range(m.shape[0]):
            assert m[i].min() == pytest.approx(0, abs=1e-6) and m[i].max() == pytest.approx(1, abs=1e-6)
            lo, hi = raw[i].min(), raw[i].max()
            np.testing.assert_allclose(m[i], (raw[i] - lo) / (hi - lo), atol=1e-5)

    glob = normalize_maps(maps, "global")
    lo = min(m.min() for m in maps.values())
    hi = max(m.max() for m in maps.values())
    assert min(m.min() for m in glob.values()) == pytest.approx(0, abs=1e-6)
    assert max(m.max() for m in glob.values()) == pytest.approx(1, abs=1e-6)
    for name, m in glob.items():
        np.testing.assert_allclose(m, (maps[name] - lo) / (hi - lo), atol=1e-5)
    # the layer with the smaller range does not reach both ends by itself
    assert any(m.min() > 1e-6 or m.max() < 1 - 1e-6 for m in glob.values())

    with pytest.raises(CnnvizError, match="scope"):
        normalize_maps(maps, "image")


def test_activation_errors(small, rng):
    x = rng.random((1, 28, 28, 1)).astype(np.float32)
    with pytest.raises(CnnvizError, match="no_layer"):
        activations(small, x, ["no_layer"])
    with pytest.raises(CnnvizError, match="spatial"):
        activations(small, x, ["dense1"])
    with pytest.raises(CnnvizError, match="do not fit"):
        activations(small, rng.random((2, 32, 32, 3)).astype(np.float32), ["conv1"])
    with pytest.raises(CnnvizError, match="spatial"):
        activations(dense_only(), rng.random((2, 6)).astype(np.float32))


# ---------------------------------------------------------------- top patches

def test_top_patches_per_image_max_equals_brute_force(top_max, digit_maps):
    assert set(top_max.layers) == {"conv1", "pool2"} and top_max.k == 5 and not top_max.from_cache
    for layer in ("conv1", "pool2"):
        values, index, position = brute_top_per_image(digit_maps[layer], 5)
        r = top_max.layers[layer]
        assert r.values.shape == (8, 5) and r.image_index.shape == (8, 5) and r.position.shape == (8, 5, 2)
        assert_same_topk(r, digit_maps[layer], values, index, position)
        # every reported value is the activation at the reported image and position
        for c in range(8):
            got = digit_maps[layer][r.image_index[c], r.position[c, :, 0], r.position[c, :, 1], c]
            np.testing.assert_allclose(got, r.values[c], rtol=1e-5, atol=1e-6)
        assert (np.diff(r.values, axis=1) <= 0).all()


def test_top_patches_per_unit_equals_brute_force(small, digits, digit_maps):
    res = top_patches(small, digits, ["conv1", "pool2"], k=5, per="unit", cache=False)
    for layer in ("conv1", "pool2"):
        maps = digit_maps[layer]
        n, h, w, c = maps.shape
        flat = maps.reshape(-1, c)                                  # (N*h*w, C), image-major
        order = np.argsort(-flat, axis=0, kind="stable")[:5].T
        values = np.take_along_axis(flat.T, order, axis=1)
        img, pos = np.divmod(order, h * w)
        position = np.stack(np.divmod(pos, w), -1)
        r = res.layers[layer]
        assert_same_topk(r, maps, values, img, position)
        for ch in range(c):
            got = maps[r.image_index[ch], r.position[ch, :, 0], r.position[ch, :, 1], ch]
            np.testing.assert_allclose(got, r.values[ch], rtol=1e-5, atol=1e-6)
    # per unit can take one image several times; the best value is the same as per image
    np.testing.assert_allclose(res.layers["pool2"].values[:, 0], digit_maps["pool2"].max(axis=(0, 1, 2)), rtol=1e-5)


def test_top_patches_mean_statistic_equals_brute_force(small, digits, digit_maps):
    res = top_patches(small, digits, ["conv1", "pool2"], k=5, stat="mean", cache=False)
    for layer in ("conv1", "pool2"):
        values, index, position = brute_top_per_image(digit_maps[layer], 5, stat="mean")
        assert_same_topk(res.layers[layer], digit_maps[layer], values, index, position)


def test_top_patches_channel_subset(small, digits, digit_maps):
    res = top_patches(small, digits, ["conv2"], k=5, channels={"conv2": np.array([1, 4])}, cache=False)
    r = res.layers["conv2"]
    assert r.values.shape == (2, 5)
    values, index, position = brute_top_per_image(digit_maps["conv2"][..., [1, 4]], 5)
    assert_same_topk(r, digit_maps["conv2"], values, index, position, channels=np.array([1, 4]))


def test_fewer_images_than_k_leave_empty_slots(small, digits, digit_maps):
    res = top_patches(small, digits[:3], ["pool2"], k=5, cache=False)
    r = res.layers["pool2"]
    assert (r.image_index[:, 3:] == -1).all()
    assert (r.image_index[:, :3] >= 0).all()
    assert sorted(r.image_index[0, :3].tolist()) == [0, 1, 2]
    values, _, _ = brute_top_per_image(digit_maps["pool2"][:3], 3)
    np.testing.assert_allclose(r.values[:, :3], values, rtol=1e-5, atol=1e-6)


def test_streaming_in_small_batches_is_exact(small, digits, top_max):
    res = top_patches(small, digits, ["conv1", "pool2"], k=5, batch_size=64, cache=False)
    for layer in ("conv1", "pool2"):
        a, b = res.layers[layer], top_max.layers[layer]
        np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(a.image_index, b.image_index)
        np.testing.assert_array_equal(a.position, b.position)
        np.testing.assert_array_equal(a.boxes, b.boxes)


def test_top_patches_cache(small, digits, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    x = digits[:100]
    first = top_patches(small, x, ["pool2"], k=4)
    assert not first.from_cache
    files = list((tmp_path / "top_patches").glob("*.npz"))
    assert len(files) == 1

    second = top_patches(small, x, ["pool2"], k=4)
    assert second.from_cache
    for name in ("channels", "values", "image_index", "position", "boxes"):
        np.testing.assert_array_equal(getattr(second.layers["pool2"], name), getattr(first.layers["pool2"], name))

    other_k = top_patches(small, x, ["pool2"], k=3)
    assert not other_k.from_cache and other_k.layers["pool2"].values.shape == (8, 3)

    # a damaged cache entry is recomputed, and the result says so
    assert first.cache_note == "" and second.cache_note == ""
    files[0].write_bytes(b"not an npz at all")
    again = top_patches(small, x, ["pool2"], k=4)
    assert not again.from_cache and "were unreadable" in again.cache_note and str(files[0]) in again.cache_note
    np.testing.assert_array_equal(again.layers["pool2"].image_index, first.layers["pool2"].image_index)
    assert top_patches(small, x, ["pool2"], k=4).from_cache        # and rewritten

    # an entry whose arrays were edited to other shapes fails validation the same way
    with np.load(files[0]) as f:
        arrays = dict(f)
    arrays["0_boxes"] = arrays["0_boxes"][:, :2]
    np.savez(files[0], **arrays)
    tampered = top_patches(small, x, ["pool2"], k=4)
    assert not tampered.from_cache and "boxes has shape" in tampered.cache_note

    # other weights: not the cached answer
    keras.utils.set_random_seed(99)
    other = build_model("mnist_small")
    changed = top_patches(other, x, ["pool2"], k=4)
    assert not changed.from_cache
    assert not np.allclose(changed.layers["pool2"].values, first.layers["pool2"].values)


def test_cache_is_not_reused_after_a_change_of_preprocessing(digits, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    keras.utils.set_random_seed(7)
    model = build_model("mnist_small")
    x = digits[:50]
    top_patches(model, x, ["pool2"], k=3)
    cnnviz.model_info(model).preprocessing = "raw"          # as load_model(..., preprocessing="raw") does
    fresh = top_patches(model, x, ["pool2"], k=3, cache=False)
    cached = top_patches(model, x, ["pool2"], k=3)
    assert not cached.from_cache
    np.testing.assert_allclose(cached.layers["pool2"].values, fresh.layers["pool2"].values, rtol=1e-5)


def test_channels_keyed_by_the_plain_name_of_a_nested_layer():
    keras.utils.set_random_seed(11)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv")(inp)
    inner = keras.Model(inp, h, name="inner")
    outer = keras.Sequential([keras.Input((16, 16, 3)), inner, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)], name="outer")
    x = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    res = top_patches(outer, x, ["inner_conv"], k=2, channels={"inner_conv": np.array([1])}, cache=False)
    np.testing.assert_array_equal(res.layers["inner/inner_conv"].channels, [1])


def test_top_patches_cancel_and_progress(small, digits):
    calls = []
    top_patches(small, digits, ["conv1"], k=2, batch_size=64, cache=False,
                progress=lambda done, total, msg: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert all(t == 300 for _, t in calls)
    assert done[0] == 0 and done[-1] == 300
    assert all(a < b for a, b in zip(done, done[1:]))
    assert len(calls) >= 5                                        # 5 batches of 64

    token = CancelToken()
    seen = []

    def progress(done, total, msg):
        seen.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        top_patches(small, digits, ["conv1"], k=2, batch_size=64, cache=False, progress=progress, cancel=token)
    assert seen == [0]
    assert issubclass(cnnviz.Cancelled, CnnvizError)


def test_patch_crops_are_the_receptive_field_pixels(small, digits, top_max):
    r = top_max.layers["pool2"]
    f = receptive_field(small, "pool2")
    assert f.size == (10, 10) and f.jump == (4, 4)
    crops = patch_crops(r, digits)
    assert crops.shape == (8, 5, 10, 10, 1) and crops.dtype == np.uint8
    # pool2 unit (row, col) sees input rows 4*row .. 4*row+9 (every pool2 unit lies inside the image)
    for c in range(8):
        for j in range(5):
            row, col = r.position[c, j]
            np.testing.assert_array_equal(r.boxes[c, j], [4 * row, 4 * col, 4 * row + 9, 4 * col + 9])
            expected = digits[r.image_index[c, j], 4 * row:4 * row + 10, 4 * col:4 * col + 10]
            np.testing.assert_array_equal(crops[c, j, ..., 0], expected)
    conv1 = patch_crops(top_max.layers["conv1"], digits)
    assert conv1.shape == (8, 5, 3, 3, 1)


def test_patch_crop_at_the_border_is_filled():
    # one 5x5 'same' convolution, centre-heavy kernel; the image's brightest pixel is its corner,
    # so unit (0, 0), whose field is rows and columns -2..2, is the top unit
    model = keras.Sequential([keras.Input((12, 12, 1)),
                              keras.layers.Conv2D(1, 5, padding="same", use_bias=False, name="c")], name="border")
    kernel = np.full((5, 5, 1, 1), 0.01, np.float32)
    kernel[2, 2] = 10.0
    model.get_layer("c").set_weights([kernel])
    images = np.random.default_rng(5).integers(0, 11, (2, 12, 12), dtype=np.uint8)
    images[1, 0, 0] = 255
    res = top_patches(model, images, ["c"], k=1, cache=False)
    r = res.layers["c"]
    assert r.image_index[0, 0] == 1 and tuple(r.position[0, 0]) == (0, 0)
    np.testing.assert_array_equal(r.boxes[0, 0], [-2, -2, 2, 2])
    crops = patch_crops(r, images, fill=77)
    assert crops.shape == (1, 1, 5, 5, 1)
    crop = crops[0, 0, ..., 0]
    assert (crop[:2, :] == 77).all() and (crop[:, :2] == 77).all()
    np.testing.assert_array_equal(crop[2:, 2:], images[1, :3, :3])


def test_parse_channels():
    np.testing.assert_array_equal(parse_channels("0:4", 8), [0, 1, 2, 3])
    np.testing.assert_array_equal(parse_channels("3", 8), [3])
    np.testing.assert_array_equal(parse_channels("1,5", 8), [1, 5])
    np.testing.assert_array_equal(parse_channels(None, 5), np.arange(5))
    np.testing.assert_array_equal(parse_channels("6:", 8), [6, 7])
    for bad in ("8", "0,9", "-1", "5:5", "a", "1;2", "x:3"):
        with pytest.raises(CnnvizError):
            parse_channels(bad, 8)


def test_top_patches_argument_errors(small, digits):
    with pytest.raises(CnnvizError):
        top_patches(small, digits[:4], ["dense1"], cache=False)
    with pytest.raises(CnnvizError):
        top_patches(small, digits[:4], ["conv1"], k=0, cache=False)
    with pytest.raises(CnnvizError):
        top_patches(small, digits[:4], ["conv1"], per="pixel", cache=False)
    with pytest.raises(CnnvizError):
        top_patches(small, digits[:0], ["conv1"], cache=False)


# ---------------------------------------------------------------- real data

@needs_data
@pytest.mark.data
def test_top_patches_of_trained_mnist_cnn_on_real_digits():
    model = cnnviz.load_model("mnist_cnn")
    x = cnnviz.data.datasets.mnist_dataset().x_test[:2000]
    res = top_patches(model, x, ["conv1"], k=9, cache=False)
    r = res.layers["conv1"]
    assert r.values.shape == (32, 9) and (r.image_index >= 0).all() and (r.image_index < 2000).all()
    assert (np.diff(r.values, axis=1) <= 0).all()
    used = np.unique(r.image_index)
    maps = activations(model, x[used][..., None].astype(np.float32) / 255.0, ["conv1"])["conv1"]
    lookup = {int(i): n for n, i in enumerate(used)}
    for c in range(32):
        for j in range(9):
            row, col = r.position[c, j]
            m = maps[lookup[int(r.image_index[c, j])], ..., c]
            assert m[row, col] == pytest.approx(r.values[c, j], rel=1e-4, abs=1e-5)
            assert m.max() == pytest.approx(r.values[c, j], rel=1e-4, abs=1e-5)   # per image: its best unit
    # a trained first layer responds to digits: the best units are strongly active
    assert (r.values[:, 0] > 0).sum() >= 16


# ---------------------------------------------------------------- effective receptive field

def test_effective_receptive_field_lies_inside_the_theoretical_one(small):
    images = np.random.default_rng(2).random((16, 28, 28, 1)).astype(np.float32)
    erf = effective_receptive_field(small, images, "pool2")
    heat = erf.heatmap
    assert heat.shape == (28, 28)
    assert heat.max() == pytest.approx(1.0)
    assert heat.min() >= 0
    assert erf.centre == (2, 2)
    top, left, bottom, right = (int(v) for v in erf.theoretical.box(*erf.centre))
    assert (top, left, bottom, right) == (8, 8, 17, 17)
    inside = np.zeros_like(heat, bool)
    inside[top:bottom + 1, left:right + 1] = True
    assert (heat[~inside] == 0).all()
    assert (heat[inside] > 0).sum() > 10
    assert 0 < erf.size <= 10


def test_top_patches_on_a_model_that_takes_any_size():
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c1")(inputs)
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="p1")(x))
    images = np.random.default_rng(4).integers(0, 256, (5, 20, 14), dtype=np.uint8)
    top = top_patches(model, images, ["p1"], k=2, cache=False).layers["p1"]
    maps = activations(model, images[..., None] / 255.0, ["p1"])["p1"]          # (5, 9, 6, 3): not square
    for c in range(3):
        i, (row, col) = top.image_index[c, 0], top.position[c, 0]
        assert maps[i, row, col, c] == pytest.approx(top.values[c, 0], rel=1e-5)


def test_silent_channels_are_told_apart_and_marked():
    """Channel 0 is proven dead by interval bounds (negative bias, non-positive
    kernel); channel 1 could fire on a bright pixel but not on these dark
    images; channel 2 fires. The figure fades and labels the silent rows."""
    import keras

    from cnnviz.inside.top_patches import silent_channels
    from cnnviz.plots.inside import top_patches_figure

    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="conv")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(conv(inputs))))
    kernel = np.zeros((3, 3, 1, 3), np.float32)
    kernel[..., 0], kernel[1, 1, 0, 1], kernel[..., 2] = -1.0, 1.0, 1.0
    conv.set_weights([kernel, np.array([-0.1, -0.5, 0.0], np.float32)])
    images = np.random.default_rng(0).integers(0, 100, (5, 6, 6, 1), dtype=np.uint8)    # at most 100/255 < 0.5
    top = top_patches(model, images, ["conv"], k=2, cache=False).layers["conv"]
    silent = silent_channels(model, "conv", top.channels, top.values, "did not fire on these 5 images")
    assert silent == {0: "cannot fire (proven for every valid image)", 1: "did not fire on these 5 images"}
    fig = top_patches_figure(patch_crops(top, images), top.values, top.channels, "conv", (3, 3), silent)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert "cannot fire" in labels[0] and "did not fire" in labels[1] and labels[2] == "ch 2"
