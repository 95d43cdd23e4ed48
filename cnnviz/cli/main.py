"""The ``cnnviz`` command line, assembled from one module per command family
(:mod:`.models`, :mod:`.lab`, :mod:`.inside`, :mod:`.synthesis`,
:mod:`.structure`, :mod:`.explain`, :mod:`.attack`, :mod:`.concepts`, :mod:`.atlas`). TensorFlow is
started only by a command that runs a model, and matplotlib is imported with a command's first figure, so
``cnnviz --help`` answers at once."""
from __future__ import annotations

import argparse
import sys
import traceback
import warnings

from ..common.errors import Cancelled, CnnvizError, one_line
from ..common.fileio import clean_stale_temporaries
from ..common.runtime import cache_dir, start_tensorflow, warnings_as_notes
from . import atlas, attack, concepts, explain, inside, lab, lectures, models, structure, supervise, synthesis
from .common import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    MODEL_FORMS,
    Parser,
    check_distinct_outputs,
    model_options,
    resolve_model_argument,
)

FAMILIES = (models, lab, inside, structure, synthesis, explain, attack, concepts, atlas, lectures)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cnnviz", description="See inside convolutional networks (TensorFlow 2 / Keras 3).",
        epilog=f"{MODEL_FORMS} A model file's preprocessing and class names are declared once in its sidecar card "
               "MODEL_STEM.card.json (`cnnviz card MODEL --classes ... --preprocess ...`).")
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


def main(argv=None) -> int:
    """Run one command. Every failure is one line on stderr and exit status 2
    (130 when cancelled); ``--debug`` adds the traceback. From the command
    line (``argv`` None) the training commands run in a supervised child
    process (:mod:`.supervise`); ``main([...])`` runs every command here."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:          # --help and --version exit 0; a bad argument was reported in one line
        if exc.code in (0, None):
            raise
        return EXIT_ERROR
    if argv is None and supervise.supervised(args.command):   # the command line's training: see supervise.py
        return supervise.run_child(sys.argv[1:], args.command, EXIT_ERROR)
    supervise.record_faults()
    with warnings.catch_warnings():
        _warnings_as_notes()
        try:
            resolve_model_argument(args)
            check_distinct_outputs(args)
            _clean_cache()
            start_tensorflow(quiet=not args.debug)
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
    """Library warnings as one ``cnnviz: note:`` line each (see :func:`warnings_as_notes`)."""
    warnings_as_notes(lambda text: print(f"cnnviz: note: {text}", file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
