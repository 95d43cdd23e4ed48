"""TCAV over class images streamed from disk as a dataset job: the local
engine and Ray give equal scores, and both the scores of the images read
into memory."""
from __future__ import annotations

import sys

import numpy as np
import planted
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install \"cnnviz[ray]\"; CI installs it)")

from cnnviz.common.errors import CnnvizError  # noqa: E402
from cnnviz.concepts import tcav  # noqa: E402


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    import imageio.v3 as iio

    folder = tmp_path_factory.mktemp("striped")
    x, y = planted.dataset(20, seed=7)
    for i, im in enumerate(x[y == 0]):
        iio.imwrite(folder / f"{i:02d}.png", im[..., 0])
    (folder / "broken.png").write_bytes(b"not an image")
    return str(folder)


@pytest.mark.slow
def test_streamed_class_images_equal_on_every_engine(planted_model, class_folder):
    concepts = {"stripes": planted.concept("stripes", 12)}
    pool = planted.concept("random", 40, seed=3)
    options = dict(runs=3, batch_size=8)
    memory = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, **options)
    local = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, engine="local", **options)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        remote = tcav(planted_model, class_folder, 0, ["conv1", "conv2"], concepts, pool, engine="ray", workers=1,
                      **options)
    finally:
        ray.shutdown()
    assert np.array_equal(local.scores, remote.scores) and np.array_equal(local.random_scores, remote.random_scores)
    np.testing.assert_allclose(local.scores, memory.scores, atol=0.051)      # one image in 20 may flip sign
    read = local.sets[0]
    assert read["name"] == "class 0" and read["images"] == 20 and read["skipped"][0]["file"].endswith("broken.png")


def test_streaming_needs_image_files(planted_model):
    with pytest.raises(CnnvizError, match="streaming .* reads image files"):
        tcav(planted_model, planted.dataset(5)[0], 0, "conv2", {"s": planted.concept("stripes", 10)},
             planted.concept("random", 30), engine="local")
