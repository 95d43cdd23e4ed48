"""Training with the lecture recipe: loss goes down, files and card are
written, interrupted runs resume, nothing is overwritten by accident."""
import json

import numpy as np
import pytest
from conftest import needs_data

from cnnviz import Cancelled, CancelToken, CnnvizError, load_model
from cnnviz.lab.training import checkpoint_dir, split_train_validation, train, with_standardization

SUBSET = 3000


@needs_data
@pytest.mark.data
def test_two_epochs_lower_the_loss_and_write_model_card_and_curves(tmp_path):
    out = tmp_path / "small.keras"
    result = train("mnist_small", epochs=2, limit=SUBSET, out=str(out), command="test")
    history = result.card["history"]
    assert history["loss"][1] < history["loss"][0]
    assert out.is_file() and result.curves_path.is_file() and result.curves_path.stat().st_size > 10_000
    card = json.loads(result.card_path.read_text())
    assert card["architecture"] == "mnist_small" and card["dataset"] == "mnist"
    assert card["dataset_sha256"] == "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
    assert card["epochs"] == 2 and card["recipe"]["batch_size"] == 128 and card["recipe"]["train_images"] == 2700
    metrics = card["metrics"]
    assert set(metrics) == {"train_accuracy", "train_loss", "val_accuracy", "val_loss", "test_accuracy", "test_loss"}
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    assert card["device"] == "CPU" and card["command"] == "test" and card["training_time_s"] > 0
    assert not checkpoint_dir(out).exists()
    # the saved model is the trained one: same test accuracy when reloaded through cnnviz
    from cnnviz.lab.evaluate import evaluate

    assert evaluate(load_model(str(out))).accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@needs_data
@pytest.mark.data
def test_existing_model_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "keep.keras"
    out.write_bytes(b"precious")
    with pytest.raises(CnnvizError, match="exists: pass --force"):
        train("mnist_small", epochs=1, limit=SUBSET, out=str(out))
    assert out.read_bytes() == b"precious"


@needs_data
@pytest.mark.data
def test_interrupted_run_resumes_from_checkpoint(tmp_path):
    out = tmp_path / "resume.keras"
    cancel = CancelToken()

    def stop_after_first(epoch, epochs, logs):
        cancel.cancel()

    with pytest.raises(Cancelled, match="--resume"):
        train("mnist_small", epochs=3, limit=SUBSET, out=str(out), on_epoch=stop_after_first, cancel=cancel)
    state = json.loads((checkpoint_dir(out) / "state.json").read_text())
    assert state["epochs_done"] == 1 and not out.exists()
    with pytest.raises(CnnvizError, match="pass --resume"):
        train("mnist_small", epochs=3, limit=SUBSET, out=str(out))
    epochs_seen = []
    result = train("mnist_small", epochs=3, limit=SUBSET, out=str(out), resume=True,
                   on_epoch=lambda e, n, logs: epochs_seen.append(e))
    assert epochs_seen == [2, 3]
    assert len(result.card["history"]["loss"]) == 3
    assert result.card["history"]["loss"][0] == state["history"]["loss"][0]


@needs_data
@pytest.mark.data
def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CnnvizError, match="nothing to resume"):
        train("mnist_small", epochs=1, limit=SUBSET, out=str(tmp_path / "none.keras"), resume=True)


@needs_data
@pytest.mark.data
def test_standardize_and_augment_options(tmp_path):
    result = train("cifar10_cnn", epochs=1, limit=600, augment=True, standardize=True,
                   out=str(tmp_path / "c.keras"), batch_size=64)
    assert result.card["stages"][0]["augmentation"]["horizontal_flip"] and result.card["recipe"]["standardize"]
    assert result.model.layers[1].name == "standardize"
    reloaded = load_model(str(result.model_path))
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(reloaded(x).numpy(), result.model(x).numpy(), atol=1e-6)


def test_per_pixel_standardization_layer_normalizes_training_pixels():
    from cnnviz import build_model

    x = np.random.default_rng(0).random((200, 28, 28, 1)).astype("float32") * 0.5 + 0.2
    model = with_standardization(build_model("mnist_small"), x)
    z = model.get_layer("standardize")(x).numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-2)


def test_validation_split_is_shuffled_and_disjoint():
    x = np.arange(1000)
    y = np.repeat(np.arange(10), 100)          # class-sorted, like the CIFAR image folder
    (xt, yt), (xv, yv) = split_train_validation(x, y)
    assert len(xv) == 100 and len(xt) == 900 and not set(xt) & set(xv)
    assert len(np.unique(yv)) == 10             # Keras' validation_split would give one class


def test_bad_options():
    with pytest.raises(CnnvizError, match="at least 1"):
        train("mnist_small", epochs=0)
    with pytest.raises(CnnvizError, match="unknown model"):
        train("resnet50")
    with pytest.raises(CnnvizError, match="must end in .keras"):
        train("mnist_small", out="model.h5")


@needs_data
@pytest.mark.data
def test_fine_tune_continues_a_trained_model_and_its_card(tmp_path):
    first = train("mnist_small", epochs=1, limit=SUBSET, out=str(tmp_path / "a.keras"), command="first")
    result = train("mnist_small", epochs=2, limit=SUBSET, out=str(tmp_path / "b.keras"),
                   fine_tune=str(first.model_path),
                   augment=False, learning_rate=1e-4, command="second")
    card = result.card
    assert card["epochs"] == 3 and len(card["history"]["loss"]) == 3
    assert card["history"]["loss"][0] == first.card["history"]["loss"][0]
    assert card["history"]["learning_rate"][1:] == pytest.approx([1e-4, 1e-4])
    assert card["command"] == "first" and card["resumed_with"] == ["second"]
    assert card["fine_tune"] == {"from": "a.keras", "from_epochs": 1, "epochs": 2, "learning_rate": 1e-4,
                                 "augment": False,
                                 "from_test_accuracy": first.card["metrics"]["test_accuracy"]}
    # it started from the trained weights: its first epoch's loss is below the first run's first epoch
    assert card["history"]["loss"][1] < first.card["history"]["loss"][0]


@needs_data
def test_fine_tune_bad_options(tmp_path):
    with pytest.raises(CnnvizError, match="no such model file"):
        train("mnist_small", epochs=1, fine_tune=str(tmp_path / "missing.keras"), out=str(tmp_path / "x.keras"))
    from cnnviz.common.runtime import shipped_models_dir

    with pytest.raises(CnnvizError, match="is not a mnist_small model"):
        train("mnist_small", epochs=1, fine_tune=str(shipped_models_dir() / "lenet.keras"),
              out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="learning rate between 0 and 1"):
        train("mnist_small", epochs=1, learning_rate=5.0, out=str(tmp_path / "x.keras"))
    with pytest.raises(CnnvizError, match="use --resume alone"):
        train("mnist_small", epochs=1, fine_tune="x.keras", resume=True, out=str(tmp_path / "x.keras"))
