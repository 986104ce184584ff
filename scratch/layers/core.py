"""Core layers (``keras/src/layers/core``)."""

import numpy as np

from .. import initializers
from .base import Layer, positive_int

__all__ = ["Dense", "ConstantOp"]


class Dense(Layer):
    """Fully connected layer on the last axis.

    Shapes: ``x: (N, ..., in)`` -> ``y: (N, ..., units)``; kernel ``(in, units)``, bias
    ``(units,)``. On more than two axes it applies to the last one at every position (as Keras).

    Forward ``z = x @ W + b, y = act(z)``. Backward ``dW = x.T @ dz``, ``db = sum_n dz``,
    ``dx = dz @ W.T``.
    """

    weight_names = ("kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", self.label)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._weight_options_config()}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ..., features), received shape {shape}")
        if self.built and shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{self.label}: expected {self.input_shape[-1]} input features, received {shape[-1]}")
        if shape[-1] is None:
            raise ValueError(f"{self.label}: the last axis of the input must have a known size, received shape {shape}")

    def _build(self, input_shape, rng):
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(
            (input_shape[-1], self.units), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.units,), rng, self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        self._check_input(x)
        z = x @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        y = self.activation(z)
        self._cache = (x, z, y)
        return y

    def pre_activation_output(self):
        """``z`` of the last ``forward`` (the logits, when the activation is a softmax)."""
        return self._cache[1]

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (a model whose softmax output's
        loss is computed from the logits, as Keras)."""
        x, z, y = self._cache
        dz = dy if pre_activation else self.activation.backward(z, y, dy)
        rows = dz.reshape(-1, self.units)  # every leading axis is a batch of rows
        self.grads["kernel"] = x.reshape(-1, x.shape[-1]).T @ rows
        if self.use_bias:
            self.grads["bias"] = rows.sum(axis=0)
        return dz @ self.params["kernel"].T if self.input_grad else None


class ConstantOp(Layer):
    """An arithmetic operation with a constant, as Keras records ``x + 3.0`` or ``x * (1 / 6)`` written
    on a symbolic tensor (a ``keras.ops`` call in a Functional graph, e.g. MobileNetV3's hard sigmoid).

    ``op``: ``"add"``, ``"subtract"``, ``"multiply"`` or ``"divide"``; ``value``: the constant (a
    number, cast to the layer's dtype as Keras casts a Python number to the tensor's dtype);
    ``reverse``: the constant comes first (``3.0 - x``, ``1.0 / x``).

    Shapes: any ``x`` -> the same shape. Backward: ``dy``, ``±dy``, ``dy * value``, ``dy / value``
    or, for ``value / x``, ``-dy * value / x**2``.
    """

    OPS = ("add", "subtract", "multiply", "divide")

    def __init__(self, op, value, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if op not in self.OPS:
            raise ValueError(f"{self.label}: op must be one of {self.OPS}, received {op!r}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
            raise ValueError(f"{self.label}: value must be a finite number, received {value!r}")
        if op == "divide" and not reverse and value == 0:
            raise ValueError(f"{self.label}: dividing by the constant 0")
        self.op, self.value, self.reverse = op, float(value), bool(reverse)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "value": self.value, "reverse": self.reverse}

    def forward(self, x, training=False):
        self._check_input(x)
        c = self.dtype.type(self.value)
        self._cache = x
        if self.op == "add":
            return x + c if not self.reverse else c + x
        if self.op == "multiply":
            return x * c if not self.reverse else c * x
        if self.op == "subtract":
            return c - x if self.reverse else x - c
        return c / x if self.reverse else x / c

    def backward(self, dy):
        c = self.dtype.type(self.value)
        if self.op == "add":
            return dy
        if self.op == "multiply":
            return dy * c
        if self.op == "subtract":
            return -dy if self.reverse else dy
        x = self._cache
        return -dy * c / (x * x) if self.reverse else dy / c
