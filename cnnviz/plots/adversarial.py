"""Figures for adversarial examples: the functions take what
:mod:`cnnviz.adversarial` returned and give back a matplotlib Figure
(``cnnviz.fileio.save_figure`` writes it atomically); and
:func:`save_adversarial`, the adversarial image itself as a file."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional, Sequence

import imageio.v3 as iio
import numpy as np
from matplotlib.ticker import PercentFormatter

from ..common.errors import CnnvizError
from ..common.fileio import atomic_path
from .figure import Figure


def _pct(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


def _bars(ax, preds, highlight: Sequence[int] = (), colour="tab:blue"):
    names = [f"{p.name} [{p.index}]" for p in preds][::-1]
    probs = [p.probability for p in preds][::-1]
    colours = ["tab:red" if p.index in highlight else colour for p in preds][::-1]
    bars = ax.barh(range(len(names)), probs, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.5, 1])
    ax.tick_params(axis="x", labelsize=7)
    ax.bar_label(bars, labels=[_pct(p) for p in probs], padding=2, fontsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _show(ax, image: np.ndarray):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(image, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def attack_figure(result, indices: Optional[Sequence[int]] = None, max_images: int = 4, k: int = 5,
                  title: str = "") -> Figure:
    """The lecture's three columns for each image: the original with its
    top-``k`` classes, the perturbation amplified to the full display range
    (with its L-infinity and L2 norms), and the adversarial image with its
    top-``k`` classes (the target, or the new class, in red)."""
    if indices is None:
        indices = range(min(max_images, len(result.original)))
    indices = list(indices)
    orig_top, adv_top = result.top("original", k), result.top("adversarial", k)
    gray = result.original.shape[-1] == 1
    fig = Figure(figsize=(9.6, 4.4 * len(indices) + 0.5), layout="constrained")
    grid = fig.add_gridspec(2 * len(indices), 3, height_ratios=[2.6, 1.4] * len(indices))

    def name(c):
        return result.classes[int(c)] if int(c) < len(result.classes) else str(int(c))

    for row, i in enumerate(indices):
        top_axes = [fig.add_subplot(grid[2 * row, c]) for c in range(3)]
        o, a = orig_top[i][0], adv_top[i][0]
        _show(top_axes[0], result.original[i])
        top_axes[0].set_title(f"original: {o.name} ({_pct(o.probability)})", fontsize=10)
        delta = result.perturbation[i]
        size = float(np.abs(delta).max())
        amp = 0.5 / size if size > 0 else 1.0
        ax = top_axes[1]
        if gray:
            im = ax.imshow(delta[..., 0], cmap="RdBu_r", vmin=-max(size, 1e-6), vmax=max(size, 1e-6))
            bar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02)
            bar.ax.tick_params(labelsize=7)
            bar.set_label("pixel change", fontsize=7)
            shown = "full colour range"
        else:
            ax.imshow(np.clip(0.5 + amp * delta, 0, 1))
            shown = f"x{amp:.0f}, grey = 0"
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"perturbation ({shown})\nL-inf {result.linf[i]:.4f} (= {result.linf[i] * 255:.1f}/255), "
                     f"L2 {result.l2[i]:.3f}", fontsize=9)
        _show(top_axes[2], result.adversarial[i])
        verdict = "fools" if result.success[i] else "does not fool"
        top_axes[2].set_title(f"adversarial: {a.name} ({_pct(a.probability)})\n{verdict} the model",
                              fontsize=10, color="tab:red" if result.success[i] else "black")
        bottom = [fig.add_subplot(grid[2 * row + 1, c]) for c in range(3)]
        _bars(bottom[0], orig_top[i], colour="tab:green")
        bottom[0].set_title("original: top-5", fontsize=8)
        goal = [int(result.target[i])] if result.target is not None else \
            [p.index for p in adv_top[i] if p.index != int(result.labels[i])][:1]
        _bars(bottom[2], adv_top[i], highlight=goal)
        bottom[2].set_title("adversarial: top-5", fontsize=8)
        bottom[1].set_axis_off()
        budget = "unbounded" if result.eps is None else (
            f"eps {result.eps:.4g}" + (f" (= {result.eps * 255:.3g}/255)" if result.norm == "inf" else ""))
        aim = f"target {name(result.target[i])}" if result.target is not None else f"away from {name(result.labels[i])}"
        r = result.top("rounded", 1)[i][0]
        lines = [f"{result.method.upper()}, {'L-inf' if result.norm == 'inf' else 'L2'} {budget}",
                 *([result.settings] if result.settings else []),
                 aim,
                 f"steps used: {int(result.steps_used[i])}",
                 f"success: {'yes' if result.success[i] else 'no'}",
                 f"8-bit image: {r.name} ({_pct(r.probability)})"
                 + ((", still fools" if result.rounded_success[i] else ", rounding undoes it")
                    if result.success[i] else ("" if not result.rounded_success[i] else ", fools"))]
        bottom[1].text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=8.5,
                       transform=bottom[1].transAxes, linespacing=1.5)
    fig.suptitle(title or "Adversarial examples", fontsize=11)
    return fig


def eps_labels(eps: np.ndarray, norm: str):
    """Tick labels: k/255 for small L-infinity budgets on the 8-bit grid."""
    scaled = np.asarray(eps) * 255
    if norm == "inf" and np.max(eps) <= 0.2 and np.allclose(scaled, np.round(scaled), atol=1e-6):
        return [f"{int(round(s))}/255" if s else "0" for s in scaled]
    return [f"{e:g}" for e in np.round(eps, 4)]


STYLES = ("s--", "o-", "^-.", "D:")


def robustness_figure(curves, title: str = "", show_8bit: bool = False) -> Figure:
    """Accuracy under attack against eps, one line per model and method (one
    panel per norm); dashed lines for the 8-bit rounded adversarials when
    ``show_8bit``."""
    curves = list(curves)
    norms = list(dict.fromkeys(c.norm for c in curves))
    outside = len(curves) > 3                 # many lines: the legend goes beside the plot, not over it
    width = 5.6 * len(norms) + (3.0 if outside else 0.4)
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(norms), squeeze=False)[0])
    colours, styles = {}, {}                  # a colour per model, a line style per attack
    for ax, norm in zip(axes, norms):
        ticks = set()
        for c in (c for c in curves if c.norm == norm):
            colour = colours.setdefault(c.label.replace(c.method, "", 1), f"C{len(colours) % 10}")
            style = styles.setdefault(c.method, STYLES[len(styles) % len(STYLES)])
            ax.plot(c.eps, c.accuracy, style, color=colour, label=f"{c.label} (clean {c.clean_accuracy:.1%})",
                    markersize=5, linewidth=1.6)
            if show_8bit:
                ax.plot(c.eps, c.accuracy_8bit, ":", color=colour, alpha=0.6, linewidth=1.2)
            ticks.update(np.round(c.eps, 8).tolist())
        ticks = np.array(sorted(ticks))
        ax.set_xticks(ticks, eps_labels(ticks, norm), fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.set_xlabel("eps, " + ("L-infinity" if norm == "inf" else "L2") + " (pixels in [0, 1])")
        ax.set_ylabel("accuracy under attack")
        if show_8bit:
            ax.plot([], [], ":", color="grey", label="dotted: adversarials rounded to 8 bits")
        if outside:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        else:
            ax.legend(fontsize=7, loc="upper right")
    first = curves[0] if curves else None
    default = "Accuracy under attack"
    if first is not None:
        default += f" ({first.dataset or 'images'}, {first.n} images" + (
            f", {first.steps} steps)" if first.steps > 1 else ")")
    fig.suptitle(textwrap.fill(title or default, int(width * 11)), fontsize=11)
    return fig


LOSSLESS_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")


def save_adversarial(result, path, index: int = 0) -> None:
    """Write image ``index``'s 8-bit adversarial (:attr:`AttackResult.rounded`,
    within the budget; ``result.rounded_success`` says whether it still fools
    the model) atomically, in a lossless format chosen by the suffix."""
    if Path(path).suffix.lower() not in LOSSLESS_SUFFIXES:
        raise CnnvizError(f"cannot save the adversarial image as {Path(path).name}: use a lossless format "
                          f"({', '.join(LOSSLESS_SUFFIXES)}); JPEG compression would destroy the perturbation")
    pixels = result.rounded[index]
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, pixels[..., 0] if pixels.shape[-1] == 1 else pixels, extension=tmp.suffix)
