"""Model surgery, all in one place: what a model's last activation is, and
(for the methods that need them) clones with softmax made linear."""
from __future__ import annotations

import weakref


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


_LOGITS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def logits_model(model):
    """The model with its final softmax made linear, so that scores are the
    pre-softmax logits (the standard target for attribution and class
    visualization; maximizing a probability instead is a known failure).

    A clone with the same weights for a softmax activation inside the last
    layer; a sub-model to its input for a final Softmax layer; the model itself
    when it already ends in logits. Built once per model.
    """
    cached = _LOGITS.get(model)
    if cached is not None:
        return cached
    import keras

    last = model.layers[-1]
    if final_activation(model) != "softmax":
        result = model
    elif type(last).__name__ == "Softmax":
        result = _to_softmax_input(model, last)
    else:
        result = keras.models.clone_model(model)
        result.set_weights(model.get_weights())
        layer = result.layers[-1]
        while hasattr(layer, "layers") and layer.layers:
            layer = layer.layers[-1]
        layer.activation = keras.activations.linear
    _LOGITS[model] = result
    return result


def _to_softmax_input(model, softmax_layer):
    """The sub-model from the input to what the final Softmax layer receives."""
    from .graph import feature_model

    producer = softmax_layer._inbound_nodes[0].input_tensors[0]._keras_history[0]
    return feature_model(model, [producer.name])


def pre_activation_features(model, layer: str):
    """A feature model to ``layer`` in which the ReLU producing it (the
    layer's own, or for a pooling layer that of the layer feeding it) is
    removed, so that a channel silent everywhere still has a gradient, or
    None when no ReLU produces it. A clone; the model is not changed."""
    import keras

    from .graph import feature_model, get_layer, qualified_name

    name = qualified_name(model, layer)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    target = get_layer(clone, name)
    while getattr(target, "activation", None) is None and target._inbound_nodes:
        inputs = target._inbound_nodes[0].input_tensors
        if len(inputs) != 1:
            break
        target = inputs[0]._keras_history[0]
    if getattr(getattr(target, "activation", None), "__name__", "") != "relu":
        return None
    target.activation = keras.activations.linear
    return feature_model(clone, [name])
