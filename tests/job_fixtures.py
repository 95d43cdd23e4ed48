"""A small image folder (two classes, mixed sizes and modes, one unreadable
file and one that is no image) and a tiny model, shared by the job tests:
a pytest plugin that tests/conftest.py loads (``pytest_plugins``), so
every test module can ask for them by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_folder(root: Path, n_per_class: int = 12, seed: int = 0) -> Path:
    """``root/cats`` and ``root/dogs``: RGB PNGs and JPEGs of mixed sizes,
    8-bit gray, 16-bit gray and RGBA images."""
    import imageio.v3 as iio

    rng = np.random.default_rng(seed)
    for name in ("cats", "dogs"):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            h, w = 16 + (i % 4) * 5, 16 + (i % 3) * 7
            kind = i % 4
            if kind == 0:
                iio.imwrite(folder / f"{i:02d}.png", rng.integers(0, 256, (h, w, 3), np.uint8))
            elif kind == 1:
                iio.imwrite(folder / f"{i:02d}.jpg", rng.integers(0, 256, (h, w, 3), np.uint8))
            elif kind == 2:
                iio.imwrite(folder / f"{i:02d}.png", rng.integers(0, 65536, (h, w), np.uint16))
            else:
                iio.imwrite(folder / f"{i:02d}.png", rng.integers(0, 256, (h, w, 4), np.uint8))
    return root


@pytest.fixture(scope="session")
def make_folder():
    """:func:`write_folder`, for tests that need their own folder."""
    return write_folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("folder"))


@pytest.fixture(scope="session")
def messy_folder(tmp_path_factory) -> Path:
    """The folder with a damaged JPEG and a text file among the images."""
    root = write_folder(tmp_path_factory.mktemp("messy"), n_per_class=6)
    (root / "cats" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "dogs" / "notes.txt").write_text("no image")
    return root


@pytest.fixture(scope="session")
def small_cnn():
    """16x16x3 -> 2 classes, two conv layers, fixed random weights."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")
