"""``cnnviz explain`` and ``cnnviz compare`` as a user runs them."""
import json

import numpy as np
import pytest
from conftest import needs_data

from cnnviz.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_a_photo_with_a_shipped_model(capsys, tmp_path):
    report, js, npz = tmp_path / "report.png", tmp_path / "out.json", tmp_path / "maps.npz"
    code, out, err = run(capsys, "explain", "skimage:chelsea", "--model", "cifar10_cnn", "-o", str(report),
                         "--json", str(js), "--npz", str(npz), "--methods", "saliency,gradcam,occlusion,lime",
                         "--option", "lime.samples=200")
    assert code == 0, err
    assert "cat [3]" in out and "resized 451x300 to 32x32" in out
    assert report.stat().st_size > 20_000
    data = json.loads(js.read_text())
    assert [p["name"] for p in data["top"]][0] == "cat"
    assert set(data["methods"]) == {"saliency", "gradcam", "occlusion", "lime"}
    assert data["methods"]["gradcam"]["params"]["layer"] == "conv4" and data["methods"]["lime"]["target"] == 3
    assert data["methods"]["lime"]["params"]["samples"] == 200 and 0 <= data["methods"]["lime"]["score"] <= 1
    maps = np.load(npz)
    assert set(maps.files) == {"saliency", "gradcam", "occlusion", "lime"} and maps["occlusion"].shape == (32, 32)


def test_explain_several_images_writes_one_report_each(capsys, tmp_path):
    code, out, err = run(capsys, "explain", "skimage:camera", "skimage:coffee", "--model", "mnist_cnn",
                         "--methods", "saliency", "--target", "3", "-o", str(tmp_path / "r.png"))
    assert code == 0, err
    assert (tmp_path / "r_camera.png").is_file() and (tmp_path / "r_coffee.png").is_file()
    assert "converted colour to grayscale" in out      # a colour photo for an MNIST model


def test_explain_help_lists_every_declared_method_with_its_options(capsys):
    from cnnviz.attribution.registry import REGISTRY

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = " ".join(capsys.readouterr().out.split())          # argparse wraps the help lines
    assert all(f" {name}" in out for name in REGISTRY)
    assert "n_masks=4000" in out and "keep=0.5" in out and "max_n=auto" in out and "compute=True" in out
    assert "layer for the methods that take one (gradcam, gradcam++, guided_gradcam, scorecam, craft;" in out
    assert "or all (all but craft, which needs the class's images" in out


def test_explain_runs_rise_and_score_cam_with_their_options_and_the_layer(capsys, tmp_path):
    js = tmp_path / "out.json"
    code, out, err = run(capsys, "explain", "skimage:chelsea", "--model", "cifar10_cnn", "-o", str(tmp_path / "r.png"),
                         "--json", str(js), "--methods", "rise,score-cam", "--option", "rise.n_masks=100",
                         "--option", "max_n=8", "--layer", "conv3")
    assert code == 0, err
    methods = json.loads(js.read_text())["methods"]
    assert methods["rise"]["params"]["n_masks"] == 100 and "layer" not in methods["rise"]["params"]
    assert methods["scorecam"]["params"] == {"layer": "conv3", "max_n": 8, "score": "probability"}
    assert methods["rise"]["explains"] == "probability" and methods["scorecam"]["target"] == 3


@pytest.mark.parametrize("argv, message", [
    (["--methods", "magic"], "unknown method 'magic'"),
    (["--target", "zebra"], "unknown class 'zebra'"),
    (["--option", "occlusion.patch=big", "--methods", "occlusion"], "occlusion.patch='big' is not a valid int"),
    (["--option", "nonsense"], "write NAME=VALUE"),
])
def test_explain_bad_options_are_one_line_errors(capsys, argv, message):
    code, out, err = run(capsys, "explain", "skimage:chelsea", "--model", "cifar10_cnn", *argv)
    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1


def test_explain_missing_image(capsys, tmp_path):
    code, _, err = run(capsys, "explain", str(tmp_path / "none.jpg"), "--model", "mnist_cnn")
    assert code == 2 and "none.jpg" in err


@needs_data
def test_compare_ranks_methods_against_a_random_map(capsys, tmp_path):
    js, fig = tmp_path / "rank.json", tmp_path / "curves.png"
    code, out, err = run(capsys, "compare", "mnist_cnn", "--n", "20", "--methods", "saliency,occlusion",
                         "--steps", "8", "--json", str(js), "-o", str(fig))
    assert code == 0, err
    assert "deletion AUC" in out and "random" in out
    rows = json.loads(js.read_text())["rows"]
    assert {r["method"] for r in rows} == {"saliency", "occlusion", "random"}
    assert all(0 <= r["deletion_auc"] <= 1 and 0 <= r["insertion_auc"] <= 1 for r in rows)
    assert fig.stat().st_size > 20_000
