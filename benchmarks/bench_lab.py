"""Lab benchmarks: feature extraction against a plain batched ``predict`` of
the sub-model, fine-tuning epochs against plain ``model.fit``, MC dropout's
passes in one batch against one call per pass, and the offline transfer
demonstration (MNIST digits 0-4 to 5-9: features + logistic regression and
fine-tuning against the same network trained from scratch)."""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3


def _median_times(*fns, repeats=REPEATS):
    """Median seconds of each function, the functions run in turn each round."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def features_speed():
    """`extract_features` over the 10,000 CIFAR-10 test images (uint8, scaled
    inside) against `predict` of the sub-model on the already scaled images."""
    import keras

    import cnnviz
    from cnnviz.data.datasets import cifar10_dataset
    from cnnviz.lab.transfer import extract_features

    model = cnnviz.load_model("cifar10_cnn")
    images = cifar10_dataset().x_test
    rows = []
    for layer, pool in (("conv4", False), ("conv4", True), ("dense1", False)):
        sub = keras.Model(model.inputs, model.get_layer(layer).output)
        x = images.astype("float32") / 255

        def plain():
            out = sub.predict(x, batch_size=256, verbose=0)
            return out.mean(axis=(1, 2)) if pool else out.reshape(len(out), -1)

        def ours():
            return extract_features(model, layer, images, pool=pool)
        ours(), plain()                                                      # warm-up: tracing
        t_plain, t_ours = _median_times(plain, ours)
        rows.append([f"{layer}{' (pooled)' if pool else ''}", f"{t_plain:.2f}", f"{t_ours:.2f}",
                     f"{t_ours / t_plain:.2f}"])
    return ("Features of cifar10_cnn over the 10,000 CIFAR-10 test images (s, median of 3, in turn)",
            ["layer", "sub-model predict (batch 256)", "cnnviz features", "ratio"], rows)


def finetune_overhead():
    """Epoch times of `finetune` (checkpoint and card every epoch) against
    plain `model.fit` of the same model on the same images, both phases."""

    import cnnviz
    from cnnviz.data.datasets import cifar10_dataset
    from cnnviz.lab.training import compile_classifier, make_optimizer, select_classes, training_data
    from cnnviz.lab.transfer import build_finetune_model, finetune, set_trainable

    backbone = cnnviz.load_model("cifar10_cnn")
    data = select_classes(cifar10_dataset(), ["cat", "dog"])
    split = training_data(data, 0.1)
    plain = {"head": [], "all": []}
    ours = {"head": [], "all": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(REPEATS):
            model = build_finetune_model(backbone, 2)
            for phase, lr in (("head", 1e-3), ("all", 1e-5)):
                set_trainable(model, phase)
                compile_classifier(model, make_optimizer("adam", lr))
                for _ in range(2):
                    start = time.perf_counter()
                    model.fit(split.x_train, split.y_train, batch_size=32, epochs=1,
                              validation_data=(split.x_val, split.y_val), verbose=0)
                    plain[phase].append(time.perf_counter() - start)
            result = finetune(backbone, data, epochs_head=2, epochs_all=2, out=str(Path(tmp) / f"f{round_}.keras"),
                              command="benchmark")
            times = result.card["history"]["time_s"]
            ours["head"] += times[:2]
            ours["all"] += times[2:]
    rows = []
    for phase in ("head", "all"):
        p, o = statistics.median(plain[phase][1::2]), statistics.median(ours[phase][1::2])   # steady state
        rows.append([phase, f"{p:.2f}", f"{o:.2f}", f"{o / p:.3f}"])
    n = len(split.x_train)
    return (f"Fine-tuning cifar10_cnn on cat/dog ({n:,} images, batch 32): s per steady-state epoch, median of 3, in "
            "turn",
            ["phase", "plain model.fit", "cnnviz finetune (checkpoint + card each epoch)", "time vs plain"], rows)


def mc_dropout_speed():
    """30 MC-dropout passes: cnnviz (one batched call of the dropout-on clone)
    against 30 calls of `model(x, training=True)` and 30 calls of the same
    compiled clone."""
    import numpy as np

    import cnnviz
    from cnnviz.lab.uncertainty import _compiled, mc_dropout, mc_dropout_model

    model = cnnviz.load_model("cifar10_cnn")
    rows = []
    for n in (1, 32):
        x = np.random.default_rng(0).random((n, 32, 32, 3), dtype=np.float32)
        fn = _compiled(mc_dropout_model(model))
        def eager():
            return [model(x, training=True) for _ in range(30)]
        def separate():
            return [fn(x) for _ in range(30)]
        def ours():
            return mc_dropout(model, x, 30)
        eager(), separate(), ours()
        t_eager, t_sep, t_ours = _median_times(eager, separate, ours, repeats=5)
        rows.append([n, f"{1000 * t_eager:.1f}", f"{1000 * t_sep:.1f}", f"{1000 * t_ours:.1f}",
                     f"{t_sep / t_ours:.1f}x"])
    return ("MC dropout, 30 passes of cifar10_cnn (ms, median of 5, in turn)",
            ["images", "30 calls model(x, training=True)", "30 calls of the compiled clone", "cnnviz (one batch)",
             "speed-up vs 30 compiled calls"], rows)


def transfer_demo():
    """MNIST digits 0-4 -> 5-9: a small CNN trained on 0-4, reused for 5-9
    with few labels, against the same network trained from scratch on them."""
    import keras

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
    from decks import small

    from cnnviz.data.datasets import mnist_dataset
    from cnnviz.lab.training import select_classes, train
    from cnnviz.lab.transfer import dataset_features, finetune, fit_transfer

    def net(outputs):
        from keras import layers as L

        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="conv1"),
                                 L.MaxPooling2D(name="pool1"), L.Conv2D(16, 3, activation="relu", name="conv2"),
                                 L.MaxPooling2D(name="pool2"), L.Flatten(name="flatten"),
                                 L.Dense(64, activation="relu", name="dense1"),
                                 L.Dense(outputs, activation="softmax", name="predictions")], name="digits")

    mnist = mnist_dataset()
    low, high_all = select_classes(mnist, list("01234")), select_classes(mnist, list("56789"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        backbone = train(net(5), dataset=low, epochs=3, out=f"{tmp}/b.keras", command="benchmark")
        rows.append(["backbone on digits 0-4 (all their training images)", len(low.x_train), "-",
                     f"{backbone.card['metrics']['test_accuracy']:.2%} (0-4)"])
        for n in (50, 250):
            high = small(high_all, n, len(high_all.x_test))
            feats = dataset_features(backbone.model, "flatten", high, split="train")
            test = dataset_features(backbone.model, "flatten", high, split="test")
            start = time.perf_counter()
            lr = fit_transfer(feats, test=test)
            rows.append([f"features (flatten) + LogisticRegressionCV, {n} labelled 5-9", n,
                         f"{time.perf_counter() - start:.1f}", f"{lr.test_accuracy:.2%}"])
            common = dict(batch_size=16, validation="test")
            ft = finetune(backbone.model, high, head="dense:32", layer="flatten", epochs_head=40, epochs_all=20,
                          lr_all=1e-4, out=f"{tmp}/f{n}.keras", command="benchmark", **common)
            rows.append([f"finetune (head 40 epochs, then all 20 at 1e-4), {n} labelled", n,
                         f"{ft.card['training_time_s']:.1f}", f"{ft.card['metrics']['test_accuracy']:.2%}"])
            scratch = train(net(5), dataset=high, epochs=60, out=f"{tmp}/s{n}.keras", command="benchmark",
                            **common)
            rows.append([f"same network from scratch (60 epochs), {n} labelled", n,
                         f"{scratch.card['training_time_s']:.1f}", f"{scratch.card['metrics']['test_accuracy']:.2%}"])
    n_test = len(high_all.x_test)
    return (f"Transfer MNIST 0-4 -> 5-9: test accuracy on all {n_test:,} test digits 5-9 (chance 20%)",
            ["", "labelled images", "seconds", "test accuracy"], rows)


BENCHMARKS = [features_speed, finetune_overhead, mc_dropout_speed, transfer_demo]
