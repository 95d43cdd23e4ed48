"""Transfer learning offline: features are the sub-model's outputs; a
backbone trained on MNIST digits 0-4 carries over to digits 5-9 it never saw,
through features + logistic regression and through fine-tuning, well above
chance and the same again with the same seed; fine-tuning freezes what it
says, resumes and refuses bad input."""
import json

import numpy as np
import pytest
from conftest import needs_data
from decks import small

from cnnviz import Cancelled, CancelToken, CnnvizError
from cnnviz.lab.training import checkpoint_dir, select_classes, train
from cnnviz.lab.transfer import (
    Features,
    build_finetune_model,
    dataset_features,
    extract_features,
    finetune,
    fit_transfer,
    parse_head,
)


def digits_net(outputs=5):
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="conv1"),
                             L.MaxPooling2D(name="pool1"), L.Conv2D(16, 3, activation="relu", name="conv2"),
                             L.MaxPooling2D(name="pool2"), L.Flatten(name="flatten"),
                             L.Dense(64, activation="relu", name="dense1"),
                             L.Dense(outputs, activation="softmax", name="predictions")], name="digits")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A backbone trained on digits 0-4, and 50 labelled digits 5-9 (500 to test)."""
    from cnnviz.data.datasets import mnist_dataset

    mnist = mnist_dataset()
    low = small(select_classes(mnist, list("01234")), 3000, 200)
    high = small(select_classes(mnist, list("56789")), 50, 500, seed=1)
    out = tmp_path_factory.mktemp("backbone") / "digits04.keras"
    backbone = train(digits_net(), dataset=low, epochs=2, out=str(out), command="backbone").model
    return backbone, high


def test_features_are_the_sub_models_outputs(tiny_cnn, rng):
    import keras

    images = rng.integers(0, 256, (70, 16, 16, 3), dtype=np.uint8)
    seen = []
    feats = extract_features(tiny_cnn, "conv", images, batch_size=32, progress=lambda d, t, m: seen.append(d))
    sub = keras.Model(tiny_cnn.inputs, tiny_cnn.get_layer("conv").output)
    expected = sub.predict(images.astype(np.float32) / 255, verbose=0)
    np.testing.assert_allclose(feats, expected.reshape(70, -1), rtol=1e-5, atol=1e-6)
    pooled = extract_features(tiny_cnn, "pool", images, pool=True)
    np.testing.assert_allclose(pooled, tiny_cnn.get_layer("pool")(expected).numpy().mean(axis=(1, 2)), atol=1e-5)
    assert seen[0] == 0 and seen[-1] == 70 and len(seen) == 4
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        extract_features(tiny_cnn, "conv", images, cancel=cancel)


def test_feature_layer_must_exist_and_be_above_the_input(tiny_cnn, rng):
    images = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(CnnvizError, match="no layer 'conv9'"):
        extract_features(tiny_cnn, "conv9", images)
    with pytest.raises(CnnvizError, match="input, not a layer above it"):
        extract_features(tiny_cnn, tiny_cnn.layers[0].name, images)


def test_features_file_round_trip(tmp_path):
    feats = Features(np.arange(12, dtype=np.float32).reshape(4, 3), np.array([0, 1, 0, 1]), ["cat", "dog"],
                     "pool2", "cifar10_cnn", True)
    feats.save(tmp_path / "f.npz")
    back = Features.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.features, feats.features)
    assert (back.classes, back.layer, back.model, back.pooled) == (["cat", "dog"], "pool2", "cifar10_cnn", True)
    with pytest.raises(CnnvizError, match="no features file"):
        Features.load(tmp_path / "none.npz")


@needs_data
@pytest.mark.data
def test_features_and_logistic_regression_transfer_to_unseen_digits(task):
    backbone, high = task
    train_feats = dataset_features(backbone, "flatten", high, split="train")
    test_feats = dataset_features(backbone, "flatten", high, split="test")
    assert train_feats.features.shape == (50, 400) and train_feats.classes == list("56789")
    result = fit_transfer(train_feats, test=test_feats, seed=0)
    assert result.test_accuracy > 0.6                      # chance is 0.2
    assert result.confusion_test.sum() == 500 and result.n_train == 50
    again = fit_transfer(train_feats, test=test_feats, seed=0)
    assert again.test_accuracy == result.test_accuracy
    split = fit_transfer(test_feats, test_size=0.5, seed=0)
    assert split.n_train == split.n_test == 250 and split.test_accuracy > 0.6


@needs_data
@pytest.mark.data
def test_finetuning_transfers_and_freezes_what_it_says(task, tmp_path):
    backbone, high = task
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in backbone.layers}
    kwargs = dict(head="dense:32", layer="flatten", freeze_until="conv1", epochs_head=8, epochs_all=2, lr_all=1e-4,
                  batch_size=8, validation="test", seed=0, command="ft")
    result = finetune(backbone, high, out=str(tmp_path / "ft.keras"), **kwargs)
    card = result.card
    assert card["metrics"]["test_accuracy"] > 0.6
    assert [s["phase"] for s in card["stages"]] == ["head", "all"]
    assert [s["epochs"] for s in card["stages"]] == [[1, 8], [9, 10]]
    assert card["stages"][1]["optimizer"]["learning_rate"] == 1e-4 and card["classes"] == list("56789")
    model = result.model
    np.testing.assert_array_equal(model.get_layer("conv1").get_weights()[0], before["conv1"][0])   # frozen
    assert not np.allclose(model.get_layer("conv2").get_weights()[0], before["conv2"][0])          # fine-tuned
    assert "predictions" not in [layer.name for layer in model.layers]
    for layer in backbone.layers:                                              # the backbone given is untouched
        for w, b in zip(layer.get_weights(), before[layer.name]):
            np.testing.assert_array_equal(w, b)
    again = finetune(backbone, high, out=str(tmp_path / "again.keras"), **kwargs)
    np.testing.assert_allclose(again.card["history"]["loss"], card["history"]["loss"], rtol=1e-4)
    with pytest.raises(CnnvizError, match="exists: pass --force"):
        finetune(backbone, high, out=str(tmp_path / "ft.keras"), **kwargs)


@needs_data
@pytest.mark.data
def test_an_interrupted_finetune_resumes(task, tmp_path):
    backbone, high = task
    out = tmp_path / "r.keras"
    cancel = CancelToken()
    kwargs = dict(head="dense:16", layer="flatten", epochs_head=2, epochs_all=1, batch_size=16, validation="test")
    with pytest.raises(Cancelled, match="--resume"):
        finetune(backbone, high, out=str(out), on_epoch=lambda e, n, logs: cancel.cancel(), cancel=cancel,
                 command="first", **kwargs)
    state = json.loads((checkpoint_dir(out) / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["phase"] == "head" and not out.exists()
    with pytest.raises(CnnvizError, match="pass --resume"):
        finetune(backbone, high, out=str(out), **kwargs)
    seen = []
    result = finetune(backbone, high, out=str(out), resume=True, command="second",
                      on_epoch=lambda e, n, logs: seen.append(e), **kwargs)
    assert seen == [2, 3] and len(result.card["history"]["loss"]) == 3
    assert [(s["phase"], s["epochs"], s["command"]) for s in result.card["stages"]] == [
        ("head", [1, 1], "first"), ("head", [2, 2], "second"), ("all", [3, 3], "second")]


def test_finetune_model_shares_the_backbone_and_has_a_new_head(tiny_cnn):
    model = build_finetune_model(tiny_cnn, 3, "dense:8,dropout:0.5", layer="pool", pool=True)
    assert model.outputs[0].shape[-1] == 3
    assert [layer.name for layer in model.layers[-4:]] == ["head_pool", "head_dense1", "head_dropout2",
                                                           "head_predictions"]
    assert model.get_layer("conv") is not tiny_cnn.get_layer("conv")         # a copy: training leaves it alone
    np.testing.assert_array_equal(model.get_layer("conv").get_weights()[0], tiny_cnn.get_layer("conv").get_weights()[0])
    assert parse_head("dense:256, dropout:0.25") == [("dense", 256), ("dropout", 0.25)]
    with pytest.raises(CnnvizError, match="--head 'dense:big'"):
        parse_head("dense:big")


def test_bad_finetune_input(tiny_cnn, tmp_path):
    folder = tmp_path / "one_class" / "cats"
    folder.mkdir(parents=True)
    from skimage.io import imsave

    imsave(folder / "a.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(CnnvizError, match="has 1 class"):
        finetune(tiny_cnn, str(tmp_path / "one_class"), out=str(tmp_path / "x.keras"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(CnnvizError, match="has no image files"):
        finetune(tiny_cnn, str(tmp_path / "empty"), out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="--freeze-until nosuch: no such layer"):
        finetune(tiny_cnn, str(tmp_path / "one_class"), freeze_until="nosuch", out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="--lr-all 2.0 is out of range"):
        finetune(tiny_cnn, "mnist", lr_all=2.0, out=str(tmp_path / "x.keras"))


def test_a_backbone_that_takes_any_size_gets_the_datasets_size(rng):
    """VGG16 without its top takes any image size; flattening its features
    needs the size fixed (it used to fail building the head)."""
    import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    any_size = keras.Model(inputs, x, name="any_size")
    model = build_finetune_model(any_size, 2, "dense:8", input_shape=(16, 16, 3))
    assert tuple(model.inputs[0].shape[1:]) == (16, 16, 3) and model.get_layer("head_dense1").kernel.shape == (196, 8)
    assert model(rng.random((2, 16, 16, 3), dtype=np.float32)).shape == (2, 2)


def test_logistic_regression_on_separable_features_and_its_limits(rng):
    x = rng.random((40, 5)).astype(np.float32) + np.repeat([[0.0], [1.0]], 20, axis=0)
    feats = Features(x, np.repeat([0, 1], 20), ["a", "b"], "layer", "model")
    result = fit_transfer(feats, test_size=0.25)
    assert result.test_accuracy == 1.0 and result.n_test == 10 and result.confusion_test.tolist() == [[5, 0], [0, 5]]
    few = Features(x[[0, 20, 1]], np.array([0, 1, 0]), ["a", "b"], "layer", "model")
    with pytest.raises(CnnvizError, match="give at least 2 per class"):
        fit_transfer(few, test=feats)
    with pytest.raises(CnnvizError, match="fewer than two classes"):
        fit_transfer(Features(x[:20], np.zeros(20, np.int64), ["a", "b"], "layer", "model"))
    with pytest.raises(CnnvizError, match="--test-size 1.5 is out of range"):
        fit_transfer(feats, test_size=1.5)
