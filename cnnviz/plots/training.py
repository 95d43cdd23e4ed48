"""Figures of training and reuse: learning curves of one or several runs
overlaid, an augmentation preview, a transfer-learning confusion matrix, and
grids of predictions (with MC-dropout error bars) and of misclassified images."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .figure import Figure


def curves_figure(histories: Sequence[dict], labels: Sequence[str], title: str = "",
                  marks: Sequence[Sequence[tuple[float, str]]] = ()) -> Figure:
    """Accuracy and loss per epoch of each run (one colour per run; train
    dashed, validation solid), so runs with different settings compare at a
    glance; ``marks`` per run: (epoch, text) vertical lines where it changed
    phase (e.g. the end of a fine-tuning head phase)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for k, (history, label, colour) in enumerate(zip(histories, labels, colours)):
        for ax, metric in zip(axes, ("accuracy", "loss")):
            train = history.get(metric, [])
            val = history.get(f"val_{metric}", [])
            marker = "o" if len(train) <= 3 else None          # a run of one epoch is a point, not a line
            ax.plot(np.arange(1, len(train) + 1), train, "--", color=colour, lw=1.2, marker=marker)
            ax.plot(np.arange(1, len(val) + 1), val, "-", color=colour, lw=1.6, label=label, marker=marker)
            for epoch, text in (marks[k] if k < len(marks) else ()):
                ax.axvline(epoch, color=colour, ls=":", lw=1.2)
                ax.annotate(text, (epoch, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                            textcoords="offset points", va="top", fontsize=7, color=colour, rotation=90)
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric} (dashed: train, solid: validation)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def augmentation_figure(originals: np.ndarray, copies: np.ndarray, settings: str = "") -> Figure:
    """Each original (first column) beside its augmented copies: ``originals``
    (N, H, W, C) and ``copies`` (K, N, H, W, C), floats in [0, 1]."""
    n, k = len(originals), len(copies)
    fig = Figure(figsize=(1.3 * (k + 1), 1.3 * n + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, k + 1, squeeze=False))
    for i in range(n):
        for j, image in enumerate([originals[i], *copies[:, i]]):
            ax = axes[i, j]
            ax.imshow(_display(image), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("original" if j == 0 else f"copy {j}", fontsize=8)
    if settings:
        fig.suptitle(settings, fontsize=9)
    return fig


def _display(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, 0, 1)
    return image[..., 0] if image.shape[-1] == 1 else image


def transfer_figure(confusion_train: np.ndarray, confusion_test: np.ndarray, classes: Sequence[str],
                    train_accuracy: float, test_accuracy: float, title: str = "") -> Figure:
    """Confusion matrices of a transfer classifier on its train and test split."""
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    for ax, matrix, name, acc in zip(fig.subplots(1, 2), (confusion_train, confusion_test), ("train", "test"),
                                     (train_accuracy, test_accuracy)):
        ax.imshow(matrix, cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if v > matrix.max() / 2 else "black")
        ticks = np.arange(len(classes))
        ax.set_xticks(ticks, classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(ticks, classes, fontsize=8)
        ax.set(xlabel="predicted", ylabel="true", title=f"{name}: accuracy {acc:.1%}")
    if title:
        fig.suptitle(title)
    return fig


def _grid_shape(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return -(-n // cols), cols


def image_grid_figure(images: Sequence[np.ndarray], captions: Sequence[str], title: str = "",
                      colours: Optional[Sequence[str]] = None, max_cols: int = 8) -> Figure:
    """Images (uint8, gray or RGB) in a compact grid, each with a short caption."""
    rows, cols = _grid_shape(len(images), max_cols)
    fig = Figure(figsize=(1.5 * cols, 1.75 * rows + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for i, (image, caption) in enumerate(zip(images, captions)):
        image = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
        axes[i].imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[i].set_title(caption, fontsize=7, color=colours[i] if colours else "black")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def mc_dropout_figure(images: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray, classes: Sequence[str],
                      passes: int, titles: Sequence[str] = (), top: int = 10) -> Figure:
    """Each image beside its mean class probabilities over MC-dropout passes,
    one standard deviation as error bars; ``mean`` and ``std`` are (N, classes)."""
    n = len(images)
    fig = Figure(figsize=(8, 2.9 * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 2, gridspec_kw={"width_ratios": [1, 1.6]}))
    for k, image in enumerate(images):
        ax_img, ax_bar = axes[k]
        order = np.argsort(-mean[k])[:top][::-1]
        ax_img.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image,
                      cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
        ax_img.set_axis_off()
        ax_img.set_title(titles[k] if k < len(titles) else "", fontsize=9)
        ax_bar.barh([classes[i] for i in order], mean[k, order], xerr=std[k, order], color="tab:blue", capsize=3)
        ax_bar.set_xlim(0, 1)
        ax_bar.set(xlabel=f"mean probability over {passes} dropout passes (+- 1 std)")
    return fig


def samples_figure(images: np.ndarray, labels: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """Dataset images (uint8) one row per class, the class named at the left of its row."""
    present = list(dict.fromkeys(int(v) for v in labels))
    cols = max(int(np.sum(labels == c)) for c in present)
    fig = Figure(figsize=(0.9 * cols + 1.2, 0.95 * len(present) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(present), cols, squeeze=False))
    for r, c in enumerate(present):
        row = images[labels == c]
        for j, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
            if j < len(row):
                image = row[j][..., 0] if row[j].ndim == 3 and row[j].shape[-1] == 1 else row[j]
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        axes[r, 0].set_ylabel(classes[c], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
