"""Convolution layers (``keras/src/layers/convolutional``)."""

import numpy as np

from .. import geometry, initializers
from ..im2col import add_bias_relu, col2im, im2col, output_size, relu_mask
from .base import Layer, check_rank4, check_window_fits, positive_int

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as Keras), channels-last.

    Shapes::

        x:      (N, H, W, C)
        kernel: (kh, kw, C, F)          bias: (F,)
        y:      (N, H_out, W_out, F)    H_out = floor((H + pad_total - kh) / sh) + 1

    Forward, with ``X`` the im2col matrix of the padded input (one row per output pixel,
    columns ordered ``(kh, kw, C)`` like the kernel) and ``K = kernel.reshape(kh*kw*C, F)``::

        z = X @ K + b            y = act(z)

    Backward, with ``G = dL/dz`` reshaped to ``(N*H_out*W_out, F)``::

        dL/dkernel = X.T @ G     dL/dbias = sum over rows of G
        dL/dX      = G @ K.T     then col2im: each window's rows are added back into the
                                 input positions they came from (a loop over kernel offsets).

    The gradient w.r.t. the input is a "full" correlation with the flipped kernel; col2im
    computes the same thing without forming it.
    """

    weight_names = ("kernel", "bias")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters", self.label)
        self.kernel_size = geometry.normalize_tuple(kernel_size, "kernel_size", self.label)
        self.strides = geometry.normalize_tuple(strides, "strides", self.label)
        self.padding = geometry.normalize_padding(padding, self.label)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, **self._weight_options_config()}

    def _check_shape(self, shape):
        check_rank4(self, shape)
        if self.built and shape[3] != self.input_shape[3]:
            raise ValueError(
                f"{self.label}: expected {self.input_shape[3]} input channels, received {shape[3]}"
            )
        check_window_fits(self, shape, "kernel_size", self.kernel_size)

    def _build(self, input_shape, rng):
        kh, kw = self.kernel_size
        shape = (kh, kw, input_shape[3], self.filters)
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (n, geometry.output_length(h, kh, sh, self.padding),
                geometry.output_length(w, kw, sw, self.padding), self.filters)

    def _pad(self, x):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        ph = geometry.pads(x.shape[1], kh, sh, self.padding)
        pw = geometry.pads(x.shape[2], kw, sw, self.padding)
        if ph == (0, 0) and pw == (0, 0):
            return x, ph, pw
        n, h, w, c = x.shape
        xp = np.zeros((n, h + sum(ph), w + sum(pw), c), dtype=x.dtype)
        xp[:, ph[0]:ph[0] + h, pw[0]:pw[0] + w, :] = x
        return xp, ph, pw

    def forward(self, x, training=False):
        self._check_input(x)
        xp, ph, pw = self._pad(x)
        n = x.shape[0]
        ho, wo = output_size(xp.shape, self.kernel_size, self.strides)
        cols = im2col(xp, self.kernel_size, self.strides)  # (N*H_out*W_out, kh*kw*C)
        z = cols @ self.params["kernel"].reshape(-1, self.filters)
        z = z.reshape(n, ho, wo, self.filters)
        relu = self.activation.name == "relu"
        add_bias_relu(z, self.params.get("bias"), relu)  # z += b (and ReLU), in place
        y = z if relu else self.activation(z)
        self._cache = (x.shape, xp.shape, ph, pw, cols, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (the caller applied the
        activation's gradient, as ``MaxPooling2D.backward(dy, relu_input=True)`` does)."""
        x_shape, xp_shape, ph, pw, cols, z, y = self._cache
        kh, kw = self.kernel_size
        n, ho, wo, f = y.shape
        c = x_shape[3]
        if pre_activation:
            dz = dy
        elif self.activation.name == "relu":  # gradient 0 at exactly 0, as Keras
            dz = relu_mask(dy, y)
        else:
            dz = self.activation.backward(z, y, dy)
        g = dz.reshape(n * ho * wo, f)
        self.grads["kernel"] = (cols.T @ g).reshape(kh, kw, c, f)
        if self.use_bias:  # column sums as one GEMV: a reduction over axis 0 of a thin matrix is slow
            self.grads["bias"] = np.ones(len(g), dtype=self.dtype) @ g
        if not self.input_grad:
            return None
        dxp = col2im(g, self.params["kernel"], xp_shape, self.strides)
        return dxp[:, ph[0]:xp_shape[1] - ph[1], pw[0]:xp_shape[2] - pw[1], :]
