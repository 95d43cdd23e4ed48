"""The `cnnviz` commands of the attack family (registered by :mod:`cnnviz.cli`):
``attack`` (adversarial examples for one image) and ``robustness`` (accuracy
under attack against the budget on a test set)."""
from __future__ import annotations

import argparse
import math
import sys

from ..adversarial.attacks import _check_method, attack
from ..adversarial.robustness import robustness
from ..common.errors import CnnvizError
from ..models.inputs import load_image
from ..models.predict import predict
from ..models.zoo import model_info
from .common import (
    MODEL_HELP,
    ProgressBar,
    data_output,
    emit_json,
    figure_output,
    nonnegative_float,
    nonnegative_int,
    open_model,
    positive_float,
    positive_int,
    save,
)


def parse_eps(text: str) -> float:
    """A budget such as ``0.3`` or ``8/255``."""
    value = str(text).strip()
    try:
        if "/" in value:
            num, den = value.split("/", 1)
            eps = float(num) / float(den)
        else:
            eps = float(value)
        if not math.isfinite(eps):
            raise ValueError(eps)
    except (ValueError, ZeroDivisionError):
        raise CnnvizError(f"cannot read eps {text!r}: give a finite number like 0.3 or a fraction like 8/255") from None
    if eps < 0:
        raise CnnvizError(f"eps must be 0 or positive (got {eps:g}): it is the perturbation budget in [0, 1] "
                          "pixel units")
    return eps


def parse_eps_list(text: str) -> list[float]:
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise CnnvizError("--eps needs at least one value, e.g. 0,0.1,0.3 or 0,4/255,8/255")
    return [parse_eps(p) for p in parts]


def _eps_text(eps, norm: str) -> str:
    if eps is None:
        return "unbounded"
    scaled = eps * 255
    grid = f" (= {scaled:.3g}/255)" if norm == "inf" and eps > 0 else ""
    return f"{eps:.4g}{grid}"


def _norm_text(norm: str) -> str:
    return "L-inf" if norm == "inf" else "L2"


def cmd_attack(args) -> int:
    from pathlib import Path

    from ..plots.adversarial import LOSSLESS_SUFFIXES, attack_figure  # matplotlib: heavy, loaded with the first figure

    if args.save_adversarial and Path(args.save_adversarial).suffix.lower() not in LOSSLESS_SUFFIXES:
        raise CnnvizError(f"--save-adversarial {args.save_adversarial}: use a lossless format "
                          f"({', '.join(LOSSLESS_SUFFIXES)}); JPEG compression would destroy the perturbation")
    eps = parse_eps(args.eps) if args.eps is not None else None
    model = open_model(args)
    image = load_image(args.image, model)
    result = attack(model, image.pixels, method=args.method, eps=eps, norm=args.norm, steps=args.steps,
                    step_size=args.step_size, target=args.target, labels=args.label, seed=args.seed,
                    early_stop=args.early_stop, confidence=args.confidence, overshoot=args.overshoot,
                    progress=ProgressBar())
    for note in image.notes:                   # after the attack: a bad option gives one line, nothing before it
        print(f"note: {note}", file=sys.stderr)
    reloaded = None
    if args.save_adversarial:
        reloaded = _save_adversarial(result, model, args.save_adversarial)
    if args.json:
        data = result.to_json()
        data.update(data.pop("images")[0])                 # one image: its result beside the settings
        data.update(image=image.source, image_notes=image.notes)
        if reloaded is not None:
            data["saved_adversarial"] = reloaded
        emit_json(data, "-")
    else:
        _print_attack(result, image.source)
        if reloaded is not None:
            verdict = "still fools the model" if reloaded["success"] else "no longer fools the model"
            print(f"reloaded {args.save_adversarial}: {reloaded['top'][0]['name']} "
                  f"({reloaded['top'][0]['probability']:.2%}), {verdict}"
                  + ("" if reloaded["identical"] else " (the file's pixels differ from the 8-bit adversarial)"))
    aim = (f"target {result.classes[result.target[0]]}" if result.targeted
           else f"away from {result.classes[result.labels[0]]}")
    title = (f"{model_info(model).name}: {result.method.upper()} {_norm_text(result.norm)} "
             f"eps {_eps_text(result.eps, result.norm)}, {aim}")
    save(attack_figure(result, title=title), args.output, model)
    return 0


def _save_adversarial(result, model, path: str) -> dict:
    """Write the 8-bit adversarial as a lossless image, read it back as a user
    would and ask the model again."""
    import numpy as np

    from ..plots.adversarial import save_adversarial  # matplotlib: heavy, loaded with the first figure

    save_adversarial(result, path)
    pixels = result.rounded[0]
    print(f"wrote {path}", file=sys.stderr)
    again = load_image(path, model)
    top = predict(model, again.x[None])[0]
    goal = result.target[0] if result.targeted else None
    fooled = top[0].index == goal if goal is not None else top[0].index != int(result.labels[0])
    return {"path": str(path), "identical": bool(np.array_equal(again.pixels, pixels)), "success": bool(fooled),
            "top": [p._asdict() for p in top]}


def _print_attack(result, source: str) -> None:
    i = 0
    settings = f"{result.method.upper()} {_norm_text(result.norm)} eps {_eps_text(result.eps, result.norm)}"
    if result.method == "pgd":
        settings += f", {result.steps} steps of {result.step_size:.4g}"
    elif result.method == "cw":
        settings += f", {result.steps} Adam steps per constant"
    aim = (f"targeted to {result.classes[result.target[i]]} [{result.target[i]}]" if result.targeted
           else f"untargeted, away from {result.classes[result.labels[i]]} [{result.labels[i]}]")
    print(f"{source}: {result.model}, {settings}, {aim}")
    orig, adv, rounded = (result.top(w)[i] for w in ("original", "adversarial", "rounded"))
    def cell(p):
        return f"{p.probability:7.2%}  {p.name} [{p.index}]"
    width = max(len(cell(p)) for p in (*orig, *adv)) + 2
    print(f"  {'original':<{width}}{'adversarial':<{width}}8-bit adversarial")
    for o, a, r in zip(orig, adv, rounded):
        print(f"  {cell(o):<{width}}{cell(a):<{width}}{cell(r)}")
    outcome = (f"success after {result.steps_used[i]} step(s)" if result.success[i]
               else f"no success in {result.steps_used[i]} step(s)")
    print(f"{outcome}; perturbation L-inf {result.linf[i]:.4f} (= {result.linf[i] * 255:.1f}/255), "
          f"L2 {result.l2[i]:.4f}; {result.seconds:.2f} s")
    if result.success[i]:
        print("8-bit image: " + ("still fools the model" if result.rounded_success[i]
                                 else "rounding to 8 bits undoes the attack (" + {
                                     "cw": "raise --confidence", "deepfool": "raise --overshoot"}.get(
                                     result.method, "raise --eps, or drop --early-stop") + ")"))
    for note in result.notes:
        if "8-bit" not in note:
            print(f"note: {note}", file=sys.stderr)


def cmd_robustness(args) -> int:
    from ..plots.adversarial import robustness_figure  # matplotlib: heavy, loaded with the first figure

    methods = [m.strip().lower() for m in args.method.split(",") if m.strip()]
    if not methods:
        raise CnnvizError("--method needs at least one of fgsm, pgd, cw, deepfool")

    for method in methods:
        _check_method(method, args.norm)
    eps = parse_eps_list(args.eps) if args.eps is not None else None
    if args.n is not None and args.n < 1:
        raise CnnvizError(f"--n must be at least 1 (got {args.n})")
    if not args.output and not args.json:
        raise CnnvizError("nothing to write: give -o FIGURE.png, --json, or both")
    curves = []
    for spec in args.model:
        model = open_model(argparse.Namespace(**{**vars(args), "model": spec}))
        for method in methods:
            steps = None if method == "fgsm" else args.steps           # --steps is for the iterative methods
            curve = robustness(model, method=method, eps=eps, norm=args.norm, steps=steps,
                               step_size=args.step_size, target=args.target, seed=args.seed, dataset=args.dataset,
                               n=args.n, batch_size=args.batch_size, progress=ProgressBar(),
                               **({"early_stop": True} if args.early_stop and method == "pgd" else {}))
            curves.append(curve)
            if not args.json:
                _print_curve(curve)
    if args.json:
        emit_json([c.to_json() for c in curves], "-")
    if args.output:
        save(robustness_figure(curves, show_8bit=args.show_8bit), args.output)
    return 0


def _print_curve(curve) -> None:
    from ..plots.adversarial import eps_labels  # matplotlib: heavy, loaded with the first figure

    steps = f", {curve.steps} steps" if curve.method in ("pgd", "cw", "deepfool") else ""
    aim = f", target {curve.target}" if curve.targeted else ""
    print(f"{curve.label}: {curve.n} {curve.dataset or ''} test images{steps}{aim}, seed {curve.seed}, "
          f"{curve.seconds.sum():.1f} s" + (f"; median fooling {_norm_text(curve.norm)} {curve.median_norm:.4f}"
                                           if curve.median_norm is not None else ""))
    fooled = "sent to target" if curve.targeted else "fooled"
    print(f"  {'eps':<10} {'accuracy':>9} {'8-bit':>9} {fooled:>15}")
    for label, a, q, s in zip(eps_labels(curve.eps, curve.norm), curve.accuracy, curve.accuracy_8bit,
                              curve.success_rate):
        print(f"  {label:<10} {a:>9.2%} {q:>9.2%} {s:>15.2%}")


def register(sub, model_opts) -> None:
    """Add this family's sub-commands to the ``cnnviz`` parser."""
    methods = "fgsm (one step), pgd (projected gradient descent, random start), cw (Carlini-Wagner L2), " \
              "deepfool (minimal perturbation)"
    p = sub.add_parser("attack", help="adversarial example for an image (FGSM, PGD, Carlini-Wagner, DeepFool)",
                       parents=[model_opts],
                       description="Turn a correctly classified image into a wrong (or a chosen) class with a small "
                                   "perturbation computed from the gradients. Works on [0, 1] pixels before the "
                                   "model's preprocessing, so the result is a real image.")
    p.add_argument("image", help="an image file, or skimage:chelsea etc.")
    p.add_argument("--model", "-m", required=True, help=MODEL_HELP)
    p.add_argument("--method", choices=("fgsm", "pgd", "cw", "deepfool"), default="pgd",
                   help=methods + " (default pgd)")
    p.add_argument("--eps", help="budget in [0, 1] pixel units, e.g. 0.3 or 8/255 (default: L-inf 0.3 for MNIST, "
                                 "8/255 otherwise; none for cw and deepfool, where it is a cap)")
    p.add_argument("--norm", choices=("inf", "2"), default=None,
                   help="L-infinity or L2 budget (default inf; 2 for cw and deepfool)")
    p.add_argument("--steps", type=positive_int,
                   help="pgd steps (default 40), cw steps per constant (100), deepfool at most (50)")
    p.add_argument("--step-size", type=positive_float, help="pgd step (default 2.5 * eps / steps)")
    p.add_argument("--target", help="class index or name to reach (e.g. 3, cat, ostrich); default: any wrong class")
    p.add_argument("--label", help="the image's true class (default: what the model predicts)")
    p.add_argument("--early-stop", action="store_true", help="pgd: stop once the image fools the model "
                                                             "(smaller margin; 8-bit rounding may undo it)")
    p.add_argument("--confidence", type=nonnegative_float, default=0.0,
                   help="cw: logit margin the adversarial must reach (default 0; larger survives 8-bit rounding)")
    p.add_argument("--overshoot", type=nonnegative_float, default=0.02,
                   help="deepfool: step past the boundary (default 0.02)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random start (default 0)")
    p.add_argument("-o", "--output", type=figure_output, required=True,
                   help="figure: original | amplified perturbation | adversarial")
    p.add_argument("--save-adversarial", metavar="PNG", type=data_output,
                   help="also write the adversarial image (8-bit, lossless) "
                                                             "and check that the reloaded file still fools the model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_with_norm(cmd_attack))

    p = sub.add_parser("robustness", help="accuracy under attack against the budget on a test set",
                       parents=[model_opts],
                       description="Attack the first N test images at each budget and plot accuracy against eps; "
                                   "give several models (and methods) to compare them in one figure.")
    p.add_argument("model", nargs="+", help=MODEL_HELP + " (several to compare)")
    p.add_argument("--method", default="pgd", help="fgsm, pgd, cw, deepfool, or several comma-separated (default pgd)")
    p.add_argument("--eps", help="budgets, comma-separated, e.g. 0,0.05,0.1,0.2,0.3 or 0,2/255,4/255,8/255 "
                                 "(default: a grid for the model's dataset)")
    p.add_argument("--norm", choices=("inf", "2"), default=None,
                   help="L-infinity or L2 budget (default inf; 2 for cw and deepfool)")
    p.add_argument("--steps", type=positive_int, help="pgd steps (default 40)")
    p.add_argument("--step-size", type=positive_float, help="pgd step (default 2.5 * eps / steps)")
    p.add_argument("--target", help="targeted attack to this class (its images are skipped), or 'random'")
    p.add_argument("--n", type=positive_int, default=1000, help="test images (the first N; of a folder: a "
                                                                "class-balanced sample of N; default 1000)")
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's)")
    p.add_argument("--batch-size", type=positive_int, help="images per batch (default: from the input size)")
    p.add_argument("--early-stop", action="store_true",
                   help="pgd: stop each image once fooled (same accuracy, faster; weaker 8-bit adversarials)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--show-8bit", action="store_true", help="also plot accuracy on the 8-bit rounded adversarials")
    p.add_argument("-o", "--output", type=figure_output, help="figure: accuracy against eps (needed unless --json)")
    p.add_argument("--json", action="store_true", help="print the curves as JSON")
    p.set_defaults(func=_with_norm(cmd_robustness))


def _with_norm(command):
    """Fill the default norm: L2 for the minimal-perturbation attacks (cw,
    deepfool), L-infinity otherwise."""
    def run(args):
        if args.norm is None:
            methods = {m.strip().lower() for m in str(args.method).split(",") if m.strip()}
            args.norm = "2" if methods and methods <= {"cw", "deepfool"} else "inf"
        return command(args)

    run.__name__ = command.__name__
    return run
