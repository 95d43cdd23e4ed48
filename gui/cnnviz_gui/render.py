"""Turning cnnviz's arrays into Qt images: colour maps, tiled grids, colour
bars, overlays. Pure functions of NumPy arrays (plus QImage/QPixmap)."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

_LUTS: dict[str, np.ndarray] = {}

MAPS_CMAP = "inferno"      # activations: black (low) to yellow (high)
WEIGHTS_CMAP = "RdBu_r"    # signed weights: blue (negative), white (zero), red (positive)


def colorize(values: np.ndarray, cmap: str = MAPS_CMAP) -> np.ndarray:
    """Values in [0, 1] to RGB uint8 through a matplotlib colour map."""
    if cmap not in _LUTS:
        _LUTS[cmap] = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    index = np.clip(np.nan_to_num(values) * 255, 0, 255).astype(np.uint8)
    return _LUTS[cmap][index]


def signed_unit(values: np.ndarray, axes=None) -> tuple[np.ndarray, np.ndarray]:
    """Signed values to [0, 1] with zero at 0.5, scaled by the largest
    magnitude over ``axes`` (all by default); returns (scaled, that magnitude)."""
    values = np.asarray(values, np.float32)
    peak = np.max(np.abs(values), axis=axes, keepdims=axes is not None)
    return 0.5 + 0.5 * values / np.maximum(peak, 1e-12), peak


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


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """(h, w), (h, w, 1) or (h, w, 3) uint8 to (h, w, 3)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels[..., :3]


def to_qimage(rgb: np.ndarray) -> QImage:
    """RGB or gray uint8 array to a QImage that owns its pixels (safe to
    build on any thread)."""
    rgb = np.ascontiguousarray(as_rgb(rgb))
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def to_pixmap(rgb: np.ndarray, scale: int = 1) -> QPixmap:
    """RGB or gray uint8 array to a QPixmap, enlarged by an integer ``scale``
    with nearest-neighbour sampling (pixels stay visible)."""
    rgb = as_rgb(rgb)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return QPixmap.fromImage(to_qimage(rgb))


def fit_scale(shape, size: int) -> int:
    """The integer enlargement that brings the larger side of ``shape`` closest
    to ``size`` pixels without exceeding it (at least 1)."""
    return max(1, size // max(int(shape[0]), int(shape[1]), 1))


def fit_pixmap(rgb: np.ndarray, size: int) -> tuple[QPixmap, float]:
    """The image as a pixmap whose larger side is about ``size`` pixels, and
    its scale: whole-pixel enlargement (crisp pixels) when it fits at least
    twice, else scaled (smoothly when shrinking)."""
    h, w = rgb.shape[:2]
    k = size // max(h, w, 1)
    if k >= 2:
        return to_pixmap(rgb, k), float(k)
    scale = size / max(h, w, 1)
    pixmap = to_pixmap(rgb)
    mode = Qt.TransformationMode.SmoothTransformation if scale < 1 else Qt.TransformationMode.FastTransformation
    return pixmap.scaled(max(1, round(w * scale)), max(1, round(h * scale)),
                         Qt.AspectRatioMode.IgnoreAspectRatio, mode), scale


def colorbar(cmap: str, width: int = 160, height: int = 12) -> np.ndarray:
    """A horizontal gradient of ``cmap`` from 0 (left) to 1 (right)."""
    return np.repeat(colorize(np.linspace(0, 1, width), cmap)[None], height, axis=0)


def resize_nearest(values: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize of a (h, w[, c]) array to ``shape`` (H, W)."""
    rows = (np.arange(shape[0]) * values.shape[0] // shape[0]).clip(0, values.shape[0] - 1)
    cols = (np.arange(shape[1]) * values.shape[1] // shape[1]).clip(0, values.shape[1] - 1)
    return values[rows][:, cols]


def overlay(pixels: np.ndarray, map01: np.ndarray, alpha: float = 0.55, cmap: str = MAPS_CMAP) -> np.ndarray:
    """An image with a [0, 1] map laid over it in colour (the map stretched to
    the image's size; more opaque where the map is high)."""
    base = as_rgb(pixels).astype(np.float32)
    heat = resize_nearest(np.asarray(map01, np.float32), base.shape[:2])
    colour = colorize(heat, cmap).astype(np.float32)
    a = alpha * heat[..., None]
    gray = base.mean(axis=-1, keepdims=True) * 0.6
    return np.clip(gray * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def format_value(v: float) -> str:
    """A compact number for labels: 3 significant digits."""
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.2e}"
