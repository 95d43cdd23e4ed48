"""Every attack declared once (with :mod:`cnnviz.common.declare`): its name,
label, function, typed options (type, default, limits, meaning), the norms
it supports and whether it is a minimal-perturbation attack (eps an optional
cap) or works within a budget. :func:`attack`, ``cnnviz attack`` and
``cnnviz robustness`` (flags and ``--option``, ``--help``) and the desktop
app's attack tab all read these declarations.

Attacks: fgsm, pgd (:mod:`.gradient`), cw (:mod:`.carlini_wagner`),
deepfool (:mod:`.deepfool`); each has the call shape
``function(model, images, target, **options)`` and returns an
:class:`~.base.AttackResult`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common.declare import Family, Method, Option
from ..common.progress import CancelToken, ProgressFn
from ..common.validate import api
from .base import AttackResult, check_norm
from .carlini_wagner import carlini_wagner
from .deepfool import deepfool
from .gradient import fgsm, pgd


@dataclass(frozen=True)
class Attack(Method):
    """An attack's declaration: a :class:`~cnnviz.common.declare.Method` that
    also says whether it finds the smallest perturbation it can (``minimal``:
    eps is an optional cap) and what buys margin against 8-bit rounding."""

    minimal: bool = False
    rounding_tip: str = ""       # what to change when rounding to 8 bits undoes the attack, in option names

    @property
    def norms(self) -> tuple:
        """The norms it supports, its default first."""
        norm = self.option("norm")
        return (norm.default, *(n for n in norm.choices if n != norm.default))


def _norm(default: str, supported: tuple) -> Option:
    return Option("norm", str, default, "the budget's norm: inf (every pixel changes by at most eps) or 2 (the "
                  "change's Euclidean length is at most eps)", choices=supported)


_EPS = Option("eps", float, None, "budget in [0, 1] pixel units, e.g. 8/255 (default: L-inf 0.3 for MNIST, 8/255 "
              "otherwise; L2 2.0 for MNIST, 0.5 for CIFAR-10, 3.0 for larger images; at most 1 for L-inf)",
              optional=True)
_CAP = Option("eps", float, None, "largest perturbation allowed, in [0, 1] pixel units (default: none, the "
              "smallest the attack finds)", optional=True)
_SEED = Option("seed", int, 0, "random seed for random starts and random targets (results repeat for the same seed)",
               minimum=0)
_BATCH = Option("batch_size", int, None, "images per batch (default: chosen from the input size)", optional=True,
                minimum=1, engine=True)
_NO_STEP_SIZE = "it chooses its own step lengths: drop step_size"

_DECLARED = (
    Attack("fgsm", "FGSM", fgsm, (_EPS, _norm("inf", ("inf", "2")), _SEED, _BATCH),
           tip="the fast gradient sign method: one step of size eps",
           refuses={"steps": "fgsm takes a single step of size eps: drop steps, or use method pgd for several",
                    "step_size": "fgsm takes a single step of size eps"},
           rounding_tip="raise eps"),
    Attack("pgd", "PGD", pgd, (
        _EPS, _norm("inf", ("inf", "2")),
        Option("steps", int, 40, "gradient steps", minimum=1, maximum=100_000),
        Option("step_size", float, None, "length of each step, in [0, 1] pixel units (default: 2.5 * eps / steps)",
               optional=True, minimum=1e-6),
        Option("random_start", bool, True, "start from a random point in the budget (off: iterative FGSM)"),
        Option("early_stop", bool, False, "stop each image once it fools the model: the same images are fooled, "
               "faster, but with less margin (8-bit rounding undoes more)"),
        _SEED, _BATCH),
        tip="projected gradient descent: steps inside the eps budget from a random start",
        rounding_tip="raise eps, or turn early_stop off"),
    Attack("cw", "Carlini-Wagner", carlini_wagner, (
        _CAP, _norm("2", ("2",)),
        Option("steps", int, 100, "Adam steps for each constant", minimum=1, maximum=100_000),
        Option("binary_steps", int, 6, "constants tried in the binary search", minimum=1),
        Option("learning_rate", float, 0.1, "Adam's learning rate (positive)", minimum=0),
        Option("initial_const", float, 1.0, "first constant weighing the margin against the perturbation's size "
               "(positive)", minimum=0),
        Option("confidence", float, 0.0, "logit margin the adversarial must reach (larger survives 8-bit rounding)",
               minimum=0),
        _SEED, _BATCH),
        tip="Carlini-Wagner: the smallest L2 perturbation found by optimization", aliases=("carlini_wagner",),
        refuses={"step_size": _NO_STEP_SIZE}, minimal=True, rounding_tip="raise confidence"),
    Attack("deepfool", "DeepFool", deepfool, (
        _CAP, _norm("2", ("2", "inf")),
        Option("steps", int, 50, "linear steps at most", minimum=1, maximum=100_000),
        Option("overshoot", float, 0.02, "how far past the boundary to step, as a fraction of the step", minimum=0),
        Option("candidates", int, 10, "classes compared when untargeted: the label and its strongest rivals",
               minimum=2),
        _SEED, _BATCH),
        tip="DeepFool: steps to the nearest linearized decision boundary",
        refuses={"step_size": _NO_STEP_SIZE}, minimal=True, rounding_tip="raise overshoot"),
)

FAMILY = Family("attack method", _DECLARED, help_command="cnnviz attack --help", choose_flag="--method")
ATTACKS: dict[str, Attack] = FAMILY.registry
METHODS = FAMILY.names
DEFAULT_ATTACK = "pgd"
MINIMAL = tuple(a.name for a in _DECLARED if a.minimal)


def declaration(name: str) -> Attack:
    """An attack's declaration, by name or alias."""
    return FAMILY.get(name)


def check_options(name: str, options: dict) -> dict:
    """``options`` for attack ``name`` checked and converted; None stands for
    the declared default and is left out, a norm may be written "L2" or "linf"."""
    spec = declaration(name)
    options = {key: value for key, value in options.items() if value is not None}
    if "norm" in options:
        others = " or ".join(a.name for a in _DECLARED if a is not spec and set(a.norms) - set(spec.norms))
        options["norm"] = check_norm(options["norm"], spec.norms, spec.name, others)
    return spec.check(options)


@api
def attack(model, images, target=None, *, method: str = DEFAULT_ATTACK, labels=None,
           indices: Optional[np.ndarray] = None, original_probs: Optional[np.ndarray] = None,
           progress: Optional[ProgressFn] = None,
           cancel: Optional[CancelToken] = None, **options) -> AttackResult:
    """Adversarial examples for ``images`` (uint8 pixels or floats in [0, 1],
    (N, H, W, C), one image (H, W, C), or gray (N, H, W)) at the model's size,
    with attack ``method`` (fgsm, pgd, cw or deepfool: see :data:`ATTACKS`
    for each one's options, e.g. ``eps``, ``norm``, ``steps``).

    ``target``: a class index or name, one per image, or "random" (a seeded
    class other than the label); None attacks untargeted. ``labels``: true
    classes (default: the model's predictions). ``indices`` (the images'
    places in a larger set, which seed random starts and targets) and
    ``original_probs`` (the originals' known probabilities) let
    :func:`~.robustness.robustness` attack part of a set. An option given as
    None takes its declared default."""
    spec = declaration(method)
    checked = check_options(spec.name, options)
    return spec.function(model, images, target, labels=labels, indices=indices, original_probs=original_probs,
                         progress=progress, cancel=cancel, **spec.fixed, **checked)
