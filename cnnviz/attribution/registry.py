"""Every attribution method declared once (with :mod:`cnnviz.common.declare`):
its name, function, options (type, default, meaning, allowed values) and what
its map's values mean. ``explain``, the command line's ``--option`` and
``--help``, and the desktop app's option editors all read these declarations.

Methods: saliency, gradient, smoothgrad, gradient_x_input,
integrated_gradients, guided_backprop, deconvnet, gradcam, gradcam++,
guided_gradcam, scorecam, occlusion, rise, lime; and craft, whose maps say
where each CRAFT concept of the class is (it needs the class's images, so
``METHODS`` and "all" leave it out; ``CONCEPT_METHODS`` names it). A
declaration also says what the faces need to know without naming methods:
whether it is slow, whether it takes a layer (an option ``layer``), and which
class score it explains.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import numpy as np

from ..common.declare import Family, Method, Option
from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, stage
from ..common.validate import api
from ..concepts.maps import craft_maps
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
from .rise import rise
from .scorecam import scorecam

MAX_BATCH = 4096          # images per model call, for any method
_BATCH = Option("batch_size", int, None, "images per model call (default: from the input and the model's layer sizes)",
                optional=True, minimum=1, maximum=MAX_BATCH, engine=True)
_LAYER = Option("layer", str, None, "the convolution layer to explain at (default: the last spatial layer)",
                optional=True)
_LOGIT = "logit"             # what the gradient and CAM methods explain: the pre-softmax class score
_SEED = Option("seed", int, 0, "random seed (results repeat for the same seed)")
_SCORE = Option("score", str, "probability", "the class score measured: the probability, or the pre-softmax logit "
                "(the probability saturates on confident predictions)", choices=SCORES)

_DECLARED = (
    Method("saliency", "Saliency", saliency, (_BATCH,), values="|gradient| of the class score",
           aliases=("vanilla",), explains=_LOGIT),
    Method("gradient", "Gradient (signed)", saliency, (_BATCH,), values="gradient of the class score",
           fixed={"signed": True}, explains=_LOGIT),
    Method("smoothgrad", "SmoothGrad", smoothgrad, (
        Option("samples", int, 25, "noisy copies averaged", minimum=1, maximum=10_000),
        Option("noise", float, 0.15, "noise standard deviation, as a fraction of the input range", minimum=0),
        _SEED, _BATCH), values="|mean gradient| over noisy copies", explains=_LOGIT, cost=25),
    Method("gradient_x_input", "Gradient × input", gradient_x_input, (_BATCH,), values="gradient × input",
           aliases=("gxi", "input_x_gradient"), explains=_LOGIT),
    Method("integrated_gradients", "Integrated Gradients", integrated_gradients, (
        Option("baseline", str, "black", "the reference image the path starts from", choices=BASELINES),
        Option("steps", int, None, "path intervals, trapezoid rule (default: from 32, doubled until "
               "completeness holds within the tolerance, at most 512)", optional=True, minimum=1,
               maximum=10_000),
        Option("tolerance", float, 0.01, "completeness error allowed when steps are chosen, relative "
               "to the score difference", minimum=0),
        _BATCH), values="share of the score change (sums to it)", aliases=("ig",), explains=_LOGIT, cost=32),
    Method("guided_backprop", "Guided backprop", guided_backprop, (_BATCH,), values="guided gradient",
           aliases=("guided",), explains=_LOGIT),
    Method("deconvnet", "Deconvnet", deconvnet, (_BATCH,), values="deconvnet signal", explains=_LOGIT),
    Method("gradcam", "Grad-CAM", gradcam, (_LAYER, _BATCH), values="weighted activations of the layer",
           explains=_LOGIT),
    Method("gradcam++", "Grad-CAM++", gradcam, (_LAYER, _BATCH), values="weighted activations of the layer",
           fixed={"plus": True}, aliases=("gradcampp", "gradcam_plus_plus"), explains=_LOGIT),
    Method("guided_gradcam", "Guided Grad-CAM", guided_gradcam, (_LAYER, _BATCH),
           values="guided gradient × Grad-CAM", explains=_LOGIT, cost=2),
    Method("scorecam", "Score-CAM", scorecam, (
        _LAYER,
        Option("max_n", int, None, "Faster Score-CAM: only the N channels whose activations vary most "
               "(default: every channel)", optional=True, minimum=1),
        _SCORE,
        _BATCH), values="score-weighted activations of the layer", aliases=("score_cam",), slow=True, cost=100),
    Method("occlusion", "Occlusion", occlusion, (
        Option("patch", int, None, "side of the square covered, in pixels (default: from the image size)",
               optional=True, minimum=1),
        Option("stride", int, None, "step between patches, in pixels (default: half the patch)",
               optional=True, minimum=1),
        Option("fill", str, "grey", "what covers the patch", choices=FILLS),
        _SCORE,
        _BATCH), values="drop in the class score when covered", slow=True, cost=200),
    Method("rise", "RISE", rise, (
        Option("n_masks", int, 4000, "random masks averaged", minimum=1, maximum=100_000),
        Option("cells", int, 7, "the masks' grid: cells per side, upsampled to the image", minimum=1),
        Option("keep", float, 0.5, "probability that a cell is kept (not masked)", minimum=0, maximum=1),
        Option("fill", str, "zero", "what masked pixels show", choices=FILLS),
        _SCORE,
        _SEED,
        _BATCH), values="mean class score of the masks keeping the pixel", slow=True, cost=4000),
    Method("lime", "LIME", lime, (
        Option("samples", int, 1000, "perturbed images LIME fits on", minimum=1, maximum=100_000),
        Option("segmentation", str, "quickshift", "superpixel algorithm", choices=SEGMENTATIONS),
        Option("segments", int, 50, "superpixels wanted (kept near this number)", minimum=2,
               maximum=10_000),
        Option("features", int, 5, "superpixels marked as the explanation", minimum=1),
        Option("hide_color", float, None, "value of hidden superpixels (default: each superpixel's mean)",
               optional=True),
        _SEED,
        _SCORE,
        _BATCH),
        values="weight of the superpixel in LIME's linear fit", slow=True, cost=1000),
    Method("craft", "CRAFT concepts", craft_maps, (
        Option("layer", str, None, "the layer the concepts live at, with non-negative activations (default: the "
               "last spatial layer)", optional=True),
        Option("k", int, 10, "concepts of the class", minimum=1, maximum=1000),
        Option("dataset", str, None, "the class's images: mnist, cifar10 or an image folder (default: the "
               "model's dataset)", optional=True),
        Option("limit", int, 100, "a seeded sample of at most N of the class's images", minimum=1),
        Option("patch", int, None, "crop side in pixels (default: 2/7 of the input side)", optional=True, minimum=2),
        Option("designs", int, 32, "quasi-random designs per concept of the Sobol importance", minimum=1,
               maximum=10_000),
        Option("seed", int, 0, "seed of the sample and the factorization"),
        Option("compute", bool, True, "find the concepts when they are not cached (false: refuse and say how)"),
        _BATCH), values="concept coefficients weighted by importance", explains=_LOGIT, slow=True, cost=1000,
        concepts=True, tip="the class's CRAFT concepts (cnnviz concepts craft), cached, shown in this image"),
)

FAMILY = Family("method", _DECLARED, help_command="cnnviz explain --help", choose_flag="--methods")
REGISTRY: dict[str, Method] = FAMILY.registry
METHODS = tuple(m.name for m in FAMILY if not m.concepts)       # explain an image by itself: what "all" runs
CONCEPT_METHODS = tuple(m.name for m in FAMILY if m.concepts)
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam", "occlusion")
ALIASES = FAMILY.aliases


def method_name(name: str) -> str:
    """The canonical name of a method (hyphens, case and aliases allowed)."""
    return FAMILY.name(name)


def method(name: str) -> Method:
    """The declaration of a method, by name or alias."""
    return FAMILY.get(name)


def method_label(name: str) -> str:
    """A method's name as people write it (``integrated_gradients`` -> "Integrated Gradients")."""
    return method(name).label


def method_values(name: str) -> str:
    """What the values of a method's maps are, for colour-bar captions."""
    return method(name).values


def explained_score(name: str, params: Optional[dict] = None) -> str:
    """The class score a method's map explains: its ``score`` option's value
    (in ``params``, else its default) when it has one, else the declared one."""
    m = method(name)
    if "score" in m.defaults():
        return (params or {}).get("score") or m.option("score").default
    return m.explains


def methods_help() -> str:
    """Every method's name and aliases, for ``--help``."""
    return FAMILY.names_help()


def method_options(name: str) -> dict:
    """A method's keyword options and their defaults."""
    return method(name).defaults()


def check_options(name: str, options: dict) -> dict:
    """``options`` for method ``name``, each checked and converted, or a
    CnnvizError naming the option and what it takes."""
    return FAMILY.check_options(name, options)


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
    return FAMILY.parse_options(items, methods)


def option_specs(name: str, model=None, engine: bool = False) -> list[Option]:
    """A method's options (Grad-CAM's ``layer`` choices come from ``model``
    when given), for generic editors. Options that change only speed are
    left out unless ``engine``."""
    specs = FAMILY.option_specs(name, engine)
    if model is not None:
        specs = [replace(o, choices=layer_choices(model)) if o.name == "layer" else o for o in specs]
    return specs


def layer_choices(model) -> tuple:
    """The layers a layer option may name: the model's spatial layers, less its input."""
    return tuple(n for n in spatial_layers(model) if type(get_layer(model, n)).__name__ != "InputLayer")


def convert_option(name: str, option: str, text: str):
    """``text`` as a value of ``name``'s ``option`` (empty: None, the
    method's automatic choice, for optional options), or a CnnvizError."""
    return FAMILY.convert_option(name, option, text)


def options_help() -> str:
    """Every method's options with their defaults and meaning, for ``--help``."""
    return FAMILY.options_help()


SUMMARY_EXTRAS = ("completeness_error", "convergence_delta", "steps", "score", "importances")   # per image


def summary(results: dict[str, Attribution]) -> dict:
    """JSON-ready description of each method's run (no arrays)."""
    out = {}
    for name, r in results.items():
        entry = {"params": {k: (v if not isinstance(v, np.ndarray) else "array") for k, v in r.params.items()},
                 "targets": r.targets.tolist(), "seconds": round(r.seconds, 3), "signed": r.signed,
                 "explains": explained_score(name, r.params)}
        for key in SUMMARY_EXTRAS:
            if key in r.extras:
                entry[key] = np.asarray(r.extras[key]).tolist()
        out[name] = entry
    return out


