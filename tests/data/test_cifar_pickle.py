"""The original CIFAR-10 python batches are read as data only: a crafted
batch file cannot run code (issue 14)."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from cnnviz.common.errors import CnnvizError
from cnnviz.data import datasets as data


class _Payload:
    """Unpickling this calls os.system: what a malicious batch file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _write_batches(folder, data_of):
    """The six batch files of the python release, each {b"data", b"labels"}, protocol 2 as shipped."""
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump(data_of(name), f, protocol=2)


def _batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"x", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}


def test_genuine_batches_read(tmp_path, monkeypatch):
    batches = {}

    def data_of(name):
        batches[name] = _batch(seed=len(batches))
        return batches[name]

    _write_batches(tmp_path / "cifar-10-batches-py", data_of)
    x_train, y_train, x_test, y_test = data._read_cifar_batches(tmp_path / "cifar-10-batches-py")
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    first = batches["test_batch"][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(x_test[0], first)
    assert y_test.ravel().tolist() == batches["test_batch"][b"labels"]


def test_malicious_batch_does_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "payload-ran"
    _write_batches(tmp_path / "cifar-10-batches-py",
                   lambda name: {**_batch(), b"labels": _Payload(marker)} if name == "data_batch_1" else _batch())
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match=r"data_batch_1 .*posix\.system|data_batch_1 .*os\.system"):
        data.cifar10_dataset()
    assert not marker.exists()
