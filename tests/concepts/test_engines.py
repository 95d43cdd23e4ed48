"""TCAV over class, concept and random images, and CRAFT over a class's
images, streamed from disk as dataset jobs: the local engine and Ray give
equal scores and CAV accuracies, equal concepts and importances, and both
those of the images read into memory."""
from __future__ import annotations

import importlib
import sys

import numpy as np
import planted
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install \"cnnviz[ray]\"; CI installs it)")

from cnnviz.common.errors import CnnvizError  # noqa: E402
from cnnviz.concepts import craft, tcav  # noqa: E402
from cnnviz.jobs.ray_engine import connect  # noqa: E402


def _folder(root, name, images, broken=False) -> str:
    import imageio.v3 as iio

    folder = root / name
    folder.mkdir()
    for i, im in enumerate(images):
        iio.imwrite(folder / f"{i:02d}.png", im[..., 0])
    if broken:
        (folder / "broken.png").write_bytes(b"not an image")
    return str(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tcav-stream")
    x, y = planted.dataset(20, seed=7)
    return (_folder(root, "striped", x[y == 0], broken=True),
            {"stripes": _folder(root, "stripes", planted.concept("stripes", 12), broken=True)},
            _folder(root, "random", planted.concept("random", 40, seed=3)))


@pytest.mark.slow
def test_streamed_sets_equal_on_every_engine(planted_model, folders):
    class_folder, concepts, pool = folders
    options = dict(runs=3, batch_size=8)
    memory = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, **options)
    local = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, engine="local", **options)
    craft_options = dict(k=3, patch=16, designs=8, batch_size=8)
    found = {engine: craft(planted_model, class_folder, 0, "conv2", engine=engine, **craft_options)
             for engine in (None, "local")}
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    connect(workers=2)                                    # a local instance on loopback, as the engine starts one
    try:
        remote = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, engine="ray", workers=1,
                      **options)
        found["ray"] = craft(planted_model, class_folder, 0, "conv2", engine="ray", workers=1, **craft_options)
    finally:
        ray.shutdown()
    _check_craft(found)
    for name in ("scores", "random_scores", "accuracies", "random_accuracies"):
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    np.testing.assert_allclose(local.scores, memory.scores, atol=0.051)      # one image in 20 may flip sign
    np.testing.assert_allclose(local.accuracies, memory.accuracies, atol=0.15)
    assert [s["images"] for s in local.sets] == [s["images"] for s in memory.sets] == [20, 12, 40]
    for read in local.sets[:2]:
        assert read["skipped"][0]["file"].endswith("broken.png")


def _check_craft(found: dict) -> None:
    memory, local, remote = found[None], found["local"], found["ray"]
    for name in ("bank", "importances", "crops", "crop_origin", "crop_u", "top"):
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name
    np.testing.assert_allclose(local.bank, memory.bank, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(local.importances, memory.importances, atol=0.02)
    assert np.array_equal(local.crops[local.top[0]], memory.crops[memory.top[0]])    # the same typical crops
    assert local.n_crops == memory.n_crops == 20 * 4 and local.sets[0]["images"] == memory.sets[0]["images"] == 20
    assert local.sets[0]["skipped"][0]["file"].endswith("broken.png")


def test_streaming_needs_image_files(planted_model):
    with pytest.raises(CnnvizError, match="streaming .* reads image files"):
        tcav(planted_model, planted.dataset(5)[0], 0, "conv2", {"s": planted.concept("stripes", 10)},
             planted.concept("random", 30), engine="local")


def test_with_an_engine_no_folder_is_read_into_memory(planted_model, folders, monkeypatch):
    module = importlib.import_module("cnnviz.concepts.tcav")     # the package's ``tcav`` is the function

    def in_memory(model, name, images, *args, **kwargs):
        assert not module.is_files(images), f"{name} was read into memory"
        return read(model, name, images, *args, **kwargs)

    read = module.image_set
    monkeypatch.setattr(module, "image_set", in_memory)
    class_folder, concepts, pool = folders
    result = tcav(planted_model, class_folder, 0, "conv2", concepts, pool, runs=2, engine="local")
    assert result.scores.shape == (1, 1, 2) and result.mean[0, 0] > 0.9
