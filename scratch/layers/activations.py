"""Activation layers (``keras/src/layers/activations``); the functions are in ``scratch.activations``.

Every layer here keeps the input's shape: ``x: (N, ...) -> y: (N, ...)``.
"""

import numbers

import numpy as np

from .. import activations, initializers
from .base import Layer

__all__ = ["Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"]


def _number(value, name, layer, allow_none=False):
    """``value`` if it is a real number >= 0 (Keras refuses negative ones), else ``ValueError``."""
    if value is None and allow_none:
        return value
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value) or value < 0:
        expected = "a float >= 0" + (" or None" if allow_none else "")
        raise ValueError(f"{layer}: {name} must be {expected}, received {value!r}")
    return value


class _Function(Layer):
    """A layer applying one ``ActivationFn`` (``self.activation``): ``y = f(x)``, backward
    ``dx = f.backward(x, y, dy)``, i.e. ``dy * f'(x)`` elementwise or the Jacobian product over an axis."""

    def forward(self, x, training=False):
        self._check_input(x)
        y = self.activation(x)
        self._cache = (x, y)
        return y

    def backward(self, dy):
        x, y = self._cache
        return self.activation.backward(x, y, dy)


class Activation(_Function):
    """``y = f(x)`` for a named activation (``scratch.activations.REGISTRY``: Keras's names,
    ``"softmax"``/``"log_softmax"`` over the last axis); backward ``dx = f.backward(x, y, dy)``,
    i.e. ``dy * f'(x)`` elementwise or the Jacobian product over the axis."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, self.label)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class ReLU(Layer):
    """Keras's ReLU layer: with ``t = threshold``, ``m = max_value``, ``a = negative_slope``::

        y = m                 if x >= m
        y = x                 if t < x < m   (x > t; relu6's kinks when m == 6 and t == 0)
        y = a * (x - t)       otherwise      (0 with the default a = 0)

    computed as Keras's backend does (``scratch.activations.relu``). Backward: ``dx = dy``
    where the positive part is not clipped, ``a * dy`` where ``x < t``, else 0; at ``x = t``
    the gradient is 0 (``a`` in the pure leaky case ``m = None, t = 0``); at ``x = m`` it is
    ``dy`` (Keras's clip passes it), except ``m = 6, t = 0``, Keras's relu6 op, where it is 0.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(max_value, "max_value", self.label, allow_none=True)
        self.negative_slope = _number(negative_slope, "negative_slope", self.label)
        self.threshold = _number(threshold, "threshold", self.label)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}

    def _options(self):
        return dict(negative_slope=self.negative_slope, max_value=self.max_value, threshold=self.threshold)

    def forward(self, x, training=False):
        self._check_input(x)
        # without a negative slope the gradient is dy where the positive part passes it, else 0: in training,
        # keep that gate (a boolean per element) from the forward pass, so backward is one multiplication
        gate = None
        if training and self.negative_slope == 0:
            gate = activations.relu_gate(x, self.max_value, self.threshold)  # plain: x > 0 (0 at exactly 0, as Keras)
        self._cache = (x, gate)
        return activations.relu(x, **self._options())

    def backward(self, dy):
        x, gate = self._cache
        if gate is None and self.negative_slope == 0:  # a backward pass after forward(training=False)
            gate = activations.relu_gate(x, self.max_value, self.threshold)
        if gate is not None:  # = relu_backward's where(gate, dy, 0) for every finite dy (a NaN dy stays NaN)
            return dy * gate
        return activations.relu_backward(x, None, dy, **self._options())


class LeakyReLU(_Function):
    """``y = x if x > 0 else negative_slope * x`` (layer default 0.3, Keras 3's; the function
    ``leaky_relu`` defaults to 0.2). Backward ``dx = dy if x > 0 else negative_slope * dy``
    (the slope at exactly 0, as TensorFlow)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = _number(negative_slope, "negative_slope", self.label)
        self.activation = activations.leaky_relu_fn(self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Function):
    """``y = x if x > 0 else alpha * (exp(x) - 1)``. Backward ``dx = dy`` for ``x > 0``, else
    ``alpha * dy * exp(x)`` (computed as TensorFlow: ``alpha * dy * (elu_1(x) + 1)``; ``alpha * dy``
    at 0 when ``alpha != 1``, ``dy`` when ``alpha == 1``).

    Keras's ELU layer has no ``get_config`` of its own, so a Keras config loses ``alpha``; ours
    keeps it."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not np.isfinite(alpha):
            raise ValueError(f"{self.label}: alpha must be a float, received {alpha!r}")
        self.alpha = alpha
        self.activation = activations.elu_fn(alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: ``y = max(x, 0) - alpha * max(-x, 0)`` with a learned ``alpha``.

    Shapes: ``x: (N, d1, ..., dk)``; ``alpha: (d1, ..., dk)`` with a 1 on every axis of
    ``shared_axes`` (axis numbers counted with the batch as 0, as Keras: ``shared_axes=[1, 2]``
    on NHWC images gives one alpha per channel, ``(1, 1, C)``).

    Backward: ``dx = dy`` where ``x > 0``, ``alpha * dy`` where ``x < 0``, 0 at 0;
    ``dalpha = -sum(dy * max(-x, 0))`` over the batch and the shared axes.
    """

    weight_names = ("alpha",)

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        initializers.get(alpha_initializer, self.label)
        self.alpha_initializer = alpha_initializer
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        if shared_axes is not None:
            shared_axes = list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in shared_axes):
                raise ValueError(f"{self.label}: shared_axes must be axis numbers >= 1 (axis 0 is the batch), "
                                 f"received {shared_axes!r}")
        self.shared_axes = shared_axes

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "shared_axes": self.shared_axes}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ...), received shape {shape}")
        shared = self.shared_axes or []
        if any(a >= len(shape) for a in shared):
            raise ValueError(f"{self.label}: shared_axes {shared} out of range for {len(shape)}-D input "
                             f"(shape {shape})")
        for i in range(1, len(shape)):
            if i not in shared and shape[i] is None:
                raise ValueError(f"{self.label}: axis {i} is not shared, so its size must be known; "
                                 f"received shape {shape}")
            if self.built and i not in shared and (len(shape) != len(self.input_shape)
                                                   or shape[i] != self.input_shape[i]):
                raise ValueError(f"{self.label}: expected input shape {self.input_shape} (the size of every "
                                 f"axis not in shared_axes is fixed by alpha), received {shape}")

    def _alpha_shape(self, input_shape):
        return tuple(1 if i in (self.shared_axes or []) else input_shape[i] for i in range(1, len(input_shape)))

    def _build(self, input_shape, rng):
        self.params["alpha"] = initializers.get(self.alpha_initializer, self.label)(
            self._alpha_shape(input_shape), rng, self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        negative = np.maximum(-x, 0)
        self._cache = (x, negative)
        return np.maximum(x, 0) + (-self.params["alpha"]) * negative

    def backward(self, dy):
        x, negative = self._cache
        alpha = self.params["alpha"]
        axes = (0,) + tuple(self.shared_axes or ())
        self.grads["alpha"] = -(dy * negative).sum(axis=axes, keepdims=True).reshape(alpha.shape)
        return np.where(x > 0, dy, np.where(x < 0, dy * alpha, 0).astype(dy.dtype, copy=False))


class Softmax(_Function):
    """Softmax over ``axis`` (an int, or a list of ints: normalized over all of them together):
    ``y = exp(x - max) / sum(exp(x - max))``; backward ``dx = y * (dy - sum(dy * y))`` over
    the same axes.

    For training, prefer logits and a loss with ``from_logits=True``: it is stabler and its
    gradient is fused (see ``scratch.losses``).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"{self.label}: axis must be an int or a non-empty list of ints, received {axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.activation = activations.softmax_fn(self._axes())

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def _axes(self):
        return tuple(self.axis) if isinstance(self.axis, list) else self.axis

    def _check_shape(self, shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -len(shape) <= a < len(shape) for a in axes):
            raise ValueError(f"{self.label}: axis {self.axis} is out of range for {len(shape)}-D input "
                             f"(shape {shape})")
        if len({a % len(shape) for a in axes}) != len(axes):
            raise ValueError(f"{self.label}: axis {self.axis} repeats an axis (input shape {shape})")
