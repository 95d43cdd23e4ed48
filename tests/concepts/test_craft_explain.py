"""CRAFT's concept maps as an explanation (``explain --methods craft``) on
the planted-concept model: the maps are those of the concepts found by
``craft`` and cached; a damaged or inconsistent cache file is recomputed;
``compute=False`` says how to find absent concepts; the command writes the
report, the per-concept figure and the maps, and reuses the concepts that
``cnnviz concepts craft`` found."""
from __future__ import annotations

import numpy as np
import planted
import pytest

from cnnviz.attribution.registry import explain_one
from cnnviz.cli.main import main
from cnnviz.common.errors import CnnvizError
from cnnviz.concepts import concept_maps, craft
from cnnviz.models.inputs import load_image

SETTINGS = dict(layer="conv2", k=3, patch=16, designs=8, limit=10)


@pytest.fixture(scope="module")
def files(planted_model, tmp_path_factory):
    return planted.write_model_and_classes(tmp_path_factory.mktemp("craft-explain"), planted_model, 10)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _x(model, files, name="striped"):
    return load_image(str(files / "data" / name / "00.png"), model).x[None]


def test_maps_are_the_cached_concepts_maps(planted_model, files, cache):
    x = _x(planted_model, files)
    first = explain_one(planted_model, x, "craft", 0, dataset=str(files / "data"), **SETTINGS)
    concepts = craft(planted_model, str(files / "data"), 0, "conv2", k=3, patch=16, designs=8, limit=10, cache=True)
    assert not first.extras["from_cache"][0] and concepts.from_cache and len(list(cache.rglob("*.npz"))) == 1
    np.testing.assert_allclose(first.extras["concept_maps"], concept_maps(planted_model, concepts, x), atol=1e-6)
    np.testing.assert_allclose(first.extras["importances"][0], concepts.importances)
    assert first.maps.shape == (1, 32, 32) and first.extras["concept_maps"][0, ..., 0].max() > 0


def test_damaged_or_inconsistent_cache_is_recomputed(planted_model, files, cache):
    x = _x(planted_model, files)
    explain_one(planted_model, x, "craft", 0, dataset=str(files / "data"), **SETTINGS)
    (path,) = cache.rglob("*.npz")
    path.write_bytes(path.read_bytes()[:200])                     # a truncated file
    again = explain_one(planted_model, x, "craft", 0, dataset=str(files / "data"), **SETTINGS)
    assert not again.extras["from_cache"][0] and "were unreadable" in again.extras["cache_notes"][0]
    with np.load(path) as f:                                      # rewritten whole, then made inconsistent
        arrays = dict(f)
    np.savez(path, **{**arrays, "top": arrays["top"] + 10_000})
    third = explain_one(planted_model, x, "craft", 0, dataset=str(files / "data"), **SETTINGS)
    assert not third.extras["from_cache"][0] and "do not fit" in third.extras["cache_notes"][0]
    np.testing.assert_allclose(third.maps, again.maps, atol=1e-6)
    assert explain_one(planted_model, x, "craft", 0, dataset=str(files / "data"), **SETTINGS).extras["from_cache"][0]


def test_absent_concepts_are_refused_with_how_when_not_computed(planted_model, files, cache):
    with pytest.raises(CnnvizError, match="no CRAFT concepts of class 0 at conv2 .*cnnviz concepts craft"):
        explain_one(planted_model, _x(planted_model, files), "craft", 0, dataset=str(files / "data"), compute=False,
                    **SETTINGS)


def test_each_image_gets_the_concepts_of_its_own_class(planted_model, files, cache):
    x = np.concatenate([_x(planted_model, files, "striped"), _x(planted_model, files, "ringed")])
    result = explain_one(planted_model, x, "craft", [0, 2], dataset=str(files / "data"), **SETTINGS)
    ringed = craft(planted_model, str(files / "data"), 2, "conv2", k=3, patch=16, designs=8, limit=10, cache=True)
    assert ringed.from_cache and list(result.targets) == [0, 2]
    np.testing.assert_allclose(result.extras["importances"][1], ringed.importances)


def test_explain_command_reuses_the_concepts_command(files, cache, capsys, tmp_path):
    model, image, data = files / "planted.keras", files / "data" / "striped" / "00.png", files / "data"
    assert main(["concepts", "craft", str(model), "--target", "striped", "--dataset", str(data), "--layer", "conv2",
                 "-k", "3", "--patch", "16", "--designs", "8", "--limit", "10"]) == 0
    report = tmp_path / "report.png"
    code = main(["explain", str(image), "--model", str(model), "--methods", "craft", "--target", "striped",
                 "--layer", "conv2", "--option", f"craft.dataset={data}", "--option", "craft.k=3",
                 "--option", "craft.patch=16", "--option", "craft.designs=8", "--option", "craft.limit=10",
                 "--option", "craft.compute=false", "-o", str(report), "--npz", str(tmp_path / "maps.npz")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert report.is_file() and (tmp_path / "report_craft.png").is_file() and len(list(cache.rglob("*.npz"))) == 1
    with np.load(tmp_path / "maps.npz") as f:
        assert f["craft"].shape == (32, 32) and f["craft_concepts"].shape == (32, 32, 3)


def test_explain_command_without_concepts_says_how_in_one_line(files, cache, capsys):
    code = main(["explain", str(files / "data" / "plain" / "00.png"), "--model", str(files / "planted.keras"),
                 "--methods", "craft", "--option", f"craft.dataset={files / 'data'}", "--option", "compute=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "cnnviz concepts craft" in err[-1] and "Traceback" not in "".join(err)
