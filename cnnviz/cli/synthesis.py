"""The ``cnnviz synthesize`` command: images that maximize a channel or a class."""
from __future__ import annotations

import argparse
import sys

from ..common.errors import CnnvizError
from ..inside.top_patches import parse_channels, silent_channels
from ..models.graph import get_layer, qualified_name
from ..models.zoo import model_info
from ..synthesis.maximize import synthesize_channels, synthesize_class
from .common import (
    ProgressBar,
    channel_list,
    count_at_most,
    data_output,
    emit_json,
    figure_output,
    model_positional,
    nonnegative_float,
    nonnegative_int,
    open_model,
    positive_float,
    row_col,
    save,
    save_npz,
)


def cmd_synthesize(args) -> int:
    from ..plots.inside import synthesis_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    options = dict(steps=args.steps, learning_rate=args.lr, jitter=args.jitter, l2=args.l2, tv=args.tv,
                   blur_every=args.blur_every, octaves=args.octaves, fourier=args.fourier)
    if (args.layer is None) == (args.classes is None):
        raise CnnvizError("give either --layer L (filter images) or --class C (class images)")
    if args.classes is not None and (args.per_channel > 1 or args.diversity is not None):
        raise CnnvizError("--per-channel and --diversity make several images of a --layer's channels: drop them "
                          "for --class")
    silent = {}
    if args.classes is not None:
        targets = [c.strip() for c in args.classes.split(",") if c.strip()]
        result = synthesize_class(model, targets, seed=args.seed, progress=ProgressBar(), cache=args.cache, **options)
        names = [model_info(model).classes[i] for i in result.indices]
        title = f"{model_info(model).name}: class model visualization ({result.settings.steps} steps)"
    else:
        layer = qualified_name(model, args.layer)
        n = int(get_layer(model, layer).output.shape[-1])
        result = synthesize_channels(model, layer, parse_channels(args.channels, n), unit=args.unit, seed=args.seed,
                                     progress=ProgressBar(), cache=args.cache, per_channel=args.per_channel,
                                     diversity=args.diversity, **options)
        names, title = None, ""
        silent = silent_channels(model, layer, result.indices[::result.per_channel],
                                 result.activations.reshape(-1, result.per_channel), "synthesis did not make it fire")
    if result.cache_note:
        print(f"cnnviz: note: {result.cache_note}", file=sys.stderr)
    rows = [{"index": int(i), "activation": float(a), **({"silent": silent[int(i)]} if int(i) in silent else {})}
            for i, a in zip(result.indices, result.activations)]
    if result.probabilities is not None:
        for row, p, name in zip(rows, result.probabilities, names):
            row.update(probability=float(p), name=name)
    if args.json:
        emit_json({"target": result.target, "steps": result.settings.steps, "from_cache": result.from_cache,
                    "results": rows}, "-")
    else:
        if result.from_cache:
            print("(from cache)")
        for row in rows:
            extra = f"  p={row['probability']:.4f} {row['name']}" if "probability" in row else ""
            silent_note = f"  ({row['silent']})" if "silent" in row else ""
            print(f"{result.target} {row['index']}: activation {row['activation']:.4f}{extra}{silent_note}")
    save(synthesis_figure(result, names, title, silent), args.output, model)
    if args.npz:
        save_npz(args.npz, images=result.by_channel if result.per_channel > 1 else result.images,
                 indices=result.indices, activations=result.activations,
                  history=result.history)
    return 0


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("synthesize", help="images that maximize channels or classes (activation maximization)",
                       parents=[model_opts])
    model_positional(p)
    target = p.add_argument_group("what to maximize (one of)")
    target.add_argument("--layer", help="maximize this layer's channels")
    target.add_argument("--class", dest="classes", metavar="C",
                        help="maximize class scores: indices or names, comma-separated (e.g. 3 or cat,dog)")
    p.add_argument("--channels", type=channel_list, help="channels of --layer, e.g. 0:16, 5 or 1,4,9 (default all)")
    p.add_argument("--unit", type=row_col, help="maximize one unit ROW,COL of each channel instead of the mean")
    p.add_argument("--steps", type=count_at_most(100_000),
                   help="gradient steps (default: 256 for lecture models, 128 for VGG16)")
    p.add_argument("--lr", type=positive_float, help="learning rate (Adam, on [0, 1] pixels)")
    p.add_argument("--jitter", type=nonnegative_int, help="random shift in pixels per step")
    p.add_argument("--l2", type=nonnegative_float, help="L2 decay weight")
    p.add_argument("--tv", type=nonnegative_float, help="total-variation weight")
    p.add_argument("--blur-every", type=nonnegative_int, help="blur every N steps (0: never)")
    p.add_argument("--octaves", type=count_at_most(16), help="coarse-to-fine stages")
    p.add_argument("--fourier", action=argparse.BooleanOptionalAction, default=None,
                   help="decorrelated Fourier-space parameterization (default on for large inputs)")
    p.add_argument("--per-channel", type=count_at_most(64), default=1, metavar="N",
                   help="N diverse images per channel, optimized jointly (default 1; --layer only)")
    p.add_argument("--diversity", type=nonnegative_float,
                   help="weight of the penalty on alike Gram matrices among a channel's images (default 0.1 "
                        "with --per-channel above 1)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                   help="keep results on disk and reuse them (default on)")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write")
    p.add_argument("--npz", type=data_output, help="also write the images and values as NPZ")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_synthesize)
