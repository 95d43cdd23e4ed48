"""``cnnviz atlas``: a model's atlas, a static site with a page per layer and
per channel (:mod:`cnnviz.atlas`)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..atlas import build_atlas
from .common import MODEL_HELP, ProgressBar, engine_options, nonnegative_int, open_model, positive_int


def cmd_atlas(args) -> int:
    model = open_model(args)
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    result = build_atlas(model, args.output, dataset=args.dataset, limit=args.limit, layers=layers, k=args.k,
                         syntheses=args.syntheses, steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                         engine=args.engine, workers=args.workers, address=args.address, progress=ProgressBar())
    for item in result.skipped:
        print(f"cnnviz: note: skipped {item['file']}: {item['reason']}", file=sys.stderr)
    print(result.line())
    print(f"open {Path(args.output).resolve() / 'index.html'}")
    return 0


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("atlas", help="a static site of the model: a page per layer and per channel",
                       parents=[model_opts, engine_options()],
                       description="Build a static site (opens from disk, no server) with the model's contract and "
                                   "layer table, a page per layer (every channel's synthesized image and top "
                                   "example) and a page per channel at layers/LAYER/CHANNEL.html. A rerun finishes "
                                   "what a killed run left and rebuilds nothing when nothing changed.")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--dataset", help="mnist, cifar10 (test split), or an image folder or glob, streamed from disk "
                                     "(default: the model's dataset)")
    p.add_argument("--limit", type=positive_int, help="a seeded class-balanced sample of N images")
    p.add_argument("--layers", help="layers to show, separated by commas (default: every convolution)")
    p.add_argument("-k", type=positive_int, default=36, help="top dataset examples per channel (default 36)")
    p.add_argument("--syntheses", type=positive_int, default=3,
                   help="synthesized images per channel, made unlike each other (default 3)")
    p.add_argument("--steps", type=positive_int, help="synthesis steps (default: the model's)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="first synthesis seed and --limit sample seed")
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="images per model call, in the dataset passes and in synthesis (default 256)")
    p.add_argument("-o", "--output", required=True, metavar="SITE", help="the site's folder (new, empty, or an atlas)")
    p.set_defaults(func=cmd_atlas)
