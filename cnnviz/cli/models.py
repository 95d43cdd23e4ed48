"""The ``cnnviz`` commands about whole models: the zoo, layer tables, predictions,
evaluation on a test set, and training."""
from __future__ import annotations

import argparse
import shlex
import sys

from ..common.errors import CnnvizError
from .common import MODEL_HELP, ProgressBar, emit_json, open_model


def cmd_models(args) -> int:
    from ..inside.summary import zoo_listing

    rows = zoo_listing()
    if args.json:
        emit_json(rows, "-")
        return 0
    print(f"{'name':<15} {'dataset':<9} {'input':<14} {'parameters':>11}  {'test acc':>8}  weights")
    for r in rows:
        acc = f"{r['test_accuracy']:.2%}" if r["test_accuracy"] is not None else "-"
        shape = "x".join("?" if s is None else str(s) for s in r["input_shape"])
        print(f"{r['name']:<15} {r['dataset']:<9} {shape:<14} {r['parameters']:>11,}  {acc:>8}  {r['weights']}")
    return 0


def cmd_summary(args) -> int:
    from ..inside.summary import format_summary, summarize

    summary = summarize(open_model(args, architecture_only=True))
    if args.json:
        emit_json(summary.to_json(), "-")
    else:
        print(format_summary(summary))
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from ..data.images import load_image
    from ..models.predict import predict
    from ..models.zoo import model_info

    if args.top < 1:
        raise CnnvizError("--top must be at least 1")
    model = open_model(args)
    loaded = [load_image(path, model) for path in args.images]
    if len({im.x.shape for im in loaded}) == 1:
        results = predict(model, np.stack([im.x for im in loaded]), args.top)
    else:  # a model that takes any size, given images of different sizes
        results = [predict(model, im.x[None], args.top)[0] for im in loaded]
    if args.json:
        emit_json([{"image": im.source, "notes": im.notes,
                     "top": [p._asdict() for p in preds]} for im, preds in zip(loaded, results)], "-")
    else:
        for im, preds in zip(loaded, results):
            print(f"{im.source}:" + "".join(f"  ({n})" for n in im.notes))
            for p in preds:
                print(f"  {p.probability:7.2%}  {p.name} [{p.index}]")
    if args.output:
        from ..common.fileio import save_figure
        from ..plots.inside import prediction_figure

        fig = prediction_figure([im.display for im in loaded], results, [im.source for im in loaded],
                                model_info(model).name)
        save_figure(fig, args.output, dpi=110)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from ..models.evaluate import evaluate

    model = open_model(args)
    result = evaluate(model, args.dataset, args.limit, progress=None if args.json else ProgressBar())
    if args.json:
        emit_json(result.to_json(), "-")
    else:
        print(f"{result.dataset}: {result.n} test images, accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
        width = max(len(c) for c in result.classes)
        print("confusion matrix (rows: true class, columns: predicted class)")
        print(" " * (width + 1) + "".join(f"{i:>6}" for i in range(len(result.classes))))
        for i, row in enumerate(result.confusion):
            print(f"{result.classes[i]:>{width}} " + "".join(f"{v:>6}" for v in row))
    if args.output:
        from ..common.fileio import save_figure
        from ..plots.inside import confusion_figure

        title = f"{model.name} on {result.dataset}: accuracy {result.accuracy:.2%}"
        save_figure(confusion_figure(result.confusion, result.classes, title), args.output, dpi=110)
    return 0


def cmd_train(args) -> int:
    from ..models.training import train

    def on_epoch(epoch, epochs, logs):
        print(f"epoch {epoch}/{epochs}: loss {logs['loss']:.4f} acc {logs['accuracy']:.4f} "
              f"val_loss {logs['val_loss']:.4f} val_acc {logs['val_accuracy']:.4f} ({logs['time_s']:.1f} s)",
              file=sys.stderr, flush=True)

    command = "cnnviz " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train(args.arch, epochs=args.epochs, batch_size=args.batch_size, augment=args.augment,
                   standardize=args.standardize, reduce_lr=args.reduce_lr, out=args.out, resume=args.resume, force=args.force,
                   fine_tune=args.fine_tune, learning_rate=args.lr, seed=args.seed, progress=None if args.quiet else ProgressBar(), on_epoch=on_epoch,
                   command=command)
    m = result.card["metrics"]
    print(f"test accuracy {m['test_accuracy']:.4f}, test loss {m['test_loss']:.4f}")
    print(f"wrote {result.model_path}, {result.card_path}, {result.curves_path}")
    return 0


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("models", help="list the model zoo and the shipped trained models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="the layer table of a model", parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("predict", help="classify images", parents=[model_opts])
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or skimage:chelsea etc.")
    p.add_argument("--model", "-m", required=True, help=MODEL_HELP)
    p.add_argument("--top", type=int, default=5, help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-o", "--output", help="also write a figure (PNG/PDF/SVG)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix on a real test set",
                       parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder DIR/<class>/*.jpg (default: the model's)")
    p.add_argument("--limit", type=int, help="only the first N test images")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-o", "--output", help="also write the confusion matrix as a figure")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a lecture CNN on its dataset",
                       description="Train a zoo architecture with the lecture recipe (Adam, batch 128, "
                                   "10%% validation). Writes OUT, its .card.json and .curves.png.")
    p.add_argument("arch", help="architecture: mnist_small, mnist_small_bn, mnist_cnn, lenet, cifar10_cnn")
    p.add_argument("--epochs", type=int, help="epochs (default: the architecture's recipe)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random rotations, shifts (and flips for CIFAR-10); default on for cifar10_cnn")
    p.add_argument("--standardize", action="store_true", help="per-pixel standardization (a layer in the model)")
    p.add_argument("--reduce-lr", action="store_true",
                   help="halve the learning rate when the validation loss stalls for 3 epochs")
    p.add_argument("--out", help="model file to write (default ./ARCH.keras)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--fine-tune", metavar="MODEL", help="continue training this trained .keras file of ARCH "
                                                        "for --epochs more epochs (its card's history carries over)")
    p.add_argument("--lr", type=float, help="Adam's learning rate (default 1e-3)")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
