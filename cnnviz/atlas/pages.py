"""The atlas's pages and images, planned as a list of files (relative path and
a function giving its bytes), so that the builder can write each one
atomically and skip those a killed build already finished.

Pages are Jinja2 templates shipped in ``cnnviz/atlas/templates``; images are
PNG at their own size (the page enlarges small ones with sharp pixels) or
reduced to about twice the size the page shows them at. Receptive-field
boxes are drawn by the page over the shared dataset image (CSS, from the box's input pixels), and are also in
each example's ``data-box`` attribute.
"""
from __future__ import annotations

import io
import math
import re
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from .. import __version__
from ..inside.network import LINE_H, PAD, layout_graph, model_graph
from ..models.graph import get_layer
from ..models.preprocessing import PREPROCESSING_TEXT
from ..models.zoo import input_shape, model_info, weights_note
from .collect import AtlasData, LayerData, channel_crops

File = tuple[str, Callable[[], bytes]]

EXAMPLE_SIDE = 128      # CSS pixels of a dataset image on a unit page
CROP_SIDE = 64
NEIGHBOURS = 6
CLASS_EXAMPLES = 8


def layer_folder(layer: str) -> str:
    """A layer's folder name under ``layers/``: its name with anything but letters, digits, ``_.-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", layer)


def unit_path(layer: str, channel: int) -> str:
    """The stable path of a unit page inside the site."""
    return f"layers/{layer_folder(layer)}/{int(channel)}.html"


# ---------------------------------------------------------------- images

def png(pixels: np.ndarray, side: int, height: bool = False) -> bytes:
    """uint8 (H, W[, C]) as PNG, shown about ``side`` CSS pixels wide
    (``height``: high): small images as they are (the page enlarges them,
    pixels kept sharp by ``image-rendering: pixelated``; enlarging them here
    would encode and store 16x the pixels of a CIFAR image for nothing),
    those over twice that size reduced to it."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(np.ascontiguousarray(pixels))
    h, w = pixels.shape[:2]
    longest = h if height else max(h, w)
    if longest > 2 * side:
        scale = 2 * side / longest
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)      # thousands of small files: speed over a few bytes
    return out.getvalue()


def crop_strip(crops: np.ndarray) -> bytes:
    """A channel's k crops (k, r, r, ch) side by side in one PNG, shown
    ``CROP_SIDE`` high: one file per unit, each page shows one tile of it at a time."""
    return png(np.concatenate(list(crops), axis=1), CROP_SIDE, height=True)


def filter_tiles(images: np.ndarray) -> np.ndarray:
    """One filter's (in, kh, kw) weights in [0, 1] as one uint8 image: RGB
    when it sees three channels, else a grid of grey tiles, one per input channel."""
    n, kh, kw = images.shape
    if n == 3:
        return (images.transpose(1, 2, 0) * 255).round().astype(np.uint8)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (kh + 1):r * (kh + 1) + kh, c * (kw + 1):c * (kw + 1) + kw] = (images[i] * 255).round()
    return grid


def _uint8(image01: np.ndarray) -> np.ndarray:
    return np.clip(image01 * 255 + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- numbers for pages

def _num(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.3g}"


def _share(value: float) -> str:
    return f"{100 * value:.0f}%" if np.isfinite(value) else "-"


def histogram_bars(counts: np.ndarray, edges: np.ndarray) -> dict:
    """Bars of an SVG histogram 300 x 100 units."""
    top = max(int(counts.max()) if counts.size else 0, 1)
    width = 300 / max(len(counts), 1)
    bars = [{"x": f"{i * width:.2f}", "w": f"{max(width - 1, 0.5):.2f}", "y": f"{100 - 100 * n / top:.2f}",
             "h": f"{100 * n / top:.2f}", "title": f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {int(n)}"}
            for i, n in enumerate(counts)]
    return {"bars": bars, "low": _num(edges[0]) if len(edges) else "", "high": _num(edges[-1]) if len(edges) else ""}


def _shorten(where: str, n: int = 28) -> str:
    return where if len(where) <= n else "…" + where[-(n - 1):]


# ---------------------------------------------------------------- the graph

GRAPH_SCALE = 4 / 3      # CSS pixels per point of the layout (its text is sized for about 9 pt)
GRAPH_MARGIN = 8.0       # points around the drawing


def graph_drawing(model, links: dict[str, str]) -> dict:
    """The model's graph in the layered layout the app and ``cnnviz graph``
    draw (:func:`cnnviz.inside.network.layout_graph`), as what the model
    page's inline SVG needs: boxes (text lines, kind as a CSS class, a link
    where ``links`` names the node's page) and edges as polylines. Nested
    models holding a linked layer are expanded."""
    expand = {"/".join(name.split("/")[:i]) for name in links for i in range(1, name.count("/") + 1)}
    graph = model_graph(model, expand=expand)
    layout = layout_graph(graph)
    nodes = []
    for node in graph.nodes:
        x, y, w, h = layout.boxes[node.name]
        nodes.append({"name": node.name, "kind": node.kind, "href": links.get(node.name),
                      "x": f"{x:.1f}", "y": f"{y:.1f}", "w": f"{w:.1f}", "h": f"{h:.1f}",
                      "lines": [(f"{x + PAD:.1f}", f"{y + PAD + (i + 0.5) * LINE_H:.1f}", text)
                                for i, text in enumerate(node.lines())]})
    edges = [" ".join(f"{px:.1f},{py:.1f}" for px, py in layout.paths[edge])       # in the graph's order: the
             for edge in graph.edges]                                                 # layout's varies by run
    width, height = layout.width + 2 * GRAPH_MARGIN, layout.height + 2 * GRAPH_MARGIN
    return {"nodes": nodes, "edges": edges, "view": f"{-GRAPH_MARGIN:g} {-GRAPH_MARGIN:g} {width:.1f} {height:.1f}",
            "width": f"{width * GRAPH_SCALE:.0f}", "height": f"{height * GRAPH_SCALE:.0f}"}


# ---------------------------------------------------------------- neighbours

def example_overlap(image_index: np.ndarray) -> np.ndarray:
    """(C, C) Jaccard overlap of the channels' sets of top images (-1 padding ignored)."""
    c = len(image_index)
    sets = [set(row[row >= 0].tolist()) for row in image_index]
    out = np.zeros((c, c))
    for i in range(c):
        for j in range(i + 1, c):
            union = len(sets[i] | sets[j])
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / union if union else 0.0
    return out


def weight_similarity(kernel: np.ndarray) -> np.ndarray:
    """(C, C) cosine similarity of the filters (kernel (kh, kw, in, out))."""
    flat = kernel.reshape(-1, kernel.shape[-1]).T.astype(np.float64)
    flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    return flat @ flat.T


def _nearest(scores: np.ndarray, i: int, channels: np.ndarray, n: int) -> list[tuple[int, float]]:
    order = [j for j in np.argsort(-scores[i], kind="stable") if j != i][:n]
    return [(int(channels[j]), float(scores[i, j])) for j in order]


# ---------------------------------------------------------------- the plan

class Site:
    """The files of one atlas, computed from :class:`AtlasData`."""

    def __init__(self, model, data: AtlasData, syntheses: int, seed: int = 0):
        self.model, self.data, self.syntheses, self.seed = model, data, syntheses, seed
        self.env = Environment(loader=PackageLoader("cnnviz.atlas", "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        info = model_info(model)
        self.common = {"model": data.model_name, "version": __version__, "note": weights_note(model),
                       "source": data.source.description, "has_classes": data.class_images is not None}
        self.preprocessing = info.preprocessing
        self.shown_images: set[int] = set()

    def files(self) -> list[File]:
        out: list[File] = [("style.css", lambda: resources.files("cnnviz.atlas").joinpath(
            "templates/style.css").read_bytes())]
        for layer in self.data.layers.values():
            out += self._layer_files(layer)
        if self.data.class_images is not None:
            out += self._class_files()
        out.append(("index.html", self._model_page))
        out += [(f"data/{i}.png", self._dataset_image(i)) for i in sorted(self.shown_images)]
        return out

    def _render(self, template: str, root: str, **values) -> bytes:
        return self.env.get_template(template).render(root=root, **self.common, **values).encode("utf-8")

    def _dataset_image(self, i: int):
        return lambda: png(self.data.source.pixels(i), EXAMPLE_SIDE)

    # ------------------------------------------------------------ model page

    def _model_page(self) -> bytes:
        shown = {layer: f"layers/{layer_folder(layer)}/index.html" for layer in self.data.layers}
        rows = [{"name": r.name, "type": r.type, "shape": str(r.output_shape) if r.output_shape else "?",
                 "params": r.params, "rf_size": _pair(r.rf_size), "rf_jump": _pair(r.rf_jump),
                 "href": shown.get(r.name)} for r in self.data.summary.layers]
        return self._render("model.html", "", layers=rows, summary=self.data.summary,
                            graph=graph_drawing(self.model, shown),
                            input_shape=" x ".join(str(s) for s in input_shape(self.model)),
                            preprocessing=self.preprocessing,
                            preprocessing_text=PREPROCESSING_TEXT.get(self.preprocessing, ""),
                            classes=self.data.classes if self.data.class_images is not None else [],
                            source_description=self.data.source.description, k=self.data.k,
                            syntheses=self.syntheses, skipped=self.data.source.skipped)

    # ------------------------------------------------------------ layers

    def _layer_files(self, layer: LayerData) -> list[File]:
        folder = f"layers/{layer_folder(layer.name)}"
        top, profile = layer.top, self.data.profile
        channels = [int(c) for c in top.channels]
        means, rates = profile.mean_activation(layer.name), profile.firing_rate(layer.name)
        out: list[File] = []
        for i, c in enumerate(channels):
            for s, image in enumerate(layer.syntheses[i]):
                out.append((f"{folder}/img/{c}-synth{s}.png", lambda image=image: png(_uint8(image), EXAMPLE_SIDE)))
            self.shown_images.update(int(n) for n in top.image_index[i] if n >= 0)
            out.append((f"{folder}/img/{c}-crops.png",
                        lambda i=i: crop_strip(channel_crops(layer, self.data.source, i))))
            if layer.filters is not None:
                out.append((f"{folder}/img/{c}-weights.png",
                            lambda c=c: png(filter_tiles(layer.filters.images[c]), 96)))
        overlap = example_overlap(top.image_index)
        similar = weight_similarity(layer.filters.kernel[..., channels]) if layer.filters is not None else None
        for i, c in enumerate(channels):
            out.append((f"{folder}/{c}.html",
                        lambda i=i, c=c: self._unit_page(layer, i, c, channels, overlap, similar, means, rates)))
        out.append((f"{folder}/index.html", lambda: self._layer_page(layer, channels, means, rates)))
        return out

    def _layer_page(self, layer: LayerData, channels, means, rates) -> bytes:
        top = layer.top
        cards = []
        for i, c in enumerate(channels):
            best = float(top.values[i, 0]) if top.values.shape[1] else float("nan")
            cards.append({"channel": c, "href": f"{c}.html", "silent": layer.silent.get(c, ""),
                          "synth": f"img/{c}-synth0.png" if layer.syntheses.shape[1] else None,
                          "crops": f"img/{c}-crops.png", "k": self.data.k, "found": top.image_index[i, 0] >= 0,
                          "mean": _num(means[i]), "rate": _share(rates[i]), "mean_raw": f"{means[i]:.6g}",
                          "rate_raw": f"{rates[i]:.6g}", "top_raw": f"{best:.6g}"})
        counts, edges = np.histogram(rates, bins=20, range=(0, 1))
        stats = {"mean": _num(float(np.nanmean(means))), "mean_low": _num(float(np.nanmin(means))),
                 "mean_high": _num(float(np.nanmax(means))), "rate": _share(float(np.nanmean(rates))),
                 "silent": len(layer.silent), "rate_histogram": histogram_bars(counts, edges)}
        return self._render("layer.html", "../../", layer=layer.name, channels=cards, stats=stats,
                            type=type_name(self.model, layer.name), field=_pair(layer.field_size))

    def _unit_page(self, layer: LayerData, i: int, c: int, channels, overlap, similar, means, rates) -> bytes:
        top, source = layer.top, self.data.source
        h, w = source.image_size
        examples = []
        for j in range(self.data.k):
            n = int(top.image_index[i, j])
            if n < 0:
                continue
            t, left, b, r = (int(v) for v in top.boxes[i, j])
            where = source.where(n)
            label = int(source.labels[n])
            examples.append({
                "rank": j + 1, "image": n, "row": int(top.position[i, j, 0]), "col": int(top.position[i, j, 1]),
                "box": [t, left, b, r], "src": f"../../data/{n}.png", "crops": f"img/{c}-crops.png", "tile": j,
                "pct": [f"{100 * left / w:.3f}", f"{100 * t / h:.3f}", f"{100 * (r - left + 1) / w:.3f}",
                        f"{100 * (b - t + 1) / h:.3f}"],
                "value": _num(float(top.values[i, j])), "value_raw": f"{float(top.values[i, j]):.6g}",
                "label": source.classes[label] if label < len(source.classes) else str(label),
                "where": where, "where_short": _shorten(Path(where).name if source.files is not None else where)})
        syntheses = [{"src": f"img/{c}-synth{s}.png", "number": s + 1, "value": _num(float(value))}
                     for s, value in enumerate(layer.synthesis_values[i])]
        counts, edges = self.data.profile.histogram(layer.name, i)
        neighbours = {"examples": [{"channel": n, "href": f"{n}.html", "score": f"{v:.0%} shared"}
                                   for n, v in _nearest(overlap, i, np.array(channels), NEIGHBOURS)],
                      "weights": [{"channel": n, "href": f"{n}.html", "score": f"{v:.2f}"}
                                  for n, v in _nearest(similar, i, np.array(channels), NEIGHBOURS)]
                      if similar is not None else []}
        weights = None
        if layer.filters is not None:
            k = layer.filters.kernel
            weights = {"src": f"img/{c}-weights.png",
                       "text": f"{k.shape[0]}x{k.shape[1]} kernel over {k.shape[2]} input channel"
                               f"{'s' if k.shape[2] > 1 else ''}" + (
                                   f", bias {float(layer.filters.bias[c]):.3g}" if layer.filters.bias is not None
                                   else "")}
        read = self.data.profile.maxima[layer.name][:, i]
        stats = {"mean": _num(float(means[i])), "rate": _share(float(rates[i])),
                 "images": f"{int(np.isfinite(read).sum()):,}",
                 "top": _num(float(top.values[i, 0])) if examples else "-"}
        position = channels.index(c)
        prev = f"{channels[position - 1]}.html" if position > 0 else None
        nxt = f"{channels[position + 1]}.html" if position + 1 < len(channels) else None
        return self._render("unit.html", "../../", layer=layer.name, channel=c, silent=layer.silent.get(c, ""),
                            stats=stats, field=_pair(layer.field_size), histogram=histogram_bars(counts, edges),
                            syntheses=syntheses, examples=examples, weights=weights, neighbours=neighbours,
                            prev=prev, next=nxt, k=self.data.k, seed=self.seed)

    # ------------------------------------------------------------ classes

    def _class_files(self) -> list[File]:
        synth, profile = self.data.class_images, self.data.profile
        out: list[File] = []
        rows = []
        for i, cls in enumerate(synth.indices):
            cls = int(cls)
            out.append((f"classes/{cls}.png", lambda i=i: png(_uint8(synth.images[i]), EXAMPLE_SIDE)))
            index, probs = profile.most_confident(cls, CLASS_EXAMPLES)
            self.shown_images.update(int(n) for n in index)
            labels = self.data.source.labels
            rows.append({"index": cls, "name": self.data.classes[cls], "synth": f"classes/{cls}.png",
                         "probability": f"{float(synth.probabilities[i]):.2f}",
                         "examples": [{"src": f"data/{int(n)}.png", "probability": f"{p:.2f}",
                                       "label": self._label(int(labels[n]))} for n, p in zip(index, probs)]})
        out.append(("classes.html", lambda: self._render("classes.html", "", classes=rows)))
        return out

    def _label(self, label: int) -> str:
        names = self.data.source.classes
        return names[label] if label < len(names) else str(label)


def type_name(model, layer: str) -> str:
    return type(get_layer(model, layer)).__name__


def _pair(pair) -> str:
    if pair is None:
        return "-"
    values = [f"{v:g}" for v in pair]
    return values[0] if values[0] == values[1] else "x".join(values)
