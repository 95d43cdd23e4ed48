"""The `cnnviz` commands of the attack family (registered by :mod:`cnnviz.cli`):
``attack`` (adversarial examples for one image) and ``robustness`` (accuracy
under attack against the budget on a test set). Attack names, tips, options,
defaults and limits come from the declarations
(:mod:`cnnviz.adversarial.registry`): the most used options have flags of
their own (``--eps``, ``--steps`` ...), every option is reachable with
``--option [ATTACK.]NAME=VALUE``."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..adversarial.base import NORM_NAMES
from ..adversarial.registry import DEFAULT_ATTACK, FAMILY, attack, check_options, declaration
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
    model_leading,
    model_positional,
    open_model,
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
    return NORM_NAMES[norm]


def _methods(text: str) -> list[str]:
    names = [FAMILY.name(m) for m in str(text).split(",") if m.strip()]
    if not names:
        raise CnnvizError(f"--method needs at least one of {', '.join(FAMILY.names)}")
    return names


def _options(args, methods: list[str], flags: tuple) -> dict[str, dict]:
    """Each attack's options from ``--option`` and the option flags; a flag
    goes to every chosen attack that has the option, and is refused when none has."""
    parsed = FAMILY.parse_options(args.option or [], methods)
    for name in flags:
        value = getattr(args, name)
        if value is None:
            continue
        takers = [m for m in methods if name in declaration(m).defaults()]
        if not takers:
            if len(methods) == 1:
                declaration(methods[0]).option(name)          # refused with the attack's own reason
            owners = [a.name for a in FAMILY if name in a.defaults()]
            raise CnnvizError(f"--{name.replace('_', '-')} is not an option of {', '.join(methods)}: only "
                              f"{', '.join(owners)} {'has' if len(owners) == 1 else 'have'} it "
                              "(see `cnnviz attack --help`)")
        for m in takers:
            parsed[m].setdefault(name, value)
    return {m: check_options(m, options) for m, options in parsed.items()}


def _flag_help(name: str) -> str:
    """A flag's help from the declarations of the attacks that have the option."""
    declared = [(a.name, o) for a in FAMILY for o in a.options if o.name == name]
    if len({o.help for _, o in declared}) > 1:
        return "; ".join(f"{a}: {o.help}" + _defaults([(a, o)]) for a, o in declared)
    whose = "" if len(declared) == len(FAMILY.names) else f"{', '.join(a for a, _ in declared)}: "
    return whose + declared[0][1].help + _defaults(declared)


def _defaults(declared: list) -> str:
    """" (default X; A, B Y)": the usual default first (none for flags and automatic choices)."""
    if declared[0][1].kind is bool or declared[0][1].optional:
        return ""
    by_default: dict = {}
    for a, o in declared:
        by_default.setdefault(o.default, []).append(a)
    (usual, _), *others = sorted(by_default.items(), key=lambda item: -len(item[1]))
    return f" (default {usual}" + "".join(f"; {', '.join(names)} {d}" for d, names in others) + ")"


def _add_option_flags(p, flags: tuple) -> None:
    """A flag per declared option in ``flags``, its help from the declarations."""
    for name in flags:
        flag = "--" + name.replace("_", "-")
        kind = next(o.kind for a in FAMILY for o in a.options if o.name == name)
        if kind is bool:
            p.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=_flag_help(name))
        else:
            p.add_argument(flag, dest=name, help=_flag_help(name))
    p.add_argument("--option", action="append", metavar="[ATTACK.]NAME=VALUE",
                   help="any attack option, e.g. cw.binary_steps=4, pgd.random_start=false (repeatable)")


def _methods_help() -> str:
    return ", ".join(f"{a.name} ({a.tip})" for a in FAMILY)


def _options_epilog() -> str:
    return "attack options (--option ATTACK.NAME=VALUE; default in place of VALUE):\n" + FAMILY.options_help()


def cmd_attack(args) -> int:
    from ..plots.adversarial import LOSSLESS_SUFFIXES, attack_figure  # matplotlib: heavy, loaded with the first figure

    if args.save_adversarial and Path(args.save_adversarial).suffix.lower() not in LOSSLESS_SUFFIXES:
        raise CnnvizError(f"--save-adversarial {args.save_adversarial}: use a lossless format "
                          f"({', '.join(LOSSLESS_SUFFIXES)}); JPEG compression would destroy the perturbation")
    if args.eps is not None:
        args.eps = parse_eps(args.eps)
    method = FAMILY.name(args.method)
    options = _options(args, [method], ("eps", *ATTACK_FLAGS))[method]
    model = open_model(args)
    image = load_image(args.image, model)
    result = attack(model, image.pixels, args.target, method=method, labels=args.label, progress=ProgressBar(),
                    **options)
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
    title = (f"{model_info(model).name}: {declaration(result.method).label} {_norm_text(result.norm)} "
             f"eps {_eps_text(result.eps, result.norm)}, {aim}")
    save(attack_figure(result, title=title), args.output, model)
    return 0


def _save_adversarial(result, model, path: str) -> dict:
    """Write the 8-bit adversarial as a lossless image, read it back as a user
    would and ask the model again."""
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
    spec = declaration(result.method)
    settings = f"{spec.label} {_norm_text(result.norm)} eps {_eps_text(result.eps, result.norm)}, {result.settings}"
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
                                 else f"rounding to 8 bits undoes the attack ({spec.rounding_tip})"))
    for note in result.notes:
        if "8-bit" not in note:
            print(f"note: {note}", file=sys.stderr)


def cmd_robustness(args) -> int:
    from ..plots.adversarial import robustness_figure  # matplotlib: heavy, loaded with the first figure

    methods = _methods(args.method)
    options = _options(args, methods, ROBUSTNESS_FLAGS)
    eps = parse_eps_list(args.eps) if args.eps is not None else None
    if args.n is not None and args.n < 1:
        raise CnnvizError(f"--n must be at least 1 (got {args.n})")
    if not args.output and not args.json:
        raise CnnvizError("nothing to write: give -o FIGURE.png, --json, or both")
    curves = []
    for spec in args.model:
        model = open_model(argparse.Namespace(**{**vars(args), "model": spec}))
        for method in methods:
            curve = robustness(model, method=method, eps=eps, target=args.target, dataset=args.dataset, n=args.n,
                               progress=ProgressBar(), **options[method])
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

    steps = f", {curve.steps} steps" if curve.steps > 1 else ""
    aim = f", target {curve.target}" if curve.targeted else ""
    print(f"{curve.label}: {curve.n} {curve.dataset or ''} test images{steps}{aim}, seed {curve.seed}, "
          f"{curve.seconds.sum():.1f} s" + (f"; median fooling {_norm_text(curve.norm)} {curve.median_norm:.4f}"
                                           if curve.median_norm is not None else ""))
    fooled = "sent to target" if curve.targeted else "fooled"
    print(f"  {'eps':<10} {'accuracy':>9} {'8-bit':>9} {fooled:>15}")
    for label, a, q, s in zip(eps_labels(curve.eps, curve.norm), curve.accuracy, curve.accuracy_8bit,
                              curve.success_rate):
        print(f"  {label:<10} {a:>9.2%} {q:>9.2%} {s:>15.2%}")


ATTACK_FLAGS = ("norm", "steps", "step_size", "early_stop", "confidence", "overshoot", "seed")
ROBUSTNESS_FLAGS = ("norm", "steps", "step_size", "batch_size", "early_stop", "seed")


def register(sub, model_opts) -> None:
    """Add this family's sub-commands to the ``cnnviz`` parser."""
    p = sub.add_parser("attack", help="adversarial example for an image (FGSM, PGD, Carlini-Wagner, DeepFool)",
                       parents=[model_opts], epilog=_options_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Turn a correctly classified image into a wrong (or a chosen) class with a small "
                                   "perturbation computed from the gradients. Works on [0, 1] pixels before the "
                                   "model's preprocessing, so the result is a real image.")
    p.add_argument("image", nargs="+", metavar="[MODEL] IMAGE", help="an image file, or skimage:chelsea etc.")
    model_leading(p, "image")
    p.add_argument("--method", choices=FAMILY.names, default=DEFAULT_ATTACK,
                   help=f"{_methods_help()} (default {DEFAULT_ATTACK})")
    p.add_argument("--eps", help="budget in [0, 1] pixel units, e.g. 0.3 or 8/255 (default: L-inf 0.3 for MNIST, "
                                 "8/255 otherwise; none for cw and deepfool, where it is a cap)")
    _add_option_flags(p, ATTACK_FLAGS)
    p.add_argument("--target", help="class index or name to reach (e.g. 3, cat, ostrich); default: any wrong class")
    p.add_argument("--label", help="the image's true class (default: what the model predicts)")
    p.add_argument("-o", "--output", type=figure_output, required=True,
                   help="figure: original | amplified perturbation | adversarial")
    p.add_argument("--save-adversarial", metavar="PNG", type=data_output,
                   help="also write the adversarial image (8-bit, lossless) and check that the reloaded file still "
                        "fools the model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("robustness", help="accuracy under attack against the budget on a test set",
                       parents=[model_opts], epilog=_options_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Attack the first N test images at each budget and plot accuracy against eps; "
                                   "give several models (and methods) to compare them in one figure.")
    model_positional(p, many=True, help=MODEL_HELP + ", several to compare")
    p.add_argument("--method", default=DEFAULT_ATTACK,
                   help=f"{', '.join(FAMILY.names)}, or several comma-separated (default {DEFAULT_ATTACK})")
    p.add_argument("--eps", help="budgets, comma-separated, e.g. 0,0.05,0.1,0.2,0.3 or 0,2/255,4/255,8/255 "
                                 "(default: a grid for the model's dataset)")
    _add_option_flags(p, ROBUSTNESS_FLAGS)
    p.add_argument("--target", help="targeted attack to this class (its images are skipped), or 'random'")
    p.add_argument("--n", type=positive_int, default=1000, help="test images (the first N; of a folder: a "
                                                                "class-balanced sample of N; default 1000)")
    p.add_argument("--dataset", help="mnist, cifar10 or an image folder (default: the model's)")
    p.add_argument("--show-8bit", action="store_true", help="also plot accuracy on the 8-bit rounded adversarials")
    p.add_argument("-o", "--output", type=figure_output, help="figure: accuracy against eps (needed unless --json)")
    p.add_argument("--json", action="store_true", help="print the curves as JSON")
    p.set_defaults(func=cmd_robustness)
