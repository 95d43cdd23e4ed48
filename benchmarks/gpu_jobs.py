"""The device check and the VGG16-sized jobs of ``benchmarks/gpu_check.sh``,
each printed as a Markdown table (and appended to ``--out``):

- ``device``: TensorFlow's GPUs, memory growth on each (cnnviz's runtime
  turns it on), and a matmul placed on the GPU; exits 1 without a GPU
  unless ``--allow-cpu``;
- ``lime``: LIME with ``--samples`` samples on VGG16 (weights=None, or
  ``--model``) at 224x224 against its floor, the same number of forward passes in batches of 100;
- ``top9``: top-9 patches of VGG16 block5_conv3 over a folder of ``--images``
  generated 224x224 JPEGs, streamed from disk, against the model floor (the
  same images, decoded beforehand, through the layer's compiled sub-model);
- ``finetune``: one fine-tuning epoch of VGG16 (all layers trainable) on
  that folder, against one epoch of plain ``model.fit`` of the same model on
  the same arrays.

    python benchmarks/gpu_jobs.py device lime top9 finetune --out $OUT/gpu_check.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from run import machine, table  # noqa: E402


def device(args) -> tuple:
    import tensorflow as tf

    from cnnviz.common.runtime import setup_devices

    described = setup_devices()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        raise SystemExit(f"no GPU: TensorFlow {tf.__version__} sees {tf.config.list_physical_devices()} "
                         f"(built with CUDA: {tf.test.is_built_with_cuda()})")
    rows = [[gpu.name, tf.config.experimental.get_device_details(gpu).get("device_name", "?"),
             tf.config.experimental.get_memory_growth(gpu)] for gpu in gpus]
    if gpus and not all(row[2] for row in rows):
        raise SystemExit(f"memory growth is off on {[row[0] for row in rows if not row[2]]}")
    with tf.device("/GPU:0" if gpus else "/CPU:0"):
        product = tf.matmul(tf.ones((512, 512)), tf.ones((512, 512)))
    rows.append(["matmul placed on", product.device, "-"])
    return (f"Device: cnnviz says {described!r}; TensorFlow {tf.__version__}, built with CUDA "
            f"{tf.test.is_built_with_cuda()}", ["device", "name", "memory growth"], rows)


def _model(args):
    """VGG16 with random weights (no download), or ``--model`` (a smaller one, to try the script on a CPU)."""
    from cnnviz import load_model

    return load_model(args.model, weights="none") if args.model.startswith("vgg16") else load_model(args.model)


def _size(model) -> tuple[int, int, int]:
    return tuple(int(s) for s in model.inputs[0].shape[1:4])


def _layer(model, args) -> str:
    from cnnviz.attribution.cam import default_layer

    return "block5_conv3" if args.model.startswith("vgg16") else default_layer(model)


def lime_job(args) -> tuple:
    from cnnviz.attribution.lime import LIME_BATCH, lime
    from cnnviz.models.engine import compiled
    from cnnviz.models.inputs import dataset_inputs

    model = _model(args)
    x = dataset_inputs(model, np.random.default_rng(0).integers(0, 256, (1, *_size(model)), dtype=np.uint8))
    fn = compiled(model)
    copies = np.repeat(x, LIME_BATCH, axis=0)
    lime(model, x, 0, samples=LIME_BATCH)                       # warm-up: tracing, cuDNN's choice of algorithms
    fn(copies).numpy()
    start = time.perf_counter()
    lime(model, x, 0, samples=args.samples)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.samples // LIME_BATCH):
        fn(copies).numpy()
    floor = time.perf_counter() - start
    return (f"LIME, {args.samples} samples, {model.name} at {_size(model)[0]}x{_size(model)[1]}, one image (s, one "
            "run after a warm-up)",
            ["run", "seconds", "vs floor"],
            [[f"floor: {args.samples} forward passes, batches of {LIME_BATCH}", f"{floor:.2f}", "1.00x"],
             ["cnnviz lime (segmentation and lime's fit included)", f"{ours:.2f}", f"{ours / floor:.2f}x"]])


def folder(args, side: int) -> Path:
    """``--images`` generated JPEGs of ``side`` pixels in 10 class folders (written once)."""
    os.environ.setdefault("CNNVIZ_BENCH_DIR", str(Path(tempfile.gettempdir()) / "cnnviz-gpu-check"))
    import bench_stream

    bench_stream.ROOT = Path(os.environ["CNNVIZ_BENCH_DIR"])
    return bench_stream.image_folder(args.images, [side], f"jpeg{side}")


def top9_job(args) -> tuple:
    from cnnviz.data.sources import image_folder_dataset
    from cnnviz.data.stream import list_images
    from cnnviz.inside.top_patches import top_patches_files
    from cnnviz.models.engine import feature_function
    from cnnviz.models.inputs import dataset_inputs

    model = _model(args)
    H, W, _ = _size(model)
    root = folder(args, H)
    files = list_images(str(root)).paths
    layer = _layer(model, args)
    top_patches_files(model, files[:args.batch], [layer], cache=False, batch_size=args.batch)        # warm-up
    start = time.perf_counter()
    top_patches_files(model, files, [layer], cache=False, batch_size=args.batch)
    ours = time.perf_counter() - start
    x = dataset_inputs(model, image_folder_dataset(str(root), (H, W)).x_test)
    fn = feature_function(model, (layer,))
    fn(x[:args.batch])
    start = time.perf_counter()
    for i in range(0, len(x), args.batch):
        np.asarray(fn(x[i:i + args.batch])[0]).max(axis=(1, 2))
    floor = time.perf_counter() - start
    return (f"Top-9 patches, {model.name} {layer}, all channels, {len(files):,} {H}x{W} JPEGs streamed from a folder, "
            f"batches of {args.batch} (s, one run after a warm-up)",
            ["run", "seconds", "images / s", "vs floor"],
            [["floor: decoded images through the compiled layer", f"{floor:.2f}", f"{len(x) / floor:,.0f}", "1.00x"],
             ["cnnviz top_patches_files (decode, model, top-9)", f"{ours:.2f}", f"{len(files) / ours:,.0f}",
              f"{ours / floor:.2f}x"]])


def finetune_job(args) -> tuple:
    from cnnviz.data.sources import image_folder_dataset
    from cnnviz.lab.training import compile_classifier, make_optimizer
    from cnnviz.lab.transfer import build_finetune_model, finetune, set_trainable
    from cnnviz.models.inputs import dataset_inputs

    backbone = _model(args)
    H, W, _ = _size(backbone)
    root = folder(args, H)
    data = image_folder_dataset(str(root), (H, W))
    model = build_finetune_model(backbone, len(data.classes))
    set_trainable(model, "all")
    compile_classifier(model, make_optimizer("adam", 1e-5))
    x, y = dataset_inputs(backbone, data.x_test), data.y_test
    model.fit(x[:args.batch], y[:args.batch], batch_size=args.batch, epochs=1, verbose=0)   # warm-up
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
    plain = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        result = finetune(backbone, str(root), epochs_head=0, epochs_all=2, batch_size=args.batch,
                          out=str(Path(tmp) / "vgg16-finetuned.keras"), command="gpu_check")
    ours = result.card["history"]["time_s"][-1]                  # the second epoch: traced already
    return (f"One fine-tuning epoch of {backbone.name} (all layers trainable), {len(x):,} {H}x{W} images, batch "
            f"{args.batch} (s)",
            ["run", "seconds per epoch", "vs plain"],
            [["plain model.fit (one epoch after a warm-up)", f"{plain:.2f}", "1.00x"],
             ["cnnviz finetune (its second epoch: 90% of the images, a validation pass on the rest, checkpoint "
              "and card)", f"{ours:.2f}",
              f"{ours / plain:.2f}x"]])


JOBS = {"device": device, "lime": lime_job, "top9": top9_job, "finetune": finetune_job}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", nargs="+", choices=list(JOBS))
    parser.add_argument("--model", default="vgg16", help="vgg16 (weights=None, the default) or a smaller zoo model")
    parser.add_argument("--samples", type=int, default=1000, help="LIME samples (1000)")
    parser.add_argument("--images", type=int, default=2000, help="images in the generated folder (2000)")
    parser.add_argument("--batch", type=int, default=32, help="images per model call or training step (32)")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (to try the script on a CPU)")
    parser.add_argument("--out", type=Path, help="also append the tables to this file")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n", flush=True)
    for name in args.jobs:
        start = time.perf_counter()
        text = table(*JOBS[name](args)) + f"\n*{name}: {time.perf_counter() - start:.0f} s in all.*\n"
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
