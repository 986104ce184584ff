"""Normalization layers (``keras/src/layers/normalization``): BatchNormalization, LayerNormalization.

Both normalize ``x`` to ``xhat = (x - mean) / sqrt(var + eps)`` over some axes and return
``y = gamma * xhat + beta`` per channel (the last axis). They differ in *which* values the
mean and the variance are taken over:

- BatchNormalization: for each channel, over every other axis (batch and pixels), so in
  training mode every output depends on the whole batch; at inference it uses moving
  averages of those statistics instead.
- LayerNormalization: for each sample and position, over the channel axis; the same in
  training and inference.

The output is computed as Keras's TensorFlow backend does it (``tf.nn.batch_normalization``,
``keras.ops.layer_normalization``), ``inv = gamma / sqrt(var + eps)``,
``y = x * inv + (beta - mean * inv)``, and the variance is the biased one (divided by the
count, not the count minus one), as ``tf.nn.moments``.
"""

import numpy as np

from .. import initializers
from ..kernels import row_sums
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _normalize_backward(dxhat, xhat, inv_std, axes):
    """``dL/dx`` when ``xhat = (x - mean(x)) * inv_std`` with mean and variance over ``axes``.

    With ``m`` values per statistic, ``mean = sum x / m``, ``var = sum (x - mean)^2 / m``,
    ``s = inv_std = (var + eps)^(-1/2)``: ``d mean / dx_j = 1/m`` and
    ``d var / dx_j = 2 (x_j - mean) / m`` (the ``d mean`` term of the variance vanishes because
    ``sum (x - mean) = 0``), so ``d s / dx_j = -s^3 (x_j - mean) / m = -s^2 xhat_j / m``.
    Differentiating ``xhat_i = (x_i - mean) s``::

        d xhat_i / d x_j = s (delta_ij - 1/m) - s xhat_i xhat_j / m
        dx_j = sum_i dxhat_i d xhat_i / d x_j = s (dxhat_j - mean(dxhat) - xhat_j mean(dxhat * xhat))
    """
    return inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


class _Normalization(Layer):
    """What both layers share: the last-axis check, ``gamma``/``beta`` options and config."""

    def __init__(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]  # Keras's LayerNormalization stores ``[axis]`` once built
        if not isinstance(axis, int) or isinstance(axis, bool) or (axis < 0 and axis != -1):
            raise ValueError(f"{self.label}: axis must be -1 (the channel axis, last), or its index counted from the "
                             f"front; other axes are not supported, received axis={axis!r}")
        self.axis = axis
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon > 0:
            raise ValueError(f"{self.label}: epsilon must be a positive number, received {epsilon!r}")
        self.epsilon = float(epsilon)
        for name, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise ValueError(f"{self.label}: {name} must be True or False, received {value!r}")
        self.center, self.scale = center, scale
        for init in (beta_initializer, gamma_initializer):
            initializers.get(init, self.label)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ..., channels), received shape {shape}")
        if self.axis != -1 and self.axis != len(shape) - 1:
            raise ValueError(f"{self.label}: axis={self.axis} is not the last axis of a {len(shape)}-D input "
                             f"(shape {shape}); only the channel axis (last) is supported")
        if shape[-1] is None:
            raise ValueError(f"{self.label}: the channel axis must have a known size, received shape {shape}")

    def _build_scale_offset(self, channels, rng):
        if self.scale:
            self.params["gamma"] = initializers.get(self.gamma_initializer, self.label)((channels,), rng, self.dtype)
        if self.center:
            self.params["beta"] = initializers.get(self.beta_initializer, self.label)((channels,), rng, self.dtype)

    def _affine(self, x, mean, var, out=None):
        """``y = x * inv + (beta - mean * inv)``, ``inv = gamma / sqrt(var + eps)`` (Keras's order of operations);
        ``y`` is written into ``out`` when given (a buffer of ``x``'s shape)."""
        inv = 1.0 / np.sqrt(var + self.dtype.type(self.epsilon))
        inv_std = inv
        if self.scale:
            inv = inv * self.params["gamma"]
        offset = self.params["beta"] - mean * inv if self.center else -mean * inv
        y = np.multiply(x, inv, out=out)
        y += offset
        return y, inv_std

    def _scale_offset_grads(self, dy, xhat, axes):
        if self.scale:
            self.grads["gamma"] = (dy * xhat).sum(axis=axes)
        if self.center:
            self.grads["beta"] = dy.sum(axis=axes)

    def _gamma(self):
        return self.params["gamma"] if self.scale else self.dtype.type(1.0)


class BatchNormalization(_Normalization):
    """Batch normalization over the channel axis (the last one).

    Shapes: ``x: (N, ..., C) -> y: (N, ..., C)``; ``gamma``, ``beta`` (trainable, present when
    ``scale`` / ``center``), ``moving_mean``, ``moving_variance`` (non-trainable, in ``state``),
    all ``(C,)``, in that (Keras's) order.

    Training mode (``training=True`` on a trainable layer): ``mean`` and ``var`` (biased) per
    channel over every other axis (``m = N * ...`` values each), ``xhat = (x - mean) / sqrt(var + eps)``,
    ``y = gamma * xhat + beta``, and the moving statistics move towards the batch's, as Keras::

        moving_mean     = moving_mean * momentum + mean * (1 - momentum)
        moving_variance = moving_variance * momentum + var * (1 - momentum)   (var biased too)

    Inference mode (``training=False``, or any call on a frozen layer, ``trainable=False``, as
    Keras): the same formula with ``moving_mean`` / ``moving_variance``; nothing is updated.

    Backward, ``s = 1 / sqrt(var + eps)``: ``dbeta = sum dy``, ``dgamma = sum dy * xhat`` (sums
    over every axis but the channel). In inference mode the statistics are constants:
    ``dx = gamma * s * dy``. In training mode they are functions of the batch, so ``dx`` has two
    more terms (derivation in ``_normalize_backward``)::

        dx = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))
    """

    weight_names = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError(f"{self.label}: momentum must be a number in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
        for init in (moving_mean_initializer, moving_variance_initializer):
            initializers.get(init, self.label)
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer}

    def _build(self, input_shape, rng):
        c = input_shape[-1]
        self._build_scale_offset(c, rng)
        self.state["moving_mean"] = initializers.get(self.moving_mean_initializer, self.label)((c,), rng, self.dtype)
        self.state["moving_variance"] = initializers.get(self.moving_variance_initializer, self.label)(
            (c,), rng, self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        batch_stats = bool(training) and self.trainable
        t = self.dtype.type
        y = np.empty(x.shape, dtype=self.dtype)  # the output's buffer, first holding centered**2
        if batch_stats:
            count = t(x.size // x.shape[-1])
            mean = row_sums(x) / count
            centered = x - mean
            var = row_sums(np.multiply(centered, centered, out=y)) / count
            for key, batch in (("moving_mean", mean), ("moving_variance", var)):
                moving = self.state[key]
                moving[...] = moving * t(self.momentum) + batch * t(1.0 - self.momentum)
        else:
            mean, var = self.state["moving_mean"], self.state["moving_variance"]
            centered = x - mean
        y, inv_std = self._affine(x, mean, var, out=y)
        self._cache = (np.multiply(centered, inv_std, out=centered), inv_std, batch_stats)  # xhat
        return y

    def backward(self, dy):
        xhat, inv_std, batch_stats = self._cache
        dy_xhat = dy * xhat  # its buffer becomes dx below
        sum_dy, sum_dy_xhat = row_sums(dy), row_sums(dy_xhat)
        if self.scale:
            self.grads["gamma"] = sum_dy_xhat
        if self.center:
            self.grads["beta"] = sum_dy
        if not self.input_grad:
            return None
        if not batch_stats:
            return dy * (self._gamma() * inv_std)
        # _normalize_backward with the means as channel sums / count, in place on one buffer:
        # dx = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))
        count = self.dtype.type(dy.size // dy.shape[-1])
        dx = np.multiply(xhat, -(sum_dy_xhat / count), out=dy_xhat)
        dx += dy
        dx -= sum_dy / count
        dx *= self._gamma() * inv_std
        return dx


class LayerNormalization(_Normalization):
    """Layer normalization over the channel axis (the last one), per sample and position.

    Shapes: ``x: (N, ..., C) -> y: (N, ..., C)``; ``gamma``, ``beta`` ``(C,)`` (when ``scale`` /
    ``center``). Forward, the same in training and inference: ``mean``, ``var`` (biased) of the
    ``C`` values at each position, ``xhat = (x - mean) / sqrt(var + eps)``, ``y = gamma * xhat + beta``
    (as ``keras.ops.layer_normalization``: ``rsqrt(var + eps)``, epsilon inside the root).

    Backward, ``s = 1 / sqrt(var + eps)``, ``g = dy * gamma``: ``dbeta = sum dy``,
    ``dgamma = sum dy * xhat`` (over every axis but the channel), and, the statistics being
    functions of the ``C`` values they normalize,
    ``dx = s * (g - mean_C(g) - xhat * mean_C(g * xhat))`` (``_normalize_backward``).
    """

    weight_names = ("gamma", "beta")

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)

    def _build(self, input_shape, rng):
        self._build_scale_offset(input_shape[-1], rng)

    def forward(self, x, training=False):
        self._check_input(x)
        mean = x.mean(axis=-1, keepdims=True)
        var = np.square(x - mean).mean(axis=-1, keepdims=True)
        y, inv_std = self._affine(x, mean, var)
        self._cache = ((x - mean) * inv_std, inv_std)
        return y

    def backward(self, dy):
        xhat, inv_std = self._cache
        self._scale_offset_grads(dy, xhat, tuple(range(dy.ndim - 1)))
        if not self.input_grad:
            return None
        return _normalize_backward(dy * self._gamma(), xhat, inv_std, -1)
