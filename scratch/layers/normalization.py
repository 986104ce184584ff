"""Normalization layers (``keras/src/layers/normalization``): BatchNormalization,
LayerNormalization, GroupNormalization.

All normalize ``x`` to ``xhat = (x - mean) / sqrt(var + eps)`` over some axes and return
``y = gamma * xhat + beta`` (per channel, the last axis; LayerNormalization per position of its
axes). They differ in *which* values the mean and the variance are taken over:

- BatchNormalization: for each channel, over every other axis (batch and pixels), so in
  training mode every output depends on the whole batch; at inference it uses moving
  averages of those statistics instead.
- LayerNormalization: for each sample, over its ``axis`` (the channels by default, or any list
  of axes: ``[1, 2, 3]`` a whole image); the same in training and inference.
- GroupNormalization: for each sample and group of ``C / groups`` consecutive channels, over
  those channels and every position; the same in training and inference.

The output is computed as Keras's TensorFlow backend does it (``tf.nn.batch_normalization``,
``keras.ops.layer_normalization``), ``inv = gamma / sqrt(var + eps)``,
``y = x * inv + (beta - mean * inv)``, and the variance is the biased one (divided by the
count, not the count minus one), as ``tf.nn.moments``.
"""

import numpy as np

from .. import initializers
from ..kernels import channelwise, row_sums
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization"]


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
    """What the three layers share: the last-axis check, ``gamma``/``beta`` options and config."""

    def __init__(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs):
        super().__init__(**kwargs)
        self.axis = self._valid_axis(axis)
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

    def _valid_axis(self, axis):
        """The channel axis: -1, or its index counted from the front (checked at build)."""
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]  # Keras's LayerNormalization stores ``[axis]`` once built
        if not isinstance(axis, int) or isinstance(axis, bool) or (axis < 0 and axis != -1):
            raise ValueError(f"{self.label}: axis must be -1 (the channel axis, last), or its index counted from the "
                             f"front; other axes are not supported, received axis={axis!r}")
        return axis

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

    def _affine(self, x, mean, var, shape=None, out=None):
        """``y = x * inv + (beta - mean * inv)``, ``inv = gamma / sqrt(var + eps)`` (Keras's order of
        operations); ``gamma``/``beta`` reshaped to ``shape`` (broadcasting against ``x``) when given;
        ``y`` is written into ``out`` when given (a buffer of ``x``'s shape)."""
        inv, offset, inv_std = self._scale_offset(mean, var, shape)
        y = channelwise(np.multiply, x, inv, out=out)
        channelwise(np.add, y, offset, out=y)
        return y, inv_std

    def _scale_offset(self, mean, var, shape=None):
        """``(inv, offset, 1 / sqrt(var + eps))`` of ``_affine``: ``y = x * inv + offset``."""
        inv = 1.0 / np.sqrt(var + self.dtype.type(self.epsilon))
        inv_std = inv
        if self.scale:
            inv = inv * (self.params["gamma"] if shape is None else self.params["gamma"].reshape(shape))
        if self.center:
            offset = (self.params["beta"] if shape is None else self.params["beta"].reshape(shape)) - mean * inv
        else:
            offset = -mean * inv
        return inv, offset, inv_std

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
    FOLDS_INTO_CONVOLUTION = True  # inference_affine: predict folds it into the convolution before it

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
        if not batch_stats:  # the moving statistics; xhat only if a backward pass asks for it
            y, inv_std = self._affine(x, self.state["moving_mean"], self.state["moving_variance"], out=y)
            self._cache = (x, self.state["moving_mean"].copy(), inv_std, batch_stats)
            return y
        count = t(x.size // x.shape[-1])
        mean = row_sums(x) / count
        centered = channelwise(np.subtract, x, mean)
        var = row_sums(np.multiply(centered, centered, out=y)) / count
        for key, batch in (("moving_mean", mean), ("moving_variance", var)):
            moving = self.state[key]
            moving[...] = moving * t(self.momentum) + batch * t(1.0 - self.momentum)
        y, inv_std = self._affine(x, mean, var, out=y)
        self._cache = (channelwise(np.multiply, centered, inv_std, out=centered), inv_std, batch_stats)  # xhat
        return y

    def inference_affine(self):
        """``(inv, offset)``: inference mode is ``y = x * inv + offset`` per channel (the moving statistics);
        ``predict`` folds it into the convolution before it (``scratch.models.fusion.plan_inference``)."""
        return self._scale_offset(self.state["moving_mean"], self.state["moving_variance"])[:2]

    def _xhat(self):
        """``xhat`` of the last forward pass (kept in training mode, computed here after an inference one)."""
        if self._cache[-1]:
            return self._cache[0]
        x, mean, inv_std, _ = self._cache
        centered = channelwise(np.subtract, x, mean)
        return channelwise(np.multiply, centered, inv_std, out=centered)

    def backward(self, dy):
        inv_std, batch_stats = self._cache[-2:]
        xhat = self._xhat()
        dy_xhat = dy * xhat  # its buffer becomes dx below
        sum_dy, sum_dy_xhat = row_sums(dy), row_sums(dy_xhat)
        if self.scale:
            self.grads["gamma"] = sum_dy_xhat
        if self.center:
            self.grads["beta"] = sum_dy
        if not self.input_grad:
            return None
        if not batch_stats:
            return channelwise(np.multiply, dy, self._gamma() * inv_std)
        # _normalize_backward with the means as channel sums / count, in place on one buffer:
        # dx = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))
        count = self.dtype.type(dy.size // dy.shape[-1])
        dx = channelwise(np.multiply, xhat, -(sum_dy_xhat / count), out=dy_xhat)
        dx += dy
        channelwise(np.subtract, dx, sum_dy / count, out=dx)
        channelwise(np.multiply, dx, self._gamma() * inv_std, out=dx)
        return dx


class LayerNormalization(_Normalization):
    """Layer normalization of each sample over ``axis`` (an int, or a list of axes), as Keras.

    Shapes: ``x: (N, ...) -> y`` of the same shape. ``gamma``, ``beta`` (when ``scale`` /
    ``center``) have the sizes of the normalized axes, in sorted order (Keras's
    ``tuple(input_shape[d] for d in sorted(axis))``: ``(C,)`` for the channels, ``(H, W)`` for
    ``axis=[1, 2]``), and are reshaped, in C order, to the input's rank with 1 on the other axes
    (``ops.layer_normalization``'s broadcast).

    Forward, the same in training and inference: ``mean``, ``var`` (biased) of the values of the
    normalized axes at each position of the others, ``xhat = (x - mean) / sqrt(var + eps)``,
    ``y = gamma * xhat + beta`` (``rsqrt(var + eps)``, epsilon inside the root).

    Backward, ``s = 1 / sqrt(var + eps)``, ``g = dy * gamma``: ``dbeta = sum dy``,
    ``dgamma = sum dy * xhat`` (over the axes not normalized), and, the statistics being
    functions of the values they normalize,
    ``dx = s * (g - mean(g) - xhat * mean(g * xhat))`` over the normalized axes (``_normalize_backward``).
    """

    weight_names = ("gamma", "beta")

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)

    def _valid_axis(self, axis):
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"{self.label}: axis must be an int or a list of ints, received axis={axis!r}")
        return axis if isinstance(axis, int) else list(axis)

    def _axes(self, ndim):
        """Keras's sorted axes (as given) and the same axes counted from the front."""
        raw = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        return raw, tuple(a % ndim for a in raw)

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ...), received shape {shape}")
        raw, axes = self._axes(len(shape))
        if any(a < -len(shape) or a >= len(shape) for a in raw) or 0 in axes or len(set(axes)) != len(axes):
            raise ValueError(f"{self.label}: axis={self.axis} does not name distinct non-batch axes of a "
                             f"{len(shape)}-D input (shape {shape})")
        sizes = tuple(shape[a] for a in raw)
        if None in sizes:
            raise ValueError(f"{self.label}: the normalized axes {self.axis} must have known sizes, received "
                             f"shape {shape}")
        if self.built and "gamma" in self.params and sizes != self.params["gamma"].shape or \
                self.built and "beta" in self.params and sizes != self.params["beta"].shape:
            raise ValueError(f"{self.label}: built for sizes {sizes} on axes {self.axis}, received shape {shape}")

    def _build(self, input_shape, rng):
        raw, _ = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in raw)
        if self.scale:
            self.params["gamma"] = initializers.get(self.gamma_initializer, self.label)(shape, rng, self.dtype)
        if self.center:
            self.params["beta"] = initializers.get(self.beta_initializer, self.label)(shape, rng, self.dtype)

    def _broadcast_shape(self, ndim, sizes):
        shape = [1] * ndim
        for a, n in zip(self._axes(ndim)[1], sizes):
            shape[a] = n
        return tuple(shape)

    def forward(self, x, training=False):
        self._check_input(x)
        raw, axes = self._axes(x.ndim)
        shape = self._broadcast_shape(x.ndim, [x.shape[a] for a in raw])
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        y, inv_std = self._affine(x, mean, var, shape)
        self._cache = ((x - mean) * inv_std, inv_std, axes, shape)
        return y

    def backward(self, dy):
        xhat, inv_std, axes, shape = self._cache
        others = tuple(a for a in range(dy.ndim) if a not in axes)
        if self.scale:
            self.grads["gamma"] = (dy * xhat).sum(axis=others).reshape(self.params["gamma"].shape)
        if self.center:
            self.grads["beta"] = dy.sum(axis=others).reshape(self.params["beta"].shape)
        if not self.input_grad:
            return None
        g = dy * self.params["gamma"].reshape(shape) if self.scale else dy
        return _normalize_backward(g, xhat, inv_std, axes)


class GroupNormalization(_Normalization):
    """Group normalization (Wu & He), as Keras's ``GroupNormalization``: the ``C`` channels (the last
    axis) split into ``groups`` blocks of ``C / groups`` consecutive channels; each sample's block is
    normalized over its channels and every position (``groups=-1``: one group per channel,
    instance normalization; ``groups=1``: layer normalization over the whole sample).

    Shapes: ``x: (N, ..., C) -> y`` of the same shape; ``gamma``, ``beta`` ``(C,)``. With ``x``
    viewed as ``(N, P, G, C/G)`` (``P`` the positions)::

        mean, var = moments over axes (P, C/G)          (biased variance)
        y = x * inv + (beta - mean * inv),   inv = gamma / sqrt(var + eps)

    the same in training and inference. Backward, ``s = 1 / sqrt(var + eps)``: ``dbeta = sum dy``,
    ``dgamma = sum dy * xhat`` over ``(N, P)``, ``dx = s * (g - mean(g) - xhat * mean(g * xhat))``
    over ``(P, C/G)`` with ``g = dy * gamma`` (``_normalize_backward``).
    """

    weight_names = ("gamma", "beta")

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", **kwargs):
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if not isinstance(groups, int) or isinstance(groups, bool) or (groups <= 0 and groups != -1):
            raise ValueError(f"{self.label}: groups must be a positive int or -1 (one per channel), "
                             f"received {groups!r}")
        self.groups = groups

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}

    def _check_shape(self, shape):
        super()._check_shape(shape)
        c = shape[-1]
        groups = c if self.groups == -1 else self.groups
        if groups > c or c % groups:
            raise ValueError(f"{self.label}: groups={self.groups} must divide the {c} channels (input shape {shape})")

    def _build(self, input_shape, rng):
        self._build_scale_offset(input_shape[-1], rng)

    def forward(self, x, training=False):
        self._check_input(x)
        c = x.shape[-1]
        g = c if self.groups == -1 else self.groups
        xg = x.reshape(x.shape[0], -1, g, c // g)
        mean = xg.mean(axis=(1, 3), keepdims=True)
        var = np.square(xg - mean).mean(axis=(1, 3), keepdims=True)
        y, inv_std = self._affine(xg, mean, var, (1, 1, g, c // g))
        self._cache = ((xg - mean) * inv_std, inv_std, x.shape)
        return y.reshape(x.shape)

    def backward(self, dy):
        xhat, inv_std, shape = self._cache
        dyg = dy.reshape(xhat.shape)
        if self.scale:
            self.grads["gamma"] = (dyg * xhat).sum(axis=(0, 1)).reshape(-1)
        if self.center:
            self.grads["beta"] = dyg.sum(axis=(0, 1)).reshape(-1)
        if not self.input_grad:
            return None
        g = dyg * self.params["gamma"].reshape(xhat.shape[2:]) if self.scale else dyg
        return _normalize_backward(g, xhat, inv_std, (1, 3)).reshape(shape)
