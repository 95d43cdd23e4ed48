"""Walking a Keras model's layer graph (Sequential, functional with branches
and merges, nested sub-models) with any kind of value flowing along it.

``trace`` is the one traversal that both the receptive-field calculator (values
are receptive fields) and the sub-model builder (values are Keras tensors) use.
Layers inside nested models are named ``outer/inner``.
"""
from __future__ import annotations

from typing import Any, Callable

from ..common.errors import CnnvizError

# apply(layer, node, input_values) -> output value(s); node is None for Sequential
Apply = Callable[[Any, Any, list], Any]


def is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def trace(model, input_values: list, apply: Apply, record: dict | None = None, prefix: str = "") -> list:
    """Propagate ``input_values`` from the model's inputs to its outputs.

    Every layer's output value is stored in ``record`` under its (qualified)
    name, in the order the layers are reached. Returns the outputs' values.
    """
    import keras

    record = {} if record is None else record
    if isinstance(model, keras.Sequential) and not getattr(model, "_functional", None):
        value = input_values[0]
        for layer in model.layers:
            value = _call(layer, None, [value], apply, record, prefix)
        return [value]
    graph = getattr(model, "_functional", None) or model      # a built Sequential wraps a functional graph
    if not graph.inputs:
        raise CnnvizError(f"model {model.name} is not built: give it an input shape (keras.Input)")
    values = {id(t): v for t, v in zip(graph.inputs, input_values)}
    for tensor in graph.outputs:
        _evaluate(tensor, values, apply, record, prefix)
    return [values[id(t)] for t in graph.outputs]


def _evaluate(tensor, values: dict, apply: Apply, record: dict, prefix: str) -> None:
    """Compute ``tensor``'s value and every value it depends on, inputs first
    (a depth-first post-order on an explicit stack: graphs hundreds of layers
    deep, like ConvNeXt's, would overflow Python's recursion limit)."""
    stack = [(tensor, False)]
    while stack:
        t, inputs_done = stack.pop()
        if id(t) in values:
            continue
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if not inputs_done:
            stack.append((t, True))
            stack.extend((i, False) for i in reversed(node.input_tensors) if id(i) not in values)
            continue
        out = _call(layer, node, [values[id(i)] for i in node.input_tensors], apply, record, prefix)
        outs = out if isinstance(out, (list, tuple)) and len(node.output_tensors) > 1 else [out]
        for o, v in zip(node.output_tensors, outs):
            values[id(o)] = v


def _call(layer, node, args, apply, record, prefix):
    name = prefix + layer.name
    if is_model(layer):
        outs = trace(layer, args, apply, record, name + "/")
        out = outs[0] if len(outs) == 1 else outs
    else:
        out = apply(layer, node, args)
    record.setdefault(name, out)
    return out


def layer_names(model) -> list[str]:
    """Qualified names of all layers (nested ones as ``outer/inner``) in graph order."""
    record: dict = {}
    trace(model, [None] * max(1, len(model.inputs or [None])), lambda layer, node, args: None, record)
    return list(record)


def get_layer(model, name: str):
    """A layer by plain or qualified (``outer/inner``) name, with a clear error.
    Keras operations in a functional graph (``x + 3`` makes an ``add``) count
    as layers: they have names and outputs, and the graph walk records them."""
    layer = model
    for part in name.split("/"):
        layer = _child(layer, part)
        if layer is None:
            break
    else:
        return layer
    matches = [q for q in layer_names(model) if q.split("/")[-1] == name and q != name]
    if len(matches) == 1:
        return get_layer(model, matches[0])
    known = ", ".join(layer_names(model)[:40])
    raise CnnvizError(f"no layer {name!r} in {model.name}: use one of {known}")


def _child(layer, name: str):
    """The layer or operation of ``layer`` (a model) named ``name``, or None."""
    for op in getattr(layer, "operations", None) or getattr(layer, "layers", None) or ():
        if op.name == name:
            return op
    return None


def qualified_name(model, name: str) -> str:
    """The ``outer/inner`` name of a layer given by plain or qualified name."""
    names = layer_names(model)
    if name in names:
        return name
    matches = [q for q in names if q.split("/")[-1] == name]
    if len(matches) == 1:
        return matches[0]
    raise CnnvizError(f"no layer {name!r} in {model.name}: use one of {', '.join(names[:40])}")


def feature_model(model, names: list[str], input_shape: tuple | None = None):
    """A functional model from the model's input to the outputs of the named
    layers (plain or qualified names; nested sub-models are inlined so their
    inner layers can be reached). Weights are shared, not copied.
    ``input_shape`` fixes the size of a model that takes any image size."""
    import keras

    qualified = [qualified_name(model, n) for n in names]
    shape = tuple(input_shape or model.inputs[0].shape[1:])
    inputs = keras.Input(shape=shape, name="image")
    record: dict = {}

    def call(layer, node, args):
        if node is None:
            return layer(args[0])
        mapping = {id(t): v for t, v in zip(node.input_tensors, args)}
        call_args, call_kwargs = node.arguments.fill_in(mapping)
        return layer(*call_args, **call_kwargs)

    trace(model, [inputs], call, record)
    return keras.Model(inputs, [record[q] for q in qualified], name=f"{model.name}_features")
