"""Model surgery, all in one place: what a model's last activation is, and
(for the methods that need them) clones with softmax made linear."""
from __future__ import annotations


def final_activation(model) -> str:
    """Name of the activation that produces the model's output ("softmax",
    "linear", ...), following nested sub-models to their last layer."""
    layer = model.layers[-1]
    while hasattr(layer, "layers") and layer.layers:
        layer = layer.layers[-1]
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def outputs_probabilities(model) -> bool:
    """True when the model's outputs are already class probabilities."""
    return final_activation(model) == "softmax"
