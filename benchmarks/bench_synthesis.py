"""Activation-maximization benchmarks: all channels of a layer batched against
the lecture's one-channel-at-a-time loop, the shipped models' images against
the real test sets, one channel against xplique and tf-keras-vis, and a gallery
of eight channels per layer against xplique's images (run this file with a
Python where the peers are installed, see ../shared/PEERS.md; without them
their rows say so)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
LOOP_STEPS = 128


def _lecture_loop(model, layer, channels, steps, shape, lr=0.05):
    """The lecture's code: for each filter its own compiled gradient function,
    normalized-gradient ascent from random grey."""
    import keras
    import tensorflow as tf

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    images = []
    for channel in channels:
        @tf.function
        def step(x, channel=channel):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_mean(sub(x)[..., channel])
            g = tape.gradient(loss, x)
            g /= tf.sqrt(tf.reduce_mean(tf.square(g))) + 1e-5
            return tf.clip_by_value(x + lr * g, 0.0, 1.0)

        x = tf.constant(0.5 + 0.02 * np.random.default_rng(channel).standard_normal((1, *shape)), tf.float32)
        for _ in range(steps):
            x = step(x)
        images.append(x.numpy()[0])
    return np.stack(images)


def batched_vs_loop(rounds: int = 2):
    """All 64 channels of cifar10_cnn conv4, same number of steps; the two
    interleaved ``rounds`` times, best of each (the machine is shared)."""
    from cnnviz import load_model
    from cnnviz.synthesis.maximize import synthesize_channels

    model = load_model("cifar10_cnn")
    synthesize_channels(model, "conv4", range(64), steps=2)                 # compile once
    batched, loop = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        synthesize_channels(model, "conv4", range(64), steps=LOOP_STEPS)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        _lecture_loop(model, "conv4", range(64), LOOP_STEPS, (32, 32, 3))
        loop.append(time.perf_counter() - start)
    rows = [["lecture loop (one compiled function per channel)", f"{min(loop):.1f}", "1.0"],
            ["cnnviz synthesize_channels (one batch)", f"{min(batched):.1f}", f"{min(loop) / min(batched):.1f}x"]]
    return (f"Synthesizing all 64 channels of cifar10_cnn conv4, {LOOP_STEPS} steps each (best of {rounds})",
            ["", "seconds", "speed-up"], rows)


def _test_set_best(model, layer, images):
    """The most any real image activates each channel (mean over space)."""
    from cnnviz.models.engine import features
    from cnnviz.models.inputs import dataset_inputs

    best = None
    for start in range(0, len(images), 1000):
        (maps,) = features(model, dataset_inputs(model, images[start:start + 1000]), (layer,))
        means = maps.mean(axis=(1, 2)).max(axis=0)
        best = means if best is None else np.maximum(best, means)
    return best


def beats_the_test_set():
    """Share of channels whose synthesized image activates them (mean over
    space) more than the best real test image, every conv layer, all channels;
    and the class probability reached by class images."""
    from cnnviz import load_model
    from cnnviz.data.sources import load_dataset
    from cnnviz.inside.bounds import dead_channels
    from cnnviz.synthesis.maximize import synthesize_channels, synthesize_class

    rows = []
    for name, dataset in (("mnist_cnn", "mnist"), ("lenet", "mnist"), ("cifar10_cnn", "cifar10")):
        model = load_model(name)
        images = load_dataset(dataset).x_test
        for layer in [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]:
            start = time.perf_counter()
            result = synthesize_channels(model, layer)
            seconds = time.perf_counter() - start
            best = _test_set_best(model, layer, images)
            beat = result.activations > best
            dead = (best == 0) & (result.activations == 0)
            proven = dead_channels(model, layer)
            alive = best > 0
            ratio = np.median(result.activations[alive] / best[alive])
            rows.append([name, layer, len(result.indices), f"{np.mean(beat):.0%}", int(dead.sum()), int(proven.sum()),
                         f"{np.mean(beat | proven):.0%}", f"{ratio:.1f}x", f"{seconds:.1f}", "-"])
        if name != "lenet":
            classes = synthesize_class(model, range(10))
            rows.append([name, "classes 0-9", 10, "-", "-", "-", "-", "-", "-", f"{classes.probabilities.min():.4f}"])
    return ("Synthesized images against the 10,000 real test images (default settings)",
            ["model", "layer", "channels", "beat the best test image", "dead (0 for every input tried)",
             "proven dead (no valid image can activate)", "beat or proven dead", "median ratio (live channels)",
             "seconds (all channels)", "min class probability"],
            rows)


def _ours(model, layer, channel, steps):
    from cnnviz.synthesis.maximize import synthesize_channels

    return synthesize_channels(model, layer, [channel], steps=steps).images[0]


def _xplique(model, layer, channel, steps, shape):
    from xplique.features_visualizations import Objective, optimize

    objective = Objective.channel(model, layer, [channel])
    images, _ = optimize(objective, nb_steps=steps, custom_shape=shape[:2])
    return np.asarray(images[0][0])


def _tf_keras_vis(model, layer, channel, steps):
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayer
    from tf_keras_vis.utils.scores import CategoricalScore

    am = ActivationMaximization(model, model_modifier=[ExtractIntermediateLayer(layer)], clone=True)
    return np.asarray(am(CategoricalScore(channel), steps=steps, callbacks=[]))[0]


def against_peers():
    """One channel, 100 steps, the default settings of each library."""
    import importlib.util

    import keras

    from cnnviz import build_model, load_model

    cases = [("mnist_cnn", "conv3", load_model("mnist_cnn")), ("cifar10_cnn", "conv4", load_model("cifar10_cnn")),
             ("vgg16 (weights=None)", "block5_conv3", build_model("vgg16"))]
    have = {p: importlib.util.find_spec(p) is not None for p in ("xplique", "tf_keras_vis")}
    rows, gallery = [], []
    for label, layer, model in cases:
        shape = tuple(model.inputs[0].shape[1:])
        functional = keras.Model(model.inputs, model.outputs)       # tf-keras-vis needs a functional model
        runs = {"cnnviz": lambda: _ours(model, layer, 0, 100)}
        if have["xplique"]:
            runs["xplique optimize"] = lambda: _xplique(model, layer, 0, 100, shape)
        if have["tf_keras_vis"]:
            runs["tf-keras-vis ActivationMaximization"] = lambda: _tf_keras_vis(functional, layer, 0, 100)
        times, images = {}, {}
        for name, run in runs.items():
            run()                                                       # warm-up (tracing)
            start = time.perf_counter()
            images[name] = run()
            times[name] = time.perf_counter() - start
        for name, seconds in times.items():
            rows.append([label, layer, name, f"{seconds:.2f}", f"{seconds / times['cnnviz']:.1f}x"])
        gallery.append((label, layer, images))
        for peer, present in have.items():
            if not present:
                rows.append([label, layer, peer, "not installed", "-"])
    _save_gallery(gallery)
    return ("One channel, 100 steps (after a warm-up run), against peers",
            ["model", "layer", "library", "seconds", "time vs cnnviz"], rows)


def _save_gallery(gallery):
    from matplotlib.figure import Figure

    from cnnviz.common.fileio import save_figure

    names = list(gallery[0][2])
    fig = Figure(figsize=(2.4 * len(names), 2.5 * len(gallery)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(gallery), len(names), squeeze=False))
    for r, (label, layer, images) in enumerate(gallery):
        for c, name in enumerate(names):
            image = images.get(name)
            ax = axes[r, c]
            ax.set_axis_off()
            if image is None:
                continue
            image = (image - image.min()) / max(image.max() - image.min(), 1e-9)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            ax.set_title(f"{name.split()[0]}\n{label} {layer} ch 0", fontsize=7)
    save_figure(fig, FIGURES / "synthesis_vs_peers.png", dpi=100)


def readable_and_maximal():
    """Eight live channels per layer, 256 steps: cnnviz's default and Fourier
    images and xplique's, each against the best real test image; the images
    side by side in figures/synthesis_gallery.png."""
    import importlib.util

    from cnnviz import load_model
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.engine import features
    from cnnviz.synthesis.maximize import synthesize_channels

    libraries = {"cnnviz default": lambda model, layer, channels: synthesize_channels(model, layer, channels).images,
                 "cnnviz fourier": lambda model, layer, channels: synthesize_channels(model, layer, channels,
                                                                                      fourier=True).images}
    if importlib.util.find_spec("xplique") is not None:
        libraries["xplique optimize"] = _xplique_channels
    rows, gallery = [], []
    for name, layer, dataset in (("mnist_cnn", "conv3", "mnist"), ("cifar10_cnn", "conv2", "cifar10"),
                                 ("cifar10_cnn", "conv4", "cifar10")):
        model = load_model(name)
        best = _test_set_best(model, layer, load_dataset(dataset).x_test)
        channels = np.flatnonzero(best > 0)[:8]
        for library, run in libraries.items():
            start = time.perf_counter()
            images = run(model, layer, channels)
            seconds = time.perf_counter() - start
            (maps,) = features(model, images, (layer,))
            ratio = maps.mean(axis=(1, 2))[np.arange(len(channels)), channels] / best[channels]
            rows.append([name, layer, library, f"{np.mean(ratio > 1):.0%}", f"{np.median(ratio):.2f}x",
                         f"{seconds:.1f}"])
            gallery.append((f"{name} {layer}", library, channels, images, ratio))
    if "xplique optimize" not in libraries:
        rows.append(["-", "-", "xplique", "not installed", "-", "-"])
    _save_channel_gallery(gallery)
    return ("Eight channels, 256 steps: activation of the synthesized image over the best test image's",
            ["model", "layer", "library", "beat the best test image", "median ratio",
             "seconds (first call, tracing included)"], rows)


def _xplique_channels(model, layer, channels):
    from xplique.features_visualizations import Objective, optimize

    objective = Objective.channel(model, layer, [int(c) for c in channels])
    images, _ = optimize(objective, nb_steps=256, custom_shape=tuple(model.inputs[0].shape[1:3]))
    return np.asarray(images[0])


def _save_channel_gallery(gallery):
    from matplotlib.figure import Figure

    from cnnviz.common.fileio import save_figure

    cols = max(len(channels) for _, _, channels, _, _ in gallery)
    fig = Figure(figsize=(1.25 * cols, 1.45 * len(gallery)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(gallery), cols, squeeze=False))
    for r, (case, library, channels, images, ratio) in enumerate(gallery):
        for c, ax in enumerate(axes[r]):
            ax.set_axis_off()
            if c < len(channels):
                image = images[c]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"ch {channels[c]}: {ratio[c]:.1f}x", fontsize=7)
        axes[r, 0].text(-0.1, 0.5, f"{library}\n{case}", transform=axes[r, 0].transAxes, ha="right",
                        va="center", fontsize=7)
    fig.suptitle("Synthesized images (activation / best test image's), shown as the model sees them", fontsize=9)
    save_figure(fig, FIGURES / "synthesis_gallery.png", dpi=100)


BENCHMARKS = [batched_vs_loop, beats_the_test_set, against_peers, readable_and_maximal]
