"""Dataset jobs on the local engine: top patches, evaluation and explanations
over a folder streamed from disk equal the in-memory results; resumable
explain; the cache keyed by the files; the CLI."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnviz.attribution.folder import explain_files
from cnnviz.attribution.registry import explain
from cnnviz.cli import main
from cnnviz.common.errors import Cancelled, CnnvizError
from cnnviz.common.fileio import temporary_name
from cnnviz.common.progress import CancelToken
from cnnviz.data.sources import image_folder_dataset
from cnnviz.data.stream import list_images
from cnnviz.inside.top_patches import file_crops, patch_crops, top_patches, top_patches_files
from cnnviz.jobs.merge import merge_top_k
from cnnviz.lab.evaluate import evaluate
from cnnviz.models.inputs import dataset_inputs, stream_size
from cnnviz.models.predict import probabilities

FIELDS = ("values", "image_index", "position", "boxes")


def assert_same_top(a, b):
    assert a.k == b.k and list(a.layers) == list(b.layers)
    for name in a.layers:
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(a.layers[name], f), getattr(b.layers[name], f))


@pytest.mark.parametrize("per", ["image", "unit"])
def test_top_patches_stream_equals_in_memory(small_cnn, image_folder, per):
    memory = image_folder_dataset(image_folder, (16, 16), 3).x_test
    expected = top_patches(small_cnn, memory, ["conv1", "conv2"], k=4, per=per, batch_size=7, cache=False)
    streamed = top_patches_files(small_cnn, image_folder, ["conv1", "conv2"], k=4, per=per, batch_size=7,
                                 cache=False)
    assert_same_top(expected, streamed)
    np.testing.assert_array_equal(file_crops(streamed, "conv2"), patch_crops(expected.layers["conv2"], memory))
    data = streamed.to_json("conv2")
    first = data["channels"][0]
    assert first["files"][0] == streamed.files[streamed.layers["conv2"].image_index[0, 0]]
    assert len(first["values"]) == len(first["position"]) == len(first["box"]) == 4


def test_merge_top_k_is_order_free():
    rng = np.random.default_rng(0)
    parts = [(rng.integers(0, 3, (2, 4)).astype(np.float32), rng.integers(0, 50, (2, 4)), rng.integers(0, 9, (2, 4)))
             for _ in range(4)]
    empty = (np.zeros((2, 0), np.float32), np.zeros((2, 0), int), np.zeros((2, 0), int))
    forward, backward = empty, empty
    for p in parts:
        forward = merge_top_k(forward, p, 5)
    for p in reversed(parts):
        backward = merge_top_k(backward, p, 5)
    for a, b in zip(forward, backward):                  # ties (values 0..2) broken the same way
        np.testing.assert_array_equal(a, b)


def test_unreadable_files_give_no_patches_and_are_reported(small_cnn, messy_folder):
    result = top_patches_files(small_cnn, messy_folder, ["conv2"], k=3, cache=False)
    names = [Path(s["file"]).name for s in result.report["skipped"]]
    assert sorted(names) == ["broken.jpg", "notes.txt"] and result.report["read"] == 12   # not decodable, no image
    used = {Path(result.files[i]).name for i in result.layers["conv2"].image_index.ravel()}
    assert "broken.jpg" not in used and "notes.txt" not in used


def test_nothing_readable_is_one_clear_error(small_cnn, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"no")
    (tmp_path / "b.png").write_bytes(b"no")
    with pytest.raises(CnnvizError, match="none of the 2 file"):
        top_patches_files(small_cnn, tmp_path, ["conv2"], cache=False)


def test_cache_keyed_by_files_and_mtimes(small_cnn, make_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    root = make_folder(tmp_path / "data", n_per_class=4)
    first = top_patches_files(small_cnn, root, ["conv2"], k=2)
    again = top_patches_files(small_cnn, root, ["conv2"], k=2)
    assert not first.from_cache and again.from_cache and again.files == first.files
    assert_same_top(first, again)
    target = Path(first.files[0])
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert not top_patches_files(small_cnn, root, ["conv2"], k=2).from_cache


def test_cancel_stops_the_stream(small_cnn, image_folder):
    token = CancelToken()

    def progress(done, total, message):
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        top_patches_files(small_cnn, image_folder, ["conv2"], batch_size=4, cache=False, progress=progress,
                          cancel=token)


def test_evaluate_stream_equals_in_memory(small_cnn, image_folder):
    memory = image_folder_dataset(image_folder, (16, 16), 3)
    probs = probabilities(small_cnn, dataset_inputs(small_cnn, memory.x_test))
    result = evaluate(small_cnn, str(image_folder), labels_by_order=True)     # its classes have no names
    assert result.n == len(memory.y_test)
    assert result.accuracy == pytest.approx(float(np.mean(probs.argmax(-1) == memory.y_test)))
    assert result.loss == pytest.approx(float(-np.mean(np.log(probs[np.arange(24), memory.y_test]))), rel=1e-6)


def test_explain_folder_writes_every_image_and_resumes(small_cnn, image_folder, tmp_path):
    out = tmp_path / "maps"
    first = explain_files(small_cnn, image_folder, out, ["saliency", "gradcam"], batch_size=8, figures=False)
    assert first["written"] == 24 and len(first["images"]) == 24
    summary = json.loads((out / "summary.json").read_text())
    files = [r["file"] for r in summary["images"]]            # the folder's fixed class-mixed order
    assert [Path(f).name for f in files] == [Path(p).name for p in list_images(image_folder).paths]
    assert all(r["top"][0]["index"] == r["targets"]["saliency"] for r in summary["images"])
    memory = image_folder_dataset(image_folder, (16, 16), 3).x_test   # the same order in memory
    i = next(k for k, f in enumerate(files) if Path(f).parent.name == "dogs" and Path(f).name == "00.png")
    x = dataset_inputs(small_cnn, memory[i // 8 * 8:i // 8 * 8 + 8])  # the batch of 8 it was explained in
    expected = explain(small_cnn, x, ["saliency"])["saliency"].maps
    with np.load(out / "dogs" / "00.png.npz") as f:
        np.testing.assert_array_equal(f["saliency"], expected[i % 8])

    # a run killed half-way: one image's maps gone, a half-written temporary left behind
    npz = [out / Path(f).parent.name / f"{Path(f).name}.npz" for f in files]
    gone, untouched = npz[9], npz[17]                            # images 9 and 17: shards 1 and 2 of 8
    gone.unlink()
    stale = temporary_name(out / "cats" / "10.png.npz")
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    before = untouched.stat().st_mtime_ns
    second = explain_files(small_cnn, image_folder, out, ["saliency", "gradcam"], batch_size=8, figures=False)
    assert second["written"] == 8 and len(second["images"]) == 24          # only the shard with the gap
    assert gone.is_file() and not stale.exists()
    assert untouched.stat().st_mtime_ns == before


def test_explain_folder_records_unreadable_files(small_cnn, messy_folder, tmp_path):
    result = explain_files(small_cnn, messy_folder, tmp_path / "m", ["saliency"], batch_size=4)
    assert [Path(s["file"]).name for s in result["skipped"]] == ["broken.jpg"]
    assert len(result["images"]) == 12 and Path(result["images"][0]["figure"]).is_file()
    again = explain_files(small_cnn, messy_folder, tmp_path / "m", ["saliency"], batch_size=4)
    assert again["written"] == 0 and len(again["skipped"]) == 1             # not retried, still reported


# ---------------------------------------------------------------- CLI

def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_file(small_cnn, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "small.keras"
    small_cnn.save(path)
    return path


def test_cli_top_patches_folder_json(capsys, model_file, messy_folder, tmp_path):
    code, out, err = run(capsys, "top-patches", model_file, "--layer", "conv2", "--dataset", messy_folder, "-k", "3",
                         "--channels", "0:2", "--json", tmp_path / "top.json", "-o", tmp_path / "top.png")
    data = json.loads((tmp_path / "top.json").read_text())
    assert code == 0 and (tmp_path / "top.png").is_file() and "broken.jpg" in err
    assert [c["channel"] for c in data["channels"]] == [0, 1] and data["report"]["read"] == 12
    assert all(Path(f).is_file() for c in data["channels"] for f in c["files"])


def test_cli_explain_folder(capsys, model_file, image_folder, tmp_path):
    code, out, _ = run(capsys, "explain", image_folder, "--model", model_file, "--methods", "saliency",
                       "--out-dir", tmp_path / "maps", "--limit", "6", "--no-figures")
    summary = json.loads((tmp_path / "maps" / "summary.json").read_text())
    assert code == 0 and len(summary["images"]) == 6 and "6 images explained" in out


def test_cli_explain_folder_needs_out_dir(capsys, model_file, image_folder):
    code, _, err = run(capsys, "explain", image_folder, "--model", model_file)
    assert code == 2 and "add --out-dir" in err and "Traceback" not in err


def test_cli_engine_needs_image_files(capsys, model_file):
    code, _, err = run(capsys, "evaluate", model_file, "--dataset", "mnist", "--engine", "ray")
    assert code == 2 and "run over image files" in err


def test_ray_missing_says_how_to_install(capsys, model_file, image_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)           # as if not installed
    code, _, err = run(capsys, "top-patches", model_file, "--layer", "conv2", "--dataset", image_folder,
                       "--engine", "ray", "-o", tmp_path / "t.png")
    assert code == 2 and 'pip install "cnnviz[ray]"' in err and len(err.strip().splitlines()) == 1


def test_sample_decodes_only_the_images_asked_for(small_cnn, image_folder, monkeypatch):
    from cnnviz.data import stream

    opened = []
    real = stream.decode
    monkeypatch.setattr(stream, "decode", lambda path, size: opened.append(path) or real(path, size))
    pixels, labels, files, _ = stream.read_sample(image_folder, stream_size(small_cnn), 6, seed=2)
    assert pixels.shape == (6, 16, 16, 3) and np.bincount(labels).tolist() == [3, 3]
    assert sorted(opened) == sorted(files.paths)                      # never the whole folder


def test_robustness_and_compare_on_a_folder_sample(capsys, small_cnn, model_file, image_folder, tmp_path):
    import shutil

    import keras

    from cnnviz.adversarial.robustness import robustness
    from cnnviz.models import declare_model, write_card

    named = keras.models.clone_model(small_cnn)                 # the folder's classes named on a copy
    named.set_weights(small_cnn.get_weights())
    declare_model(named, classes=["cats", "dogs"])
    curve = robustness(named, method="fgsm", eps=[0, 0.1], dataset=str(image_folder), n=6)
    assert curve.n == 6 and curve.dataset == image_folder.name
    model_copy = tmp_path / "small.keras"
    shutil.copy(model_file, model_copy)
    write_card(model_copy, classes=["cats", "dogs"])
    code, out, _ = run(capsys, "compare", model_copy, "--dataset", image_folder, "--n", "4", "--methods",
                       "saliency", "--steps", "4")
    assert code == 0 and f"on 4 {image_folder.name} test images" in out


def test_k_cut_to_the_readable_images_also_from_cache(small_cnn, tmp_path, make_folder, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    root = make_folder(tmp_path / "data", n_per_class=2)
    (root / "cats" / "broken.jpg").write_bytes(b"no")
    first = top_patches_files(small_cnn, root, ["conv2"], k=5)             # 5 files listed, 4 readable
    again = top_patches_files(small_cnn, root, ["conv2"], k=5)
    assert first.k == again.k == 4 and again.from_cache and again.layers["conv2"].values.shape[1] == 4


def test_explain_folder_refuses_to_mix_jobs(small_cnn, make_folder, tmp_path):
    root = make_folder(tmp_path / "data", n_per_class=2)
    explain_files(small_cnn, root, tmp_path / "maps", ["saliency"], figures=False)
    with pytest.raises(CnnvizError, match="holds the maps of another job"):
        explain_files(small_cnn, root, tmp_path / "maps", ["gradcam"], figures=False)
    assert explain_files(small_cnn, root, tmp_path / "maps", ["saliency"], figures=False)["written"] == 0
