"""Attribution benchmarks, all ratios within one run: saliency and Grad-CAM
against a plain ``tf.function`` + ``GradientTape`` and against xplique and
tf-keras-vis; occlusion against xplique, a per-patch loop and the floor of
the forward passes it needs; LIME against ``lime`` with its defaults, xplique
and the floor; RISE and Score-CAM against their floor (their peers:
``peer_attribution.py``); and the faithfulness table of every method on the shipped
models. Run with a Python where the peers are installed (../shared/PEERS.md);
without them their rows say so."""
from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
HAVE = {p: importlib.util.find_spec(p) is not None for p in ("xplique", "tf_keras_vis", "lime")}


def median_seconds(runs: dict, repeats: int = 5) -> dict:
    """Median seconds of each run, after a warm-up (tracing), taken in turn
    so that a slow spell of the machine does not fall on one run only."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _plain(model, layer=None):
    """The bar to reach: 10 lines of GradientTape in one tf.function."""
    import tensorflow as tf

    from cnnviz.models.surgery import logits_model

    logits = logits_model(model)
    if layer is None:
        @tf.function(reduce_retracing=True)
        def saliency(x, onehot):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(logits(x) * onehot, axis=-1)
            return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1)

        return saliency
    from cnnviz.models.graph import feature_model, layer_names

    both = feature_model(logits, [layer, layer_names(logits)[-1]])

    @tf.function(reduce_retracing=True)
    def gradcam(x, onehot):
        with tf.GradientTape() as tape:
            a, out = both(x)
            score = tf.reduce_sum(out * onehot, axis=-1)
        g = tape.gradient(score, a)
        cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, tf.reduce_mean(g, axis=(1, 2))))
        return tf.image.resize(cam[..., None], x.shape[1:3])[..., 0]

    return gradcam


def _cases():
    from cnnviz import build_model, load_model

    return [("mnist_cnn", load_model("mnist_cnn"), "conv3"), ("cifar10_cnn", load_model("cifar10_cnn"), "conv4"),
            ("vgg16 (weights=None)", build_model("vgg16"), "block5_conv3")]


def gradients_vs_peers():
    """Saliency and Grad-CAM, batch 1 and 32 (VGG16: batch 1), median of 5."""
    from cnnviz.attribution.cam import gradcam
    from cnnviz.attribution.gradients import saliency
    from cnnviz.models.surgery import logits_model

    rows = []
    for label, model, layer in _cases():
        shape = tuple(model.inputs[0].shape[1:])
        for batch in ((1,) if "vgg" in label else (1, 32)):
            x = np.random.default_rng(0).random((batch,) + shape).astype(np.float32) * (255 if "vgg" in label else 1)
            targets = np.zeros(batch, np.int64)
            onehot = np.eye(int(model.outputs[0].shape[-1]), dtype=np.float32)[targets]
            for method in ("saliency", "gradcam"):
                runs = {"plain tf.function": (lambda f=_plain(model, None if method == "saliency" else layer):
                                              f(x, onehot).numpy()),
                        "cnnviz": (lambda: saliency(model, x, targets)) if method == "saliency"
                        else (lambda: gradcam(model, x, targets, layer=layer))}
                runs.update(_peer_gradient_runs(method, model, logits_model(model), layer, x, targets, onehot))
                times = median_seconds(runs, 5)
                for name, seconds in times.items():
                    rows.append([label, method, batch, name, f"{1000 * seconds:.1f}",
                                 f"{seconds / times['plain tf.function']:.2f}x", f"{seconds / times['cnnviz']:.1f}x"])
    return ("Saliency and Grad-CAM against a plain tf.function and peers (ms, median of 5 taken in turn after a "
            "warm-up)",
            ["model", "method", "batch", "library", "ms", "vs plain", "vs cnnviz"], rows)


def _peer_gradient_runs(method, model, logits, layer, x, targets, onehot) -> dict:
    import keras

    runs = {}
    if HAVE["xplique"]:
        from xplique.attributions import GradCAM, Saliency

        explainer = Saliency(logits) if method == "saliency" else GradCAM(logits, conv_layer=_inner(logits, layer))
        runs["xplique"] = lambda: np.asarray(explainer.explain(x, onehot))
    if HAVE["tf_keras_vis"]:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.saliency import Saliency as TkvSaliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        functional = keras.Model(model.inputs, model.outputs)      # tf-keras-vis needs a functional model
        score = CategoricalScore(list(targets))
        if method == "saliency":
            tool = TkvSaliency(functional, model_modifier=ReplaceToLinear(), clone=True)
            runs["tf-keras-vis"] = lambda: tool(score, x)
        else:
            tool = Gradcam(functional, model_modifier=ReplaceToLinear(), clone=True)
            runs["tf-keras-vis"] = lambda: tool(score, x, penultimate_layer=_inner(functional, layer))
    return runs


def _inner(model, layer):
    """Peers find layers by plain name on the outer model; VGG16's are nested."""
    from cnnviz.models.graph import get_layer

    return get_layer(model, layer).name if layer in [each.name for each in model.layers] else layer


def occlusion_vs_peers():
    """Lecture size: 28x28, patch 4, stride 2 (169 copies); VGG16 224x224,
    patch 32, stride 16 (169 copies) against the floor and a per-patch loop."""
    from cnnviz import build_model, load_model
    from cnnviz.attribution.occlusion import occlusion
    from cnnviz.models.engine import compiled

    rows = []
    for label, model, patch, stride in (("mnist_cnn", load_model("mnist_cnn"), 4, 2),
                                        ("vgg16 (weights=None)", build_model("vgg16"), 32, 16)):
        shape = tuple(model.inputs[0].shape[1:])
        x = np.random.default_rng(0).random((1,) + shape).astype(np.float32) * (255 if "vgg" in label else 1)
        repeats = 3 if "vgg" in label else 5
        fn = compiled(model)
        copies = np.repeat(x, 169, axis=0)
        runs = {"cnnviz occlusion": lambda: occlusion(model, x, 0, patch=patch, stride=stride)}
        for batch in ((16, 32, 64) if "vgg" in label else (169,)):
            runs[f"floor: 169 forward passes, batch {batch}"] = (
                lambda b=batch: [fn(copies[i:i + b]).numpy() for i in range(0, 169, b)])
        runs["per-patch loop (one call per copy)"] = lambda: [fn(copies[i:i + 1]).numpy() for i in range(169)]
        if HAVE["xplique"]:
            from xplique.attributions import Occlusion

            explainer = Occlusion(model, batch_size=64, patch_size=patch, patch_stride=stride, occlusion_value=0.5)
            onehot = np.eye(int(model.outputs[0].shape[-1]), dtype=np.float32)[[0]]
            runs["xplique Occlusion"] = lambda: np.asarray(explainer.explain(x, onehot))
        times = median_seconds(runs, repeats)
        floors = [name for name in times if name.startswith("floor")]
        for name in sorted(floors, key=times.get)[1:]:          # the best batch size's floor stays
            del times[name]
        ours = times["cnnviz occlusion"]
        for name, seconds in times.items():
            rows.append([label, name, f"{seconds * 1000:.1f}", f"{seconds / ours:.2f}x"])
    return ("Occlusion, 169 occluded copies (ms; median of 5, VGG16 of 3, taken in turn after a warm-up)",
            ["model", "run", "ms", "time vs cnnviz"], rows)


def lime_vs_peers(models=("cifar10_cnn", "vgg16")):
    """1000 samples, same segmentation (about 50 superpixels) and seed."""
    from cnnviz import build_model, load_model
    from cnnviz.attribution.lime import Superpixels, lime, pixel_image
    from cnnviz.models.engine import compiled
    from cnnviz.models.inputs import load_image

    rows = []
    cases = {"cifar10_cnn": lambda: load_model("cifar10_cnn"), "vgg16": lambda: build_model("vgg16")}
    for label, model in ((n if n != "vgg16" else "vgg16 (weights=None)", cases[n]()) for n in models):
        x = load_image("skimage:chelsea", model).x[None]
        target = 0
        fn = compiled(model)
        copies = np.repeat(x, 100, axis=0)
        fn(copies).numpy()                     # warm-up for every run below: tracing, the first batch's set-up
        lime(model, x, target, samples=100, seed=0)
        start = time.perf_counter()
        ours = lime(model, x, target, samples=1000, seed=0)
        times = {"cnnviz lime (batched, compiled)": time.perf_counter() - start}
        start = time.perf_counter()
        for _ in range(10):
            fn(copies).numpy()
        times["floor: 1000 forward passes, batch 100"] = time.perf_counter() - start
        same = "-"
        if HAVE["lime"]:
            from lime.lime_image import LimeImageExplainer

            def predict_fn(images):                     # lime's usual recipe: model.predict per batch of 10
                from cnnviz.models.preprocessing import preprocess
                from cnnviz.models.zoo import model_info

                return model.predict(preprocess(images * 255.0, model_info(model).preprocessing), verbose=0)

            model.predict(copies[:10], verbose=0)
            start = time.perf_counter()
            direct = LimeImageExplainer(random_state=0).explain_instance(
                pixel_image(model, x[0]), predict_fn, labels=(target,), top_labels=None, num_samples=1000,
                segmentation_fn=Superpixels("quickshift", 50, 0))
            times["lime defaults (batch_size=10, model.predict)"] = time.perf_counter() - start
            theirs = dict(direct.local_exp[target])
            gap = max(abs(theirs[k] - ours.extras["weights"][0][k]) for k in theirs)
            same = f"max weight difference {gap:.1e} over {len(theirs)} superpixels"
        if HAVE["xplique"] and "vgg" in label:
            import tensorflow as tf
            from xplique.attributions import Lime

            segments = Superpixels("quickshift", 50, 0)(pixel_image(model, x[0]))
            explainer = Lime(model, batch_size=100, nb_samples=1000,
                             map_to_interpret_space=lambda image: tf.constant(segments, tf.int32))
            onehot = np.eye(int(model.outputs[0].shape[-1]), dtype=np.float32)[[target]]
            Lime(model, batch_size=100, nb_samples=100,
                 map_to_interpret_space=lambda image: tf.constant(segments, tf.int32)).explain(x, onehot)
            start = time.perf_counter()
            explainer.explain(x, onehot)
            times["xplique Lime (batch 100)"] = time.perf_counter() - start
        ours_s = times["cnnviz lime (batched, compiled)"]
        for name, seconds in times.items():
            rows.append([label, name, f"{seconds:.2f}", f"{seconds / ours_s:.2f}x",
                         same if name.startswith("lime") else ""])
    return ("LIME, 1000 samples, about 50 quickshift superpixels (seconds, one run after a warm-up; cnnviz and lime "
            "include the segmentation, xplique is given it)",
            ["model", "run", "seconds", "time vs cnnviz", "same explanation"], rows)


def masking_vs_floor(masks: int = 1000, batch: int = 256):
    """RISE (``masks`` masks) and Score-CAM (every channel of the last
    convolution) on one image against their floor: the same number of masked
    inputs through the compiled model in batches of ``batch``, built beforehand."""
    from cnnviz import load_model
    from cnnviz.attribution.cam import default_layer
    from cnnviz.attribution.rise import rise
    from cnnviz.attribution.scorecam import scorecam
    from cnnviz.models.engine import compiled, features

    rows = []
    for name in ("mnist_cnn", "cifar10_cnn"):
        model = load_model(name)
        shape = tuple(model.inputs[0].shape[1:])
        x = np.random.default_rng(0).random((1,) + shape).astype(np.float32)
        fn = compiled(model)
        layer = default_layer(model)
        channels = int(features(model, x, (layer,))[0].shape[-1])
        for method, copies, run in (
                ("rise", masks, lambda: rise(model, x, 0, n_masks=masks, batch_size=batch)),
                ("scorecam", channels, lambda: scorecam(model, x, 0, batch_size=batch))):
            inputs = np.repeat(x, copies, axis=0)
            times = median_seconds({f"cnnviz {method}": run, "floor": lambda: [
                fn(inputs[i:i + batch]).numpy() for i in range(0, copies, batch)]}, 5)
            ours, floor = times[f"cnnviz {method}"], times["floor"]
            rows.append([name, method, copies, f"{1000 * ours:.1f}", f"{1000 * floor:.1f}", f"{ours / floor:.2f}x"])
    return (f"RISE and Score-CAM against the forward passes they need (one image, batch {batch}; ms, median of 5 "
            "taken in turn after a warm-up)", ["model", "method", "masked inputs", "cnnviz ms", "floor ms",
                                                "cnnviz / floor"], rows)


def faithfulness():
    """Every method on 100 test images of each shipped lecture model."""
    from cnnviz import load_model
    from cnnviz.attribution.faithfulness import compare
    from cnnviz.attribution.registry import METHODS
    from cnnviz.common.fileio import save_figure
    from cnnviz.data.sources import load_dataset
    from cnnviz.models.inputs import dataset_inputs
    from cnnviz.plots.attribution import curves_figure

    rows = []
    for name, dataset in (("mnist_cnn", "mnist"), ("cifar10_cnn", "cifar10")):
        model = load_model(name)
        x = dataset_inputs(model, load_dataset(dataset).x_test[:100])
        ranking = compare(model, x, METHODS, options={"rise": {"n_masks": 500}})      # 500 x 100 forward passes
        save_figure(curves_figure(ranking, f"{name}: deletion and insertion over 100 test images"),
                    FIGURES / f"faithfulness_{name}.png", dpi=100)
        random_auc = ranking.deletion["random"].auc.mean()
        for r in ranking.rows():
            rows.append([name, r["method"], f"{r['deletion_auc']:.3f}", f"{r['insertion_auc']:.3f}",
                         "yes" if r["deletion_auc"] < random_auc else ("-" if r["method"] == "random" else "no"),
                         f"{1000 * r['seconds_per_image']:.1f}"])
    return ("Faithfulness on 100 test images (deletion: lower is better; insertion: higher; 4x4-pixel regions, "
            "blurred fill, 32 steps; RISE with 500 masks)",
            ["model", "method", "deletion AUC", "insertion AUC", "beats random on deletion", "ms per image"], rows)


BENCHMARKS = [gradients_vs_peers, occlusion_vs_peers, lime_vs_peers, masking_vs_floor, faithfulness]
