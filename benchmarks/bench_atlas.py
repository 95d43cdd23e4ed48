"""The atlas of cifar10_cnn (all four conv layers, top-36, synthesized images,
class index) over the CIFAR-10 test images, against the sum of the underlying
jobs run on their own (reading the dataset, top patches, activation
statistics, synthesis per layer with several diverse images per channel,
class images): time and peak memory,
each side in a fresh process with an empty cache, the two sides alternating
(jobs, atlas, jobs, atlas...) so that a loaded machine's drift falls on both;
wall and CPU seconds (user + system of the process, all its threads: what
other processes on a shared machine disturb least).
From the measured costs, a projection (labelled as such) for an ImageNet-sized
model and dataset on N GPUs.

    python benchmarks/run.py atlas                      # 10,000 images, 256 steps, 3 images per channel
    ATLAS_IMAGES=1000 ATLAS_STEPS=32 ATLAS_SYNTHESES=2 ATLAS_ROUNDS=2 python benchmarks/run.py atlas
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LAYERS = ["conv1", "conv2", "conv3", "conv4"]
K = 36

_PROBE = r"""
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from cnnviz import load_model

mode, n, steps, syntheses, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
model = load_model("cifar10_cnn")
layers = ["conv1", "conv2", "conv3", "conv4"]
times = {}
load = os.getloadavg()[0]
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, cpu_start = time.perf_counter(), cpu()
if mode == "jobs":
    from cnnviz.data.datasets import balanced_subset, cifar10_dataset
    from cnnviz.inside.profile import activation_profile
    from cnnviz.inside.top_patches import top_patches
    from cnnviz.synthesis.maximize import synthesize_channels, synthesize_class

    t = time.perf_counter(); data = cifar10_dataset(test_only=True)      # as the atlas reads it
    images = data.x_test if n >= 10000 else data.x_test[balanced_subset(data.y_test, n, 0)]   # as the atlas samples
    times["dataset read"] = time.perf_counter() - t
    t = time.perf_counter(); top_patches(model, images, layers, k=36, cache=False)
    times["top patches"] = time.perf_counter() - t
    t = time.perf_counter(); activation_profile(model, images, layers)
    times["activation statistics"] = time.perf_counter() - t
    t = time.perf_counter()
    for layer in layers:
        synthesize_channels(model, layer, per_channel=syntheses, steps=steps)
    times["synthesis"] = time.perf_counter() - t
    t = time.perf_counter(); synthesize_class(model, list(range(10)), steps=steps)
    times["class images"] = time.perf_counter() - t
else:
    from cnnviz.atlas import build_atlas

    writing = []
    def progress(done, total, message=""):
        if message.startswith("writing pages") and not writing:
            writing.append(time.perf_counter())
    build_atlas(model, out, dataset="cifar10", limit=None if n >= 10000 else n, k=36, syntheses=syntheses,
                steps=steps, progress=progress)
    times["files"] = sum(1 for p in __import__("pathlib").Path(out).rglob("*") if p.is_file())
    times["writing"] = time.perf_counter() - writing[0]
total = time.perf_counter() - start
print(json.dumps({"seconds": total, "cpu": cpu() - cpu_start, "parts": times, "load": [load, os.getloadavg()[0]],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _measure(mode: str, n: int, steps: int, syntheses: int) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as site:
        env = dict(os.environ, CNNVIZ_CACHE=cache)
        out = subprocess.run([sys.executable, "-c", _PROBE, mode, str(n), str(steps), str(syntheses),
                              str(Path(site) / "atlas")], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"the {mode} run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def atlas_overhead():
    """The atlas against its jobs run separately, alternating; a projection for ImageNet on N GPUs."""
    n = int(os.environ.get("ATLAS_IMAGES", 10000))
    steps = int(os.environ.get("ATLAS_STEPS", 256))
    syntheses = int(os.environ.get("ATLAS_SYNTHESES", 3))
    rounds = int(os.environ.get("ATLAS_ROUNDS", 1))
    runs = [(_measure("jobs", n, steps, syntheses), _measure("atlas", n, steps, syntheses)) for _ in range(rounds)]
    rows = []
    for r, (jobs, atlas) in enumerate(runs, 1):
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in jobs["parts"].items())
        rows += [[f"round {r}: the jobs run separately ({parts})", f"{jobs['seconds']:.1f}", f"{jobs['cpu']:.1f}",
                  f"{jobs['peak_mb']:,.0f}", _load(jobs), "", ""],
                 [f"round {r}: cnnviz atlas ({atlas['parts']['files']:,} files, of which writing them "
                  f"{atlas['parts']['writing']:.1f} s)", f"{atlas['seconds']:.1f}", f"{atlas['cpu']:.1f}",
                  f"{atlas['peak_mb']:,.0f}", _load(atlas), _over(atlas, jobs, "seconds"), _over(atlas, jobs, "cpu")]]
    if rounds > 1:
        total = {side: {key: sum(run[i][key] for run in runs) for key in ("seconds", "cpu")}
                 for i, side in enumerate(("jobs", "atlas"))}
        rows.append([f"all {rounds} rounds: the atlas against the jobs",
                     f"{total['atlas']['seconds']:.1f} vs {total['jobs']['seconds']:.1f}",
                     f"{total['atlas']['cpu']:.1f} vs {total['jobs']['cpu']:.1f}", "", "",
                     _over(total["atlas"], total["jobs"], "seconds"), _over(total["atlas"], total["jobs"], "cpu")])
    mean_parts = {k: statistics.mean(j["parts"][k] for j, _ in runs) for k in runs[0][0]["parts"]}
    rows += _projection(n, steps, syntheses, mean_parts)
    title = (f"Atlas of cifar10_cnn, conv1-conv4 (192 channels), top-{K}, {syntheses} diverse synthesized images of "
             f"{steps} steps per channel, {n:,} CIFAR-10 test images")
    return title, ["", "wall s", "CPU s", "peak memory (MB)", "load average (start, end)", "overhead (wall)",
                   "overhead (CPU)"], rows


def _over(atlas: dict, jobs: dict, key: str) -> str:
    return f"{100 * (atlas[key] / jobs[key] - 1):+.1f}%"


def _load(run: dict) -> str:
    return "{:.1f}, {:.1f}".format(*run["load"])


def _projection(n: int, steps: int, syntheses: int, parts: dict) -> list[list[str]]:
    """PROJECTED, not measured: VGG16 (13 conv layers, 4,224 channels, ~15.5 G multiply-adds per 224x224 image
    against cifar10_cnn's ~0.021 G per 32x32 image) over ImageNet's 50,000 validation images, scaling the
    measured per-image and per-channel-step costs by that ratio, on N GPUs each ``speed`` times this machine
    (the dataset passes shared by the GPUs, synthesis on one), with the run's synthesis steps and images."""
    flop_ratio = 15.5 / 0.021
    per_image = (parts["top patches"] + parts["activation statistics"]) / n
    per_channel_step = parts["synthesis"] / (192 * syntheses * steps)
    dataset = 50_000 * per_image * flop_ratio
    synthesis = 4_224 * syntheses * steps * per_channel_step * flop_ratio
    speed = 50          # an assumed GPU speed-up over this CPU; replace by a measured one
    rows = []
    for gpus in (1, 8):         # the dataset passes split over GPUs (--engine ray); synthesis runs on one
        hours = (dataset / gpus + synthesis) / speed / 3600
        rows.append([f"PROJECTED: VGG16 over 50,000 ImageNet images on {gpus} GPU(s) (assumed {speed}x this "
                     f"machine each)", f"{hours * 3600:,.0f} ({hours:.1f} h)", "", "", "", "", ""])
    return rows


BENCHMARKS = [atlas_overhead]
