"""What every ``cnnviz`` command shares: the progress bar, the model-loading
options, reading the named model and dataset, and writing outputs."""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..common.errors import CnnvizError

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


def emit_json(data, target: str) -> None:
    """Write JSON to stdout (target "-") or atomically to a file."""
    if target == "-":
        print(json.dumps(data, indent=2))
    else:
        from ..common.fileio import write_json

        write_json(target, data)


def open_model(args, architecture_only: bool = False):
    """The model named on the command line, with the shared loading options
    (``architecture_only``: no weights are needed, none are downloaded)."""
    from ..models.zoo import load_model

    return load_model(args.model, unsafe=args.unsafe, weights=args.weights, preprocessing=args.preprocess,
                      architecture_only=architecture_only)


def model_options() -> argparse.ArgumentParser:
    """The parent parser of every command that loads a model."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model loading")
    group.add_argument("--unsafe", action="store_true",
                       help="allow Lambda layers (their code runs): only for files you trust")
    group.add_argument("--weights", default="imagenet",
                       help="VGG16 weights: imagenet (download), a local .h5 file, or none (random)")
    from ..data.images import PREPROCESSINGS

    group.add_argument("--preprocess", choices=PREPROCESSINGS,
                       help="how pixels are scaled for a model of yours: scale01 ([0, 1]), raw ([0, 255]), or "
                            "keras.applications' caffe, tf ([-1, 1]), torch (vgg16 = caffe); default: from its "
                            "card, else its keras.applications family's, else scale01")
    return parent


def save(fig, path: str, model=None) -> None:
    """Write a figure; one made from an untrained ``model`` says so in its
    title and in the line that reports it."""
    from ..common.fileio import save_figure

    note = ""
    if model is not None:
        from ..models.zoo import model_info, weights_note
        from ..plots import mark_untrained

        mark_untrained(fig, model_info(model).trained)
        note = weights_note(model)
    save_figure(fig, path, dpi=120)
    print(f"wrote {path}" + (f" (note: {note})" if note else ""), file=sys.stderr)


def save_npz(path: str, **arrays) -> None:
    import numpy as np

    from ..common.fileio import atomic_path

    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {path}", file=sys.stderr)


def per_item_path(path: str, layer: str, many: bool) -> str:
    """``maps.png`` for one layer, ``maps_<layer>.png`` for each of several."""
    if not many:
        return path
    from pathlib import Path

    p = Path(path)
    return str(p.with_name(f"{p.stem}_{layer.replace('/', '_')}{p.suffix}"))


def dataset_images(model, name):
    """uint8 test images of a named dataset (or image folder) for the model."""
    from ..data.datasets import load_dataset
    from ..models.zoo import input_shape, model_info

    name = name or model_info(model).dataset
    if name is None or name == "imagenet":
        raise CnnvizError(f"no dataset known for {model.name}: pass --dataset mnist, cifar10 or an image folder")
    return load_dataset(name, input_shape(model), progress=ProgressBar())
