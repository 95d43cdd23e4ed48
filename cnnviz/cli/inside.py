"""The ``cnnviz`` commands that look inside a model: filter weights, activation
maps, top-activating dataset patches and effective receptive fields."""
from __future__ import annotations

import sys

from ..data.datasets import balanced_subset
from ..inside.activations import activations, channel_histograms, normalize_maps
from ..inside.filters import filter_weights
from ..inside.receptive import effective_receptive_field, receptive_field
from ..inside.top_patches import (
    file_crops,
    parse_channels,
    patch_crops,
    silent_channels,
    top_patches,
    top_patches_files,
)
from ..models.graph import get_layer, qualified_name
from ..models.inputs import dataset_inputs, load_image
from .common import (
    ProgressBar,
    batch_size,
    channel_list,
    check_engine,
    count_at_most,
    data_output,
    dataset_images,
    emit_json,
    engine_options,
    figure_output,
    is_image_source,
    json_output,
    model_positional,
    nonnegative_int,
    open_model,
    per_item_paths,
    positive_int,
    save,
    save_npz,
)


def cmd_filters(args) -> int:
    from ..plots.inside import filters_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    weights = filter_weights(model, args.layer, args.normalize)
    bias = f", bias {weights.bias.shape}" if weights.bias is not None else ""
    print(f"{weights.layer}: kernel {weights.shape}{bias}")
    save(filters_figure(weights, args.max_filters), args.output, model)
    if args.npz:
        save_npz(args.npz, kernel=weights.kernel, images=weights.images)
    return 0


def cmd_activations(args) -> int:
    from ..plots.inside import activation_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    image = load_image(args.image, model)
    for note in image.notes:
        print(f"note: {note}", file=sys.stderr)
    maps = activations(model, image.x[None], args.layer)
    shown = normalize_maps(maps, args.scope)
    for (name, m), path in zip(maps.items(), per_item_paths(args.output, maps)):
        print(f"{name}: {m.shape}")
        display = image.pixels[..., 0] if image.pixels.shape[-1] == 1 else image.pixels
        fig = activation_figure(shown[name][0], name, display, args.overlay, args.scope, args.max_channels)
        save(fig, path, model)
    if args.npz:
        save_npz(args.npz, **{name.replace("/", "__"): m for name, m in maps.items()})
    return 0


def cmd_top_patches(args) -> int:
    from ..plots.inside import top_patches_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    streams = is_image_source(args.dataset)
    check_engine(args, streams)
    layer = qualified_name(model, args.layer)
    n = int(get_layer(model, layer).output.shape[-1])
    channels = parse_channels(args.channels, n)
    options = dict(k=args.k, channels={layer: channels}, per=args.per, stat=args.stat, progress=ProgressBar())
    if streams:                  # an image folder streams from disk; each patch keeps its file
        result = top_patches_files(model, args.dataset, [layer], limit=args.limit, seed=args.seed,
                                   batch_size=args.batch_size, engine=args.engine, workers=args.workers,
                                   address=args.address, **options)
        crops, name, n_images = file_crops(result, layer), args.dataset, result.report["read"]
        _note_skipped(result.report)
    else:
        data = dataset_images(model, args.dataset)
        images = data.x_test if args.limit is None else data.x_test[_sample(data.y_test, args.limit, args.seed)]
        result = top_patches(model, images, [layer], **options)
        crops, name, n_images = patch_crops(result.layers[layer], images), data.name, len(images)
    if result.cache_note:
        print(f"cnnviz: note: {result.cache_note}", file=sys.stderr)
    top = result.layers[layer]
    field = receptive_field(model, layer).size
    silent = silent_channels(model, layer, top.channels, top.values, f"did not fire on these {n_images:,} images")
    if args.json:
        found = result.to_json(layer)
        for entry in found["channels"]:
            entry["silent"] = silent.get(entry["channel"], "")
        emit_json({"dataset": name, "images": n_images, **found}, args.json)
    if args.json != "-":
        print(f"{layer}: top-{result.k} of {n_images} {name} images for {len(channels)} channels"
              + (" (from cache)" if result.from_cache else ""))
        for c, why in silent.items():
            print(f"  channel {c}: {why}")
    if result.k < args.k:
        print(f"cnnviz: note: -k {args.k} is more than the {result.k} patches per channel that "
              f"{n_images} images give: showing {result.k}", file=sys.stderr)
    save(top_patches_figure(crops, top.values, top.channels, layer, field, silent), args.output, model)
    return 0


def _sample(labels, limit: int, seed: int):
    """A seeded class-balanced sample of ``limit`` test images (never the first N)."""
    return balanced_subset(labels, min(limit, len(labels)), seed)


def _note_skipped(report: dict) -> None:
    for item in report["skipped"]:
        print(f"cnnviz: note: skipped {item['file']}: {item['reason']}", file=sys.stderr)


def cmd_histograms(args) -> int:
    from ..plots.inside import histograms_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    layer = qualified_name(model, args.layer)
    n = int(get_layer(model, layer).output.shape[-1])
    channels = parse_channels(args.channels, n)
    data = dataset_images(model, args.dataset)
    images = data.x_test[_sample(data.y_test, args.n, args.seed)]
    hist = channel_histograms(model, dataset_inputs(model, images), layer, channels, bins=args.bins)
    silent = silent_channels(model, layer, hist.channels, hist.maximum, f"did not fire on these {len(images):,} images")
    if args.json:
        found = hist.to_json()
        for entry in found["channels"]:
            entry["silent"] = silent.get(entry["channel"], "")
        emit_json(found, args.json)
    else:
        for c, m, sd, z in zip(hist.channels, hist.mean, hist.std, hist.zero_fraction):
            why = f"  ({silent[int(c)]})" if int(c) in silent else ""
            print(f"{layer} channel {c}: mean {m:.4f}, std {sd:.4f}, {z:.0%} zeros{why}")
    save(histograms_figure(hist, silent, args.max_channels, f"{model.name} {layer}: values per channel over "
                           f"{len(images)} {data.name} test images"), args.output, model)
    return 0


def cmd_erf(args) -> int:
    from ..plots.inside import erf_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args)
    data = dataset_images(model, args.dataset, limit=args.n)
    erf = effective_receptive_field(model, dataset_inputs(model, data.x_test[:args.n]), args.layer)
    summary = {"layer": args.layer, "unit": list(erf.centre), "images": min(args.n, len(data.x_test)),
               "theoretical_size": list(erf.theoretical.size), "effective_size": erf.size, "mass": erf.mass}
    if args.json:
        emit_json(summary, "-")
    else:
        print(f"{args.layer}: theoretical field {erf.theoretical.size[0]:g} px, effective field {erf.size:g} px "
              f"({erf.mass:.0%} of the gradient mass, {summary['images']} images)")
    if args.output:
        save(erf_figure(erf, args.layer), args.output, model)
    return 0


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("filters", help="filter weights as images", parents=[model_opts])
    model_positional(p)
    p.add_argument("--layer", help="a convolution layer (default: the first)")
    p.add_argument("--normalize", choices=("filter", "layer"), default="filter",
                   help="scale each filter by its own range or all by the layer's (default filter)")
    p.add_argument("--max-filters", type=count_at_most(4096, "filters drawn"), default=64,
                   help="filters drawn at most (default 64)")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write (PNG/PDF/SVG)")
    p.add_argument("--npz", type=data_output, help="also write the raw kernel as NPZ")
    p.set_defaults(func=cmd_filters)

    p = sub.add_parser("activations", help="activation maps of layers for an image", parents=[model_opts])
    model_positional(p)
    p.add_argument("image", help="an image file, or skimage:chelsea etc.")
    p.add_argument("--layer", action="append", help="layer to show (repeatable; default every spatial layer)")
    p.add_argument("--scope", choices=("channel", "layer", "global"), default="channel",
                   help="normalization scope of the colour scale (default channel)")
    p.add_argument("--overlay", action="store_true", help="draw the maps over the input instead of beside it")
    p.add_argument("--max-channels", type=count_at_most(4096, "channels drawn"), default=64,
                   help="channels drawn at most (default 64)")
    p.add_argument("-o", "--output", type=figure_output, required=True,
                   help="figure to write (one per layer: NAME_LAYER.png)")
    p.add_argument("--npz", type=data_output, help="also write the raw maps as NPZ")
    p.set_defaults(func=cmd_activations)

    p = sub.add_parser("top-patches", help="the dataset patches that activate each channel most",
                       parents=[model_opts, engine_options()])
    model_positional(p)
    p.add_argument("--layer", required=True)
    p.add_argument("--dataset", help="mnist, cifar10 (test split), or an image folder or glob, streamed from disk "
                                     "(default: the model's dataset)")
    p.add_argument("-k", type=count_at_most(1000, "patches kept per channel"), default=9,
                   help="patches per channel (default 9; at most the images that exist)")
    p.add_argument("--channels", type=channel_list, help="e.g. 0:16, 5 or 1,4,9 (default all)")
    p.add_argument("--per", choices=("image", "unit"), default="image",
                   help="one best position per image (default) or rank every unit")
    p.add_argument("--stat", choices=("max", "mean"), default="max", help="rank images by max or mean over space")
    p.add_argument("--limit", type=positive_int, help="a seeded class-balanced sample of N images")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--batch-size", type=batch_size, default=64, help="images per model call (default 64)")
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write per channel the values, files (or image indices), unit positions and "
                        "receptive-field boxes as JSON (no FILE or -: print it)")
    p.set_defaults(func=cmd_top_patches)

    p = sub.add_parser("histograms", help="per-channel histograms of a layer's values over dataset images",
                       parents=[model_opts],
                       description="The distribution of each channel's values (all positions of all images) "
                                   "on bins shared by the layer, e.g. the signal before and after batch "
                                   "normalization. Channels that never fire are marked.")
    model_positional(p)
    p.add_argument("--layer", required=True, help="any layer with channels last (conv, BN, dense)")
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (test split; default: the model's)")
    p.add_argument("--n", type=positive_int, default=256, help="a seeded class-balanced sample of N images (256)")
    p.add_argument("--channels", type=channel_list, help="e.g. 0:16, 5 or 1,4,9 (default all)")
    p.add_argument("--bins", type=positive_int, default=40, help="bins shared by the layer (default 40)")
    p.add_argument("--max-channels", type=positive_int, default=32, help="channels drawn at most (default 32)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("-o", "--output", type=figure_output, required=True, help="figure to write")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write the bins, counts, mean, std and zero fraction per channel (no FILE or -: print it)")
    p.set_defaults(func=cmd_histograms)

    p = sub.add_parser("erf", help="effective receptive field of a layer by gradients", parents=[model_opts])
    model_positional(p)
    p.add_argument("--layer", required=True)
    p.add_argument("--dataset", help="mnist, cifar10, or an image folder (with or without class sub-folders), glob "
                                     "or labels file (default: the model's)")
    p.add_argument("--n", type=positive_int, default=64, help="images to average over (default 64)")
    p.add_argument("-o", "--output", type=figure_output, help="figure to write")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_erf)
