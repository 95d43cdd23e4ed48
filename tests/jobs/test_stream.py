"""Image folders as a tf.data stream: listing, class-balanced samples,
decoding like single images, unreadable files skipped and named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnviz.common.errors import CnnvizError
from cnnviz.data.images import conform, read_image
from cnnviz.data.sources import image_folder_dataset
from cnnviz.data.stream import StreamReport, list_images, shards


@pytest.fixture(scope="module")
def folder(tmp_path_factory, make_folder):
    return make_folder(tmp_path_factory.mktemp("stream"), n_per_class=6)


def test_listing_classes_and_order(folder):
    files = list_images(folder)
    assert files.classes == ["cats", "dogs"] and len(files) == 12
    assert sorted(files.labels.tolist()) == [0] * 6 + [1] * 6
    assert all(Path(p).parent.name == files.classes[y] for p, y in zip(files.paths, files.labels))
    assert set(files.labels[:2].tolist()) == {0, 1}                 # class-mixed: any first N has both
    assert files.paths == list_images(folder).paths                 # a fixed order


def test_limit_is_class_balanced_and_seeded(folder):
    a, b = list_images(folder, limit=4, seed=1), list_images(folder, limit=4, seed=1)
    assert a.paths == b.paths and np.bincount(a.labels).tolist() == [2, 2]
    assert a.paths != list_images(folder).paths[:4]          # never the first N of the listing
    assert list_images(folder, limit=4, seed=2).paths != a.paths


def test_glob_and_file_list(folder):
    by_glob = list_images(str(folder / "dogs" / "*.png"))
    assert by_glob.classes == ["dogs"] and all(p.endswith(".png") for p in by_glob.paths)
    listed = list_images([str(folder / "cats" / "00.png"), str(folder / "dogs" / "01.jpg")])
    assert listed.classes == ["cats", "dogs"] and len(listed) == 2


def test_stream_equals_in_memory_folder(folder):
    """Mixed sizes and modes (RGB, JPEG, 16-bit gray, RGBA) decode to exactly
    what the in-memory folder reader and single images give."""
    files = list_images(folder)
    streamed = np.concatenate([s.pixels for s in shards(files, (16, 16, 3), batch_size=5)])
    memory = image_folder_dataset(folder, (16, 16), 3)
    np.testing.assert_array_equal(streamed, memory.x_test)
    for name in ("02.png", "03.png"):           # 16-bit gray, RGBA: converted as a single image is
        path = [p for p in files.paths if p.endswith(name)][0]
        np.testing.assert_array_equal(streamed[files.paths.index(path)], conform(read_image(path), (16, 16), 3))


def test_unreadable_files_skipped_counted_and_named(tmp_path, make_folder):
    root = make_folder(tmp_path, n_per_class=3)
    (root / "cats" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (root / "dogs" / "notes.txt").write_text("no image")
    files = list_images(root)
    assert [p.rsplit("/", 1)[-1] for p in files.not_images] == ["notes.txt"]
    report = StreamReport(files=len(files))
    parts = list(shards(files, (16, 16, 3), batch_size=4))
    for part in parts:
        report.add(part)
    assert report.read == 6 and [f.rsplit("/", 1)[-1] for f, _ in report.skipped] == ["broken.jpg"]
    assert "cannot read" in report.skipped[0][1] and "broken.jpg" in report.line()
    index = np.concatenate([p.index for p in parts])
    broken = next(i for i, p in enumerate(files.paths) if p.endswith("broken.jpg"))
    assert broken not in index and len(index) == 6


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "has no image files"),
    (lambda d: (d / "readme.txt").write_text("x"), r"only 1 file\(s\) that are no images"),
])
def test_empty_folder_is_one_line(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(CnnvizError, match=message) as info:
        list_images(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_glob_and_file(tmp_path):
    with pytest.raises(CnnvizError, match="no file matches"):
        list_images(str(tmp_path / "*.jpg"))
    with pytest.raises(CnnvizError, match="does not exist"):
        list_images([str(tmp_path / "gone.jpg")])


def test_skip_leaves_finished_shards_undecoded(folder):
    files = list_images(folder)
    starts = [s.start for s in shards(files, (16, 16, 3), batch_size=4, skip=lambda s: s == 4)]
    assert starts == [0, 8]
