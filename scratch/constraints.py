"""Weight constraints, as Keras 3's ``keras.constraints`` (``keras/src/constraints``).

A constraint is a projection ``w -> c(w)`` applied to a trainable weight after each optimizer
update (Keras's ``BaseOptimizer.apply``: the update of every weight, then, for every weight with
a constraint, ``w.assign(c(w))``, then ``iterations += 1``). With ``n = sqrt(sum(w**2, axis,
keepdims=True))`` (the norm of each slice along ``axis``), ``eps = 1e-7`` (Keras's
``backend.epsilon()``) and every scalar cast to ``w``'s dtype::

    MaxNorm(max_value=2, axis=0):   c(w) = w * (clip(n, 0, max_value) / (eps + n))
    NonNeg():                       c(w) = max(w, 0)
    UnitNorm(axis=0):               c(w) = w / (eps + n)
    MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0):
                                    c(w) = w * ((rate * clip(n, min_value, max_value) + (1 - rate) * n) / (eps + n))

``axis`` is an int or a list of ints (``[0, 1, 2]``: one norm per filter of a ``(kh, kw, in, out)``
kernel). Names Keras's ``constraints.get`` takes: the class names and their snake case
(``"max_norm"``, ``"non_neg"``, ``"unit_norm"``, ``"min_max_norm"``), with default arguments.
"""

import numpy as np

from . import keras_objects

EPSILON = 1e-7


def _axis(axis, label):
    if isinstance(axis, (list, tuple)):
        if not axis or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"{label}: axis must be an int or a list of ints, received {axis!r}")
        return list(axis)
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ValueError(f"{label}: axis must be an int or a list of ints, received {axis!r}")
    return axis


def _number(value, name, label):
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) \
            or not np.isfinite(value):
        raise ValueError(f"{label}: {name} must be a finite number, received {value!r}")
    return value


class Constraint:
    """``c(w)`` (``__call__``, a new array) and ``apply(w)`` (``w[...] = c(w)``, in place)."""

    def __call__(self, w):
        raise NotImplementedError

    def apply(self, w):
        w[...] = self(w)

    def get_config(self):
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"

    def _norms(self, w):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        if max(axis if isinstance(axis, tuple) else (axis,)) >= w.ndim:
            raise ValueError(f"{type(self).__name__}: axis={self.axis} out of range for a weight of shape {w.shape}")
        return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        cast = w.dtype.type
        norms = self._norms(w)
        desired = np.clip(norms, cast(0), cast(self.max_value))
        return w * (desired / (cast(EPSILON) + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        return w / (w.dtype.type(EPSILON) + self._norms(w))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number(min_value, "min_value", "MinMaxNorm")
        self.max_value = _number(max_value, "max_value", "MinMaxNorm")
        self.rate = _number(rate, "rate", "MinMaxNorm")
        self.axis = _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        cast = w.dtype.type
        norms = self._norms(w)
        desired = (cast(self.rate) * np.clip(norms, cast(self.min_value), cast(self.max_value))
                   + cast(1 - self.rate) * norms)
        return w * (desired / (cast(EPSILON) + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm}
NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm, **CLASSES}


def get(identifier, label="constraint"):
    """A ``Constraint`` from ``None``, an instance, a Keras name (``"max_norm"``) or a serialized dict
    (``{"class_name": "MaxNorm", "config": {...}}``); anything else refused naming ``label``."""
    return keras_objects.get(identifier, label, "constraint", Constraint, NAMES, CLASSES)


def serialize(constraint):
    """Keras's serialized form (``keras.constraints.serialize``), or None."""
    return keras_objects.serialize(constraint, "keras.constraints")
