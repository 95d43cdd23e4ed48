"""A planted concept: 32x32 gray images in three classes where class 0
("striped") is a blob marked by diagonal stripes, class 1 ("plain") the blob
alone, class 2 ("ringed") a ring; a tiny CNN trained on them here,
in seconds, so a test knows which concept the model uses for which class.
Shared by the concept tests and the app's Concepts tab tests."""
from __future__ import annotations

import numpy as np
import pytest

SIZE = 32
CLASSES = ("striped", "plain", "ringed")


def stripes(rng, n: int) -> np.ndarray:
    """Diagonal stripes of random period and phase, (n, 32, 32) in [0, 1]."""
    i, j = np.mgrid[:SIZE, :SIZE]
    period = rng.integers(4, 7, n)[:, None, None]
    phase = rng.integers(0, 6, n)[:, None, None]
    return (((i + j)[None] + phase) % period < period / 2).astype(np.float32)


def dots(rng, n: int) -> np.ndarray:
    out = np.zeros((n, SIZE, SIZE), np.float32)
    for k in range(n):
        ys, xs = rng.integers(1, SIZE - 2, (2, 14))
        for y, x in zip(ys, xs):
            out[k, y:y + 2, x:x + 2] = 1
    return out


def blobs(rng, n: int) -> np.ndarray:
    i, j = np.mgrid[:SIZE, :SIZE]
    cy, cx = rng.uniform(8, 24, (2, n, 1, 1))
    r = rng.uniform(4, 8, (n, 1, 1))
    return np.exp(-((i - cy) ** 2 + (j - cx) ** 2) / (2 * r ** 2)).astype(np.float32)


def rings(rng, n: int) -> np.ndarray:
    i, j = np.mgrid[:SIZE, :SIZE]
    cy, cx = rng.uniform(10, 22, (2, n, 1, 1))
    r = rng.uniform(5, 9, (n, 1, 1))
    return np.exp(-(np.sqrt((i - cy) ** 2 + (j - cx) ** 2) - r) ** 2 / 2).astype(np.float32)


def to_pixels(images: np.ndarray, rng) -> np.ndarray:
    noisy = np.clip(images + rng.normal(0, 0.08, images.shape), 0, 1)
    return (noisy * 255).round().astype(np.uint8)[..., None]


def dataset(n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 32, 32, 1) images and labels of the three classes."""
    rng = np.random.default_rng(seed)
    base = [blobs(rng, n_per_class) for _ in CLASSES]
    images = [0.6 * base[0] + 0.5 * stripes(rng, n_per_class), 0.6 * base[1], 0.6 * rings(rng, n_per_class)]
    x = np.concatenate([to_pixels(im, rng) for im in images])
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    return x, y


def concept(kind: str, n: int, seed: int = 1) -> np.ndarray:
    """Concept examples: "stripes" or "dots" alone (no blob), or "random" noise."""
    rng = np.random.default_rng(seed)
    if kind == "stripes":
        return to_pixels(0.5 * stripes(rng, n), rng)
    if kind == "dots":
        return to_pixels(0.5 * dots(rng, n), rng)
    kind = rng.integers(0, 3, n)[:, None, None]           # random images: pixel noise, smooth noise, blobs
    pixel = 0.5 * (rng.random((n, SIZE, SIZE)) < rng.uniform(0.2, 0.6, (n, 1, 1)))
    smooth = np.kron(rng.random((n, SIZE // 4, SIZE // 4)), np.ones((4, 4))) * 0.6
    return to_pixels(np.where(kind == 0, pixel, np.where(kind == 1, smooth, 0.6 * blobs(rng, n))), rng)


def trained_model(seed: int = 0):
    """Conv(8) - pool - Conv(16, "conv2") - pool - Dense(16) - Dense(3) trained on :func:`dataset`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="out")(x)
    model = keras.Model(inputs, outputs, name="planted")
    x_train, y_train = dataset(150, seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train / 255.0, y_train, epochs=6, batch_size=32, verbose=0, shuffle=True)
    return model


# ---------------------------------------------------------------- fixtures (a plugin of tests/conftest.py)

@pytest.fixture(scope="session")
def planted_model():
    """The planted-concept model, trained once per test session."""
    return trained_model()


@pytest.fixture(scope="session")
def planted_data():
    return dataset(30, seed=5)


def write_pngs(folder, images: np.ndarray, prefix: str = ""):
    """``images`` (N, H, W, 1) as numbered grayscale PNGs in ``folder``."""
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        iio.imwrite(folder / f"{prefix}{i:02d}.png", im[..., 0])
    return folder


def write_model_and_classes(root, model, n_per_class: int, prefix: str = ""):
    """``root`` holding the planted model as ``planted.keras`` with its card
    (class names, scale01) and ``data/<class>/`` folders of its images."""
    import json

    model.save(root / "planted.keras")
    (root / "planted.card.json").write_text(json.dumps({"classes": list(CLASSES), "preprocessing": "scale01"}))
    x, y = dataset(n_per_class, seed=7)
    for c, name in enumerate(CLASSES):
        write_pngs(root / "data" / name, x[y == c], prefix)
    return root
