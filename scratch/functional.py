"""Graph models built the Keras way: call layers on symbolic inputs, then ``Model(inputs, outputs)``.

    x = scratch.Input((32, 32, 3))
    y = scratch.Conv2D(16, 3, padding="same")(x)
    y = scratch.Add()([y, scratch.Conv2D(16, 1)(x)])        # a residual connection
    model = scratch.Model(x, scratch.Dense(10)(scratch.GlobalAveragePooling2D()(y)))

Calling a layer on a ``SymbolicTensor`` computes nothing: it builds the layer for that shape
and records a ``Node`` (the layer and the tensors it was called on). A model is its nodes in
topological order:

- forward walks them once, each node's layer computing on the arrays of its inbound tensors;
- backward walks them in reverse. A tensor used by several nodes (fan-out) receives the sum of
  their gradients; a layer called several times (shared weights) gets the sum of its calls'
  weight gradients. A model is itself a layer, so it can be called inside another model.

Layers keep one ``_cache`` (what their last forward saved for backward); a node keeps its own
copy of it, so a layer called twice backpropagates each call with that call's cache.
"""

import re

import numpy as np

from .layers import Softmax
from .layers.base import Layer
from .model import Trainer, leaf_layers


def _snake(name):
    """Keras's default layer names: ``MaxPooling2D`` -> ``max_pooling2d``, ``ReLU`` -> ``re_lu``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class SymbolicTensor:
    """A placeholder for an array: its shape (batch axis ``None``), dtype, and the node making it."""

    def __init__(self, shape, dtype, node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node  # None for a model input
        self.name = name

    def __repr__(self):
        origin = self.name if self.node is None else self.node.layer.name or type(self.node.layer).__name__
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} from {origin!r}>"


class Node:
    """One call of ``layer`` on ``inbound`` tensors (a list; ``as_list``: the layer took a list)."""

    def __init__(self, layer, inbound, as_list):
        self.layer = layer
        self.inbound = inbound
        self.as_list = as_list
        self.output = None
        self.cache = None


def Input(shape, name=None, dtype="float32"):
    """A model input of ``shape`` (no batch axis), as ``keras.Input``."""
    shape = tuple(shape)
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"Input: shape must be positive ints (no batch axis), received {shape!r}")
    return SymbolicTensor((None,) + shape, dtype, name=name)


def is_symbolic(x):
    return isinstance(x, SymbolicTensor) or (
        isinstance(x, (list, tuple)) and x and all(isinstance(t, SymbolicTensor) for t in x))


def connect(layer, x):
    """Record ``layer(x)`` for symbolic ``x``: build the layer for its shape, return the output tensor."""
    as_list = isinstance(x, (list, tuple))
    inbound = list(x) if as_list else [x]
    for t in inbound:
        if t.dtype != layer.dtype:
            raise ValueError(f"{layer.label}: called on a {t.dtype.name} tensor {t!r}, but the layer computes in "
                             f"{layer.dtype.name}")
    shapes = [t.shape for t in inbound]
    shape = shapes if as_list else shapes[0]
    if isinstance(layer, Model):
        if layer._multi_out:
            raise ValueError(f"Model {layer.name!r}: a model with several outputs cannot be called as a layer here")
        layer._check_call_shape(shape)
    elif not layer.built:
        layer.build(shape)
    elif as_list:
        layer.build(shape)  # merge layers check their inputs' shapes in build
    else:  # a shared layer called again: the new shape must be one it accepts
        layer._check_shape(shape)
    node = Node(layer, inbound, as_list)
    node.output = SymbolicTensor(layer.compute_output_shape(shape), layer.dtype, node)
    return node.output


class Model(Layer, Trainer):
    """A graph of layers from ``inputs`` to ``outputs`` (tensors or lists of them), as ``keras.Model``.

    ``seed``: when given, every layer's weights are drawn again from seeds derived from it (so the
    same seed gives the same model); otherwise they keep the values drawn when the layers were built.
    ``preprocess`` and ``loss`` (an architecture's loss dict) are what ``Sequential`` takes; with
    them a single-input, single-output graph trains like a ``Sequential`` (``compile``, ``fit``,
    ``train_step``, ``evaluate``, ``predict``, ``save``: see ``scratch.model.Trainer``).
    """

    def __init__(self, inputs, outputs, name="functional", seed=None, preprocess="scale", loss=None, **kwargs):
        dtype = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs).dtype
        super().__init__(name=name, dtype=kwargs.pop("dtype", dtype.name), **kwargs)
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self._multi_in = isinstance(inputs, (list, tuple))
        self._multi_out = isinstance(outputs, (list, tuple))
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise ValueError(f"Model {name!r}: inputs and outputs must be symbolic tensors (from Input() and "
                                 f"layer calls), received {type(t).__name__}")
        for t in self.inputs:
            if t.node is not None:
                raise ValueError(f"Model {name!r}: input {t!r} is a layer's output, not an Input()")
        self.nodes = self._topological_order()
        self.layers = list(dict.fromkeys(node.layer for node in self.nodes))
        self._name_layers()
        self.seed = seed
        if seed is not None:
            for i, layer in enumerate(self.layers):
                if not isinstance(layer, Model) and (layer.params or layer.state):
                    layer.seed = int(seed) * 1000 + i
                    layer.build(layer.input_shape)
        self.input_shape = self.inputs[0].shape if not self._multi_in else [t.shape for t in self.inputs]
        self.output_shape = self.outputs[0].shape if not self._multi_out else [t.shape for t in self.outputs]
        self._set_input_grads(False)
        self.built = True
        self.preprocess = preprocess
        self.loss_spec = loss or {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}
        self.optimizer = None
        self.loss = None

    # -- structure -----------------------------------------------------------------------
    def _topological_order(self):
        """Every node between the inputs and the outputs, each after the nodes it depends on."""
        order, state = [], {}  # state: 1 = on the current path, 2 = done
        given = {id(t) for t in self.inputs}
        for out in self.outputs:
            stack = [(out, False)]
            while stack:
                t, expanded = stack.pop()
                if t.node is None:
                    if id(t) not in given:
                        raise ValueError(f"Model {self.name!r}: the graph needs input {t!r}, which is not among "
                                         f"the model's inputs (graph disconnected)")
                    continue
                node = t.node
                if expanded:
                    state[id(node)] = 2
                    order.append(node)
                    continue
                if state.get(id(node)) == 2:
                    continue
                state[id(node)] = 1
                stack.append((t, True))
                stack.extend((u, False) for u in reversed(node.inbound))
        return order

    def _name_layers(self):
        taken = {layer.name for layer in self.layers if layer.name}
        for layer in self.layers:
            if not layer.name:
                base, k = _snake(type(layer).__name__), 0
                name = base
                while name in taken:
                    k += 1
                    name = f"{base}_{k}"
                layer.name = name
                taken.add(name)
        names = [layer.name for layer in self.layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Model {self.name!r}: duplicate layer names {dupes}")

    def _set_input_grads(self, needed):
        """A layer needs dL/d(its input) unless every tensor it reads is a model input nobody needs."""
        self._inputs_needed = needed
        inputs = {id(t) for t in self.inputs}
        wants = {}
        for node in self.nodes:
            reads_inner = any(id(t) not in inputs for t in node.inbound)
            wants[node.layer] = wants.get(node.layer, False) or reads_inner or needed
        for layer, flag in wants.items():
            if isinstance(layer, Model):
                layer._set_input_grads(flag)
            layer.input_grad = flag

    def _check_call_shape(self, shape):
        shapes = shape if self._multi_in else [shape]
        for t, s in zip(self.inputs, shapes):
            if tuple(s[1:]) != tuple(t.shape[1:]):
                raise ValueError(f"Model {self.name!r}: expected input shape {t.shape}, received {tuple(s)}")

    def compute_output_shape(self, input_shape):
        return self.output_shape

    # -- weights -------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):  # as Keras: freezing (or unfreezing) a model sets every layer in it
        self._trainable = value
        for layer in getattr(self, "layers", ()):
            layer.trainable = value

    @property
    def params(self):
        return {f"{layer.name}/{k}": v for layer in self.layers for k, v in layer.params.items()}

    @params.setter
    def params(self, value):  # Layer.__init__ assigns an empty dict; a model's params are its layers'
        pass

    @property
    def state(self):
        return {f"{layer.name}/{k}": v for layer in self.layers for k, v in layer.state.items()}

    @state.setter
    def state(self, value):
        pass

    @property
    def grads(self):
        return {f"{layer.name}/{k}": v for layer in self.layers for k, v in layer.grads.items()}

    @grads.setter
    def grads(self, value):
        for layer in getattr(self, "layers", ()):
            layer.grads = {k[len(layer.name) + 1:]: v for k, v in value.items() if k.startswith(layer.name + "/")}

    def _named(self, kind):
        """``{"layer/key": array}`` of ``params`` or ``grads`` of every trainable layer, nested models opened."""
        out = {}
        for layer in self.layers:
            if layer.trainable:
                inner = layer._named(kind) if isinstance(layer, Model) else getattr(layer, kind)
                out.update({f"{layer.name}/{k}": v for k, v in inner.items()})
        return out

    def named_params(self):
        """``{"layer/key": array}`` of every trainable parameter (nested models: ``"model/layer/key"``)."""
        return self._named("params")

    def named_grads(self):
        return self._named("grads")

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def count_trainable_params(self):
        return sum(layer.count_trainable_params() for layer in self.layers) if self.trainable else 0

    def get_weights(self):
        """Every layer's weights, layer after layer in this model's order (Keras order within a layer)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        counts = [len(layer.get_weights()) for layer in self.layers]
        if len(weights) != sum(counts):
            raise ValueError(f"Model {self.name!r}.set_weights: expected {sum(counts)} arrays, received {len(weights)}")
        i = 0
        for layer, n in zip(self.layers, counts):
            layer.set_weights(weights[i:i + n])
            i += n

    def get_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model {self.name!r}: no layer named {name!r}; layers: {[la.name for la in self.layers]}")

    # -- computing -----------------------------------------------------------------------
    @property
    def _cache(self):
        return [node.cache for node in self.nodes]

    @_cache.setter
    def _cache(self, caches):
        for node, cache in zip(self.nodes, caches):
            node.cache = cache

    def _as_arrays(self, x):
        xs = list(x) if self._multi_in else [x]
        if len(xs) != len(self.inputs):
            raise ValueError(f"Model {self.name!r}: expected {len(self.inputs)} input arrays, received {len(xs)}")
        for t, a in zip(self.inputs, xs):
            if not isinstance(a, np.ndarray):
                raise ValueError(f"Model {self.name!r}: expected a NumPy array for input {t.name or ''}, "
                                 f"received {type(a).__name__}")
            if a.dtype != t.dtype or a.shape[1:] != t.shape[1:]:
                raise ValueError(f"Model {self.name!r}: input {t.name or ''} expects {t.dtype.name} arrays of shape "
                                 f"{t.shape}, received {a.dtype} {a.shape}")
        return xs

    def forward(self, x, training=False):
        """The outputs for input array(s) ``x``; every node's layer runs once, in topological order."""
        values = {id(t): a for t, a in zip(self.inputs, self._as_arrays(x))}
        last_use = {}
        for i, node in enumerate(self.nodes):
            for t in node.inbound:
                last_use[id(t)] = i
        keep = {id(t) for t in self.outputs}
        last = self.outputs[0].node
        for i, node in enumerate(self.nodes):
            args = [values[id(t)] for t in node.inbound]
            if node is last:
                self._last_input = args[0]  # a Softmax output layer's input: the logits (see softmax_output)
            y = node.layer.forward(args if node.as_list else args[0], training=training)
            node.cache = node.layer._cache if isinstance(node.layer, Model) else node.layer.__dict__.get("_cache")
            values[id(node.output)] = y
            for t in node.inbound:  # free what no later node reads
                if last_use[id(t)] == i and id(t) not in keep:
                    values.pop(id(t), None)
        outs = [values[id(t)] for t in self.outputs]
        return outs if self._multi_out else outs[0]

    __call__ = Layer.__call__

    def backward(self, dy, logits=False, trainable_only=False):
        """Backpropagate ``dL/d(outputs)``; returns ``dL/d(inputs)`` (None where not needed).

        Gradients reaching a tensor from several nodes are summed; a layer called several times
        ends with the sum of its calls' weight gradients. ``logits=True``: ``dy`` is the gradient
        w.r.t. the logits of a softmax output (as ``Sequential.backward``). ``trainable_only`` (a
        training step): only the nodes ``_backward_nodes`` names run; a frozen base is skipped."""
        dys = list(dy) if self._multi_out else [dy]
        grads = {}
        for t, g in zip(self.outputs, dys):
            _accumulate(grads, t, g)
        calls = {}
        for node in self.nodes:
            calls[node.layer] = calls.get(node.layer, 0) + 1
        summed = {}
        live = self._backward_nodes() if trainable_only else None
        for node in reversed(self.nodes):
            g = grads.pop(id(node.output), None)
            layer = node.layer
            if g is None or (live is not None and id(node) not in live):  # reaches no output / nothing trains
                continue
            layer._cache = node.cache
            nested = {}
            if live is not None and isinstance(layer, Model):  # its inputs' gradient is needed if upstream trains
                layer._inputs_needed, nested = live[id(node)], {"trainable_only": True}
            if logits and node is self.outputs[0].node:  # dy is already dL/d(logits)
                dx = g if isinstance(layer, Softmax) else layer.backward(g, pre_activation=True)
            else:
                dx = layer.backward(g, **nested)
            if calls[layer] > 1:  # shared weights: add this call's weight gradients to the others'
                prev = summed.get(layer)
                summed[layer] = {k: v.copy() if prev is None else prev[k] + v for k, v in layer.grads.items()}
            if dx is None:
                continue
            for t, d in zip(node.inbound, dx if node.as_list else [dx]):
                if d is not None:
                    _accumulate(grads, t, d)
        for layer, total in summed.items():
            layer.grads = total
        dxs = [grads.get(id(t)) for t in self.inputs]
        return dxs if self._multi_in else dxs[0]

    def _backward_nodes(self):
        """The nodes the backward pass must visit: those with trainable weights, those upstream of
        which (towards the inputs) some node has them, and every node reading an input whose
        gradient is needed (a nested model's). A frozen base (transfer learning) is skipped."""
        inputs = {id(t) for t in self.inputs}
        live = {}  # id(node) -> whether the gradient of its inputs is needed
        for node in self.nodes:
            layer = node.layer
            own = (any(la.trainable and la.params for la in leaf_layers(layer)) if isinstance(layer, Model)
                   else layer.trainable and bool(layer.params))
            upstream = any((t.node is not None and id(t.node) in live) or (id(t) in inputs and self._inputs_needed)
                           for t in node.inbound)
            if own or upstream:
                live[id(node)] = upstream
        return live

    # -- what training needs (scratch.model.Trainer) -------------------------------------------
    def _output_layer(self):
        return self.outputs[0].node.layer if len(self.outputs) == 1 and self.outputs[0].node else None

    def _as_input(self, x, what):
        """One input array of this model's input shape, as this model's dtype (floats only)."""
        if self._multi_in or self._multi_out:
            raise ValueError(f"Model {self.name!r}.{what}: training and prediction take one input and one output; "
                             f"this model has {len(self.inputs)} and {len(self.outputs)} (call forward/backward)")
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"Model {self.name!r}.{what}: expected float inputs, received dtype {x.dtype}; "
                             f"use scratch.preprocess() on raw uint8 images")
        want = self.inputs[0].shape[1:]
        if x.ndim == len(want) and x.shape == want:
            raise ValueError(f"Model {self.name!r}.{what}: received one sample of shape {x.shape} without the batch "
                             f"axis; pass x[None] (shape {(1,) + x.shape})")
        if x.ndim == len(want) and want[-1] == 1 and x.shape[1:] == want[:-1]:
            x = x[..., None]  # greyscale images without their channel axis
        if x.shape[1:] != want:
            raise ValueError(f"Model {self.name!r}.{what}: expected inputs of shape {(None,) + want}, received {x.shape}")
        return x.astype(self.dtype, copy=False)

    # -- config ----------------------------------------------------------------------------
    def _node_indices(self):
        """``{id(node): k}``: the node is the k-th call of its layer in this model."""
        seen, index = {}, {}
        for node in self.nodes:
            index[id(node)] = seen.get(node.layer, 0)
            seen[node.layer] = index[id(node)] + 1
        return index

    def _ref(self, t, index):
        """A tensor as plain data, as Keras writes it: ``[layer name, call index, 0]`` or ``[input name, 0, 0]``."""
        if t.node is None:
            return [t.name, 0, 0]
        return [t.node.layer.name, index[id(t.node)], 0]

    def get_config(self):
        """The graph as plain data (JSON-compatible): inputs, each layer's config and the tensors of
        each of its calls (``inbound_nodes``, Keras's own layout), the outputs."""
        self._name_inputs()
        index = self._node_indices()
        layers = []
        for layer in self.layers:
            calls = [{"args": [self._ref(t, index) for t in node.inbound], "as_list": node.as_list}
                     for node in self.nodes if node.layer is layer]
            spec = {"class_name": "Model" if isinstance(layer, Model) else type(layer).__name__,
                    "config": layer.get_config(), "inbound_nodes": calls}
            layers.append(spec)
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name,
                "preprocess": self.preprocess, "loss": dict(self.loss_spec),
                "inputs": [{"name": t.name, "shape": list(t.shape[1:]), "dtype": t.dtype.name} for t in self.inputs],
                "layers": layers, "outputs": [self._ref(t, index) for t in self.outputs],
                "multiple_inputs": self._multi_in, "multiple_outputs": self._multi_out}

    def _name_inputs(self):
        taken = set()
        for i, t in enumerate(self.inputs):
            if not t.name or t.name in taken:
                t.name = "input_layer" if i == 0 and "input_layer" not in taken else f"input_layer_{i}"
            taken.add(t.name)

    @classmethod
    def from_config(cls, config, dtype=None, seed=None):
        """The model ``get_config`` describes (fresh weights drawn from ``seed``: copy them with ``set_weights``)."""
        from .layers import deserialize

        dtype = dtype or config.get("dtype", "float32")
        tensors = {}
        inputs = []
        for spec in config["inputs"]:
            t = Input(tuple(spec["shape"]), name=spec["name"], dtype=dtype)
            tensors[(spec["name"], 0, 0)] = t
            inputs.append(t)
        layers = []
        for i, spec in enumerate(config["layers"]):
            if spec["class_name"] == "Model":  # its layers seeded from this model's seed too
                layer = cls.from_config(spec["config"], dtype=dtype, seed=None if seed is None else int(seed) * 1000 + i)
            else:
                layer_spec = {"class_name": spec["class_name"],
                              "config": {k: v for k, v in spec["config"].items() if k != "dtype"}}
                layer = deserialize(layer_spec, dtype=dtype)
            layers.append((layer, spec.get("inbound_nodes", [])))
        pending = [(layer, k, call) for layer, calls in layers for k, call in enumerate(calls)]
        while pending:  # replay the calls in any order their inputs allow
            progressed = False
            for item in list(pending):
                layer, k, call = item
                refs = [tuple(r) for r in call["args"]]
                if all(r in tensors for r in refs):
                    args = [tensors[r] for r in refs]
                    tensors[(layer.name, k, 0)] = layer(args if call.get("as_list") else args[0])
                    pending.remove(item)
                    progressed = True
            if not progressed:
                missing = sorted({r[0] for _, _, c in pending for r in map(tuple, c["args"]) if r not in tensors})
                raise ValueError(f"Model config {config.get('name')!r}: layer calls need tensors {missing} that no "
                                 f"input or layer call makes")
        try:
            outputs = [tensors[tuple(r)] for r in config["outputs"]]
        except KeyError as e:
            raise ValueError(f"Model config {config.get('name')!r}: output {e.args[0]} is not made by any layer") from None
        model = cls(inputs if config.get("multiple_inputs") else inputs[0],
                    outputs if config.get("multiple_outputs") else outputs[0], name=config.get("name", "functional"),
                    seed=seed, preprocess=config.get("preprocess", "scale"), loss=config.get("loss"))
        if not config.get("trainable", True):  # a frozen model freezes every layer in it; a trainable one
            model.trainable = False  # keeps each layer's own flag (as Keras's from_config does)
        return model

    # -- description -----------------------------------------------------------------------
    def summary(self, print_fn=print):
        """Layers, output shapes, parameter counts and inbound layers, in Keras's columns."""
        index = {}  # (layer, node) -> node index of that layer
        for node in self.nodes:
            index[id(node)] = sum(1 for n in self.nodes[:self.nodes.index(node)] if n.layer is node.layer)
        rows = [(f"{t.name or 'input'} (InputLayer)", str(t.shape), "0", "-") for t in self.inputs]
        for node in self.nodes:
            inbound = ", ".join(f"{t.name or 'input'}" if t.node is None else
                                f"{t.node.layer.name}[{index[id(t.node)]}][0]" for t in node.inbound)
            rows.append((f"{node.layer.name} ({type(node.layer).__name__})", str(node.output.shape),
                         f"{node.layer.count_params():,}" if index[id(node)] == 0 else "0", inbound))
        head = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        w = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(head)]
        line = "+-" + "-+-".join("-" * n for n in w) + "-+"

        def fmt(r):
            return "| " + " | ".join(v.rjust(n) if c == 2 else v.ljust(n) for c, (v, n) in enumerate(zip(r, w))) + " |"

        total, trainable = self.count_params(), self.count_trainable_params()
        out = [f'Model: "{self.name}"', line, fmt(head), line] + [fmt(r) for r in rows] + [line]
        out += [f" Total params: {total:,}", f" Trainable params: {trainable:,}",
                f" Non-trainable params: {total - trainable:,}"]
        for s in out:
            print_fn(s)


def _accumulate(grads, t, g):
    """Add ``g`` to the gradient of tensor ``t`` (a new array: ``g`` may be another layer's cache)."""
    key = id(t)
    grads[key] = g if key not in grads else grads[key] + g
