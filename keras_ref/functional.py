"""Graph models across the engines: a Keras Functional model <-> a ``scratch.Model``.

Both sides are the same data: layers, and for each call of a layer the tensors it was called
on. ``graph_from_keras`` walks Keras's call history (each Keras tensor remembers the layer call
that made it: ``_keras_history``) from the outputs back to the inputs and replays every call on
scratch layers; ``graph_to_keras`` replays a scratch model's nodes on Keras layers. A layer
called several times becomes one layer called several times on the other side (shared
weights stay shared); a model used as a layer (a nested Functional or Sequential) becomes a
nested model. Weights are copied layer by layer, by name, unchanged.
"""

import keras
import numpy as np

import scratch


def _history(kt):
    return kt._keras_history


def _input_dtype(kt, dtype):
    """A Keras input's dtype for its scratch twin: integers (an Embedding's indices) stay integers, any
    other input computes in the model's ``dtype``."""
    return str(kt.dtype) if np.issubdtype(np.dtype(str(kt.dtype)), np.integer) else dtype


def graph_from_keras(km, convert_layer, dtype):
    """A ``scratch.Model`` computing what Functional (or built Sequential) ``km`` computes, without weights.

    ``convert_layer(klayer, dtype)`` makes the scratch twin of one (non-model) Keras layer.
    """
    inputs = [scratch.Input(tuple(t.shape[1:]), name=t.name, dtype=_input_dtype(t, dtype)) for t in km.inputs]
    symbols = {id(kt): s for kt, s in zip(km.inputs, inputs)}
    twins = {}  # id(keras layer) -> scratch layer (one twin per layer, however often it is called)

    def twin(op, node):
        if id(op) not in twins:
            if not isinstance(op, keras.layers.Layer):  # an operation written on tensors: x + 3.0, a * b
                twins[id(op)] = _operation_twin(op, node, dtype)
            elif isinstance(op, keras.Model):
                twins[id(op)] = graph_from_keras(op, convert_layer, dtype)
                if not op.trainable:  # only freeze: a model loaded from a file can say trainable=True
                    twins[id(op)].trainable = False  # over layers that are frozen (each twin keeps its flag)
            else:
                twins[id(op)] = convert_layer(op, dtype)
        return twins[id(op)]

    for out in km.outputs:  # an explicit stack: graphs of hundreds of layers, no recursion limit
        stack = [out]
        while stack:
            kt = stack[-1]
            if id(kt) in symbols:
                stack.pop()
                continue
            op, node_index, _ = _history(kt)
            if op is None or isinstance(op, keras.layers.InputLayer):
                raise ValueError(f"from_keras: model {km.name!r} needs tensor {kt.name!r}, which is not among its "
                                 f"inputs")
            node = op._inbound_nodes[node_index]
            missing = [t for t in node.input_tensors if id(t) not in symbols]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if node.arguments.kwargs.get("mask") is not None:
                raise ValueError(f"from_keras: layer {op.name!r} is called with a mask; the scratch engine has no masks")
            first = node.arguments.args[0] if node.arguments.args else None
            args = [symbols[id(t)] for t in node.input_tensors]
            as_list = isinstance(first, (list, tuple))
            layer = twin(op, node)
            if isinstance(layer, scratch.layers.merging._Merge) and not as_list:
                as_list = True  # an operation on two tensors (a + b) becomes a merge layer on the list
            result = layer(args if as_list else args[0])
            if len(node.outputs) != 1:
                raise ValueError(f"from_keras: layer {op.name!r} has {len(node.outputs)} outputs; the scratch "
                                 f"engine's layers have one")
            symbols[id(node.outputs[0])] = result
    outputs = [symbols[id(t)] for t in km.outputs]
    multi_in = len(inputs) > 1 or isinstance(getattr(km, "_inputs_struct", None), (list, tuple))
    multi_out = len(outputs) > 1 or isinstance(getattr(km, "_outputs_struct", None), (list, tuple))
    return scratch.Model(inputs if multi_in else inputs[0], outputs if multi_out else outputs[0], name=km.name,
                         dtype=dtype)


MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}
CONSTANT_OPS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide", "TrueDivide": "divide"}


def _operation_twin(op, node, dtype):
    """The scratch layer for an operation Keras recorded from arithmetic on symbolic tensors: two
    tensors -> a merge layer (``a + b`` is ``Add``), a tensor and a number -> ``ConstantOp``."""
    kind = type(op).__name__
    args = node.arguments.args
    tensors = [a for a in args if isinstance(a, keras.KerasTensor)]
    if node.arguments.kwargs or len(args) != 2:
        raise ValueError(f"from_keras: operation {op.name!r} ({kind}) with arguments the scratch engine does not take")
    if len(tensors) == 2 and kind in MERGES:
        return getattr(scratch, MERGES[kind])(name=op.name, dtype=dtype)
    if len(tensors) == 1 and kind in CONSTANT_OPS and isinstance(args[0 if args[1] is tensors[0] else 1], (int, float)):
        reverse = args[1] is tensors[0]
        value = args[0] if reverse else args[1]
        return scratch.ConstantOp(CONSTANT_OPS[kind], float(value), reverse=reverse, name=op.name, dtype=dtype)
    raise ValueError(f"from_keras: operation {op.name!r} ({type(op).__module__}.{kind}) on {len(tensors)} tensor(s) is "
                     f"not something the scratch engine computes; supported: tensor +-* tensor, tensor +-*/ number")


def is_graph(model):
    """A scratch graph ``Model`` written as a graph (a ``Sequential`` is one too, but travels as a list of layers)."""
    return isinstance(model, scratch.Model) and not isinstance(model, scratch.Sequential)


def copy_weights_from_keras(model, km):
    """Copy every weight of Keras ``km`` into the scratch graph ``model``, layer by layer by name."""
    klayers = {la.name: la for la in km.layers}
    for layer in model.layers:
        if not layer.get_weights() and not isinstance(layer, scratch.Model):
            continue  # nothing to copy (and an operation has no layer of that name in km.layers)
        klayer = klayers[layer.name]
        if isinstance(layer, scratch.Model):
            copy_weights_from_keras(layer, klayer)
        else:
            layer.set_weights([w for w in klayer.get_weights()])


def keras_refusal(layer, error, shapes=None):
    """``error`` (Keras's, building or calling the twin of scratch ``layer``) as one ``ValueError`` naming the layer;
    this module's own refusals pass unchanged."""
    if isinstance(error, ValueError) and str(error).startswith("to_keras:"):
        return error
    on = f" on input shape {shapes}" if shapes is not None else ""
    text = str(error).strip()
    if "\x1b[1m" in text:  # Keras's "Exception encountered when calling ...": the cause is the bold part
        text = text.split("\x1b[1m", 1)[1].split("\x1b[0m", 1)[0]
    text = " ".join(text.split()) or "no message"
    return ValueError(f"to_keras: layer {layer.label}: Keras cannot express it{on} ({type(error).__name__}: {text})")


def graph_to_keras(model, keras_layer, prefix=None):
    """A ``keras.Model`` with ``model``'s graph (Keras layers from ``keras_layer(layer)``), without weights.

    ``prefix``: a Keras layer applied to the (single) input first (a ``Rescaling`` for the
    preprocessing, in a ``.keras`` file)."""
    kin = [keras.Input(shape=t.shape[1:], dtype=t.dtype.name, name=t.name) for t in model.inputs]
    tensors = {id(t): prefix(k) if prefix is not None else k for t, k in zip(model.inputs, kin)}
    twins = {}
    for node in model.nodes:
        layer = node.layer
        if isinstance(layer, scratch.ConstantOp):  # written back as the operation it came from
            t, c = tensors[id(node.inbound[0])], layer.value
            fn = getattr(keras.ops, layer.op)
            tensors[id(node.output)] = fn(c, t) if layer.reverse else fn(t, c)
            continue
        if layer not in twins:
            twins[layer] = graph_to_keras(layer, keras_layer) if isinstance(layer, scratch.Model) else keras_layer(layer)
        args = [tensors[id(t)] for t in node.inbound]
        try:
            tensors[id(node.output)] = twins[layer](args if node.as_list else args[0])
        except Exception as e:  # Keras refuses what the scratch layer took: one error naming the layer
            raise keras_refusal(layer, e, [tuple(a.shape) for a in args] if node.as_list
                                else tuple(args[0].shape)) from None
    outs = [tensors[id(t)] for t in model.outputs]
    km = keras.Model(kin if model._multi_in else kin[0], outs if model._multi_out else outs[0], name=model.name)
    if not model.trainable:  # only freeze: Keras's setter would unfreeze layers frozen one by one
        km.trainable = False
    return km


def copy_weights_to_keras(model, km):
    klayers = {la.name: la for la in km.layers}
    for layer in model.layers:
        if not layer.get_weights() and not isinstance(layer, scratch.Model):
            continue
        klayer = klayers[layer.name]
        if isinstance(layer, scratch.Model):
            copy_weights_to_keras(layer, klayer)
        else:
            klayer.set_weights(layer.get_weights())
