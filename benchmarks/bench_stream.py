"""Dataset-scale benchmarks: top-9 patches over an image folder streamed from
disk against its two floors, the decode floor (the same tf.data pipeline with
no model) and the model floor (the model on pre-decoded arrays); peak memory
at two dataset sizes; the Ray engine with 1 and 2 workers against the local
one.

The folders are generated once (JPEGs of mixed sizes, smooth random content)
under ``CNNVIZ_BENCH_DIR`` (default ``/tmp/cnnviz-bench-stream``). The issue's
sizes are the defaults; ``CNNVIZ_BENCH_STREAM_IMAGES`` and
``CNNVIZ_BENCH_VGG_IMAGES`` scale them down on a machine that cannot spare
the time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(os.environ.get("CNNVIZ_BENCH_DIR", "/tmp/cnnviz-bench-stream"))
CIFAR_IMAGES = int(os.environ.get("CNNVIZ_BENCH_STREAM_IMAGES", 20000))
VGG_IMAGES = int(os.environ.get("CNNVIZ_BENCH_VGG_IMAGES", 2000))
BATCH = 256
VGG_BATCH = 16          # VGG16's first blocks at 224x224: 256 images would hold ~7 GB of activations


def image_folder(n: int, sizes, name: str) -> Path:
    """``n`` JPEGs in 10 class folders, side lengths drawn from ``sizes``
    (written once; a folder already complete is reused)."""
    from PIL import Image

    root = ROOT / f"{name}-{n}"
    done = root / ".complete"
    if done.exists():
        return root
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = int(rng.choice(sizes)), int(rng.choice(sizes))
        small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.BILINEAR)      # smooth, compresses like a photo
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:06d}.jpg", quality=90)
    done.touch()
    return root


def _rate(n: int, seconds: float) -> str:
    rate = n / seconds
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"


def _floors_and_stream(model, folder: Path, layer: str, n: int, batch: int) -> list[list[str]]:
    from cnnviz.data.stream import list_images, shards
    from cnnviz.inside.top_patches import top_patches, top_patches_files
    from cnnviz.models.inputs import stream_size

    files = list_images(folder)
    size = stream_size(model)
    top_patches_files(model, list_images(folder, limit=batch).paths, [layer], cache=False, batch_size=batch)

    start = time.perf_counter()
    decoded = np.concatenate([s.pixels for s in shards(files, size, batch)])
    decode = time.perf_counter() - start

    start = time.perf_counter()
    top_patches(model, decoded, [layer], cache=False, batch_size=batch)
    model_only = time.perf_counter() - start
    del decoded

    start = time.perf_counter()
    top_patches_files(model, folder, [layer], cache=False, batch_size=batch)
    stream = time.perf_counter() - start
    floor = max(decode, model_only)
    return [["decode floor (tf.data pipeline, no model)", _rate(n, decode), f"{decode:.1f}", ""],
            ["model floor (model on pre-decoded arrays)", _rate(n, model_only), f"{model_only:.1f}", ""],
            ["streaming top_patches_files (local engine)", _rate(n, stream), f"{stream:.1f}",
             f"{stream / floor:.2f}x the slower floor"]]


HEADER = ["", "images / s", "seconds", "against the floors"]


def stream_cifar():
    """Decode-bound: all 128 channels of cifar10_cnn's conv4 over generated JPEGs of mixed sizes."""
    from cnnviz import load_model

    folder = image_folder(CIFAR_IMAGES, [24, 32, 48, 64, 96, 128], "mixed")
    rows = _floors_and_stream(load_model("cifar10_cnn"), folder, "conv4", CIFAR_IMAGES, BATCH)
    return (f"Top-9 over a folder: cifar10_cnn conv4, all channels, {CIFAR_IMAGES:,} JPEGs of mixed sizes "
            f"(24-128 px)", HEADER, rows)


def stream_vgg16():
    """Model-bound: VGG16 (random weights) block3_conv3 over 224x224 JPEGs."""
    from cnnviz import load_model

    folder = image_folder(VGG_IMAGES, [224], "vgg")
    rows = _floors_and_stream(load_model("vgg16_notop", weights="none"), folder, "block3_conv3", VGG_IMAGES,
                              VGG_BATCH)
    return (f"Top-9 over a folder: VGG16 (weights=None) block3_conv3, all 256 channels, {VGG_IMAGES:,} "
            f"224x224 JPEGs, batches of {VGG_BATCH}", HEADER, rows)


_MEMORY_PROBE = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from cnnviz import load_model
from cnnviz.data.stream import list_images
from cnnviz.inside.top_patches import top_patches_files

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
model = load_model("cifar10_cnn")
files = list_images(sys.argv[1], limit=int(sys.argv[2])).paths
top_patches_files(model, files[:256], ["conv4"], cache=False)
before = rss("VmRSS")
top_patches_files(model, files, ["conv4"], cache=False)
print(json.dumps({"before": before, "peak": rss("VmHWM")}))
"""


def stream_memory():
    """Peak resident memory of a streamed pass at a tenth of the folder and
    the whole folder (each in a fresh process, after the model is loaded)."""
    folder = image_folder(CIFAR_IMAGES, [24, 32, 48, 64, 96, 128], "mixed")
    rows = []
    for n in (CIFAR_IMAGES // 10, CIFAR_IMAGES):
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(folder), str(n)], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        m = json.loads(out)
        rows.append([f"{n:,}", f"{m['before']:,.0f}", f"{m['peak']:,.0f}", f"{m['peak'] - m['before']:,.0f}"])
    return ("Streaming memory (cifar10_cnn conv4, JPEG folder)",
            ["images", "RSS before pass (MiB)", "peak RSS (MiB)", "growth during pass (MiB)"], rows)


def stream_ray():
    """The same cifar10_cnn job on Ray Data (a local Ray instance, 1 and 2
    model actors) against the local engine; Ray's times include starting
    the actors (each imports TensorFlow and loads the model)."""
    import ray

    from cnnviz import load_model
    from cnnviz.inside.top_patches import top_patches_files

    folder = image_folder(CIFAR_IMAGES, [24, 32, 48, 64, 96, 128], "mixed")
    model = load_model("cifar10_cnn")
    top_patches_files(model, folder, ["conv4"], cache=False, limit=BATCH)        # compile once
    start = time.perf_counter()
    top_patches_files(model, folder, ["conv4"], cache=False, batch_size=BATCH)
    local = time.perf_counter() - start
    rows = [["local engine (tf.data)", _rate(CIFAR_IMAGES, local), f"{local:.1f}", "1.00"]]
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        for workers in (1, 2):
            start = time.perf_counter()
            top_patches_files(model, folder, ["conv4"], cache=False, batch_size=BATCH, engine="ray",
                              workers=workers)
            took = time.perf_counter() - start
            rows.append([f"Ray Data, {workers} actor(s)", _rate(CIFAR_IMAGES, took), f"{took:.1f}",
                         f"{took / local:.2f}"])
    finally:
        ray.shutdown()
    return (f"Top-9 over {CIFAR_IMAGES:,} JPEGs (cifar10_cnn conv4): Ray engine against local, this machine",
            ["engine", "images / s", "seconds", "time / local"], rows)


BENCHMARKS = [stream_cifar, stream_vgg16, stream_memory, stream_ray]
