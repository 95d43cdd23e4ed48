"""``cnnviz concepts tcav`` and ``cnnviz concepts craft`` on the planted-concept
model saved as a .keras file, with concept, random and class folders of PNGs:
a table, a figure and JSON; bad input in one line with exit status 2."""
from __future__ import annotations

import json

import numpy as np
import planted
import pytest

from cnnviz.cli.main import main


def _pngs(folder, images):
    return str(planted.write_pngs(folder, images, "im"))


@pytest.fixture(scope="module")
def files(planted_model, tmp_path_factory):
    root = planted.write_model_and_classes(tmp_path_factory.mktemp("concepts-cli"), planted_model, 12, "im")
    _pngs(root / "stripes", planted.concept("stripes", 12))
    (root / "stripes" / "broken.png").write_bytes(b"not an image")
    _pngs(root / "random", planted.concept("random", 40, seed=3))
    return root


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tcav_command_table_figure_json(files, capsys, tmp_path):
    code, out, err = run(capsys, "concepts", "tcav", files / "planted.keras", "--layer", "conv2",
                         "--concept", f"stripes={files / 'stripes'}", "--random", files / "random", "--target", "0",
                         "--dataset", files / "data", "--runs", "4", "-o", tmp_path / "tcav.png",
                         "--json", tmp_path / "tcav.json", "--npz", tmp_path / "cavs.npz")
    assert code == 0, err
    assert "stripes" in out and "(random)" in out
    assert "skipped" in err and "broken.png" in err                 # the unreadable file is named
    data = json.loads((tmp_path / "tcav.json").read_text())
    row = next(r for r in data["results"] if r["concept"] == "stripes")
    assert row["tcav_mean"] > 0.9 and len(row["scores"]) == 4
    assert (tmp_path / "tcav.png").stat().st_size > 1000
    with np.load(tmp_path / "cavs.npz") as f:
        assert f["conv2"].shape[:2] == (1, 4)


def test_craft_command_figure_json_and_maps(files, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    image = files / "data" / "striped" / "im00.png"
    argv = ("concepts", "craft", files / "planted.keras", "--target", "striped", "--dataset", files / "data",
            "--layer", "conv2", "-k", "3", "--patch", "16", "--designs", "8", "-o", tmp_path / "craft.png",
            "--image", image, "--maps", tmp_path / "maps.png", "--json", "-")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    data = json.loads(out)
    assert data["target"] == 0 and len(data["concepts"]) == 3
    assert (tmp_path / "craft.png").is_file() and (tmp_path / "maps.png").is_file()
    code, out, err = run(capsys, *argv[:-2])
    assert code == 0 and "(from cache)" in out


@pytest.mark.parametrize("argv, message", [
    (("--concept", "stripes", "--target", "0"), "must be NAME=DIR"),
    (("--concept", "stripes=/no/such/dir", "--target", "0"), "does not exist"),
])
def test_tcav_bad_arguments_one_line(files, capsys, argv, message):
    code, out, err = run(capsys, "concepts", "tcav", files / "planted.keras", "--layer", "conv2", *argv)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_tcav_too_few_concept_images_refused_with_the_number(files, capsys, tmp_path):
    few = _pngs(tmp_path / "few", planted.concept("stripes", 3))
    code, out, err = run(capsys, "concepts", "tcav", files / "planted.keras", "--layer", "conv2",
                         "--concept", f"few={few}", "--random", files / "random", "--target", "0",
                         "--dataset", files / "data")
    assert code == 2 and "few has 3 readable image(s)" in err and "at least 10" in err and "Traceback" not in err


def test_tcav_ray_engine_needs_an_image_folder(files, capsys):
    code, out, err = run(capsys, "concepts", "tcav", files / "planted.keras", "--layer", "conv2", "--concept",
                         f"stripes={files / 'stripes'}", "--target", "0", "--dataset", "mnist", "--engine", "ray")
    assert code == 2 and "run over image files" in err and "Traceback" not in err
