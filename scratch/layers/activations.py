"""Activation layers (``keras/src/layers/activations``); the functions are in ``scratch.activations``."""

import numpy as np

from .. import activations
from .base import Layer

__all__ = ["ReLU", "Softmax"]


class ReLU(Layer):
    """``y = max(x, 0)``; backward ``dx = dy * (x > 0)`` (gradient 0 at exactly 0, as Keras)."""

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x > 0
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * self._cache


class Softmax(Layer):
    """Softmax over the last axis; backward ``dx = y * (dy - sum(dy * y))``.

    For training, prefer logits and a loss with ``from_logits=True``: it is stabler and its
    gradient is fused (see ``scratch.losses``).
    """

    def forward(self, x, training=False):
        self._check_input(x)
        y = activations.softmax(x)
        self._cache = y
        return y

    def backward(self, dy):
        return activations.softmax_backward(self._cache, dy)
