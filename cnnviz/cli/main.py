"""The ``cnnviz`` command line, assembled from one module per command family
(:mod:`.models`, :mod:`.lab`, :mod:`.inside`, :mod:`.synthesis`, :mod:`.explain`,
:mod:`.attack`). Heavy modules are imported inside each command so that
``cnnviz --help`` answers at once."""
from __future__ import annotations

import argparse
import os
import sys

from ..common.errors import Cancelled, CnnvizError
from . import attack, explain, inside, lab, models, synthesis
from .common import EXIT_CANCELLED, EXIT_ERROR, model_options

FAMILIES = (models, lab, inside, synthesis, explain, attack)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnviz", description="See inside convolutional networks (TensorFlow 2 / Keras 3).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = model_options()
    for family in FAMILIES:
        family.register(sub, parent)
    return parser


def _version() -> str:
    from .. import __version__

    return f"cnnviz {__version__}"


def _start_tensorflow(quiet: bool) -> None:
    """Import TensorFlow and set up its devices, hiding the C++ start-up log
    lines that TF prints to stderr whatever TF_CPP_MIN_LOG_LEVEL says."""
    from ..common.runtime import setup_devices

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
