"""Data augmentation with the options ``ImageDataGenerator`` users know
(rotation, width/height shift, zoom, flips, channel shift, brightness), built
from Keras 3 preprocessing layers that run inside a ``tf.data`` pipeline.

Images are float in [0, 1] with a channel axis. ``ImageDataGenerator`` gives
rotation in degrees and shifts and zoom as fractions; the Keras layers take
rotation as a fraction of a full turn, which :func:`augmentation_layers`
converts. Channel shift adds an offset to each channel (a fraction of the
[0, 1] range, drawn per image and channel); brightness adds one offset to all
channels (``keras.layers.RandomBrightness``).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import Optional

from ..common.errors import CnnvizError
from .sources import named


@dataclass(frozen=True)
class Augmentation:
    """What to vary, in ``ImageDataGenerator``'s terms; all zero means none."""

    rotation: float = 0.0          # degrees, +-
    width_shift: float = 0.0       # fraction of the width, +-
    height_shift: float = 0.0      # fraction of the height, +-
    zoom: float = 0.0              # fraction, +-
    horizontal_flip: bool = False
    vertical_flip: bool = False
    channel_shift: float = 0.0     # fraction of the [0, 1] range, +-, per channel
    brightness: float = 0.0        # fraction of the [0, 1] range, +-, all channels

    def __post_init__(self):
        for name in ("rotation", "width_shift", "height_shift", "zoom", "channel_shift", "brightness"):
            value = getattr(self, name)
            limit = 180 if name == "rotation" else 1
            if not 0 <= value <= limit:
                flag = "--" + name.replace("_", "-")
                raise CnnvizError(f"{flag} {value} is out of range: give a value between 0 and {limit}")

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def to_json(self) -> dict:
        return asdict(self)


NONE = Augmentation()


def preset(dataset: Optional[str]) -> Augmentation:
    """The lecture preset (``--augment``): rotations of 15 degrees, shifts of
    10%, and horizontal flips for photos (CIFAR-10, folders) but not for digits
    (a named dataset declares whether its images flip: :data:`.sources.NAMED`)."""
    known = named(dataset or "")
    return Augmentation(rotation=15, width_shift=0.1, height_shift=0.1,
                        horizontal_flip=known.flips if known is not None else True)


def augmentation_layers(aug: Augmentation, seed: Optional[int] = None):
    """A ``keras.Sequential`` of preprocessing layers doing ``aug`` when called
    with ``training=True`` (and nothing otherwise)."""
    import keras

    layers = []
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation / 360, fill_mode="nearest", seed=seed))
    if aug.width_shift or aug.height_shift:
        layers.append(keras.layers.RandomTranslation(aug.height_shift, aug.width_shift, fill_mode="nearest",
                                                     seed=seed))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, fill_mode="nearest", seed=seed))
    mode = "horizontal_and_vertical" if aug.horizontal_flip and aug.vertical_flip else \
        "horizontal" if aug.horizontal_flip else "vertical" if aug.vertical_flip else None
    if mode:
        layers.append(keras.layers.RandomFlip(mode, seed=seed))
    if aug.channel_shift:
        layers.append(RandomChannelShift(aug.channel_shift, seed=seed))
    if aug.brightness:
        layers.append(keras.layers.RandomBrightness(aug.brightness, value_range=(0.0, 1.0), seed=seed))
    return keras.Sequential(layers, name="augmentation")


@functools.cache
def _channel_shift_class():
    import keras

    class RandomChannelShift(keras.layers.Layer):
        """Add a random offset in [-``shift``, ``shift``] to each channel of
        each image, clipped to [0, 1] (``ImageDataGenerator``'s channel shift)."""

        def __init__(self, shift: float, seed: Optional[int] = None, **kwargs):
            super().__init__(**kwargs)
            self.shift = shift
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=True):
            if not training:
                return images
            shape = keras.ops.shape(images)
            offset = keras.random.uniform((shape[0], 1, 1, shape[-1]), -self.shift, self.shift,
                                          seed=self.seed_generator)
            return keras.ops.clip(images + offset, 0.0, 1.0)

        def get_config(self):
            return {**super().get_config(), "shift": self.shift}

    return RandomChannelShift


def RandomChannelShift(shift: float, seed: Optional[int] = None):   # noqa: N802 (a layer constructor)
    return _channel_shift_class()(shift, seed=seed, name="random_channel_shift")


def augment_batch(images, aug: Augmentation, seed: Optional[int] = None):
    """``images`` (N, H, W, C) float in [0, 1] augmented once (a NumPy array)."""
    import numpy as np

    return np.asarray(augmentation_layers(aug, seed)(images, training=True))
