"""The Ray engine on a local Ray instance started here: the same results as
the local engine, a worker killed mid-job, cancel, an address where nothing
answers."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install \"cnnviz[ray]\"; CI installs it)")


from cnnviz.attribution.folder import explain_files  # noqa: E402
from cnnviz.cli import main  # noqa: E402
from cnnviz.common.errors import Cancelled, CnnvizError  # noqa: E402
from cnnviz.common.progress import CancelToken  # noqa: E402
from cnnviz.data.stream import list_images  # noqa: E402
from cnnviz.inside.top_patches import TopPatchesJob, top_patches_files  # noqa: E402
from cnnviz.jobs import run  # noqa: E402
from cnnviz.jobs.ray_engine import connect  # noqa: E402
from cnnviz.lab.evaluate import evaluate  # noqa: E402

FIELDS = ("values", "image_index", "position", "boxes")


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])    # the failing jobs below, for the workers
    connect(workers=2)                    # cnnviz's own local instance: loopback only, no dashboard
    assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
    yield
    ray.shutdown()


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a.layers[n], f), getattr(b.layers[n], f)) for n in a.layers for f in FIELDS)


@pytest.fixture(scope="module")
def local_top(small_cnn, messy_folder):
    return top_patches_files(small_cnn, messy_folder, ["conv1", "conv2"], k=4, per="unit", batch_size=4, cache=False)


def test_top_patches_equal_to_local(small_cnn, messy_folder, local_top):
    result = top_patches_files(small_cnn, messy_folder, ["conv1", "conv2"], k=4, per="unit", batch_size=4,
                               cache=False, engine="ray", workers=2)
    assert same(result, local_top) and result.files == local_top.files and result.report == local_top.report


def test_explain_and_evaluate_equal_to_local(small_cnn, image_folder, tmp_path):
    local = explain_files(small_cnn, image_folder, tmp_path / "local", ["saliency", "gradcam"], batch_size=8,
                          figures=False)
    remote = explain_files(small_cnn, image_folder, tmp_path / "ray", ["saliency", "gradcam"], batch_size=8,
                           figures=False, engine="ray", workers=2)
    assert [r["top"] for r in remote["images"]] == [r["top"] for r in local["images"]]
    for record in local["images"]:
        other = record["npz"].replace(str(tmp_path / "local"), str(tmp_path / "ray"))
        with np.load(record["npz"]) as a, np.load(other) as b:
            for method in ("saliency", "gradcam"):
                np.testing.assert_array_equal(a[method], b[method])
    here = evaluate(small_cnn, str(image_folder), labels_by_order=True)         # its classes have no names
    there = evaluate(small_cnn, str(image_folder), labels_by_order=True, engine="ray", workers=2)
    assert (here.n, here.accuracy) == (there.n, there.accuracy) and np.array_equal(here.confusion, there.confusion)
    assert here.loss == pytest.approx(there.loss, rel=1e-12)       # float sums in another order


class DiesOnce(TopPatchesJob):
    """Top patches whose worker process dies (as a killed or crashed machine
    would) the first time it reaches the shard at 4."""

    def __init__(self, marker, *args):
        super().__init__(*args)
        self.marker = marker

    def worker(self, model):
        work = super().worker(model)

        def dying(shard):
            if shard.start == 4 and not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os._exit(1)
            return work(shard)

        return dying


class AlwaysDies(TopPatchesJob):
    def worker(self, model):
        os._exit(1)


def _job(cls, small_cnn, *extra):
    names = ["conv1", "conv2"]
    chosen = [np.arange(6, dtype=np.int32), np.arange(5, dtype=np.int32)]
    return cls(*extra, names, chosen, 4, "unit", "max")


def test_worker_killed_mid_job_is_retried_to_the_same_result(small_cnn, messy_folder, local_top, tmp_path):
    files = list_images(messy_folder)
    job = _job(DiesOnce, small_cnn, str(tmp_path / "died"))
    total, report = run(job, small_cnn, files, (16, 16, 3), 4, engine="ray", workers=2)
    assert (tmp_path / "died").exists()                  # it did die
    values, index, _ = total[1]
    np.testing.assert_array_equal(values, local_top.layers["conv2"].values)
    np.testing.assert_array_equal(index, local_top.layers["conv2"].image_index)
    assert report.read == local_top.report["read"]


def test_worker_that_keeps_dying_fails_clearly(small_cnn, messy_folder):
    with pytest.raises(CnnvizError, match="the Ray job failed and gave no result"):
        run(_job(AlwaysDies, small_cnn), small_cnn, list_images(messy_folder), (16, 16, 3), 4, engine="ray",
            workers=1)


def test_cancel(small_cnn, image_folder):
    token = CancelToken()

    def progress(done, total, message):
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        top_patches_files(small_cnn, image_folder, ["conv2"], batch_size=4, cache=False, engine="ray",
                          progress=progress, cancel=token)


def test_unreachable_address_is_one_line_exit_2(capsys, small_cnn, image_folder, tmp_path):
    model = tmp_path / "m.keras"
    small_cnn.save(model)
    code = main(["evaluate", str(model), "--dataset", str(image_folder), "--engine", "ray",
                 "--address", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "no Ray cluster answers at 127.0.0.1:9" in err and len(err.strip().splitlines()) == 1
