"""Convolution layers (``keras/src/layers/convolutional``): Conv2D, DepthwiseConv2D, SeparableConv2D."""

import numpy as np

from .. import activations, geometry, initializers
from ..kernels import (
    add_bias_relu,
    col2im,
    depthwise,
    depthwise_backward,
    im2col,
    output_size,
    relu_mask,
    repeat_channels,
    row_sums,
)
from .base import Layer, check_rank4, check_window_fits, positive_int

__all__ = ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"]


class ConvBase(Layer):
    """What the three convolutions share: window geometry (kernel, strides, padding, dilation),
    the channel check, zero padding, ``z + bias -> activation`` and the activation's backward.

    Every convolution computes ``z = conv(x) + b``, ``y = act(z)``; ``backward(dy, pre_activation)``
    starts from ``dL/dz`` (``pre_activation=True``: ``dy`` already is ``dL/dz``, the ReLU -> max-pool
    fusion of ``Sequential.backward``).
    """

    def _set_geometry(self, kernel_size, strides, padding, dilation_rate):
        self.kernel_size = geometry.normalize_tuple(kernel_size, "kernel_size", self.label)
        self.strides = geometry.normalize_tuple(strides, "strides", self.label)
        self.padding = geometry.normalize_padding(padding, self.label)
        self.dilation_rate = geometry.normalize_tuple(dilation_rate, "dilation_rate", self.label)

    def _geometry_config(self):
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate)}

    def _check_shape(self, shape):
        check_rank4(self, shape)
        if self.built and shape[3] != self.input_shape[3]:
            raise ValueError(
                f"{self.label}: expected {self.input_shape[3]} input channels, received {shape[3]}"
            )
        span = tuple(geometry.effective_size(k, d) for k, d in zip(self.kernel_size, self.dilation_rate))
        name = "kernel_size" if self.dilation_rate == (1, 1) else f"kernel_size dilated by {self.dilation_rate}"
        check_window_fits(self, shape, name, span)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        return (n, geometry.output_length(h, kh, sh, self.padding, dh),
                geometry.output_length(w, kw, sw, self.padding, dw), self._out_channels(c))

    def _pad(self, x):
        """``(xp, pads_h, pads_w)``: ``x`` zero-padded for 'same' (effective kernel size), as is for 'valid'."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        ph = geometry.pads(x.shape[1], kh, sh, self.padding, dh)
        pw = geometry.pads(x.shape[2], kw, sw, self.padding, dw)
        if ph == (0, 0) and pw == (0, 0):
            return x, ph, pw
        n, h, w, c = x.shape
        xp = np.zeros((n, h + sum(ph), w + sum(pw), c), dtype=x.dtype)
        xp[:, ph[0]:ph[0] + h, pw[0]:pw[0] + w, :] = x
        return xp, ph, pw

    @staticmethod
    def _unpad(dxp, ph, pw):
        return dxp[:, ph[0]:dxp.shape[1] - ph[1], pw[0]:dxp.shape[2] - pw[1], :]

    def _activate(self, z):
        """``z += bias`` in place, then ``y = act(z)`` (ReLU in place too: then ``y is z``)."""
        relu = self.activation.name == "relu"
        add_bias_relu(z, self.params.get("bias"), relu)
        return z if relu else self.activation(z)

    def _dz(self, dy, z, y, pre_activation):
        """``dL/dz`` as a ``(rows, channels)`` matrix, and ``dL/dbias`` (its column sums) into ``grads``."""
        if pre_activation:
            dz = dy
        elif self.activation.name == "relu":  # gradient 0 at exactly 0, as Keras
            dz = relu_mask(dy, y)
        else:
            dz = self.activation.backward(z, y, dy)
        if self.use_bias:
            self.grads["bias"] = row_sums(dz)
        return dz


class Conv2D(ConvBase):
    """2-D convolution (cross-correlation, as Keras), channels-last, optionally dilated and grouped.

    Shapes::

        x:      (N, H, W, C)
        kernel: (kh, kw, C/groups, F)   bias: (F,)
        y:      (N, H_out, W_out, F)    H_out = floor((H + pad_total - d*(kh-1) - 1) / sh) + 1

    Forward, with ``X`` the im2col matrix of the padded input (one row per output pixel,
    columns ordered ``(kh, kw, C)`` like the kernel; taps ``dilation_rate`` cells apart) and
    ``K = kernel.reshape(kh*kw*C, F)``::

        z = X @ K + b            y = act(z)

    With ``groups`` the channels split into ``groups`` consecutive blocks and filter block ``g``
    sees only channel block ``g``: ``X`` and ``K`` are stacked per group and the product is one
    batched matrix product ``z[:, g] = X_g @ K_g``.

    Backward, with ``G = dL/dz`` reshaped to ``(N*H_out*W_out, F)`` (per group ``G_g``)::

        dL/dkernel = X.T @ G     dL/dbias = sum over rows of G
        dL/dX      = G @ K.T     then col2im: each window's rows are added back into the
                                 input positions they came from (a loop over kernel offsets).

    The gradient w.r.t. the input is a "full" correlation with the flipped kernel; col2im
    computes the same thing without forming it.
    """

    weight_names = ("kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters", self.label)
        self._set_geometry(kernel_size, strides, padding, dilation_rate)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:  # Keras refuses the pair too
            raise ValueError(f"{self.label}: dilation_rate > 1 needs strides (1, 1); received "
                             f"dilation_rate={self.dilation_rate} with strides={self.strides}")
        self.groups = positive_int(groups, "groups", self.label)
        if self.filters % self.groups:
            raise ValueError(f"{self.label}: filters must be divisible by groups; received filters={self.filters}, "
                             f"groups={self.groups}")
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._geometry_config(), "groups": self.groups,
                **self._weight_options_config()}

    def _out_channels(self, c):
        return self.filters

    def _check_shape(self, shape):
        super()._check_shape(shape)
        if shape[3] % self.groups:
            raise ValueError(f"{self.label}: input channels must be divisible by groups; received {shape[3]} "
                             f"channels (input shape {shape}), groups={self.groups}")

    def _build(self, input_shape, rng):
        kh, kw = self.kernel_size
        shape = (kh, kw, input_shape[3] // self.groups, self.filters)
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def _grouped_kernel(self):
        """``K`` as ``(groups, kh*kw*C/groups, F/groups)`` (a view when groups=1)."""
        g = self.groups
        return self.params["kernel"].reshape(-1, g, self.filters // g).transpose(1, 0, 2)

    def forward(self, x, training=False):
        self._check_input(x)
        xp, ph, pw = self._pad(x)
        n, g = x.shape[0], self.groups
        ho, wo = output_size(xp.shape, self.kernel_size, self.strides, self.dilation_rate)
        cols = im2col(xp, self.kernel_size, self.strides, self.dilation_rate, g)  # (g,) N*H_out*W_out, kh*kw*C/g
        if g == 1:
            z = cols @ self.params["kernel"].reshape(-1, self.filters)
        else:  # (g, rows, F/g) -> (rows, g, F/g): filter block g next to block g-1
            z = np.ascontiguousarray((cols @ self._grouped_kernel()).transpose(1, 0, 2))
        z = z.reshape(n, ho, wo, self.filters)
        y = self._activate(z)
        self._cache = (x.shape, xp.shape, ph, pw, cols, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (the caller applied the
        activation's gradient, as ``MaxPooling2D.backward(dy, relu_input=True)`` does)."""
        x_shape, xp_shape, ph, pw, cols, z, y = self._cache
        kh, kw = self.kernel_size
        n, ho, wo, f = y.shape
        c, groups = x_shape[3], self.groups
        dz = self._dz(dy, z, y, pre_activation)
        g = dz.reshape(n * ho * wo, f)
        if groups == 1:
            self.grads["kernel"] = (cols.T @ g).reshape(kh, kw, c, f)
        else:  # per group X_g.T @ G_g: (groups, kh*kw*C/groups, F/groups) -> (kh*kw*C/groups, groups, F/groups)
            dk = cols.transpose(0, 2, 1) @ g.reshape(-1, groups, f // groups).transpose(1, 0, 2)
            self.grads["kernel"] = np.ascontiguousarray(dk.transpose(1, 0, 2)).reshape(kh, kw, c // groups, f)
        if not self.input_grad:
            return None
        dxp = col2im(g, self.params["kernel"], xp_shape, self.strides, self.dilation_rate, groups)
        return self._unpad(dxp, ph, pw)


def _initializer(name, layer):
    initializers.get(name, layer)  # refuses unknown names
    return name


def _depth_multiplier(value, layer):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: depth_multiplier must be a positive int, received {value!r}")
    return value


class DepthwiseConv2D(ConvBase):
    """Depthwise 2-D convolution: each input channel correlated with its own ``depth_multiplier``
    (``m``) filters, channels never mixed. Output channel ``c*m + j`` comes from input channel ``c``.

    Shapes::

        x:      (N, H, W, C)
        kernel: (kh, kw, C, m)          bias: (C*m,)
        y:      (N, H_out, W_out, C*m)  (H_out as Conv2D, with the dilated kernel size)

    Forward (``xp`` the padded input, ``d`` the dilation)::

        z[n, p, q, c*m+j] = sum_{a, b} xp[n, p*sh + a*dh, q*sw + b*dw, c] * kernel[a, b, c, j] + bias[c*m+j]
        y = act(z)

    computed as one einsum over the strided view of every window, no copy (``scratch.kernels.depthwise``).

    Backward, with ``G = dL/dz``::

        dL/dkernel[a, b, c, j] = sum_{n, p, q} xp[n, p*sh + a*dh, q*sw + b*dw, c] * G[n, p, q, c*m+j]
        dL/dxp[n, p*sh + a*dh, q*sw + b*dw, c] += sum_j G[n, p, q, c*m+j] * kernel[a, b, c, j]
        dL/dbias = sum_{n, p, q} G
    """

    weight_names = ("kernel", "bias")  # Keras 3 names the depthwise weight "kernel"
    REGULARIZED = {"depthwise": "kernel", "bias": "bias"}  # Keras: depthwise_regularizer, depthwise_constraint
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, dilation_rate=(1, 1),
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self._set_geometry(kernel_size, strides, padding, dilation_rate)
        self.depth_multiplier = _depth_multiplier(depth_multiplier, self.label)
        self.activation = activations.get(activation, self.label)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = _initializer(depthwise_initializer, self.label)
        self.bias_initializer = _initializer(bias_initializer, self.label)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier, **self._geometry_config(),
                "activation": self.activation.name, "use_bias": self.use_bias,
                "depthwise_initializer": self.depthwise_initializer, "bias_initializer": self.bias_initializer}

    def _out_channels(self, c):
        return c * self.depth_multiplier

    def _build(self, input_shape, rng):
        (kh, kw), c, m = self.kernel_size, input_shape[3], self.depth_multiplier
        self.params["kernel"] = initializers.get(self.depthwise_initializer, self.label)((kh, kw, c, m), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((c * m,), rng, self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        xp, ph, pw = self._pad(x)
        xr = repeat_channels(xp, self.depth_multiplier)  # channel c at c*m .. c*m+m-1
        z = depthwise(xr, self.params["kernel"], self.strides, self.dilation_rate)
        y = self._activate(z)
        self._cache = (ph, pw, xr, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy (``pre_activation=True``: already dL/dz, as ``Conv2D.backward``)."""
        ph, pw, xr, z, y = self._cache
        dz = self._dz(dy, z, y, pre_activation)
        self.grads["kernel"], dxp = depthwise_backward(dz, xr, self.params["kernel"], self.strides,
                                                       self.dilation_rate, self.input_grad)
        return None if dxp is None else self._unpad(dxp, ph, pw)


class SeparableConv2D(ConvBase):
    """Depthwise convolution (``depth_multiplier`` ``m``, no bias, no activation) followed by a
    pointwise 1x1 convolution mixing the ``C*m`` channels into ``filters`` (``F``), then bias and
    activation.

    Shapes::

        x:                (N, H, W, C)
        depthwise_kernel: (kh, kw, C, m)     pointwise_kernel: (1, 1, C*m, F)     bias: (F,)
        u:                (N, H_out, W_out, C*m)                 y: (N, H_out, W_out, F)

    Forward (``P = pointwise_kernel.reshape(C*m, F)``, rows of ``u`` one per output pixel)::

        u = depthwise(x)         z = u @ P + b         y = act(z)

    Backward, with ``G = dL/dz`` as ``(N*H_out*W_out, F)``::

        dL/dP = u.T @ G          dL/dbias = sum over rows of G          dL/du = G @ P.T
        then DepthwiseConv2D's backward of ``dL/du`` gives ``dL/ddepthwise_kernel`` and ``dL/dx``.
    """

    weight_names = ("depthwise_kernel", "pointwise_kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters", self.label)
        self._set_geometry(kernel_size, strides, padding, dilation_rate)
        self.depth_multiplier = _depth_multiplier(depth_multiplier, self.label)
        self.activation = activations.get(activation, self.label)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = _initializer(depthwise_initializer, self.label)
        self.pointwise_initializer = _initializer(pointwise_initializer, self.label)
        self.bias_initializer = _initializer(bias_initializer, self.label)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                **self._geometry_config(), "activation": self.activation.name, "use_bias": self.use_bias,
                "depthwise_initializer": self.depthwise_initializer,
                "pointwise_initializer": self.pointwise_initializer, "bias_initializer": self.bias_initializer}

    def _out_channels(self, c):
        return self.filters

    def _build(self, input_shape, rng):
        (kh, kw), c, m = self.kernel_size, input_shape[3], self.depth_multiplier
        init = initializers.get
        self.params["depthwise_kernel"] = init(self.depthwise_initializer, self.label)((kh, kw, c, m), rng, self.dtype)
        self.params["pointwise_kernel"] = init(self.pointwise_initializer, self.label)(
            (1, 1, c * m, self.filters), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = init(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        xp, ph, pw = self._pad(x)
        xr = repeat_channels(xp, self.depth_multiplier)
        u = depthwise(xr, self.params["depthwise_kernel"], self.strides, self.dilation_rate)
        n, ho, wo, cm = u.shape
        z = (u.reshape(-1, cm) @ self.params["pointwise_kernel"].reshape(cm, self.filters)).reshape(n, ho, wo, -1)
        y = self._activate(z)
        self._cache = (ph, pw, xr, u, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy (``pre_activation=True``: already dL/dz, as ``Conv2D.backward``)."""
        ph, pw, xr, u, z, y = self._cache
        cm = u.shape[3]
        dz = self._dz(dy, z, y, pre_activation)
        g = dz.reshape(-1, self.filters)
        pk = self.params["pointwise_kernel"].reshape(cm, self.filters)
        self.grads["pointwise_kernel"] = (u.reshape(-1, cm).T @ g).reshape(1, 1, cm, self.filters)
        du = (g @ pk.T).reshape(u.shape)
        self.grads["depthwise_kernel"], dxp = depthwise_backward(du, xr, self.params["depthwise_kernel"],
                                                                 self.strides, self.dilation_rate, self.input_grad)
        return None if dxp is None else self._unpad(dxp, ph, pw)

