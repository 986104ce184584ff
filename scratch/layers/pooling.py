"""Pooling layers (``keras/src/layers/pooling``)."""

import numpy as np

from .. import geometry
from ..kernels import max_pool, max_pool_backward, offset_slices, output_size
from .base import Layer, check_rank4, check_window_fits

__all__ = ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]


class _Pooling2D(Layer):
    """Shared geometry and validation of the 2-D pooling layers."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = geometry.normalize_tuple(pool_size, "pool_size", self.label)
        self.strides = self.pool_size if strides is None else geometry.normalize_tuple(strides, "strides", self.label)
        self.padding = geometry.normalize_padding(padding, self.label)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}

    def _check_shape(self, shape):
        check_rank4(self, shape)
        check_window_fits(self, shape, "pool_size", self.pool_size)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return (n, geometry.output_length(h, ph, sh, self.padding),
                geometry.output_length(w, pw, sw, self.padding), c)

    def _geometry(self, x_shape):
        """``(pads_h, pads_w, H_out, W_out)``."""
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        ph = geometry.pads(x_shape[1], kh, sh, self.padding)
        pw = geometry.pads(x_shape[2], kw, sw, self.padding)
        return (ph, pw) + output_size((None, x_shape[1] + sum(ph), x_shape[2] + sum(pw)), self.pool_size, self.strides)

    def _windows(self, ho, wo):
        """``(row_slice, col_slice)`` for each window offset, in row-major order."""
        return offset_slices(self.pool_size, (ho, wo), self.strides)


class MaxPooling2D(_Pooling2D):
    """Max pooling, channels-last.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, H_out, W_out, C)``.

    Forward: ``y = max over the window``; with ``padding='same'`` the padding is ``-inf`` so
    it never wins. Backward: each window sends its ``dy`` to one cell, the first maximum in
    row-major order (what TensorFlow's MaxPoolGrad does when a window has ties); windows that
    overlap add their contributions.
    """

    BACKWARD_OPTIONS = ("relu_input",)

    def forward(self, x, training=False):
        self._check_input(x)
        ph, pw, _, _ = self._geometry(x.shape)
        xp = x if ph == (0, 0) and pw == (0, 0) else np.pad(
            x, ((0, 0), ph, pw, (0, 0)), constant_values=-np.inf)
        y = max_pool(xp, self.pool_size, self.strides)
        self._cache = (xp, ph, pw, y)
        return y

    def backward(self, dy, relu_input=False):
        """``dy``: dL/dy -> dL/dx. ``relu_input=True`` (``x`` came out of a ReLU, ``x = relu(z)``)
        returns dL/dz instead: since ``max(relu(z)) = relu(max(z))``, the ReLU mask is applied
        to the pooled gradient (``dy * (y > 0)``, a quarter of the size for 2x2 pools) before it
        is routed. A window routes to a cell holding its max; if that max is 0 the cell's mask
        is 0 and so is the masked ``dy``, whatever cell the tie picks: the same values as
        masking the routed gradient with ``x > 0``."""
        xp, ph, pw, y = self._cache
        dxp = max_pool_backward(dy, xp, y, self.pool_size, self.strides, relu_input)
        return dxp[:, ph[0]:xp.shape[1] - ph[1], pw[0]:xp.shape[2] - pw[1], :]


class AveragePooling2D(_Pooling2D):
    """Average pooling, channels-last.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, H_out, W_out, C)``.

    Forward: ``y = sum over the window / count``, where ``count`` is the number of real
    (non-padding) cells in the window, as Keras's 'same' average pooling.
    Backward: every real cell of a window receives ``dy / count``.
    """

    def _counts(self, x_shape, ph, pw, ho, wo):
        ones = np.zeros((1, x_shape[1] + sum(ph), x_shape[2] + sum(pw), 1), dtype=self.dtype)
        ones[:, ph[0]:ph[0] + x_shape[1], pw[0]:pw[0] + x_shape[2], :] = 1
        count = np.zeros((1, ho, wo, 1), dtype=self.dtype)
        for rs, cs in self._windows(ho, wo):
            count += ones[:, rs, cs, :]
        return count

    def forward(self, x, training=False):
        self._check_input(x)
        ph, pw, ho, wo = self._geometry(x.shape)
        xp = x if ph == (0, 0) and pw == (0, 0) else np.pad(x, ((0, 0), ph, pw, (0, 0)))
        total = np.zeros((x.shape[0], ho, wo, x.shape[3]), dtype=self.dtype)
        for rs, cs in self._windows(ho, wo):
            total += xp[:, rs, cs, :]
        count = self._counts(x.shape, ph, pw, ho, wo)
        self._cache = (x.shape, xp.shape, ph, pw, count)
        return total / count

    def backward(self, dy):
        x_shape, xp_shape, ph, pw, count = self._cache
        ho, wo = dy.shape[1:3]
        share = dy / count
        dxp = np.zeros(xp_shape, dtype=self.dtype)
        for rs, cs in self._windows(ho, wo):
            dxp[:, rs, cs, :] += share
        return dxp[:, ph[0]:xp_shape[1] - ph[1], pw[0]:xp_shape[2] - pw[1], :]


class _GlobalPooling2D(Layer):
    """Shared shape handling of the global pooling layers (one value per image and channel)."""

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(keepdims, bool):
            raise ValueError(f"{self.label}: keepdims must be True or False, received {keepdims!r}")
        self.keepdims = keepdims

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}

    def _check_shape(self, shape):
        check_rank4(self, shape)

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def _as_window(self, dy):
        """``dy`` as ``(N, 1, 1, C)``, to broadcast over the image."""
        return dy if self.keepdims else dy[:, None, None, :]


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over the whole image, per channel.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, C)`` (``(N, 1, 1, C)`` with ``keepdims=True``).
    Forward: ``y = sum over (H, W) / (H * W)``. Backward: every cell receives ``dy / (H * W)``.
    """

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def backward(self, dy):
        shape = self._cache
        return np.broadcast_to(self._as_window(dy) / (shape[1] * shape[2]), shape).copy()


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Max over the whole image, per channel.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, C)`` (``(N, 1, 1, C)`` with ``keepdims=True``).
    Forward: ``y = max over (H, W)``. Backward: ``dy`` is shared equally among the cells that
    hold the maximum, ``dx = (x == y) / count(x == y) * dy``: what TensorFlow's gradient of
    ``reduce_max`` does on ties (unlike MaxPooling2D, which gives all of it to the first).
    """

    def forward(self, x, training=False):
        self._check_input(x)
        y = x.max(axis=(1, 2), keepdims=True)
        self._cache = (x, y)
        return y if self.keepdims else y[:, 0, 0, :]

    def backward(self, dy):
        x, y = self._cache
        hits = (x == y).astype(self.dtype)
        return hits / hits.sum(axis=(1, 2), keepdims=True) * self._as_window(dy)
