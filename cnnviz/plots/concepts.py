"""Figures of concept methods: TCAV bars per layer and concept with error
bars and significance marks, CRAFT's concepts ranked by importance with
their most typical crops, and where each concept is in an image. Results are
read by their attributes (``TcavResult``, ``CraftResult``), never imported."""
from __future__ import annotations

from typing import Optional

import numpy as np
from matplotlib.figure import Figure

RANDOM_COLOUR = "0.6"


def tcav_figure(result, title: Optional[str] = None) -> Figure:
    """One group of bars per layer: each concept's mean TCAV score over the
    random runs (error bar: standard deviation), the random-vs-random score in
    grey; "n.s." over a concept that is not significant, "*" over one that is."""
    layers, concepts = result.layers, result.concepts
    n_bars = len(concepts) + 1
    fig = Figure(figsize=(max(5.0, 1.0 + 0.55 * n_bars * len(layers)), 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / n_bars
    for li in range(len(layers)):
        for ki in range(n_bars):
            x = li + (ki - (n_bars - 1) / 2) * width
            is_random = ki == len(concepts)
            values = result.random_scores[li] if is_random else result.scores[li, ki]
            colour = RANDOM_COLOUR if is_random else f"C{ki % 10}"
            ax.bar(x, values.mean(), width * 0.92, yerr=values.std(), color=colour, capsize=2,
                   label=("random" if is_random else concepts[ki]) if li == 0 else None)
            if not is_random:
                mark = "*" if result.significant[li, ki] else "n.s."
                ax.text(x, min(values.mean() + values.std() + 0.03, 1.08), mark, ha="center", va="bottom", fontsize=8)
    ax.axhline(0.5, color="0.4", lw=0.8, ls=":")
    ax.set_xticks(range(len(layers)), layers, fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("TCAV score")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or f"TCAV for class {result.target_name}: {result.scores.shape[-1]} random runs, "
                 f"* p < {result.alpha:g}, n.s. not significant", fontsize=9)
    return fig


def _show(ax, image: np.ndarray) -> None:
    image = np.asarray(image)
    ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])


def craft_figure(result, crops_per_concept: int = 6, title: Optional[str] = None) -> Figure:
    """One row per concept, most important first: its importance (share of
    the class score's variance it explains, Sobol total index) and its most
    typical crops."""
    k = len(result.importances)
    n = min(crops_per_concept, result.top.shape[1])
    fig = Figure(figsize=(2.6 + 1.1 * n, 0.3 + 1.05 * k), layout="constrained")
    grid = fig.add_gridspec(k, n + 1, width_ratios=[2.2] + [1] * n)
    top = max(float(result.importances.max()), 1e-12)
    for row in range(k):
        ax = fig.add_subplot(grid[row, 0])
        ax.barh([0], [result.importances[row]], color=f"C{row % 10}")
        ax.set_xlim(0, top * 1.05)
        ax.set_yticks([])
        ax.set_title(f"concept {row + 1}: {result.importances[row]:.3f}", fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
        for j in range(n):
            _show(fig.add_subplot(grid[row, j + 1]), result.crops[result.top[row, j]])
    fig.suptitle(title or f"CRAFT concepts of class {result.target_name} at {result.layer}, ranked by importance",
                 fontsize=9)
    return fig


def concept_maps_figure(image: np.ndarray, maps: np.ndarray, importances: np.ndarray,
                        title: Optional[str] = None) -> Figure:
    """The image, then where each concept is in it (``maps``: (H, W, k), each
    concept's coefficient at each place), concepts in their ranked order."""
    k = maps.shape[-1]
    cols = min(k + 1, 6)
    rows = int(np.ceil((k + 1) / cols))
    fig = Figure(figsize=(1.9 * cols, 2.0 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    _show(axes[0], image)
    axes[0].set_title("image", fontsize=8)
    top = max(float(maps.max()), 1e-12)
    for c in range(k):
        ax = axes[c + 1]
        _show(ax, image)
        ax.imshow(maps[..., c], cmap="magma", alpha=0.6, vmin=0, vmax=top)
        ax.set_title(f"concept {c + 1} ({importances[c]:.2f})", fontsize=8)
    for ax in axes[k + 1:]:
        ax.axis("off")
    fig.suptitle(title or "where each concept is", fontsize=9)
    return fig
