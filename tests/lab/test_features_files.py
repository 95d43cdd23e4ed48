"""Features files a person edited or another program wrote (issue 22): each
bad one is one line naming the file, what is wrong and the fix, through the
API and through `cnnviz transfer` (exit 2, no traceback); never scikit-learn's,
NumPy's or Python's own error, never pickled objects loaded, and labels
outside the class list never dropped silently from an accuracy."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnviz.cli.main import main
from cnnviz.common.errors import CnnvizError
from cnnviz.lab.transfer import Features, fit_transfer, parse_head


def good(n=40, d=6, classes=("a", "b")):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % len(classes)
    return dict(features=rng.normal(size=(n, d)).astype(np.float32) + labels[:, None], labels=labels,
                classes=np.array(classes), layer=np.array("conv"), model=np.array("m"), pooled=np.array(False))


def with_(**changes):
    arrays = good()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def nan_features():
    f = good()["features"].copy()
    f[3, 1] = np.nan
    return with_(features=f)


def inf_features():
    f = good()["features"].copy()
    f[0, 0] = np.inf
    return with_(features=f)


# (arrays written with np.savez, or raw bytes; a piece of the one-line message)
BAD = {
    "0-byte file": (b"", "empty (0 bytes)"),
    "text file": (b"features,labels\n1,2\n", "not a features file"),
    "truncated": ("truncated", "not a features file"),
    "pickled objects": (with_(classes=np.array([{"a": 1}, "b"], dtype=object)), "pickled Python objects"),
    "a single array": ("single", "single array"),
    "no labels": (with_(labels=None), "has no labels"),
    "NaN features": (nan_features(), "not finite"),
    "inf features": (inf_features(), "not finite"),
    "1-D features": (with_(features=np.zeros(40, np.float32)), "2-D array"),
    "text features": (with_(features=np.array([["x"] * 6] * 40)), "2-D array of numbers"),
    "lengths differ": (with_(labels=np.arange(39) % 2), "40 rows of features but 39 labels"),
    "negative label": (with_(labels=np.r_[-1, np.arange(39) % 2]), "label(s) -1 are outside"),
    "label past the classes": (with_(labels=np.r_[2, np.arange(39) % 2]), "label(s) 2 are outside the 2 classes"),
    "float labels": (with_(labels=np.arange(40) % 2 + 0.5), "whole class indices"),
    "2-D labels": (with_(labels=np.zeros((40, 1), np.int64)), "1-D array of class indices"),
    "numeric classes": (with_(classes=np.array([0, 1])), "classes must be a 1-D array of class names"),
    "layer a list": (with_(layer=np.array(["a", "b"])), "layer must be one text"),
}


def write(path, spec):
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    elif spec == "truncated":
        np.savez(path, **good())
        path.write_bytes(path.read_bytes()[:300])
    elif spec == "single":
        with open(path, "wb") as f:
            np.save(f, np.zeros((3, 3)))
    else:
        with open(path, "wb") as f:
            np.savez(f, **spec)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_features_file_is_one_line_naming_it(tmp_path, case):
    spec, message = BAD[case]
    path = write(tmp_path / "f.npz", spec)
    with pytest.raises(CnnvizError, match=re.escape(message)) as err:
        Features.load(path)
    text = str(err.value)
    assert str(path) in text and "cnnviz features" in text and "\n" not in text and "allow_pickle" not in text


@pytest.mark.parametrize("case", ["0-byte file", "pickled objects", "NaN features", "label past the classes",
                                  "float labels", "lengths differ"])
def test_transfer_refuses_a_bad_file_in_one_line(capsys, tmp_path, case):
    spec, message = BAD[case]
    path = write(tmp_path / "f.npz", spec)
    code = main(["transfer", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1


def features(n, classes=("a", "b"), labels=None):
    arrays = good(n, classes=classes)
    return Features(arrays["features"], arrays["labels"] if labels is None else labels, list(classes), "conv", "m")


@pytest.mark.parametrize("f,message", [
    (features(40, labels=np.r_[np.zeros(20, int), np.full(20, 2)]), "label(s) 2 are outside"),
    (features(40, labels=np.r_[-np.ones(20, int), np.ones(20, int)]), "label(s) -1 are outside"),
    (features(3), "too few for a stratified split"),
    (features(5, classes=("a", "b", "c", "d", "e")), "too few for a stratified split"),
])
def test_fit_transfer_refuses_what_it_cannot_split_or_score(f, message):
    with pytest.raises(CnnvizError, match=re.escape(message)):
        fit_transfer(f)


@pytest.mark.parametrize("spec,message", [
    ("dense:1e12", "at most 65,536 units"), ("dense:inf", "at most 65,536 units"), ("dense:nan", "give layers"),
    ("dense:-5", "give layers"), ("dropout:inf", "give layers"), ("dense:70000", "at most 65,536 units"),
])
def test_head_sizes_are_bounded(spec, message):
    with pytest.raises(CnnvizError, match=re.escape(message)):
        parse_head(spec)


@pytest.mark.parametrize("spec", ["dense:1e12", "dense:inf"])
def test_finetune_refuses_a_huge_head_while_reading_the_command_line(capsys, spec):
    code = main(["finetune", "mnist_small", "--dataset", "mnist", "--head", spec])
    err = capsys.readouterr().err
    assert code == 2 and "at most 65,536 units" in err and "Traceback" not in err


def test_a_head_too_big_for_its_features_is_refused_before_building(tiny_cnn):
    from cnnviz.lab.transfer import build_finetune_model

    with pytest.raises(CnnvizError, match="weights, more than"):
        build_finetune_model(tiny_cnn, 3, "dense:65536,dense:65536", "conv")


# ---------------------------------------------------------------- model cards for `cnnviz curves`

GOOD_HISTORY = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]}
BAD_CARDS = {
    "a list": ("[1, 2]", "holds a JSON list"),
    "a string": ('"card"', "holds a JSON str"),
    "null": ("null", "holds a JSON NoneType"),
    "empty object": ("{}", "no training history"),
    "history a list": ('{"history": [1, 2]}', "no training history"),
    "history a string": ('{"history": "loss"}', "no training history"),
    "history empty": ('{"history": {}}', "no training history"),
    "history of nulls": ('{"history": {"loss": [null, null]}}', "history.loss is not a list of numbers"),
    "history nested": ('{"history": {"loss": [[1, 2], [3]]}}', "history.loss is not a list of numbers"),
    "history deeply nested": ('{"history": {"loss": {"a": {"b": [1]}}}}', "history.loss is not a list of numbers"),
    "history of text": ('{"history": {"loss": ["1", "2"]}}', "history.loss is not a list of numbers"),
    "no loss": ('{"history": {"accuracy": [0.5]}}', "has no loss per epoch"),
    "stages of text": (json.dumps({"history": GOOD_HISTORY, "stages": ["adam"]}), "its stages"),
    "learning rate text": (json.dumps({"history": GOOD_HISTORY, "stages": [{"optimizer": {"learning_rate": "x"}}]}),
                           "its stages"),
    "not JSON": ("{history", "not valid JSON"),
    "0 bytes": ("", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_CARDS))
def test_curves_refuses_a_bad_card_in_one_line(capsys, tmp_path, case):
    text, message = BAD_CARDS[case]
    (tmp_path / "run.card.json").write_text(text)
    code = main(["curves", str(tmp_path / "run.card.json"), "-o", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "run.card.json" in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "c.png").exists()
