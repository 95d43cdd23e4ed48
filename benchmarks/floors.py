"""Every overhead-bound method against its floor and the peers that run on
Keras 3, side by side: ``python benchmarks/run.py --peers``.

The floor of a method is the work it cannot avoid, written plainly: one
``tf.function`` (a gradient, a CAM) or the batched forward passes of its
masked or perturbed copies, built beforehand (LIME's also segments each image
and fits lime's weighted linear model: the work any LIME does). cnnviz's call is timed as a
user makes it (pixels checked, targets given, NumPy maps back). The peers
run in their own virtual environment (../shared/PEERS.md) in a worker
process (``peer_floors.py``) that this process asks to time one call at a
time, so the contenders of a row are taken in turn, floor, cnnviz, peers,
after a warm-up each. The first call is timed on a freshly loaded model:
what tracing and building the method's functions cost once per model.

All jobs run on cifar10_cnn at batch 1 and batch 32 with seeded random
pixels; the sample counts of the black-box methods are smaller at batch 32
(JOBS) so that a row stays within seconds on two CPU cores.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL, LAYER = "cifar10_cnn", "conv4"
BATCHES = (1, 32)
CHUNK = 256                        # copies per forward pass, for the floors, cnnviz and the peers alike

# method: (cnnviz options at batch 1, at batch 32)
JOBS = {
    "saliency": ({}, {}),
    "gradient_x_input": ({}, {}),
    "smoothgrad": ({"samples": 10, "noise": 0.15}, {"samples": 10, "noise": 0.15}),
    "integrated_gradients": ({"steps": 16, "baseline": "black"}, {"steps": 16, "baseline": "black"}),
    "guided_backprop": ({}, {}),
    "gradcam": ({"layer": LAYER}, {"layer": LAYER}),
    "gradcam++": ({"layer": LAYER}, {"layer": LAYER}),
    "occlusion": ({"patch": 8, "stride": 4, "fill": "grey"}, {"patch": 8, "stride": 4, "fill": "grey"}),
    "lime": ({"samples": 1000}, {"samples": 50}),
    "rise": ({"n_masks": 1000}, {"n_masks": 50}),
    "scorecam": ({"layer": LAYER}, {"layer": LAYER}),
    "fgsm": ({"eps": 8 / 255}, {"eps": 8 / 255}),
    "pgd": ({"eps": 8 / 255, "steps": 10}, {"eps": 8 / 255, "steps": 10}),
}
ATTACKS = ("fgsm", "pgd")


def options(job: str, batch: int) -> dict:
    return dict(JOBS[job][BATCHES.index(batch)])


def work(job: str, batch: int) -> str:
    """What one call does, for the table."""
    o = options(job, batch)
    per_image = {"smoothgrad": f"{o.get('samples')} noisy copies", "integrated_gradients": f"{o.get('steps')} steps",
                 "occlusion": "49 patches 8x8, stride 4", "rise": f"{o.get('n_masks')} masks",
                 "lime": f"{o.get('samples')} samples (floor: their forward passes, the segmentation, lime's fit)",
                 "scorecam": f"64 channels at {LAYER} (floor: its activations too)",
                 "gradcam": f"at {LAYER}", "gradcam++": f"at {LAYER}",
                 "fgsm": "one step; both predictions", "pgd": f"{o.get('steps')} steps; both predictions"}
    return per_image.get(job, "one gradient")


def inputs(model, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random pixels as (model input, [0, 1] pixels for the attacks,
    predicted classes): the same in every process."""
    from cnnviz.models.engine import forward
    from cnnviz.models.inputs import dataset_inputs

    pixels = np.random.default_rng(batch).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
    x = dataset_inputs(model, pixels)
    return x, pixels.astype(np.float32) / 255, np.argmax(forward(model, x), axis=-1).astype(np.int64)


# ---------------------------------------------------------------- the floors

def gradient_floor(model, x, onehot, rule: str = "plain", times_input: bool = False):
    """One tf.function: the gradient of the target logit, reduced over channels."""
    import tensorflow as tf

    from cnnviz.models.surgery import logits_model, relu_rule_model

    net = logits_model(model) if rule == "plain" else relu_rule_model(model, rule)

    @tf.function
    def fn(x, onehot):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(net(x, training=False) * onehot, axis=-1)
        g = tape.gradient(score, x)
        return tf.reduce_sum(g * x, axis=-1) if times_input else tf.reduce_max(tf.abs(g), axis=-1)

    return lambda: fn(x, onehot).numpy()


def smoothgrad_floor(model, x, onehot, samples: int, noise: float):
    import tensorflow as tf

    from cnnviz.models.surgery import logits_model

    net = logits_model(model)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))

    @tf.function
    def fn(x, onehot, sigma):
        noisy = tf.repeat(x, samples, axis=0)
        noisy += tf.random.normal(tf.shape(noisy)) * tf.repeat(sigma, samples)[:, None, None, None]
        with tf.GradientTape() as tape:
            tape.watch(noisy)
            score = tf.reduce_sum(net(noisy, training=False) * tf.repeat(onehot, samples, axis=0), axis=-1)
        g = tf.reshape(tape.gradient(score, noisy), (-1, samples, *x.shape[1:]))
        return tf.reduce_max(tf.abs(tf.reduce_mean(g, axis=1)), axis=-1)

    return lambda: fn(x, onehot, sigma).numpy()


def integrated_gradients_floor(model, x, onehot, steps: int):
    import tensorflow as tf

    from cnnviz.attribution.base import pixel_value
    from cnnviz.models.surgery import logits_model

    net = logits_model(model)
    base = np.broadcast_to(pixel_value(model, 0, x.shape[-1]), x.shape).astype(np.float32)
    alphas = np.linspace(0, 1, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1 / steps, np.float32)
    weights[[0, -1]] /= 2                                          # the trapezoid rule

    @tf.function
    def fn(x, base, onehot):
        path = tf.reshape(base[:, None] + alphas[None, :, None, None, None] * (x - base)[:, None], (-1, *x.shape[1:]))
        with tf.GradientTape() as tape:
            tape.watch(path)
            score = tf.reduce_sum(net(path, training=False) * tf.repeat(onehot, steps + 1, axis=0), axis=-1)
        g = tf.reshape(tape.gradient(score, path), (-1, steps + 1, *x.shape[1:]))
        return tf.reduce_sum((x - base) * tf.einsum("nshwc,s->nhwc", g, weights), axis=-1)

    return lambda: fn(x, base, onehot).numpy()


def cam_floor(model, x, onehot, plus: bool):
    """One tf.function: Grad-CAM (or ++) at LAYER, resized to the input."""
    import tensorflow as tf

    from cnnviz.models.surgery import features_and_logits

    both = features_and_logits(model, LAYER)

    @tf.function
    def fn(x, onehot):
        with tf.GradientTape() as tape:
            a, out = both(x, training=False)
            score = tf.reduce_sum(out * onehot, axis=-1)
        g = tape.gradient(score, a)
        if plus:
            g2, g3 = g ** 2, g ** 3
            denominator = 2 * g2 + tf.reduce_sum(a, axis=(1, 2), keepdims=True) * g3
            alpha = g2 / tf.where(denominator != 0, denominator, 1)
            w = tf.reduce_sum(alpha * tf.nn.relu(g), axis=(1, 2))
        else:
            w = tf.reduce_mean(g, axis=(1, 2))
        cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, w))
        return tf.image.resize(cam[..., None], x.shape[1:3])[..., 0]

    return lambda: fn(x, onehot).numpy()


def copies_floor(model, copies: np.ndarray, chunk: int = CHUNK):
    """The forward passes of prebuilt copies, in batches of ``chunk``."""
    from cnnviz.models.engine import compiled

    fn = compiled(model)
    return lambda: [fn(copies[i:i + chunk]).numpy() for i in range(0, len(copies), chunk)]


def occlusion_copies(model, x, patch: int, stride: int, fill: str) -> np.ndarray:
    from cnnviz.attribution.occlusion import fill_images, patch_masks, positions

    H, W = x.shape[1:3]
    masks = patch_masks(H, W, positions(H, patch, stride), positions(W, patch, stride), patch)
    fills = fill_images(model, x, fill, patch)
    return np.where(masks[None, :, :, :, None], fills[:, None], x[:, None]).reshape(-1, *x.shape[1:])


def rise_copies(x, n_masks: int) -> np.ndarray:
    from cnnviz.attribution.rise import mask_grids, soft_masks

    masks = soft_masks(*mask_grids(n_masks, 7, 0.5, x.shape[1:3]), x.shape[1:3])[..., None]
    return (masks[None] * x[:, None]).reshape(-1, *x.shape[1:])


def attack_floor(model, pixels, labels, eps: float, steps: int):
    """One tf.function: ``steps`` signed-gradient steps on the cross-entropy
    (from a random start for PGD), projected into the L-inf ball and [0, 1],
    and the probabilities of the originals and the adversarials (what
    cnnviz's result holds; FGSM's first step gives the originals' for free)."""
    import tensorflow as tf

    from cnnviz.models.surgery import logits_model

    net = logits_model(model)
    alpha = eps if steps == 1 else 2.5 * eps / steps

    @tf.function
    def fn(x0, y):
        x = x0 if steps == 1 else tf.clip_by_value(x0 + tf.random.uniform(tf.shape(x0), -eps, eps), 0, 1)
        originals = None if steps == 1 else net(x0, training=False)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = net(x, training=False)
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y, z)
            originals = z if originals is None else originals
            x = x + alpha * tf.sign(tape.gradient(loss, x))
            x = tf.clip_by_value(tf.clip_by_value(x, x0 - eps, x0 + eps), 0, 1)
        return x, tf.nn.softmax(originals), tf.nn.softmax(net(x, training=False))

    return lambda: [t.numpy() for t in fn(pixels, labels)]


def lime_floor(model, x, targets, samples: int):
    """The work any LIME does: the forward passes of its perturbed copies
    (built beforehand), one segmentation per image and lime's weighted linear
    fit of the scores (``LimeBase``, its kernel and cosine distances)."""
    from lime.lime_base import LimeBase
    from sklearn.metrics import pairwise_distances

    from cnnviz.attribution.lime import LIME_BATCH, Superpixels, lime_draws, pixel_image

    forward_passes = copies_floor(model, np.repeat(x, samples, axis=0), LIME_BATCH)
    segment, pixels = Superpixels(), [pixel_image(model, image) for image in x]
    base = LimeBase(lambda d, width=0.25: np.sqrt(np.exp(-(d ** 2) / width ** 2)), random_state=0)

    def run():
        scores = np.concatenate(forward_passes())
        for n, image in enumerate(pixels):
            draws = lime_draws(0, int(segment(image).max()) + 1, samples)
            distances = pairwise_distances(draws, draws[:1], metric="cosine").ravel()
            base.explain_instance_with_data(draws, scores[n * samples:(n + 1) * samples], distances,
                                            int(targets[n]), 100000)
    return run


def scorecam_floor(model, x):
    """The forward passes Score-CAM needs: the layer's activations of the
    images, then the images masked by each of its 64 channels (built beforehand)."""
    from cnnviz.models.engine import features

    masked = copies_floor(model, np.repeat(x, 64, axis=0))
    return lambda: (features(model, x, (LAYER,)), masked())


def floor(job: str, model, x, pixels, targets) -> callable:
    """The plain floor of ``job`` on these inputs."""
    from cnnviz.attribution.base import onehot

    o = options(job, len(x))
    hot = onehot(targets, int(model.outputs[0].shape[-1]))
    if job in ("saliency", "gradient_x_input", "guided_backprop"):
        return gradient_floor(model, x, hot, "guided" if job == "guided_backprop" else "plain",
                              job == "gradient_x_input")
    if job == "smoothgrad":
        return smoothgrad_floor(model, x, hot, o["samples"], o["noise"])
    if job == "integrated_gradients":
        return integrated_gradients_floor(model, x, hot, o["steps"])
    if job in ("gradcam", "gradcam++"):
        return cam_floor(model, x, hot, job == "gradcam++")
    if job == "occlusion":
        return copies_floor(model, occlusion_copies(model, x, o["patch"], o["stride"], o["fill"]))
    if job == "rise":
        return copies_floor(model, rise_copies(x, o["n_masks"]))
    if job == "scorecam":
        return scorecam_floor(model, x)
    if job == "lime":
        return lime_floor(model, x, targets, o["samples"])
    if job in ATTACKS:
        return attack_floor(model, pixels, targets.astype(np.int32), o["eps"], o.get("steps", 1))
    raise KeyError(job)


def ours(job: str, model, x, pixels, targets) -> callable:
    """cnnviz's call of ``job``, as a user makes it."""
    import cnnviz.attribution as attribution
    from cnnviz.adversarial import attack

    o = options(job, len(x))
    if job in ATTACKS:
        return lambda: attack(model, pixels, method=job, labels=targets, **o)
    function = attribution.gradcam_plus_plus if job == "gradcam++" else getattr(attribution, job)
    return lambda: function(model, x, targets, **o)


# ---------------------------------------------------------------- the peers' worker

class Peers:
    """The worker process in the peers' virtual environment: asked to set a
    job up (warm-up included) and to time one call of a peer."""

    def __init__(self, python: str):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE)]), TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen([python, str(HERE / "peer_floors.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=HERE.parent)
        self.names = self.ask(op="names")["names"]

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the peers' worker stopped (exit {self.process.wait()})")
        return json.loads(line)

    def prepare(self, job: str, batch: int) -> list[str]:
        """The peers that have ``job``, set up and warmed up; the others' reasons are dropped."""
        return self.ask(op="prepare", job=job, batch=batch)["ready"]

    def time(self, peer: str) -> float:
        return self.ask(op="run", peer=peer)["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()

    def cpu_seconds(self) -> float:
        """The worker's CPU seconds so far (it is not a finished child yet)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class NoPeers:
    names: list = []

    def prepare(self, job, batch):
        return []

    def cpu_seconds(self):
        return 0.0

    def close(self):
        pass


# ---------------------------------------------------------------- the table

@dataclass
class Row:
    job: str
    batch: int
    floor: float
    cnnviz: float
    first_call: float
    peers: dict
    other_cores: float


def first_call(job: str, batch: int) -> float:
    """Seconds of cnnviz's first call on a freshly loaded model (its
    functions traced and built), inputs prepared beforehand."""
    from cnnviz import load_model

    model = load_model(MODEL)
    x, pixels, targets = inputs(model, batch)
    start = time.perf_counter()
    ours(job, model, x, pixels, targets)()
    return time.perf_counter() - start


def measure(job: str, batch: int, model, peers, repeats: int) -> Row:
    """One row: first call, then floor, cnnviz and each peer taken in turn
    ``repeats`` times after a warm-up; the load is that of the timed part."""
    from run import busy_seconds, own_seconds

    cold = first_call(job, batch)
    x, pixels, targets = inputs(model, batch)
    runs = {"floor": floor(job, model, x, pixels, targets), "cnnviz": ours(job, model, x, pixels, targets)}
    for run in runs.values():
        run()
    ready = peers.prepare(job, batch)
    times = {name: [] for name in [*runs, *ready]}
    wall, busy, own = time.perf_counter(), busy_seconds(), own_seconds() + peers.cpu_seconds()
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        for name in ready:
            times[name].append(peers.time(name))
    wall = time.perf_counter() - wall
    other = max(0.0, (busy_seconds() - busy) - (own_seconds() + peers.cpu_seconds() - own)) / wall
    median = {name: statistics.median(t) for name, t in times.items()}
    return Row(job, batch, median.pop("floor"), median.pop("cnnviz"), cold, median, other)


def rows(peers, only=(), repeats: int = 5, report=print) -> list[Row]:
    """Every job (or those named in ``only``) at batch 1 and 32, the peers
    timed by ``peers`` (a :class:`Peers` worker, or :class:`NoPeers`)."""
    from cnnviz import load_model

    model = load_model(MODEL)
    out = []
    for job in JOBS:
        if only and not any(word in job for word in only):
            continue
        for batch in BATCHES:
            out.append(measure(job, batch, model, peers, repeats))
            report(out[-1])
    return out


def table_rows(measured: list[Row], max_other_cores: float) -> list[list[str]]:
    """Printed rows; a row whose run shared the machine with more than
    ``max_other_cores`` of other work shows no figures."""
    def ms(seconds):
        return f"{1000 * seconds:.1f}"

    printed = []
    for r in measured:
        load = f"{r.other_cores:.2f}"
        head = [r.job, str(r.batch), work(r.job, r.batch)]
        if r.other_cores > max_other_cores:
            printed.append(head + ["-", "-", "-", "-", "-", f"{load}: too busy, not shown"])
            continue
        peers = ", ".join(f"{name} {ms(s)} ({s / r.floor:.2f}x)" for name, s in sorted(r.peers.items(),
                                                                                       key=lambda kv: kv[1]))
        printed.append(head + [ms(r.floor), ms(r.cnnviz), f"{r.cnnviz / r.floor:.2f}x", peers or "-",
                               ms(r.first_call), load])
    return printed


HEADER = ["method", "batch", "work per image", "floor ms", "cnnviz ms", "cnnviz / floor",
          "peers ms (vs floor), fastest first", "cnnviz first call ms", "other cores"]


def peers_python_default() -> str | None:
    """The peers' interpreter: ``CNNVIZ_PEERS_PYTHON``, else /work/peers-venv if it exists."""
    path = os.environ.get("CNNVIZ_PEERS_PYTHON") or "/work/peers-venv/bin/python"
    return path if Path(path).exists() else None


if __name__ == "__main__":
    sys.exit("run it as: python benchmarks/run.py --peers")
