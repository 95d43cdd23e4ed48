"""Training any Keras classifier the way the lectures do: a zoo architecture
or a user's model file (image CNNs and dense networks alike), on MNIST,
CIFAR-10 or an image folder, with the optimizer, validation, class-balanced
subset, augmentation (:mod:`cnnviz.data.augment`) and per-pixel
standardization of the user's choosing.

Writes the model, its card (JSON: what was run, stage by stage, and the
per-epoch history) and its learning curves (PNG); checkpoints every epoch so
an interrupted run can be resumed. Data flow through ``tf.data`` with the
augmentation layers mapped over batches; the model is fitted with
``model.fit``.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from ..common import runtime
from ..common.errors import Cancelled, CnnvizError, short
from ..common.fileio import atomic_path, save_figure, write_json
from ..common.progress import CancelToken, ProgressFn
from ..data.augment import NONE, Augmentation, augmentation_layers, preset
from ..data.datasets import Dataset, balanced_subset
from ..data.sources import canonical, load_dataset
from ..models import zoo
from ..models.preprocessing import pixels_to_input
from ..models.surgery import with_head_size

VALIDATION_SPLIT = 0.1
DEFAULT_EPOCHS = 10          # for a model file (zoo architectures have their recipe's)
STANDARDIZE_FLOOR = 1e-4     # x' = (x - mean) / (std + 1e-4), as the decks compute it: constant pixels stay finite
EpochFn = Callable[[int, int, dict], None]


@dataclass(frozen=True)
class Optimizer:
    """An optimizer of the lectures' slides, declared once for the API, the
    CLI's ``--optimizer`` and the app's Train tab."""

    name: str
    keras_class: str                 # keras.optimizers.<keras_class>
    settings: tuple = ()             # fixed keyword arguments, e.g. (("nesterov", True),)
    momentum: Optional[float] = None  # the momentum it uses unless given; None: it takes no --momentum
    description: str = ""


OPTIMIZER_DECLARATIONS = (
    Optimizer("sgd", "SGD", description="plain stochastic gradient descent"),
    Optimizer("momentum", "SGD", momentum=0.9, description="SGD with momentum (0.9 unless --momentum)"),
    Optimizer("nesterov", "SGD", (("nesterov", True),), 0.9, "SGD with Nesterov momentum (0.9 unless --momentum)"),
    Optimizer("adagrad", "Adagrad", description="per-weight rates from the sum of squared gradients"),
    Optimizer("adadelta", "Adadelta", description="Adagrad with a decaying window (rho 0.95)"),
    Optimizer("rmsprop", "RMSprop", momentum=0.0, description="rates from a moving mean of squared gradients"),
    Optimizer("adam", "Adam", description="momentum and RMSprop with bias correction"),
    Optimizer("adamax", "Adamax", description="Adam with the infinity norm (AdaMax)"),
    Optimizer("nadam", "Nadam", description="Adam with Nesterov momentum"),
)
OPTIMIZER_TABLE = {o.name: o for o in OPTIMIZER_DECLARATIONS}
OPTIMIZERS = tuple(OPTIMIZER_TABLE)
OPTIMIZER_SETTINGS = ("momentum", "nesterov", "rho", "beta_1", "beta_2", "epsilon", "initial_accumulator_value",
                      "amsgrad", "weight_decay")


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


# ---------------------------------------------------------------- data

def to_unit_interval(x: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W[, C]) to float32 in [0, 1] with a channel axis."""
    x = x.astype("float32") / 255.0
    return x[..., None] if x.ndim == 3 else x


def split_train_validation(x, y, fraction=VALIDATION_SPLIT, seed=0):
    """A seeded shuffle, then the last ``fraction`` held out for validation
    (unlike Keras' ``validation_split``, safe for class-sorted data)."""
    check_validation_split(fraction)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * fraction)))
    train, val = order[:-n_val], order[-n_val:]
    return (x[train], y[train]), (x[val], y[val])


def check_validation_split(fraction) -> None:
    if not 0 < float(fraction) < 1:
        raise CnnvizError(f"--validation-split {fraction} is out of range: give a fraction between 0 and 1, e.g. 0.2")


def select_classes(data: Dataset, classes: Sequence[Union[str, int]]) -> Dataset:
    """The dataset restricted to ``classes`` (names or indices), relabelled
    0..k-1 in the order given (e.g. MNIST digits 5-9 as a 5-class task)."""
    wanted = []
    for c in classes:
        key = str(c)
        if key in data.classes:
            wanted.append(data.classes.index(key))
        elif key.isdigit() and int(key) < len(data.classes):
            wanted.append(int(key))
        else:
            raise CnnvizError(f"no class {c!r} in {data.name}: use names or indices of {', '.join(data.classes)}")
    if len(set(wanted)) < 2:
        raise CnnvizError(f"--classes needs at least two different classes of {data.name}")
    lut = np.full(len(data.classes), -1, np.int64)
    lut[wanted] = np.arange(len(wanted))

    def keep(x, y):
        y = np.asarray(y).reshape(-1).astype(np.int64)
        mask = lut[y] >= 0
        return x[mask], lut[y[mask]]

    x_train, y_train = keep(data.x_train, data.y_train)
    x_test, y_test = keep(data.x_test, data.y_test)
    return replace(data, name=f"{data.name}[{','.join(data.classes[i] for i in wanted)}]", x_train=x_train,
                   y_train=y_train, x_test=x_test, y_test=y_test, classes=[data.classes[i] for i in wanted])


def image_input_shape(model) -> Optional[tuple]:
    """The model's input as (H, W, C) when it takes images, else None (a
    dense network on flattened pixels)."""
    shape = tuple(model.inputs[0].shape[1:])
    return shape if len(shape) == 3 else None


def open_dataset(dataset: Union[str, Dataset], model, progress=None, cancel=None) -> Dataset:
    """A named dataset (mnist, cifar10, an image folder resized to the
    model's input) or a :class:`Dataset` as given, with at least two classes."""
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset, image_input_shape(model), progress, cancel)
    if len(dataset.classes) < 2:
        raise CnnvizError(f"{dataset.name} has {len(dataset.classes)} class(es): a classifier needs at least two "
                          "class sub-folders with images")
    return dataset


@dataclass
class TrainingData:
    """Images as float32 in [0, 1] (N, H, W, C) with integer labels, split."""

    dataset: Dataset
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    validation: str            # "10% of the training images" or "test set"


def training_data(data: Dataset, validation: Union[float, str] = VALIDATION_SPLIT, limit: Optional[int] = None,
                  seed: int = 0) -> TrainingData:
    """Split a dataset for training. An image folder (all its images in the
    test split) is the training pool itself and has no separate test set."""
    if len(data.x_train):
        x_pool, y_pool, x_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    else:
        x_pool, y_pool = data.x_test, data.y_test
        x_test, y_test = data.x_test[:0], data.y_test[:0]
    y_pool = np.asarray(y_pool).reshape(-1).astype(np.int64)
    if limit is not None:
        pick = balanced_subset(y_pool, limit, seed)
        x_pool, y_pool = x_pool[pick], y_pool[pick]
    x_pool = to_unit_interval(x_pool)
    x_test, y_test = to_unit_interval(x_test), np.asarray(y_test).reshape(-1).astype(np.int64)
    if validation == "test":
        if not len(x_test):
            raise CnnvizError(f"{data.name} has no test split: use --validation-split F instead of --validation test")
        return TrainingData(data, x_pool, y_pool, x_test, y_test, x_test, y_test, "test set")
    (x_train, y_train), (x_val, y_val) = split_train_validation(x_pool, y_pool, float(validation), seed)
    return TrainingData(data, x_train, y_train, x_val, y_val, x_test, y_test,
                        f"{float(validation):.0%} of the training images")


def input_adapter(model, image_shape: tuple, preprocessing: str = "scale01"):
    """A function mapping a batch of [0, 1] images (N, H, W, C) to what the
    model takes: its pixel scaling, and flattened or without a channel axis
    for a dense network (whichever its first layer expects)."""
    import tensorflow as tf

    target = tuple(model.inputs[0].shape[1:])
    image_shape = tuple(image_shape)
    if len(target) == len(image_shape) and all(t is None or t == s for t, s in zip(target, image_shape)):
        target = image_shape                                     # a model that takes any image size
    if target != image_shape and (None in target or int(np.prod(target)) != int(np.prod(image_shape))):
        shown = "x".join(str(s) for s in image_shape)
        raise CnnvizError(f"{model.name} takes input {target}, but the dataset's images are {shown}: use a dataset "
                          "of that size, or `cnnviz finetune` to put a new input and head on the network")

    def adapt(x):
        x = pixels_to_input(x, preprocessing)
        return x if target == image_shape else tf.reshape(x, (-1, *target))

    return adapt


def pipelines(data: TrainingData, model, batch_size: int, augmentation: Augmentation, seed: int,
              preprocessing: str = "scale01"):
    """``tf.data`` pipelines (train, validation): the training images shuffled
    each epoch and augmented per batch by Keras preprocessing layers."""
    import tensorflow as tf

    adapt = input_adapter(model, data.x_train.shape[1:], preprocessing)
    train = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
    train = train.shuffle(len(data.x_train), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augmentation.active:
        layers = augmentation_layers(augmentation, seed)
        train = train.map(lambda x, y: (adapt(layers(x, training=True)), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        train = train.map(lambda x, y: (adapt(x), y))
    val = tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(batch_size).map(lambda x, y: (adapt(x), y))
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- model and optimizer

def make_optimizer(name: str = "adam", learning_rate: Optional[float] = None, momentum: Optional[float] = None):
    """A Keras optimizer by one of the names of :data:`OPTIMIZER_DECLARATIONS`.
    The learning rate defaults to Keras' default for that optimizer."""
    import keras

    spec = OPTIMIZER_TABLE.get(str(name).lower())
    if spec is None:
        raise CnnvizError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    if learning_rate is not None and not 0 < learning_rate <= 1:
        raise CnnvizError(f"--lr {learning_rate} is out of range: give a learning rate between 0 and 1, e.g. 1e-3")
    takes = [o.name for o in OPTIMIZER_DECLARATIONS if o.momentum is not None]
    if momentum is not None and (spec.momentum is None or not 0 <= momentum < 1):
        raise CnnvizError(f"--momentum {momentum}: give a value in [0, 1) with --optimizer {', '.join(takes)}")
    kwargs = dict(spec.settings)
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    if spec.momentum is not None:
        kwargs["momentum"] = spec.momentum if momentum is None else momentum
    return getattr(keras.optimizers, spec.keras_class)(**kwargs)


def optimizer_record(optimizer) -> dict:
    """The optimizer as the card records it: class, learning rate and every
    other setting it has (momentum, nesterov, rho, betas, epsilon, ...)."""
    config = optimizer.get_config()
    rate = float(f"{float(optimizer.learning_rate):.7g}")          # 1e-4, not float32's 9.9999997e-05
    record = {"name": type(optimizer).__name__, "learning_rate": rate}
    for key in OPTIMIZER_SETTINGS:
        if config.get(key) is not None:
            value = config[key]
            record[key] = float(f"{value:.7g}") if isinstance(value, float) else value
    return record


def compile_classifier(model, optimizer) -> None:
    """Compile for integer labels: cross-entropy on probabilities, or on
    logits for a model without a final softmax."""
    import keras


    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=zoo.model_info(model).output == "logit")
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def check_outputs(model, data: Dataset, name: str) -> None:
    outputs = model.outputs[0].shape[-1]
    if len(model.outputs[0].shape) != 2 or outputs != len(data.classes):
        raise CnnvizError(f"{name} has {outputs} outputs but {data.name} has {len(data.classes)} classes: use "
                          f"`cnnviz finetune {name} --dataset ...` to give it a new head for these classes")


def with_standardization(model, x_train):
    """Prepend a per-pixel standardization layer, ``(x - mean) / (std + 1e-4)``
    with each input value's mean and standard deviation over the training set
    (as the decks compute it: a pixel constant in the training images, e.g.
    an MNIST border on a small subset, stays finite instead of being divided
    by Keras' 1e-7 floor), so the saved model still takes [0, 1] input. A
    Keras Normalization layer holds the values (it loads in safe mode). A
    chain of layers stays flat; any other graph is nested whole."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    x = np.asarray(x_train, np.float64).reshape(-1, *shape)
    mean, std = x.mean(axis=0), x.std(axis=0)
    norm = keras.layers.Normalization(axis=tuple(range(1, len(shape) + 1)), mean=mean.astype("float32"),
                                      variance=((std + STANDARDIZE_FLOOR) ** 2).astype("float32"),
                                      name="standardize")
    inputs = keras.Input(shape=shape, name="input")
    x = norm(inputs)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if _is_chain(model, layers):
        for layer in layers:
            x = layer(x)
    else:
        x = model(x)
    return keras.Model(inputs, x, name=model.name)


def _is_chain(model, layers) -> bool:
    try:
        previous = model.inputs[0]
        for layer in layers:
            if layer.input is not previous:
                return False
            previous = layer.output
        return previous is model.outputs[0]
    except (AttributeError, ValueError):   # a layer used more than once
        return False


# ---------------------------------------------------------------- fitting with checkpoints

def _callback(ckpt: Path, state: dict, epochs: int, steps: int, progress, cancel, on_epoch):
    """Per-batch progress and cancel, per-epoch checkpoint and report."""
    import keras

    class Monitor(keras.callbacks.Callback):
        # Batch reports may run on Keras' callback thread: a callback with a
        # batch hook that is not async-safe makes every training step wait for it.
        async_safe = True

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.start = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if cancel is not None and cancel.cancelled:
                self.model.stop_training = True
            if progress is not None:
                loss = float((logs or {}).get("loss", float("nan")))
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
            state["stages"][-1]["epochs"][1] = epoch + 1
            _save_checkpoint(self.model, ckpt, state)
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, logs)

    return Monitor()


def fit_epochs(model, train_ds, val_ds, *, epochs: int, ckpt: Path, state: dict, steps: int,
               progress=None, cancel=None, on_epoch=None, callbacks=()) -> None:
    """``model.fit`` from the state's ``epochs_done`` to ``epochs``, saving a
    checkpoint (model and state) after every epoch; :class:`Cancelled` when
    cancelled (the checkpoint then holds the last finished epoch)."""
    done = state["epochs_done"]
    if done < epochs:
        monitor = _callback(ckpt, state, epochs, steps, progress, cancel, on_epoch)
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=done,
                  callbacks=[*callbacks, monitor], shuffle=False, verbose=0)
    if cancel is not None and cancel.cancelled:
        raise Cancelled(f"training cancelled; continue with --resume (checkpoint in {ckpt})")


def _save_checkpoint(model, ckpt: Path, state: dict) -> None:
    """The model of this epoch in a file of its own, then the state naming
    it, then the older model dropped: a kill between any two leaves a state
    whose model is there (the run resumes at the epoch the state says)."""
    ckpt.mkdir(parents=True, exist_ok=True)
    name = f"model-{state['epochs_done']:04d}.keras"
    with atomic_path(ckpt / name) as tmp:
        model.save(tmp)
    write_json(ckpt / "state.json", {**state, "model": name})
    for old in (*ckpt.glob("model-[0-9][0-9][0-9][0-9].keras"), ckpt / "model.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)


def export_model(model, path: Path) -> None:
    """Save the trained model for use, without the optimizer's state (a third
    of the size of a checkpoint; checkpoints keep it for resuming)."""
    inference = type(model).from_config(model.get_config())   # clone_model would keep the optimizer
    inference.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        inference.save(tmp)


def load_checkpoint(ckpt: Path, identity: Optional[dict] = None):
    """The model and state of an interrupted run, checked: a damaged state
    is one line with the fix; a checkpoint of another run (other data,
    classes, split or model, per ``identity``) is refused, as resuming it
    would train one run's model on another's data."""
    state_file = ckpt / "state.json"
    if not state_file.is_file():
        raise CnnvizError(f"nothing to resume: no checkpoint in {ckpt}; run without --resume to start")
    damaged = (f"the checkpoint in {ckpt} is damaged ({{}}): delete that folder (or pass --force) and train "
               "without --resume")
    try:
        state = json.loads(state_file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise CnnvizError(damaged.format(short(exc, 80))) from None
    problem = _state_problem(state)
    if problem:
        raise CnnvizError(damaged.format(f"{state_file.name}: {problem}"))
    state.setdefault("commands", [])
    state.setdefault("stages", [])
    before = state.get("identity")
    if identity is not None and before is not None and before != identity:
        differ = ", ".join(k for k in identity if before.get(k) != identity[k])
        raise CnnvizError(f"the checkpoint in {ckpt} is of another run (its {differ} differ): resume with the "
                          "same model, data and options, or pass --force to start over")
    model_file = ckpt / str(state.get("model", "model.keras"))
    if not model_file.is_file():
        raise CnnvizError(damaged.format(f"its model {model_file.name} is missing"))
    model = zoo.load_model_file(model_file, compile=True)
    return model, state


def _state_problem(state) -> str:
    """What is wrong with a checkpoint's state (schema), or ""."""
    if not isinstance(state, dict):
        return f"a {type(state).__name__}, not an object"
    done = state.get("epochs_done")
    if isinstance(done, bool) or not isinstance(done, int) or done < 0:
        return f"epochs_done is {done!r}, not a count"
    history = state.get("history", {})
    if not isinstance(history, dict) or not all(
            isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            for v in history.values()):
        return "history is not a table of numbers per metric"
    for key, kind in (("commands", str), ("stages", dict)):
        if not isinstance(state.get(key, []), list) or not all(isinstance(x, kind) for x in state.get(key, [])):
            return f"{key} is not a list of {'texts' if kind is str else 'objects'}"
    if not isinstance(state.get("model", "model.keras"), str) or "/" in str(state.get("model", "")):
        return "model is not a file name"
    return ""


def run_identity(data: Dataset, validation, limit, seed: int, **model) -> dict:
    """What decides which images a run trains on and what it trains: kept in
    the checkpoint, compared when it is resumed."""
    return json.loads(json.dumps({"dataset_sha256": data.sha256, "classes": list(data.classes),
                                  "validation": validation, "limit": limit, "seed": seed, **model}, default=str))


def check_outputs_free(model_path: Path, resume: bool, force: bool) -> Path:
    """The checkpoint folder of ``model_path``, after refusing to replace a
    model or to drop an interrupted run without ``--force``."""
    if model_path.suffix != ".keras":
        raise CnnvizError(f"--out {model_path} must end in .keras")
    ckpt = checkpoint_dir(model_path)
    if model_path.exists() and not (force or resume):
        raise CnnvizError(f"{model_path} exists: pass --force to replace it or --out to write elsewhere")
    if ckpt.exists() and not resume and not force:
        raise CnnvizError(f"an interrupted run left {ckpt}: pass --resume to continue it or --force to start over")
    return ckpt


def new_stage(model, command: str, first_epoch: int, augmentation: Augmentation, reduce_lr: bool, **extra) -> dict:
    """What one command ran, for the card: its epochs (filled in as they
    finish), optimizer and augmentation. A run resumed or continued with
    other settings gets a stage of its own, so the card says what each epoch used."""
    return {"command": command, "epochs": [first_epoch, first_epoch - 1],
            "optimizer": optimizer_record(model.optimizer),
            "augmentation": augmentation.to_json() if augmentation.active else None,
            "reduce_lr_on_plateau": reduce_lr, **extra}


# ---------------------------------------------------------------- train

def _resolve_model(spec, dataset):
    """(model to train, its name, its dataset, default epochs) for a zoo name
    (built untrained), a model file (loaded safely) or a ``keras.Model``."""
    import keras

    if isinstance(spec, keras.Model):
        info = zoo.model_info(spec)
        return spec, info.name, dataset or info.dataset, DEFAULT_EPOCHS
    name = str(spec)
    if name in zoo.ARCHITECTURES and zoo.ARCHITECTURES[name].dataset == "imagenet" or name in zoo.VGG16_NAMES:
        raise CnnvizError(f"{name} is an ImageNet network, which cnnviz does not train on: "
                          f"use `cnnviz finetune {name} --dataset DIR` to reuse it")
    if name in zoo.ARCHITECTURES and not Path(name).exists():
        arch = zoo.ARCHITECTURES[name]
        return zoo.build_model(name), name, dataset or arch.dataset, arch.epochs
    if Path(name).suffix.lower() not in (".keras", ".h5", ".hdf5") and not Path(name).exists():
        raise CnnvizError(f"unknown model {name!r}: use one of {', '.join(zoo.ARCHITECTURES)} or a .keras/.h5 file")
    model = zoo.load_model_file(name)
    info = zoo.model_info(model)
    return model, info.name, dataset or info.dataset, DEFAULT_EPOCHS


def train(model, *, dataset: Union[str, Dataset, None] = None, epochs: Optional[int] = None, batch_size: int = 128,
          optimizer: str = "adam", learning_rate: Optional[float] = None, momentum: Optional[float] = None,
          augment: Union[bool, Augmentation, None] = None, standardize: bool = False, reduce_lr: bool = False,
          validation: Union[float, str] = VALIDATION_SPLIT, limit: Optional[int] = None,
          classes: Optional[Sequence] = None, out: Optional[str] = None, resume: bool = False, force: bool = False,
          fine_tune: Optional[str] = None,
          seed: int = 0, progress: Optional[ProgressFn] = None, on_epoch: Optional[EpochFn] = None,
          cancel: Optional[CancelToken] = None, command: Optional[str] = None) -> TrainResult:
    """Train ``model`` (a zoo architecture's name, a ``.keras``/``.h5`` file
    of a model built in Keras, trained or not, or a ``keras.Model``) on
    ``dataset`` (default the model's own) and write ``out`` (default
    ``./<name>.keras``), ``<stem>.card.json`` and ``<stem>.curves.png``.

    ``optimizer``: one of :data:`OPTIMIZERS` with ``learning_rate`` and
    ``momentum``. ``validation``: a fraction of the training images held out
    (seeded, class-mixed) or ``"test"`` (the test set, as some lectures do).
    ``limit``: a class-balanced seeded subset of the training images;
    ``classes``: only these classes (names or indices), relabelled 0..k-1.
    ``augment``: an :class:`Augmentation`, True for the lecture preset, False
    for none, None for the architecture's recipe (the preset for CIFAR-10).
    ``reduce_lr`` halves the learning rate when the validation loss stalls
    for 3 epochs (Keras' ReduceLROnPlateau). ``resume`` continues from the
    per-epoch checkpoint of an interrupted run; ``force`` allows replacing an
    existing model file. ``fine_tune`` continues training a trained model file
    of this architecture for ``epochs`` more epochs (its card's history,
    stages and commands carry over), e.g. without augmentation at a lower
    ``learning_rate``.
    """
    import keras

    if fine_tune and resume:
        raise CnnvizError("--fine-tune starts a new run: use --resume alone to continue an interrupted one")
    if batch_size < 1 or (epochs is not None and epochs < 1):
        raise CnnvizError("--epochs and --batch-size must be at least 1")
    if validation != "test":
        check_validation_split(validation)
    make_optimizer(optimizer, learning_rate, momentum)                 # bad names fail before any work
    device = runtime.setup_devices()
    seed_everything(seed)                  # before the model is built: its initial weights come from the seed
    built, name, dataset, default_epochs = _resolve_model(model, dataset)
    epochs = default_epochs if epochs is None else epochs
    if dataset is None:
        raise CnnvizError(f"no dataset known for {name}: pass --dataset mnist, cifar10 or an image folder")
    model_path = Path(out or f"{name}.keras")
    ckpt = check_outputs_free(model_path, resume, force)
    augmentation = _augmentation(augment, name, dataset)
    command = command or " ".join(sys.argv)

    data = open_dataset(dataset, built, progress, cancel)
    head_note = ""
    if classes:
        data = select_classes(data, classes)
        if isinstance(model, str) and model in zoo.ARCHITECTURES and not fine_tune and not resume:
            built, head_note = _resized_head(built, name, data)
    check_outputs(built, data, name)
    split = training_data(data, validation, limit, seed)
    preprocessing = zoo.model_info(built).preprocessing
    identity = run_identity(data, validation, limit, seed, architecture=name, standardize=standardize,
                            model_sha256=zoo.model_fingerprint(built) if not isinstance(model, str)
                            or name not in zoo.ARCHS else name)
    if resume:
        model, state = load_checkpoint(ckpt, identity)
    else:
        shutil.rmtree(ckpt, ignore_errors=True)
        if fine_tune:
            model, state = _fine_tune_start(name, fine_tune, epochs, learning_rate, augmentation)
        else:
            model = with_standardization(built, split.x_train) if standardize else built
            state = {"epochs_done": 0, "history": {}, "commands": [], "stages": []}
        state["identity"] = identity
        compile_classifier(model, make_optimizer(optimizer, learning_rate, momentum))
    state["commands"].append(command)
    epochs = state.get("fine_tune", {}).get("total_epochs", epochs)
    state["stages"].append(new_stage(model, command, state["epochs_done"] + 1, augmentation, reduce_lr))

    steps = -(-len(split.x_train) // batch_size)
    train_ds, val_ds = pipelines(split, model, batch_size, augmentation, seed, preprocessing)
    callbacks = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5)] \
        if reduce_lr else []
    start = time.perf_counter()
    fit_epochs(model, train_ds, val_ds, epochs=epochs, ckpt=ckpt, state=state, steps=steps, progress=progress,
               cancel=cancel, on_epoch=on_epoch, callbacks=callbacks)
    test = evaluate_split(model, split, preprocessing)
    card = _card(name, data, model, state, epochs, batch_size, standardize, seed, split, limit, device,
                 time.perf_counter() - start, test, preprocessing)
    if head_note:
        card["head"] = head_note
    return finish(model, model_path, card, ckpt, data)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (Keras' seed utility) and make
    TensorFlow's ops deterministic, so that a seeded run repeats exactly on the
    same machine (a GPU op without a deterministic kernel then fails loudly)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _resized_head(model, name: str, data: Dataset):
    """A zoo architecture's head resized to a class subset, and what the card
    and the user are told about it."""
    outputs = int(model.outputs[0].shape[-1])
    if outputs == len(data.classes):
        return model, ""
    resized = with_head_size(model, len(data.classes))
    zoo.register(resized, zoo.ModelInfo(name=name, dataset=zoo.model_info(model).dataset,
                                         classes=tuple(data.classes), trained=False))
    note = (f"{name}'s head resized from {outputs} to {len(data.classes)} outputs for the classes "
            f"{', '.join(data.classes)}")
    return resized, note


def _augmentation(augment, name: str, dataset) -> Augmentation:
    if isinstance(augment, Augmentation):
        return augment
    dataset_name = dataset.name if isinstance(dataset, Dataset) else str(dataset)
    if augment is None:
        augment = name in zoo.ARCHITECTURES and zoo.ARCHITECTURES[name].augment
    return preset(dataset_name) if augment else NONE


def evaluate_split(model, split: TrainingData, preprocessing: str) -> dict:
    """Test loss and accuracy (None without a test split)."""
    if not len(split.x_test):
        return {"test_loss": None, "test_accuracy": None}
    import tensorflow as tf

    adapt = input_adapter(model, split.x_test.shape[1:], preprocessing)
    test = tf.data.Dataset.from_tensor_slices((split.x_test, split.y_test)).batch(512).map(lambda x, y: (adapt(x), y))
    loss, accuracy = model.evaluate(test, verbose=0)
    return {"test_loss": float(loss), "test_accuracy": float(accuracy)}


def finish(model, model_path: Path, card: dict, ckpt: Path, data: Dataset) -> TrainResult:
    """Write the model, its card and curves, drop the checkpoint, and
    register the model so other functions know its dataset and classes."""
    from ..plots.training import curves_figure  # matplotlib: heavy, loaded with the first figure

    export_model(model, model_path)
    write_json(zoo.card_path(model_path), card)
    fig = curves_figure([card["history"]], [run_label(card, model_path.stem)],
                        title=f"{card['architecture']} on {data.name}", marks=[stage_marks(card)])
    save_figure(fig, curves_path(model_path), dpi=110)
    shutil.rmtree(ckpt, ignore_errors=True)
    dataset = canonical(data.name)
    zoo.register(model, zoo.ModelInfo(name=card["architecture"], dataset=dataset, classes=tuple(data.classes),
                                       preprocessing=card["preprocessing"], path=str(model_path), card=card))
    return TrainResult(model, card, model_path, zoo.card_path(model_path), curves_path(model_path))


def _fine_tune_start(arch: str, source: str, epochs: int, learning_rate: Optional[float], augmentation: Augmentation):
    """The trained model to continue, and a run state that carries its card's
    history, stages and commands over."""
    path = Path(source)
    if not path.exists():
        raise CnnvizError(f"--fine-tune {source}: no such model file; give a trained {arch} .keras file")
    model = zoo.load_model_file(path, compile=True)
    if arch in zoo.ARCHITECTURES and model.count_params() != (expected := zoo.build_model(arch).count_params()):
        raise CnnvizError(f"--fine-tune {source} is not a {arch} model "
                          f"({model.count_params():,} parameters, {arch} has {expected:,})")
    card = zoo.read_card(path)
    done = int(card.get("epochs", 0))
    commands = [card["command"], *card.get("resumed_with", [])] if "command" in card else []
    stage = {"from": path.name, "from_epochs": done, "from_test_accuracy": card.get("metrics", {}).get("test_accuracy"),
             "epochs": epochs, "total_epochs": done + epochs, "learning_rate": learning_rate or 1e-3,
             "augment": augmentation.active}
    history = {k: list(v) for k, v in card.get("history", {}).items()}
    return model, {"epochs_done": done, "history": history, "commands": commands,
                   "stages": list(card.get("stages", [])), "fine_tune": stage}


def base_card(name: str, data: Dataset, model, state: dict, preprocessing: str, device: str, test: dict) -> dict:
    """The card fields every trained model has (training and fine-tuning)."""
    import keras
    import tensorflow as tf

    from .. import __version__  # cnnviz/__init__ imports this module: a real cycle

    history = state["history"]
    last = {k: v[-1] for k, v in history.items() if v}
    return {
        "architecture": name,
        "dataset": data.name,
        "dataset_source": Path(data.source).name,
        "dataset_sha256": data.sha256,
        "classes": list(data.classes),
        **({"skipped_files": [{"file": f, "reason": r} for f, r in data.skipped]} if data.skipped else {}),
        "input_shape": list(model.inputs[0].shape[1:]),
        "preprocessing": preprocessing,
        "parameters": int(model.count_params()),
        "epochs": state["epochs_done"],
        "metrics": {"train_accuracy": last.get("accuracy"), "train_loss": last.get("loss"),
                    "val_accuracy": last.get("val_accuracy"), "val_loss": last.get("val_loss"), **test},
        "stages": state["stages"],
        "history": history,
        "training_time_s": round(sum(history.get("time_s", [])), 1),
        "device": device,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": state["commands"][0],
        "resumed_with": state["commands"][1:],
        "versions": {"cnnviz": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }


def _card(name, data, model, state, epochs, batch_size, standardize, seed, split, limit, device, seconds, test,
          preprocessing):
    card = base_card(name, data, model, state, preprocessing, device, test)
    card["recipe"] = {"loss": "sparse_categorical_crossentropy", "batch_size": batch_size,
                      "validation": split.validation, "standardize": standardize, "seed": seed,
                      "limit": limit, "train_images": len(split.x_train)}
    card["training_time_s"] = round(sum(state["history"].get("time_s", [seconds])), 1)
    if state.get("fine_tune"):
        card["fine_tune"] = {k: v for k, v in state["fine_tune"].items() if k != "total_epochs"}
    return card


KERAS_DEFAULTS = {"rho": (0.9, 0.95), "beta_1": (0.9,), "beta_2": (0.999,), "epsilon": (1e-7,),
                  "initial_accumulator_value": (0.1,), "amsgrad": (False,), "weight_decay": (None, 0.0),
                  "momentum": (0.0,), "nesterov": (False,)}


def optimizer_label(record: dict) -> str:
    """An optimizer record as a legend names it: class, learning rate, and
    every setting that is not Keras' default (momentum, Nesterov, rho, ...)."""
    parts = [record.get("name", "?"), f"lr {record.get('learning_rate', 0):g}"]
    for key, value in record.items():
        if key in ("name", "learning_rate") or value in KERAS_DEFAULTS.get(key, ()):
            continue
        parts.append("Nesterov" if key == "nesterov" else f"{key.replace('_', ' ')} {value:g}"
                     if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{key} {value}")
    return " ".join(parts)


def run_label(card: dict, fallback: str = "") -> str:
    """A short legend entry for a run from its card: name, each optimizer it
    used with all its settings, and whether it was standardized or augmented."""
    stages = card.get("stages") or []
    parts = [fallback or card.get("architecture", "run")]
    optimizers = []
    for stage in stages:
        label = optimizer_label(stage.get("optimizer", {}))
        if label not in optimizers:
            optimizers.append(label)
    if optimizers:
        parts.append(" then ".join(optimizers))
    if card.get("recipe", {}).get("standardize"):
        parts.append("standardized")
    if any(s.get("augmentation") for s in stages):
        parts.append("augmented")
    return ", ".join(parts)


def stage_marks(card: dict) -> list[tuple[float, str]]:
    """Where a run changed what it ran (the end of a fine-tuning head phase, a
    continuation at other settings), as (epoch, text) for the curves."""
    marks, previous = [], None
    for stage in card.get("stages") or []:
        what = (stage.get("phase"), optimizer_label(stage.get("optimizer", {})), bool(stage.get("augmentation")))
        first = stage.get("epochs", [1])[0]
        if previous is not None and what != previous and first > 1:
            text = "head phase ends" if previous[0] == "head" else f"then {what[1]}"
            marks.append((first - 0.5, text))
        previous = what
    if card.get("fine_tune", {}).get("from_epochs"):
        marks.append((card["fine_tune"]["from_epochs"] + 0.5, "fine-tuning starts"))
    return sorted(set(marks))
