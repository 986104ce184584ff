"""Preprocessing layers (``keras/src/layers/preprocessing``)."""

import numbers

import numpy as np

from .base import Layer

__all__ = ["Rescaling", "Normalization"]


def _factor(value, name, label):
    """A finite number, or a non-empty list of them (one per channel), as Keras's config keeps it."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
                             for v in values):
        raise ValueError(f"{label}: {name} must be a finite number or a list of them (one per channel), "
                         f"received {value!r}")
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


class Rescaling(Layer):
    """``y = x * scale + offset``, elementwise, in training and inference alike.

    Shapes: ``x: (N, ...)`` -> ``y: (N, ...)``. ``scale`` and ``offset`` are numbers, or
    lists broadcast over the last (channel) axis. No weights.

    Backward: ``dx = dy * scale`` (the offset has no gradient and nothing to learn).

    As Keras, ``scale`` and ``offset`` become float32 numbers before the cast to the layer's
    dtype (Keras converts Python numbers to float32 tensors first), so a float64 layer
    multiplies by ``float64(float32(scale))``.

    ``Rescaling(1 / 255)`` turns raw 0-255 pixels into ``[0, 1]``; ``Rescaling(1 / 255,
    offset=-0.5)`` into ``[-0.5, 0.5]``: a model that starts with one takes raw pixels.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _factor(scale, "scale", self.label)
        self.offset = _factor(offset, "offset", self.label)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, "
                             f"received shape {shape}")
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            if isinstance(value, list) and len(value) not in (1, shape[-1]):
                raise ValueError(f"{self.label}: {name} has {len(value)} values, the input has {shape[-1]} "
                                 f"channels (last axis of {shape})")

    def forward(self, x, training=False):
        self._check_input(x)
        scale, offset = (np.asarray(v, dtype=np.float32).astype(self.dtype) for v in (self.scale, self.offset))
        self._cache = scale
        return x * scale + offset

    def backward(self, dy):
        scale = self._cache
        return dy * scale if self.input_grad else None


# -- Normalization --
class Normalization(Layer):
    """Feature-wise standardization with a given mean and variance (Keras's ``Normalization``).

    Shapes: any ``x: (N, ...)`` -> the same shape.

    Forward: ``y = (x - mean) / max(sqrt(variance), eps)`` with ``eps = 1e-7`` (Keras's
    ``backend.epsilon()``); with ``invert=True``, ``y = mean + x * max(sqrt(variance), eps)``.
    Backward: ``dx = dy / max(sqrt(variance), eps)`` (``invert``: ``dx = dy * max(...)``).

    ``axis`` (int, tuple of ints, or None = one scalar mean/variance) names the axes that keep a
    separate mean and variance; ``mean`` and ``variance`` (scalars or arrays of the same shape)
    are broadcast over the kept axes, their dimensions matched to the kept axes from the right,
    as Keras does. They are configuration, not weights (Keras's layer built from given values
    has no weights). Keras's other way of setting them, ``adapt()`` on data (which stores them
    as non-trainable weights), is not implemented: ``mean`` and ``variance`` must be given.
    """

    EPSILON = 1e-7

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axis = (axis,)
        try:
            axis = tuple(axis)
        except TypeError:
            axis = None
        if axis is None or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"{self.label}: axis must be an int, a tuple of ints or None, received {axis!r}")
        self.axis = axis
        if mean is None or variance is None:
            raise ValueError(f"{self.label}: mean and variance must both be given (adapt() is not implemented in "
                             f"the scratch engine), received mean={mean!r} and variance={variance!r}")
        m, v = np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64)
        if m.shape != v.shape:
            raise ValueError(f"{self.label}: mean and variance must have the same shape, received mean shape "
                             f"{m.shape} and variance shape {v.shape}")
        if m.ndim > len(axis):
            raise ValueError(f"{self.label}: the rank of mean must be at most the number of axes ({len(axis)}), "
                             f"received mean shape {m.shape} for axis {axis}")
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))) or np.any(v < 0):
            raise ValueError(f"{self.label}: mean must be finite and variance finite and >= 0, received "
                             f"mean={mean!r}, variance={variance!r}")
        self.invert = bool(invert)
        self.mean, self.variance = m, v  # exact, as given; cast to the layer's dtype at build

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "mean": self.mean.tolist(),
                "variance": self.variance.tolist(), "invert": self.invert}

    def _check_shape(self, shape):
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{self.label}: axis values must be in [-{ndim}, {ndim}) for {ndim}-D input, received "
                             f"axis={self.axis} (input shape {shape})")
        keep = sorted({a % ndim for a in self.axis})
        for d in keep:
            if shape[d] is None:
                raise ValueError(f"{self.label}: axis {d} keeps a mean per index but its size is unknown "
                                 f"(axis={self.axis}, input shape {shape})")

    def _build(self, input_shape, rng):
        ndim = len(input_shape)
        keep = sorted({a % ndim for a in self.axis})
        target = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        expanded = [1] * ndim  # the given dimensions go to the kept axes, matched from the right
        for i in range(1, self.mean.ndim + 1):
            expanded[keep[-i]] = self.mean.shape[-i]
        try:
            mean = np.broadcast_to(self.mean.reshape(expanded), target)
            variance = np.broadcast_to(self.variance.reshape(expanded), target)
        except ValueError:
            raise ValueError(f"{self.label}: mean/variance of shape {self.mean.shape} do not broadcast to the kept "
                             f"axes {tuple(keep)} of input shape {input_shape} (expected {target})") from None
        self._mean = mean.astype(self.dtype)
        self._std = np.maximum(np.sqrt(variance.astype(self.dtype)), self.dtype.type(self.EPSILON))

    def forward(self, x, training=False):
        self._check_input(x)
        if any(m != 1 and m != d for m, d in zip(self._mean.shape[1:], x.shape[1:])):
            raise ValueError(f"{self.label}: built for input shape {self.input_shape} with a mean per index of axis "
                             f"{self.axis}, received shape {x.shape}")
        if self.invert:
            return self._mean + x * self._std
        return (x - self._mean) / self._std

    def backward(self, dy):
        return dy * self._std if self.invert else dy / self._std
