"""Reading users' photos (JPEG, PNG, BMP, GIF, TIFF; gray, RGB, RGBA, 16-bit)
with scikit-image as uint8 arrays, and resizing them to a size and channel
count. Making them a model's input is :mod:`cnnviz.models.inputs`.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..common.errors import CnnvizError, short

SAMPLE_PREFIX = "skimage:"
SAMPLES = ("chelsea", "coffee", "astronaut", "rocket", "camera", "cat")
MAX_PIXELS = 100_000_000      # per decoded image (CNNVIZ_MAX_PIXELS): 10000x10000, 300 MB as RGB


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
    except CnnvizError:
        raise
    except Exception as exc:
        raise CnnvizError(f"cannot read {p} as an image ({short(exc)}): "
                          "give a JPEG, PNG, BMP, GIF or TIFF file") from exc
    return normalize_image(np.asarray(image), str(p))


def max_pixels() -> int:
    """The most pixels cnnviz decodes from one image: ``CNNVIZ_MAX_PIXELS``,
    else :data:`MAX_PIXELS`. A guard against decompression bombs (a PNG of
    24 KB on disk can hold 12000x12000 pixels, gigabytes once decoded)."""
    value = os.environ.get("CNNVIZ_MAX_PIXELS")
    if not value:
        return MAX_PIXELS
    try:
        limit = int(float(value))
    except (ValueError, OverflowError):
        limit = 0
    if limit < 1:
        raise CnnvizError(f"CNNVIZ_MAX_PIXELS={value!r} is not a pixel count: give a whole number such as "
                          f"{MAX_PIXELS} (or unset it)")
    return limit


def _over_limit(path: Path, pixels: int, limit: int, size: str = "") -> CnnvizError:
    return CnnvizError(f"{path} is {size}{pixels / 1e6:.0f} million pixels{')' if size else ''}, over cnnviz's "
                       f"limit of {limit / 1e6:g} million pixels per image: reduce the image, or raise the limit "
                       f"with CNNVIZ_MAX_PIXELS={pixels} if you trust the file")


def _decode(path: Path) -> np.ndarray:
    """The first frame of an image file, through imageio (scikit-image's own
    reader): Pillow first, as it reads every common format page by page and
    converts CMYK; imageio's other plugins for the rest.

    The size is read from the header first: an image over :func:`max_pixels`
    is decoded at a reduced scale where the format allows it (JPEG: Pillow's
    ``draft``, the decoder skips the detail), else refused before decoding."""
    import imageio.v3 as iio
    from PIL import Image

    limit = max_pixels()
    # Our limit is checked from the header below, with a message that says what to do; Pillow's warning would
    # only repeat it raw, and its error (at twice its own limit) must not come before ours.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > limit:
                if image.format != "JPEG":
                    raise _over_limit(path, width * height, limit, f"{width}x{height} (")
                return _draft(image, path, limit)
            mode = "RGB" if image.mode == "CMYK" else None
    except CnnvizError:
        raise
    except Image.DecompressionBombError as exc:
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise _over_limit(path, int(pixels.group(1)) if pixels else limit + 1, limit) from None
    except Exception:                     # not a format Pillow opens: imageio's other plugins, size checked first
        shape = iio.improps(path, index=0).shape
        if len(shape) >= 2 and int(np.prod(shape[:2])) > limit:
            raise _over_limit(path, int(np.prod(shape[:2])), limit, f"{shape[1]}x{shape[0]} (") from None
        return iio.imread(path, index=0)
    return iio.imread(path, index=0, plugin="pillow", mode=mode)


def _draft(image, path: Path, limit: int) -> np.ndarray:
    """A JPEG over the limit decoded at the largest scale (1/2, 1/4, 1/8) under it."""
    width, height = image.size
    for scale in (2, 4, 8):
        if (width // scale) * (height // scale) <= limit:
            image.draft("L" if image.mode == "L" else "RGB", (width // scale, height // scale))
            return np.asarray(image.convert("L" if image.mode == "L" else "RGB"))
    raise _over_limit(path, width * height, limit, f"{width}x{height} (")


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
        raise CnnvizError(f"models with {channels} input channels are not supported: "
                          "cnnviz handles 1 (gray) or 3 (RGB)")
    if channels == 1 and image.ndim == 3:
        image = util.img_as_ubyte(color.rgb2gray(image))
    elif channels == 3 and image.ndim == 2:
        image = to_rgb(image)
    target = tuple(s if s is not None else image.shape[i] for i, s in enumerate(size[:2]))
    if target != image.shape[:2]:
        resized = transform.resize(image, target, anti_aliasing=True, preserve_range=True)
        image = np.clip(resized.round(), 0, 255).astype(np.uint8)
    return image[..., None] if image.ndim == 2 else image
