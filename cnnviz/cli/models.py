"""The ``cnnviz`` commands about whole models: the zoo, layer tables, predictions,
and evaluation on a test set (training is in :mod:`.lab`)."""
from __future__ import annotations

import sys

from ..common.errors import CnnvizError
from ..data.sources import SOURCE_HELP, load_dataset
from ..data.stream import skipped_line
from ..inside.summary import format_summary, summarize, zoo_listing
from ..lab.evaluate import evaluate
from ..lab.uncertainty import mc_dropout
from ..models.contract import OUTPUTS
from ..models.inputs import load_image
from ..models.predict import predict
from ..models.preprocessing import PREPROCESSINGS
from ..models.zoo import ARCHS, VGG16_NAMES, card_path, input_shape, load_model, model_info, write_card
from .common import (
    CARD_EPILOG,
    CLASSES_HELP,
    PREPROCESS_HELP,
    ProgressBar,
    check_engine,
    confusion_text,
    count_at_most,
    emit_json,
    engine_options,
    figure_output,
    is_image_source,
    model_leading,
    model_positional,
    nonnegative_int,
    open_model,
    positive_int,
    save,
)

GRID_FROM = 4          # more images than this: predictions as a compact grid


def cmd_models(args) -> int:
    rows = zoo_listing()
    if args.json:
        emit_json(rows, "-")
        return 0
    print(f"{'name':<15} {'dataset':<9} {'input':<14} {'parameters':>11}  {'test acc':>8}  {'deck':<20} weights")
    for r in rows:
        acc = f"{r['test_accuracy']:.2%}" if r["test_accuracy"] is not None else "-"
        shape = "x".join("?" if s is None else str(s) for s in r["input_shape"])
        print(f"{r['name']:<15} {r['dataset']:<9} {shape:<14} {r['parameters']:>11,}  {acc:>8}  "
              f"{r['deck'] or '-':<20} {r['weights']}")
    return 0


def cmd_summary(args) -> int:
    summary = summarize(open_model(args, architecture_only=True))
    if args.json:
        emit_json(summary.to_json(), "-")
    else:
        print(format_summary(summary))
    return 0


def cmd_card(args) -> int:
    """Declare a model file's contract in its sidecar card, then show the contract."""
    if args.model in ARCHS or args.model in VGG16_NAMES:
        raise CnnvizError(f"{args.model} is a zoo model, whose contract cnnviz declares: give a .keras/.h5 file "
                          "of yours")
    if args.model_classes is None and args.preprocess is None and args.output_kind is None:
        model = load_model(args.model, unsafe=args.unsafe)
    else:
        write_card(args.model, unsafe=args.unsafe, classes=args.model_classes, preprocessing=args.preprocess,
                   output=args.output_kind)
        print(f"wrote {card_path(args.model)}", file=sys.stderr)
        model = load_model(args.model, unsafe=args.unsafe)
    info = model_info(model)
    if args.json:
        emit_json({"model": info.name, "card": str(card_path(args.model)), "contract": info.contract()}, "-")
    else:
        print(f"{info.name}:")
        for line in info.describe():
            print(f"  {line}")
    return 0


def cmd_predict(args) -> int:
    import numpy as np


    model = open_model(args)
    paths, truths = _predict_sources(args.images, args.limit, args.seed or 0)
    loaded = [load_image(path, model) for path in paths]
    if args.mc_dropout is not None:
        return _predict_mc_dropout(args, model, loaded)
    if len({im.x.shape for im in loaded}) == 1:
        results = predict(model, np.stack([im.x for im in loaded]), args.top)
    else:  # a model that takes any size, given images of different sizes
        results = [predict(model, im.x[None], args.top)[0] for im in loaded]
    if args.json:
        emit_json([{"image": im.source, "notes": im.notes, **({"true": truths[i]} if truths else {}),
                    "top": [p._asdict() for p in preds]} for i, (im, preds) in enumerate(zip(loaded, results))], "-")
    else:
        for i, (im, preds) in enumerate(zip(loaded, results)):
            truth = f" (true class {truths[i]})" if truths else ""
            print(f"{im.source}:{truth}" + "".join(f"  ({n})" for n in im.notes))
            for p in preds:
                print(f"  {p.probability:7.2%}  {p.name} [{p.index}]")
        if truths:
            right = sum(preds[0].name == t for preds, t in zip(results, truths))
            print(f"top-1 agrees with the folder's class for {right} of {len(truths)} images")
    if args.output:
        from ..plots.inside import prediction_figure  # matplotlib: heavy, loaded with the first figure

        name = model_info(model).name
        if len(loaded) > GRID_FROM or truths:      # many images, or true labels: a compact grid
            from ..plots.training import image_grid_figure  # matplotlib: heavy, loaded with the first figure

            captions = [(f"true {truths[i]}\n" if truths else "") + f"{preds[0].name} {preds[0].probability:.0%}"
                        for i, preds in enumerate(results)]
            colours = ["darkgreen" if preds[0].name == t else "firebrick" for preds, t in zip(results, truths)] \
                if truths else None
            what = f"true class (folder) and top class of {len(loaded)} images" if truths \
                else f"top class of {len(loaded)} images"
            fig = image_grid_figure([im.display for im in loaded], captions, f"{name}: {what}", colours)
        else:
            fig = prediction_figure([im.display for im in loaded], results, [im.source for im in loaded], name)
        save(fig, args.output, model)
    return 0


def _predict_sources(images, limit, seed) -> tuple[list[str], list[str]]:
    """The image files to predict and, for a folder of class sub-folders,
    each file's true class (its sub-folder's name); loose files have none."""
    from pathlib import Path

    from ..data.stream import list_images

    folders = [i for i in images if Path(i).is_dir()]
    if not folders:
        if limit is not None:
            raise CnnvizError("--limit samples an image folder: give a folder DIR/<class>/*.png, or drop --limit")
        return list(images), []
    if len(images) > 1:
        raise CnnvizError(f"give one image folder ({folders[0]}) or image files, not both")
    files = list_images(folders[0], limit, seed)
    by_class = any(Path(p).parent != Path(folders[0]) for p in files.paths)
    return files.paths, [files.classes[i] for i in files.labels] if by_class else []


def _predict_mc_dropout(args, model, loaded) -> int:
    """``predict --mc-dropout N``: mean and standard deviation of each class
    probability over N passes with dropout on."""
    import numpy as np


    if len({im.x.shape for im in loaded}) != 1:
        raise CnnvizError("--mc-dropout needs images of one size: give images the model resizes alike")
    result = mc_dropout(model, np.stack([im.x for im in loaded]), args.mc_dropout, seed=args.seed)
    order = np.argsort(-result.mean, axis=-1)[:, :args.top]
    if args.json:
        emit_json([{"image": im.source, "passes": result.passes,
                    "top": [{"index": int(i), "name": result.classes[i], "mean": float(result.mean[n, i]),
                             "std": float(result.std[n, i])} for i in order[n]]}
                   for n, im in enumerate(loaded)], "-")
    else:
        for n, im in enumerate(loaded):
            print(f"{im.source}: {result.passes} MC-dropout passes" + "".join(f"  ({note})" for note in im.notes))
            for i in order[n]:
                print(f"  {result.mean[n, i]:7.2%} +- {result.std[n, i]:6.2%}  {result.classes[i]} [{i}]")
    if args.output:
        from ..plots.training import mc_dropout_figure  # matplotlib: heavy, loaded with the first figure

        save(mc_dropout_figure([im.display for im in loaded], result.mean, result.std, result.classes,
                               result.passes, [im.source for im in loaded]), args.output, model)
    return 0


def cmd_evaluate(args) -> int:
    if args.errors is not None and (args.errors < 1 or not args.output):
        raise CnnvizError("--errors K draws the K (at least 1) most confident mistakes: give -o errors.png")

    model = open_model(args)
    check_engine(args, is_image_source(args.dataset))
    result = evaluate(model, args.dataset, args.limit, progress=None if args.json else ProgressBar(), seed=args.seed,
                      engine=args.engine, workers=args.workers, address=args.address,
                      labels_by_order=args.labels_by_order)
    for note in result.notes + ([skipped_line(result.skipped, result.dataset)] if result.skipped else []):
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        emit_json(result.to_json(), "-")
    else:
        print(f"{result.dataset}: {result.n} test images, accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
        print(confusion_text(result.confusion, result.classes))
    if args.output and args.errors:
        _errors_figure(args, model, result)
    elif args.output:
        from ..plots.inside import confusion_figure  # matplotlib: heavy, loaded with the first figure

        title = f"{model_info(model).name} on {result.dataset}: accuracy {result.accuracy:.2%}"
        save(confusion_figure(result.confusion, result.classes, title), args.output, model)
    return 0


def _errors_figure(args, model, result) -> None:
    """The misclassified test images, most confident mistakes first."""
    from ..plots.training import image_grid_figure  # matplotlib: heavy, loaded with the first figure

    wrong = result.mistakes(args.errors)
    if not len(wrong):
        print(f"no misclassified images among the {result.n}: nothing to draw, {args.output} not written",
              file=sys.stderr)
        return
    data = load_dataset(args.dataset or model_info(model).dataset, input_shape(model))
    names = result.classes
    captions = [f"true {names[result.labels[i]]}\npred {names[result.predicted[i]]} {result.confidence[i]:.0%}"
                for i in wrong]
    title = (f"{model_info(model).name} on {result.dataset}: {int((result.predicted != result.labels).sum())} of "
             f"{result.n} misclassified, the {len(wrong)} most confident")
    save(image_grid_figure(list(data.x_test[wrong]), captions, title, max_cols=10), args.output, model)


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("models", help="list the model zoo and the shipped trained models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="the layer table of a model", parents=[model_opts])
    model_positional(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("card", help="declare a model file's preprocessing and class names once (its sidecar card)",
                       description="Write or update MODEL_STEM.card.json beside a .keras/.h5 file: the parts given "
                                   "are set, every other field of the card is kept; the file is replaced "
                                   "atomically. Every later command, script (cnnviz.load_model) and app session "
                                   "reads the model through it. Without options: show the model's contract and "
                                   "where each part comes from.", epilog=CARD_EPILOG)
    model_positional(p, help="a .keras/.h5 model file")
    p.add_argument("--classes", dest="model_classes", metavar="NAMES", help=CLASSES_HELP)
    p.add_argument("--preprocess", choices=PREPROCESSINGS, help=PREPROCESS_HELP)
    p.add_argument("--output-kind", choices=OUTPUTS, help="whether the model outputs probabilities or logits "
                                                          "(default: what its last layer shows)")
    p.add_argument("--unsafe", action="store_true", help="allow Lambda layers (their code runs): only for files "
                                                         "you trust")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("predict", help="classify images", parents=[model_opts])
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files, skimage:chelsea etc., or one folder DIR/<class>/*.png (its sub-folder names "
                        "are the true classes, drawn in the grid)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="a seeded class-balanced sample of N of the folder")
    model_leading(p, "images")
    p.add_argument("--top", type=positive_int, default=5, help="how many classes to show (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-o", "--output", type=figure_output,
                   help="also write a figure (PNG/PDF/SVG; a compact grid for many images)")
    p.add_argument("--mc-dropout", type=count_at_most(1_000_000, "passes; they run in batches of 256 rows"),
                   metavar="N",
                   help="N stochastic passes with dropout on (one batch): mean and std of each class probability")
    p.add_argument("--seed", type=nonnegative_int, help="random seed of the dropout passes")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix on a real test set",
                       parents=[model_opts, engine_options()])
    model_positional(p)
    p.add_argument("--dataset", help=SOURCE_HELP + ", streamed from disk; folders are matched to the model's "
                                                 "classes by name (default: the model's dataset)")
    p.add_argument("--limit", type=positive_int, help="only the first N test images (of a folder: a seeded "
                                                      "class-balanced sample of N)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of a folder's --limit sample (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-o", "--output", type=figure_output, help="also write the confusion matrix as a figure")
    p.add_argument("--labels-by-order", action="store_true",
                   help="label class folders by their sorted position, not by name (only for a model whose classes "
                        "have no names; by default a folder is matched to the class of its name or index)")
    p.add_argument("--errors", type=count_at_most(1000, "images drawn"), nargs="?", const=40, metavar="K",
                   help="draw the K (default 40) most confident mistakes instead, with true and predicted class")
    p.set_defaults(func=cmd_evaluate)
