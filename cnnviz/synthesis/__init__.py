"""Activation maximization: images synthesized to excite a channel, a unit or
a class."""
from .maximize import Regularization, Synthesis, synthesize_channels, synthesize_class

__all__ = ["Regularization", "Synthesis", "synthesize_channels", "synthesize_class"]
