"""Drawing attribution maps: heatmaps with percentile clipping (as Captum and
PAIR saliency do), signed (blue-white-red, centred on zero) or absolute views,
overlays on the image with colour bars, the ``cnnviz explain`` report and the
deletion/insertion curves of ``cnnviz compare``. Computation is elsewhere."""
from __future__ import annotations

import textwrap
from typing import Optional, Sequence

import numpy as np
from matplotlib import colormaps

from .figure import Figure

ABS_CMAP, SIGNED_CMAP = "inferno", "RdBu_r"


def scale(amap: np.ndarray, signed: bool, percentile: float = 99.0) -> np.ndarray:
    """A map scaled for display: absolute maps to [0, 1] by their
    ``percentile``; signed maps to [-1, 1] by that percentile of |map|."""
    amap = np.asarray(amap, np.float64)
    top = _clip_top(amap, signed, percentile)
    if signed:
        return np.clip(amap / top, -1, 1)
    return np.clip((amap - amap.min()) / top, 0, 1)


def _clip_top(amap: np.ndarray, signed: bool, percentile: float) -> float:
    """What :func:`scale` maps to 1: the percentile of |map| (signed) or of map - min."""
    values = np.abs(amap) if signed else amap - amap.min()
    top = float(np.percentile(values, percentile))
    return top if top > 0 else (float(values.max()) or 1.0)


def scale_limits(amap: np.ndarray, signed: bool, percentile: float = 99.0) -> tuple[float, float]:
    """The map values at the two ends of :func:`scale`'s range (what a colour
    bar's ends mean): (-top, top) for signed maps, (min, min + top) otherwise."""
    amap = np.asarray(amap, np.float64)
    top = _clip_top(amap, signed, percentile)
    return (-top, top) if signed else (float(amap.min()), float(amap.min()) + top)


def heatmap_rgb(amap: np.ndarray, signed: bool, percentile: float = 99.0) -> np.ndarray:
    """The map as an RGB float image in [0, 1] (H, W, 3)."""
    scaled = scale(amap, signed, percentile)
    cmap = colormaps[SIGNED_CMAP if signed else ABS_CMAP]
    return cmap((scaled + 1) / 2 if signed else scaled)[..., :3]


def overlay_rgb(image: np.ndarray, amap: np.ndarray, signed: bool, alpha: float = 0.5,
                percentile: float = 99.0) -> np.ndarray:
    """The heatmap blended over the image (uint8 or [0, 1], gray or RGB) as
    uint8 RGB; where a signed map is near zero the image shows through."""
    base = np.asarray(image, np.float64)
    base = base / 255.0 if base.max() > 1.0 else base
    if base.ndim == 2 or base.shape[-1] == 1:
        base = np.repeat(base.reshape(base.shape[:2] + (1,)), 3, axis=-1)
    heat = heatmap_rgb(amap, signed, percentile)
    weight = alpha * (np.abs(scale(amap, True, percentile))[..., None] if signed else 1.0)
    return np.clip(255 * ((1 - weight) * base + weight * heat), 0, 255).astype(np.uint8)


def draw_map(ax, image: Optional[np.ndarray], amap: np.ndarray, signed: bool, alpha: float = 0.5,
             percentile: float = 99.0, title: str = "", colorbar: bool = True):
    """One map on ``ax``: over the image (``alpha``) or alone, with a colour bar
    labelled in the map's units (clipped at the percentile)."""
    scaled = scale(amap, signed, percentile)
    cmap = SIGNED_CMAP if signed else ABS_CMAP
    limits = (-1, 1) if signed else (0, 1)
    if image is not None:
        ax.imshow(np.asarray(image).squeeze(), cmap="gray" if np.asarray(image).squeeze().ndim == 2 else None)
        shown = ax.imshow(scaled, cmap=cmap, vmin=limits[0], vmax=limits[1], alpha=alpha)
    else:
        shown = ax.imshow(scaled, cmap=cmap, vmin=limits[0], vmax=limits[1])
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        bar.ax.tick_params(labelsize=6)
        bar.set_label(f"{'signed' if signed else 'relative'} importance (clipped at p{percentile:g})", fontsize=6)
    return shown


def explain_figure(image: np.ndarray, results: dict, index: int = 0, predictions=None, source: str = "",
                   model_name: str = "", classes: Sequence[str] = (), alpha: float = 0.5,
                   percentile: float = 99.0) -> Figure:
    """The ``cnnviz explain`` report for image ``index`` of the batch: the
    image with its top-5 prediction, then each method's map over it, titled
    with the method, its options and the class explained."""
    n = len(results) + 1
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.3 * cols, 3.2 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    axes[0].imshow(np.asarray(image).squeeze(), cmap="gray" if np.asarray(image).squeeze().ndim == 2 else None)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    lines = [f"{p.probability:6.1%} {p.name}" for p in (predictions or [])]
    axes[0].set_title("input", fontsize=9)
    if lines:
        axes[0].set_xlabel("\n".join(lines), fontsize=7, family="monospace", loc="left")
    for ax, (name, result) in zip(axes[1:], results.items()):
        target = int(result.targets[index])
        label = classes[target] if target < len(classes) else str(target)
        options = textwrap.fill(", ".join(f"{k}={v}" for k, v in _shown(result.params).items()), 42)
        draw_map(ax, image, result.maps[index], result.signed, alpha, percentile,
                 "\n".join(filter(None, [result.method, options, f"class: {label}"])))
    for ax in axes[n:]:
        ax.axis("off")
    fig.suptitle(f"{model_name}: {source}" if source else model_name, fontsize=10)
    return fig


def _shown(params: dict) -> dict:
    return {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in params.items() if not isinstance(v, np.ndarray)}


def curves_figure(ranking, title: str = "") -> Figure:
    """Mean deletion and insertion curves per method, AUC in the legend."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, mode in zip(fig.subplots(1, 2), ("deletion", "insertion")):
        for name in ranking.methods:
            c = getattr(ranking, mode)[name]
            style = {"color": "0.5", "linestyle": "--"} if name == "random" else {}
            ax.plot(c.fractions, c.scores.mean(axis=0), label=f"{name} (AUC {c.auc.mean():.3f})", **style)
        better = "lower" if mode == "deletion" else "higher"
        ax.set(xlabel=f"fraction of pixels {'removed' if mode == 'deletion' else 'inserted'}",
               ylabel="probability of the explained class", title=f"{mode} ({better} AUC is better)", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or f"faithfulness over {ranking.n_images} images")
    return fig
