"""Atomic writes: NPZ at exactly the path given, and temporaries left by a
killed writer cleaned up (issue 14)."""
from __future__ import annotations

import os

import numpy as np

from cnnviz.common import fileio


def test_npz_without_suffix_lands_at_the_path(tmp_path):
    target = tmp_path / "maps.data"
    fileio.write_npz(target, compressed=True, a=np.arange(3))
    with np.load(target) as f:
        assert f["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps.data"]


def test_atomic_path_follows_a_writer_that_appends_npz(tmp_path):
    target = tmp_path / "arrays"
    with fileio.atomic_path(target) as tmp:
        np.savez(tmp, a=np.ones(2))          # writes tmp + ".npz"
    with np.load(target) as f:
        assert f["a"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arrays"]


def test_stale_temporaries_are_removed_fresh_and_foreign_kept(tmp_path):
    stale = tmp_path / ".model.0a1b2c3d.tmp.keras"
    fresh = tmp_path / ".other.deadbeef.tmp.npz"
    foreign = tmp_path / ".notes.tmp.txt"          # not cnnviz's naming
    for p in (stale, fresh, foreign):
        p.write_bytes(b"x")
    old = fileio.STARTED - 60
    os.utime(stale, (old, old))
    os.utime(foreign, (old, old))
    fileio.write_json(tmp_path / "out.json", {"ok": True})   # a write cleans its folder
    assert not stale.exists() and fresh.exists() and foreign.exists()


def test_cache_folder_cleaned_recursively(tmp_path):
    nested = tmp_path / "datasets" / ".cifar10-1234.89abcdef.tmp.npz"
    nested.parent.mkdir()
    nested.write_bytes(b"x" * 10)
    old = fileio.STARTED - 1
    os.utime(nested, (old, old))
    assert fileio.clean_stale_temporaries(tmp_path, recursive=True) == [nested]
    assert not nested.exists()
