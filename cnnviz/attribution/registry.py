"""Every attribution method declared once: its name, function, options (type,
default, meaning, allowed values) and what its map's values mean. ``explain``,
the command line's ``--option`` and ``--help``, and the desktop app's option
editors all read these declarations.

Methods: saliency, gradient, smoothgrad, gradient_x_input,
integrated_gradients, guided_backprop, deconvnet, gradcam, gradcam++,
guided_gradcam, occlusion, lime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, stage
from ..common.validate import api
from ..inside.activations import spatial_layers
from ..models.graph import get_layer
from .base import Attribution, check_images, resolve_targets
from .cam import gradcam, guided_gradcam
from .gradients import (
    BASELINES,
    deconvnet,
    gradient_x_input,
    guided_backprop,
    integrated_gradients,
    saliency,
    smoothgrad,
)
from .lime import SEGMENTATIONS, lime
from .occlusion import FILLS, SCORES, occlusion


@dataclass(frozen=True)
class Option:
    """One keyword option of a method: enough to parse it, check it and build an editor for it."""

    name: str
    kind: type                   # bool, int, float or str
    default: object
    help: str
    optional: bool = False       # None allowed: the method then chooses (e.g. a patch size from the image)
    choices: tuple = ()          # the allowed values when they form a fixed set
    minimum: Optional[float] = None   # smallest allowed number
    engine: bool = False         # changes speed and memory only, never the map

    def convert(self, value, label: str):
        """``value`` (a Python value or command-line text) checked and in this
        option's type, or a CnnvizError naming ``label`` and the fix."""
        if value is None or (isinstance(value, str) and not value.strip() and self.optional):
            if self.optional:
                return None
            raise CnnvizError(f"{label} needs a value: e.g. {label}={self.default}")
        try:
            converted = _as_kind(value, self.kind)
        except (TypeError, ValueError):
            raise CnnvizError(f"{label}={value!r} is not a valid {self.kind.__name__}: "
                              f"give e.g. {label}={self.default if self.default is not None else 1}") from None
        if self.choices and converted not in self.choices:
            raise CnnvizError(f"{label}={converted!r} is not one of {', '.join(map(str, self.choices))}")
        if self.kind in (int, float):
            if not math.isfinite(converted):
                raise CnnvizError(f"{label}={value!r} is not a finite number")
            if self.minimum is not None and converted < self.minimum:
                raise CnnvizError(f"{label}={converted} is too small: use {self.minimum:g} or more")
        return converted


def _as_kind(value, kind: type):
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return text in ("true", "1", "yes")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if kind in (int, float) and isinstance(value, (bool, np.bool_)):
        raise ValueError(value)
    return kind(value.strip() if isinstance(value, str) else value)


@dataclass(frozen=True)
class Method:
    """One attribution method: ``function(model, images, target, **fixed, **options)``."""

    name: str
    label: str                   # as people write it, for titles
    function: Callable
    values: str                  # what the map's values are, for colour-bar captions
    options: tuple = ()
    fixed: dict = field(default_factory=dict)   # keyword arguments always passed (e.g. signed=True)
    aliases: tuple = ()
    cost: int = 1                # model passes (forward + backward) per image at the default options, roughly:
                                 # what a caller with a time budget (the app's Live) schedules by

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise CnnvizError(f"{self.name} has no option {name!r}: its options are "
                          f"{', '.join(o.name for o in self.options) or 'none'}")


_BATCH = Option("batch_size", int, None, "images per model call (default: chosen from the input size)",
                optional=True, minimum=1, engine=True)
_LAYER = Option("layer", str, None, "the convolution layer to explain at (default: the last spatial layer)",
                optional=True)
_SEED = Option("seed", int, 0, "random seed (results repeat for the same seed)")
_SCORE = Option("score", str, "probability", "the class score measured: the probability, or the pre-softmax logit "
                "(the probability saturates on confident predictions)", choices=SCORES)

_DECLARED = (
    Method("saliency", "Saliency", saliency, "|gradient| of the class score", (_BATCH,),
           aliases=("vanilla",)),
    Method("gradient", "Gradient (signed)", saliency, "gradient of the class score", (_BATCH,),
           fixed={"signed": True}),
    Method("smoothgrad", "SmoothGrad", smoothgrad, "|mean gradient| over noisy copies", (
        Option("samples", int, 25, "noisy copies averaged", minimum=1),
        Option("noise", float, 0.15, "noise standard deviation, as a fraction of the input range", minimum=0),
        _SEED, _BATCH), cost=25),
    Method("gradient_x_input", "Gradient × input", gradient_x_input, "gradient × input", (_BATCH,),
           aliases=("gxi", "input_x_gradient")),
    Method("integrated_gradients", "Integrated Gradients", integrated_gradients,
           "share of the score change (sums to it)", (
               Option("baseline", str, "black", "the reference image the path starts from",
                      choices=BASELINES),
               Option("steps", int, None, "path intervals, trapezoid rule (default: from 32, doubled until "
                      "completeness holds within the tolerance, at most 512)", optional=True, minimum=1),
               Option("tolerance", float, 0.01, "completeness error allowed when steps are chosen, relative "
                      "to the score difference", minimum=0),
               _BATCH), aliases=("ig",), cost=32),
    Method("guided_backprop", "Guided backprop", guided_backprop, "guided gradient", (_BATCH,),
           aliases=("guided",)),
    Method("deconvnet", "Deconvnet", deconvnet, "deconvnet signal", (_BATCH,)),
    Method("gradcam", "Grad-CAM", gradcam, "weighted activations of the layer", (_LAYER, _BATCH)),
    Method("gradcam++", "Grad-CAM++", gradcam, "weighted activations of the layer", (_LAYER, _BATCH),
           fixed={"plus": True}, aliases=("gradcampp", "gradcam_plus_plus")),
    Method("guided_gradcam", "Guided Grad-CAM", guided_gradcam, "guided gradient × Grad-CAM",
           (_LAYER, _BATCH), cost=2),
    Method("occlusion", "Occlusion", occlusion, "drop in the class score when covered", (
        Option("patch", int, None, "side of the square covered, in pixels (default: from the image size)",
               optional=True, minimum=1),
        Option("stride", int, None, "step between patches, in pixels (default: half the patch)",
               optional=True, minimum=1),
        Option("fill", str, "grey", "what covers the patch", choices=FILLS),
        _SCORE,
        _BATCH), cost=200),
    Method("lime", "LIME", lime, "weight of the superpixel in LIME's linear fit", (
        Option("samples", int, 1000, "perturbed images LIME fits on", minimum=1),
        Option("segmentation", str, "quickshift", "superpixel algorithm", choices=SEGMENTATIONS),
        Option("segments", int, 50, "superpixels wanted (kept near this number)", minimum=2),
        Option("features", int, 5, "superpixels marked as the explanation", minimum=1),
        Option("hide_color", float, None, "value of hidden superpixels (default: each superpixel's mean)",
               optional=True),
        _SEED,
        _SCORE,
        Option("batch_size", int, 256, "images per model call", minimum=1, engine=True)), cost=1000),
)

REGISTRY: dict[str, Method] = {m.name: m for m in _DECLARED}
METHODS = tuple(REGISTRY)
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam", "occlusion")
ALIASES = {alias: m.name for m in _DECLARED for alias in m.aliases}


def method_name(name: str) -> str:
    """The canonical name of a method (hyphens, case and aliases allowed)."""
    key = str(name).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        raise CnnvizError(f"unknown method {name!r}: use {', '.join(METHODS)}")
    return key


def method(name: str) -> Method:
    """The declaration of a method, by name or alias."""
    return REGISTRY[method_name(name)]


def method_label(name: str) -> str:
    """A method's name as people write it (``integrated_gradients`` -> "Integrated Gradients")."""
    return method(name).label


def method_values(name: str) -> str:
    """What the values of a method's maps are, for colour-bar captions."""
    return method(name).values


def method_options(name: str) -> dict:
    """A method's keyword options and their defaults."""
    return {o.name: o.default for o in method(name).options}


def check_options(name: str, options: dict) -> dict:
    """``options`` for method ``name``, each checked and converted, or a
    CnnvizError naming the option and what it takes."""
    m = method(name)
    return {key: m.option(key).convert(value, f"{m.name}.{key}") for key, value in options.items()}


@api
def explain_one(model, images, method_: str, target=None, *, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, **options) -> Attribution:
    """One method by name: ``method(model, images, target, **options)``."""
    m = method(method_)
    checked = check_options(m.name, options)
    return m.function(model, images, target, progress=progress, cancel=cancel, **m.fixed, **checked)


@api
def explain(model, images, methods: Sequence[str] = DEFAULT_METHODS, target=None, *,
            options: Optional[dict] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> dict[str, Attribution]:
    """Run ``methods`` on the same images and targets (default: each image's
    predicted class). ``options`` maps a method name to its keyword options.
    Returns ``{method: Attribution}`` in the order given."""
    names = [method_name(m) for m in methods]
    if not names:
        raise CnnvizError(f"no methods given: name at least one of {', '.join(METHODS)}")
    options = {method_name(k): v for k, v in (options or {}).items()}
    ignored = sorted(set(options) - set(names))
    if ignored:
        raise CnnvizError(f"options given for {', '.join(ignored)}, which is not being run: "
                          f"add it to the methods or drop its options")
    for name in names:
        check_options(name, options.get(name, {}))
    x = check_images(model, images)
    targets = resolve_targets(model, x, target)
    results = {}
    for k, name in enumerate(names):
        results[name] = explain_one(model, x, name, targets, progress=stage(progress, k, len(names), name),
                                    cancel=cancel, **options.get(name, {}))
    if progress is not None:
        progress(len(names), len(names), "done")
    return results


def parse_options(items: Sequence[str], methods: Sequence[str]) -> dict:
    """``["patch=8", "samples=50"]`` to ``{method: {option: value}}``.
    An option without a method prefix goes to every listed method that has it;
    one for a method that is not listed is refused."""
    names = [method_name(m) for m in methods]
    parsed: dict = {name: {} for name in names}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise CnnvizError(f"--option {item!r}: write NAME=VALUE or METHOD.NAME=VALUE, e.g. patch=8")
        prefix, _, option = key.strip().rpartition(".")
        if prefix:
            target = method_name(prefix)
            if target not in names:
                raise CnnvizError(f"--option {item!r} is for {target}, which is not being run: "
                                  f"add it to --methods or drop the option")
            targets = [target]
        else:
            targets = [n for n in names if option in method_options(n)]
            if not targets:
                raise CnnvizError(f"no chosen method has an option {option!r}: see `cnnviz explain --help`")
        for name in targets:
            parsed[name][option] = method(name).option(option).convert(raw, f"{name}.{option}")
    return parsed


def option_specs(name: str, model=None, engine: bool = False) -> list[Option]:
    """A method's options (Grad-CAM's ``layer`` choices come from ``model``
    when given), for generic editors. Options that change only speed are
    left out unless ``engine``."""
    specs = [o for o in method(name).options if engine or not o.engine]
    if model is not None:
        specs = [replace(o, choices=_layer_choices(model)) if o.name == "layer" else o for o in specs]
    return specs


def _layer_choices(model) -> tuple:
    return tuple(n for n in spatial_layers(model) if type(get_layer(model, n)).__name__ != "InputLayer")


def convert_option(name: str, option: str, text: str):
    """``text`` as a value of ``name``'s ``option`` (empty: None, the
    method's automatic choice, for optional options), or a CnnvizError."""
    m = method(name)
    return m.option(option).convert(text, f"{m.name}.{option}")


def options_help() -> str:
    """Every method's options with their defaults and meaning, for ``--help``."""
    lines = []
    for m in _DECLARED:
        shown = [o for o in m.options if not o.engine]
        lines.append(f"  {m.name}" + ("" if shown else ": no options"))
        for o in shown:
            value = f"{o.name}={'auto' if o.default is None else o.default}"
            choices = f" ({', '.join(map(str, o.choices))})" if o.choices else ""
            lines.append(f"    {value:<26}{o.help}{choices}")
    return "\n".join(lines)


def summary(results: dict[str, Attribution]) -> dict:
    """JSON-ready description of each method's run (no arrays)."""
    out = {}
    for name, r in results.items():
        entry = {"params": {k: (v if not isinstance(v, np.ndarray) else "array") for k, v in r.params.items()},
                 "targets": r.targets.tolist(), "seconds": round(r.seconds, 3), "signed": r.signed}
        for key in ("completeness_error", "convergence_delta", "steps", "score"):
            if key in r.extras:
                entry[key] = np.asarray(r.extras[key]).tolist()
        out[name] = entry
    return out


