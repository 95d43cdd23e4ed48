"""All attribution methods by name, with one call shape, and ``explain``
which runs several of them on the same images and targets.

Methods: saliency, gradient, smoothgrad, gradient_x_input,
integrated_gradients, guided_backprop, deconvnet, gradcam, gradcam++,
guided_gradcam, occlusion, lime.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from .attribution import Attribution, check_images, resolve_targets
from .errors import CnnvizError
from .progress import CancelToken, ProgressFn, stage


def _methods() -> dict[str, Callable]:
    from . import cam, gradients, lime_explain, occlusion

    return {
        "saliency": gradients.saliency,
        "gradient": lambda model, images, target=None, **kw: gradients.saliency(model, images, target, signed=True, **kw),
        "smoothgrad": gradients.smoothgrad,
        "gradient_x_input": gradients.gradient_x_input,
        "integrated_gradients": gradients.integrated_gradients,
        "guided_backprop": gradients.guided_backprop,
        "deconvnet": gradients.deconvnet,
        "gradcam": cam.gradcam,
        "gradcam++": cam.gradcam_plus_plus,
        "guided_gradcam": cam.guided_gradcam,
        "occlusion": occlusion.occlusion,
        "lime": lime_explain.lime,
    }


METHODS = ("saliency", "gradient", "smoothgrad", "gradient_x_input", "integrated_gradients", "guided_backprop",
           "deconvnet", "gradcam", "gradcam++", "guided_gradcam", "occlusion", "lime")
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam", "occlusion")
ALIASES = {"ig": "integrated_gradients", "gxi": "gradient_x_input", "input_x_gradient": "gradient_x_input",
           "guided": "guided_backprop", "gradcampp": "gradcam++", "gradcam_plus_plus": "gradcam++",
           "vanilla": "saliency"}


def method_name(name: str) -> str:
    """The canonical name of a method (hyphens, case and aliases allowed)."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in METHODS:
        raise CnnvizError(f"unknown method {name!r}: use {', '.join(METHODS)}")
    return key


def _parameters(name: str) -> list:
    fn = _function(method_name(name))
    if fn.__name__ == "<lambda>":
        fn = _function("saliency")
    elif fn.__name__ == "gradcam_plus_plus":          # passes its options on to gradcam
        fn = _function("gradcam")
    skip = {"model", "images", "target", "progress", "cancel", "signed", "plus"}
    return [p for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY and p.name not in skip]


def method_options(name: str) -> dict:
    """A method's keyword options and their defaults."""
    return {p.name: p.default for p in _parameters(name)}


def _function(name: str) -> Callable:
    return _methods()[name]


def explain_one(model, images, method: str, target=None, *, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None, **options) -> Attribution:
    """One method by name: ``method(model, images, target, **options)``."""
    name = method_name(method)
    allowed = method_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise CnnvizError(f"{name} has no option {', '.join(unknown)}: its options are {', '.join(allowed) or 'none'}")
    return _function(name)(model, images, target, progress=progress, cancel=cancel, **options)


def explain(model, images, methods: Sequence[str] = DEFAULT_METHODS, target=None, *,
            options: Optional[dict] = None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelToken] = None) -> dict[str, Attribution]:
    """Run ``methods`` on the same images and targets (default: each image's
    predicted class). ``options`` maps a method name to its keyword options.
    Returns ``{method: Attribution}`` in the order given."""
    x = check_images(model, images)
    targets = resolve_targets(model, x, target)
    names = [method_name(m) for m in methods]
    options = {method_name(k): v for k, v in (options or {}).items()}
    results = {}
    for k, name in enumerate(names):
        results[name] = explain_one(model, x, name, targets, progress=stage(progress, k, len(names), name),
                                    cancel=cancel, **options.get(name, {}))
    if progress is not None:
        progress(len(names), len(names), "done")
    return results


def parse_options(items: Sequence[str], methods: Sequence[str]) -> dict:
    """``["occlusion.patch=8", "samples=50"]`` to ``{method: {option: value}}``.
    An option without a method prefix goes to every listed method that has it."""
    names = [method_name(m) for m in methods]
    parsed: dict = {name: {} for name in names}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise CnnvizError(f"--option {item!r}: write NAME=VALUE or METHOD.NAME=VALUE, e.g. occlusion.patch=8")
        method, _, option = key.rpartition(".")
        targets = [method_name(method)] if method else [n for n in names if option in method_options(n)]
        if not targets:
            raise CnnvizError(f"no chosen method has an option {option!r}")
        for name in targets:
            params = {p.name: p for p in _parameters(name)}
            if option not in params:
                raise CnnvizError(f"{name} has no option {option!r}: its options are {', '.join(params)}")
            parsed.setdefault(name, {})[option] = _convert(raw, params[option], f"{name}.{option}")
    return parsed


def _convert(raw: str, param, label: str):
    """A command-line value in the option's type (from its default, or its
    annotation when the default is None)."""
    default, annotation = param.default, str(param.annotation)
    kind = type(default) if default is not None else next(
        (t for t in (bool, int, float) if t.__name__ in annotation), str)
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        return kind(raw)
    except ValueError:
        raise CnnvizError(f"{label}={raw!r} is not a valid {kind.__name__}: give e.g. {label}={default or 1}") from None


def summary(results: dict[str, Attribution]) -> dict:
    """JSON-ready description of each method's run (no arrays)."""
    out = {}
    for name, r in results.items():
        entry = {"params": {k: (v if not isinstance(v, np.ndarray) else "array") for k, v in r.params.items()},
                 "targets": r.targets.tolist(), "seconds": round(r.seconds, 3), "signed": r.signed}
        for key in ("completeness_error", "score"):
            if key in r.extras:
                entry[key] = np.asarray(r.extras[key]).tolist()
        out[name] = entry
    return out


LABELS = {"saliency": "Saliency", "gradient": "Gradient (signed)", "smoothgrad": "SmoothGrad",
          "gradient_x_input": "Gradient × input", "integrated_gradients": "Integrated Gradients",
          "guided_backprop": "Guided backprop", "deconvnet": "Deconvnet", "gradcam": "Grad-CAM",
          "gradcam++": "Grad-CAM++", "guided_gradcam": "Guided Grad-CAM", "occlusion": "Occlusion", "lime": "LIME"}
VALUES = {"saliency": "|gradient| of the class score", "gradient": "gradient of the class score",
          "smoothgrad": "mean |gradient| over noisy copies", "gradient_x_input": "gradient × input",
          "integrated_gradients": "share of the score change (sums to it)",
          "guided_backprop": "guided gradient", "deconvnet": "deconvnet signal",
          "gradcam": "weighted activations of the layer", "gradcam++": "weighted activations of the layer",
          "guided_gradcam": "guided gradient × Grad-CAM", "occlusion": "drop in the class probability when covered",
          "lime": "weight of the superpixel in LIME's linear fit"}
ENGINE_OPTIONS = ("batch_size",)      # options that change speed and memory, never the map


def method_label(name: str) -> str:
    """A method's name as people write it (``integrated_gradients`` -> "Integrated Gradients")."""
    return LABELS[method_name(name)]


def method_values(name: str) -> str:
    """What the values of a method's maps are, for colour-bar captions."""
    return VALUES[method_name(name)]


@dataclass(frozen=True)
class OptionSpec:
    """One keyword option of a method, enough to build an editor for it."""

    name: str
    default: object
    kind: type                   # bool, int, float or str
    optional: bool               # None allowed (the method then chooses, e.g. a patch size from the image)
    choices: tuple = ()          # the allowed values when they form a fixed set


def _choices(option: str, model) -> tuple:
    from .gradients import BASELINES
    from .lime_explain import SEGMENTATIONS
    from .occlusion import FILLS

    if option == "layer" and model is not None:
        from .activations import spatial_layers
        from .graph import get_layer

        return tuple(n for n in spatial_layers(model) if type(get_layer(model, n)).__name__ != "InputLayer")
    return {"baseline": BASELINES, "fill": FILLS, "segmentation": SEGMENTATIONS}.get(option, ())


def option_specs(name: str, model=None, engine: bool = False) -> list[OptionSpec]:
    """A method's options with their defaults, types and choices (Grad-CAM's
    ``layer`` choices come from ``model`` when given), for generic editors.
    Options in ``ENGINE_OPTIONS`` (speed only) are left out unless ``engine``."""
    specs = []
    for p in _parameters(name):
        if p.name in ENGINE_OPTIONS and not engine:
            continue
        default, annotation = p.default, str(p.annotation)
        kind = type(default) if default is not None else next(
            (t for t in (bool, int, float) if t.__name__ in annotation), str)
        specs.append(OptionSpec(p.name, default, kind, default is None or "Optional" in annotation,
                                _choices(p.name, model)))
    return specs


def convert_option(name: str, option: str, text: str):
    """``text`` as a value of ``name``'s ``option`` (empty: None, the
    method's automatic choice, for optional options), or a CnnvizError."""
    spec = next((s for s in option_specs(name, engine=True) if s.name == option), None)
    if spec is None:
        raise CnnvizError(f"{method_name(name)} has no option {option!r}")
    if not text.strip() and spec.optional:
        return None
    label = f"{method_name(name)}.{option}"
    return parse_options([f"{label}={text.strip()}"], [name])[method_name(name)][option]
