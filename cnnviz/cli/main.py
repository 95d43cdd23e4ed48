"""The ``cnnviz`` command line, assembled from one module per command family
(:mod:`.models`, :mod:`.lab`, :mod:`.inside`, :mod:`.synthesis`,
:mod:`.explain`, :mod:`.attack`, :mod:`.concepts`, :mod:`.atlas`). TensorFlow is started only by a command
that runs a model, and matplotlib is imported with a command's first figure, so
``cnnviz --help`` answers at once."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from ..common.errors import Cancelled, CnnvizError, one_line
from ..common.fileio import clean_stale_temporaries
from ..common.runtime import cache_dir, setup_devices
from . import atlas, attack, concepts, explain, inside, lab, lectures, models, synthesis
from .common import EXIT_CANCELLED, EXIT_ERROR, Parser, check_distinct_outputs, model_options

FAMILIES = (models, lab, inside, synthesis, explain, attack, concepts, atlas, lectures)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cnnviz", description="See inside convolutional networks (TensorFlow 2 / Keras 3).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = model_options()
    for family in FAMILIES:
        family.register(sub, parent)
    return parser


def _version() -> str:
    from .. import __version__  # cnnviz/__init__ imports this module: a real cycle

    return f"cnnviz {__version__}"


def _start_tensorflow(quiet: bool) -> None:
    """Import TensorFlow and set up its devices, hiding the C++ start-up log
    lines that TF prints to stderr whatever TF_CPP_MIN_LOG_LEVEL says."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if quiet else "0")   # C++ log lines; Python errors still show
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if quiet:       # TensorFlow's Python-side warnings (retracing, AutoGraph) are for its developers
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
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
    """Run one command. Every failure is one line on stderr and exit status 2
    (130 when cancelled); ``--debug`` adds the traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:          # --help and --version exit 0; a bad argument was reported in one line
        if exc.code in (0, None):
            raise
        return EXIT_ERROR
    with warnings.catch_warnings():
        _warnings_as_notes()
        try:
            check_distinct_outputs(args)
            _clean_cache()
            _start_tensorflow(quiet=not args.debug)
            return args.func(args)
        except Cancelled as exc:
            print(f"cnnviz: {exc}", file=sys.stderr)
            return EXIT_CANCELLED
        except KeyboardInterrupt:
            _traceback(args)
            resume = {"train": "; run the same command with --resume to continue from the last finished epoch",
                      "finetune": "; run the same command with --resume to continue from the last finished epoch",
                      "atlas": "; run the same command again to write the pages still missing"}.get(args.command, "")
            print(f"cnnviz: interrupted{resume}", file=sys.stderr)
            return EXIT_CANCELLED
        except CnnvizError as exc:
            _traceback(args)
            print(f"cnnviz: error: {one_line(str(exc), 1000) or type(exc).__name__}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as exc:  # a bug, not a user error: say how to see it
            _traceback(args)
            print(f"cnnviz: internal error: {type(exc).__name__}: {one_line(str(exc))}"
                  + ("" if args.debug else " (run with --debug for the traceback)"), file=sys.stderr)
            return EXIT_ERROR


def _traceback(args) -> None:
    if args.debug:
        traceback.print_exc()


def _clean_cache() -> None:
    """Remove what a killed cnnviz left half-written in its cache folder."""
    clean_stale_temporaries(cache_dir(), recursive=True)


def _warnings_as_notes() -> None:
    """Library warnings (scikit-image, NumPy, Keras) as one ``cnnviz: note:``
    line each, once; deprecation and resource notices, meant for programmers,
    not at all."""
    seen = set()

    def note(message, category, filename, lineno, file=None, line=None):
        text = one_line(str(message))
        if text and text not in seen:
            seen.add(text)
            print(f"cnnviz: note: {text}", file=sys.stderr)

    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.showwarning = note


if __name__ == "__main__":
    sys.exit(main())
