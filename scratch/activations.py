"""Activation functions, forward and backward, by their ``keras.activations`` names.

Each activation is a pair of functions on NumPy arrays of any shape::

    forward(x)           -> y
    backward(x, y, dy)   -> dx = dy * f'(x)       (or the Jacobian product for softmax)

``backward`` gets both the input ``x`` and the output ``y`` so each rule can use whichever
is cheaper or stabler (ReLU masks with ``y > 0``, sigmoid uses ``y * (1 - y)``); it never
modifies ``dy``, ``x`` or ``y``.

The layers use them through ``get(name, layer)``: ``Conv2D(..., activation="relu")``,
``Dense``, ``Activation("gelu")``. ``None`` and ``"linear"`` are the identity.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActivationFn:
    """One activation: ``name`` (Keras's), ``forward(x)`` and ``backward(x, y, dy)``."""

    name: str
    forward: object
    backward: object

    def __call__(self, x):
        return self.forward(x)


# -- the functions -------------------------------------------------------------------------
def linear(x):
    return x


def _linear_backward(x, y, dy):
    return dy


def relu(x):
    """``max(x, 0)``."""
    return np.maximum(x, 0)


def _relu_backward(x, y, dy):
    return dy * (y > 0)  # gradient 0 at exactly 0, as Keras


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` over ``axis``, shifted so ``exp`` never overflows."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax_backward(y, dy, axis=-1):
    """``dx = y * (dy - sum(dy * y))`` over ``axis`` (the softmax Jacobian applied to ``dy``)."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def _softmax_backward(x, y, dy):
    return softmax_backward(y, dy)


REGISTRY = {
    "linear": ActivationFn("linear", linear, _linear_backward),
    "relu": ActivationFn("relu", relu, _relu_backward),
    "softmax": ActivationFn("softmax", softmax, _softmax_backward),
}


def get(identifier, layer="activation"):
    """The ``ActivationFn`` named ``identifier`` (``None`` is ``linear``); ``ValueError`` naming ``layer`` else."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, ActivationFn):
        return identifier
    if not isinstance(identifier, str) or identifier not in REGISTRY:
        raise ValueError(f"{layer}: unknown activation {identifier!r}; supported: {sorted(REGISTRY)}")
    return REGISTRY[identifier]
