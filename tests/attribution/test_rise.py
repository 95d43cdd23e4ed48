"""RISE: its masks are TensorFlow's bilinear upsampling of the grids, its map
the exact Monte Carlo sum over them (checked on linear models whose score is
known for every mask), it finds the region a model looks at, and on a shipped
model it beats a random map on deletion."""
import numpy as np
import pytest
from conftest import needs_data

from cnnviz import CnnvizError, load_model
from cnnviz.attribution.rise import mask_grids, rise, soft_masks, upsampled_size
from cnnviz.common.errors import Cancelled
from cnnviz.common.progress import CancelToken

REGION = (slice(10, 16), slice(3, 9))       # rows, columns of the 20x20 input a model sums


def region_sum_model(region=REGION):
    """20x20x1 -> 2 logits: class 0 = the sum of the input over ``region``, class 1 = 0."""
    import keras

    weights = np.zeros((20, 20), np.float32)
    weights[region] = 1
    inputs = keras.Input((20, 20, 1))
    out = keras.layers.Dense(2, name="out")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out, name="region_sum")
    model.get_layer("out").set_weights([np.stack([weights.ravel(), np.zeros(400, np.float32)], axis=1),
                                        np.zeros(2, np.float32)])
    return model


def _expected(masks, scores, keep):
    return np.tensordot(scores, masks, axes=1) / (len(masks) * keep)


def test_masks_are_tensorflow_bilinear_upsampling_cropped_at_each_shift():
    import tensorflow as tf

    grids, shifts = mask_grids(6, 4, 0.5, (20, 20), seed=3)
    up = tf.image.resize(grids[..., None].astype(np.float32), upsampled_size((20, 20), 4)).numpy()[..., 0]
    expected = np.stack([u[r:r + 20, c:c + 20] for u, (r, c) in zip(up, shifts)])
    np.testing.assert_allclose(soft_masks(grids, shifts, (20, 20)), expected, atol=1e-6)
    assert shifts.min() >= 0 and shifts.max() <= 25 - 20 and len(np.unique(shifts[:, 0])) > 1


def test_map_is_the_sum_of_each_masks_score_times_the_mask_over_n_times_keep():
    """With a ones image and a zero fill, mask M scores exactly sum(M over the region)."""
    model = region_sum_model()
    x = np.ones((1, 20, 20, 1), np.float32)
    result = rise(model, x, 0, n_masks=300, cells=5, keep=0.4, fill="zero", score="logit", seed=1)
    grids, shifts = mask_grids(300, 5, 0.4, (20, 20), seed=1)
    masks = soft_masks(grids, shifts, (20, 20))
    scores = masks[:, REGION[0], REGION[1]].sum(axis=(1, 2))
    np.testing.assert_allclose(result.maps[0], _expected(masks, scores, 0.4), rtol=1e-4)
    np.testing.assert_allclose(result.extras["coverage"], masks.mean(axis=0), rtol=1e-5)


def test_a_constant_score_gives_that_score_times_the_coverage_over_keep():
    import keras

    inputs = keras.Input((12, 12, 1))
    out = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([3.0, 0.0]))(
        keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out, name="constant")
    result = rise(model, np.ones((1, 12, 12, 1), np.float32), 0, n_masks=2000, cells=3, keep=0.5, score="logit")
    np.testing.assert_allclose(result.maps[0], 3.0 * result.extras["coverage"] / 0.5, rtol=1e-5)
    np.testing.assert_allclose(result.maps[0], 3.0, rtol=0.1)       # coverage is about keep everywhere


def test_the_map_is_highest_on_the_region_the_model_sums():
    model = region_sum_model()
    x = np.ones((2, 20, 20, 1), np.float32)
    result = rise(model, x, 0, n_masks=1000, cells=5, score="logit")
    inside = np.zeros((20, 20), bool)
    inside[REGION] = True
    for amap in result.maps:
        row, col = np.unravel_index(np.argmax(amap), amap.shape)
        assert inside[row, col]
        assert amap[inside].mean() > amap[~inside].mean() + 0.1 * amap.max()
    np.testing.assert_array_equal(result.maps[0], result.maps[1])     # the same masks for every image


def test_the_seed_repeats_the_masks_and_another_seed_changes_them(tiny_cnn):
    x = np.random.default_rng(0).random((1, 16, 16, 3)).astype(np.float32)
    a, b = (rise(tiny_cnn, x, n_masks=64, cells=4, seed=5) for _ in range(2))
    np.testing.assert_array_equal(a.maps, b.maps)
    assert not np.allclose(a.maps, rise(tiny_cnn, x, n_masks=64, cells=4, seed=6).maps)
    assert a.params["n_masks"] == 64 and not a.signed


def test_batches_of_masks_do_not_change_the_map(tiny_cnn):
    x = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    whole = rise(tiny_cnn, x, n_masks=50, cells=4, batch_size=50)
    pieces = rise(tiny_cnn, x, n_masks=50, cells=4, batch_size=7)
    np.testing.assert_allclose(whole.maps, pieces.maps, rtol=1e-5)


def test_images_batched_together_get_the_maps_they_get_alone(tiny_cnn):
    x = np.random.default_rng(3).random((5, 16, 16, 3)).astype(np.float32)
    targets = [0, 3, 1, 2, 3]
    together = rise(tiny_cnn, x, targets, n_masks=30, cells=4, batch_size=100)      # 3 images a call, then 2
    for image, target, map_ in zip(x, targets, together.maps):
        alone = rise(tiny_cnn, image[None], target, n_masks=30, cells=4, batch_size=100)
        np.testing.assert_allclose(map_, alone.maps[0], rtol=1e-5, atol=1e-7)


def test_progress_reaches_the_end_and_cancel_stops(tiny_cnn):
    x = np.random.default_rng(2).random((2, 16, 16, 3)).astype(np.float32)
    seen = []
    rise(tiny_cnn, x, n_masks=20, cells=4, batch_size=8, progress=lambda done, total, message: seen.append(
        (done, total)))
    assert seen[-1] == (40, 40) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        rise(tiny_cnn, x, n_masks=20, cells=4, cancel=token)


@pytest.mark.parametrize("options, named", [({"cells": 17}, "rise.cells"), ({"keep": 0.0}, "rise.keep"),
                                            ({"keep": 1.5}, "rise.keep"), ({"score": "odds"}, "odds")])
def test_values_that_cannot_work_are_refused_by_name(tiny_cnn, options, named):
    with pytest.raises(CnnvizError, match=named):
        rise(tiny_cnn, np.zeros((1, 16, 16, 3), np.float32), n_masks=4, **options)


@needs_data
def test_rise_beats_a_random_map_on_deletion_on_mnist_digits():
    from cnnviz.attribution.faithfulness import curves, random_maps
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.inputs import dataset_inputs

    model = load_model("mnist_cnn")
    x = dataset_inputs(model, load_dataset("mnist").x_test[:20])
    result = rise(model, x, n_masks=500)
    ours = curves(model, x, result.maps, result.targets, mode="deletion", steps=16).auc
    chance = curves(model, x, random_maps(x.shape[:3]), result.targets, mode="deletion", steps=16).auc
    assert ours.mean() < chance.mean(), (ours.mean(), chance.mean())
