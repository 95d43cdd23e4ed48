"""Inside-the-network benchmarks: top-activating patches in one streaming pass
against a naive loop, their memory against the dataset size, and all VGG16
conv activations in one forward pass against one sub-model per layer."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
CIFAR_LAYERS = ["conv1", "conv2", "conv3", "conv4"]
NAIVE_IMAGES = 100


def _naive_top_patches(model, x, layers, k=9):
    """The lecture-style loop: per image `model.predict`, one sub-model per
    layer, Python top-k lists."""
    import keras

    subs = [keras.Model(model.inputs, model.get_layer(n).output) for n in layers]
    best = {n: [[] for _ in range(sub.outputs[0].shape[-1])] for n, sub in zip(layers, subs)}
    for i in range(len(x)):
        for n, sub in zip(layers, subs):
            a = sub.predict(x[i:i + 1], verbose=0)[0]
            for c in range(a.shape[-1]):
                best[n][c].append((float(a[..., c].max()), i))
                best[n][c] = sorted(best[n][c], reverse=True)[:k]
    return best


def _save_gallery(model, result, images, layer="conv4", channels=8):
    """The full-size figure of the run: conv4's first channels' top-9 patches."""
    from cnnviz.common.fileio import save_figure
    from cnnviz.inside.receptive import receptive_field
    from cnnviz.inside.top_patches import LayerTopK, patch_crops
    from cnnviz.plots.inside import top_patches_figure

    top = result.layers[layer]
    top = LayerTopK(layer, top.channels[:channels], top.values[:channels], top.image_index[:channels],
                    top.position[:channels], top.boxes[:channels])
    fig = top_patches_figure(patch_crops(top, images), top.values, top.channels, layer,
                             receptive_field(model, layer).size)
    save_figure(fig, FIGURES / f"cifar10_cnn_{layer}_top_patches.png", dpi=100)


def top_patches_speed():
    """All channels of cifar10_cnn's four conv layers over the CIFAR-10 test set."""
    from cnnviz import load_model
    from cnnviz.data.datasets import cifar10_dataset
    from cnnviz.inside.top_patches import top_patches
    from cnnviz.models.inputs import dataset_inputs

    model = load_model("cifar10_cnn")
    images = cifar10_dataset().x_test
    top_patches(model, images[:256], CIFAR_LAYERS, cache=False)          # compile once
    start = time.perf_counter()
    result = top_patches(model, images, CIFAR_LAYERS, cache=False)
    ours = time.perf_counter() - start
    _save_gallery(model, result, images)
    x = dataset_inputs(model, images[:NAIVE_IMAGES])
    start = time.perf_counter()
    _naive_top_patches(model, x, CIFAR_LAYERS)
    naive = time.perf_counter() - start
    ours_rate, naive_rate = len(images) / ours, NAIVE_IMAGES / naive
    rows = [[f"naive loop ({NAIVE_IMAGES} images, per-image predict per layer)", f"{naive_rate:,.1f}",
             f"{len(images) / naive_rate:,.0f} (extrapolated)", "1.0"],
            ["cnnviz top_patches (one streaming pass)", f"{ours_rate:,.0f}", f"{ours:.1f}",
             f"{ours_rate / naive_rate:,.0f}x"]]
    return ("Top-9 patches, all 192 channels of cifar10_cnn conv1-conv4, 10,000 CIFAR-10 test images",
            ["", "images / s", "seconds for 10,000", "speed-up"], rows)


_MEMORY_PROBE = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from cnnviz import load_model
from cnnviz.data.datasets import cifar10_dataset
from cnnviz.inside.top_patches import top_patches

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
model = load_model("cifar10_cnn")
images = cifar10_dataset().x_test[:int(sys.argv[1])].copy()
top_patches(model, images[:256], ["conv1", "conv2", "conv3", "conv4"], cache=False)
before = rss("VmRSS")
top_patches(model, images, ["conv1", "conv2", "conv3", "conv4"], cache=False)
print(json.dumps({"before": before, "peak": rss("VmHWM")}))
"""


def top_patches_memory():
    """Peak resident memory of a top-patches pass over 1,000 and 10,000 images
    (each in a fresh process, after the model and data are loaded)."""
    rows = []
    for n in (1000, 10000):
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(n)], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
        m = json.loads(out)
        rows.append([f"{n:,}", f"{m['before']:,.0f}", f"{m['peak']:,.0f}", f"{m['peak'] - m['before']:,.0f}"])
    return ("Top patches memory (cifar10_cnn, four conv layers)",
            ["images", "RSS before pass (MiB)", "peak RSS (MiB)", "growth during pass (MiB)"], rows)


def vgg16_activations():
    """All 13 VGG16 conv layers for one 224x224 image (weights=None)."""
    import keras

    from cnnviz import build_model
    from cnnviz.inside.activations import activations

    model = build_model("vgg16_notop")
    convs = [layer.name for layer in model.layers if "conv" in layer.name]
    x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32) * 255 - 120
    import tensorflow as tf

    subs = [tf.function(keras.Model(model.inputs, model.get_layer(n).output)) for n in convs]   # compiled too
    activations(model, x, convs)
    for sub in subs:
        sub(x)
    one, separate = [], []
    for _ in range(5):
        start = time.perf_counter()
        activations(model, x, convs)
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        for sub in subs:
            sub(x)
        separate.append(time.perf_counter() - start)
    a, b = np.median(one), np.median(separate)
    rows = [["13 separate sub-model calls (each compiled)", f"{b * 1000:,.0f}", "1.0"],
            ["cnnviz activations (one multi-output pass)", f"{a * 1000:,.0f}", f"{b / a:.1f}x"]]
    return "Activation maps of all 13 VGG16 conv layers, one 224x224 image (median of 5)", ["", "ms", "speed-up"], rows


BENCHMARKS = [top_patches_speed, top_patches_memory, vgg16_activations]
