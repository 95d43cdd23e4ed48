"""The ``cnnviz explain`` and ``cnnviz compare`` commands: why a model predicts
what it does (attribution maps), and how faithful each method's maps are."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..attribution.faithfulness import compare
from ..attribution.folder import SUMMARY, explain_files
from ..attribution.registry import (
    CONCEPT_METHODS,
    DEFAULT_METHODS,
    METHODS,
    REGISTRY,
    SUMMARY_EXTRAS,
    explain,
    method,
    method_name,
    methods_help,
    options_help,
    parse_options,
    summary,
)
from ..common.errors import CnnvizError
from ..data.stream import read_sample
from ..models.inputs import dataset_inputs, load_image, stream_size
from ..models.predict import check_classifier, predict
from ..models.zoo import model_info
from .common import (
    MODEL_HELP,
    ProgressBar,
    batch_size,
    check_engine,
    count_at_most,
    data_output,
    dataset_images,
    emit_json,
    engine_options,
    figure_output,
    fraction,
    is_image_source,
    json_output,
    model_leading,
    model_positional,
    nonnegative_int,
    open_model,
    per_item_paths,
    positive_int,
    save,
    save_npz,
)


def _methods(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(METHODS)
    methods = [method_name(m) for m in text.split(",") if m.strip()]
    if not methods:
        raise CnnvizError(f"--methods is empty: name at least one of {', '.join(METHODS)}, or all")
    return methods


def _options(args, methods) -> dict:
    items = list(args.option or [])
    if getattr(args, "layer", None):
        items += [f"{m}.layer={args.layer}" for m in methods if method(m).takes_layer]
    return parse_options(items, methods)


def cmd_explain(args) -> int:
    import numpy as np

    from ..plots.attribution import explain_figure  # matplotlib: heavy, loaded with the first figure

    methods = _methods(args.methods)
    options = _options(args, methods)
    if args.out_dir:
        return _explain_folder(args, methods, options)
    check_engine(args, False)
    folders = [p for p in args.images if Path(p).is_dir()]
    if folders:
        raise CnnvizError(f"{folders[0]} is a folder: add --out-dir DIR to explain every image in it "
                          "(one NPZ and figure per image, resumable)")
    reports = per_item_paths(args.output, [Path(source.replace("skimage:", "")).stem for source in args.images])
    model = open_model(args)
    info = model_info(model)             # an untrained model is noted with each image
    loaded = [load_image(path, model) for path in args.images]
    groups = _same_shape_groups(loaded)
    records, npz = [], {}
    for group in groups:
        x = np.stack([loaded[i].x for i in group])
        preds = predict(model, x, 5)
        target = args.target if args.target is not None else [p[0].index for p in preds]   # no second forward pass
        results = explain(model, x, methods, target, options=options, progress=ProgressBar())
        for note in (note for result in results.values() for note in result.extras.get("cache_notes", [])):
            print(f"cnnviz: note: {note}", file=sys.stderr)
        for j, i in enumerate(group):
            im = loaded[i]
            _print_prediction(im, preds[j])
            fig = explain_figure(im.pixels, results, j, preds[j], im.source, info.name, info.classes, args.alpha)
            save(fig, reports[i], model)
            _save_concept_maps(im, results, j, reports[i], model, info.classes)
            records.append({"image": im.source, "notes": im.notes, "top": [p._asdict() for p in preds[j]],
                            "methods": _one(summary(results), j)})
            for name, result in results.items():
                npz[f"{_key(i, len(loaded))}{name}"] = result.maps[j]
                if method(name).concepts:
                    npz[f"{_key(i, len(loaded))}{name}_concepts"] = result.extras["concept_maps"][j]
    if args.json:
        emit_json(records if len(records) > 1 else records[0], args.json)
    if args.npz:
        save_npz(args.npz, **npz)
    return 0


def _explain_folder(args, methods, options) -> int:
    """Every image of a folder, glob or file list into --out-dir, resumable."""
    if args.json or args.npz:
        raise CnnvizError("--json and --npz are for single images: with --out-dir each image gets its NPZ and "
                          f"the predictions go to {Path(args.out_dir) / SUMMARY}")

    model = open_model(args)
    source = args.images[0] if len(args.images) == 1 else args.images
    result = explain_files(model, source, args.out_dir, methods, args.target, options=options, limit=args.limit,
                           seed=args.seed, figures=not args.no_figures, alpha=args.alpha,
                           batch_size=args.batch_size, engine=args.engine, workers=args.workers,
                           address=args.address, progress=ProgressBar())
    for item in result["skipped"]:
        print(f"cnnviz: note: skipped {item['file']}: {item['reason']}", file=sys.stderr)
    for line in result["healed"]:
        print(f"cnnviz: note: {line}", file=sys.stderr)
    for item in result["redone"]:
        print(f"cnnviz: note: redid {item['file']}: {item['reason']}", file=sys.stderr)
    done = len(result["images"])
    print(f"{done} images explained in {args.out_dir} ({result['written']} this run, {done - result['written']} "
          f"already there, {len(result['redone'])} redone), {len(result['skipped'])} unreadable file(s) skipped")
    print(f"wrote {Path(args.out_dir) / SUMMARY}", file=sys.stderr)
    return 0


def _save_concept_maps(im, results: dict, j: int, report: str, model, classes) -> None:
    """For each concept method run (craft): a figure of where each of the
    class's concepts is in image ``j``, beside the report (NAME_craft.png)."""
    from ..plots.concepts import concept_maps_figure  # matplotlib: heavy, loaded with the first figure

    for name, result in results.items():
        if method(name).concepts:
            path, target = Path(report), int(result.targets[j])
            label = classes[target] if classes and target < len(classes) else str(target)
            title = (f"{method(name).label} of class {label} at {result.params['layer']} in "
                     f"{Path(im.source).name} (importance in brackets)")
            save(concept_maps_figure(im.pixels, result.extras["concept_maps"][j], result.extras["importances"][j],
                                     title), str(path.with_name(f"{path.stem}_{name}{path.suffix}")), model)


def _same_shape_groups(loaded) -> list[list[int]]:
    """Indices of images that stack into one batch (same input shape)."""
    groups: dict = {}
    for i, im in enumerate(loaded):
        groups.setdefault(im.x.shape, []).append(i)
    return list(groups.values())


def _key(index: int, n: int) -> str:
    return "" if n == 1 else f"image{index}_"


def _one(summary: dict, j: int) -> dict:
    """The batch summary cut to image ``j``."""
    out = {}
    for name, entry in summary.items():
        entry = dict(entry)
        entry["target"] = entry.pop("targets")[j]
        for key in SUMMARY_EXTRAS:
            if key in entry:
                entry[key] = entry[key][j]
        out[name] = entry
    return out


def _print_prediction(im, preds) -> None:
    print(f"{im.source}:" + "".join(f"  ({n})" for n in im.notes))
    for p in preds:
        print(f"  {p.probability:7.2%}  {p.name} [{p.index}]")


def cmd_compare(args) -> int:
    from ..plots.attribution import curves_figure  # matplotlib: heavy, loaded with the first figure

    methods = _methods(args.methods)
    options = _options(args, methods)
    model = open_model(args)
    check_classifier(model)
    if is_image_source(args.dataset):    # a folder: only a class-balanced sample of --n decoded, through the stream

        pixels, _, files, _ = read_sample(args.dataset, stream_size(model), args.n, args.seed, progress=ProgressBar())
        name, x = Path(files.root).name, dataset_inputs(model, pixels)
    else:
        data = dataset_images(model, args.dataset, scored=True)
        name, x = data.name, dataset_inputs(model, data.x_test[:args.n])
    ranking = compare(model, x, methods, args.target, steps=args.steps, region=args.region, baseline=args.baseline,
                      seed=args.seed, options=options, progress=ProgressBar())
    rows = ranking.rows()
    if args.json:
        emit_json({"model": model_info(model).name, "dataset": name, "images": len(x), "steps": args.steps,
                   "rows": rows},
                   args.json)
    print(f"{model_info(model).name} on {len(x)} {name} test images (deletion: lower is better; insertion: higher)")
    print(f"{'method':<22} {'deletion AUC':>12} {'insertion AUC':>13} {'s/image':>8}")
    for r in rows:
        print(f"{r['method']:<22} {r['deletion_auc']:>12.4f} {r['insertion_auc']:>13.4f} "
              f"{r['seconds_per_image']:>8.3f}")
    if args.output:
        save(curves_figure(ranking, f"{model_info(model).name}: faithfulness on {len(x)} {name} test images"),
             args.output, model)
    return 0


def register(sub, model_opts) -> None:
    """Add ``explain`` and ``compare`` to the ``cnnviz`` parser."""
    epilog = "method options (--option METHOD.NAME=VALUE; default in place of VALUE):\n" + options_help()
    layered = [m.name for m in REGISTRY.values() if m.takes_layer]

    def common(p):
        p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                       help=f"comma-separated: {methods_help()}, or all (all but {', '.join(CONCEPT_METHODS)}, "
                            "which needs the class's images; default: %(default)s)")
        p.add_argument("--target", help="class to explain, index or name (default: each image's predicted class)")
        p.add_argument("--layer", help=f"layer for the methods that take one ({', '.join(layered)}; default: the "
                                       "last convolutional layer)")
        p.add_argument("--option", action="append", metavar="[METHOD.]NAME=VALUE",
                       help="a method option, e.g. occlusion.patch=8, smoothgrad.samples=50, lime.segmentation=slic "
                            "(repeatable)")

    p = sub.add_parser("explain", help="why the model predicts what it does: attribution maps for images",
                       parents=[model_opts, engine_options()],
                       description="Print the top-5 classes of each image and write a report figure with each "
                                   "method's map over it.", epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image files, or skimage:NAME for a built-in sample photo; with "
                                             "--out-dir also a folder or a glob such as 'photos/*.jpg'")
    model_leading(p, "images", default="vgg16", help=MODEL_HELP + " (default vgg16 with ImageNet weights)")
    common(p)
    p.add_argument("-o", "--output", type=figure_output, default="explain.png",
                   help="report figure (one per image: NAME_IMAGE.png)")
    p.add_argument("--alpha", type=fraction, default=0.5,
                   help="opacity of the maps over the image, 0 to 1 (default 0.5)")
    p.add_argument("--json", metavar="FILE", type=json_output,
                   help="write predictions and method details as JSON (- for stdout)")
    p.add_argument("--npz", metavar="FILE", type=data_output, help="write the raw maps as NPZ")
    group = p.add_argument_group("a whole folder (--out-dir)")
    group.add_argument("--out-dir", metavar="DIR", help="stream every image of the folder/glob/files given and write "
                       "per image NAME.npz (maps) and NAME.png (report) here, plus summary.json; a rerun skips "
                       "what is written")
    group.add_argument("--no-figures", action="store_true", help="with --out-dir: only the NPZ maps")
    group.add_argument("--limit", type=positive_int, help="with --out-dir: a seeded class-balanced sample of N images")
    group.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the --limit sample (default 0)")
    group.add_argument("--batch-size", type=batch_size, default=16, help="images per model call (default 16)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("compare", help="rank attribution methods by deletion/insertion AUC on test images",
                       parents=[model_opts], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    model_positional(p)
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's dataset)")
    p.add_argument("--n", type=positive_int, default=100, help="test images (default %(default)s; of a folder: a "
                                                               "class-balanced sample, --seed)")
    p.add_argument("--steps", type=count_at_most(10_000), default=32,
                   help="deletion/insertion steps (default %(default)s)")
    p.add_argument("--region", type=positive_int, help="side of the square regions removed together "
                                              "(default: an eighth of the image side; 1 = single pixels)")
    p.add_argument("--baseline", choices=("blurred", "black"), default="blurred",
                   help="what removed pixels show (default %(default)s)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    common(p)
    p.add_argument("-o", "--output", type=figure_output, help="curves figure (PNG)")
    p.add_argument("--json", metavar="FILE", type=json_output, help="write the table as JSON (- for stdout)")
    p.set_defaults(func=cmd_compare)
