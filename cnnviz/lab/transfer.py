"""Reusing a trained network on a new task, the two ways the lectures teach
(Yosinski et al. 2014, "How transferable are features in deep neural
networks?"; Razavian et al. 2014, "CNN features off-the-shelf"):

- features: one layer's activations for every image of a dataset
  (flattened, or global-average-pooled), extracted in one streaming batched
  pass of a ``keras.Model`` sub-model, then a linear classifier on them:
  scikit-learn's ``LogisticRegressionCV``;
- fine-tuning: the network up to a layer, a new head for the new classes,
  the head trained with the backbone frozen, then the backbone (all of it or
  the layers above ``freeze_until``) unfrozen at a low learning rate.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..common import runtime
from ..common.errors import CnnvizError, short
from ..common.fileio import atomic_path
from ..common.progress import CancelToken, ProgressFn, check, report
from ..data.augment import NONE
from ..data.datasets import Dataset, balanced_subset
from ..models import zoo
from ..models.engine import feature_function
from ..models.graph import feature_model, get_layer, qualified_name
from ..models.inputs import dataset_inputs
from ..models.preprocessing import preprocess
from .training import (
    VALIDATION_SPLIT,
    base_card,
    check_outputs_free,
    check_validation_split,
    compile_classifier,
    evaluate_split,
    finish,
    fit_epochs,
    image_input_shape,
    load_checkpoint,
    make_optimizer,
    new_stage,
    open_dataset,
    pipelines,
    run_identity,
    seed_everything,
    select_classes,
    training_data,
)

# ---------------------------------------------------------------- features

@dataclass
class Features:
    """One layer's activations per image, with the images' labels."""

    features: np.ndarray           # (N, D) float32
    labels: np.ndarray             # (N,) int64
    classes: list[str]
    layer: str
    model: str
    pooled: bool = False
    weights_note: str = ""         # "" for a trained model; else what every result from these features must say
    skipped: list = field(default_factory=list)     # (file, why) of a folder's files that were not images

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, features=self.features, labels=self.labels, classes=np.array(self.classes),
                                layer=np.array(self.layer), model=np.array(self.model),
                                pooled=np.array(self.pooled), weights_note=np.array(self.weights_note))

    @classmethod
    def load(cls, path: str | Path) -> "Features":
        """Read a features file, checked against what ``save`` writes: one
        line naming the file, what is wrong and the fix for anything else."""
        path = Path(path)
        fix = f"write it again with `cnnviz features MODEL --layer L -o {path}`"
        if not path.is_file():
            raise CnnvizError(f"no features file {path}: " + ("it is a folder; " if path.is_dir() else "") + fix)
        if path.stat().st_size == 0:
            raise CnnvizError(f"{path} is empty (0 bytes), not a features file: {fix}")
        try:
            loaded = np.load(path, allow_pickle=False)
            if not hasattr(loaded, "files"):
                raise ValueError("it holds a single array, not the named arrays of a features file")
            with loaded as f:
                missing = [k for k in FEATURE_FIELDS if k not in f.files]
                if missing:
                    raise ValueError(f"it has no {', '.join(missing)}")
                arrays = {k: f[k] for k in FEATURE_FIELDS}
                note = str(f["weights_note"]) if "weights_note" in f.files else ""
        except ValueError as exc:
            text = str(exc)
            if "allow_pickle" in text:
                text = "it holds pickled Python objects, which cnnviz never loads (they could run code)"
            raise CnnvizError(f"{path} is not a features file written by `cnnviz features`: {text}; {fix}") from None
        except Exception as exc:          # not an NPZ at all, or a damaged one
            raise CnnvizError(f"{path} is not a features file written by `cnnviz features` ({short(exc, 100)}): "
                              f"{fix}") from None
        return cls(*_checked_features(path, arrays, fix), weights_note=note)


FEATURE_FIELDS = ("features", "labels", "classes", "layer", "model", "pooled")


def _checked_features(path, a: dict, fix: str) -> tuple:
    """The fields of a features file, or a CnnvizError saying what is wrong."""
    def bad(what: str):
        return CnnvizError(f"{path}: {what}: {fix}")

    feats, labels, classes = a["features"], a["labels"], a["classes"]
    if feats.dtype.kind not in "uif" or feats.ndim != 2 or not feats.size:
        raise bad(f"features must be a non-empty 2-D array of numbers (images x values), not {feats.dtype} "
                  f"of shape {feats.shape}")
    feats = feats.astype(np.float32, copy=False)
    if not np.isfinite(feats).all():
        raise bad(f"{int((~np.isfinite(feats)).any(axis=1).sum())} row(s) of features are not finite (NaN or inf)")
    if labels.ndim != 1 or labels.dtype.kind not in "uif":
        raise bad(f"labels must be a 1-D array of class indices, not {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(feats):
        raise bad(f"{len(feats)} rows of features but {len(labels)} labels")
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise bad("labels must be whole class indices (0, 1, 2, ...), not fractions")
    labels = labels.astype(np.int64)
    if classes.ndim != 1 or classes.dtype.kind not in "US" or len(classes) < 1:
        raise bad("classes must be a 1-D array of class names")
    outside = sorted({int(v) for v in labels if v < 0 or v >= len(classes)})
    if outside:
        raise bad(f"label(s) {', '.join(map(str, outside[:5]))} are outside the {len(classes)} classes "
                  f"(indices 0..{len(classes) - 1})")
    for name in ("layer", "model"):
        if a[name].ndim != 0 or a[name].dtype.kind not in "US":
            raise bad(f"{name} must be one text")
    if a["pooled"].ndim != 0 or a["pooled"].dtype.kind not in "bui":
        raise bad("pooled must be true or false")
    return feats, labels, [str(c) for c in classes], str(a["layer"]), str(a["model"]), bool(a["pooled"])


def check_feature_layer(model, layer: str) -> str:
    """The layer's qualified name; an error for a missing layer or the input."""
    import keras


    found = get_layer(model, layer)
    if isinstance(found, keras.layers.InputLayer):
        raise CnnvizError(f"{layer} is {model.name}'s input, not a layer above it: pick a layer that computes "
                          "features (see `cnnviz summary`)")
    return qualified_name(model, layer)


def model_batch(model, images: np.ndarray) -> np.ndarray:
    """uint8 images as the model's input: resized and scaled for an image
    model, flattened for a dense network on pixels."""
    if image_input_shape(model) is not None:
        return dataset_inputs(model, images)
    shape = tuple(model.inputs[0].shape[1:])
    return preprocess(images, zoo.model_info(model).preprocessing).reshape(len(images), *shape)


def extract_features(model, layer: str, images: np.ndarray, pool: bool = False, batch_size: int = 256,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Activations of ``layer`` for uint8 ``images`` (N, H, W[, C]) as (N, D):
    flattened, or averaged over the spatial axes with ``pool``. One pass of a
    compiled sub-model, batch by batch, into one preallocated array."""

    name = check_feature_layer(model, layer)
    fn = feature_function(model, (name,))
    out = None
    for start in range(0, len(images), batch_size):
        check(cancel)
        report(progress, start, len(images), f"features of {layer}")
        value = fn(np.asarray(model_batch(model, images[start:start + batch_size]), np.float32))
        value = np.asarray(value[0] if isinstance(value, (list, tuple)) else value)
        if pool and value.ndim > 2:
            value = value.mean(axis=tuple(range(1, value.ndim - 1)))
        value = value.reshape(len(value), -1)
        if out is None:
            out = np.empty((len(images), value.shape[1]), np.float32)
        out[start:start + len(value)] = value
    report(progress, len(images), len(images), f"features of {layer}")
    if out is None:
        raise CnnvizError("no images to extract features from: check --dataset, --classes and --limit")
    return out


def labelled_images(data: Dataset, split: str = "test", limit: Optional[int] = None,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and labels of a dataset's ``split`` (an image folder has
    only one), a class-balanced seeded subset of ``limit`` when given."""

    if split not in ("train", "test"):
        raise CnnvizError(f"--split {split}: use train or test")
    x, y = (data.x_train, data.y_train) if split == "train" and len(data.x_train) else (data.x_test, data.y_test)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if limit is not None:
        pick = balanced_subset(y, limit, seed)
        x, y = x[pick], y[pick]
    return x, y


def dataset_features(model, layer: str, dataset: Union[str, Dataset], *, pool: bool = False, split: str = "test",
                     classes: Optional[Sequence] = None, limit: Optional[int] = None, seed: int = 0,
                     batch_size: int = 256, progress: Optional[ProgressFn] = None,
                     cancel: Optional[CancelToken] = None) -> Features:
    """:func:`extract_features` over a dataset (mnist, cifar10, an image
    folder or a :class:`Dataset`), optionally only some ``classes``."""
    check_feature_layer(model, layer)          # before loading any data
    data = open_dataset(dataset, model, progress, cancel)
    if classes:
        data = select_classes(data, classes)
    x, y = labelled_images(data, split, limit, seed)
    feats = extract_features(model, layer, x, pool, batch_size, progress, cancel)
    return Features(feats, y, list(data.classes), layer, zoo.model_info(model).name, pool, zoo.weights_note(model),
                    list(data.skipped))


# ---------------------------------------------------------------- a linear classifier on features

@dataclass
class TransferResult:
    train_accuracy: float
    test_accuracy: float
    confusion_train: np.ndarray
    confusion_test: np.ndarray
    classes: list[str]
    n_train: int
    n_test: int
    C: float                        # the regularization LogisticRegressionCV chose
    classifier: object = field(repr=False)
    weights_note: str = ""          # the features' model was untrained: say so with every number

    def to_json(self) -> dict:
        return {"train_accuracy": self.train_accuracy, "test_accuracy": self.test_accuracy,
                "confusion_train": self.confusion_train.tolist(), "confusion_test": self.confusion_test.tolist(),
                "classes": self.classes, "n_train": self.n_train, "n_test": self.n_test, "C": self.C,
                "trained": not self.weights_note, **({"weights_note": self.weights_note} if self.weights_note else {})}


def _check_in_memory(f: Features) -> None:
    """What :meth:`Features.load` checks, for Features built in code."""
    feats, labels = np.asarray(f.features), np.asarray(f.labels)
    if labels.ndim != 1 or len(labels) != len(feats) or feats.ndim != 2:
        raise CnnvizError(f"features ({feats.shape}) and labels ({labels.shape}) must be (N, D) and (N,)")
    if labels.size and (labels.min() < 0 or labels.max() >= len(f.classes)):
        outside = sorted({int(v) for v in labels if v < 0 or v >= len(f.classes)})
        raise CnnvizError(f"label(s) {', '.join(map(str, outside[:5]))} are outside the {len(f.classes)} classes "
                          f"(indices 0..{len(f.classes) - 1}): relabel, or list every class")
    if not np.isfinite(feats).all():
        raise CnnvizError("some features are not finite (NaN or inf): extract them again")


def fit_transfer(features: Features, test_size: float = 0.25, seed: int = 0,
                 test: Optional[Features] = None) -> TransferResult:
    """Standardize the features and fit scikit-learn's ``LogisticRegressionCV``
    (the regularization chosen by cross-validation) on a stratified, seeded
    train split, or on all of ``features`` when separate ``test`` features are
    given; accuracy and confusion matrices on both splits."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 < test_size < 1:
        raise CnnvizError(f"--test-size {test_size} is out of range: give a fraction between 0 and 1, e.g. 0.25")
    for f in (features, test) if test is not None else (features,):
        _check_in_memory(f)
    counts = np.bincount(features.labels, minlength=len(features.classes))
    if (counts > 0).sum() < 2:
        raise CnnvizError("the features hold fewer than two classes: extract them from a dataset with two or more")
    if test is None:
        n_test = int(np.ceil(test_size * len(features.labels)))
        present = int((counts > 0).sum())
        if counts[counts > 0].min() < 2 or n_test < present or len(features.labels) - n_test < present:
            raise CnnvizError(f"{len(features.labels)} rows are too few for a stratified split with --test-size "
                              f"{test_size:g} over {present} classes (smallest class: {counts[counts > 0].min()} "
                              "rows): extract features of more images, or give --test features")
        x_train, x_test, y_train, y_test = train_test_split(features.features, features.labels, test_size=test_size,
                                                            random_state=seed, stratify=features.labels)
    else:
        if test.classes != features.classes or test.features.shape[1] != features.features.shape[1]:
            raise CnnvizError("the test features are not of the same layer and classes as the training features")
        x_train, y_train, x_test, y_test = features.features, features.labels, test.features, test.labels
    counts = np.bincount(y_train)
    folds = int(min(5, counts[counts > 0].min()))          # stratified folds need that many images per class
    if folds < 2:
        raise CnnvizError("too few training images per class for cross-validation: give at least 2 per class")
    classifier = make_pipeline(StandardScaler(),
                               LogisticRegressionCV(Cs=10, cv=folds, l1_ratios=(0.0,), scoring="accuracy",
                                                    use_legacy_attributes=False, max_iter=2000,
                                                    random_state=seed))
    classifier.fit(x_train, y_train)
    labels = np.arange(len(features.classes))
    pred_train, pred_test = classifier.predict(x_train), classifier.predict(x_test)
    return TransferResult(float(np.mean(pred_train == y_train)), float(np.mean(pred_test == y_test)),
                          confusion_matrix(y_train, pred_train, labels=labels),
                          confusion_matrix(y_test, pred_test, labels=labels), list(features.classes),
                          len(y_train), len(y_test), float(np.ravel(classifier[-1].C_)[0]), classifier,
                          features.weights_note or (test.weights_note if test is not None else ""))


# ---------------------------------------------------------------- fine-tuning

MAX_HEAD_UNITS = 65536          # units of one dense layer of a new head
MAX_HEAD_WEIGHTS = 200_000_000  # weights of the new head in all (0.8 GB float32, 3x that with Adam's state)


def parse_head(spec: str) -> list[tuple[str, float]]:
    """``dense:256,dropout:0.5`` as [("dense", 256), ("dropout", 0.5)]."""
    parts = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, _, value = item.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = -1
        if kind == "dense" and number > MAX_HEAD_UNITS:
            raise CnnvizError(f"--head {item!r}: at most {MAX_HEAD_UNITS:,} units per dense layer "
                              "(a head that size already holds hundreds of millions of weights)")
        if kind == "dense" and number >= 1 and number == int(number):
            parts.append(("dense", int(number)))
        elif kind == "dropout" and 0 <= number < 1:
            parts.append(("dropout", number))
        else:
            raise CnnvizError(f"--head {item!r}: give layers like dense:256 (units) and dropout:0.5 (rate), "
                              "comma-separated")
    return parts


def default_feature_layer(model) -> str:
    """The layer the new head goes on: below the classifier's last Dense layer
    (and what follows it), or the model's output for a backbone without one."""
    import keras

    denses = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Dense)]
    if len(model.outputs[0].shape) == 2 and denses and denses[-1] > 0:
        return model.layers[denses[-1] - 1].name
    return model.layers[-1].name


def build_finetune_model(backbone, n_classes: int, head: str = "dense:256", layer: Optional[str] = None,
                         pool: bool = False, input_shape: Optional[tuple] = None):
    """Backbone (up to ``layer``) + Flatten or global pooling + ``head`` +
    a softmax over ``n_classes``, as one flat functional model. The backbone's
    layers are copies, so training leaves the given backbone as it was.
    ``input_shape`` (H, W, C) fixes the size of a backbone that takes any
    size (VGG16 without its top), so that its features can be flattened."""
    import keras


    layer = check_feature_layer(backbone, layer or default_feature_layer(backbone))
    copy = keras.models.clone_model(backbone)
    copy.set_weights(backbone.get_weights())
    body = feature_model(copy, [layer], input_shape)
    x = body.outputs[0]
    if len(x.shape) > 2:
        if pool:
            x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        else:
            x = keras.layers.Flatten(name="head_flatten")(x)
    parts = parse_head(head)
    widths = [int(np.prod([d or 1 for d in x.shape[1:]]))] + [v for k, v in parts if k == "dense"] + [n_classes]
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    if weights > MAX_HEAD_WEIGHTS:
        raise CnnvizError(f"--head {head} on {layer} ({widths[0]:,} features) makes {weights:,} weights, more than "
                          f"the {MAX_HEAD_WEIGHTS:,} allowed: use fewer units, a higher --layer or --pool")
    for i, (kind, value) in enumerate(parts, 1):
        x = keras.layers.Dense(value, activation="relu", name=f"head_dense{i}")(x) if kind == "dense" else \
            keras.layers.Dropout(value, name=f"head_dropout{i}")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="head_predictions")(x)
    return keras.Model(body.inputs, outputs, name=f"{backbone.name}_finetuned")


def backbone_layers(model) -> list:
    """The fine-tuning model's backbone layers (all but the head), in order."""
    return [layer for layer in model.layers if not layer.name.startswith("head_")]


def set_trainable(model, phase: str, freeze_until: Optional[str] = None) -> None:
    """Head phase: the backbone frozen. All phase: the backbone above
    ``freeze_until`` (or all of it) trainable, BatchNormalization layers kept
    frozen so that their statistics stay those of the original data (Keras'
    fine-tuning advice)."""
    import keras

    layers = backbone_layers(model)
    names = [layer.name for layer in layers]
    start = names.index(freeze_until) + 1 if freeze_until else 0
    for i, layer in enumerate(layers):
        layer.trainable = phase == "all" and i >= start and not isinstance(layer, keras.layers.BatchNormalization)


def _check_freeze_until(backbone, layer: str, freeze_until: Optional[str]) -> None:
    if freeze_until is None:
        return

    names = [lay.name for lay in feature_model(backbone, [layer]).layers]
    if freeze_until not in names:
        raise CnnvizError(f"--freeze-until {freeze_until}: no such layer in {backbone.name}'s backbone up to "
                          f"{layer}; use one of {', '.join(names[1:])}")


def finetune(backbone, dataset: Union[str, Dataset], *, head: str = "dense:256", layer: Optional[str] = None,
             pool: bool = False, freeze_until: Optional[str] = None, epochs_head: int = 5, epochs_all: int = 5,
             lr_head: float = 1e-3, lr_all: float = 1e-5, batch_size: int = 32,
             validation: Union[float, str] = VALIDATION_SPLIT, classes: Optional[Sequence] = None,
             limit: Optional[int] = None, out: Optional[str] = None, resume: bool = False, force: bool = False,
             seed: int = 0, progress: Optional[ProgressFn] = None, on_epoch=None,
             cancel: Optional[CancelToken] = None, command: Optional[str] = None):
    """Fine-tune ``backbone`` (a model, zoo name or model file) on
    ``dataset``'s classes: train a new ``head`` on the frozen backbone for
    ``epochs_head`` epochs at ``lr_head``, then unfreeze the backbone (the
    layers above ``freeze_until``, or all) for ``epochs_all`` epochs at
    ``lr_all`` (Adam). Writes ``out`` with its card (both phases' histories
    as stages) and curves; checkpoints every epoch, ``resume`` continues an
    interrupted run, ``force`` replaces an existing file. Returns a
    :class:`~cnnviz.lab.training.TrainResult`."""
    import keras

    if epochs_head < 0 or epochs_all < 0 or epochs_head + epochs_all < 1 or batch_size < 1:
        raise CnnvizError("--epochs-head and --epochs-all must be 0 or more, not both 0; --batch-size at least 1")
    for flag, rate in (("--lr-head", lr_head), ("--lr-all", lr_all)):
        if not 0 < rate <= 1:
            raise CnnvizError(f"{flag} {rate} is out of range: give a learning rate between 0 and 1, e.g. 1e-5")
    parse_head(head)
    if validation != "test":
        check_validation_split(validation)
    device = runtime.setup_devices()
    if not isinstance(backbone, keras.Model):
        backbone = zoo.load_model(str(backbone))
    info = zoo.model_info(backbone)
    layer = check_feature_layer(backbone, layer or default_feature_layer(backbone))
    _check_freeze_until(backbone, layer, freeze_until)
    model_path = Path(out or f"{info.name}_finetuned.keras")
    ckpt = check_outputs_free(model_path, resume, force)
    command = command or " ".join(sys.argv)

    seed_everything(seed)
    data = open_dataset(dataset, backbone, progress, cancel)
    if classes:
        data = select_classes(data, classes)
    split = training_data(data, validation, limit, seed)
    identity = run_identity(data, validation, limit, seed, backbone_sha256=zoo.model_fingerprint(backbone),
                            layer=layer, head=head, pool=pool, freeze_until=freeze_until)
    if resume:
        model, state = load_checkpoint(ckpt, identity)
    else:
        any_size = None in tuple(backbone.inputs[0].shape[1:])
        model = build_finetune_model(backbone, len(data.classes), head, layer, pool,
                                     split.x_train.shape[1:] if any_size else None)
        state = {"epochs_done": 0, "history": {}, "commands": [], "stages": [], "phase": "head",
                 "identity": identity}
    state["commands"].append(command)
    steps = -(-len(split.x_train) // batch_size)
    train_ds, val_ds = pipelines(split, model, batch_size, NONE, seed, info.preprocessing)
    start = time.perf_counter()
    fit = dict(ckpt=ckpt, state=state, steps=steps, progress=progress, cancel=cancel, on_epoch=on_epoch)
    for phase, until, rate in (("head", epochs_head, lr_head), ("all", epochs_head + epochs_all, lr_all)):
        if state["epochs_done"] >= until:
            continue                      # finished before an interruption, or no epochs asked
        if not (resume and state["phase"] == phase):   # a resumed phase keeps its checkpoint's optimizer
            state["phase"] = phase
            set_trainable(model, phase, freeze_until)
            compile_classifier(model, make_optimizer("adam", rate))
        resume = False
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        state["stages"].append(new_stage(model, command, state["epochs_done"] + 1, NONE, False, phase=phase,
                                         trainable_parameters=trainable))
        fit_epochs(model, train_ds, val_ds, epochs=until, **fit)
    test = evaluate_split(model, split, info.preprocessing)
    card = base_card(model.name, data, model, state, info.preprocessing, device, test)
    card["recipe"] = {"loss": "sparse_categorical_crossentropy", "batch_size": batch_size,
                      "validation": split.validation, "seed": seed, "limit": limit,
                      "train_images": len(split.x_train)}
    card["finetune"] = {"backbone": info.path or info.name, "layer": layer, "head": head, "pool": pool,
                        "freeze_until": freeze_until, "epochs_head": epochs_head, "epochs_all": epochs_all,
                        "lr_head": lr_head, "lr_all": lr_all}
    card["training_time_s"] = round(sum(state["history"].get("time_s", [time.perf_counter() - start])), 1)
    return finish(model, model_path, card, ckpt, data)
