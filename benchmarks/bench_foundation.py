"""Foundation benchmarks: training overhead against plain ``model.fit``, and
CIFAR-10 loading from the zip (decode) versus from the cache."""
from __future__ import annotations

import os
import statistics
import tempfile
import time

EPOCHS = 3


def training_throughput():
    """`cnnviz train mnist_cnn` against a plain `model.fit` of the same model on
    the same data (batch 128, 10% validation), steady-state epochs only."""
    import keras

    from cnnviz import build_model
    from cnnviz.data.datasets import mnist_dataset
    from cnnviz.lab.training import split_train_validation, to_unit_interval, train

    data = mnist_dataset()
    x, y = to_unit_interval(data.x_train), data.y_train.astype("int64")
    (xt, yt), (xv, yv) = split_train_validation(x, y)

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    plain, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(2):                   # interleaved, so drift hits both alike
            times = []
            model = build_model("mnist_cnn")
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(xt, yt, batch_size=128, epochs=EPOCHS, validation_data=(xv, yv), verbose=0,
                      callbacks=[EpochTimer()])
            plain += times[1:]
            result = train("mnist_cnn", epochs=EPOCHS, out=os.path.join(tmp, f"m{round_}.keras"))
            ours += result.card["history"]["time_s"][1:]
    p, o = statistics.median(plain), statistics.median(ours)
    rows = [["plain model.fit", f"{p:.2f}", f"{len(xt) / p:,.0f}", "1.00"],
            ["cnnviz train (checkpoint + card each epoch)", f"{o:.2f}", f"{len(xt) / o:,.0f}", f"{o / p:.3f}"]]
    return (f"Training mnist_cnn, median of {len(plain)} steady-state epochs ({len(xt):,} images)",
            ["", "s / epoch", "images / s", "time vs plain"], rows)


def cifar_loading():
    """CIFAR-10 from the JPEG zip: first load decodes 60,000 images, the second
    reads the cache."""
    from cnnviz.data.datasets import cifar10_dataset

    rows, saved = [], os.environ.get("CNNVIZ_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CNNVIZ_CACHE"] = tmp
        for label in ("first load (decode + write cache)", "second load (cache)"):
            start = time.perf_counter()
            data = cifar10_dataset()
            rows.append([label, f"{time.perf_counter() - start:.2f}"])
    if saved is None:
        del os.environ["CNNVIZ_CACHE"]
    else:
        os.environ["CNNVIZ_CACHE"] = saved
    rows.append(["images", f"{len(data.x_train) + len(data.x_test):,}"])
    return "CIFAR-10 loading from cifar10-jpg.zip", ["", "seconds"], rows


BENCHMARKS = [training_throughput, cifar_loading]
