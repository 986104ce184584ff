"""Preprocessing layers (``keras/src/layers/preprocessing``)."""

import numbers

import numpy as np

from .base import Layer

__all__ = ["Rescaling"]


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
