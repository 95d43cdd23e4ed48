"""Matplotlib figures for cnnviz results. Drawing only: every function takes
arrays that the compute modules returned and gives back a Figure that a script
can show or save (``cnnviz.fileio.save_figure`` writes it atomically)."""
from __future__ import annotations

import textwrap
from typing import Optional, Sequence

import numpy as np

from .figure import Figure


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


def _grid(n: int, max_cols: int = 16) -> tuple[int, int]:
    cols = min(n, max_cols, max(1, int(np.ceil(np.sqrt(n)))))
    return int(np.ceil(n / cols)), cols


def filters_figure(weights, max_filters: int = 64) -> Figure:
    """First-layer filters as gray or RGB images; deeper layers as a grid of
    (filter rows x input-channel columns). The title gives the kernel shape."""
    images = weights.images[:max_filters]
    out, ins = images.shape[:2]
    title = f"{weights.layer} weights {weights.shape} (normalized per {weights.normalize})"
    if weights.as_rgb is not None or ins == 1:
        rows, cols = _grid(out)
        fig = Figure(figsize=(1.1 * cols + 0.5, 1.1 * rows + 0.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        rgb = weights.as_rgb
        for i, ax in enumerate(axes):
            ax.set_axis_off()
            if i < out:
                ax.imshow(rgb[i] if rgb is not None else images[i, 0], cmap=None if rgb is not None else "gray",
                          vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(str(i), fontsize=7)
    else:
        shown_in = min(ins, 32)
        fig = Figure(figsize=(0.45 * shown_in + 1, 0.45 * out + 0.8), layout="constrained")
        axes = np.atleast_2d(fig.subplots(out, shown_in, squeeze=False))
        for (f, c), ax in np.ndenumerate(axes):
            ax.imshow(images[f, c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(str(f), fontsize=6, rotation=0, labelpad=8)
            if f == 0:
                ax.set_title(str(c), fontsize=6)
        fig.supxlabel("input channel", fontsize=8)
        fig.supylabel("filter", fontsize=8)
        if shown_in < ins:
            title += f", first {shown_in} of {ins} input channels"
    fig.suptitle(title, fontsize=10)
    return fig


def activation_figure(maps: np.ndarray, layer: str, image: np.ndarray | None = None, overlay: bool = False,
                      scope: str = "channel", max_channels: int = 64) -> Figure:
    """All channels of one layer's maps (h, w, C), already normalized to [0, 1],
    beside the input image or overlaid on it."""
    from skimage.transform import resize

    n = min(maps.shape[-1], max_channels)
    rows, cols = _grid(n + (image is not None and not overlay))
    fig = Figure(figsize=(1.3 * cols + 1.2, 1.3 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    start = 0
    if image is not None and not overlay:
        axes[0].imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[0].set_title("input", fontsize=7)
        start = 1
    im = None
    for ax in axes:
        ax.set_axis_off()
    for c in range(n):
        ax = axes[start + c]
        if overlay and image is not None:
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            up = resize(maps[..., c], image.shape[:2], order=1)
            im = ax.imshow(up, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        else:
            im = ax.imshow(maps[..., c], cmap="inferno", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(str(c), fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.6, label=f"activation (normalized per {scope})")
    shown = f", first {n} of {maps.shape[-1]} channels" if n < maps.shape[-1] else ""
    fig.suptitle(f"{layer}: {maps.shape[0]}x{maps.shape[1]} maps, {maps.shape[-1]} channels{shown}", fontsize=10)
    return fig


def top_patches_figure(crops: np.ndarray, values: np.ndarray, channels, layer: str, field: tuple,
                       silent: Optional[dict] = None) -> Figure:
    """One row per channel: its top-k receptive-field crops with activation
    values. Each row is drawn as one image of the crops side by side (not an
    axes per crop), so 64 channels x 50 patches draw in seconds, not minutes.
    ``silent`` ({channel: why}, see ``silent_channels``) marks rows whose patches mean nothing."""
    n_ch, k, h, w, depth = crops.shape
    gap = max(1, w // 8)
    scale = min(1.0, 30 / (0.95 * k + 0.8), 40 / (1.0 * n_ch + 0.7))       # keep huge grids a sane size
    fig = Figure(figsize=(scale * (0.95 * k + 0.8), scale * (1.0 * n_ch + 0.7)), layout="constrained")
    gray = depth == 1
    for c, ax in enumerate(fig.subplots(n_ch, 1, squeeze=False)[:, 0]):
        row = np.full((h, k * (w + gap) - gap, depth), 255, np.uint8)
        for j in range(k):
            row[:, j * (w + gap):j * (w + gap) + w] = crops[c, j]
        why = (silent or {}).get(int(channels[c]))
        ax.imshow(row[..., 0] if gray else row, cmap="gray" if gray else None, vmin=0, vmax=255,
                  interpolation="nearest", alpha=0.25 if why else None)          # faded: these patches mean nothing
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
        for j, v in enumerate(values[c]):
            ax.text(j * (w + gap) + (w - 1) / 2, -0.6, f"{v:.2f}" if np.isfinite(v) else "-", ha="center",
                    va="bottom", fontsize=6)
        label = f"ch {channels[c]}" + (f"\n{textwrap.fill(why, 14)}" if why else "")
        ax.set_ylabel(label, fontsize=6 if why else 7, color="firebrick" if why else "black")
    fig.suptitle(f"{layer}: top-{k} dataset patches per channel (receptive field {field[0]:g}x{field[1]:g} px)",
                 fontsize=10)
    return fig


def erf_figure(erf, layer: str) -> Figure:
    """The effective receptive field heatmap with the theoretical box drawn on it."""
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(5, 4.4), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(erf.heatmap, cmap="viridis", vmin=0, vmax=1)
    top, left, bottom, right = erf.theoretical.box(*erf.centre)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           ec="white", ls="--", lw=1.2, label=f"theoretical {erf.theoretical.size[0]:g} px"))
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax, label="mean |gradient| (max 1)")
    ax.set_title(f"{layer}, unit {erf.centre}: effective field {erf.size:g} px "
                 f"({erf.mass:.0%} of gradient mass)", fontsize=9)
    return fig


def synthesis_figure(result, labels=None, title: str = "", silent: Optional[dict] = None) -> Figure:
    """Synthesized images in a grid, each titled with its target and the
    activation (or class probability) it reached; ``silent`` ({channel: why})
    fades and labels the images of channels that never fired."""
    images = result.images
    n = len(images)
    per = getattr(result, "per_channel", 1)
    rows, cols = (n // per, per) if per > 1 else _grid(n, max_cols=8)      # several per channel: a row each
    fig = Figure(figsize=(1.6 * cols + 0.3, 1.75 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for i, ax in enumerate(axes[:n]):
        image = images[i, ..., 0] if images.shape[-1] == 1 else images[i]
        ax.imshow(image, cmap="gray" if images.shape[-1] == 1 else None, vmin=0, vmax=1)
        kind = "class" if result.target == "class" else "ch"
        name = labels[i] if labels is not None else f"{kind} {result.indices[i]}"
        value = (f"p={result.probabilities[i]:.3f}" if result.probabilities is not None
                 else f"act {result.activations[i]:.2f}")
        why = (silent or {}).get(int(result.indices[i]))
        if why:
            ax.images[0].set_alpha(0.25)
        ax.set_title(f"{name}\n{value}" + (f"\n{textwrap.fill(why, 24)}" if why else ""), fontsize=6 if why else 7,
                     color="firebrick" if why else "black")
    fig.suptitle(title or f"{result.target}: synthesized images ({result.settings.steps} steps)", fontsize=10)
    return fig


def histograms_figure(hist, silent: Optional[dict] = None, max_channels: int = 32, title: str = "") -> Figure:
    """One small histogram per channel on the layer's shared bins, with its
    mean and standard deviation; ``silent`` ({channel: why}) marks channels
    that never fired (their histogram is a spike at 0)."""
    n = min(len(hist.channels), max_channels)
    rows, cols = _grid(n, max_cols=8)
    fig = Figure(figsize=(1.9 * cols + 0.4, 1.45 * rows + 0.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True)).ravel()
    centres, width = (hist.edges[:-1] + hist.edges[1:]) / 2, np.diff(hist.edges)
    for ax in axes[n:]:
        ax.set_axis_off()
    for i, ax in enumerate(axes[:n]):
        channel = int(hist.channels[i])
        why = (silent or {}).get(channel)
        ax.bar(centres, hist.counts[i] / max(hist.counts[i].sum(), 1), width, color="firebrick" if why else "tab:blue",
               alpha=0.35 if why else 0.9)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
        label = f"ch {channel}: mean {hist.mean[i]:.2f}, std {hist.std[i]:.2f}"
        ax.set_title(label + (f"\n{textwrap.fill(why, 30)}" if why else ""), fontsize=6,
                     color="firebrick" if why else "black")
    shown = f", first {n} of {len(hist.channels)} channels" if n < len(hist.channels) else ""
    fig.suptitle(title or f"{hist.layer}: values per channel over {hist.n_images} images{shown}", fontsize=10)
    fig.supxlabel("value (bins shared by the layer)", fontsize=8)
    return fig


def unit_figure(title: str, overlay: Optional[np.ndarray] = None, patches: Optional[np.ndarray] = None,
                patch_captions: Sequence[str] = (), synthesized: Optional[np.ndarray] = None,
                kernel: Optional[np.ndarray] = None, max_kernels: int = 16) -> Figure:
    """One unit (channel) on one figure, the app's unit page without its
    controls: where it fires on the input (``overlay``, RGB uint8), its top
    dataset patches (``patches``, (k, h, w, c) uint8, captioned), its
    synthesized image ((H, W, c) in [0, 1]) and its kernel ((kh, kw, in),
    signed, one tile per input channel, the first ``max_kernels``). Parts
    that are None are left out, never drawn as placeholders."""
    large = [(image, caption) for image, caption in ((overlay, "where it fires on the input"),
                                                     (synthesized, "synthesized image")) if image is not None]
    k = 0 if patches is None else len(patches)
    n_kernels = 0 if kernel is None else min(kernel.shape[-1], max_kernels)
    cols = max(2 * len(large), min(k, 9), min(n_kernels, 8), 1)
    rows = [2 if large else 0, -(-k // cols), -(-n_kernels // cols)]
    fig = Figure(figsize=(1.3 * cols + 0.4, 1.3 * sum(rows) + 0.9), layout="constrained")
    grid = fig.add_gridspec(max(sum(rows), 1), cols)
    for j, (image, caption) in enumerate(large):
        _image(fig.add_subplot(grid[0:2, 2 * j:2 * j + 2]), image, caption)
    row = rows[0]
    for i in range(k):
        ax = fig.add_subplot(grid[row + i // cols, i % cols])
        _image(ax, patches[i], patch_captions[i] if i < len(patch_captions) else "")
    row += rows[1]
    if n_kernels:
        peak = float(np.abs(kernel).max()) or 1.0
        for i in range(n_kernels):
            ax = fig.add_subplot(grid[row + i // cols, i % cols])
            ax.imshow(kernel[..., i], cmap="RdBu_r", vmin=-peak, vmax=peak, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"weights, input {i}", fontsize=6)
    fig.suptitle(title, fontsize=10)
    return fig


def _image(ax, image: np.ndarray, caption: str) -> None:
    gray = image.ndim == 3 and image.shape[-1] == 1
    vmax = 255 if image.dtype == np.uint8 else 1
    ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=vmax,
              interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(textwrap.fill(caption, 22), fontsize=6)


def _matrix(ax, values: np.ndarray, title: str, valid: Optional[np.ndarray] = None,
            winner: Optional[tuple] = None) -> None:
    """A small matrix with every entry written in it; padding (``valid`` False) greyed."""
    limit = float(np.abs(values).max()) or 1.0
    ax.imshow(values, cmap="coolwarm", vmin=-limit, vmax=limit)
    for (r, c), v in np.ndenumerate(values):
        outside = valid is not None and not valid[r, c]
        ax.text(c, r, "pad\n0" if outside else f"{v:.2g}", ha="center", va="center", fontsize=6,
                color="grey" if outside else "black", fontweight="bold" if (r, c) == winner else "normal")
    if winner is not None:
        ax.add_patch(_box_patch(winner))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def _box_patch(at: tuple):
    from matplotlib.patches import Rectangle

    return Rectangle((at[1] - 0.5, at[0] - 0.5), 1, 1, fill=False, lw=2, color="black")


def arithmetic_figure(steps: Sequence, title: str = "") -> Figure:
    """Worked numbers of units (:class:`cnnviz.inside.arithmetic.UnitArithmetic`),
    a row each: a convolution's input patch, kernel and products of its first
    input channel (padding greyed) and the sum to the value; a pooling unit's
    window and its result."""
    fig = Figure(figsize=(9.0, 2.3 * len(steps) + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(steps), 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.8]}))
    for row, step in zip(axes, steps):
        where = f"{step.layer} ch {step.channel} unit {tuple(step.at)}"
        if step.kernel is None:                  # pooling: the window of the unit's own channel
            _matrix(row[0], step.patch, "window", step.valid, step.winner)
            for ax in row[1:3]:
                ax.set_axis_off()
            how = f"max = {step.total:.4g}" if step.kind == "max_pool" else \
                f"mean of {int(step.valid.sum())} entries = {step.total:.4g}"
        else:
            two_d = step.patch.ndim == 2
            pick = (lambda a: a) if two_d else (lambda a: a[..., 0])
            channels = 1 if two_d else step.patch.shape[-1]
            _matrix(row[0], pick(step.patch), "input" + ("" if two_d else " (channel 0)"),
                    step.valid if step.valid.ndim == 2 else pick(step.valid))
            _matrix(row[1], pick(step.kernel), "kernel" + ("" if two_d else " (channel 0)"))
            _matrix(row[2], pick(step.products), "products")
            how = (f"sum of {step.products.size} products over {channels} channel(s) = {step.total:.4g}\n"
                   f"+ bias {step.bias:.4g} = {step.pre_activation:.4g}\n"
                   f"{step.activation}(...) = {step.value:.4g}")
        verdict = "equals" if step.matches else "DIFFERS FROM"
        row[3].set_axis_off()
        row[3].text(0, 0.5, f"{where}\n{how}\n{verdict} the layer's {step.map_value:.4g}", fontsize=8, va="center",
                    color="black" if step.matches else "firebrick")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def kernels_figure(image: np.ndarray, filtered: dict, kernels: dict, names: dict, title: str = "") -> Figure:
    """An image (its grey levels) and what each fixed kernel makes of it,
    above the kernel's weights."""
    n = len(filtered)
    fig = Figure(figsize=(2.1 * (n + 1), 4.4), layout="constrained")
    axes = fig.subplots(2, n + 1)
    axes[0, 0].imshow(image, cmap="gray")
    axes[0, 0].set_title("input (grey levels)", fontsize=8)
    axes[1, 0].set_axis_off()
    for k, (name, result) in enumerate(filtered.items(), start=1):
        signed = result.min() < 0
        limit = np.abs(result).max() or 1
        axes[0, k].imshow(result, cmap="RdBu_r" if signed else "gray", vmin=-limit if signed else None,
                          vmax=limit if signed else None)
        axes[0, k].set_title(textwrap.fill(names[name], 22), fontsize=8)
        _matrix(axes[1, k], kernels[name], f"{name} kernel")
    for ax in axes[0]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
