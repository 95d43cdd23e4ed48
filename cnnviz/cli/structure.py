"""The ``cnnviz`` commands that show how a network is built and how it
computes: its graph (Netron's picture, drawn without graphviz), one unit's
arithmetic step by step (CNN Explainer's, on any model and image), and the
lectures' fixed smoothing and gradient kernels applied to an image."""
from __future__ import annotations

import sys

import numpy as np

from ..data.images import read_image
from ..inside.arithmetic import FIXED_KERNELS, FIXED_TEXT, apply_fixed_kernel, fixed_kernel_arithmetic, unit_arithmetic
from ..inside.network import layout_graph, model_graph
from ..models.inputs import load_image
from ..models.zoo import model_info, weights_note
from .common import MODEL_HELP, emit_json, figure_output, json_output, nonnegative_int, open_model, row_col, save


def cmd_graph(args) -> int:
    from ..plots.graph import graph_figure  # matplotlib: heavy, loaded with the first figure

    model = open_model(args, architecture_only=True)
    graph = model_graph(model, expand=True if args.expand_all else (args.expand or ()))
    if args.json:
        emit_json(graph.to_json(), args.json)
    if args.json != "-":
        merges = sum(1 for n in graph.nodes if sum(1 for e in graph.edges if e[1] == n.name) > 1)
        print(f"{graph.model}: {len(graph.nodes)} nodes, {len(graph.edges)} edges, {merges} merges, "
              f"{len(graph.nested)} nested models" + (" (--expand NAME or --expand-all to draw their layers)"
                                                      if graph.nested and not (args.expand or args.expand_all)
                                                      else ""))
    if args.output:
        # the figure marks an untrained model in its own head (save's mark would cover the title)
        save(graph_figure(graph, layout_graph(graph), trained=model_info(model).trained), args.output)
        if weights_note(model):
            print(f"note: {weights_note(model)}", file=sys.stderr)
    return 0


def cmd_arithmetic(args) -> int:
    model = open_model(args)
    image = load_image(args.image, model)
    for note in image.notes:
        print(f"note: {note}", file=sys.stderr)
    step = unit_arithmetic(model, image.x, args.layer, at=args.at, channel=args.channel)
    if args.json:
        emit_json(step.to_json(), args.json)
    if args.json != "-":
        print(describe(step))
    return 0


def cmd_kernels(args) -> int:
    from ..plots.inside import kernels_figure  # matplotlib: heavy, loaded with the first figure

    pixels = read_image(args.image)
    names = args.kernel or list(FIXED_KERNELS)
    filtered = {name: apply_fixed_kernel(pixels, name) for name in names}
    if args.at is not None:
        for name in names:
            print(describe(fixed_kernel_arithmetic(pixels, name, args.at)))
    for name, result in filtered.items():
        print(f"{name} ({FIXED_TEXT[name]}): output {result.min():.4g} to {result.max():.4g}")
    if args.output:
        gray = pixels.mean(axis=-1) if pixels.ndim == 3 else pixels
        save(kernels_figure(gray, filtered, FIXED_KERNELS, FIXED_TEXT, f"fixed kernels on {args.image}"),
             args.output)
    return 0


def describe(step) -> str:
    """Each step of a unit's computation as text, ending with whether it equals the layer's value."""
    where = f" unit ({step.at[0]}, {step.at[1]})" if step.at is not None else ""
    lines = [f"{step.layer} channel {step.channel}{where} ({step.kind})"]
    with np.printoptions(precision=4, suppress=True, linewidth=110, threshold=200):
        if step.kind in ("max_pool", "average_pool"):
            lines.append(f"window at input ({step.window[0]}, {step.window[1]}), padding shown as 0:\n{step.patch}")
            lines.append(f"max = {step.total:.6g} at window entry {step.winner}" if step.kind == "max_pool"
                         else f"mean of the {int(step.valid.sum())} entries inside the input = {step.total:.6g}")
        else:
            n = step.products.size
            lines.append(f"input patch {step.patch.shape} at ({step.window[0]}, {step.window[1]}):\n"
                         f"{_channels_first(step.patch)}" if step.at is not None else
                         f"inputs ({n}):\n{step.patch}")
            lines.append(f"kernel:\n{_channels_first(step.kernel)}" if step.at is not None else
                         f"weights:\n{step.kernel}")
            lines.append(f"products (patch × kernel, {n} numbers):\n{_channels_first(step.products)}")
            lines.append(f"sum = {step.total:.6g};  + bias {step.bias:.6g} = {step.pre_activation:.6g}")
            if step.probabilities is not None:
                lines.append(f"softmax over the {len(step.logits)} logits {step.logits}: probability "
                             f"{step.value:.6g} for class {step.channel}")
            else:
                lines.append(f"{step.activation}({step.pre_activation:.6g}) = {step.value:.6g}")
    verdict = "equals" if step.matches else "DIFFERS FROM"
    lines.append(f"value {step.value:.6g} {verdict} the layer's own {step.map_value:.6g}")
    return "\n".join(lines)


def _channels_first(array: np.ndarray) -> np.ndarray:
    """(kh, kw, c) shown channel by channel (c, kh, kw): each block one input channel."""
    return np.moveaxis(array, -1, 0) if array.ndim == 3 else array


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("graph", help="the model's graph: layers, branches, skip connections, nested models",
                       parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("-o", "--output", type=figure_output, help="figure to write (SVG, PNG, PDF)")
    p.add_argument("--expand", action="append", metavar="NAME",
                   help="draw the layers of this nested model (repeatable; default: one box each)")
    p.add_argument("--expand-all", action="store_true", help="draw the layers of every nested model")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write the nodes (type, shape, kernel, stride, padding, receptive field) and edges as "
                        "JSON (no FILE or -: print it)")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("arithmetic", help="how one unit computes its value, step by step", parents=[model_opts])
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("image", help="an image file, or skimage:camera etc.")
    p.add_argument("--layer", required=True, help="a Conv2D, MaxPooling2D, AveragePooling2D or Dense layer")
    p.add_argument("--at", type=row_col, help="ROW,COL of the unit in the layer's map (not for Dense)")
    p.add_argument("--channel", type=nonnegative_int, default=0, help="channel (or Dense unit; default 0)")
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", type=json_output,
                   help="write every step's arrays as JSON (no FILE or -: print it)")
    p.set_defaults(func=cmd_arithmetic)

    p = sub.add_parser("kernels", help="the lectures' fixed smoothing and gradient kernels applied to an image")
    p.add_argument("image", help="an image file, or skimage:camera etc.")
    p.add_argument("--kernel", action="append", choices=list(FIXED_KERNELS),
                   help="a fixed kernel (repeatable; default: all of them)")
    p.add_argument("--at", type=row_col, help="ROW,COL of a pixel: print each kernel's arithmetic there")
    p.add_argument("-o", "--output", type=figure_output, help="figure to write (SVG, PNG, PDF)")
    p.set_defaults(func=cmd_kernels)
