"""Adversarial examples (FGSM, PGD, Carlini-Wagner, DeepFool) and robustness
curves."""
from .attacks import AttackResult, attack, project, quantize
from .robustness import RobustnessCurve, robustness

__all__ = ["AttackResult", "attack", "project", "quantize", "RobustnessCurve", "robustness"]
