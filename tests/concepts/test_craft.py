"""CRAFT on the planted-concept model: the most important concept of the
striped class is shown by striped crops; the Sobol design and Jansen's
estimator give known indices on an additive function; concept maps fit the
image; bad layers and settings are refused."""
from __future__ import annotations

import numpy as np
import pytest

from cnnviz.common.errors import CnnvizError
from cnnviz.concepts import concept_maps, craft
from cnnviz.concepts.craft import crop_positions, jansen, masks


def stripiness(crops: np.ndarray) -> float:
    """How much more alike pixels are along the stripes' direction (i + j
    constant) than across it: near 0 for blobs and noise, large for stripes."""
    c = crops[..., 0].astype(float)
    along = np.corrcoef(c[:, 1:, :-1].ravel(), c[:, :-1, 1:].ravel())[0, 1]
    across = np.corrcoef(c[:, 1:, 1:].ravel(), c[:, :-1, :-1].ravel())[0, 1]
    return along - across


@pytest.fixture(scope="module")
def striped(planted_model, planted_data):
    x, y = planted_data
    return craft(planted_model, x[y == 0], 0, "conv2", k=4, patch=16)


def test_the_most_important_concept_of_the_striped_class_is_stripes(striped, planted_data):
    x, y = planted_data
    assert striped.importances[0] == striped.importances.max() and striped.importances[0] > 0.3
    top = striped.crops[striped.top[0]]
    plain = x[y == 1][:, 8:24, 8:24]                 # crops of the class without stripes
    assert stripiness(top) > 0.5
    assert stripiness(top) > stripiness(plain) + 0.4


def test_result_shapes_ranking_and_json(striped):
    k = 4
    assert striped.bank.shape[0] == k and np.all(striped.bank >= 0)
    assert np.all(np.diff(striped.importances) <= 0)
    assert striped.crops.shape[1:] == (16, 16, 1) and striped.crop_u.shape == (len(striped.crops), k)
    assert sorted(striped.components.tolist()) == list(range(k))
    data = striped.to_json()
    assert [c["rank"] for c in data["concepts"]] == [1, 2, 3, 4] and len(data["concepts"][0]["typical_crops"]) == 10


def test_concept_maps_fit_the_image_and_find_the_concept(planted_model, striped, planted_data):
    x, y = planted_data
    maps = concept_maps(planted_model, striped, np.concatenate([x[y == 0][:2], x[y == 1][:2]]) / 255.0)
    assert maps.shape == (4, 32, 32, 4) and np.all(maps >= 0)
    assert maps[:2, ..., 0].mean() > 3 * maps[2:, ..., 0].mean()     # the stripes concept is where stripes are


def test_crops_follow_tf_extract_patches():
    """The crops' corners are where ``tf.image.extract_patches`` cuts (what CRAFT's code uses)."""
    import tensorflow as tf

    assert crop_positions(32, 32, 16).tolist() == [[0, 0], [0, 12], [12, 0], [12, 12]]
    for h, w, p in ((224, 224, 64), (30, 41, 9)):
        index = np.arange(h * w, dtype=np.float32).reshape(1, h, w, 1)
        stride = int(p * 0.8)
        patches = tf.image.extract_patches(index, [1, p, p, 1], [1, stride, stride, 1], [1, 1, 1, 1], "VALID")
        corners = np.asarray(patches).reshape(-1, p * p)[:, 0].astype(int)
        assert np.array_equal(np.column_stack(np.divmod(corners, w)), crop_positions(h, w, p))


def test_jansen_total_indices_of_an_additive_function():
    """f = 4 x0 + x1 + 0 x2 on uniform inputs: total indices 16/17, 1/17, 0."""
    k, designs = 3, 512
    design = masks(k, designs, "sobol")
    y = design @ np.array([4.0, 1.0, 0.0])
    indices = jansen(y, k, designs)
    assert np.allclose(indices, [16 / 17, 1 / 17, 0], atol=0.03)


def test_bad_settings_refused(planted_model, planted_data):
    x, y = planted_data
    with pytest.raises(CnnvizError, match="crops of 16 px for 500 concepts"):
        craft(planted_model, x[y == 0][:2], 0, "conv2", k=500, patch=16)
    with pytest.raises(CnnvizError, match="patch=40"):
        craft(planted_model, x[y == 0], 0, "conv2", patch=40)
    with pytest.raises(CnnvizError, match="does not pass through"):
        _branched_craft()


def _branched_craft():
    import keras

    inputs = keras.Input((16, 16, 1))
    a = keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="b")(a)
    merged = keras.layers.Add()([a, b])
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(merged))
    model = keras.Model(inputs, out)
    craft(model, np.zeros((2, 16, 16, 1), np.uint8), 0, "b", k=2, patch=8)


def test_cached_result_is_read_back_equal(planted_model, planted_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    x, y = planted_data
    first = craft(planted_model, x[y == 0][:10], 0, "conv2", k=3, patch=16, designs=8, cache=True)
    again = craft(planted_model, x[y == 0][:10], 0, "conv2", k=3, patch=16, designs=8, cache=True)
    other = craft(planted_model, x[y == 0][:9], 0, "conv2", k=3, patch=16, designs=8, cache=True)
    assert not first.from_cache and again.from_cache and not other.from_cache
    assert np.array_equal(first.bank, again.bank) and np.array_equal(first.crops, again.crops)
    assert again.to_json()["concepts"] == first.to_json()["concepts"]
    assert list(tmp_path.rglob("*.npz")) and not list(tmp_path.rglob("*.pkl"))


def test_layers_inside_a_nested_model():
    """A layer of a nested sub-model (``inner/conv``): the head from it gives the logits, TCAV and CRAFT run."""
    import keras

    from cnnviz.concepts import tcav
    from cnnviz.models.graph import feature_model
    from cnnviz.models.surgery import head_model, logits_model

    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv")],
                             name="inner")
    inputs = keras.Input((16, 16, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inner(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (24, 16, 16, 1), dtype=np.uint8)
    x = pixels / 255.0
    acts = feature_model(model, ["inner/conv"])(x)
    assert np.allclose(head_model(model, "inner/conv")(acts), logits_model(model)(x), atol=1e-5)
    assert tcav(model, pixels[:4], 0, "inner/conv", {"a": pixels[:10]}, pixels[4:], runs=2).scores.shape == (1, 1, 2)
    assert craft(model, pixels[:4], 0, "inner/conv", k=2, patch=8, designs=4).bank.shape == (2, 4)
