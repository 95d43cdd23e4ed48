"""The ``cnnviz explain`` and ``cnnviz compare`` commands: why a model predicts
what it does (attribution maps), and how faithful each method's maps are."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..common.errors import CnnvizError
from .common import ProgressBar, dataset_images, emit_json, open_model, per_item_path, save, save_npz

METHODS_HELP = ("comma-separated: saliency, gradient, smoothgrad, gradient_x_input, integrated_gradients (ig), "
                "guided_backprop, deconvnet, gradcam, gradcam++, guided_gradcam, occlusion, lime, or all")


def _methods(text: str) -> list[str]:
    from ..attribution.registry import METHODS, method_name

    if text.strip().lower() == "all":
        return list(METHODS)
    return [method_name(m) for m in text.split(",") if m.strip()]


def _options(args, methods) -> dict:
    from ..attribution.registry import parse_options

    items = list(args.option or [])
    if getattr(args, "layer", None):
        items += [f"{m}.layer={args.layer}" for m in methods if m in ("gradcam", "gradcam++", "guided_gradcam")]
    return parse_options(items, methods)


def _report_path(path: str, source: str, many: bool) -> str:
    """``report.png`` for one image, ``report_<image>.png`` for each of several."""

    return per_item_path(path, Path(source.replace("skimage:", "")).stem, many)


def cmd_explain(args) -> int:
    import numpy as np

    from ..attribution.registry import explain, summary
    from ..data.images import load_image
    from ..models.predict import predict
    from ..models.zoo import model_info
    from ..plots.attribution import explain_figure

    methods = _methods(args.methods)
    options = _options(args, methods)
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
        for j, i in enumerate(group):
            im = loaded[i]
            _print_prediction(im, preds[j])
            fig = explain_figure(im.pixels, results, j, preds[j], im.source, info.name, info.classes, args.alpha)
            save(fig, _report_path(args.output, im.source, len(loaded) > 1), model)
            records.append({"image": im.source, "notes": im.notes, "top": [p._asdict() for p in preds[j]],
                            "methods": _one(summary(results), j)})
            for name, result in results.items():
                npz[f"{_key(i, len(loaded))}{name}"] = result.maps[j]
    if args.json:
        emit_json(records if len(records) > 1 else records[0], args.json)
    if args.npz:
        save_npz(args.npz, **npz)
    return 0


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
        for key in ("completeness_error", "convergence_delta", "steps", "score"):
            if key in entry:
                entry[key] = entry[key][j]
        out[name] = entry
    return out


def _print_prediction(im, preds) -> None:
    print(f"{im.source}:" + "".join(f"  ({n})" for n in im.notes))
    for p in preds:
        print(f"  {p.probability:7.2%}  {p.name} [{p.index}]")


def cmd_compare(args) -> int:
    from ..attribution.faithfulness import compare
    from ..models.evaluate import dataset_inputs
    from ..plots.attribution import curves_figure

    if args.n < 1:
        raise CnnvizError("--n must be at least 1")
    methods = _methods(args.methods)
    options = _options(args, methods)
    model = open_model(args)
    data = dataset_images(model, args.dataset)
    x = dataset_inputs(model, data.x_test[:args.n])
    ranking = compare(model, x, methods, args.target, steps=args.steps, region=args.region, baseline=args.baseline,
                      seed=args.seed, options=options, progress=ProgressBar())
    rows = ranking.rows()
    if args.json:
        emit_json({"model": model.name, "dataset": data.name, "images": len(x), "steps": args.steps, "rows": rows},
                   args.json)
    print(f"{model.name} on {len(x)} {data.name} test images (deletion: lower is better; insertion: higher)")
    print(f"{'method':<22} {'deletion AUC':>12} {'insertion AUC':>13} {'s/image':>8}")
    for r in rows:
        print(f"{r['method']:<22} {r['deletion_auc']:>12.4f} {r['insertion_auc']:>13.4f} {r['seconds_per_image']:>8.3f}")
    if args.output:
        save(curves_figure(ranking, f"{model.name}: faithfulness on {len(x)} {data.name} test images"), args.output, model)
    return 0


def register(sub, model_opts) -> None:
    """Add ``explain`` and ``compare`` to the ``cnnviz`` parser."""
    from ..attribution.registry import DEFAULT_METHODS, options_help

    epilog = "method options (--option METHOD.NAME=VALUE; default in place of VALUE):\n" + options_help()

    def common(p):
        p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"{METHODS_HELP} (default: %(default)s)")
        p.add_argument("--target", help="class to explain, index or name (default: each image's predicted class)")
        p.add_argument("--layer", help="layer for Grad-CAM (default: the last convolutional layer)")
        p.add_argument("--option", action="append", metavar="[METHOD.]NAME=VALUE",
                       help="a method option, e.g. occlusion.patch=8, smoothgrad.samples=50, lime.segmentation=slic "
                            "(repeatable)")

    p = sub.add_parser("explain", help="why the model predicts what it does: attribution maps for images",
                       parents=[model_opts],
                       description="Print the top-5 classes of each image and write a report figure with each "
                                   "method's map over it.", epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image files, or skimage:NAME for a built-in sample photo")
    p.add_argument("--model", default="vgg16", help="a zoo name or .keras/.h5 file (default vgg16 with ImageNet weights)")
    common(p)
    p.add_argument("-o", "--output", default="explain.png", help="report figure (one per image: NAME_IMAGE.png)")
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the maps over the image")
    p.add_argument("--json", metavar="FILE", help="write predictions and method details as JSON (- for stdout)")
    p.add_argument("--npz", metavar="FILE", help="write the raw maps as NPZ")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("compare", help="rank attribution methods by deletion/insertion AUC on test images",
                       parents=[model_opts], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a zoo name or .keras/.h5 file")
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's dataset)")
    p.add_argument("--n", type=int, default=100, help="test images (default %(default)s)")
    p.add_argument("--steps", type=int, default=32, help="deletion/insertion steps (default %(default)s)")
    p.add_argument("--region", type=int, help="side of the square regions removed together "
                                              "(default: an eighth of the image side; 1 = single pixels)")
    p.add_argument("--baseline", choices=("blurred", "black"), default="blurred",
                   help="what removed pixels show (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    common(p)
    p.add_argument("-o", "--output", help="curves figure (PNG)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON (- for stdout)")
    p.set_defaults(func=cmd_compare)
