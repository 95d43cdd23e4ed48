"""The `cnnviz` commands of the attack family (registered by :mod:`cnnviz.cli`)."""
from __future__ import annotations


def register(sub, model_opts) -> None:
    """Add this family's sub-commands to the ``cnnviz`` parser."""
