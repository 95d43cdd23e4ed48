"""The main window's tabs, one module each (see :mod:`.base`)."""
from .adversarial import AdversarialView
from .arithmetic import ArithmeticView
from .base import View
from .concepts import ConceptsView
from .explain import ExplainView
from .graph import GraphView
from .layer import LayerView
from .train import TrainView
from .unit import UnitView

VIEWS: list[type[View]] = [LayerView, UnitView, ExplainView, AdversarialView, ConceptsView, TrainView, GraphView,
                           ArithmeticView]

__all__ = ["View", "VIEWS", "LayerView", "UnitView", "ExplainView", "AdversarialView", "ConceptsView", "TrainView",
           "GraphView", "ArithmeticView"]
