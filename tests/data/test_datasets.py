"""Tests for cnnviz.data: MNIST / CIFAR-10 from local files, the decode cache,
image-folder datasets, and the errors a user sees for broken data."""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_data
from PIL import Image

from cnnviz.common.errors import CnnvizError
from cnnviz.data import datasets as data
from cnnviz.data import sources
from cnnviz.data.classes import CIFAR10_CLASSES
from cnnviz.data.stream import list_images

MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
CIFAR_ZIP_SHA256 = "d6a27ef6adbcfd4f1f0d548a4935ab8f5fd84cf4ab72d3653940a1e16312ba3b"
# Label counts of the original MNIST release (train, test).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def real_data_file(name: str) -> Path | None:
    """``$CNNVIZ_DATA/name`` made absolute, or None when unset or missing."""
    value = os.environ.get("CNNVIZ_DATA")
    if not value:
        return None
    path = Path(value).expanduser().resolve() / name
    return path if path.is_file() else None


REAL_MNIST = real_data_file("mnist.npz")
REAL_CIFAR = real_data_file("cifar10-jpg.zip")


def _skip_reason(name: str) -> str:
    if not os.environ.get("CNNVIZ_DATA"):
        return f"CNNVIZ_DATA is not set: real {name} not available (CI sets CNNVIZ_DATA=../shared/data)"
    return f"{name} not found in CNNVIZ_DATA={os.environ['CNNVIZ_DATA']}"


needs_mnist = [pytest.mark.data, pytest.mark.skipif(REAL_MNIST is None, reason=_skip_reason("mnist.npz"))]
needs_cifar = [pytest.mark.data, pytest.mark.skipif(REAL_CIFAR is None, reason=_skip_reason("cifar10-jpg.zip"))]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CNNVIZ_CACHE", str(folder))
    return folder


# ---------------------------------------------------------------- helpers writing fake data

CLASS_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
                 (0, 255, 255), (0, 0, 0), (255, 255, 255), (128, 128, 128), (255, 128, 0)]


def _jpeg_bytes(colour, size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write_fake_cifar_folder(root: Path, n_train: int = 2, n_test: int = 1) -> None:
    for subset, n in (("train", n_train), ("test", n_test)):
        for cls, colour in zip(CIFAR10_CLASSES, CLASS_COLOURS):
            folder = root / subset / cls
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i:04d}.jpg").write_bytes(_jpeg_bytes(colour))


def _colour_label(image: np.ndarray) -> int:
    """Which of CLASS_COLOURS a decoded (JPEG-ish) solid image is."""
    mean = image.reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(mean - c).max() for c in CLASS_COLOURS]))


def _write_mnist_npz(path: Path, n_train=6, n_test=4, x_shape=(28, 28), x_test_shape=None, **override):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (n_train, *x_shape), dtype=np.uint8),
                  y_train=(np.arange(n_train) % 10).astype(np.uint8),
                  x_test=rng.integers(0, 256, (n_test, *(x_test_shape or x_shape)), dtype=np.uint8),
                  y_test=(np.arange(n_test) % 10).astype(np.uint8))
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


# ---------------------------------------------------------------- real MNIST

@pytest.mark.usefixtures("cache")
class TestRealMnist:
    pytestmark = needs_mnist

    def test_same_layout_as_keras(self, monkeypatch):
        monkeypatch.setenv("CNNVIZ_DATA", str(REAL_MNIST.parent))
        (x_train, y_train), (x_test, y_test) = data.load_mnist()
        assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
        assert y_train.shape == (60000,) and y_train.dtype == np.uint8
        assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
        assert y_test.shape == (10000,) and y_test.dtype == np.uint8
        assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
        assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
        assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]    # original order
        assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
        assert x_train.max() == 255 and x_train.min() == 0
        assert x_train[:, 0, :].mean() < 1 and x_train[:, 10:18, 10:18].mean() > 60   # light digits on black

    def test_dataset_checksum_and_metadata(self, monkeypatch):
        monkeypatch.setenv("CNNVIZ_DATA", str(REAL_MNIST.parent))
        d = sources.load_dataset("MNIST")
        assert d.name == "mnist"
        assert d.sha256 == MNIST_SHA256
        readme = REAL_MNIST.parent / "README.md"
        if readme.is_file():
            assert MNIST_SHA256 in readme.read_text()
        assert d.classes == [str(i) for i in range(10)]
        assert d.input_shape == (28, 28, 1)
        assert Path(d.source) == REAL_MNIST


# ---------------------------------------------------------------- real CIFAR-10

@pytest.fixture(scope="session")
def cifar_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cifar-cache")


@pytest.fixture(scope="session")
def real_cifar(cifar_cache_dir):
    """CIFAR-10 decoded once per session from the real zip into a session cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_DATA", str(REAL_CIFAR.parent))
        mp.setenv("CNNVIZ_CACHE", str(cifar_cache_dir))
        calls = []
        return data.cifar10_dataset(progress=lambda done, total, msg: calls.append((done, total, msg))), calls


@pytest.fixture
def real_cifar_env(monkeypatch, cifar_cache_dir):
    monkeypatch.setenv("CNNVIZ_DATA", str(REAL_CIFAR.parent))
    monkeypatch.setenv("CNNVIZ_CACHE", str(cifar_cache_dir))
    return cifar_cache_dir / "datasets" / f"cifar10-{data.CACHE_LAYOUT}-{CIFAR_ZIP_SHA256[:16]}.npz"


class TestRealCifar:
    pytestmark = needs_cifar

    def test_shapes_counts_classes(self, real_cifar):
        d, progress = real_cifar
        assert d.x_train.shape == (50000, 32, 32, 3) and d.x_train.dtype == np.uint8
        assert d.y_train.shape == (50000, 1) and d.y_train.dtype == np.uint8
        assert d.x_test.shape == (10000, 32, 32, 3) and d.x_test.dtype == np.uint8
        assert d.y_test.shape == (10000, 1) and d.y_test.dtype == np.uint8
        assert np.bincount(d.y_train[:, 0]).tolist() == [5000] * 10
        assert np.bincount(d.y_test[:, 0]).tolist() == [1000] * 10
        assert d.classes == ["airplane", "automobile", "bird", "cat", "deer",
                             "dog", "frog", "horse", "ship", "truck"]
        assert d.input_shape == (32, 32, 3)
        assert d.sha256 == CIFAR_ZIP_SHA256
        sample = d.x_train[::25]
        assert 80 < sample.mean() < 180 and sample.std() > 40             # real photos
        assert progress[-1][:2] == (10000, 10000)                         # progress reported to the end

    def test_labels_follow_folders(self, real_cifar):
        # frogs are greener than they are blue; ships and airplanes bluer than red
        d, _progress = real_cifar
        y = d.y_train[:, 0]
        means = np.stack([d.x_train[y == k].reshape(-1, 3).mean(axis=0) for k in range(10)])
        frog, ship, airplane = (CIFAR10_CLASSES.index(c) for c in ("frog", "ship", "airplane"))
        assert means[frog, 1] > means[frog, 2]
        assert means[ship, 2] > means[ship, 0]
        assert means[airplane, 2] > means[airplane, 0]

    def test_second_load_uses_cache(self, real_cifar, real_cifar_env, monkeypatch):
        d, _progress = real_cifar
        assert real_cifar_env.is_file()

        def no_decode(*args, **kwargs):
            raise AssertionError("CIFAR-10 decoded again although the cache is valid")

        monkeypatch.setattr(data, "_decode_cifar_zip", no_decode)
        (x_train, y_train), (x_test, y_test) = data.load_cifar10()
        np.testing.assert_array_equal(x_train, d.x_train)
        np.testing.assert_array_equal(y_train, d.y_train)
        np.testing.assert_array_equal(x_test, d.x_test)
        np.testing.assert_array_equal(y_test, d.y_test)

    @pytest.mark.parametrize("damage", ["garbage", "truncated"])
    def test_damaged_cache_is_rebuilt(self, real_cifar, real_cifar_env, monkeypatch, damage):
        d, _progress = real_cifar
        good = real_cifar_env.read_bytes()
        if damage == "garbage":
            real_cifar_env.write_bytes(b"this is not an npz file" * 100)
        else:
            real_cifar_env.write_bytes(good[: len(good) // 2])
        decoded = []

        def counting_decode(path, progress, cancel, subsets=("train", "test")):
            decoded.append(Path(path))
            # the full decode is exercised by real_cifar; reuse its arrays to keep the test fast
            return d.x_train, d.y_train, d.x_test, d.y_test

        monkeypatch.setattr(data, "_decode_cifar_zip", counting_decode)
        again = data.cifar10_dataset()
        assert decoded == [REAL_CIFAR]                 # the damaged cache was not trusted
        np.testing.assert_array_equal(again.x_train, d.x_train)
        np.testing.assert_array_equal(again.y_test, d.y_test)
        with np.load(real_cifar_env) as f:             # and the cache is whole again
            np.testing.assert_array_equal(f["x_test"], d.x_test)
            np.testing.assert_array_equal(f["y_train"], d.y_train)


# ---------------------------------------------------------------- MNIST errors and fakes (no real data)

def test_empty_data_folder_mnist(tmp_path, monkeypatch, cache):
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="mnist.npz"):
        data.load_mnist()


def test_empty_data_folder_cifar(tmp_path, monkeypatch, cache):
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="cifar10-jpg.zip"):
        data.load_cifar10()


def test_small_valid_mnist_npz(tmp_path, monkeypatch, cache):
    arrays = _write_mnist_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    d = sources.load_dataset("mnist")
    np.testing.assert_array_equal(d.x_train, arrays["x_train"])
    np.testing.assert_array_equal(d.y_test, arrays["y_test"])
    assert d.sha256 == hashlib.sha256((tmp_path / "mnist.npz").read_bytes()).hexdigest()
    assert d.input_shape == (28, 28, 1)


@pytest.mark.parametrize("content", [
    b"\x00garbage" * 50,
    b"PK\x03\x04" + b"\x01" * 300,
    pytest.param(b""),
], ids=["garbage", "fake-zip-header", "empty"])
def test_corrupt_mnist_npz(tmp_path, monkeypatch, cache, content):
    (tmp_path / "mnist.npz").write_bytes(content)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="mnist.npz"):
        data.mnist_dataset()


def test_mnist_npz_missing_key(tmp_path, monkeypatch, cache):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
             y_train=np.zeros(3, np.uint8))
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="mnist.npz"):
        data.mnist_dataset()


@pytest.mark.parametrize("kwargs", [
    dict(x_shape=(32, 32)),                                     # CIFAR-sized images
    dict(x_train=np.zeros((6, 784), np.uint8)),                 # flattened
    dict(y_train=np.zeros(5, np.uint8)),                        # fewer labels than images
    dict(y_test=np.zeros(7, np.uint8)),
    dict(x_test_shape=(32, 32)),
], ids=["32x32", "flat", "short-y_train", "long-y_test", "x_test-32x32"])
def test_mnist_npz_wrong_shapes(tmp_path, monkeypatch, cache, kwargs):
    _write_mnist_npz(tmp_path / "mnist.npz", **kwargs)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="mnist.npz"):
        data.mnist_dataset()


# ---------------------------------------------------------------- CIFAR errors and fakes (no real data)

def test_cifar_zip_that_is_not_a_zip(tmp_path, monkeypatch, cache):
    (tmp_path / "cifar10-jpg.zip").write_bytes(b"not a zip at all" * 64)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="cifar10-jpg.zip") as info:
        data.cifar10_dataset()
    assert "zip" in str(info.value)
    assert not list(cache.rglob("*.npz"))          # nothing cached for a broken source


def test_named_datasets_read_the_test_split_alone_when_asked(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=2, n_test=1)
    _write_mnist_npz(tmp_path / "mnist.npz")
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    cifar = sources.load_dataset("cifar10", test_only=True)
    assert len(cifar.x_train) == 0 and cifar.x_test.shape == (10, 32, 32, 3)
    assert len(sources.load_dataset("mnist", test_only=True).x_test)         # one file: both splits, as before


def test_fake_cifar_folder(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=2, n_test=1)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    d = sources.load_dataset("cifar10")
    assert d.x_train.shape == (20, 32, 32, 3) and d.x_train.dtype == np.uint8
    assert d.y_train.shape == (20, 1) and d.y_train.dtype == np.uint8
    assert d.x_test.shape == (10, 32, 32, 3) and d.y_test.shape == (10, 1)
    assert sorted(d.y_train[:, 0].tolist()) == [k for k in range(10) for _ in range(2)]
    assert sorted(d.y_train[:10, 0].tolist()) == list(range(10))      # classes mixed: each round has all ten
    assert sorted(d.y_test[:, 0].tolist()) == list(range(10)) and d.y_test[:, 0].tolist() != list(range(10))
    assert [_colour_label(im) for im in d.x_train] == d.y_train[:, 0].tolist()
    assert [_colour_label(im) for im in d.x_test] == d.y_test[:, 0].tolist()
    assert d.classes == list(CIFAR10_CLASSES)
    assert Path(d.source) == tmp_path / "cifar10"


def test_fake_cifar_zip(tmp_path, monkeypatch, cache):
    # members under a top folder, written in an order that is not the label order
    with zipfile.ZipFile(tmp_path / "cifar10-jpg.zip", "w") as z:
        for subset in ("test", "train"):
            for cls, colour in reversed(list(zip(CIFAR10_CLASSES, CLASS_COLOURS))):
                z.writestr(f"cifar10/{subset}/{cls}/0000.jpg", _jpeg_bytes(colour))
        z.writestr("cifar10/README.txt", "not an image")
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    d = data.cifar10_dataset()
    assert sorted(d.y_train[:, 0].tolist()) == list(range(10))
    assert [_colour_label(im) for im in d.x_train] == d.y_train[:, 0].tolist()
    assert [_colour_label(im) for im in d.x_test] == d.y_test[:, 0].tolist()
    assert d.sha256 == data.file_sha256(tmp_path / "cifar10-jpg.zip")
    assert (cache / "datasets" / f"cifar10-mixed-{d.sha256[:16]}.npz").is_file()


def test_fake_cifar_cache_reused_and_damaged_cache_rebuilt(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=1, n_test=1)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    first = data.cifar10_dataset()
    (cached,) = (cache / "datasets").glob("cifar10-*.npz")

    real_decode = data._decode_cifar_folder
    decodes = []

    def counting(*args):
        decodes.append(args[0])
        return real_decode(*args)

    monkeypatch.setattr(data, "_decode_cifar_folder", counting)
    second = data.cifar10_dataset()
    assert decodes == []                                   # served from the cache
    np.testing.assert_array_equal(second.x_train, first.x_train)

    cached.write_bytes(b"\x93NUMPY garbage" * 10)
    third = data.cifar10_dataset()
    assert len(decodes) == 1                               # garbage not trusted
    np.testing.assert_array_equal(third.x_train, first.x_train)
    np.testing.assert_array_equal(third.y_test, first.y_test)
    with np.load(cached) as f:
        np.testing.assert_array_equal(f["x_test"], first.x_test)


def test_fake_cifar_folder_without_test_split(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=1, n_test=0)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="test/<class>"):
        data.cifar10_dataset()


def test_fake_cifar_folder_wrong_image_size(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=1, n_test=1)
    (tmp_path / "cifar10" / "train" / "cat" / "0000.jpg").write_bytes(_jpeg_bytes((1, 2, 3), size=(28, 28)))
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="cat/0000.jpg"):
        data.cifar10_dataset()


def test_fake_cifar_folder_corrupt_jpeg(tmp_path, monkeypatch, cache):
    _write_fake_cifar_folder(tmp_path / "cifar10", n_train=1, n_test=1)
    (tmp_path / "cifar10" / "test" / "dog" / "0000.jpg").write_bytes(b"\xff\xd8\xff broken")
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(CnnvizError, match="dog/0000.jpg"):
        data.cifar10_dataset()


# ---------------------------------------------------------------- image folders

@pytest.fixture
def two_class_folder(tmp_path):
    root = tmp_path / "pets"
    # created in reverse name order: classes must come out sorted
    (root / "zebra").mkdir(parents=True)
    (root / "ant").mkdir()
    (root / ".hidden").mkdir()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(root / "ant" / "a1.png")
    Image.new("RGBA", (17, 50), (255, 0, 0, 255)).save(root / "ant" / "a2.PNG")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(root / "zebra" / "z1.jpg", quality=95)
    Image.new("L", (20, 10), 0).save(root / "zebra" / "z2.jpeg", quality=95)
    (root / "zebra" / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(root / ".hidden" / "h.png")
    return root


def _rgb_of(x):
    return x.reshape(-1, x.shape[-1]).mean(axis=0)


def _in_folder_order(root, d):
    """The test split sorted back into the folders' (class, file name) order."""
    files = list_images(root)
    order = np.argsort([f"{label}/{Path(f).name.lower()}" for f, label in zip(files.paths, files.labels)])
    return d.x_test[order], d.y_test[order]


def test_image_folder_rgb(two_class_folder):
    d = sources.image_folder_dataset(two_class_folder, (16, 24), channels=3)
    assert d.classes == ["ant", "zebra"]
    assert d.x_test.dtype == np.uint8 and d.x_test.shape == (4, 16, 24, 3)
    assert sorted(d.y_test[:2].tolist()) == sorted(d.y_test[2:].tolist()) == [0, 1]     # classes mixed
    d.x_test, d.y_test = _in_folder_order(two_class_folder, d)
    assert d.x_train.shape == (0, 16, 24, 3) and len(d.y_train) == 0
    assert d.input_shape == (16, 24, 3)
    assert d.name == "pets"
    for i in (0, 1):                                   # red ants
        np.testing.assert_allclose(_rgb_of(d.x_test[i]), [255, 0, 0], atol=3)
    np.testing.assert_allclose(_rgb_of(d.x_test[2]), [0, 0, 255], atol=6)   # blue zebra (JPEG)
    assert d.x_test[3].max() <= 4                      # black gray JPEG as RGB


def test_image_folder_gray(two_class_folder):
    d = sources.image_folder_dataset(two_class_folder, (12, 12), channels=1)
    assert d.x_test.dtype == np.uint8 and d.x_test.shape == (4, 12, 12, 1)
    d.x_test, d.y_test = _in_folder_order(two_class_folder, d)
    assert d.y_test.tolist() == [0, 0, 1, 1]
    assert abs(float(d.x_test[0].mean()) - 255 * 0.2125) < 3          # red's luminance
    assert abs(float(d.x_test[2].mean()) - 255 * 0.0721) < 3          # blue's luminance


def test_image_folder_progress_and_load_dataset(two_class_folder):
    calls = []
    d = sources.load_dataset(str(two_class_folder), (8, 8, 3), progress=lambda *a: calls.append(a))
    assert d.x_test.shape == (4, 8, 8, 3)
    assert calls[-1][:2] == (4, 4)
    with pytest.raises(CnnvizError, match="input shape"):
        sources.load_dataset(str(two_class_folder))


def test_image_folder_without_images(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "readme.txt").write_text("nothing here")
    with pytest.raises(CnnvizError, match="no image files"):
        sources.image_folder_dataset(tmp_path / "empty", (8, 8))
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "loose.png")     # no class sub-folder: loose, unlabelled
    loose = sources.image_folder_dataset(tmp_path / "flat", (8, 8))
    assert len(loose.x_test) == 1 and not loose.labelled


def test_image_folder_not_a_folder(tmp_path):
    with pytest.raises(CnnvizError, match="nowhere does not exist"):
        sources.image_folder_dataset(tmp_path / "nowhere", (8, 8))


def test_image_folder_skips_and_names_unreadable_files(two_class_folder):
    (two_class_folder / "ant" / "bad.jpg").write_bytes(b"nope")
    d = sources.image_folder_dataset(two_class_folder, (8, 8))
    assert len(d.x_test) == 4
    assert sorted(Path(f).name for f, _ in d.skipped) == ["bad.jpg", "notes.txt"]
    for f in ("a1.png", "a2.PNG", "z1.jpg", "z2.jpeg"):
        (two_class_folder / ("ant" if f[0] == "a" else "zebra") / f).write_bytes(b"broken too")
    with pytest.raises(CnnvizError, match="none of the 5 file"):
        sources.image_folder_dataset(two_class_folder, (8, 8))


def test_load_dataset_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CnnvizError, match="nosuch"):
        sources.load_dataset("nosuch")


def test_hash_helpers(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    assert data.file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
    a, b = np.arange(4, dtype=np.uint8), np.arange(3, dtype=np.uint8)
    assert data.arrays_sha256(a, b) == hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest()
    assert data.arrays_sha256(a, b) != data.arrays_sha256(b, a)


# ---------------------------------------------------------------- class-mixed order

def test_balanced_order_makes_every_prefix_class_balanced():
    labels = np.repeat(np.arange(4), [50, 30, 30, 10])            # sorted by class, as folders list them
    order = data.balanced_order(labels)
    assert sorted(order.tolist()) == list(range(len(labels)))
    for n in (4, 8, 40):
        assert np.bincount(labels[order[:n]], minlength=4).tolist() == [n // 4] * 4
    assert np.bincount(labels[order[:100]]).tolist() == [30, 30, 30, 10]   # a small class runs out, the rest go on
    np.testing.assert_array_equal(order, data.balanced_order(labels))    # fixed by the seed
    assert not np.array_equal(order, data.balanced_order(labels, seed=1))


@pytest.mark.parametrize("n", [10, 100, 1000])
@pytest.mark.data
@pytest.mark.skipif(REAL_CIFAR is None, reason="needs cifar10-jpg.zip in CNNVIZ_DATA")
def test_first_n_real_cifar_test_images_cover_every_class_equally(real_cifar, n):
    """The first 1,000 test images were all airplanes: every "first N" option
    (evaluate --limit, top-patches --limit, erf/compare/robustness --n) scored one class."""
    d, _ = real_cifar
    assert np.bincount(d.y_test[:n, 0], minlength=10).tolist() == [n // 10] * 10
    assert np.bincount(d.y_train[:n, 0], minlength=10).tolist() == [n // 10] * 10


@needs_data
@pytest.mark.data
def test_cifar10_test_split_alone_decodes_only_the_test_images(tmp_path, monkeypatch):
    from cnnviz.data.datasets import cifar10_dataset

    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path))                  # nothing cached yet
    data = cifar10_dataset(test_only=True)
    assert data.x_train.shape == (0, 32, 32, 3) and data.x_test.shape == (10000, 32, 32, 3)
    assert [p.name.split("-")[1] for p in (tmp_path / "datasets").iterdir()] == ["test"]
    again = cifar10_dataset(test_only=True)                               # from its own cache
    assert (again.x_test == data.x_test).all() and again.y_test.tolist() == data.y_test.tolist()


def test_a_mixed_sample_is_balanced_and_not_class_sorted():
    from cnnviz.data.datasets import mixed_sample

    y = np.repeat(np.arange(5), 40)
    pick = mixed_sample(y, 20, seed=3)
    assert len(set(pick)) == 20 and np.bincount(y[pick]).tolist() == [4] * 5
    assert np.any(np.diff(y[pick]) < 0)                       # not in class order
    np.testing.assert_array_equal(pick, mixed_sample(y, 20, seed=3))
