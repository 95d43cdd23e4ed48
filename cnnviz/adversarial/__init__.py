"""Adversarial examples, one module per attack family over a shared base
(:mod:`.base`): FGSM and PGD (:mod:`.gradient`), Carlini-Wagner
(:mod:`.carlini_wagner`), DeepFool (:mod:`.deepfool`), each declared once in
:mod:`.registry` and run by name with :func:`attack`; and robustness curves."""
from .base import AttackResult, project, quantize
from .carlini_wagner import carlini_wagner
from .deepfool import deepfool
from .gradient import fgsm, pgd
from .registry import ATTACKS, DEFAULT_ATTACK, Attack, attack
from .robustness import RobustnessCurve, robustness

__all__ = ["AttackResult", "attack", "project", "quantize", "RobustnessCurve", "robustness", "ATTACKS",
           "DEFAULT_ATTACK", "Attack", "fgsm", "pgd", "carlini_wagner", "deepfool"]
