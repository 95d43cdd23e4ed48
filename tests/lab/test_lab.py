"""Training any model your way: the decks' own networks with each optimizer,
dense networks on flattened or 28x28 digits, class-balanced subsets,
validation on the test set, augmentation that changes pixels only as asked,
and a card that says what each epoch ran."""
import json

import numpy as np
import pytest
from conftest import needs_data
from decks import DECKS, mattie_dense, sick_cnn2, small, wolter_dense

from cnnviz import Cancelled, CancelToken, CnnvizError, build_model
from cnnviz.data.augment import Augmentation, augment_batch, augmentation_layers
from cnnviz.data.datasets import balanced_subset
from cnnviz.lab.training import (
    OPTIMIZERS,
    TrainingData,
    check_outputs,
    compile_classifier,
    make_optimizer,
    optimizer_record,
    pipelines,
    select_classes,
    train,
)


@pytest.fixture(scope="module")
def mnist_small_set():
    from cnnviz.data.datasets import mnist_dataset

    return small(mnist_dataset(), 1000, 300)


def test_deck_models_have_the_decks_parameter_counts():
    counts = {name: build().count_params() for name, build in DECKS.items()}
    assert counts["wolter_dense"] == 784 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 10 + 10 == 932_362
    assert counts["mattie_dense"] == 407_050 and counts["mueller_dense"] == 25_450
    assert abs(counts["sick_cnn1"] - 251_000) < 1_000 and abs(counts["sick_cnn2"] - 36_000) < 1_000


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_trains_the_deck_models_a_few_steps(name):
    import keras

    rng = np.random.default_rng(0)
    for build, shape in ((wolter_dense, (784,)), (sick_cnn2, (32, 32, 3))):
        keras.utils.set_random_seed(0)
        model = build()
        compile_classifier(model, make_optimizer(name, learning_rate=0.05 if name == "adadelta" else None))
        x = rng.random((64, *shape), dtype=np.float32)
        y = rng.integers(0, 10, 64)
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"][0])
        assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), (name, model.name)


def test_optimizer_names_and_their_records():
    record = optimizer_record(make_optimizer("nesterov", 0.01))
    assert record == {"name": "SGD", "learning_rate": 0.01, "momentum": 0.9, "nesterov": True}
    assert optimizer_record(make_optimizer("momentum", momentum=0.5))["momentum"] == 0.5
    assert optimizer_record(make_optimizer("rmsprop"))["name"] == "RMSprop"
    with pytest.raises(CnnvizError, match="unknown optimizer 'lbfgs': use one of sgd, momentum"):
        make_optimizer("lbfgs")
    with pytest.raises(CnnvizError, match="--momentum"):
        make_optimizer("adam", momentum=0.9)


def test_limit_is_class_balanced_and_seeded():
    y = np.repeat(np.arange(10), [500, 50, 300, 300, 300, 300, 300, 300, 300, 20])
    pick = balanced_subset(y, 100, seed=3)
    assert len(pick) == 100 and len(set(pick)) == 100
    assert np.bincount(y[pick], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(pick, balanced_subset(y, 100, seed=3))
    assert not np.array_equal(pick, balanced_subset(y, 100, seed=4))
    big = np.bincount(y[balanced_subset(y, 1000)], minlength=10)
    assert big[9] == 20 and big[1] == 50 and big.sum() == 1000     # small classes give all they have


def test_select_classes_relabels_in_the_order_given(mnist_small_set):
    five = select_classes(mnist_small_set, ["5", "6", "7", "8", "9"])
    assert five.classes == ["5", "6", "7", "8", "9"]
    assert sorted(np.unique(five.y_train)) == [0, 1, 2, 3, 4] and len(five.x_train) == 500
    original = np.asarray(mnist_small_set.y_train).reshape(-1)
    np.testing.assert_array_equal(five.x_train, mnist_small_set.x_train[original >= 5])
    with pytest.raises(CnnvizError, match="no class 'cat' in mnist"):
        select_classes(mnist_small_set, ["cat", "1"])


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("build", [wolter_dense, mattie_dense], ids=["flattened-784", "28x28"])
def test_a_users_dense_network_file_trains_on_mnist(build, mnist_small_set, tmp_path):
    """A .keras file of a dense network: the digits go in flattened or as
    28x28, whichever its first layer expects."""
    path = tmp_path / f"{build.__name__}.keras"
    build().save(path)
    result = train(str(path), dataset=mnist_small_set, epochs=2, optimizer="rmsprop", out=str(tmp_path / "t.keras"),
                   command="test")
    card = result.card
    assert card["architecture"] == build.__name__ and card["input_shape"] == list(build().inputs[0].shape[1:])
    assert card["stages"][0]["optimizer"]["name"] == "RMSprop"
    assert card["metrics"]["test_accuracy"] > 0.6            # chance is 0.1
    assert card["recipe"]["train_images"] == 900 and card["recipe"]["validation"] == "10% of the training images"


@needs_data
@pytest.mark.data
def test_validation_on_the_test_set(mnist_small_set, tmp_path):
    result = train(wolter_dense(), dataset=mnist_small_set, epochs=1, validation="test", out=str(tmp_path / "w.keras"))
    card = result.card
    assert card["recipe"]["validation"] == "test set" and card["recipe"]["train_images"] == 1000
    assert card["metrics"]["val_accuracy"] == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-6)


def test_bad_training_options(tmp_path):
    with pytest.raises(CnnvizError, match="--validation-split 1.5 is out of range"):
        train("mnist_small", validation=1.5, out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="unknown optimizer"):
        train("mnist_small", optimizer="newton", out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="use `cnnviz finetune vgg16"):
        train("vgg16", out=str(tmp_path / "x.keras"))


def test_a_model_whose_outputs_do_not_match_the_classes_is_sent_to_finetune(mnist_small_set):
    import keras

    three = keras.Sequential([keras.Input((784,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(CnnvizError, match=r"3 outputs but mnist has 10 classes: use `cnnviz finetune three"):
        check_outputs(three, mnist_small_set, "three")


# ---------------------------------------------------------------- augmentation

def _indexed_images(n=12, size=8):
    """Images whose pixels differ everywhere (no flip or shift leaves one unchanged by chance)."""
    rng = np.random.default_rng(0)
    return rng.random((n, size, size, 3), dtype=np.float32)


def test_a_horizontal_flip_is_exactly_a_flip():
    x = _indexed_images(32)
    out = augment_batch(x, Augmentation(horizontal_flip=True), seed=1)
    flipped = [np.array_equal(o, a[:, ::-1]) for o, a in zip(out, x)]
    same = [np.array_equal(o, a) for o, a in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same)) and any(flipped) and any(same)
    out = augment_batch(x, Augmentation(vertical_flip=True), seed=1)
    assert all(np.array_equal(o, a) or np.array_equal(o, a[::-1]) for o, a in zip(out, x))


def test_shifts_of_colour_change_pixels_only_as_configured():
    x = _indexed_images(16) * 0.5 + 0.25                          # room to shift without clipping
    out = augment_batch(x, Augmentation(brightness=0.2), seed=0)
    delta = out - x
    assert out.shape == x.shape
    assert np.allclose(delta, delta[:, :1, :1, :1], atol=1e-6)    # one offset per image, all pixels and channels
    assert np.abs(delta).max() <= 0.2 + 1e-6 and np.abs(delta).max() > 0.01
    out = augment_batch(x, Augmentation(channel_shift=0.2), seed=0)
    delta = out - x
    assert np.allclose(delta, delta[:, :1, :1, :], atol=1e-6)     # one offset per image and channel
    assert not np.allclose(delta[..., 0], delta[..., 1])
    assert np.abs(delta).max() <= 0.2 + 1e-6
    assert len(augmentation_layers(Augmentation()).layers) == 0


def test_geometric_augmentation_keeps_shapes_and_the_value_range():
    x = _indexed_images(8, 28)[..., :1]
    aug = Augmentation(rotation=10, width_shift=0.1, height_shift=0.1, zoom=0.1)
    out = augment_batch(x, aug, seed=0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1 and not np.allclose(out, x)
    with pytest.raises(CnnvizError, match="--zoom 2 is out of range"):
        Augmentation(zoom=2)


def test_the_training_pipeline_keeps_each_label_with_its_image():
    import keras

    n = 40
    x = np.zeros((n, 8, 8, 1), np.float32)
    x[:, 0, :4, 0] = (np.arange(n) / n)[:, None]                  # left half of the first row tells the index
    y = np.arange(n)
    split = TrainingData(None, x, y, x[:4], y[:4], x[:0], y[:0], "test")
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    train_ds, _ = pipelines(split, model, 16, Augmentation(horizontal_flip=True), seed=0)
    seen = []
    for xb, yb in train_ds:
        for image, label in zip(np.asarray(xb), np.asarray(yb)):
            row = image[0, :, 0]
            value = row[:4] if row[:4].any() or label == 0 else row[4:][::-1]
            assert np.allclose(value, label / n)
            seen.append(int(label))
    assert sorted(seen) == list(range(n)) and seen != list(range(n))    # shuffled, none lost


@needs_data
@pytest.mark.data
def test_the_card_records_each_stage_as_it_was_run(mnist_small_set, tmp_path):
    """Old code wrote one recipe from the last command, so a run resumed with
    other settings was recorded as if every epoch had used them."""
    out = tmp_path / "stages.keras"
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        train("mnist_small", dataset=mnist_small_set, epochs=3, augment=Augmentation(rotation=10), out=str(out),
              on_epoch=lambda e, n, logs: cancel.cancel(), cancel=cancel, command="first")
    result = train("mnist_small", dataset=mnist_small_set, epochs=3, augment=False, reduce_lr=True, out=str(out),
                   resume=True, command="second")
    first, second = result.card["stages"]
    assert first["epochs"] == [1, 1] and first["augmentation"]["rotation"] == 10 and not first["reduce_lr_on_plateau"]
    assert second["epochs"] == [2, 3] and second["augmentation"] is None and second["reduce_lr_on_plateau"]
    assert first["command"] == "first" and second["command"] == "second"


def test_the_shipped_cifar10_card_says_which_epochs_used_augmentation_and_lr_halving():
    from cnnviz.models.zoo import card_path, shipped_model_path

    card = json.loads(card_path(shipped_model_path("cifar10_cnn")).read_text())
    stages = card["stages"]
    augmented = sum(s["epochs"][1] - s["epochs"][0] + 1 for s in stages if s["augmentation"])
    halving = [s["epochs"] for s in stages if s["reduce_lr_on_plateau"]]
    assert augmented == 90 and halving == [[48, 90]]
    assert stages[-1]["epochs"] == [91, 93] and stages[-1]["optimizer"]["learning_rate"] == 1e-4
    assert [s["command"] for s in stages] == [card["command"], *card["resumed_with"]]
    assert "augment" not in card["recipe"]


@needs_data
@pytest.mark.data
def test_standardize_a_dense_network_on_flattened_digits(mnist_small_set, tmp_path):
    result = train(wolter_dense(), dataset=mnist_small_set, epochs=1, standardize=True, out=str(tmp_path / "s.keras"))
    model = result.model
    assert model.layers[1].name == "standardize" and tuple(model.inputs[0].shape[1:]) == (784,)
    assert len(model.layers) == len(wolter_dense().layers) + 2          # input + standardize + the same layers, flat
    assert result.card["recipe"]["standardize"] and result.card["metrics"]["test_accuracy"] > 0.5


# ---------------------------------------------------------------- the lecture faults, as classes

def test_every_optimizer_setting_is_in_the_run_label():
    from cnnviz.lab.training import OPTIMIZER_DECLARATIONS, optimizer_label, run_label

    labels = {o.name: optimizer_label(optimizer_record(make_optimizer(o.name, 0.01))) for o in OPTIMIZER_DECLARATIONS}
    assert labels["sgd"] == "SGD lr 0.01" and labels["momentum"] == "SGD lr 0.01 momentum 0.9"
    assert labels["nesterov"] == "SGD lr 0.01 momentum 0.9 Nesterov"
    assert labels["adamax"] == "Adamax lr 0.01" and labels["nadam"] == "Nadam lr 0.01"
    assert len(set(labels.values())) == len(labels)                 # no two settings look alike in a legend
    record = optimizer_record(make_optimizer("rmsprop", 0.001, momentum=0.5))
    card = {"stages": [{"optimizer": record}], "recipe": {"standardize": True}}
    assert run_label(card, "run") == "run, RMSprop lr 0.001 momentum 0.5, standardized"


def test_standardization_divides_by_std_plus_the_decks_floor():
    """A pixel constant over a --limit subset (an MNIST border) was divided by
    Keras' 1e-7 floor: a test pixel of 0.1 there became 1e6."""
    from cnnviz.lab.training import with_standardization

    x = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    x[:, 0] = 0.0                                                   # constant in the training images
    model = with_standardization(wolter_dense(), x)
    probe = np.full((1, 784), 0.1, np.float32)
    z = model.get_layer("standardize")(probe).numpy()[0]
    assert z[0] == pytest.approx(0.1 / 1e-4, rel=1e-4)
    expected = (0.1 - x[:, 1].mean()) / (x[:, 1].std() + 1e-4)
    assert z[1] == pytest.approx(expected, rel=1e-4)


@needs_data
@pytest.mark.data
def test_the_same_seeded_training_twice_gives_identical_card_histories(mnist_small_set, tmp_path):
    runs = [train("mnist_small", dataset=mnist_small_set, epochs=2, optimizer="sgd", learning_rate=0.05, seed=7,
                  out=str(tmp_path / f"r{i}.keras"), command="test") for i in range(2)]
    first, second = ({k: v for k, v in r.card["history"].items() if k != "time_s"} for r in runs)
    assert first == second and first["loss"][0] != first["loss"][1]
    other = train("mnist_small", dataset=mnist_small_set, epochs=1, optimizer="sgd", learning_rate=0.05, seed=8,
                  out=str(tmp_path / "other.keras"), command="test")
    assert other.card["history"]["loss"][0] != first["loss"][0]


@needs_data
@pytest.mark.data
def test_a_zoo_architecture_on_a_class_subset_gets_a_head_of_that_size(mnist_small_set, tmp_path):
    result = train("mnist_small", dataset=mnist_small_set, classes=["0", "1", "2", "3", "4"], epochs=1,
                   out=str(tmp_path / "five.keras"), command="test")
    assert result.model.outputs[0].shape[-1] == 5 and result.card["classes"] == ["0", "1", "2", "3", "4"]
    assert "head resized from 10 to 5 outputs" in result.card["head"]
    assert result.model.count_params() == build_model("mnist_small").count_params() - 5 * 65
