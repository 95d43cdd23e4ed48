"""Model surgery, all in one place: what a model's last activation is, and
(for the methods that need them) clones with softmax made linear, and a head
resized to a subset of classes."""
from __future__ import annotations

import weakref

from ..common.errors import CnnvizError, short
from ..common.runtime import model_cache
from .graph import feature_model, get_layer, layer_names, qualified_name, trace


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


_LOGITS: "weakref.WeakKeyDictionary" = model_cache()


def logits_model(model):
    """The model with its final softmax made linear, so that scores are the
    pre-softmax logits (the standard target for attribution and class
    visualization; maximizing a probability instead is a known failure).

    For a softmax inside the last layer, the model up to that layer followed
    by a linear copy of it (weights shared with the model); a sub-model to its
    input for a final Softmax layer; the model itself when it already ends in
    logits. Built once per model.
    """
    cached = _LOGITS.get(model)
    if cached is not None:
        return cached
    last = model.layers[-1]
    if final_activation(model) != "softmax":
        result = model
    elif type(last).__name__ == "Softmax":
        result = _to_softmax_input(model, last)
    else:
        result = _with_linear_last_layer(model)
    _LOGITS[model] = result
    return result


def _innermost_last(model) -> tuple[str, object]:
    """The layer producing the model's output, and the qualified-name prefix
    of the nested model holding it."""
    prefix, layer = "", model.layers[-1]
    while hasattr(layer, "layers") and layer.layers:
        prefix += layer.name + "/"
        layer = layer.layers[-1]
    return prefix, layer


def _with_linear_last_layer(model):
    """The model up to its last layer's input (shared weights), followed by a
    copy of that one layer with a linear activation: only the last layer is
    copied, so large models are not duplicated and custom layers elsewhere need
    no config."""
    prefix, last = _innermost_last(model)
    inputs = last._inbound_nodes[0].input_tensors
    producer = inputs[0]._keras_history[0] if len(inputs) == 1 else None
    if producer is None or type(producer).__name__ == "InputLayer":
        return _linear_clone(model)
    body = feature_model(model, [prefix + producer.name])
    config = dict(last.get_config(), activation="linear", name=last.name + "_logits")
    head = type(last).from_config(config)
    head.build(tuple(inputs[0].shape))
    head.set_weights(last.get_weights())
    import keras

    return keras.Model(body.inputs[0], head(body.outputs[0]), name=f"{model.name}_logits")


def _linear_clone(model):
    """A whole-model clone with the final softmax made linear."""
    import keras

    result = keras.models.clone_model(model)
    copy_weights(model, result)
    _, layer = _innermost_last(result)
    layer.activation = keras.activations.linear
    return result


def copy_weights(source, clone) -> None:
    """``clone.set_weights(source.get_weights())`` a variable at a time, so a
    large model's weights are never held twice more in NumPy (VGG16: 553 MB)."""
    for target, value in zip(clone.weights, source.weights, strict=True):
        target.assign(value)


def _to_softmax_input(model, softmax_layer):
    """The sub-model from the input to what the final Softmax layer receives."""
    producer = softmax_layer._inbound_nodes[0].input_tensors[0]._keras_history[0]
    return feature_model(model, [producer.name])


def pre_activation_features(model, layer: str):
    """A feature model to ``layer`` in which the ReLU producing it (the
    layer's own, or for a pooling layer that of the layer feeding it) is
    removed, so that a channel silent everywhere still has a gradient, or
    None when no ReLU produces it. A clone; the model is not changed."""
    import keras


    name = qualified_name(model, layer)
    clone = keras.models.clone_model(model)
    copy_weights(model, clone)
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


RULES = ("guided", "deconvnet")
_OVERRIDES: "weakref.WeakKeyDictionary" = model_cache()


def _relu_with_rule(rule: str):
    """A ReLU whose backward pass follows ``rule``: guided backpropagation
    (Springenberg et al.: pass positive gradients where the input was positive)
    or the deconvnet (Zeiler & Fergus: pass positive gradients, ignore the input)."""
    import tensorflow as tf

    @tf.custom_gradient
    def relu(x):
        def grad(dy):
            if rule == "guided":
                return dy * tf.cast(x > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)
            return tf.nn.relu(dy)

        return tf.nn.relu(x), grad

    return relu


def _is_plain_relu_layer(layer) -> bool:
    config = layer.get_config()
    return (not config.get("max_value") and not config.get("negative_slope")
            and not config.get("threshold"))


def _override_relus(layer, relu) -> int:
    """Swap ``relu`` into every ReLU of ``layer`` (recursing into sub-models):
    activations inside layers, ``Activation("relu")`` and plain ``ReLU``
    layers. Returns how many were swapped."""
    if hasattr(layer, "layers"):
        return sum(_override_relus(inner, relu) for inner in layer.layers)
    if type(layer).__name__ == "ReLU" and _is_plain_relu_layer(layer):
        layer.call = lambda inputs, *args, **kwargs: relu(inputs)
        return 1
    if getattr(getattr(layer, "activation", None), "__name__", "") == "relu":
        layer.activation = relu
        return 1
    return 0


def relu_rule_model(model, rule: str):
    """A logits clone of the model (see :func:`logits_model`) in which every
    ReLU backpropagates by ``rule`` ("guided" or "deconvnet"). Built once per
    model and rule; the model itself is not changed."""
    if rule not in RULES:
        raise ValueError(f"unknown ReLU rule {rule!r}")
    per_model = _OVERRIDES.setdefault(model, {})
    if rule not in per_model:
        import keras


        source = logits_model(model)
        try:
            clone = keras.models.clone_model(source)
        except (NotImplementedError, TypeError, ValueError) as exc:
            raise CnnvizError(f"{rule} backpropagation needs a copy of {model.name}, which Keras cannot make "
                              f"({short(exc)}): give its custom layers a get_config") from exc
        copy_weights(source, clone)
        _override_relus(clone, _relu_with_rule(rule))
        per_model[rule] = clone
    return per_model[rule]


_FEATURES_LOGITS: "weakref.WeakKeyDictionary" = model_cache()


def features_and_logits(model, layer: str):
    """A model from the input to (the output of ``layer``, the logits), for
    gradients of a class score with respect to a layer (Grad-CAM). Cached."""
    per_model = _FEATURES_LOGITS.setdefault(model, {})
    name = qualified_name(model, layer)
    if name not in per_model:
        logits = logits_model(model)
        per_model[name] = feature_model(logits, [logits_layer_name(model, name), layer_names(logits)[-1]])
    return per_model[name]


def logits_layer_name(model, layer: str) -> str:
    """``layer``'s name in :func:`logits_model`, which inlines nested
    sub-models when it rebuilds the graph (``outer/inner`` becomes ``inner``)."""
    logits = logits_model(model)
    name = qualified_name(model, layer)
    return name if name in layer_names(logits) else qualified_name(logits, name.split("/")[-1])


_HEADS: "weakref.WeakKeyDictionary" = model_cache()


def head_model(model, layer: str):
    """A model from ``layer``'s output to the logits (weights shared), for
    methods that edit a layer's activations and read the class score (CRAFT's
    concept importances). Every path from the input to the output must pass
    through the layer, else a CnnvizError names the layer. Built once per layer."""
    import keras

    per_model = _HEADS.setdefault(model, {})
    logits = logits_model(model)
    name = logits_layer_name(model, layer)
    if name in per_model:
        return per_model[name]
    cut = get_layer(logits, name)
    latent = keras.Input(shape=tuple(cut.output.shape[1:]), name="activations")
    image = keras.Input(shape=tuple(logits.inputs[0].shape[1:]), name="image")

    def call(op, node, args):
        if op is cut:
            return latent
        if node is None:
            return op(args[0])
        mapping = {id(t): v for t, v in zip(node.input_tensors, args)}
        call_args, call_kwargs = node.arguments.fill_in(mapping)
        return op(*call_args, **call_kwargs)

    outputs = trace(logits, [image], call)
    try:
        head = keras.Model(latent, outputs[0], name=f"{model.name}_head")
    except ValueError as exc:
        raise CnnvizError(f"{layer}: part of {model.name}'s output does not pass through this layer (a branch goes "
                          f"around it): pick a layer every path passes through, such as one after the last merge") \
            from exc
    per_model[name] = head
    return head


def with_head_size(model, n_classes: int):
    """The model with its last Dense layer replaced by a freshly initialized
    one of ``n_classes`` units (same activation), everything below it shared:
    a zoo architecture trained on a subset of its dataset's classes."""
    import keras

    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        raise CnnvizError(f"{model.name} does not end in a Dense layer, so its head cannot be resized to "
                          f"{n_classes} classes: use `cnnviz finetune` to put a new head on it")
    config = last.get_config()
    head = keras.layers.Dense(n_classes, activation=config["activation"], name=last.name)
    return keras.Model(model.inputs, head(last.input), name=model.name)
