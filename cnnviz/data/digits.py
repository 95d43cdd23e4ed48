"""A hand-drawn digit made into an MNIST-like 28x28 image, the way the MNIST
digits themselves were made (LeCun, Cortes & Burges, "The MNIST database"):
the digit's bounding box is scaled, keeping its aspect ratio, to fit a 20x20
box (anti-aliased, so grey levels appear), and that box is placed in the
28x28 field so that the centre of mass of its pixels lies at the field's
centre. A model trained on MNIST expects exactly this: a stroke drawn in a
corner of a pad would otherwise reach it off-centre and at the wrong size.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..common.errors import CnnvizError

FIELD, BOX = 28, 20


def mnist_digit(canvas: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """A grey (H, W) drawing, white ink on black, any size, as a (28, 28)
    uint8 MNIST-style digit; an empty drawing gives an empty field.
    Pixels at or below ``threshold`` count as background."""
    # scikit-image's import takes a second: only when a digit is drawn
    from skimage.transform import resize

    canvas = np.asarray(canvas)
    if canvas.ndim != 2:
        raise CnnvizError(f"a drawn digit is one grey image, not shape {canvas.shape}: give (height, width)")
    ink = canvas.astype(np.float32)
    rows, cols = np.nonzero(ink > threshold)
    field = np.zeros((FIELD, FIELD), np.float32)
    if rows.size == 0:
        return field.astype(np.uint8)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = resize(crop, size, order=1, anti_aliasing=scale < 1, preserve_range=True)
    top, left = (FIELD - size[0]) // 2, (FIELD - size[1]) // 2
    field[top:top + size[0], left:left + size[1]] = small
    com = np.array(ndimage.center_of_mass(field))
    shift = np.round((FIELD - 1) / 2 - com)
    field = ndimage.shift(field, shift, order=0, mode="constant", cval=0.0)
    return np.clip(np.round(field), 0, 255).astype(np.uint8)
