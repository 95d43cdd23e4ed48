"""Outputs say what they are made of: random weights are flagged in text and
figure titles, a layer table loads no weights, `models` says whether VGG16's
weights are on disk, and the preprocessing of a model cnnviz does not know is
named."""
import json

import keras
import numpy as np
import pytest
from conftest import needs_data

from cnnviz.cli.main import main
from cnnviz.plots import UNTRAINED_MARK


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures the command line writes, captured at the atomic writer."""
    import cnnviz.cli.common as cli_common
    import cnnviz.common.fileio as fileio

    figures = []
    original = fileio.save_figure

    def keep(fig, path, **kwargs):
        figures.append(fig)
        return original(fig, path, **kwargs)

    monkeypatch.setattr(fileio, "save_figure", keep)
    monkeypatch.setattr(cli_common, "save_figure", keep)          # imported by name there
    return figures


@pytest.fixture
def no_vgg16_download(monkeypatch):
    """Any attempt to load VGG16's ImageNet weights fails the test."""
    original = keras.applications.VGG16
    calls = []

    def vgg16(*args, weights="imagenet", **kwargs):
        calls.append(weights)
        if weights is not None:
            raise AssertionError(f"VGG16 weights {weights!r} loaded")
        return original(*args, weights=None, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", vgg16)
    monkeypatch.delenv("CNNVIZ_VGG16_WEIGHTS", raising=False)
    return calls


def test_summary_of_vgg16_builds_the_architecture_only(capsys, no_vgg16_download):
    code, out, _ = run(capsys, "summary", "vgg16", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 138357544 and no_vgg16_download == [None]
    assert "architecture only" in data["weights"]
    code, out, _ = run(capsys, "summary", "vgg16_notop")
    assert code == 0 and "Note: vgg16_notop: architecture only, weights not loaded" in out


@pytest.mark.parametrize("command", [["filters", "vgg16_notop", "--layer", "block1_conv1"],
                                     ["activations", "vgg16_notop", "skimage:coffee", "--layer", "block1_pool"]])
def test_random_weights_are_flagged_in_text_and_figure_titles(capsys, tmp_path, saved_figures, command):
    code, _, err = run(capsys, *command, "--weights", "none", "-o", str(tmp_path / "out.png"))
    assert code == 0 and "out.png (note: vgg16_notop has random weights (untrained)" in err
    assert saved_figures and all(fig.get_suptitle().startswith(UNTRAINED_MARK) for fig in saved_figures)


def test_trained_models_are_not_flagged(capsys, tmp_path, saved_figures):
    code, _, err = run(capsys, "filters", "mnist_small", "--layer", "conv1", "-o", str(tmp_path / "f.png"))
    assert code == 0 and "untrained" not in err
    assert not saved_figures[0].get_suptitle().startswith(UNTRAINED_MARK)


def test_attack_on_random_weights_is_flagged(capsys, tmp_path, saved_figures):
    code, out, err = run(capsys, "attack", "skimage:coffee", "--model", "vgg16", "--weights", "none",
                         "--method", "fgsm", "-o", str(tmp_path / "adv.png"))
    assert code == 0 and "random weights (untrained)" in out + err
    assert saved_figures[0].get_suptitle().startswith(UNTRAINED_MARK)


@pytest.mark.parametrize("present", [True, False])
def test_models_says_whether_vgg16_weights_are_on_disk(capsys, tmp_path, monkeypatch, present):
    weights = tmp_path / "vgg16.h5"
    if present:
        weights.write_bytes(b"weights")
    monkeypatch.setenv("CNNVIZ_VGG16_WEIGHTS", str(weights))
    code, out, _ = run(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    assert rows["vgg16"]["weights"] == ("ImageNet (on disk)" if present else
                                        "ImageNet, not on disk: downloaded on first use (--weights none: random)")


def test_a_user_model_names_the_assumed_preprocessing(capsys, tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)), name="mine")
    model.save(tmp_path / "mine.keras")
    code, out, _ = run(capsys, "predict", "skimage:coffee", "--model", str(tmp_path / "mine.keras"))
    assert code == 0 and "unknown model: assumed input pixels / 255, in [0, 1] (scale01)" in out
    code, out, _ = run(capsys, "predict", "skimage:coffee", "--model", str(tmp_path / "mine.keras"),
                       "--preprocess", "tf", "--json")
    assert code == 0 and "input scaled to [-1, 1] (tf), as given" in json.loads(out)[0]["notes"][-1]
    assert np.isfinite([p["probability"] for p in json.loads(out)[0]["top"]]).all()


@needs_data
def test_top_patches_marks_the_channels_that_never_fire(capsys, tmp_path):
    """cifar10_cnn's conv1 channels 1, 2, 3 and 5 never fire on CIFAR-10: their
    nine 0.00 patches were drawn as if they meant something."""
    code, out, _ = run(capsys, "top-patches", "cifar10_cnn", "--layer", "conv1", "--channels", "0:6", "--limit", "200",
                       "--json", "-o", str(tmp_path / "top.png"))
    silent = {c["channel"]: c["silent"] for c in json.loads(out)["channels"]}
    assert code == 0 and {c for c, why in silent.items() if why} == {1, 2, 3, 5}
    assert all(why.startswith(("cannot fire", "did not fire on these 200 images")) for why in silent.values() if why)


@needs_data
def test_robustness_json_needs_no_figure(capsys):
    code, out, _ = run(capsys, "robustness", "mnist_small", "--method", "fgsm", "--eps", "0,0.1", "--n", "20", "--json")
    assert code == 0 and [len(c["points"]) for c in json.loads(out)] == [2]
    code, _, err = run(capsys, "robustness", "mnist_small", "--method", "fgsm", "--n", "20")
    assert code == 2 and "give -o FIGURE.png, --json, or both" in err


@needs_data
def test_synthesis_marks_the_channels_that_never_fire(capsys, tmp_path, saved_figures):
    """A silent channel's synthesized image is a speck on grey: it is labelled,
    also where synthesis drives it to a near-zero 0.0001-0.0003: the same
    channels top-patches marks (1, 2, 3, 5 of cifar10_cnn's conv1)."""
    code, out, _ = run(capsys, "synthesize", "cifar10_cnn", "--layer", "conv1", "--channels", "0:6", "--steps", "32",
                       "--no-cache", "--json", "-o", str(tmp_path / "s.png"))
    rows = json.loads(out)["results"]
    silent = {r["index"] for r in rows if "silent" in r}
    assert code == 0 and silent == {1, 2, 3, 5}
    assert silent >= {r["index"] for r in rows if r["activation"] <= 0}
    titles = [ax.get_title().replace("\n", " ") for ax in saved_figures[0].axes if ax.get_title()]
    marks = ("cannot fire", "did not make it fire", "barely fired")
    assert sum(any(m in t for m in marks) for t in titles) == len(silent)
