"""Reading users' photos (JPEG, PNG, BMP, GIF, TIFF; gray, RGB, RGBA, 16-bit)
with scikit-image and turning them into a model's input.

``load_image(path, model)`` returns both the model's input and a displayable
RGB uint8 image, and notes what it had to convert.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.errors import CnnvizError, short
from ..common.validate import api

SAMPLE_PREFIX = "skimage:"
SAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "camera", "cat")


@dataclass
class LoadedImage:
    """An image ready for a model, with what a person should see."""

    source: str
    display: np.ndarray            # the original as RGB uint8 (H, W, 3)
    pixels: np.ndarray             # uint8 at the model's size and channels (h, w, c)
    x: np.ndarray                  # float32 model input (h, w, c), preprocessed
    notes: list[str] = field(default_factory=list)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (or ``skimage:NAME``, a photo scikit-image ships) as
    uint8, shaped (H, W) for grayscale or (H, W, 3) for colour."""
    text = str(path)
    if text.startswith(SAMPLE_PREFIX):
        return _sample(text[len(SAMPLE_PREFIX):])
    p = Path(path)
    if p.is_dir():
        raise CnnvizError(f"{p} is a folder, not an image file: give one of the images in it")
    if not p.is_file():
        raise CnnvizError(f"image {p} does not exist: check the path")
    try:
        image = _decode(p)
    except Exception as exc:
        raise CnnvizError(f"cannot read {p} as an image ({short(exc)}): give a JPEG, PNG, BMP, GIF or TIFF file") from exc
    return normalize_image(np.asarray(image), str(p))


def _decode(path: Path) -> np.ndarray:
    """The first frame of an image file, through imageio (scikit-image's own
    reader): Pillow first, as it reads every common format page by page and
    converts CMYK; imageio's other plugins for the rest."""
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="pillow")
    except Exception:
        return iio.imread(path, index=0)
    mode = "RGB" if meta.get("mode") == "CMYK" else None
    return iio.imread(path, index=0, plugin="pillow", mode=mode)


def _sample(name: str) -> np.ndarray:
    import skimage.data

    if name not in SAMPLES:
        raise CnnvizError(f"unknown sample image {name!r}: use skimage:{' / skimage:'.join(SAMPLES)}")
    return normalize_image(getattr(skimage.data, name)(), SAMPLE_PREFIX + name)


def normalize_image(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Any decoded image array to uint8 (H, W) or (H, W, 3): first frame of an
    animation, alpha composited over white, 16-bit and float rescaled."""
    from skimage import color, exposure, util

    if image.dtype.kind not in "biuf" or image.ndim not in (2, 3, 4) or image.size == 0:
        raise CnnvizError(f"{source} is not a 2-D image (shape {image.shape}): give a single picture")
    if image.ndim == 4 or (image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4)):
        image = image[0]                                  # first frame of a GIF / multi-page TIFF
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype.kind == "f":
        finite = np.isfinite(image)
        bad = int(np.count_nonzero(~(finite.all(axis=-1) if image.ndim == 3 else finite)))
        if bad:
            raise CnnvizError(f"{source} has {bad} pixel(s) that are not finite (NaN or inf): it is not a picture "
                              "cnnviz can show a model; fix or replace the file")
        image = exposure.rescale_intensity(image, in_range=(0.0, 1.0) if image.max() <= 1 else "image",
                                           out_range=(0.0, 1.0))
        image = util.img_as_ubyte(image)
    elif image.dtype != np.uint8:
        image = util.img_as_ubyte(image) if image.dtype.kind == "u" else util.img_as_ubyte(
            exposure.rescale_intensity(image, out_range=(0.0, 1.0)))
    if image.ndim == 3:
        channels = image.shape[-1]
        if channels == 1:
            image = image[..., 0]
        elif channels == 2:                               # gray + alpha
            alpha = image[..., 1:2] / 255.0
            image = (image[..., :1] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)[..., 0]
        elif channels == 4:
            image = util.img_as_ubyte(color.rgba2rgb(image))
    if min(image.shape[:2]) < 1:
        raise CnnvizError(f"{source} has no pixels: give a real picture")
    return image


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 gray or RGB to RGB uint8 (H, W, 3), for display."""
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def conform(image: np.ndarray, size: tuple, channels: int) -> np.ndarray:
    """Resize a uint8 image to ``size`` (H, W; None keeps that side) and convert
    it to ``channels`` (1 or 3) channels. Returns uint8 (H, W, C)."""
    from skimage import color, transform, util

    if channels not in (1, 3):
        raise CnnvizError(f"models with {channels} input channels are not supported: cnnviz handles 1 (gray) or 3 (RGB)")
    if channels == 1 and image.ndim == 3:
        image = util.img_as_ubyte(color.rgb2gray(image))
    elif channels == 3 and image.ndim == 2:
        image = to_rgb(image)
    target = tuple(s if s is not None else image.shape[i] for i, s in enumerate(size[:2]))
    if target != image.shape[:2]:
        resized = transform.resize(image, target, anti_aliasing=True, preserve_range=True)
        image = np.clip(resized.round(), 0, 255).astype(np.uint8)
    return image[..., None] if image.ndim == 2 else image


# How uint8 pixels become a model's input. caffe, tf and torch are the modes of
# keras.applications' preprocess_input (each family's preprocess_input is one of
# them, or the identity when the model rescales inside: raw); vgg16 is caffe,
# the name cnnviz used first.
PREPROCESSINGS = ("scale01", "raw", "caffe", "tf", "torch", "vgg16")
KERAS_MODES = {"caffe": "caffe", "vgg16": "caffe", "tf": "tf", "torch": "torch"}
PREPROCESSING_TEXT = {
    "scale01": "pixels / 255, in [0, 1]",
    "raw": "pixels as they are, in [0, 255]",
    "caffe": "BGR with the ImageNet mean subtracted (caffe)",
    "vgg16": "BGR with the ImageNet mean subtracted (caffe)",
    "tf": "scaled to [-1, 1] (tf)",
    "torch": "scaled to [0, 1], then ImageNet mean and std normalized (torch)",
}
IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)     # keras' "torch" mode
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
VGG16_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)   # keras' "caffe" mode


def _check(preprocessing: str) -> None:
    if preprocessing not in PREPROCESSINGS:
        raise CnnvizError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSINGS)}")


def to_model_input(x255, preprocessing: str):
    """0-255 pixels (a NumPy array or a tensor, differentiably) to the model's
    input scale; the keras.applications modes through Keras' own
    ``imagenet_utils.preprocess_input``, which every family's calls."""
    _check(preprocessing)
    if preprocessing == "scale01":
        return x255 / 255.0
    if preprocessing == "raw":
        return x255
    from keras.applications import imagenet_utils

    if isinstance(x255, np.ndarray):
        x255 = x255.copy()                 # Keras' NumPy path works in place
    return imagenet_utils.preprocess_input(x255, mode=KERAS_MODES[preprocessing])


def preprocess(pixels: np.ndarray, preprocessing: str) -> np.ndarray:
    """uint8 (or 0-255 float) pixels to the model's input scale."""
    return np.asarray(to_model_input(np.asarray(pixels, dtype=np.float32), preprocessing), np.float32)


def deprocess(x: np.ndarray, preprocessing: str) -> np.ndarray:
    """Model input back to 0-255 float pixels (RGB or gray): the inverse of :func:`preprocess`."""
    _check(preprocessing)
    x = np.asarray(x, dtype=np.float32)
    if preprocessing == "scale01":
        return x * 255.0
    if preprocessing == "raw":
        return x
    mode = KERAS_MODES[preprocessing]
    if mode == "caffe":
        return (x + VGG16_MEAN_BGR)[..., ::-1]
    if mode == "tf":
        return (x + 1.0) * 127.5
    return (x * IMAGENET_STD_RGB + IMAGENET_MEAN_RGB) * 255.0


def prepare(image: np.ndarray, model, source: str = "image") -> LoadedImage:
    """A uint8 image (gray or RGB) made into ``model``'s input, with notes."""
    from ..models.zoo import input_shape, model_info, weights_note

    info = model_info(model)
    h, w, c = input_shape(model)
    notes = []
    if min(image.shape[:2]) < 8 and (h is None or w is None):
        raise CnnvizError(f"{source} is only {image.shape[1]}x{image.shape[0]} pixels: give a larger image")
    if (image.ndim == 3) != (c == 3):
        notes.append(f"converted {'colour' if image.ndim == 3 else 'grayscale'} to "
                     f"{'RGB' if c == 3 else 'grayscale'} for {info.name}")
    pixels = conform(image, (h, w), c)
    if (h, w) != (None, None) and image.shape[:2] != pixels.shape[:2]:
        notes.append(f"resized {image.shape[1]}x{image.shape[0]} to {pixels.shape[1]}x{pixels.shape[0]}")
    if info.dataset == "mnist" and c == 1 and _border_mean(pixels) > 127:
        pixels = 255 - pixels
        notes.append("inverted to light-on-dark, as MNIST digits are")
    if info.preprocessing_note:
        notes.append(info.preprocessing_note)
    if weights_note(model):
        notes.append(weights_note(model))
    return LoadedImage(source, to_rgb(image), pixels, preprocess(pixels, info.preprocessing), notes)


def _border_mean(pixels: np.ndarray) -> float:
    p = pixels[..., 0].astype(float)
    return float(np.concatenate([p[0], p[-1], p[:, 0], p[:, -1]]).mean())


@api
def load_image(path: str | os.PathLike, model) -> LoadedImage:
    """Read an image file and prepare it for ``model`` (see :func:`prepare`)."""
    return prepare(read_image(path), model, str(path))
