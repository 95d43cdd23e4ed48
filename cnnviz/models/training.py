"""Training the lecture CNNs with the lecture recipe: Adam, cross-entropy,
batch 128, 10% validation split; optional augmentation (Keras preprocessing
layers) and per-pixel standardization. Writes the model, its card (JSON) and
its learning curves (PNG); checkpoints every epoch so a run can be resumed."""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..common import runtime
from ..common.errors import Cancelled, CnnvizError
from ..common.fileio import atomic_path, write_json
from ..common.progress import CancelToken, ProgressFn
from ..data.datasets import load_dataset
from . import zoo

VALIDATION_SPLIT = 0.1
EpochFn = Callable[[int, int, dict], None]


@dataclass
class TrainResult:
    model: object
    card: dict
    model_path: Path
    card_path: Path
    curves_path: Path


def curves_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".curves.png")


def checkpoint_dir(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".checkpoint")


def to_model_input(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W[, C]) to float32 in [0, 1] with a channel axis."""
    x = x.astype("float32") / 255.0
    return x[..., None] if x.ndim == 3 else x


def split_train_validation(x, y, fraction=VALIDATION_SPLIT, seed=0):
    """A seeded shuffle, then the last ``fraction`` held out for validation
    (unlike Keras' ``validation_split``, safe for class-sorted data)."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * fraction))
    train, val = order[:-n_val], order[-n_val:]
    return (x[train], y[train]), (x[val], y[val])


def augmentation(flip: bool):
    """The lecture's augmentation: small rotations, shifts, (horizontal flips)."""
    import keras

    layers = [keras.layers.RandomRotation(15 / 360), keras.layers.RandomTranslation(0.1, 0.1)]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal"))
    return keras.Sequential(layers, name="augmentation")


def with_standardization(model, x_train):
    """Prepend a per-pixel Normalization layer (mean and variance of each input
    pixel over the training set) so the saved model still takes [0, 1] input."""
    import keras

    norm = keras.layers.Normalization(axis=(1, 2, 3), name="standardize")
    norm.adapt(x_train)
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="input")
    x = norm(inputs)
    for layer in model.layers[1:]:
        x = layer(x)
    return keras.Model(inputs, x, name=model.name)


def _datasets(x_train, y_train, x_val, y_val, batch_size, augment, flip, seed):
    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train = train.shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        aug = augmentation(flip)
        train = train.map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch_size)
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


def _callback(ckpt: Path, state: dict, epochs: int, steps: int, progress, cancel, on_epoch):
    """Per-batch progress and cancel, per-epoch checkpoint and report."""
    import keras

    class Monitor(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.start = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if cancel is not None and cancel.cancelled:
                self.model.stop_training = True
            if progress is not None:
                loss = (logs or {}).get("loss", float("nan"))
                progress(self.epoch * steps + batch + 1, epochs * steps,
                         f"epoch {self.epoch + 1}/{epochs} loss {loss:.4f}")

        def on_epoch_end(self, epoch, logs=None):
            if cancel is not None and cancel.cancelled:
                return  # an interrupted epoch is not a finished one
            logs = dict(logs or {})
            logs["time_s"] = time.perf_counter() - self.start
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
            for key, value in logs.items():
                state["history"].setdefault(key, []).append(float(value))
            state["epochs_done"] = epoch + 1
            _save_checkpoint(self.model, ckpt, state)
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, logs)

    return Monitor()


def _save_checkpoint(model, ckpt: Path, state: dict) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    with atomic_path(ckpt / "model.keras") as tmp:
        model.save(tmp)
    write_json(ckpt / "state.json", state)


def export_model(model, path: Path) -> None:
    """Save the trained model for use, without the optimizer's state (a third
    of the size of a checkpoint; checkpoints keep it for resuming)."""
    inference = type(model).from_config(model.get_config())   # clone_model would keep the optimizer
    inference.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        inference.save(tmp)


def _load_checkpoint(ckpt: Path):
    state_file = ckpt / "state.json"
    if not state_file.is_file():
        raise CnnvizError(f"nothing to resume: no checkpoint in {ckpt}; run without --resume to start")
    try:
        state = json.loads(state_file.read_text("utf-8"))
        state.setdefault("commands", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise CnnvizError(f"the checkpoint in {ckpt} is damaged ({exc}): delete that folder and train without "
                          "--resume") from None
    model = zoo.load_model_file(ckpt / "model.keras", compile=True)
    return model, state


def train(arch: str, *, epochs: Optional[int] = None, batch_size: int = 128, augment: Optional[bool] = None,
          standardize: bool = False, reduce_lr: bool = False, out: Optional[str] = None, resume: bool = False, force: bool = False,
          fine_tune: Optional[str] = None, learning_rate: Optional[float] = None,
          seed: int = 0, limit: Optional[int] = None, progress: Optional[ProgressFn] = None, on_epoch: Optional[EpochFn] = None,
          cancel: Optional[CancelToken] = None, command: Optional[str] = None) -> TrainResult:
    """Train zoo architecture ``arch`` on its dataset and write
    ``out`` (default ``./<arch>.keras``), ``<stem>.card.json`` and ``<stem>.curves.png``.

    ``augment`` defaults to the architecture's recipe (on for CIFAR-10);
    ``reduce_lr`` halves Adam's learning rate when the validation loss stalls
    for 3 epochs (Keras' ReduceLROnPlateau).
    ``resume`` continues from the per-epoch checkpoint of an interrupted run;
    ``force`` allows replacing an existing model file; ``limit`` trains on
    the first ``limit`` training images only (quick experiments).
    ``fine_tune`` continues training a trained model file of this
    architecture for ``epochs`` more epochs (its card's history and commands
    carry over), e.g. without augmentation at a lower ``learning_rate``.
    """
    import keras

    spec = zoo._arch(arch)
    epochs = spec.epochs if epochs is None else epochs
    augment = spec.augment if augment is None else augment
    if epochs < 1 or batch_size < 1:
        raise CnnvizError("--epochs and --batch-size must be at least 1")
    if learning_rate is not None and not 0 < learning_rate < 1:
        raise CnnvizError(f"--lr {learning_rate} is out of range: give a learning rate between 0 and 1, e.g. 1e-4")
    if fine_tune and resume:
        raise CnnvizError("--fine-tune starts a new run: use --resume alone to continue an interrupted one")
    model_path = Path(out or f"{arch}.keras")
    if model_path.suffix != ".keras":
        raise CnnvizError(f"--out {model_path} must end in .keras")
    ckpt = checkpoint_dir(model_path)
    if model_path.exists() and not (force or resume):
        raise CnnvizError(f"{model_path} exists: pass --force to replace it or --out to write elsewhere")
    if ckpt.exists() and not resume and not force:
        raise CnnvizError(f"an interrupted run left {ckpt}: pass --resume to continue it or --force to start over")

    device = runtime.setup_devices()
    keras.utils.set_random_seed(seed)
    data = load_dataset(spec.dataset, progress=progress, cancel=cancel)
    x_all = to_model_input(data.x_train[:limit])
    y_all = data.y_train.reshape(-1)[:limit].astype("int64")
    (x_train, y_train), (x_val, y_val) = split_train_validation(x_all, y_all, seed=seed)

    if resume:
        model, state = _load_checkpoint(ckpt)
    else:
        shutil.rmtree(ckpt, ignore_errors=True)
        if fine_tune:
            model, state = _fine_tune_start(arch, fine_tune, epochs, learning_rate, augment)
        else:
            model = zoo.build_model(arch)
            if standardize:
                model = with_standardization(model, x_train)
            state = {"epochs_done": 0, "history": {}, "commands": []}
        model.compile(optimizer=keras.optimizers.Adam(learning_rate or 1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    state["commands"].append(command or " ".join(sys.argv))
    history, done = state["history"], state["epochs_done"]
    epochs = state.get("fine_tune", {}).get("total_epochs", epochs)

    steps = -(-len(x_train) // batch_size)
    train_ds, val_ds = _datasets(x_train, y_train, x_val, y_val, batch_size, augment, spec.dataset == "cifar10", seed)
    callbacks = [_callback(ckpt, state, epochs, steps, progress, cancel, on_epoch)]
    if reduce_lr:
        callbacks.insert(0, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3,
                                                              min_lr=1e-5))
    start = time.perf_counter()
    if done < epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=done,
                  callbacks=callbacks, shuffle=False, verbose=0)
    if cancel is not None and cancel.cancelled:
        raise Cancelled(f"training cancelled; continue with --resume (checkpoint in {ckpt})")

    test_loss, test_acc = model.evaluate(to_model_input(data.x_test), data.y_test.reshape(-1), batch_size=512, verbose=0)
    card = _card(arch, data, model, history, epochs, batch_size, augment, standardize, reduce_lr, seed,
                 len(x_train), device, time.perf_counter() - start, float(test_loss), float(test_acc),
                 state["commands"], state.get("fine_tune"))
    export_model(model, model_path)
    write_json(zoo.card_path(model_path), card)
    plot_curves(history, curves_path(model_path), title=f"{arch} on {data.name}")
    shutil.rmtree(ckpt, ignore_errors=True)
    zoo._register(model, zoo.ModelInfo(name=arch, dataset=spec.dataset, path=str(model_path), card=card))
    return TrainResult(model, card, model_path, zoo.card_path(model_path), curves_path(model_path))


def _fine_tune_start(arch: str, source: str, epochs: int, learning_rate: Optional[float], augment: bool):
    """The trained model to continue, and a run state that carries its card's
    history and commands over."""
    path = Path(source)
    if not path.exists():
        raise CnnvizError(f"--fine-tune {source}: no such model file; give a trained {arch} .keras file")
    model = zoo.load_model_file(path, compile=True)
    expected = zoo.build_model(arch)
    if model.count_params() != expected.count_params():
        raise CnnvizError(f"--fine-tune {source} is not a {arch} model "
                          f"({model.count_params():,} parameters, {arch} has {expected.count_params():,})")
    card_file = zoo.card_path(path)
    card = json.loads(card_file.read_text("utf-8")) if card_file.is_file() else {}
    done = int(card.get("epochs", 0))
    commands = [card["command"], *card.get("resumed_with", [])] if "command" in card else []
    stage = {"from": path.name, "from_epochs": done, "from_test_accuracy": card.get("metrics", {}).get("test_accuracy"),
             "epochs": epochs, "total_epochs": done + epochs, "learning_rate": learning_rate or 1e-3, "augment": augment}
    history = {k: list(v) for k, v in card.get("history", {}).items()}
    return model, {"epochs_done": done, "history": history, "commands": commands, "fine_tune": stage}


def _card(arch, data, model, history, epochs, batch_size, augment, standardize, reduce_lr, seed, n_train,
          device, seconds, test_loss, test_acc, commands, fine_tune=None):
    import keras
    import tensorflow as tf

    from .. import __version__

    last = {k: v[-1] for k, v in history.items() if v}
    card = {
        "architecture": arch,
        "dataset": data.name,
        "dataset_source": Path(data.source).name,
        "dataset_sha256": data.sha256,
        "classes": list(data.classes),
        "input_shape": list(model.inputs[0].shape[1:]),
        "preprocessing": "scale01",
        "parameters": int(model.count_params()),
        "recipe": {"optimizer": "Adam", "loss": "sparse_categorical_crossentropy", "batch_size": batch_size,
                   "validation_split": VALIDATION_SPLIT, "augment": augment, "standardize": standardize,
                   "reduce_lr_on_plateau": reduce_lr, "seed": seed, "train_images": n_train},
        "epochs": epochs,
        "metrics": {
            "train_accuracy": last.get("accuracy"), "train_loss": last.get("loss"),
            "val_accuracy": last.get("val_accuracy"), "val_loss": last.get("val_loss"),
            "test_accuracy": test_acc, "test_loss": test_loss,
        },
        "history": history,
        "training_time_s": round(sum(history.get("time_s", [seconds])), 1),
        "device": device,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": commands[0],
        "resumed_with": commands[1:],
        "versions": {"cnnviz": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    if fine_tune:
        card["fine_tune"] = {k: v for k, v in fine_tune.items() if k != "total_epochs"}
    return card


def plot_curves(history: dict, path: Path, title: str = "") -> None:
    """Accuracy and loss per epoch, train and validation, side by side."""
    from matplotlib.figure import Figure

    from ..common.fileio import save_figure

    fig = Figure(figsize=(9, 3.5), layout="constrained")
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss")):
        ax.plot(epochs, history.get(metric, []), "o-", ms=3, label="train")
        ax.plot(epochs, history.get(f"val_{metric}", []), "o-", ms=3, label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path, dpi=110)
