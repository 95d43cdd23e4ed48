"""User text is never markup or a format string where it is drawn or printed
(issue 22): file, folder and class names with mathtext (``$...$``), format
fields and percent signs go through every figure-writing path as written."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from cnnviz.cli.main import main

NAMES = ["a$\\b0$.png", "$x^$.png", "{0}{name}.png", "100%s%d.png", "$$.png", "a_$\\frac{1}{0}$.png"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A folder (a class named like mathtext) of 28x28 images with hostile names."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "$\\alpha$ {cls}"
    folder.mkdir()
    for i, name in enumerate(NAMES):
        Image.new("L", (28, 28), 40 * i).save(folder / name)
    return root, folder


@pytest.mark.parametrize("name", NAMES)
def test_predict_draws_a_hostile_file_name(capsys, digits, tmp_path, name):
    _, folder = digits
    code = main(["predict", str(folder / name), "-m", "mnist_small", "-o", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert code == 0 and (tmp_path / "p.png").is_file(), err


@pytest.mark.parametrize("name", NAMES[:2])
def test_explain_draws_a_hostile_file_name(capsys, digits, tmp_path, name):
    _, folder = digits
    code = main(["explain", str(folder / name), "--model", "mnist_small", "--methods", "saliency",
                 "-o", str(tmp_path / "x.png")])
    assert code == 0 and (tmp_path / "x.png").is_file(), capsys.readouterr().err


def test_explain_out_dir_with_hostile_folder_and_file_names(capsys, digits, tmp_path):
    root, folder = digits
    code = main(["explain", str(root), "--model", "mnist_small", "--methods", "saliency",
                 "--out-dir", str(tmp_path / "maps")])
    out, err = capsys.readouterr()
    summary = json.loads((tmp_path / "maps" / "summary.json").read_text())
    assert code == 0 and len(summary["images"]) == len(NAMES), err
    assert all((tmp_path / "maps" / folder.name / f"{n}.png").is_file() for n in NAMES)


def test_curves_of_runs_with_hostile_names(capsys, tmp_path):
    for name in ("$a$", "{0}%s"):
        card = {"architecture": name, "history": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                                                  "accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]}}
        (tmp_path / f"{name}.card.json").write_text(json.dumps(card))
    code = main(["curves", str(tmp_path / "$a$.card.json"), str(tmp_path / "{0}%s.card.json"),
                 "-o", str(tmp_path / "c.png")])
    assert code == 0 and (tmp_path / "c.png").is_file(), capsys.readouterr().err
