"""RISE and Score-CAM against the peers that have them, on the same model,
images and masks: cnnviz's ``rise`` against xplique's ``Rise``, cnnviz's
``scorecam`` against tf-keras-vis's ``Scorecam`` (and Faster Score-CAM,
``max_N``). First the maps are compared, then each is timed side by side
with the floor (the forward passes of the same masked inputs through the
compiled model).

Run from the repository root with the peers' own virtual environment
(../shared/PEERS.md: xplique, tf-keras-vis; never the project's venv)::

    CNNVIZ_DATA=/work/shared/data PYTHONPATH=$PWD /work/peers-venv/bin/python benchmarks/peer_attribution.py
    ... benchmarks/peer_attribution.py --images 2 --masks 1000 --repeats 3 --batch 256   # the defaults (about 2 min)

Conventions, and how the check removes them:
- RISE: xplique divides by the masks' sum at each pixel, the paper (and
  cnnviz) by ``N * keep``; cnnviz's ``extras["coverage"]`` converts one into the
  other. xplique crops every mask of a batch at one random shift, cnnviz
  each mask at its own: for the check xplique is given cnnviz's grids and
  shifts (its upsampling, scoring and sums stay its own); its own random
  masks are compared by correlation only.
- Score-CAM: tf-keras-vis zooms the activations corner to corner
  (``scipy.ndimage.zoom``), cnnviz places each unit at the centre of its
  receptive field: the check runs tf-keras-vis once with cnnviz's upsampling
  (maps must agree to float precision) and once as it is. Its ``max_N`` takes
  the union of the channels chosen over a batch; cnnviz chooses per image, so
  Faster Score-CAM is compared one image at a time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_explain import median_seconds  # noqa: E402
from run import busy_seconds, machine, own_seconds, table  # noqa: E402

CELLS, KEEP = 7, 0.5                       # xplique's defaults
LAYER, FASTER = "conv4", 16                # cifar10_cnn's last convolution (64 channels); Faster Score-CAM's N


def _relative(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(b).max(), 1e-12))


def _correlation(a, b) -> float:
    return float(np.mean([np.corrcoef(p.ravel(), q.ravel())[0, 1] for p, q in zip(a, b)]))


@contextmanager
def xplique_given_masks(grids: np.ndarray, shifts: np.ndarray):
    """xplique's Rise drawing cnnviz's grids and cropping each at cnnviz's
    shift; the upsampling is xplique's own code."""
    import tensorflow as tf
    from xplique.attributions.rise import Rise

    saved = Rise.__dict__["_get_masks"], Rise.__dict__["_apply_masks"]
    binary = tf.constant(grids[..., None])

    def get_masks(input_shape, *_):
        return tf.range(len(grids))                     # mask indices, batched by xplique like its masks

    def apply_masks(single_input, index, mask_value=0.0):
        masks = tf.cast(tf.gather(binary, index), tf.float32)
        H, W = single_input.shape[:2]
        size = (int(H * (1.0 + 1.0 / masks.shape[1])), int(W * (1.0 + 1.0 / masks.shape[2])))
        up = tf.image.resize(masks, tf.cast(size, tf.int32))
        masks = tf.stack([up[j, r:r + H, c:c + W] for j, (r, c) in enumerate(shifts[index.numpy()])])
        return masks * tf.expand_dims(single_input, 0) + (1 - masks) * mask_value, masks

    Rise._get_masks, Rise._apply_masks = staticmethod(get_masks), staticmethod(apply_masks)
    try:
        yield
    finally:
        Rise._get_masks, Rise._apply_masks = saved


@contextmanager
def tf_keras_vis_upsampling_as_cnnviz(model, layer: str):
    """tf-keras-vis's Scorecam zooming activations and maps as cnnviz does."""
    import tf_keras_vis.scorecam as module

    from cnnviz.attribution.cam import upsample_to_input

    def zoom(array, factor, **_):
        a = np.asarray(array)
        if a.ndim == 3:
            return upsample_to_input(model, layer, a)
        n, h, w, k = a.shape
        up = upsample_to_input(model, layer, a.transpose(0, 3, 1, 2).reshape(n * k, h, w))
        return up.reshape(n, k, *up.shape[1:]).transpose(0, 2, 3, 1)

    saved, module.zoom = module.zoom, zoom
    try:
        yield
    finally:
        module.zoom = saved


def rise_rows(model, x, targets, masks: int, batch: int, repeats: int) -> tuple[list, list]:
    from xplique.attributions import Rise

    from cnnviz.attribution.rise import mask_grids, rise, soft_masks
    from cnnviz.models.engine import compiled

    onehot = np.eye(int(model.outputs[0].shape[-1]), dtype=np.float32)[targets]
    peer = Rise(model, batch_size=batch, nb_samples=masks, grid_size=CELLS, preservation_probability=KEEP)
    ours = rise(model, x, targets, n_masks=masks, cells=CELLS, keep=KEEP, fill="zero", seed=0, batch_size=batch)
    grids, shifts = mask_grids(masks, CELLS, KEEP, x.shape[1:3], seed=0)
    with xplique_given_masks(grids, shifts):
        given = np.asarray(peer.explain(x, onehot))[..., 0]
    own = np.asarray(peer.explain(x, onehot))[..., 0]
    converted = ours.maps * KEEP / ours.extras["coverage"]
    checks = [["RISE", "xplique Rise given cnnviz's masks", f"{_relative(converted, given):.1e}",
               f"{_correlation(converted, given):.6f}"],
              ["RISE", "xplique Rise with its own masks", f"{_relative(converted, own):.1e}",
               f"{_correlation(converted, own):.4f}"]]
    fn = compiled(model)
    copies = [soft_masks(grids, shifts, x.shape[1:3])[..., None] * image for image in x]
    runs = {"cnnviz rise": lambda: rise(model, x, targets, n_masks=masks, cells=CELLS, keep=KEEP, fill="zero",
                                        batch_size=batch),
            "xplique Rise": lambda: peer.explain(x, onehot),
            "floor: the masked inputs, compiled": lambda: [fn(c[i:i + batch]).numpy() for c in copies
                                                           for i in range(0, masks, batch)]}
    return checks, _timed("RISE", f"{len(x)} x {masks} masks", runs, repeats)


def scorecam_rows(model, x, targets, batch: int, repeats: int) -> tuple[list, list]:
    import keras
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from cnnviz.attribution.scorecam import scorecam
    from cnnviz.models.engine import compiled

    functional = keras.Model(model.inputs, model.outputs)           # tf-keras-vis needs a functional model
    tool = Scorecam(functional, model_modifier=ReplaceToLinear(), clone=True)

    def theirs(max_n=None, **options):
        if max_n is None:
            return np.asarray(tool(CategoricalScore(list(targets)), x, penultimate_layer=LAYER,
                                   normalize_cam=False, batch_size=batch, **options))
        return np.concatenate([np.asarray(tool(CategoricalScore([int(t)]), x[i:i + 1], penultimate_layer=LAYER,
                                               max_N=max_n, normalize_cam=False, batch_size=batch, **options))
                               for i, t in enumerate(targets)])

    checks = []
    for label, max_n in (("Score-CAM", None), (f"Faster Score-CAM (max_n={FASTER})", FASTER)):
        ours = scorecam(model, x, targets, layer=LAYER, max_n=max_n, batch_size=batch)
        with tf_keras_vis_upsampling_as_cnnviz(model, LAYER):
            same = theirs(max_n)
        own, own_cam = theirs(max_n), theirs(max_n, expand_cam=False)
        checks += [[label, "tf-keras-vis Scorecam, cnnviz's upsampling", f"{_relative(ours.maps, same):.1e}",
                    f"{_correlation(ours.maps, same):.6f}"],
                   [label, "tf-keras-vis Scorecam as it is", f"{_relative(ours.maps, own):.1e}",
                    f"{_correlation(ours.maps, own):.4f}"],
                   [label, "tf-keras-vis Scorecam as it is, at the layer",
                    f"{_relative(ours.extras['cam'], own_cam):.1e}",
                    f"{_correlation(ours.extras['cam'], own_cam):.4f}"]]
    channels = int(ours.extras["weights"].shape[-1])
    fn = compiled(model)
    copies = np.repeat(x, channels, axis=0)
    runs = {"cnnviz scorecam": lambda: scorecam(model, x, targets, layer=LAYER, batch_size=batch),
            "tf-keras-vis Scorecam": lambda: theirs(),
            "floor: the masked inputs, compiled": lambda: [fn(copies[i:i + batch]).numpy()
                                                           for i in range(0, len(copies), batch)]}
    faster = {f"cnnviz scorecam max_n={FASTER}": lambda: scorecam(model, x, targets, layer=LAYER, max_n=FASTER,
                                                                  batch_size=batch),
              f"tf-keras-vis Scorecam max_N={FASTER} (a batch: the union of its channels)": lambda: tool(
                  CategoricalScore(list(targets)), x, penultimate_layer=LAYER, max_N=FASTER, normalize_cam=False,
                  batch_size=batch)}
    return checks, (_timed("Score-CAM", f"{len(x)} x {channels} channels at {LAYER}", runs, repeats)
                    + _timed("Faster Score-CAM", f"{len(x)} x {FASTER} channels at {LAYER}", faster, repeats))


def _timed(method: str, work: str, runs: dict, repeats: int) -> list:
    times = median_seconds(runs, repeats)
    ours = next(seconds for name, seconds in times.items() if name.startswith("cnnviz"))
    return [[method, work, name, f"{1000 * seconds:.1f}", f"{seconds / ours:.2f}x"] for name, seconds in times.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2, help="CIFAR-10 test images (default 2)")
    parser.add_argument("--masks", type=int, default=1000, help="RISE masks (default 1000)")
    parser.add_argument("--batch", type=int, default=256, help="masked inputs per model call, for all (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender, taken in turn (default 3)")
    args = parser.parse_args()

    import keras

    from cnnviz import load_dataset, load_model
    from cnnviz.models.inputs import dataset_inputs

    keras.config.disable_interactive_logging()          # tf-keras-vis calls model.predict: no progress bars
    model = load_model("cifar10_cnn")
    x = dataset_inputs(model, load_dataset("cifar10").x_test[:args.images])
    targets = np.argmax(np.asarray(model(x)), axis=-1)
    print(f"Machine: {machine()}\n", flush=True)
    wall, busy, own = time.perf_counter(), busy_seconds(), own_seconds()
    checks, times = rise_rows(model, x, targets, args.masks, args.batch, args.repeats)
    more_checks, more_times = scorecam_rows(model, x, targets, args.batch, args.repeats)
    wall = time.perf_counter() - wall
    other = max(0.0, (busy_seconds() - busy) - (own_seconds() - own)) / wall
    print(table(f"Same maps: cifar10_cnn, {len(x)} CIFAR-10 test images, predicted classes",
                ["method", "peer", "max difference / peer's max", "mean correlation"], checks + more_checks))
    print(table(f"Time side by side: cifar10_cnn, batch {args.batch} for all (ms, median of {args.repeats} taken in "
                "turn after a warm-up)", ["method", "work", "run", "ms", "vs cnnviz"], times + more_times))
    print(f"*Other processes used {other:.2f} of {os.cpu_count()} cores while it ran ({wall:.0f} s).*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
