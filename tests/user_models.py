"""A corpus of the model shapes users bring, built in code (tiny, fixed
random weights), each with the pipeline its user feeds it (uint8 pixels ->
the model's input) and what its card declares. Every command, the API and the
app must read each one as its user does (tests/models/test_model_contract.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

SIDE = 12


@dataclass
class UserModel:
    name: str
    build: Callable
    pipeline: Callable                 # uint8 (N, H, W, C) -> the model's input, as its user computes it
    channels: int = 3
    card: dict = field(default_factory=dict)   # what the user declares in the sidecar card
    classes: tuple = ("c0", "c1", "c2")
    dense: bool = False                # a dense network on flattened pixels

    def save(self, folder: Path) -> Path:
        import json

        path = Path(folder) / f"{self.name}.keras"
        if not path.exists():
            self.build().save(path)
            if self.card:
                (Path(folder) / f"{self.name}.card.json").write_text(json.dumps(self.card))
        return path


def _keras():
    import keras

    keras.utils.set_random_seed(3)
    return keras


def _head(keras, x, n=3, activation="softmax"):
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(n, activation=activation, name="predictions",
                              kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))(x)


def _convs(keras, x, prefix=""):
    x = keras.layers.Conv2D(6, 3, activation="relu", padding="same", name=f"{prefix}conv1")(x)
    return keras.layers.Conv2D(8, 3, activation="relu", padding="same", name=f"{prefix}conv2")(x)


def rescaling_first():
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    return keras.Model(inputs, _head(keras, _convs(keras, x)), name="model_1")


def normalization_first():
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Normalization(mean=[120.0, 110.0, 100.0], variance=[3600.0, 3000.0, 4000.0], name="norm")(inputs)
    return keras.Model(inputs, _head(keras, _convs(keras, x)), name="model_2")


def minus_one_to_one():
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 3))
    return keras.Model(inputs, _head(keras, _convs(keras, inputs)), name="model_3")


def nested_block():
    keras = _keras()
    block = keras.Sequential([keras.Input((SIDE, SIDE, 3)),
                              keras.layers.Conv2D(6, 3, activation="relu", padding="same", name="b_conv1"),
                              keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="b_conv2")],
                             name="features_block")
    inputs = keras.Input((SIDE, SIDE, 3))
    return keras.Model(inputs, _head(keras, block(inputs)), name="model_4")


def logits_head():
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 3))
    return keras.Model(inputs, _head(keras, _convs(keras, inputs), activation=None), name="model_5")


def grayscale():
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 1))
    return keras.Model(inputs, _head(keras, _convs(keras, inputs)), name="model_6")


def dense_network():
    keras = _keras()
    inputs = keras.Input((SIDE * SIDE,))
    x = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions",
                                 kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))(x)
    return keras.Model(inputs, outputs, name="model_7")


def class_score_cam():
    """A network whose last convolution has one channel per class feeding a
    global pooling into the softmax (a class-score map, not a feature map)."""
    keras = _keras()
    inputs = keras.Input((SIDE, SIDE, 3))
    x = _convs(keras, inputs)
    x = keras.layers.Conv2D(3, 1, name="class_maps")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Softmax(name="softmax")(x), name="model_8")


def _f(x):
    return np.asarray(x, np.float32)


CORPUS = (
    UserModel("rescaling", rescaling_first, lambda x: _f(x)),
    UserModel("normalization", normalization_first, lambda x: _f(x)),
    UserModel("minus_one", minus_one_to_one, lambda x: _f(x) / 127.5 - 1, card={"preprocessing": "tf"}),
    UserModel("nested", nested_block, lambda x: _f(x) / 255),
    UserModel("logits", logits_head, lambda x: _f(x) / 255),
    UserModel("gray", grayscale, lambda x: _f(x) / 255, channels=1, classes=("zebra", "apple", "mango"),
              card={"classes": ["zebra", "apple", "mango"]}),
    UserModel("dense", dense_network, lambda x: _f(x).reshape(len(x), -1) / 255, channels=1, dense=True),
)
CONV_CORPUS = tuple(m for m in CORPUS if not m.dense)


def images(channels: int, n: int = 24, seed: int = 0) -> np.ndarray:
    """Varied uint8 images: smooth colour fields with a bright square, so a
    random network's predictions differ between them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    out = np.empty((n, SIDE, SIDE, channels), np.uint8)
    for i in range(n):
        a, b, c = rng.uniform(-1, 1, 3)
        field_ = 127 + 120 * np.tanh(a * xx * 3 + b * yy * 3 + c)
        image = np.stack([np.roll(field_, k * 3, axis=k % 2) for k in range(channels)], axis=-1)
        r, s = rng.integers(0, SIDE - 4, 2)
        image[r:r + 4, s:s + 4] = rng.uniform(0, 255, channels)
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out


def write_images(folder: Path, pixels: np.ndarray, names: list[str]) -> list[Path]:
    """PNG files (lossless: they read back to the same pixels), gray or RGB."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, name in zip(pixels, names):
        path = folder / name
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
        paths.append(path)
    return paths
