"""Adversarial-example benchmarks: the literature's figures on the shipped
mnist_cnn and cifar10_cnn (1,000 test images each), robustness curves of the
four MNIST models, PGD batched against a per-image loop, and FGSM / PGD /
DeepFool against cleverhans 4 and the Adversarial Robustness Toolbox (run
this file with a Python where they are installed, see ../shared/PEERS.md;
without them their rows say so).

Writes figures/robustness_mnist.png and figures/attack_mnist.png."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"
N = 1000
BATCH = 256


def _test_set(dataset: str, n: int = N):
    from cnnviz import load_dataset

    data = load_dataset(dataset)
    x = data.x_test[:n]
    return (x[..., None] if x.ndim == 3 else x), data.y_test.reshape(-1)[:n].astype(np.int64)


def _seconds(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _budget(result) -> str:
    size = result.linf if result.norm == "inf" else result.l2
    return f"{size.max():.4f}"


def _literature(name: str, dataset: str, attacks):
    from cnnviz import load_model
    from cnnviz.adversarial import attack

    model = load_model(name)
    x, y = _test_set(dataset)
    attack(model, x[:8], method="pgd", steps=2, labels=y[:8])                       # compile once
    clean = float(np.mean(attack(model, x, method="fgsm", eps=0.0, labels=y).adversarial_prediction == y))
    rows = [[name, "none (clean)", "-", f"{clean:.1%}", "-", "-", "-", "-"]]
    for label, options in attacks:
        result, seconds = _seconds(lambda: attack(model, x, labels=y, **options))
        acc = np.mean(result.adversarial_prediction == y)
        acc8 = np.mean(result.rounded_probs.argmax(-1) == y)
        if result.targeted:
            reached = f"{np.mean(result.adversarial_prediction == result.target):.1%} reach the target"
        else:
            reached = f"{result.success_rate:.1%} fooled"
        budget = "-" if result.eps is None else (
            f"{result.eps * 255:.0f}/255" if result.norm == "inf" and result.eps < 0.1 else f"{result.eps:g}")
        size = result.l2[result.success] if result.norm == "2" else result.linf[result.success]
        rows.append([name, label, budget, f"{acc:.1%}", f"{acc8:.1%}", reached,
                     f"{_budget(result)}" if result.eps is not None else f"median {np.median(size):.3f}",
                     f"{seconds:.1f}"])
    return rows


HEADER = ["model", "attack", "eps", "accuracy", "8-bit accuracy", "success",
          "largest perturbation (median if unbounded)",
          "seconds"]


def adversarial_literature_mnist():
    """mnist_cnn (inputs in [0, 1]) on the first 1,000 MNIST test images."""
    attacks = [("FGSM, L-inf", dict(method="fgsm", eps=0.25)),
               ("PGD-40, L-inf, random start", dict(method="pgd", eps=0.3, steps=40)),
               ("PGD-40, L-inf, random target", dict(method="pgd", eps=0.3, steps=40, target="random")),
               ("PGD-40, L2", dict(method="pgd", eps=2.0, norm="2", steps=40)),
               ("Carlini-Wagner L2 (6 x 100 steps)", dict(method="cw")),
               ("DeepFool L2", dict(method="deepfool", norm="2"))]
    return (f"Attacks on mnist_cnn, first {N:,} MNIST test images (8-bit: adversarials rounded to PNG pixels)",
            HEADER, _literature("mnist_cnn", "mnist", attacks))


def adversarial_literature_cifar10():
    """cifar10_cnn on the first 1,000 CIFAR-10 test images at eps 8/255."""
    attacks = [("FGSM, L-inf", dict(method="fgsm", eps=8 / 255)),
               ("PGD-40, L-inf, random start", dict(method="pgd", eps=8 / 255, steps=40)),
               ("PGD-40, L-inf, random target", dict(method="pgd", eps=8 / 255, steps=40, target="random")),
               ("DeepFool L2", dict(method="deepfool", norm="2"))]
    return (f"Attacks on cifar10_cnn, first {N:,} CIFAR-10 test images",
            HEADER, _literature("cifar10_cnn", "cifar10", attacks))


def adversarial_robustness_mnist():
    """Accuracy under FGSM and PGD-40 against eps for the four MNIST models,
    with DeepFool's median minimal L2 perturbation; writes the curves."""
    from cnnviz import load_model
    from cnnviz.adversarial.robustness import robustness
    from cnnviz.common.fileio import save_figure
    from cnnviz.plots.adversarial import robustness_figure

    x, y = _test_set("mnist")
    grid = [0, 0.05, 0.1, 0.2, 0.3]
    rows, curves = [], []
    for name in ("mnist_small", "mnist_small_bn", "lenet", "mnist_cnn"):
        model = load_model(name)
        deepfool = robustness(model, x, y, method="deepfool", norm="2", eps=[0])
        for method in ("fgsm", "pgd"):
            curve = robustness(model, x, y, method=method, eps=grid, steps=40 if method == "pgd" else None)
            curves.append(curve)
            rows.append([name, method.upper() + ("-40" if method == "pgd" else ""),
                         *[f"{a:.1%}" for a in curve.accuracy],
                         f"{deepfool.median_norm:.2f}" if method == "pgd" else "", f"{curve.seconds.sum():.1f}"])
    FIGURES.mkdir(exist_ok=True)
    fig = robustness_figure([c for c in curves if c.method == "pgd"] + [c for c in curves if c.method == "fgsm"],
                            title=f"Accuracy under attack, first {N:,} MNIST test images (PGD-40: solid, FGSM: dashed)")
    save_figure(fig, FIGURES / "robustness_mnist.png", dpi=110)
    return (f"Accuracy under L-inf attack against eps, first {N:,} MNIST test images",
            ["model", "attack", *[f"eps {e:g}" for e in grid], "DeepFool median L2", "seconds"], rows)


def adversarial_attack_figure():
    """The lecture's three columns for three digits sent to "3" (not a table
    of timings: the success of each, for the figure's caption)."""
    from cnnviz import load_model
    from cnnviz.adversarial import attack
    from cnnviz.common.fileio import save_figure
    from cnnviz.plots.adversarial import attack_figure

    model = load_model("mnist_cnn")
    x, y = _test_set("mnist", 4)
    keep = [i for i in range(4) if y[i] != 3][:3]
    result = attack(model, x[keep], method="pgd", eps=0.2, steps=40, target=3, labels=y[keep])
    FIGURES.mkdir(exist_ok=True)
    save_figure(attack_figure(result, title="mnist_cnn: targeted PGD-40, L-inf eps 0.2, target 3"),
                FIGURES / "attack_mnist.png", dpi=90)
    rows = [[int(y[i]), result.top("adversarial", 1)[j][0].name, f"{result.linf[j]:.3f}", f"{result.l2[j]:.2f}",
             int(result.steps_used[j]), "yes" if result.rounded_success[j] else "no"] for j, i in enumerate(keep)]
    return ("figures/attack_mnist.png: targeted PGD-40 to class 3 on mnist_cnn, L-inf eps 0.2",
            ["true class", "adversarial class", "L-inf", "L2", "steps until fooled", "8-bit still fools"], rows)


# ---------------------------------------------------------------- speed

def _eager_loop(model, x, y, eps, steps, alpha):
    """The lecture's code: one image at a time, an eager GradientTape per step."""
    import tensorflow as tf

    from cnnviz.models.surgery import logits_model

    logits = logits_model(model)
    out = []
    for image, label in zip(x, y):
        x0 = tf.constant(image[None])
        adv = tf.clip_by_value(x0 + tf.random.uniform(x0.shape, -eps, eps), 0, 1)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(adv)
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits([int(label)], logits(adv))
            adv = adv + alpha * tf.sign(tape.gradient(loss, adv))
            adv = tf.clip_by_value(tf.clip_by_value(adv, x0 - eps, x0 + eps), 0, 1)
        out.append(adv.numpy()[0])
    return np.stack(out)


def adversarial_batched_vs_loop():
    """PGD-40 at L-inf eps 0.3 on 1,000 MNIST images (mnist_cnn)."""
    from cnnviz import load_model
    from cnnviz.adversarial import attack

    model = load_model("mnist_cnn")
    x, y = _test_set("mnist")
    x01 = x.astype(np.float32) / 255
    attack(model, x[:1], method="pgd", steps=2, labels=y[:1])
    attack(model, x[:8], method="pgd", steps=2, labels=y[:8])                        # compile both shapes
    _eager_loop(model, x01[:1], y[:1], 0.3, 2, 0.01875)
    batched, t_batched = _seconds(lambda: attack(model, x, method="pgd", eps=0.3, steps=40, labels=y))
    n_single, n_eager = 100, 20
    _, t_single = _seconds(lambda: [attack(model, x[i], method="pgd", eps=0.3, steps=40, labels=y[i])
                                    for i in range(n_single)])
    _, t_eager = _seconds(lambda: _eager_loop(model, x01[:n_eager], y[:n_eager], 0.3, 40, 2.5 * 0.3 / 40))
    per_single, per_eager = t_single / n_single * N, t_eager / n_eager * N
    acc = np.mean(batched.adversarial_prediction == y)
    rows = [[f"lecture loop: eager GradientTape, one image at a time ({n_eager} images, extrapolated)",
             f"{per_eager:.0f}", f"{N / per_eager:.1f}", "1.0"],
            [f"cnnviz attack, one image per call ({n_single} images, extrapolated)", f"{per_single:.1f}",
             f"{N / per_single:.1f}", f"{per_eager / per_single:.1f}x"],
            [f"cnnviz attack, batched ({BATCH} per batch), accuracy under attack {acc:.1%}", f"{t_batched:.1f}",
             f"{N / t_batched:.0f}", f"{per_eager / t_batched:.0f}x"]]
    return (f"PGD-40, L-inf eps 0.3, {N:,} MNIST test images on mnist_cnn",
            ["", f"seconds for {N:,}", "images / s", "speed-up"], rows)


# ---------------------------------------------------------------- peers

def _cleverhans(logits, x, y, kind, eps, steps, norm):
    import tensorflow as tf
    from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    order = np.inf if norm == "inf" else 2
    out = []
    for start in range(0, len(x), BATCH):
        xb, yb = tf.constant(x[start:start + BATCH]), tf.constant(y[start:start + BATCH])
        if kind == "fgsm":
            adv = fast_gradient_method(logits, xb, eps, order, clip_min=0.0, clip_max=1.0, y=yb)
        else:
            adv = projected_gradient_descent(logits, xb, eps, 2.5 * eps / steps, steps, order, clip_min=0.0,
                                             clip_max=1.0, y=yb, rand_init=True, sanity_checks=False)
        out.append(adv.numpy())
    return np.concatenate(out)


def _art(logits, x, y, kind, eps, steps, norm):
    import tensorflow as tf
    from art.attacks.evasion import DeepFool, FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    classifier = TensorFlowV2Classifier(
        model=logits, nb_classes=int(logits.outputs[0].shape[-1]), input_shape=tuple(x.shape[1:]),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), clip_values=(0.0, 1.0))
    order = np.inf if norm == "inf" else 2
    if kind == "fgsm":
        method = FastGradientMethod(classifier, norm=order, eps=eps, batch_size=BATCH)
    elif kind == "pgd":
        method = ProjectedGradientDescent(classifier, norm=order, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps,
                                          num_random_init=1, batch_size=BATCH, verbose=False)
    else:
        method = DeepFool(classifier, max_iter=steps, epsilon=0.02, nb_grads=10, batch_size=BATCH, verbose=False)
    return method.generate(x, y=None if kind == "deepfool" else np.eye(10, dtype=np.float32)[y])


def adversarial_vs_peers(repeats: int = 3):
    """Same attack, same budget, same 1,000 MNIST images and labels on
    mnist_cnn, logits given to every library. Each library's time runs to
    predictions on its adversarials (a user needs them to know what fooled;
    cnnviz's include the originals' as well, and one row adds the 8-bit
    images' predictions, which cnnviz computes when first asked); median of
    ``repeats`` runs taken in turn after a warm-up, as the machine is shared."""
    from cnnviz import load_model
    from cnnviz.adversarial import attack
    from cnnviz.models.predict import probabilities
    from cnnviz.models.surgery import logits_model

    model = load_model("mnist_cnn")
    logits = logits_model(model)
    x, y = _test_set("mnist")
    x01 = x.astype(np.float32) / 255
    have = {"cleverhans 4": importlib.util.find_spec("cleverhans") is not None,
            "ART 1.20": importlib.util.find_spec("art") is not None}
    cases = [("FGSM", "fgsm", 0.25, 1, "inf", N), ("PGD-40", "pgd", 0.3, 40, "inf", N),
             ("PGD-40", "pgd", 2.0, 40, "2", N), ("DeepFool (L2)", "deepfool", None, 50, "2", 200)]
    rows = []
    for label, kind, eps, steps, norm, n in cases:
        def ours(m, eight_bit=False, **extra):
            result = attack(model, x[:m], method=kind, eps=eps, norm=norm, steps=None if kind == "fgsm" else steps,
                            labels=y[:m], **extra)
            if eight_bit:
                _ = result.rounded_success      # one more forward pass, on the 8-bit images
            return result.adversarial, result.adversarial_probs

        def peer(fn):
            def run(m):
                adv = fn(logits, x01[:m], y[:m], kind, eps, steps, norm)
                return adv, probabilities(model, adv)
            return run

        runs = {"cnnviz": ours, "cnnviz, with the 8-bit images' predictions": lambda m: ours(m, eight_bit=True)}
        if kind == "pgd":
            runs["cnnviz, early_stop=True"] = lambda m: ours(m, early_stop=True)
        if have["cleverhans 4"] and kind != "deepfool":
            runs["cleverhans 4"] = peer(_cleverhans)
        if have["ART 1.20"]:
            runs["ART 1.20"] = peer(_art)
        for run in runs.values():
            run(min(n, BATCH) if kind != "deepfool" else 16)       # warm-up: tracing at the batch shape
        times = {library: [] for library in runs}
        outputs = {}
        for _ in range(repeats if kind != "deepfool" else 1):
            for library, run in runs.items():
                outputs[library], seconds = _seconds(lambda: run(n))
                times[library].append(seconds)
        base = float(np.median(times["cnnviz"]))
        budget = "-" if eps is None else f"{'L-inf' if norm == 'inf' else 'L2'} {eps:g}"
        for library, (adv, probs) in outputs.items():
            seconds = float(np.median(times[library]))
            fooled = probs.argmax(-1) != y[:n]
            delta = (adv - x01[:n]).reshape(n, -1)
            size = np.abs(delta).max(1) if norm == "inf" else np.linalg.norm(delta, axis=1)
            shown = f"{size.max():.4f}" if eps is not None else f"median {np.median(size[fooled]):.3f}"
            rows.append([f"{label} ({n:,} images)", budget, library, f"{seconds:.2f}", f"{seconds / base:.2f}",
                         f"{1 - fooled.mean():.1%}", shown])
        for library, present in have.items():
            if not present:
                rows.append([f"{label} ({n:,} images)", budget, library, "not installed", "-", "-", "-"])
    return ("Against cleverhans and ART: mnist_cnn, same images, labels, budget, steps (step 2.5 eps / steps, "
            f"random start) and batches of {BATCH}; median of {repeats} runs (DeepFool: 1)",
            ["attack", "budget", "library", "seconds (to predictions)", "time vs cnnviz", "accuracy under attack",
             "largest perturbation (median if unbounded)"], rows)


BENCHMARKS = [adversarial_literature_mnist, adversarial_literature_cifar10, adversarial_robustness_mnist,
              adversarial_attack_figure, adversarial_batched_vs_loop, adversarial_vs_peers]
