"""Bad input through every command (issue 14): the same bad value through each
command that takes it gives one line ``cnnviz: error: ...`` naming the
problem, exit status 2, no traceback and no output file; files that are not
what they claim are named for what they are; outputs never replace each other."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from bad_files import make_bad_files  # noqa: E402
from conftest import needs_data

from cnnviz.cli.main import main

# Every command with the arguments of a run that would succeed; OUT is a folder per test.
COMMANDS = {
    "summary": ["summary", "mnist_small"],
    "filters": ["filters", "mnist_small", "-o", "OUT/f.png"],
    "activations": ["activations", "mnist_small", "skimage:camera", "-o", "OUT/a.png"],
    "top-patches": ["top-patches", "mnist_small", "--layer", "conv1", "-o", "OUT/t.png"],
    "erf": ["erf", "mnist_small", "--layer", "conv2", "-o", "OUT/e.png"],
    "synthesize": ["synthesize", "mnist_small", "--layer", "conv1", "-o", "OUT/s.png"],
    "predict": ["predict", "skimage:camera", "-m", "mnist_small", "-o", "OUT/p.png"],
    "evaluate": ["evaluate", "mnist_small", "-o", "OUT/c.png"],
    "explain": ["explain", "skimage:camera", "--model", "mnist_small", "-o", "OUT/x.png"],
    "compare": ["compare", "mnist_small", "-o", "OUT/r.png"],
    "attack": ["attack", "skimage:camera", "-m", "mnist_small", "-o", "OUT/k.png"],
    "robustness": ["robustness", "mnist_small", "-o", "OUT/b.png"],
}
WRITERS = [c for c in COMMANDS if "-o" in COMMANDS[c]]
MODEL_POSITION = {c: (argv.index("-m") + 1 if "-m" in argv else argv.index("--model") + 1 if "--model" in argv else 1)
                  for c, argv in COMMANDS.items()}
IMAGE_COMMANDS = ["activations", "predict", "explain", "attack"]

# Numeric options: which commands take them, what kind of number, and bad values for that kind.
OPTIONS = {
    "--limit": ("count", ["top-patches", "evaluate"]),
    "-k": ("count", ["top-patches"]),
    "--n": ("count", ["erf", "compare", "robustness"]),
    "--max-filters": ("count", ["filters"]),
    "--max-channels": ("count", ["activations"]),
    "--batch-size": ("count", ["robustness"]),
    "--steps": ("count", ["synthesize", "compare", "attack", "robustness"]),
    "--top": ("count", ["predict"]),
    "--region": ("count", ["compare"]),
    "--octaves": ("count", ["synthesize"]),
    "--lr": ("rate", ["synthesize"]),
    "--step-size": ("rate", ["attack", "robustness"]),
    "--tv": ("weight", ["synthesize"]),
    "--l2": ("weight", ["synthesize"]),
    "--overshoot": ("weight", ["attack"]),
    "--confidence": ("weight", ["attack"]),
    "--blur-every": ("every", ["synthesize"]),
    "--jitter": ("every", ["synthesize"]),
    "--seed": ("every", ["synthesize", "compare", "attack", "robustness"]),
    "--alpha": ("fraction", ["explain"]),
}
BAD_VALUES = {
    "count": ["0", "-3", "2.5", "nan", "ten"],
    "rate": ["0", "-0.1", "nan", "inf"],
    "weight": ["-1", "nan", "inf", "x"],
    "every": ["-1", "1.5", "nan"],
    "fraction": ["-0.1", "1.5", "nan"],
}
NUMERIC_CASES = [(cmd, opt, value) for opt, (kind, cmds) in OPTIONS.items() for cmd in cmds
                 for value in BAD_VALUES[kind]]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def argv_for(command, tmp_path, *extra, model=None):
    argv = [a.replace("OUT", str(tmp_path)) for a in COMMANDS[command]]
    if model is not None:
        argv[MODEL_POSITION[command]] = model
    return argv + list(extra)


def assert_one_line_error(code, err, *fragments):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("cnnviz: error: "), err
    assert "Traceback" not in err and "\x1b[" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def written(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("command, option, value", NUMERIC_CASES)
def test_bad_numbers_refused_before_any_work(capsys, tmp_path, command, option, value):
    code, out, err = run(capsys, *argv_for(command, tmp_path), f"{option}={value}")
    # an attack's options are checked by its declaration, which names them as declared (pgd.steps=0)
    named = option.lstrip("-").replace("-", "_") if command in ("attack", "robustness") else option
    assert_one_line_error(code, err, named)
    assert written(tmp_path) == [] and out == ""


@pytest.mark.parametrize("command, value", [(c, v) for c in ("attack", "robustness")
                                              for v in ("nan", "-0.1", "abc", "1/0", "inf", "0,nan", "0,-1/255")])
def test_bad_eps(capsys, tmp_path, command, value):
    code, _, err = run(capsys, *argv_for(command, tmp_path), f"--eps={value}")
    assert_one_line_error(code, err, "eps")
    assert written(tmp_path) == []


@pytest.mark.parametrize("command", ["top-patches", "synthesize"])
@pytest.mark.parametrize("value, message", [
    ("-3:2", "count channels from 0"), ("a:b", "START:STOP"), ("1,,2", "START:STOP"), ("", "START:STOP")])
def test_bad_channel_lists(capsys, tmp_path, command, value, message):
    code, _, err = run(capsys, *argv_for(command, tmp_path), f"--channels={value}")
    assert_one_line_error(code, err, "--channels", message)


@pytest.mark.parametrize("command", ["top-patches", "synthesize"])
def test_negative_channels_without_equals_say_how(capsys, tmp_path, command):
    code, _, err = run(capsys, *argv_for(command, tmp_path), "--channels", "-3:2")
    assert_one_line_error(code, err, "--channels=-3:2")


@pytest.mark.parametrize("value", ["3", "a,b", "1,2,3", "-1,2"])
def test_bad_unit_syntax(capsys, tmp_path, value):
    code, _, err = run(capsys, *argv_for("synthesize", tmp_path), f"--unit={value}")
    assert_one_line_error(code, err, "--unit")


def test_unit_outside_the_layer_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, *argv_for("synthesize", tmp_path), "--unit", "99,0", "--steps", "1")
    assert_one_line_error(code, err, "unit (99, 0) is outside conv1's 26x26 map")
    assert written(tmp_path) == []


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("case", ["missing folder", "folder as file", "unknown suffix", "no suffix", "under a file"])
def test_bad_output_paths_refused_before_any_work(capsys, tmp_path, command, case):
    (tmp_path / "plain.txt").write_text("x")
    target = {"missing folder": tmp_path / "typo" / "out.png", "folder as file": tmp_path,
              "unknown suffix": tmp_path / "out.xyz", "no suffix": tmp_path / "out",
              "under a file": tmp_path / "plain.txt" / "out.png"}[case]
    code, _, err = run(capsys, *argv_for(command, tmp_path), "-o", str(target))
    assert_one_line_error(code, err, "--output")
    assert written(tmp_path) == ["plain.txt"]          # nothing created: no typo folder, no temporaries
    if case == "missing folder":
        assert "typo does not exist" in err


@pytest.mark.parametrize("command, option", [("filters", "--npz"), ("activations", "--npz"),
                                             ("synthesize", "--npz"), ("explain", "--npz"),
                                             ("explain", "--json"), ("compare", "--json")])
def test_data_outputs_checked_too(capsys, tmp_path, command, option):
    code, _, err = run(capsys, *argv_for(command, tmp_path), option, str(tmp_path / "nofolder" / "x.npz"))
    assert_one_line_error(code, err, option, "nofolder does not exist")


def test_two_outputs_on_one_file_refused(capsys, tmp_path):
    code, _, err = run(capsys, *argv_for("filters", tmp_path), "--npz", str(tmp_path / "f.png"))
    assert_one_line_error(code, err, "--output and --npz both name")


def test_npz_without_its_suffix_is_written_where_asked(capsys, tmp_path):
    code, _, err = run(capsys, *argv_for("filters", tmp_path), "--npz", str(tmp_path / "kernel.data"))
    assert code == 0, err
    assert np.load(tmp_path / "kernel.data")["kernel"].shape == (3, 3, 1, 8)
    assert written(tmp_path) == ["f.png", "kernel.data"]


# ---------------------------------------------------------------- files that are not what they claim

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """Files and folders that are not what their names claim."""
    return make_bad_files(tmp_path_factory.mktemp("bad"))


MODEL_FILE_CASES = [("dir.keras", "is a folder, not a model file"), ("garbage.keras", "not a readable Keras model"),
                    ("text.h5", "not a readable Keras model"),
                    ("custom.keras", "custom layers must be importable and registered")]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name, message", MODEL_FILE_CASES)
def test_bad_model_files_named_for_what_they_are(capsys, tmp_path, bad_files, command, name, message):
    code, _, err = run(capsys, *argv_for(command, tmp_path, model=str(bad_files / name)))
    assert_one_line_error(code, err, message)
    assert written(tmp_path) == []


def test_unknown_layer_class_named_in_full(capsys, bad_files):
    code, _, err = run(capsys, "summary", str(bad_files / "custom.keras"))
    assert_one_line_error(code, err, "'FancyDense'", "my_lab.layers", "register_keras_serializable")


@pytest.mark.parametrize("command", IMAGE_COMMANDS)
@pytest.mark.parametrize("name, message", [("photos", "is a folder"),
                                           ("broken.png", "cannot read"),
                                           ("nan.tif", "9 pixel(s) that are not finite"),
                                           ("nan_rgb.tif", "9 pixel(s) that are not finite")])
def test_bad_images_refused(capsys, tmp_path, bad_files, command, name, message):
    argv = argv_for(command, tmp_path)
    argv[argv.index("skimage:camera")] = str(bad_files / name)
    code, _, err = run(capsys, *argv)
    if command == "predict" and name == "photos":       # predict takes a folder of images: this one has none
        message = "has no image files"
    assert_one_line_error(code, err, message)
    assert written(tmp_path) == []


def test_good_model_still_loads_after_bad_ones(capsys, bad_files):
    code, out, _ = run(capsys, "summary", str(bad_files / "good.keras"))
    assert code == 0 and "dense" in out.lower()


# ---------------------------------------------------------------- checks that need the model or data

@pytest.mark.parametrize("argv, message", [
    (["evaluate", "mnist_small", "--dataset", "cifar10"], "mnist_small was trained on mnist"),
    (["evaluate", "cifar10_cnn", "--dataset", "mnist"], "cifar10_cnn was trained on cifar10"),
    (["robustness", "mnist_small", "--dataset", "cifar10", "-o", "OUT/r.png"], "trained on mnist"),
    (["compare", "mnist_small", "--dataset", "cifar10"], "trained on mnist"),
])
def test_model_and_dataset_that_do_not_fit(capsys, tmp_path, argv, message):
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, message, "DIR/<class>")


def test_compare_on_a_model_without_class_scores(capsys, tmp_path):
    import keras

    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs))).save(tmp_path / "reg.keras")
    code, _, err = run(capsys, "compare", str(tmp_path / "reg.keras"), "--dataset", "mnist", "--n", "2")
    assert_one_line_error(code, err, "single output unit")


@pytest.mark.parametrize("command, argv, message", [
    ("explain", ["--methods", ","], "--methods is empty"),
    ("compare", ["--methods", ","], "--methods is empty"),
    ("explain", ["--methods", "saliency", "--option", "occlusion.patch=4"], "not being run"),
    ("compare", ["--methods", "saliency", "--option", "lime.samples=10"], "not being run"),
    ("synthesize", ["--class", ",", "--layer", "conv1"], "give either --layer"),
    ("robustness", ["--method", ","], "--method needs at least one"),
    ("robustness", ["--eps", ","], "--eps needs at least one value"),
])
def test_empty_lists_and_options_for_methods_not_run(capsys, tmp_path, command, argv, message):
    code, _, err = run(capsys, *argv_for(command, tmp_path), *argv)
    assert_one_line_error(code, err, message)
    assert written(tmp_path) == []


def test_no_classes_to_synthesize(capsys, tmp_path):
    code, _, err = run(capsys, "synthesize", "mnist_small", "--class", " , ", "-o", str(tmp_path / "s.png"))
    assert_one_line_error(code, err, "no classes given")


@needs_data
def test_region_larger_than_the_image(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "mnist_small", "--n", "2", "--methods", "saliency", "--region", "29")
    assert_one_line_error(code, err, "region=29", "from 1 to 28")


@needs_data
def test_top_patches_k_bounded_by_what_exists(capsys, tmp_path):
    code, out, err = run(capsys, *argv_for("top-patches", tmp_path), "-k", "1000", "--limit", "5",
                         "--channels", "0:2", "--json")
    data = json.loads(out)
    assert code == 0 and data["k"] == 5 and all(len(c["values"]) == 5 for c in data["channels"])
    assert "-k 1000 is more than the 5 patches" in err


def test_top_patches_figure_is_one_image_per_channel_row():
    """An axes per crop made -k 1000 draw 64,000 axes for minutes; a row is one image."""
    from cnnviz.plots.inside import top_patches_figure

    crops = np.zeros((64, 50, 8, 8, 1), np.uint8)
    fig = top_patches_figure(crops, np.ones((64, 50)), list(range(64)), "conv2", (8, 8))
    assert len(fig.axes) == 64 and max(fig.get_size_inches()) <= 40


# ---------------------------------------------------------------- outputs never replace each other

def test_same_named_images_get_distinct_reports(capsys, tmp_path):
    import imageio.v3 as iio

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        iio.imwrite(tmp_path / sub / "img.png", np.full((28, 28), 40 if sub == "a" else 200, np.uint8))
    code, _, err = run(capsys, "explain", str(tmp_path / "a" / "img.png"), str(tmp_path / "b" / "img.png"),
                       str(tmp_path / "a" / "img.png"), "--model", "mnist_small", "--methods", "saliency",
                       "-o", str(tmp_path / "r.png"))
    assert code == 0, err
    assert {"r_img.png", "r_img_2.png", "r_img_3.png"} <= set(written(tmp_path))


def test_activations_one_file_per_layer(capsys, tmp_path):
    code, _, err = run(capsys, *argv_for("activations", tmp_path), "--layer", "conv1", "--layer", "conv2")
    assert code == 0, err
    assert set(written(tmp_path)) == {"a_conv1.png", "a_conv2.png"}


# ---------------------------------------------------------------- the CLI boundary

def test_internal_error_is_one_line_without_colour_or_listing(capsys, monkeypatch, tmp_path):
    from cnnviz.cli import models

    def broken(args):
        raise ValueError("in user code:\n\n    File \"/x/y.py\", line 3, in f  *\n        return g(x)\n\n"
                         "    ValueError: \x1b[1mInput 0 of layer \"dense\" is incompatible\x1b[0m\n")

    monkeypatch.setattr(models, "cmd_summary", broken)
    code, _, err = run(capsys, "summary", "mnist_small")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "\x1b[" not in err
    assert lines[0].startswith("cnnviz: internal error: ValueError: Input 0 of layer \"dense\" is incompatible")
    assert "--debug" in lines[0]


def test_library_warnings_become_one_note(capsys, monkeypatch):
    from cnnviz.cli import models

    def noisy(args):
        for _ in range(2):
            warnings.warn("Possible precision loss converting image\nof type float64 to uint8", UserWarning)
        warnings.warn("old API", DeprecationWarning)
        return 0

    monkeypatch.setattr(models, "cmd_summary", noisy)
    code, _, err = run(capsys, "summary", "mnist_small")
    assert code == 0
    assert err.strip().splitlines() == ["cnnviz: note: Possible precision loss converting image"]


def test_interrupted_training_says_how_to_continue(capsys, monkeypatch):
    from cnnviz.cli import lab

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "train", interrupted)
    code, _, err = run(capsys, "train", "mnist_small", "--epochs", "1")
    assert code == 130 and "--resume" in err and len(err.strip().splitlines()) == 1


def test_stale_temporaries_in_the_cache_are_removed(capsys, monkeypatch, tmp_path):
    from cnnviz.common import fileio

    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    stale = fileio.temporary_name(tmp_path / "datasets" / "cifar10-0123.npz")
    stale.write_bytes(b"\0" * 1000)
    os.utime(stale, (fileio.STARTED - 5, fileio.STARTED - 5))
    keep = tmp_path / "datasets" / "cifar10-0123.npz"
    keep.write_bytes(b"\0")
    code, _, _ = run(capsys, "models")
    assert code == 0 and not stale.exists() and keep.exists()


@pytest.mark.parametrize("weights", ["missing.h5", "random.h5", "lambda.h5", "folder"])
def test_summary_refuses_a_weights_file_it_cannot_use(capsys, tmp_path, weights):
    """Issue 22's regression: summary (architecture only) silently ignored --weights."""
    import keras

    (tmp_path / "random.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(lambda v: v * 2)(inputs)).save(tmp_path / "lambda.h5")
    (tmp_path / "folder").mkdir()
    code, _, err = run(capsys, "summary", "vgg16", "--weights", str(tmp_path / weights))
    assert code == 2 and "weights" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_interrupted_finetune_says_how_to_continue(capsys, monkeypatch):
    from cnnviz.cli import lab

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "finetune", interrupted)
    code, _, err = run(capsys, "finetune", "mnist_small", "--dataset", "mnist")
    assert code == 130 and "--resume" in err and len(err.strip().splitlines()) == 1
