"""The ``cnnviz`` commands of the lectures' other half: training any model
your way (``train``, with an ``augment`` preview), comparing runs
(``curves``), and reusing a trained network (``features`` + ``transfer``,
``finetune``)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from ..common.errors import CnnvizError
from ..data.augment import NONE, Augmentation, augment_batch, preset
from ..data.datasets import balanced_subset
from ..data.sources import image_folder_dataset, load_dataset, named
from ..data.stream import skipped_line
from ..lab.training import OPTIMIZERS, run_label, stage_marks, to_unit_interval, train
from ..lab.transfer import Features, dataset_features, finetune, fit_transfer, parse_head
from ..models import zoo
from ..models.zoo import card_path
from .common import (
    ProgressBar,
    batch_size,
    confusion_text,
    count_at_most,
    data_output,
    emit_json,
    figure_output,
    model_options,
    model_output,
    model_positional,
    nonnegative_float,
    nonnegative_int,
    open_model,
    positive_float,
    positive_int,
    save,
)

AUGMENT_FLAGS = ("rotation", "width_shift", "height_shift", "zoom", "horizontal_flip", "vertical_flip",
                 "channel_shift", "brightness")
DATASET_HELP = "mnist, cifar10 or an image folder DIR/<class>/*.jpg"


def _note_skipped(skipped, where) -> None:
    """Say which files of a folder were skipped (not images, or unreadable)."""
    if skipped:
        print(f"note: {skipped_line(skipped, Path(str(where)).name)}", file=sys.stderr)


def _command_line() -> str:
    return "cnnviz " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def augmentation_from_args(args, dataset):
    """The augmentation the flags ask for: ``--augment`` starts from the
    lecture preset, each explicit flag sets its own value; None when no flag
    was given (the model's recipe decides)."""
    given = {name: getattr(args, name) for name in AUGMENT_FLAGS if getattr(args, name) not in (None, False)}
    if args.shift is not None:
        given.setdefault("width_shift", args.shift)
        given.setdefault("height_shift", args.shift)
    if args.augment is None and not given:
        return None
    base = preset(dataset) if args.augment else NONE
    if args.augment is False and given:
        raise CnnvizError("--no-augment contradicts the augmentation flags given: drop one of them")
    values = {name: getattr(base, name) for name in AUGMENT_FLAGS}
    values.update(given)
    return Augmentation(**values)


def augmentation_options() -> argparse.ArgumentParser:
    """The augmentation flags shared by ``train`` and ``augment``
    (``ImageDataGenerator``'s options)."""
    parent = argparse.ArgumentParser(add_help=False)
    g = parent.add_argument_group("augmentation (Keras preprocessing layers, as ImageDataGenerator's options)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="the lecture preset: rotation 15, shift 0.1, horizontal flips for photos (default: on for "
                        "cifar10_cnn); the flags below change single settings")
    g.add_argument("--rotation", type=nonnegative_float, metavar="DEG", help="random rotation up to +-DEG degrees")
    g.add_argument("--shift", type=nonnegative_float, metavar="F",
                   help="random shift up to +-F of the width and height")
    g.add_argument("--width-shift", type=nonnegative_float, metavar="F",
                   help="random horizontal shift up to +-F of the width")
    g.add_argument("--height-shift", type=nonnegative_float, metavar="F",
                   help="random vertical shift up to +-F of the height")
    g.add_argument("--zoom", type=nonnegative_float, metavar="F", help="random zoom in or out by up to F")
    g.add_argument("--horizontal-flip", action="store_true", help="flip left-right at random")
    g.add_argument("--vertical-flip", action="store_true", help="flip upside down at random")
    g.add_argument("--channel-shift", type=nonnegative_float, metavar="F",
                   help="add up to +-F (a fraction of the pixel range) to each colour channel")
    g.add_argument("--brightness", type=nonnegative_float, metavar="F", help="add up to +-F to all channels")
    return parent


# ---------------------------------------------------------------- train

def cmd_train(args) -> int:
    def on_epoch(epoch, epochs, logs):
        print(f"epoch {epoch}/{epochs}: loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} "
              f"val_loss {logs['val_loss']:.4f} val_acc {logs['val_accuracy']:.4f} ({logs['time_s']:.1f} s)",
              file=sys.stderr, flush=True)


    dataset = args.dataset or (zoo.ARCHITECTURES[args.model].dataset if args.model in zoo.ARCHITECTURES
                               else zoo.read_card(args.model).get("dataset"))
    result = train(args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                   optimizer=args.optimizer, learning_rate=args.lr, momentum=args.momentum,
                   augment=augmentation_from_args(args, dataset), standardize=args.standardize,
                   reduce_lr=args.reduce_lr, validation=args.validation or args.validation_split, limit=args.limit,
                   classes=_classes(args.classes), out=args.out, resume=args.resume, force=args.force,
                   fine_tune=args.fine_tune, seed=args.seed,
                   progress=None if args.quiet else ProgressBar(), on_epoch=on_epoch, command=_command_line())
    if result.card.get("head"):
        print(f"cnnviz: note: {result.card['head']}", file=sys.stderr)
    _note_skipped([(f["file"], f["reason"]) for f in result.card.get("skipped_files", [])], args.dataset)
    m = result.card["metrics"]
    if m["test_accuracy"] is not None:
        print(f"test accuracy {m['test_accuracy']:.4f}, test loss {m['test_loss']:.4f}")
    else:
        print(f"validation accuracy {m['val_accuracy']:.4f} (the dataset has no separate test split)")
    print(f"wrote {result.model_path}, {result.card_path}, {result.curves_path}")
    return 0


def _add_train(sub, model_opts, aug_opts) -> None:
    p = sub.add_parser("train", help="train a zoo architecture or your own Keras model",
                       parents=[aug_opts],
                       description="Train a zoo architecture or a .keras/.h5 model of yours (image CNN or dense "
                                   "network) on MNIST, CIFAR-10 or an image folder: Adam, batch 128 and a 10% "
                                   "validation split unless told otherwise. Writes OUT, its .card.json (what was "
                                   "run, epoch by epoch) and .curves.png.")
    model_positional(p, help=f"a zoo architecture ({', '.join(a for a in zoo.ARCHITECTURES)}; see `cnnviz models`) "
                             "or a .keras/.h5 file, trained or not")
    p.add_argument("--dataset", help=DATASET_HELP + " (default: the model's)")
    p.add_argument("--epochs", type=count_at_most(100_000),
                   help="epochs (default: the architecture's recipe, 10 for a file)")
    p.add_argument("--batch-size", type=batch_size, default=128)
    p.add_argument("--optimizer", default="adam", type=str.lower, metavar="NAME",
                   help=f"{', '.join(OPTIMIZERS)} (default adam; momentum and nesterov are SGD with momentum 0.9)")
    p.add_argument("--lr", type=positive_float, help="learning rate (default: Keras' default for the optimizer)")
    p.add_argument("--momentum", type=nonnegative_float, help="momentum for --optimizer momentum, nesterov or rmsprop")
    val = p.add_mutually_exclusive_group()
    val.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                     help="hold out this fraction of the training images for validation (default 0.1)")
    val.add_argument("--validation", choices=("test",), help="validate on the test set instead")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="train on a class-balanced, seeded subset of N images")
    p.add_argument("--classes", help="only these classes, comma-separated names or indices (e.g. 0,1,2,3,4)")
    p.add_argument("--standardize", action="store_true", help="per-pixel standardization (a layer in the model)")
    p.add_argument("--reduce-lr", action="store_true",
                   help="halve the learning rate when the validation loss stalls for 3 epochs")
    p.add_argument("--out", type=model_output, help="model file to write (default ./NAME.keras)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--fine-tune", metavar="MODEL", help="continue training this trained .keras file of the same "
                                                        "architecture for --epochs more epochs (its card carries over)")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


# ---------------------------------------------------------------- augment

def cmd_augment(args) -> int:
    from ..plots.training import augmentation_figure  # matplotlib: heavy, loaded with the first figure

    data = _preview_dataset(args.source)
    aug = augmentation_from_args(args, data.name) or preset(data.name)
    if not aug.active:
        raise CnnvizError("no augmentation to preview: give --augment or flags such as --rotation 10 --zoom 0.1")
    if args.n < 1 or args.copies < 1:
        raise CnnvizError("--n and --copies must be at least 1")
    pool_x, pool_y = (data.x_train, data.y_train) if len(data.x_train) else (data.x_test, data.y_test)
    pick = balanced_subset(pool_y, args.n, args.seed)
    originals = to_unit_interval(pool_x[pick])
    batch = np.concatenate([originals] * args.copies)              # all copies in one call
    copies = augment_batch(batch, aug, args.seed).reshape(args.copies, *originals.shape)
    settings = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in aug.to_json().items() if v)
    save(augmentation_figure(originals, copies, f"{data.name}: {settings}"), args.output)
    return 0


def _preview_dataset(source: str):
    """The dataset named, or the dataset of the model named."""
    if named(source) is not None:
        return load_dataset(source, progress=ProgressBar())
    if Path(source).is_dir():
        return image_folder_dataset(source, (96, 96), 3, progress=ProgressBar())
    if source in zoo.ARCHS:
        return load_dataset(zoo.ARCHS[source].dataset, progress=ProgressBar())
    if Path(source).is_file():
        dataset = zoo.read_card(source).get("dataset")
        if named(dataset or "") is not None:
            return load_dataset(dataset, progress=ProgressBar())
        raise CnnvizError(f"no dataset known for {source}: give a dataset (mnist, cifar10 or an image folder) instead")
    raise CnnvizError(f"{source} is neither a dataset (mnist, cifar10, an image folder) nor a model")


def _add_augment(sub, aug_opts) -> None:
    p = sub.add_parser("augment", parents=[aug_opts], help="preview augmentation settings on dataset images",
                       description="Draw dataset images beside augmented copies, to judge augmentation settings "
                                   "before training. Without flags: the lecture preset (--augment).")
    p.add_argument("source", metavar="DATASET-or-MODEL", help=DATASET_HELP + ", or a model (its dataset)")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write (PNG/PDF/SVG)")
    p.add_argument("--n", type=positive_int, default=6, help="how many images (class-balanced; default 6)")
    p.add_argument("--copies", type=count_at_most(1000, "copies drawn"), default=5,
                   help="augmented copies of each (default 5)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.set_defaults(func=cmd_augment)


# ---------------------------------------------------------------- samples

def cmd_samples(args) -> int:
    from ..data.datasets import class_sample, mixed_sample
    from ..plots.training import image_grid_figure, samples_figure  # matplotlib: heavy, loaded with the first figure

    data = _preview_dataset(args.source)
    x, y = (data.x_train, data.y_train) if args.split == "train" and len(data.x_train) else (data.x_test, data.y_test)
    y = np.asarray(y).reshape(-1)
    if args.mixed:
        pick = mixed_sample(y, min(args.mixed, len(y)), args.seed)
        print(f"{len(pick)} images of {data.name} ({args.split} split), classes mixed: "
              f"{len(np.unique(y[pick]))} of {len(data.classes)} classes, seed {args.seed}")
        fig = image_grid_figure(x[pick], [data.classes[c] for c in y[pick]],
                                f"{data.name}: {len(pick)} random {args.split} images, classes mixed", max_cols=10)
    else:
        pick = class_sample(y, args.per_class, args.seed)
        print(f"{len(pick)} images of {data.name} ({args.split} split): {args.per_class} per class, "
              f"{len(data.classes)} classes, seed {args.seed}")
        fig = samples_figure(x[pick], y[pick], data.classes, f"{data.name}: {args.per_class} random {args.split} "
                             "images per class")
    save(fig, args.output)
    return 0


def _add_samples(sub) -> None:
    p = sub.add_parser("samples", help="a grid of dataset images, a row per class (or classes mixed)",
                       description="A seeded sample of each class of a dataset, one row per class, named; or "
                                   "(--mixed N) N images of every class mixed in one grid, each named.")
    p.add_argument("source", metavar="DATASET-or-MODEL", help=DATASET_HELP + ", or a model (its dataset)")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write (PNG/PDF/SVG)")
    p.add_argument("--per-class", type=positive_int, default=8, help="images per class (default 8)")
    p.add_argument("--mixed", type=count_at_most(400, "images drawn in one figure"), metavar="N",
                   help="N images with the classes mixed (as equally many of each as N allows), each captioned")
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split (default train)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.set_defaults(func=cmd_samples)


# ---------------------------------------------------------------- curves

def cmd_curves(args) -> int:
    from ..plots.training import curves_figure  # matplotlib: heavy, loaded with the first figure

    cards, labels = [], []
    for run in args.runs:
        path = run_card_path(run)
        card = _read_card(path)
        cards.append(card)
        labels.append(run_label(card, path.name.removesuffix(".card.json")))
    print(f"{'run':<50} {'epochs':>6} {'best val acc':>12} {'last val loss':>13}")
    for card, label in zip(cards, labels):
        h = card["history"]
        best = max(h.get("val_accuracy", [float("nan")]))
        print(f"{label[:50]:<50} {len(h.get('loss', [])):>6} {best:>12.4f} "
              f"{h.get('val_loss', [float('nan')])[-1]:>13.4f}")
        for epoch, text in stage_marks(card):
            print(f"  after epoch {epoch - 0.5:g}: {text}")
    save(curves_figure([c["history"] for c in cards], labels, args.title or "", [stage_marks(c) for c in cards]),
         args.output)
    return 0


def run_card_path(run: str) -> Path:
    """The card of a run given as a shipped zoo model's name, a model file or a card."""
    if run in zoo.ARCHS and not Path(run).exists():
        return card_path(zoo.shipped_model_path(run))
    path = Path(run)
    return card_path(path) if path.suffix in (".keras", ".h5") else path


def _read_card(path: Path) -> dict:
    import json

    if not path.is_file():
        raise CnnvizError(f"no model card {path}: give the .card.json that `cnnviz train` wrote beside the model")
    try:
        card = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise CnnvizError(f"{path} is not valid JSON ({exc}): give a .card.json written by `cnnviz train`") from exc
    fix = "give a .card.json written by `cnnviz train` (or restore that one)"
    if not isinstance(card, dict):
        raise CnnvizError(f"{path} holds a JSON {type(card).__name__}, not a model card: {fix}")
    problem = _history_problem(card.get("history"))
    if problem:
        raise CnnvizError(f"{path}: {problem}: {fix}")
    try:
        run_label(card, path.name)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        raise CnnvizError(f"{path}: its stages (optimizer, learning rate) are not what `cnnviz train` writes: "
                          f"{fix}") from None
    return card


def _history_problem(history) -> str:
    """What is wrong with a card's history (metric -> numbers per epoch), or ""."""
    if not isinstance(history, dict) or not history:
        return "it has no training history (a table of metrics per epoch)"
    for name, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return f"history.{name} is not a list of numbers (one per epoch)"
    if not history.get("loss"):
        return "its history has no loss per epoch"
    return ""


def _add_curves(sub) -> None:
    p = sub.add_parser("curves", help="overlay the learning curves of several runs",
                       description="Accuracy and loss per epoch of each run (train dashed, validation solid, one "
                                   "colour per run, labelled from the cards), e.g. optimizers or BN against no BN.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="shipped zoo models (e.g. mnist_small mnist_small_bn), model cards (.card.json) or the "
                        "models beside them")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write (PNG/PDF/SVG)")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=cmd_curves)


# ---------------------------------------------------------------- features, transfer, finetune

def _classes(text):
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _refuse_overwrite(path: str, force: bool) -> None:
    if Path(path).exists() and not force:
        raise CnnvizError(f"{path} exists: pass --force to replace it or -o to write elsewhere")


def cmd_features(args) -> int:

    if not args.output.endswith(".npz"):
        raise CnnvizError(f"-o {args.output} must end in .npz")
    _refuse_overwrite(args.output, args.force)
    model = open_model(args)
    feats = dataset_features(model, args.layer, args.dataset, pool=args.pool, split=args.split,
                             classes=_classes(args.classes), limit=args.limit, seed=args.seed,
                             batch_size=args.batch_size, progress=ProgressBar())
    feats.save(args.output)
    _note_skipped(feats.skipped, args.dataset)
    per_class = np.bincount(feats.labels, minlength=len(feats.classes))
    counts = ", ".join(f"{c} {n}" for c, n in zip(feats.classes, per_class))
    untrained = f"UNTRAINED {feats.model} " if feats.weights_note else ""
    print(f"{len(feats.labels)} images x {feats.features.shape[1]} features of {untrained}{args.layer} "
          f"({'pooled' if args.pool else 'flattened'}); {counts}")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_transfer(args) -> int:
    from ..plots.training import transfer_figure  # matplotlib: heavy, loaded with the first figure

    feats = Features.load(args.features)
    test = Features.load(args.test) if args.test else None
    result = fit_transfer(feats, args.test_size, args.seed, test)
    if args.json:
        emit_json(result.to_json(), "-")
    else:
        if result.weights_note:
            print(f"UNTRAINED: {result.weights_note}")
        print(f"LogisticRegressionCV on {feats.model} {feats.layer} features (C={result.C:.3g}): "
              f"train accuracy {result.train_accuracy:.4f} ({result.n_train} images), "
              f"test accuracy {result.test_accuracy:.4f} ({result.n_test} images)")
        print("test " + confusion_text(result.confusion_test, result.classes))
    if args.output:
        from ..plots import mark_untrained

        fig = transfer_figure(result.confusion_train, result.confusion_test, result.classes, result.train_accuracy,
                              result.test_accuracy, f"logistic regression on {feats.model} {feats.layer}")
        mark_untrained(fig, not result.weights_note)
        save(fig, args.output)
    return 0


def cmd_finetune(args) -> int:
    def on_epoch(epoch, epochs, logs):
        print(f"epoch {epoch}/{epochs}: loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} "
              f"val_loss {logs['val_loss']:.4f} val_acc {logs['val_accuracy']:.4f} ({logs['time_s']:.1f} s)",
              file=sys.stderr, flush=True)

    backbone = open_model(args)
    result = finetune(backbone, args.dataset, head=args.head, layer=args.layer, pool=args.pool,
                      freeze_until=args.freeze_until, epochs_head=args.epochs_head, epochs_all=args.epochs_all,
                      lr_head=args.lr_head, lr_all=args.lr_all, batch_size=args.batch_size,
                      validation=args.validation or args.validation_split, classes=_classes(args.classes),
                      limit=args.limit, out=args.out, resume=args.resume, force=args.force, seed=args.seed,
                      progress=None if args.quiet else ProgressBar(), on_epoch=on_epoch, command=_command_line())
    _note_skipped([(f["file"], f["reason"]) for f in result.card.get("skipped_files", [])], args.dataset)
    m = result.card["metrics"]
    accuracy = m["test_accuracy"] if m["test_accuracy"] is not None else m["val_accuracy"]
    print(f"{'test' if m['test_accuracy'] is not None else 'validation'} accuracy {accuracy:.4f}")
    print(f"wrote {result.model_path}, {result.card_path}, {result.curves_path}")
    return 0


def _data_options(p) -> None:
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--classes", help="only these classes, comma-separated names or indices (e.g. 5,6,7,8,9 or cat,dog)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="a class-balanced, seeded subset of N images")
    p.add_argument("--seed", type=nonnegative_int, default=0)


def _head(text: str) -> str:
    """--head checked while the command line is read."""
    try:
        parse_head(text)
    except CnnvizError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--head {text!r}: ")) from None
    return text


def _add_transfer(sub, model_opts) -> None:
    p = sub.add_parser("features", parents=[model_opts], help="one layer's activations for every image of a dataset",
                       description="Extract a layer's activations (flattened, or averaged over positions with "
                                   "--pool) for every image of a dataset in one batched pass, with the labels, "
                                   "for `cnnviz transfer`.")
    model_positional(p)
    p.add_argument("--layer", required=True, help="the layer whose activations are the features")
    _data_options(p)
    p.add_argument("--split", choices=("train", "test"), default="test",
                   help="which split of mnist or cifar10 (default test; an image folder has one)")
    p.add_argument("--pool", action="store_true", help="global average pooling instead of flattening")
    p.add_argument("--batch-size", type=batch_size, default=256)
    p.add_argument("-o", "--output", type=data_output, required=True, help="features file to write (.npz)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("transfer", help="a logistic regression on extracted features",
                       description="Fit scikit-learn's LogisticRegressionCV on features from `cnnviz features` "
                                   "(a stratified train/test split, or --test FEATURES) and print train and test "
                                   "accuracy and the confusion matrix.")
    p.add_argument("features", help="a .npz written by `cnnviz features`")
    p.add_argument("--test-size", type=float, default=0.25, metavar="F", help="fraction held out for testing (0.25)")
    p.add_argument("--test", metavar="FEATURES", help="test on these features instead (e.g. of the test split)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-o", "--output", type=figure_output, help="also write the confusion matrices as a figure")
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("finetune", parents=[model_opts], help="a trained network with a new head for a new dataset",
                       description="Put a new head on BACKBONE (up to --layer) for the dataset's classes, train it "
                                   "with the backbone frozen (--epochs-head at --lr-head), then unfreeze the "
                                   "backbone (the layers after --freeze-until, or all) at a low learning rate "
                                   "(--epochs-all at --lr-all). Writes OUT with its card and curves.")
    model_positional(p, metavar="BACKBONE")
    _data_options(p)
    p.add_argument("--layer", help="the backbone layer the head goes on (default: below its last Dense layer)")
    p.add_argument("--head", default="dense:256", type=_head,
                   help="new layers, e.g. dense:256,dropout:0.5 (default dense:256)")
    p.add_argument("--pool", action="store_true", help="global average pooling (not flattening) under the head")
    p.add_argument("--freeze-until", metavar="LAYER", help="in the second phase keep the backbone frozen up to "
                                                            "and including LAYER (default: unfreeze all)")
    p.add_argument("--epochs-head", type=nonnegative_int, default=5)
    p.add_argument("--epochs-all", type=nonnegative_int, default=5)
    p.add_argument("--lr-head", type=positive_float, default=1e-3)
    p.add_argument("--lr-all", type=positive_float, default=1e-5)
    p.add_argument("--batch-size", type=batch_size, default=32)
    val = p.add_mutually_exclusive_group()
    val.add_argument("--validation-split", type=float, default=0.1, metavar="F")
    val.add_argument("--validation", choices=("test",), help="validate on the test set instead")
    p.add_argument("--out", type=model_output, help="model file to write (default ./BACKBONE_finetuned.keras)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_finetune)


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    aug_opts = augmentation_options()
    _add_train(sub, model_opts, aug_opts)
    _add_augment(sub, aug_opts)
    _add_samples(sub)
    _add_curves(sub)
    _add_transfer(sub, model_options(classes=False))     # their --classes picks dataset classes
