"""The ``cnnviz`` command line. Heavy modules are imported inside each command
so that ``cnnviz --help`` answers at once."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from .errors import Cancelled, CnnvizError

EXIT_ERROR, EXIT_CANCELLED = 2, 130
MODEL_HELP = "a zoo name (see `cnnviz models`) or a .keras/.h5 file"


class ProgressBar:
    """A one-line text progress bar on stderr, usable as a ``progress`` callback."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.start = time.perf_counter()
        self._last = 0.0
        self._label = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.stream.isatty():
            return  # no bar in logs and pipes
        now = time.perf_counter()
        label = message.split(" loss")[0]
        if label != self._label:
            self._label, self.start = label, now
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = f"\r{message[:50]:<50} [{bar:<{self.width}}] {100 * frac:5.1f}% {elapsed:6.1f}s eta {eta:5.0f}s"
        self.stream.write(line)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _emit_json(data, target: str) -> None:
    """Write JSON to stdout (target "-") or atomically to a file."""
    if target == "-":
        print(json.dumps(data, indent=2))
    else:
        from .fileio import write_json

        write_json(target, data)


# ---------------------------------------------------------------- commands

def _load(args):
    """The model named on the command line, with the shared loading options."""
    from .zoo import load_model

    return load_model(args.model, unsafe=args.unsafe, weights=args.weights, preprocessing=args.preprocess)


def cmd_models(args) -> int:
    from .summary import zoo_listing

    rows = zoo_listing()
    if args.json:
        _emit_json(rows, "-")
        return 0
    print(f"{'name':<15} {'dataset':<9} {'input':<14} {'parameters':>11}  {'test acc':>8}  weights")
    for r in rows:
        acc = f"{r['test_accuracy']:.2%}" if r["test_accuracy"] is not None else "-"
        shape = "x".join("?" if s is None else str(s) for s in r["input_shape"])
        print(f"{r['name']:<15} {r['dataset']:<9} {shape:<14} {r['parameters']:>11,}  {acc:>8}  {r['weights']}")
    return 0


def cmd_summary(args) -> int:
    from .summary import format_summary, summarize

    summary = summarize(_load(args))
    if args.json:
        _emit_json(summary.to_json(), "-")
    else:
        print(format_summary(summary))
    return 0


def cmd_predict(args) -> int:
    import numpy as np

    from .images import load_image
    from .predict import predict
    from .zoo import model_info

    if args.top < 1:
        raise CnnvizError("--top must be at least 1")
    model = _load(args)
    loaded = [load_image(path, model) for path in args.images]
    if len({im.x.shape for im in loaded}) == 1:
        results = predict(model, np.stack([im.x for im in loaded]), args.top)
    else:  # a model that takes any size, given images of different sizes
        results = [predict(model, im.x[None], args.top)[0] for im in loaded]
    if args.json:
        _emit_json([{"image": im.source, "notes": im.notes,
                     "top": [p._asdict() for p in preds]} for im, preds in zip(loaded, results)], "-")
    else:
        for im, preds in zip(loaded, results):
            print(f"{im.source}:" + "".join(f"  ({n})" for n in im.notes))
            for p in preds:
                print(f"  {p.probability:7.2%}  {p.name} [{p.index}]")
    if args.output:
        from .fileio import save_figure
        from .plotting import prediction_figure

        fig = prediction_figure([im.display for im in loaded], results, [im.source for im in loaded],
                                model_info(model).name)
        save_figure(fig, args.output, dpi=110)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    model = _load(args)
    result = evaluate(model, args.dataset, args.limit, progress=None if args.json else ProgressBar())
    if args.json:
        _emit_json(result.to_json(), "-")
    else:
        print(f"{result.dataset}: {result.n} test images, accuracy {result.accuracy:.4f}, loss {result.loss:.4f}")
        width = max(len(c) for c in result.classes)
        print("confusion matrix (rows: true class, columns: predicted class)")
        print(" " * (width + 1) + "".join(f"{i:>6}" for i in range(len(result.classes))))
        for i, row in enumerate(result.confusion):
            print(f"{result.classes[i]:>{width}} " + "".join(f"{v:>6}" for v in row))
    if args.output:
        from .fileio import save_figure
        from .plotting import confusion_figure

        title = f"{model.name} on {result.dataset}: accuracy {result.accuracy:.2%}"
        save_figure(confusion_figure(result.confusion, result.classes, title), args.output, dpi=110)
    return 0


def cmd_train(args) -> int:
    from .training import train

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


def _save(fig, path: str) -> None:
    from .fileio import save_figure

    save_figure(fig, path, dpi=120)
    print(f"wrote {path}", file=sys.stderr)


def _save_npz(path: str, **arrays) -> None:
    import numpy as np

    from .fileio import atomic_path

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {path}", file=sys.stderr)


def _per_layer_path(path: str, layer: str, many: bool) -> str:
    """``maps.png`` for one layer, ``maps_<layer>.png`` for each of several."""
    if not many:
        return path
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(f"{p.stem}_{layer.replace('/', '_')}{p.suffix}"))


def _dataset_images(model, name):
    """uint8 test images of a named dataset (or image folder) for the model."""
    from .data import load_dataset
    from .zoo import input_shape, model_info

    name = name or model_info(model).dataset
    if name is None or name == "imagenet":
        raise CnnvizError(f"no dataset known for {model.name}: pass --dataset mnist, cifar10 or an image folder")
    return load_dataset(name, input_shape(model), progress=ProgressBar())


def cmd_filters(args) -> int:
    from .filters import filter_weights
    from .plotting import filters_figure

    weights = filter_weights(_load(args), args.layer, args.normalize)
    print(f"{weights.layer}: kernel {weights.shape}" + (f", bias {weights.bias.shape}" if weights.bias is not None else ""))
    _save(filters_figure(weights, args.max_filters), args.output)
    if args.npz:
        _save_npz(args.npz, kernel=weights.kernel, images=weights.images)
    return 0


def cmd_activations(args) -> int:
    from .activations import activations, normalize_maps
    from .images import load_image
    from .plotting import activation_figure

    model = _load(args)
    image = load_image(args.image, model)
    for note in image.notes:
        print(f"note: {note}", file=sys.stderr)
    maps = activations(model, image.x[None], args.layer)
    shown = normalize_maps(maps, args.scope)
    for name, m in maps.items():
        print(f"{name}: {m.shape}")
        display = image.pixels[..., 0] if image.pixels.shape[-1] == 1 else image.pixels
        fig = activation_figure(shown[name][0], name, display, args.overlay, args.scope, args.max_channels)
        _save(fig, _per_layer_path(args.output, name, len(maps) > 1))
    if args.npz:
        _save_npz(args.npz, **{name.replace("/", "__"): m for name, m in maps.items()})
    return 0


def cmd_top_patches(args) -> int:
    from .plotting import top_patches_figure
    from .receptive import receptive_field
    from .top_patches import parse_channels, patch_crops, top_patches

    model = _load(args)
    data = _dataset_images(model, args.dataset)
    images = data.x_test[:args.limit]
    from .graph import get_layer, qualified_name

    layer = qualified_name(model, args.layer)
    n = int(get_layer(model, layer).output.shape[-1])
    channels = parse_channels(args.channels, n)
    result = top_patches(model, images, [layer], k=args.k, channels={layer: channels}, per=args.per,
                         stat=args.stat, progress=ProgressBar())
    top = result.layers[layer]
    crops = patch_crops(top, images)
    field = receptive_field(model, layer).size
    if args.json:
        _emit_json({"layer": layer, "dataset": data.name, "images": len(images), "k": args.k, "per": args.per,
                    "stat": args.stat, "channels": [
                        {"channel": int(c), "values": top.values[i].tolist(), "image_index": top.image_index[i].tolist(),
                         "position": top.position[i].tolist(), "box": top.boxes[i].tolist()}
                        for i, c in enumerate(top.channels)]}, "-")
    else:
        print(f"{layer}: top-{args.k} of {len(images)} {data.name} images for {len(channels)} channels"
              + (" (from cache)" if result.from_cache else ""))
    _save(top_patches_figure(crops, top.values, top.channels, layer, field), args.output)
    return 0


def cmd_erf(args) -> int:
    from .evaluate import dataset_inputs
    from .plotting import erf_figure
    from .receptive import effective_receptive_field

    model = _load(args)
    data = _dataset_images(model, args.dataset)
    erf = effective_receptive_field(model, dataset_inputs(model, data.x_test[:args.n]), args.layer)
    summary = {"layer": args.layer, "unit": list(erf.centre), "images": min(args.n, len(data.x_test)),
               "theoretical_size": list(erf.theoretical.size), "effective_size": erf.size, "mass": erf.mass}
    if args.json:
        _emit_json(summary, "-")
    else:
        print(f"{args.layer}: theoretical field {erf.theoretical.size[0]:g} px, effective field {erf.size:g} px "
              f"({erf.mass:.0%} of the gradient mass, {summary['images']} images)")
    if args.output:
        _save(erf_figure(erf, args.layer), args.output)
    return 0



def cmd_synthesize(args) -> int:
    from .plotting import synthesis_figure
    from .synthesis import synthesize_channels, synthesize_class
    from .zoo import model_info

    model = _load(args)
    options = dict(steps=args.steps, learning_rate=args.lr, jitter=args.jitter, l2=args.l2, tv=args.tv,
                   blur_every=args.blur_every, octaves=args.octaves, fourier=args.fourier)
    if (args.layer is None) == (args.classes is None):
        raise CnnvizError("give either --layer L (filter images) or --class C (class images)")
    if args.classes is not None:
        targets = [c.strip() for c in args.classes.split(",")]
        result = synthesize_class(model, targets, seed=args.seed, progress=ProgressBar(), cache=args.cache, **options)
        names = [model_info(model).classes[i] for i in result.indices]
        title = f"{model.name}: class model visualization ({result.settings.steps} steps)"
    else:
        from .graph import get_layer, qualified_name
        from .top_patches import parse_channels

        layer = qualified_name(model, args.layer)
        n = int(get_layer(model, layer).output.shape[-1])
        unit = tuple(int(v) for v in args.unit.split(",")) if args.unit else None
        result = synthesize_channels(model, layer, parse_channels(args.channels, n), unit=unit, seed=args.seed,
                                     progress=ProgressBar(), cache=args.cache, **options)
        names, title = None, ""
    rows = [{"index": int(i), "activation": float(a)} for i, a in zip(result.indices, result.activations)]
    if result.probabilities is not None:
        for row, p, name in zip(rows, result.probabilities, names):
            row.update(probability=float(p), name=name)
    if args.json:
        _emit_json({"target": result.target, "steps": result.settings.steps, "from_cache": result.from_cache,
                    "results": rows}, "-")
    else:
        if result.from_cache:
            print("(from cache)")
        for row in rows:
            extra = f"  p={row['probability']:.4f} {row['name']}" if "probability" in row else ""
            print(f"{result.target} {row['index']}: activation {row['activation']:.4f}{extra}")
    _save(synthesis_figure(result, names, title), args.output)
    if args.npz:
        _save_npz(args.npz, images=result.images, indices=result.indices, activations=result.activations,
                  history=result.history)
    return 0


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnviz", description="See inside convolutional networks (TensorFlow 2 / Keras 3).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_opts = argparse.ArgumentParser(add_help=False)
    group = model_opts.add_argument_group("model loading")
    group.add_argument("--unsafe", action="store_true",
                       help="allow Lambda layers (their code runs): only for files you trust")
    group.add_argument("--weights", default="imagenet",
                       help="VGG16 weights: imagenet (download), a local .h5 file, or none (random)")
    group.add_argument("--preprocess", choices=("scale01", "vgg16", "raw"),
                       help="how pixels are scaled for a model of yours (default: from its card, else scale01)")

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

    p = sub.add_parser("filters", help="filter weights as images", parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--layer", help="a convolution layer (default: the first)")
    p.add_argument("--normalize", choices=("filter", "layer"), default="filter",
                   help="scale each filter by its own range or all by the layer's (default filter)")
    p.add_argument("--max-filters", type=int, default=64)
    p.add_argument("-o", "--output", required=True, help="figure to write (PNG/PDF/SVG)")
    p.add_argument("--npz", help="also write the raw kernel as NPZ")
    p.set_defaults(func=cmd_filters)

    p = sub.add_parser("activations", help="activation maps of layers for an image", parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("image", help="an image file, or skimage:chelsea etc.")
    p.add_argument("--layer", action="append", help="layer to show (repeatable; default every spatial layer)")
    p.add_argument("--scope", choices=("channel", "layer", "global"), default="channel",
                   help="normalization scope of the colour scale (default channel)")
    p.add_argument("--overlay", action="store_true", help="draw the maps over the input instead of beside it")
    p.add_argument("--max-channels", type=int, default=64)
    p.add_argument("-o", "--output", required=True, help="figure to write (one per layer: NAME_LAYER.png)")
    p.add_argument("--npz", help="also write the raw maps as NPZ")
    p.set_defaults(func=cmd_activations)

    p = sub.add_parser("top-patches", help="the dataset patches that activate each channel most",
                       parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--layer", required=True)
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's); test split")
    p.add_argument("-k", type=int, default=9, help="patches per channel (default 9)")
    p.add_argument("--channels", help="e.g. 0:16, 5 or 1,4,9 (default all)")
    p.add_argument("--per", choices=("image", "unit"), default="image",
                   help="one best position per image (default) or rank every unit")
    p.add_argument("--stat", choices=("max", "mean"), default="max", help="rank images by max or mean over space")
    p.add_argument("--limit", type=int, help="only the first N images")
    p.add_argument("-o", "--output", required=True, help="figure to write")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_top_patches)

    p = sub.add_parser("erf", help="effective receptive field of a layer by gradients", parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--layer", required=True)
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's)")
    p.add_argument("--n", type=int, default=64, help="images to average over (default 64)")
    p.add_argument("-o", "--output", help="figure to write")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_erf)

    p = sub.add_parser("synthesize", help="images that maximize channels or classes (activation maximization)",
                       parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    target = p.add_argument_group("what to maximize (one of)")
    target.add_argument("--layer", help="maximize this layer's channels")
    target.add_argument("--class", dest="classes", metavar="C",
                        help="maximize class scores: indices or names, comma-separated (e.g. 3 or cat,dog)")
    p.add_argument("--channels", help="channels of --layer, e.g. 0:16, 5 or 1,4,9 (default all)")
    p.add_argument("--unit", help="maximize one unit ROW,COL of each channel instead of the mean")
    p.add_argument("--steps", type=int, help="gradient steps (default: 256 for lecture models, 128 for VGG16)")
    p.add_argument("--lr", type=float, help="learning rate (Adam, on [0, 1] pixels)")
    p.add_argument("--jitter", type=int, help="random shift in pixels per step")
    p.add_argument("--l2", type=float, help="L2 decay weight")
    p.add_argument("--tv", type=float, help="total-variation weight")
    p.add_argument("--blur-every", type=int, help="blur every N steps (0: never)")
    p.add_argument("--octaves", type=int, help="coarse-to-fine stages")
    p.add_argument("--fourier", action=argparse.BooleanOptionalAction, default=None,
                   help="decorrelated Fourier-space parameterization (default on for large inputs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                   help="keep results on disk and reuse them (default on)")
    p.add_argument("-o", "--output", required=True, help="figure to write")
    p.add_argument("--npz", help="also write the images and values as NPZ")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_synthesize)

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

    from . import cli_attack, cli_explain

    cli_explain.register(sub, model_opts)
    cli_attack.register(sub, model_opts)
    return parser


def _version() -> str:
    from . import __version__

    return f"cnnviz {__version__}"


def _start_tensorflow(quiet: bool) -> None:
    """Import TensorFlow and set up its devices, hiding the C++ start-up log
    lines that TF prints to stderr whatever TF_CPP_MIN_LOG_LEVEL says."""
    from .runtime import setup_devices

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if quiet else "0")   # C++ log lines; Python errors still show
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if not quiet or fd is None:
        setup_devices()
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        setup_devices()
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _start_tensorflow(quiet=not args.debug)
        return args.func(args)
    except Cancelled as exc:
        print(f"cnnviz: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("cnnviz: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except CnnvizError as exc:
        if args.debug:
            raise
        print(f"cnnviz: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug, not a user error: say how to see it
        if args.debug:
            raise
        print(f"cnnviz: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
