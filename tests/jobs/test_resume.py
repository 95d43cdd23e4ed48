"""Resumable folder jobs know whose work they hold (issue 22): ``explain
--out-dir`` is keyed by the model's weights and architecture, preprocessing,
source, methods and options; it refuses another job's folder, heals what is
damaged, half-written or stale (each case below redoes exactly the images it
spoils, and says why), survives a kill -9 at every write, and deletes only
what it can prove it wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnnviz.attribution.folder import JOB, explain_files
from cnnviz.common.errors import CnnvizError

METHODS = ["saliency"]


def run(model, root, out, **kw):
    return explain_files(model, root, out, METHODS, batch_size=2, **kw)


@pytest.fixture
def done(small_cnn, make_folder, tmp_path):
    """A folder of 4 images explained once into ``maps``."""
    root = make_folder(tmp_path / "data", n_per_class=2)
    out = tmp_path / "maps"
    first = run(small_cnn, root, out)
    assert first["written"] == 4 and first["redone"] == []
    return root, out, first


def stem(out, root, file):
    return out / os.path.relpath(file, root)


def first_file(result):
    return result["images"][0]["file"]


def truncate_npz(root, out, file):
    npz = Path(f"{stem(out, root, file)}.npz")
    npz.write_bytes(npz.read_bytes()[:100])


def garbage_npz(root, out, file):
    Path(f"{stem(out, root, file)}.npz").write_bytes(b"")


def foreign_npz(root, out, file):            # a valid NPZ of another job (other weights) copied in
    path = Path(f"{stem(out, root, file)}.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["record"]))
    record["job"] = "0" * 32
    arrays["record"] = np.array(json.dumps(record))
    np.savez(path.with_suffix(".tmp.npz"), **arrays)
    os.replace(path.with_suffix(".tmp.npz"), path)


def touch_source(root, out, file):
    st = os.stat(file)
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def regrow_source(root, out, file):         # same mtime, other content and size
    st = os.stat(file)
    with open(file, "ab") as f:
        f.write(b"\0" * 7)
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))


def drop_figure(root, out, file):
    Path(f"{stem(out, root, file)}.png").unlink()


# (what spoils one image, the reason its redo names)
SPOILERS = {
    "truncated NPZ": (truncate_npz, "unreadable"),
    "empty NPZ": (garbage_npz, "unreadable"),
    "another job's NPZ": (foreign_npz, "another job"),
    "file touched": (touch_source, "changed"),
    "file regrown": (regrow_source, "changed"),
    "figure deleted": (drop_figure, "figure was missing"),
}


@pytest.mark.parametrize("case", list(SPOILERS))
def test_a_spoiled_image_is_redone_and_said_why(small_cnn, done, case):
    root, out, first = done
    spoil, reason = SPOILERS[case]
    file = first_file(first)
    spoil(root, out, file)
    again = run(small_cnn, root, out)
    assert [r["file"] for r in again["redone"]] == [file] and reason in again["redone"][0]["reason"]
    assert again["written"] == 2 and len(again["images"]) == 4            # its shard (2 images), no more
    third = run(small_cnn, root, out)
    assert third["written"] == 0 and third["redone"] == []                 # healed for good
    with np.load(f"{stem(out, root, file)}.npz") as f:
        assert f["saliency"].shape == (16, 16)


def test_a_file_unreadable_while_copied_is_redone_once_complete(small_cnn, make_folder, tmp_path):
    root = make_folder(tmp_path / "data", n_per_class=2)
    whole = (root / "cats" / "00.png").read_bytes()
    (root / "cats" / "00.png").write_bytes(b"")                     # still being copied: 0 bytes
    first = run(small_cnn, root, tmp_path / "maps")
    assert [Path(s["file"]).name for s in first["skipped"]] == ["00.png"] and len(first["images"]) == 3
    assert run(small_cnn, root, tmp_path / "maps")["written"] == 0   # unchanged: not retried
    (root / "cats" / "00.png").write_bytes(whole)                    # the copy finished
    again = run(small_cnn, root, tmp_path / "maps")
    assert "unreadable before" in again["redone"][0]["reason"] and again["skipped"] == []
    assert len(again["images"]) == 4 and not list((tmp_path / "maps").rglob("*.unreadable.json"))


def test_a_file_that_became_unreadable_loses_its_maps(small_cnn, done):
    root, out, first = done
    file = first_file(first)
    Path(file).write_bytes(b"broken now")
    again = run(small_cnn, root, out)
    assert [s["file"] for s in again["skipped"]] == [file] and len(again["images"]) == 3
    assert not Path(f"{stem(out, root, file)}.npz").exists()


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"file": 3}'])
def test_a_damaged_unreadable_marker_is_redone(small_cnn, make_folder, tmp_path, text):
    root = make_folder(tmp_path / "data", n_per_class=2)
    (root / "dogs" / "zz.png").write_bytes(b"no image")
    out = tmp_path / "maps"
    run(small_cnn, root, out)
    marker = out / "dogs" / "zz.png.unreadable.json"
    marker.write_text(text)
    again = run(small_cnn, root, out)
    assert "marker" in again["redone"][0]["reason"] and len(again["skipped"]) == 1
    assert json.loads(marker.read_text())["reason"]


@pytest.mark.parametrize("text", ["{oops", "", "null", '{"model": "x"}'])
def test_a_damaged_job_file_is_rewritten_not_a_dead_end(small_cnn, done, text):
    root, out, _ = done
    (out / JOB).write_text(text)
    again = run(small_cnn, root, out)
    assert "rewritten" in again["healed"][0] and again["written"] == 0 and len(again["images"]) == 4
    assert json.loads((out / JOB).read_text())["key"] == again["key"]


def test_another_model_of_the_same_name_is_refused(small_cnn, done):
    import keras

    root, out, _ = done
    other = keras.models.clone_model(small_cnn)                 # same name, same file name, other weights
    assert other.name == small_cnn.name
    with pytest.raises(CnnvizError, match="weights or architecture differ"):
        run(other, root, out)


@pytest.mark.parametrize("change,what", [
    ({"methods": ["gradcam"]}, "methods"),
    ({"figures": False}, "figures"),
    ({"target": 1}, "target"),
])
def test_another_job_on_the_same_model_is_refused(small_cnn, done, change, what):
    root, out, _ = done
    methods = change.pop("methods", METHODS)
    with pytest.raises(CnnvizError, match=f"its .*{what}.* differ"):
        explain_files(small_cnn, root, out, methods, batch_size=2, **change)


def test_options_that_change_maps_are_part_of_the_key_speed_options_not(small_cnn, make_folder, tmp_path):
    root = make_folder(tmp_path / "data", n_per_class=1)
    out = tmp_path / "maps"
    explain_files(small_cnn, root, out, ["smoothgrad"], options={"smoothgrad": {"samples": 2}}, figures=False)
    again = explain_files(small_cnn, root, out, ["smoothgrad"], figures=False,
                          options={"smoothgrad": {"samples": 2, "batch_size": 3}})
    assert again["written"] == 0
    with pytest.raises(CnnvizError, match="its options differ"):
        explain_files(small_cnn, root, out, ["smoothgrad"], options={"smoothgrad": {"samples": 3}}, figures=False)


def test_another_source_folder_is_refused(small_cnn, make_folder, done, tmp_path):
    root, out, _ = done
    other = make_folder(tmp_path / "other", n_per_class=2, seed=5)   # the same relative file names
    with pytest.raises(CnnvizError, match="source"):
        run(small_cnn, other, out)


@pytest.mark.parametrize("where", ["file", "under a file", "under a file deeper"])
def test_out_dir_that_is_or_lies_under_a_file(small_cnn, make_folder, tmp_path, where):
    root = make_folder(tmp_path / "data", n_per_class=1)
    (tmp_path / "f.txt").write_text("x")
    out = {"file": tmp_path / "f.txt", "under a file": tmp_path / "f.txt" / "maps",
           "under a file deeper": tmp_path / "f.txt" / "a" / "b"}[where]
    with pytest.raises(CnnvizError, match="f.txt.*(is a file|which is a file)"):
        run(small_cnn, root, out)


# ---------------------------------------------------------------- kill -9 at each write

KILLER = textwrap.dedent("""
    import os, signal, sys, types
    import keras
    from cnnviz.common import fileio
    from cnnviz.attribution.folder import explain_files

    calls, kill_at = [0], int(sys.argv[4])

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == kill_at:              # the temporary is complete, the rename not done: kill -9
            print("killed writing", os.path.basename(dst), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace(src, dst)

    fileio.os = types.SimpleNamespace(**{**vars(os), "replace": replace})   # cnnviz's own writes only
    model = keras.models.load_model(sys.argv[1])
    explain_files(model, sys.argv[2], sys.argv[3], ["saliency"], batch_size=2)
    print("writes", calls[0])
""")


@pytest.fixture(scope="module")
def kill_setup(small_cnn, tmp_path_factory):
    from job_fixtures import write_folder

    base = tmp_path_factory.mktemp("kill")
    small_cnn.save(base / "small.keras")
    root = write_folder(base / "data", n_per_class=2)
    (root / "dogs" / "zz.png").write_bytes(b"no image")         # an unreadable file: its marker is a write too
    script = base / "killer.py"
    script.write_text(KILLER)
    return base, root, script


def _killed_run(kill_setup, out, kill_at):
    base, root, script = kill_setup
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, str(script), str(base / "small.keras"), str(root), str(out),
                           str(kill_at)], env=env, capture_output=True, text=True, timeout=300)


# The writes of a run, in order: job.json; per shard of 2 (cats/00 dogs/zz, cats/01 dogs/00, dogs/01) the
# unreadable file's marker, and each image's figure then NPZ; summary.json. A kill -9 at each kind of write.
KILLS = {1: "job.json", 2: "zz.png.unreadable.json", 4: "00.png.npz", 11: "summary.json"}


@pytest.mark.parametrize("kill_at", list(KILLS))
def test_a_kill_at_any_write_is_healed_by_a_rerun(small_cnn, kill_setup, tmp_path, kill_at, monkeypatch):
    import time

    import keras

    from cnnviz.common import fileio

    base, root, _ = kill_setup
    out = tmp_path / "maps"
    killed = _killed_run(kill_setup, out, kill_at)
    assert killed.returncode == -9 and f"killed writing {KILLS[kill_at]}" in killed.stdout, killed.stderr[-2000:]
    monkeypatch.setattr(fileio, "STARTED", time.time())          # the rerun is a process started after the kill
    model = keras.models.load_model(base / "small.keras")
    healed = run(model, root, out)
    clean = run(model, root, tmp_path / "clean")
    assert len(healed["images"]) == len(clean["images"]) == 4 and len(healed["skipped"]) == 1
    for a, b in zip(healed["images"], clean["images"]):
        assert a["file"] == b["file"] and a["top"] == b["top"]
        with np.load(a["npz"]) as f, np.load(b["npz"]) as g:
            np.testing.assert_array_equal(f["saliency"], g["saliency"])
    assert not [p for p in out.rglob("*") if ".cnnviz-" in p.name]        # no temporary left behind
