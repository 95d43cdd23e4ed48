"""MC dropout: dropout on and nothing else (BatchNormalization keeps its
inference statistics), all passes in one batched call, spread with dropout
and none without; evaluation's mistakes, most confident first."""
import numpy as np
import pytest

from cnnviz import CnnvizError
from cnnviz.lab import uncertainty
from cnnviz.lab.evaluate import Evaluation
from cnnviz.lab.uncertainty import dropout_layers, mc_dropout


def net(rate):
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="conv"), L.BatchNormalization(name="bn"),
                              L.Flatten(), L.Dense(16, activation="relu"), L.Dropout(rate, name="drop"),
                              L.Dense(3, activation="softmax")], name=f"drop{rate}")
    bn = model.get_layer("bn")
    bn.set_weights([w + 0.5 for w in bn.get_weights()])      # batch statistics would differ from these
    return model


def test_mc_dropout_spreads_with_dropout_in_one_batched_call(rng, monkeypatch):
    model = net(0.5)
    x = rng.random((2, 8, 8, 1), dtype=np.float32)
    shapes = []
    compiled = uncertainty._compiled
    monkeypatch.setattr(uncertainty, "_compiled", lambda mc: lambda batch: (shapes.append(tuple(batch.shape)),
                                                                           compiled(mc)(batch))[1])
    result = mc_dropout(model, x, passes=30, seed=0)
    assert shapes == [(60, 8, 8, 1)]                                  # 2 images x 30 passes, one call
    assert result.samples.shape == (30, 2, 3) and result.passes == 30
    assert result.std.max() > 0.01
    np.testing.assert_allclose(result.mean.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(result.mean, result.samples.mean(0))
    again = mc_dropout(model, x, passes=30, seed=0)
    np.testing.assert_allclose(again.samples, result.samples)


def test_only_dropout_is_switched_on(rng):
    """With a dropout rate of 0 every pass equals the model's inference output:
    BatchNormalization used its moving statistics, not the batch's."""
    model = net(0.0)
    x = rng.random((3, 8, 8, 1), dtype=np.float32)
    result = mc_dropout(model, x, passes=10)
    np.testing.assert_allclose(result.std, 0, atol=1e-6)
    # every pass the same, up to float32 rounding (TensorFlow's plain CPU kernels round by batch position)
    assert np.ptp(result.samples, axis=0).max() < 1e-6
    np.testing.assert_allclose(result.mean, model(x, training=False).numpy(), atol=1e-6)
    assert not np.allclose(model(x, training=True).numpy(), result.mean, atol=1e-3)   # what training=True gives


def test_a_model_without_dropout_gets_a_clear_message(tiny_cnn, rng):
    assert dropout_layers(tiny_cnn) == []
    with pytest.raises(CnnvizError, match="no dropout layers"):
        mc_dropout(tiny_cnn, rng.random((1, 16, 16, 3), dtype=np.float32))
    with pytest.raises(CnnvizError, match="at least 2 passes"):
        mc_dropout(net(0.5), rng.random((1, 8, 8, 1), dtype=np.float32), passes=1)


def test_mistakes_most_confident_first():
    labels = np.array([0, 1, 2, 0, 1])
    predicted = np.array([0, 2, 1, 1, 1])
    confidence = np.array([0.9, 0.6, 0.99, 0.7, 0.8])
    ev = Evaluation("d", 5, 0.0, 0.4, np.zeros((3, 3), int), ["a", "b", "c"], labels, predicted, confidence)
    assert ev.mistakes().tolist() == [2, 3, 1]
    assert ev.mistakes(2).tolist() == [2, 3]


@pytest.mark.parametrize("passes,images,calls", [(8, 3, [(16, 8, 8, 1), (8, 8, 8, 1)]),       # 2 images per call
                                                 (16, 2, [(16, 8, 8, 1)] * 2),                # one image per call
                                                 (40, 2, [(16, 8, 8, 1), (16, 8, 8, 1), (8, 8, 8, 1)] * 2)])
def test_passes_run_in_calls_of_bounded_rows(rng, monkeypatch, passes, images, calls):
    """More passes than a call holds: an image's passes in chunks (issue 22: --mc-dropout 200000 was one batch)."""
    model = net(0.5)
    x = rng.random((images, 8, 8, 1), dtype=np.float32)
    monkeypatch.setattr(uncertainty, "MAX_BATCH", 16)
    shapes = []
    compiled = uncertainty._compiled
    monkeypatch.setattr(uncertainty, "_compiled", lambda mc: lambda batch: (shapes.append(tuple(batch.shape)),
                                                                           compiled(mc)(batch))[1])
    result = mc_dropout(model, x, passes=passes, seed=0)
    assert shapes == calls and result.samples.shape == (passes, images, 3)
    np.testing.assert_allclose(result.samples.sum(-1), 1, atol=1e-5)
    assert result.std.max() > 0.01


@pytest.mark.parametrize("passes,message", [(1, "at least 2"), (True, "whole number"), (2.5, "whole number"),
                                            (10**9, "over the 50,000,000 allowed")])
def test_pass_counts_are_checked_before_any_work(rng, passes, message):
    with pytest.raises(CnnvizError, match=message):
        mc_dropout(net(0.5), rng.random((2, 8, 8, 1), dtype=np.float32), passes=passes)
