"""The command line: help everywhere, real output, one-line errors with a
non-zero exit and no traceback (a traceback with --debug)."""
import json
import subprocess
import sys

import pytest
from conftest import needs_data

from cnnviz.cli.main import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_for_every_command(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"models", "summary", "predict", "train", "evaluate"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: cnnviz " + name in capsys.readouterr().out


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom cnnviz.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF LOADED' if 'tensorflow' in sys.modules else 'NO TF')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "predict" in result.stdout and result.stdout.strip().endswith("NO TF")


def test_summary_json_reproduces_lecture_counts(capsys):
    code, out, _ = run(capsys, "summary", "mnist_small", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 14178
    assert [r["params"] for r in data["layers"] if r["params"]] == [80, 584, 12864, 650]
    conv1, pool2 = data["layers"][0], data["layers"][3]
    assert conv1["name"] == "conv1" and conv1["output_shape"] == [26, 26, 8] and conv1["rf_size"] == [3, 3]
    assert pool2["rf_size"] == [10, 10] and pool2["rf_jump"] == [4, 4]


def test_models_lists_zoo_with_shipped_accuracy(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) >= {"mnist_small", "mnist_small_bn", "mnist_cnn", "lenet", "cifar10_cnn", "vgg16"}
    assert rows["mnist_small"]["parameters"] == 14178 and rows["mnist_small"]["test_accuracy"] >= 0.98
    assert rows["vgg16_notop"]["parameters"] == 14714688
    decks = {name: r["deck"] for name, r in rows.items() if r["deck"]}
    assert decks["sick_cnn1"] == decks["sick_cnn2"] == "sick" and decks["wolter_dense"] == "wolter"
    assert decks["sakr_cifar"] == decks["sakr_bn64"] == "sakr"
    assert rows["lenet5"]["parameters"] == 61706 and rows["alexnet"]["weights"] == "not trained"


def test_predict_json_and_figure(capsys, tmp_path):
    fig = tmp_path / "pred.png"
    code, out, _ = run(capsys, "predict", "skimage:camera", "skimage:chelsea", "-m", "mnist_small",
                       "--top", "3", "--json", "-o", str(fig))
    results = json.loads(out)
    assert code == 0 and len(results) == 2 and len(results[0]["top"]) == 3
    probs = [p["probability"] for p in results[0]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert any("grayscale" in note for note in results[1]["notes"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["summary", "nosuch"], "unknown model 'nosuch'"),
    (["summary", "missing.keras"], "does not exist"),
    (["predict", "nosuch.jpg", "-m", "mnist_small"], "nosuch.jpg does not exist"),
    (["predict", __file__, "-m", "mnist_small"], "cannot read"),
    (["predict", "skimage:chelsea", "-m", "mnist_small", "--top", "0"], "--top must be at least 1"),
    (["train", "mnist_small", "--epochs", "0"], "at least 1"),
    (["evaluate", "vgg16_notop", "--weights", "none"], "no test set known"),
])
def test_errors_are_one_line_without_traceback(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    notes = [line for line in lines if line.startswith("cnnviz: note: ")]    # e.g. UNTRAINED, before the error
    assert lines[-1].startswith("cnnviz: error: ") and message in lines[-1]
    assert len(lines) == len(notes) + 1 and "Traceback" not in err


def test_debug_shows_the_traceback_and_exits_2(capsys):
    code, _, err = run(capsys, "--debug", "summary", "nosuch")
    assert code == 2 and "Traceback (most recent call last)" in err and "unknown model 'nosuch'" in err


def test_offline_vgg16_names_the_way_out(capsys, monkeypatch):
    from keras.src.applications import vgg16

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(vgg16.file_utils, "get_file", offline)
    code, _, err = run(capsys, "predict", "skimage:chelsea", "-m", "vgg16")
    assert code == 2
    assert "could not be downloaded" in err and "--weights FILE" in err and "mnist_cnn" in err


def test_console_script_exit_code_and_stderr():
    result = subprocess.run(["cnnviz", "summary", "nosuch"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cnnviz: error: unknown model 'nosuch': use one of mnist_small, mnist_small_bn, mnist_cnn, lenet, "
        "cifar10_cnn, vgg16, vgg16_notop or a .keras/.h5 file"]


@needs_data
@pytest.mark.data
def test_evaluate_json_has_confusion_matrix(capsys):
    code, out, _ = run(capsys, "evaluate", "mnist_small", "--limit", "500", "--json")
    data = json.loads(out)
    assert code == 0 and data["n"] == 500 and sum(map(sum, data["confusion"])) == 500
    diagonal = sum(data["confusion"][i][i] for i in range(10))
    assert diagonal / 500 == pytest.approx(data["accuracy"])


def test_inside_commands_write_figures(capsys, tmp_path):
    assert run(capsys, "filters", "mnist_small", "--layer", "conv2", "-o", str(tmp_path / "f.png"),
               "--npz", str(tmp_path / "f.npz"))[0] == 0
    import numpy as np

    assert np.load(tmp_path / "f.npz")["kernel"].shape == (3, 3, 8, 8)
    code, out, _ = run(capsys, "activations", "mnist_small", "skimage:camera", "--layer", "conv1",
                       "--layer", "pool2", "-o", str(tmp_path / "maps.png"))
    assert code == 0 and "conv1: (1, 26, 26, 8)" in out and "pool2: (1, 5, 5, 8)" in out
    assert (tmp_path / "maps_conv1.png").is_file() and (tmp_path / "maps_pool2.png").is_file()


def test_synthesize_classes_json(capsys, tmp_path):
    code, out, _ = run(capsys, "synthesize", "mnist_small", "--class", "3,7", "--steps", "40", "--json",
                       "-o", str(tmp_path / "c.png"))
    data = json.loads(out)
    assert code == 0 and [r["index"] for r in data["results"]] == [3, 7] and data["steps"] == 40
    assert all(r["name"] == str(r["index"]) for r in data["results"])
    assert (tmp_path / "c.png").stat().st_size > 5000


@pytest.mark.parametrize("argv, message", [
    (["synthesize", "mnist_small", "-o", "x.png"], "give either --layer L"),
    (["synthesize", "mnist_small", "--layer", "conv1", "--channels", "0:99", "-o", "x.png"], "out of range"),
    (["filters", "mnist_small", "--layer", "dense1", "-o", "x.png"], "has no filters"),
    (["activations", "mnist_small", "skimage:camera", "--layer", "dense1", "-o", "x.png"], "no spatial output"),
    (["top-patches", "vgg16_notop", "--weights", "none", "--layer", "block1_conv1", "-o", "x.png"],
     "no dataset known"),
])
def test_inside_command_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    errors = [line for line in err.splitlines() if line.startswith("cnnviz: error: ")]
    assert code == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in err


@needs_data
@pytest.mark.data
def test_top_patches_json(capsys, tmp_path):
    code, out, _ = run(capsys, "top-patches", "mnist_small", "--layer", "pool2", "--channels", "0:3", "-k", "4",
                       "--limit", "500", "--json", "-o", str(tmp_path / "p.png"))
    data = json.loads(out)
    assert code == 0 and [c["channel"] for c in data["channels"]] == [0, 1, 2]
    values = data["channels"][0]["values"]
    assert len(values) == 4 and values == sorted(values, reverse=True)


def test_a_damaged_cache_is_recomputed_and_said_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    argv = ["top-patches", "mnist_small", "--layer", "pool2", "--channels", "0:2", "-k", "3", "--limit", "200"]
    assert run(capsys, *argv, "-o", str(tmp_path / "1.png"))[0] == 0
    for entry in (tmp_path / "cache" / "top_patches").glob("*.npz"):
        entry.write_bytes(b"half a file")
    code, out, err = run(capsys, *argv, "-o", str(tmp_path / "2.png"))
    assert code == 0 and "(from cache)" not in out
    assert "cnnviz: note: the cached top patches" in err and "were recomputed" in err
    code, out, err = run(capsys, *argv, "-o", str(tmp_path / "3.png"))
    assert "(from cache)" in out and "note" not in err
