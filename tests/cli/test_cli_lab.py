"""The lab commands on the command line: train any model, preview
augmentation, overlay runs, features + transfer, finetune, MC dropout and
error galleries; bad input is one line with exit 2."""
import json

import numpy as np
import pytest
from conftest import needs_data, real_data_dir

from cnnviz.cli.main import main
from cnnviz.common.runtime import shipped_models_dir

PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_help_shows_percent_signs_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "10%" in out and "%%" not in out
    for flag in ("--optimizer", "--validation-split", "--validation", "--limit", "--rotation", "--channel-shift",
                 "--vertical-flip", "--momentum"):
        assert flag in out


def test_curves_overlays_runs_from_their_cards(capsys, tmp_path):
    out_png = tmp_path / "curves.png"
    cards = [shipped_models_dir() / f"{n}.card.json" for n in ("mnist_small", "mnist_small_bn")]
    code, out, err = run(capsys, "curves", *cards, shipped_models_dir() / "lenet.keras", "-o", out_png)
    assert code == 0 and out_png.read_bytes()[:8] == PNG
    assert "mnist_small_bn, Adam lr 0.001" in out and "lenet" in out


@needs_data
@pytest.mark.data
def test_augment_preview_of_a_dataset_and_of_a_models_dataset(capsys, tmp_path):
    code, _, err = run(capsys, "augment", "mnist", "--rotation", 10, "--zoom", 0.1, "--n", 3, "--copies", 2,
                       "-o", tmp_path / "a.png")
    assert code == 0 and (tmp_path / "a.png").read_bytes()[:8] == PNG
    code, _, _ = run(capsys, "augment", "mnist_cnn", "-o", tmp_path / "b.png", "--n", 2)
    assert code == 0 and (tmp_path / "b.png").is_file()


@needs_data
@pytest.mark.data
def test_train_a_model_file_with_optimizer_subset_and_augmentation(capsys, tmp_path):
    import keras

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "dense.keras")
    out = tmp_path / "trained.keras"
    code, stdout, err = run(capsys, "train", tmp_path / "dense.keras", "--dataset", "mnist", "--optimizer", "momentum",
                            "--lr", 0.05, "--limit", 500, "--validation-split", 0.2, "--epochs", 1,
                            "--rotation", 5, "--out", out, "--quiet")
    assert code == 0, err
    card = json.loads((tmp_path / "trained.card.json").read_text())
    assert card["recipe"]["train_images"] == 400 and card["recipe"]["limit"] == 500
    assert card["stages"][0]["optimizer"] == {"name": "SGD", "learning_rate": 0.05, "momentum": 0.9, "nesterov": False}
    assert card["stages"][0]["augmentation"]["rotation"] == 5
    code, _, err = run(capsys, "train", tmp_path / "dense.keras", "--dataset", "mnist", "--out", out, "--epochs", 1)
    assert code == 2 and "exists: pass --force" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "mnist_small", "--validation-split", "1.5"], "--validation-split 1.5 is out of range"),
    (["train", "mnist_small", "--out", "no/such/folder/m.keras"], "folder no/such/folder does not exist"),
    (["train", "mnist_small", "--out", "m.xyz"], "end the name with one of .keras, .h5"),
    (["train", "mnist_small", "--lr", "nan"], "--lr must be a finite number"),
    (["train", "mnist_small", "--epochs", "0"], "--epochs must be at least 1"),
    (["finetune", "mnist_cnn", "--dataset", "mnist", "--out", "no/such/folder/m.keras"], "does not exist"),
    (["features", "mnist_cnn", "--layer", "conv2", "--dataset", "mnist", "-o", "no/such/f.npz"], "does not exist"),
    (["train", "mnist_small", "--zoom", "3"], "--zoom 3.0 is out of range"),
    (["train", "mnist_small", "--no-augment", "--rotation", "5"], "--no-augment contradicts"),
    (["curves", "nosuch.card.json", "-o", "x.png"], "no model card nosuch.card.json"),
])
def test_lab_errors_are_one_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_unknown_optimizer_is_one_line_naming_the_known_ones(capsys):
    code, _, err = run(capsys, "train", "mnist_small", "--optimizer", "newton")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown optimizer 'newton': use one of sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam" in err


@needs_data
@pytest.mark.data
def test_features_then_transfer(capsys, tmp_path):
    feats = tmp_path / "f.npz"
    code, out, err = run(capsys, "features", "mnist_small", "--layer", "flatten", "--dataset", "mnist",
                         "--classes", "3,8", "--limit", 200, "-o", feats)
    assert code == 0, err
    assert "200 images x 200 features of flatten (flattened); 3 100, 8 100" in out
    code, out, err = run(capsys, "transfer", feats, "--test-size", 0.3, "-o", tmp_path / "t.png")
    assert code == 0, err
    assert "train accuracy" in out and "(140 images)" in out and "(60 images)" in out
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG
    code, _, err = run(capsys, "features", "mnist_small", "--layer", "flatten", "--dataset", "mnist", "-o", feats)
    assert code == 2 and "f.npz exists: pass --force" in err


@pytest.mark.parametrize("argv, message", [
    (["features", "mnist_small", "--layer", "input", "--dataset", "mnist", "-o", "f.npz"], "not a layer above it"),
    (["features", "mnist_small", "--layer", "conv9", "--dataset", "mnist", "-o", "f.npz"], "no layer 'conv9'"),
    (["transfer", "nosuch.npz"], "no features file nosuch.npz"),
    (["finetune", "mnist_small", "--dataset", "mnist", "--freeze-until", "nosuch"], "--freeze-until nosuch"),
    (["finetune", "mnist_small", "--dataset", "mnist", "--head", "conv:3"], "--head: give layers like dense:256"),
    (["finetune", "mnist_small", "--dataset", "mnist", "--validation-split", "0"], "--validation-split 0.0 is out"),
])
def test_transfer_errors_are_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_predict_mc_dropout(capsys, tmp_path):
    code, out, err = run(capsys, "predict", "skimage:chelsea", "--model", "cifar10_cnn", "--mc-dropout", 20,
                         "--top", 3, "--seed", 0, "-o", tmp_path / "mc.png")
    assert code == 0, err
    assert "20 MC-dropout passes" in out and out.count("+-") == 3
    assert (tmp_path / "mc.png").read_bytes()[:8] == PNG
    code, _, err = run(capsys, "predict", "skimage:camera", "--model", "mnist_cnn", "--mc-dropout", 30)
    assert code == 2 and "mnist_cnn has no dropout layers" in err and len(err.strip().splitlines()) == 1


def test_predict_on_many_images_draws_a_compact_grid(capsys, tmp_path):
    from skimage.io import imread

    names = ["skimage:camera", "skimage:coffee", "skimage:chelsea", "skimage:rocket", "skimage:astronaut",
             "skimage:camera"]
    code, _, err = run(capsys, "predict", *names, "--model", "cifar10_cnn", "-o", tmp_path / "grid.png")
    assert code == 0, err
    height, width = imread(tmp_path / "grid.png").shape[:2]
    assert height < width / 2                     # one row of six, not six rows (2.8 inches each)


@needs_data
@pytest.mark.data
def test_evaluate_errors_gallery(capsys, tmp_path):
    code, out, err = run(capsys, "evaluate", "mnist_small", "--limit", 1000, "--errors", 12, "-o", tmp_path / "e.png")
    assert code == 0, err
    assert (tmp_path / "e.png").read_bytes()[:8] == PNG and "accuracy" in out
    code, _, err = run(capsys, "evaluate", "mnist_small", "--limit", 100, "--errors")
    assert code == 2 and "give -o errors.png" in err
    code, _, err = run(capsys, "evaluate", "mnist_small", "--limit", 10, "--errors", 5, "-o", tmp_path / "none.png")
    assert code == 0 and "no misclassified images among the 10" in err and not (tmp_path / "none.png").exists()


def test_bad_datasets_and_mismatched_models_are_one_line(capsys, tmp_path):
    import keras
    import numpy as np
    from skimage.io import imsave

    three = keras.Sequential([keras.Input((784,)), keras.layers.Dense(3, activation="softmax")], name="three")
    three.save(tmp_path / "three.keras")
    (tmp_path / "one" / "cats").mkdir(parents=True)
    imsave(tmp_path / "one" / "cats" / "a.png", np.full((8, 8, 3), 100, np.uint8))
    (tmp_path / "none" / "cats").mkdir(parents=True)
    cases = [(["train", "mnist_small", "--dataset", tmp_path / "one", "--out", tmp_path / "a.keras"], "has 1 class"),
             (["train", "mnist_small", "--dataset", tmp_path / "none", "--out", tmp_path / "a.keras"],
              "has no image files"),
             (["finetune", "mnist_small", "--dataset", tmp_path / "one"], "has 1 class")]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    if real_data_dir() is not None:
        code, _, err = run(capsys, "train", tmp_path / "three.keras", "--dataset", "mnist", "--out",
                           tmp_path / "b.keras")
        assert code == 2 and "3 outputs but mnist has 10 classes: use `cnnviz finetune" in err


@needs_data
@pytest.mark.data
def test_train_on_some_classes_then_curves_compares_the_runs(capsys, tmp_path):
    import keras

    five = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(5,
                                                                                               activation="softmax")])
    five.save(tmp_path / "five.keras")
    for optimizer in ("sgd", "adam"):
        code, out, err = run(capsys, "train", tmp_path / "five.keras", "--dataset", "mnist", "--classes", "0,1,2,3,4",
                             "--limit", 300, "--epochs", 2, "--optimizer", optimizer, "--validation", "test",
                             "--out", tmp_path / f"{optimizer}.keras", "--quiet")
        assert code == 0, err
    card = json.loads((tmp_path / "adam.card.json").read_text())
    assert card["classes"] == ["0", "1", "2", "3", "4"] and card["recipe"]["validation"] == "test set"
    code, out, err = run(capsys, "curves", tmp_path / "sgd.card.json", tmp_path / "adam.card.json",
                         "-o", tmp_path / "c.png")
    assert code == 0 and "sgd, SGD lr 0.01" in out and "adam, Adam lr 0.001" in out


@needs_data
def test_curves_take_zoo_names_and_label_every_setting(capsys, tmp_path):
    code, out, _ = run(capsys, "curves", "mnist_small", "mnist_small_bn", "-o", tmp_path / "bn.png")
    assert code == 0 and "mnist_small, Adam lr 0.001" in out and "mnist_small_bn, Adam lr 0.001" in out
    assert (tmp_path / "bn.png").read_bytes().startswith(PNG)


@needs_data
def test_samples_and_histograms(capsys, tmp_path):
    code, out, _ = run(capsys, "samples", "cifar10", "--per-class", "3", "-o", tmp_path / "s.png")
    assert code == 0 and "30 images of cifar10 (train split): 3 per class, 10 classes" in out
    code, out, _ = run(capsys, "samples", "cifar10", "--mixed", "25", "--split", "test", "-o", tmp_path / "m.png")
    assert code == 0 and "25 images of cifar10 (test split), classes mixed: 10 of 10 classes" in out
    code, out, _ = run(capsys, "histograms", "mnist_small_bn", "--layer", "bn1", "--n", "40", "--json",
                       "-o", tmp_path / "h.png")
    found = json.loads(out)
    assert code == 0 and found["n_images"] == 40 and len(found["channels"]) == 8
    assert all(sum(c["counts"]) == 40 * 26 * 26 for c in found["channels"])
    means = [c["mean"] for c in found["channels"]]
    assert max(abs(m) for m in means) < 1.0            # batch normalization centres each channel


@needs_data
def test_predict_over_a_folder_shows_true_classes(capsys, tmp_path):
    from skimage.io import imsave

    from cnnviz.data.sources import load_dataset

    data = load_dataset("mnist")
    for i in range(6):
        label = str(data.y_test[i])
        (tmp_path / "digits" / label).mkdir(parents=True, exist_ok=True)
        imsave(tmp_path / "digits" / label / f"{i}.png", data.x_test[i], check_contrast=False)
    code, out, _ = run(capsys, "predict", tmp_path / "digits", "--model", "mnist_small", "--top", "1",
                       "-o", tmp_path / "p.png")
    assert code == 0 and out.count("(true class ") == 6
    assert "top-1 agrees with the folder's class for 6 of 6 images" in out


def test_features_of_an_untrained_model_are_marked(capsys, tmp_path):
    from cnnviz.lab.transfer import Features, fit_transfer

    rng = np.random.default_rng(0)
    feats = Features(rng.random((40, 5)).astype("float32"), np.repeat([0, 1], 20), ["a", "b"], "pool", "vgg16",
                     True, "vgg16 has random weights (untrained)")
    feats.save(tmp_path / "f.npz")
    assert Features.load(tmp_path / "f.npz").weights_note == feats.weights_note
    assert fit_transfer(feats).to_json()["trained"] is False
    code, out, _ = run(capsys, "transfer", tmp_path / "f.npz", "-o", tmp_path / "t.png")
    assert code == 0 and out.startswith("UNTRAINED: vgg16 has random weights")
