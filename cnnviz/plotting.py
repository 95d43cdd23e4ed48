"""Matplotlib figures for cnnviz results. Drawing only: every function takes
arrays that the compute modules returned and gives back a Figure that a script
can show or save (``cnnviz.fileio.save_figure`` writes it atomically)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def prediction_figure(images: Sequence[np.ndarray], predictions, titles: Sequence[str] = (),
                      model_name: str = "") -> Figure:
    """Each image beside a bar chart of its top-k classes."""
    n = len(images)
    fig = Figure(figsize=(8, 2.8 * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 2, gridspec_kw={"width_ratios": [1, 1.4]}))
    for i, (image, preds) in enumerate(zip(images, predictions)):
        ax_img, ax_bar = axes[i]
        ax_img.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax_img.set_axis_off()
        ax_img.set_title(titles[i] if i < len(titles) else "", fontsize=9)
        names = [p.name for p in preds][::-1]
        probs = [p.probability for p in preds][::-1]
        bars = ax_bar.barh(names, probs, color="tab:blue")
        bars[-1].set_color("tab:orange")
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("probability")
        ax_bar.bar_label(bars, labels=[f"{p:.1%}" for p in probs], padding=3, fontsize=8)
        ax_bar.set_title(f"{model_name}: {preds[0].name}" if model_name else preds[0].name, fontsize=10)
    return fig


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """A confusion matrix (rows: true class, columns: predicted class)."""
    n = len(classes)
    fig = Figure(figsize=(1.2 + 0.55 * n, 1.0 + 0.5 * n), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    high = confusion.max() / 2
    for (r, c), v in np.ndenumerate(confusion):
        ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color="white" if v > high else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="images")
    return fig
