"""Turning cnnviz's arrays into Qt images: colour maps, tiled grids."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PySide6.QtGui import QImage, QPixmap

_LUTS: dict[str, np.ndarray] = {}


def colorize(values: np.ndarray, cmap: str = "inferno") -> np.ndarray:
    """Values in [0, 1] to RGB uint8 through a matplotlib colour map."""
    if cmap not in _LUTS:
        _LUTS[cmap] = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    index = np.clip(np.nan_to_num(values) * 255, 0, 255).astype(np.uint8)
    return _LUTS[cmap][index]


def tile(images: np.ndarray, columns: int, gap: int = 2, background: int = 40) -> np.ndarray:
    """(N, h, w, 3) uint8 tiles to one (rows*h, columns*w, 3) mosaic."""
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), background, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[i]
    return out


def grid_columns(n: int) -> int:
    return max(1, int(np.ceil(np.sqrt(n))))


def to_pixmap(rgb: np.ndarray, scale: int = 1) -> QPixmap:
    """RGB or gray uint8 array to a QPixmap, enlarged by an integer ``scale``
    with nearest-neighbour sampling (pixels stay visible)."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())
