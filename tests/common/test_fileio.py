"""Atomic writes: NPZ at exactly the path given, and temporaries left by a
killed writer cleaned up (issue 14)."""
from __future__ import annotations

import os

import numpy as np
import pytest

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


# Files a user may have in an output folder, named like (or exactly like the old form of) cnnviz's temporaries:
# none carries the seal, so none may be removed, however old.
FOREIGN = [".notes.deadbeef.tmp.txt", ".model.0a1b2c3d.tmp.keras", ".notes.tmp.txt",
           ".x.cnnviz-0123456789abcdef.tmp.npz", ".x.cnnviz-deadbeef.tmp.npz", "notes.cnnviz-0123456789abcdef.tmp"]


@pytest.mark.parametrize("name", FOREIGN)
def test_a_users_file_named_like_a_temporary_survives(tmp_path, name):
    foreign = tmp_path / name
    foreign.write_bytes(b"my notes")
    old = fileio.STARTED - 3600
    os.utime(foreign, (old, old))
    assert not fileio.is_temporary(foreign)
    fileio.write_json(tmp_path / "out.json", {"ok": True})   # a write cleans its folder
    assert fileio.clean_stale_temporaries(tmp_path, recursive=True) == []
    assert foreign.read_bytes() == b"my notes"


def test_stale_temporaries_are_removed_fresh_kept(tmp_path):
    stale = fileio.temporary_name(tmp_path / "model.keras")
    fresh = fileio.temporary_name(tmp_path / "other.npz")
    for p in (stale, fresh):
        p.write_bytes(b"x")
    old = fileio.STARTED - 60
    os.utime(stale, (old, old))
    fileio.write_json(tmp_path / "out.json", {"ok": True})   # a write cleans its folder
    assert not stale.exists() and fresh.exists()


def test_cache_folder_cleaned_recursively(tmp_path):
    nested = fileio.temporary_name(tmp_path / "datasets" / "cifar10-1234.npz")
    nested.parent.mkdir()
    nested.write_bytes(b"x" * 10)
    old = fileio.STARTED - 1
    os.utime(nested, (old, old))
    assert fileio.clean_stale_temporaries(tmp_path, recursive=True) == [nested]
    assert not nested.exists()
