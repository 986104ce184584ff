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
from scratch.keras_io import config as keras_config


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

    operation_inputs = {}  # id(keras operation) -> its inputs (TensorArg) in the scratch node's order

    def twin(op, node):
        if id(op) not in twins:
            if not isinstance(op, keras.layers.Layer):  # an operation written on tensors: x + 3.0, ops.sum(x)
                twins[id(op)], operation_inputs[id(op)] = _operation_twin(op, node, dtype)
            elif isinstance(op, keras.layers.Lambda):
                twins[id(op)] = lambda_twin(op, node.arguments.args[0], convert_layer, dtype)
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
            if not isinstance(op, keras.layers.Layer):  # an operation: its inputs as the mapping orders them
                args = [symbols[id(t.ref)] for t in operation_inputs[id(op)]]
                as_list = isinstance(layer, scratch.layers.merging._Merge) or getattr(layer, "takes_list", False)
                try:
                    result = layer(args if as_list else args[0])
                except ValueError as e:  # the shapes it was called on: refused naming the operation
                    raise ValueError(f"from_keras: operation {op.name!r} ({type(op).__name__}): {e}") from None
            else:
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


def _arg(value):
    """A live call argument as the one mapping reads it: Keras tensors as ``TensorArg`` (lists opened)."""
    if isinstance(value, keras.KerasTensor):
        return keras_config.TensorArg(value, tuple(value.shape))
    if isinstance(value, (list, tuple)):
        return type(value)(_arg(v) for v in value)
    return value


def _operation_twin(op, node, dtype):
    """``(scratch layer, its inputs)`` for an operation Keras recorded from a ``keras.ops`` call or a tensor
    operator (``a - b``, ``x * 0.5``, ``ops.sum(x, axis=-1)``, ``x[:, 1:3]``), through the one mapping
    (``scratch.keras_io.mapping.ops``), which refuses in one line what the engine does not compute."""
    kind = type(op).__name__
    try:
        config = op.get_config()
    except Exception:  # an operation without a config is none of Keras's ops the mapping knows
        config = {"name": op.name}
    cfg = keras_config.KerasConfig(kind, config, where="from_keras")
    args = [_arg(a) for a in node.arguments.args]
    kwargs = {k: _arg(v) for k, v in node.arguments.kwargs.items()}
    return keras_config.operation_from_config(cfg, args, kwargs, dtype)


def lambda_twin(klayer, inputs, convert_layer, dtype):
    """A ``Lambda`` layer traced into operation nodes: its function called on fresh symbolic inputs of the
    shapes it was called on records the ``keras.ops`` calls it makes; they become a nested scratch
    ``Model`` named as the layer. A function that cannot be traced (TensorFlow or NumPy calls, Python
    decisions on values), that calls layers, or whose operations the engine lacks is refused in one line."""
    where = f"from_keras: layer {klayer.name!r} (Lambda)"
    structure = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if not all(isinstance(t, keras.KerasTensor) for t in structure):
        raise ValueError(f"{where}: called on {type(inputs).__name__}; the scratch engine traces a Lambda called on "
                         f"a tensor or a list of tensors")
    kin = [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype) for t in structure]
    kwargs = dict(klayer.arguments or {})
    if getattr(klayer, "_fn_expects_training_arg", False):
        kwargs["training"] = False
    if getattr(klayer, "_fn_expects_mask_arg", False):
        kwargs["mask"] = None
    try:
        out = klayer.function(kin if isinstance(inputs, (list, tuple)) else kin[0], **kwargs)
        if not isinstance(out, keras.KerasTensor):
            raise TypeError(f"it returned {type(out).__name__}, not one tensor")
        if any(out is k for k in kin):
            raise TypeError("it returns its input unchanged")
        traced = keras.Model(kin if isinstance(inputs, (list, tuple)) else kin[0], out, name=klayer.name)
    except Exception as e:
        text = " ".join(str(e).split())[:300]
        raise ValueError(f"{where}: its function cannot be traced into keras.ops operations ({type(e).__name__}: "
                         f"{text}); write it with keras.ops, or as layers") from None
    inner = [la for la in traced.layers if not isinstance(la, keras.layers.InputLayer)]
    if inner:
        raise ValueError(f"{where}: its function calls layer {inner[0].name!r} ({type(inner[0]).__name__}); the "
                         f"scratch engine traces only keras.ops operations inside a Lambda")
    try:
        return graph_from_keras(traced, convert_layer, dtype)
    except ValueError as e:
        raise ValueError(f"{where}: {str(e).removeprefix('from_keras: ')}") from None


def _call_args(template, tensors):
    """``template`` (an ``operation_call``'s args or kwargs) with its ``TensorArg`` placeholders filled."""
    def fill(v):
        if isinstance(v, keras_config.TensorArg):
            return tensors if v.ref == "all" else tensors[v.ref]
        if isinstance(v, list):
            return [fill(u) for u in v]
        return v
    return [fill(v) for v in template] if isinstance(template, list) else {k: fill(v) for k, v in template.items()}


def replay_operation(layer, tensors):
    """Scratch operation ``layer`` called in Keras on ``tensors`` (its inputs, in order): the ``keras.ops``
    call the one mapping names (``x[key]`` for ``getitem``)."""
    name, args, kwargs = keras_config.operation_call(layer)
    args, kwargs = _call_args(list(args), tensors), _call_args(dict(kwargs), tensors)
    if name == "__getitem__":
        return args[0][args[1]]
    return getattr(keras.ops, name)(*args, **kwargs)


def op_model(layer):
    """A scratch operation alone (a layer of a ``Sequential``, a parity case) as Keras: a Functional model
    of its ``keras.ops`` call, named as the layer."""
    shapes = layer.input_shape if layer.takes_list else [layer.input_shape]
    kin = [keras.Input(shape=tuple(s[1:]), dtype=layer.dtype.name) for s in shapes]
    out = replay_operation(layer, kin)
    return keras.Model(kin if layer.takes_list else kin[0], out, name=layer.name)


def is_graph(model):
    """A scratch graph ``Model`` written as a graph (a ``Sequential`` is one too, but travels as a list of layers)."""
    return isinstance(model, scratch.Model) and not isinstance(model, scratch.Sequential)


def copy_weights_from_keras(model, km):
    """Copy every weight of Keras ``km`` into the scratch graph ``model``, layer by layer by name."""
    klayers = {la.name: la for la in km.layers}
    for layer in model.layers:
        if not layer.get_weights():
            continue  # nothing to copy (an operation, or a traced Lambda, has no layer of that name in km.layers)
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
        if keras_config.operation_call(layer) is not None:  # an operation: its keras.ops call
            tensors[id(node.output)] = replay_operation(layer, [tensors[id(t)] for t in node.inbound])
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
        if not layer.get_weights():
            continue
        klayer = klayers[layer.name]
        if isinstance(layer, scratch.Model):
            copy_weights_to_keras(layer, klayer)
        else:
            klayer.set_weights(layer.get_weights())
