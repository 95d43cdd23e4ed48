"""The ``cnnviz concepts`` commands: TCAV (does a layer use a concept a
person names, for a class) and CRAFT (which concepts the model found by
itself for a class, shown as crops)."""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from ..common.errors import CnnvizError
from ..concepts import concept_maps, craft, tcav
from ..data.images import SAMPLE_PREFIX
from ..models.inputs import load_image
from .common import (
    ProgressBar,
    check_engine,
    data_output,
    emit_json,
    engine_options,
    figure_output,
    fraction,
    is_image_source,
    json_output,
    model_positional,
    nonnegative_int,
    open_model,
    positive_int,
    save,
    save_npz,
)


def concept_spec(text: str) -> tuple[str, str]:
    """``NAME=DIR``: a concept's name and its images (a folder, a glob or a file)."""
    name, sep, source = str(text).partition("=")
    if not sep or not name.strip() or not source.strip():
        raise argparse.ArgumentTypeError(f"must be NAME=DIR, e.g. striped=photos/striped (got {text!r})")
    _check_source(source.strip())
    return name.strip(), source.strip()


def image_source(text: str) -> str:
    """An image folder, a glob or an image file that exists."""
    _check_source(text)
    return text


def image_file(text: str) -> str:
    """An image file that exists, or one of scikit-image's samples (``skimage:NAME``)."""
    if not text.startswith(SAMPLE_PREFIX) and not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file: give an image file or skimage:chelsea")
    return text


def _check_source(text: str) -> None:
    if glob.has_magic(text):
        if not glob.glob(text, recursive=True):
            raise argparse.ArgumentTypeError(f"no file matches {text} (quote the pattern so the shell leaves it)")
    elif not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist: give an image folder, a glob or image files")


def _note_skipped(sets: list[dict]) -> None:
    for entry in sets:
        for item in entry["skipped"]:
            print(f"cnnviz: note: skipped {item['file']} ({entry['name']}): {item['reason']}", file=sys.stderr)


def cmd_tcav(args) -> int:
    from ..plots.concepts import tcav_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    concepts = dict(args.concept)
    if len(concepts) != len(args.concept):
        raise CnnvizError("two --concept options have the same name: give each concept its own name")
    streams = is_image_source(args.dataset)      # a class folder streams from disk; a named dataset is in memory
    check_engine(args, streams)
    result = tcav(model, args.dataset, args.target, args.layer, concepts, args.random, runs=args.runs,
                  classifier=args.classifier, test_fraction=args.test_fraction, alpha=args.alpha, limit=args.limit,
                  seed=args.seed, batch_size=args.batch_size, engine=args.engine if streams else None,
                  workers=args.workers, address=args.address, progress=ProgressBar())
    _note_skipped(result.sets)
    if args.json:
        emit_json(result.to_json(), args.json)
    if args.json != "-":
        print(result.table())
    if args.output:
        save(tcav_figure(result), args.output, model)
    if args.npz:
        save_npz(args.npz, **{f"{layer.replace('/', '__')}": cavs for layer, cavs in result.cavs.items()})
    return 0


def cmd_craft(args) -> int:
    from ..plots.concepts import concept_maps_figure, craft_figure  # matplotlib: heavy, loaded with the first figure

    if bool(args.image) != bool(args.maps):
        raise CnnvizError("--image and --maps go together: --image IMAGE --maps FIGURE.png")
    streams = is_image_source(args.dataset)      # a class folder streams from disk; a named dataset is in memory
    check_engine(args, streams)
    model = open_model(args)
    result = craft(model, args.dataset, args.target, args.layer, k=args.k, patch=args.patch, designs=args.designs,
                   limit=args.limit, seed=args.seed, batch_size=args.batch_size, cache=not args.no_cache,
                   engine=args.engine if streams else None, workers=args.workers, address=args.address,
                   progress=ProgressBar())
    _note_skipped(result.sets)
    if result.cache_note:
        print(f"cnnviz: note: {result.cache_note}", file=sys.stderr)
    if args.json:
        emit_json(result.to_json(), args.json)
    if args.json != "-":
        print(result.table() + (" (from cache)" if result.from_cache else ""))
    if args.output:
        save(craft_figure(result, args.crops), args.output, model)
    if args.image:
        image = load_image(args.image, model)
        maps = concept_maps(model, result, image.x[None])[0]
        save(concept_maps_figure(image.pixels, maps, result.importances, f"where the concepts of class "
                                 f"{result.target_name} are in {Path(args.image).name}"), args.maps, model)
    return 0


def register(sub, model_opts) -> None:
    """Add ``cnnviz concepts tcav`` and ``cnnviz concepts craft`` to the ``cnnviz`` parser."""
    family = sub.add_parser("concepts", help="concepts a layer uses for a class: TCAV (named concepts) and CRAFT "
                                             "(concepts the model found)")
    commands = family.add_subparsers(dest="concepts_command", metavar="METHOD", required=True)

    p = commands.add_parser("tcav", parents=[model_opts, engine_options()],
                            help="TCAV (Kim et al. 2018): how much a class's score rises along each named concept, "
                                 "tested against random concepts")
    model_positional(p)
    p.add_argument("--layer", action="append", required=True, help="layer to test at (repeatable; all layers share "
                                                                   "one forward pass)")
    p.add_argument("--concept", action="append", type=concept_spec, required=True, metavar="NAME=DIR",
                   help="a concept's name and its example images (folder, glob or file; repeatable)")
    p.add_argument("--random", type=image_source, help="random counterexample images, drawn into two random sets per "
                                                       "run (default: a sample of the dataset)")
    p.add_argument("--target", required=True, help="the class tested (index or name)")
    p.add_argument("--dataset", help="the class's images: mnist, cifar10 (test split), or an image folder (one "
                                     "sub-folder per class, or a folder of that class's images) streamed from disk "
                                     "(default: the model's dataset)")
    p.add_argument("--runs", type=positive_int, default=10, help="random runs of the significance test (default 10)")
    p.add_argument("--classifier", choices=("sgd", "logistic"), default="sgd",
                   help="linear classifier of the CAVs: sgd (the paper's linear SVM, default) or logistic")
    p.add_argument("--test-fraction", type=fraction, default=0.2, help="held-out share of each CAV's images "
                                                                        "(default 0.2)")
    p.add_argument("--alpha", type=fraction, default=0.05, help="significance level of the t-test (default 0.05)")
    p.add_argument("--limit", type=positive_int, help="a seeded sample of at most N images per set")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random sets and splits (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per model call (default 64)")
    p.add_argument("-o", "--output", type=figure_output, help="figure: TCAV bars per layer and concept")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write scores, CAV accuracies, p-values and the sets read as JSON (no FILE or -: print it)")
    p.add_argument("--npz", type=data_output, help="also write the CAVs, (concepts, runs, *layer shape) per layer")
    p.set_defaults(func=cmd_tcav)

    p = commands.add_parser("craft", parents=[model_opts, engine_options()],
                            help="CRAFT (Fel et al. 2023): a class's concepts found by factorizing a layer's "
                                 "activations of image crops, ranked by Sobol importance")
    model_positional(p)
    p.add_argument("--target", required=True, help="the class explained (index or name)")
    p.add_argument("--dataset", help="the class's images: mnist, cifar10 (test split), or an image folder (one "
                                     "sub-folder per class, or a folder of that class's images) streamed from disk "
                                     "(default: the model's dataset)")
    p.add_argument("--layer", help="layer to factorize, with non-negative activations (default: the last spatial one)")
    p.add_argument("-k", type=positive_int, default=10, help="concepts to find (default 10)")
    p.add_argument("--patch", type=positive_int, help="crop side in pixels (default 2/7 of the input, 64 at 224)")
    p.add_argument("--designs", type=positive_int, default=32, help="quasi-random designs per concept of the Sobol "
                                                                    "estimate (default 32)")
    p.add_argument("--limit", type=positive_int, default=100, help="a seeded sample of at most N images (default 100)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="inputs per model call (default 64)")
    p.add_argument("--crops", type=positive_int, default=6, help="crops shown per concept (default 6, at most 10)")
    p.add_argument("--no-cache", action="store_true", help="recompute even when these concepts are cached")
    p.add_argument("-o", "--output", type=figure_output, help="figure: the concepts ranked, with their crops")
    p.add_argument("--image", type=image_file, help="also show where each concept is in this image (an image file or "
                                                    "skimage:chelsea etc.; with --maps)")
    p.add_argument("--maps", type=figure_output, help="figure of the concept maps of --image")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write importances and typical crops (image, row, column) as JSON (no FILE or -: print it)")
    p.set_defaults(func=cmd_craft)
