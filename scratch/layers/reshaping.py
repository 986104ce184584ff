"""Reshaping layers (``keras/src/layers/reshaping``)."""

import numpy as np

from .base import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """``(N, H, W, C)`` -> ``(N, H*W*C)``, row-major over (H, W, C) as Keras on channels-last.

    Backward reshapes ``dy`` back to the input shape.
    """

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, received shape {shape}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._cache)
