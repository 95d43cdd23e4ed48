"""What every ``cnnviz`` command shares: the progress bar, the model-loading
options, the checks of argument values and output paths (made while the
command line is read, so a bad value stops the command before any work),
reading the named model and dataset, and writing outputs."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ..common.errors import CnnvizError
from ..common.fileio import save_figure, write_json, write_npz
from ..data.sources import image_folder_dataset, is_file_source, load_dataset
from ..data.stream import skipped_line
from ..models.inputs import check_dataset_fits, stream_size
from ..models.preprocessing import PREPROCESSINGS
from ..models.zoo import input_shape, load_model, model_info, weights_note

EXIT_ERROR, EXIT_CANCELLED = 2, 130
MODEL_HELP = "a zoo name (see `cnnviz models`) or a .keras/.h5 file"
MODEL_FORMS = ("Every command names its model the same way: first (cnnviz COMMAND MODEL ...) or with --model MODEL "
               "(-m) anywhere; figures, titles and file names use the model's name (its card's, else its file name).")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other cnnviz
    error, and exit with status 2."""

    def error(self, message):
        message = re.sub(r"^argument (?:\S+/)?(\S+): (must|is|needs) ", r"\1 \2 ", message)
        message = re.sub(r"^argument (?:\S+/)?(\S+): ", r"\1: ", message)
        if "expected one argument" in message:
            message += " (a value that starts with '-' goes after '=', e.g. --channels=-3:2)"
        self.exit(EXIT_ERROR, f"cnnviz: error: {message} (see `{self.prog} --help`)\n")


# ---------------------------------------------------------------- argument values (argparse type=)

def _number(text: str, kind):
    try:
        value = kind(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a {'whole number' if kind is int else 'number'} (got {text!r})")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (counts, sizes, steps)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def count_at_most(maximum: int, what: str = "it sizes the memory and time of the run"):
    """An argparse type: a whole number from 1 to ``maximum``."""
    def count(text: str) -> int:
        value = positive_int(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,} (got {value:,}; {what})")
        return value

    count.__name__ = "count"
    return count


MAX_BATCH_SIZE = 4096
batch_size = count_at_most(MAX_BATCH_SIZE, "images per model call")


def nonnegative_int(text: str) -> int:
    """A whole number of at least 0 (seeds, "every N steps, 0 for never")."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (learning rates, step sizes)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (got {value:g})")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number of at least 0 (regularization weights, margins)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value:g})")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (opacities)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (got {value:g})")
    return value


def row_col(text: str) -> tuple[int, int]:
    """``ROW,COL``: a unit's position in a layer's map (checked against the layer once the model is loaded)."""
    parts = str(text).split(",")
    try:
        row, col = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be two whole numbers ROW,COL such as 3,4 (got {text!r})") from None
    if row < 0 or col < 0:
        raise argparse.ArgumentTypeError(f"must be a position ROW,COL counted from 0 (got {text!r})")
    return row, col


def channel_list(text: str) -> str:
    """``START:STOP``, ``N`` or ``A,B,C`` with channels counted from 0 (checked
    against the layer once the model is loaded)."""
    numbers = [p for p in re.split(r"[:,]", str(text)) if p.strip()]
    if not re.fullmatch(r"\s*-?\d*\s*:\s*-?\d*\s*|\s*-?\d+\s*(,\s*-?\d+\s*)*", str(text)) or not numbers:
        raise argparse.ArgumentTypeError(f"must be START:STOP, a number, or numbers separated by commas, "
                                         f"e.g. 0:16, 5 or 1,4,9 (got {text!r})")
    if any(int(p) < 0 for p in numbers):
        raise argparse.ArgumentTypeError(f"must count channels from 0: {text!r} has a negative number")
    return str(text).strip()


# ---------------------------------------------------------------- output paths (argparse type=)

def _check_output(text: str, suffixes=None) -> str:
    """``text`` if a file can be written there, else a one-line reason."""
    path = Path(text)
    if not text or path.is_dir() or text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text or repr(text)} is a folder, not a file: "
                                         f"give a file name in it, e.g. {path / 'out'}{(suffixes or ('',))[0]}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        found = f"unknown format {path.suffix!r}" if path.suffix else "no format suffix"
        raise argparse.ArgumentTypeError(f"{text}: {found}: end the name with one of {', '.join(suffixes)}")
    parent = path.parent
    if not parent.exists():
        raise argparse.ArgumentTypeError(f"{text}: folder {parent} does not exist: fix the path or create it "
                                         f"first (mkdir -p {parent})")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=parent).close()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot write in folder {parent} ({exc.strerror or exc}): "
                                         "write somewhere else") from None
    return text


def figure_output(text: str) -> str:
    """A figure file to write: a format matplotlib writes, in a writable folder that exists."""
    return _check_output(text, FIGURE_SUFFIXES)


def data_output(text: str) -> str:
    """An NPZ or JSON file to write (any name), in a writable folder that exists."""
    return _check_output(text)


def model_output(text: str) -> str:
    """A Keras model file to write (.keras or .h5), in a writable folder that exists."""
    return _check_output(text, (".keras", ".h5"))


def json_output(text: str) -> str:
    """A JSON file to write, or ``-`` for standard output."""
    return text if text == "-" else _check_output(text)


OUTPUT_ARGS = ("output", "npz", "json", "save_adversarial", "out", "maps")


def check_distinct_outputs(args) -> None:
    """Refuse one file named for two outputs of a command (the second would replace the first)."""
    seen = {}
    for name in OUTPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value != "-":
            key = os.path.realpath(value)
            if key in seen:
                raise CnnvizError(f"--{seen[key]} and --{name.replace('_', '-')} both name {value}: "
                                  "give each output its own file")
            seen[key] = name.replace("_", "-")


# ---------------------------------------------------------------- naming the model

def model_positional(p, many: bool = False, metavar: str = "MODEL", help: str = MODEL_HELP) -> None:
    """MODEL as the command's first argument, or as ``--model`` (``-m``)."""
    p.add_argument("model", nargs="*" if many else "?", metavar=metavar, help=f"{help} (or --model {metavar})")
    p.add_argument("--model", "-m", dest="model_flag", action="append" if many else "store", metavar=metavar,
                   help=f"the same as {metavar} first" + (" (repeatable)" if many else ""))
    p.set_defaults(model_form="positional", model_many=many)


def model_leading(p, images: str, default=None, help: str = MODEL_HELP) -> None:
    """``--model`` (``-m``), or the first of the positional ``images`` when it
    names a model (a zoo name or a .keras/.h5 file): ``cnnviz predict MODEL IMAGE``."""
    p.add_argument("--model", "-m", default=None, metavar="MODEL",
                   help=f"{help}; may also come first, before the images"
                   + (f" (default {default})" if default else ""))
    p.set_defaults(model_form="leading", model_images=images, model_default=default)


def names_a_model(text: str) -> bool:
    from ..models.zoo import ZOO_NAMES

    return text in ZOO_NAMES or Path(text).suffix.lower() in MODEL_SUFFIXES


def resolve_model_argument(args) -> None:
    """Set ``args.model`` from whichever form the command line used (see
    :data:`MODEL_FORMS`), or refuse with the forms it takes."""
    form, command = getattr(args, "model_form", None), getattr(args, "command", "COMMAND")
    usage = f"give the model first (cnnviz {command} MODEL ...) or as --model MODEL"
    if form == "positional":
        given, flag = args.model, args.model_flag
        if args.model_many:
            args.model = [*(given or []), *(flag or [])]
        elif given and flag and given != flag:
            raise CnnvizError(f"two models given, {given} and --model {flag}: {usage}, once")
        else:
            args.model = given or flag
        if not args.model:
            raise CnnvizError(f"no model given: {usage}")
    elif form == "leading":
        images = getattr(args, args.model_images)
        if args.model is None and images and names_a_model(images[0]) and len(images) > 1:
            args.model = images.pop(0)
        args.model = args.model or args.model_default
        if args.model is None:
            raise CnnvizError(f"no model given: give --model MODEL, or the model first (cnnviz {command} MODEL "
                              f"{args.model_images.upper()})")
        if not images:
            raise CnnvizError(f"no image given: cnnviz {command} MODEL IMAGE (or --model MODEL IMAGE)")
        if args.model_images == "image":                     # a command of one image
            if len(images) != 1:
                raise CnnvizError(f"{command} takes one image, got {len(images)}: {' '.join(images)}")
            args.image = images[0]


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


def emit_json(data, target: str) -> None:
    """Write JSON to stdout (target "-") or atomically to a file."""
    if target == "-":
        print(json.dumps(data, indent=2))
    else:
        write_json(target, data)


def open_model(args, architecture_only: bool = False):
    """The model named on the command line, with the shared loading options
    (``architecture_only``: no weights are needed, none are downloaded)."""
    model = load_model(args.model, unsafe=args.unsafe, weights=args.weights, preprocess=args.preprocess,
                       classes=getattr(args, "model_classes", None), architecture_only=architecture_only)
    if model_info(model).weights_loaded and weights_note(model):     # every output of an untrained model says so
        print(f"cnnviz: note: UNTRAINED: {weights_note(model)}", file=sys.stderr)
    return model


PREPROCESS_HELP = ("how 0-255 pixels become the model's input: scale01 (/255, [0, 1]), raw ([0, 255]: the model "
                   "scales inside), or keras.applications' caffe, tf ([-1, 1]), torch (vgg16 = caffe); default: "
                   "the model card's, else what its layers show (a Rescaling/Normalization layer at the input: raw; "
                   "a keras.applications family's own), else scale01")
CLASSES_HELP = ("the names of the model's outputs, in output order: a,b,c or a text file with one name a line; "
                "default: the model card's, else numbered")
CARD_EPILOG = ("A model file's contract (preprocessing, class names, output kind) is read from its sidecar card "
               "MODEL_STEM.card.json when there is one: declare it once with `cnnviz card MODEL --classes ... "
               "--preprocess ...`; --preprocess and --classes override it for one command. `cnnviz summary MODEL` "
               "says where each part came from.")


def model_options(classes: bool = True) -> argparse.ArgumentParser:
    """The parent parser of every command that loads a model (``classes``:
    with ``--classes`` naming the model's outputs; commands whose
    ``--classes`` picks dataset classes go without)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model loading", f"{MODEL_FORMS} {CARD_EPILOG}")
    group.add_argument("--unsafe", action="store_true",
                       help="allow Lambda layers (their code runs): only for files you trust")
    group.add_argument("--weights", default="imagenet",
                       help="VGG16 weights: imagenet (download), a local .h5 file, or none (random)")

    group.add_argument("--preprocess", choices=PREPROCESSINGS, help=PREPROCESS_HELP)
    if classes:
        group.add_argument("--classes", dest="model_classes", metavar="NAMES", help=CLASSES_HELP)
    return parent


def confusion_text(confusion, classes) -> str:
    """A confusion matrix as text with class names on both axes (column
    heads cut to the column width)."""
    width = max(len(c) for c in classes)
    col = max(6, min(10, width) + 1, len(str(int(confusion.max()))) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             " " * (width + 1) + "".join(f"{c[:col - 1]:>{col}}" for c in classes)]
    lines += [f"{name:>{width}} " + "".join(f"{v:>{col}}" for v in row) for name, row in zip(classes, confusion)]
    return "\n".join(lines)


def save(fig, path: str, model=None) -> None:
    """Write a figure; one made from an untrained ``model`` says so in its
    title and in the line that reports it."""
    note = ""
    if model is not None:
        from ..plots import mark_untrained  # matplotlib: heavy, loaded with the first figure

        mark_untrained(fig, model_info(model).trained)
        note = weights_note(model)
    save_figure(fig, path, dpi=120)
    print(f"wrote {path}" + (f" (note: {note})" if note else ""), file=sys.stderr)


def save_npz(path: str, **arrays) -> None:
    write_npz(path, compressed=True, **arrays)
    print(f"wrote {path}", file=sys.stderr)


def per_item_paths(path: str, keys) -> list[str]:
    """One distinct output file per item: ``path`` itself for a single item,
    else ``<stem>_<key><suffix>`` for each (``maps_conv1.png``), numbered
    ``_2``, ``_3``... where two items would get the same name (``a/img.png``
    and ``b/img.png``), so no output replaces another."""
    keys = list(keys)
    if len(keys) == 1:
        return [path]
    p = Path(path)
    taken, paths = set(), []
    for key in keys:
        base = f"{p.stem}_{re.sub(r'[^A-Za-z0-9_.+-]+', '_', str(key)).strip('_') or 'item'}"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        paths.append(str(p.with_name(name + p.suffix)))
    return paths


def dataset_images(model, name, scored: bool = False, limit=None):
    """uint8 test images of a named dataset or a file source (a folder with
    or without class sub-folders, a glob, a labels file; ``limit``: a seeded
    class-balanced sample of that many files) for the model; ``scored``: the
    command measures the model on them, so a named dataset must be the one it
    was trained on. Skipped files are named on stderr."""
    name = name or model_info(model).dataset
    if name is None or name == "imagenet":
        raise CnnvizError(f"no dataset known for {model_info(model).name}: pass --dataset mnist, cifar10 or an "
                          "image folder")
    if scored:
        check_dataset_fits(model, name)
    if is_file_source(name):
        h, w, c = stream_size(model)
        data = image_folder_dataset(name, (h, w), c, progress=ProgressBar(), limit=limit)
        if data.skipped:
            print(f"cnnviz: note: {skipped_line(data.skipped, data.name)}", file=sys.stderr)
        return data
    return load_dataset(name, input_shape(model), progress=ProgressBar())


def engine_options() -> argparse.ArgumentParser:
    """The parent parser of the commands that run over a whole image folder:
    which engine streams it (tf.data here, or Ray Data) and the sample taken."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("dataset jobs (image folders)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: tf.data on this machine (default); ray: Ray Data, on a local Ray instance or "
                            "the cluster at --address (pip install \"cnnviz[ray]\")")
    group.add_argument("--address", help="a running Ray cluster's head, host:port (default: start Ray here)")
    group.add_argument("--workers", type=positive_int, help="Ray model actors (default: one per GPU, else 1)")
    return parent


def is_image_source(name) -> bool:
    """Whether a --dataset value names image files (a folder, a glob, a labels file) rather than a named dataset."""
    return is_file_source(name)


def check_engine(args, streams: bool) -> None:
    """Refuse --engine ray / --address for data that does not stream from files."""
    if not streams and (args.engine != "local" or args.address):
        raise CnnvizError("--engine ray and --address run over image files: give an image folder or a glob such "
                          "as 'photos/*.jpg' (--dataset DIR; explain: DIR --out-dir OUT)")
