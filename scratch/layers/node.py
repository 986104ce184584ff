"""The symbolic graph: what calling a layer on ``scratch.Input`` records instead of computing.

    x = scratch.Input((32, 32, 3))          # a SymbolicTensor: shape (None, 32, 32, 3), no values
    y = scratch.Conv2D(16, 3)(x)            # builds the layer for that shape, records a Node

A ``Node`` is one call of a layer on its inbound tensors; its ``output`` is a new
``SymbolicTensor`` that points back to it. ``scratch.Model(inputs, outputs)`` walks these
pointers from the outputs to the inputs to find its nodes. This module sits below ``Layer``
(``Layer.__call__`` calls ``connect``), as Keras keeps ``KerasTensor`` and ``Node`` below its
``Layer``; it knows layers only through ``layer.connect_check(shape, as_list)``.
"""

import numpy as np


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
        self.cache = None  # the layer's forward cache of this call (see Model.forward)


def Input(shape, name=None, dtype="float32"):
    """A model input of ``shape`` (no batch axis), as ``keras.Input``: ``None`` for a size that may vary
    from call to call (``Input((None, None, 3))``: images of any height and width)."""
    shape = tuple(shape)
    if not all(d is None or isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"Input: shape must be positive ints or None (no batch axis), received {shape!r}")
    return SymbolicTensor((None,) + shape, dtype, name=name)


def shape_fits(shape, want):
    """Whether a concrete ``shape`` fits ``want`` (same rank; ``None`` in ``want`` takes any size)."""
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def is_symbolic(x):
    return isinstance(x, SymbolicTensor) or (
        isinstance(x, (list, tuple)) and x and all(isinstance(t, SymbolicTensor) for t in x))


def connect(layer, x):
    """Record ``layer(x)`` for symbolic ``x``: the layer checks (and if needed builds for) the
    shape, and the node's output tensor is returned."""
    as_list = isinstance(x, (list, tuple))
    inbound = list(x) if as_list else [x]
    for t in inbound:
        if not layer.accepts_dtype(t.dtype):
            inputs = getattr(layer, "inputs", None) if layer.built else None  # a model called as a layer
            takes = " or ".join(sorted({u.dtype.name for u in inputs})) if inputs else layer.dtype.name
            raise ValueError(f"{layer.label}: called on a {t.dtype.name} tensor {t!r}, but the layer takes {takes} "
                             f"input (it computes in {layer.dtype.name})")
    shapes = [t.shape for t in inbound]
    shape = shapes if as_list else shapes[0]
    layer.connect_check(shape, as_list)
    node = Node(layer, inbound, as_list)
    node.output = SymbolicTensor(layer.compute_output_shape(shape), layer.dtype, node)
    return node.output


def leaf_layers(model):
    """Every layer of ``model`` that computes, nested models opened (a graph's sub-models)."""
    for layer in model.layers:
        if hasattr(layer, "nodes"):
            yield from leaf_layers(layer)
        else:
            yield layer
