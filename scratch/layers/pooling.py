"""Pooling layers (``keras/src/layers/pooling``), in 1, 2 and 3 spatial dimensions.

One implementation per kind, written over a tuple of spatial axes (``rank`` of them); the
``1D``/``2D``/``3D`` classes only fix the rank and Keras's defaults. Inputs are channels-last:
``(N, steps, C)``, ``(N, H, W, C)``, ``(N, D, H, W, C)``.
"""

import functools
import math

import numpy as np

from .. import geometry
from ..kernels import (
    TiledMap,
    max_pool,
    max_pool_backward,
    max_pool_nd,
    max_pool_nd_backward,
    max_pool_tiles,
    max_pool_tiles_backward,
    offset_slices_nd,
    output_size_nd,
)
from .base import Layer, check_spatial_rank, check_window_fits

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D"]


class _Pooling(Layer):
    """Shared geometry and validation of the window pooling layers (``rank`` spatial axes)."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = geometry.normalize_tuple(pool_size, "pool_size", self.label, self.rank)
        self.strides = self.pool_size if strides is None else geometry.normalize_tuple(
            strides, "strides", self.label, self.rank)
        self.padding = geometry.normalize_padding(padding, self.label)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)
        check_window_fits(self, shape, "pool_size", self.pool_size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(geometry.output_length(n, k, s, self.padding) for n, k, s in zip(
            input_shape[1:-1], self.pool_size, self.strides)) + (input_shape[-1],)

    def _geometry(self, x_shape):
        """``(pads, out)``: ``(before, after)`` per spatial axis and the output's spatial sizes."""
        pads = tuple(geometry.pads(n, k, s, self.padding) for n, k, s in zip(x_shape[1:-1], self.pool_size,
                                                                          self.strides))
        padded = (None,) + tuple(n + sum(p) for n, p in zip(x_shape[1:-1], pads)) + (None,)
        return pads, output_size_nd(padded, self.pool_size, self.strides)

    def _pad(self, x, pads, value):
        return x if not any(any(p) for p in pads) else np.pad(x, ((0, 0),) + pads + ((0, 0),), constant_values=value)

    @staticmethod
    def _unpad(dxp, pads):
        """The real cells of a padded gradient."""
        return dxp[(slice(None),) + tuple(slice(b, n - a) for (b, a), n in zip(pads, dxp.shape[1:-1]))
                   + (slice(None),)]


class _MaxPooling(_Pooling):
    """Max pooling, channels-last.

    Shapes: ``x: (N, *spatial, C)`` -> ``y: (N, *spatial_out, C)``.

    Forward: ``y = max over the window``; with ``padding='same'`` the padding is ``-inf`` so
    it never wins. Backward: each window sends its ``dy`` to the cell holding its maximum;
    windows that overlap add their contributions. When a window has ties, in 1-D and 2-D the
    first maximum in row-major order takes all of ``dy`` (TensorFlow's ``MaxPoolGrad``); in 3-D
    every tied cell receives the whole ``dy`` (TensorFlow's CPU ``MaxPool3DGrad``, which Keras
    computes: ``dx = (x == y) * dy`` per window), as ``parity_tests`` checks on integer inputs.
    """

    COMMUTES_WITH_NON_DECREASING = True  # max(f(x)) == f(max(x)) for a non-decreasing f (scratch.models.fusion)

    BACKWARD_OPTIONS = ("relu_input",)

    def _kernels(self):
        """``(forward, backward, window, strides)`` of the sweep: 2-D runs the 2-D kernels; 1-D the
        same 2-D kernels over ``(N, steps, 1, C)`` with a window ``(k, 1)``; 3-D the N-d kernels,
        ties to every maximum."""
        if self.rank == 2:
            return max_pool, max_pool_backward, self.pool_size, self.strides
        if self.rank == 1:
            return max_pool, max_pool_backward, self.pool_size + (1,), self.strides + (1,)
        return max_pool_nd, functools.partial(max_pool_nd_backward, ties="all"), self.pool_size, self.strides

    @property
    def tile(self):
        """``pool_size`` where the windows tile the input (2-D, strides == pool_size, 'valid'), else None: a
        convolution read by this pooling alone may then hand over its output in the windows' order
        (``kernels.TiledMap``; ``scratch.models.fusion.plan_tiles``)."""
        tiles = (self.rank == 2 and self.strides == self.pool_size and self.padding == "valid"
                 and type(self).forward is _MaxPooling.forward and type(self).backward is _MaxPooling.backward)
        return self.pool_size if tiles else None

    def forward(self, x, training=False):
        if isinstance(x, TiledMap):  # the convolution below computed the windows' cells in their order
            if x.tile != self.tile:
                raise ValueError(f"{self.label}: received a map tiled by {x.tile}, expected {self.tile}")
            if training:  # where each window's maximum rose: its gradient's route
                y, rises = max_pool_tiles(x.blocks, rises=True)
            else:  # a backward pass after it finds the route from the blocks
                y, rises = max_pool_tiles(x.blocks), None
            self._cache = (x.blocks, None, y, x.pending, rises)  # (the blocks: the convolution keeps them too)
            return y
        self._check_input(x)
        pads, _ = self._geometry(x.shape)
        xp = self._pad(x, pads, -np.inf)
        forward_kernel, _, pool, strides = self._kernels()
        if self.rank == 1:
            y = forward_kernel(xp[:, :, None], pool, strides)[:, :, 0]
        else:
            y = forward_kernel(xp, pool, strides)
        self._cache = (xp, pads, y)
        return y

    def backward(self, dy, relu_input=False):
        """``dy``: dL/dy -> dL/dx. ``relu_input=True`` (``x`` came out of a ReLU, ``x = relu(z)``)
        returns dL/dz instead: since ``max(relu(z)) = relu(max(z))``, the ReLU mask is applied
        to the pooled gradient (``dy * (y > 0)``, a quarter of the size for 2x2 pools) before it
        is routed. A window routes to a cell holding its max; if that max is 0 the cell's mask
        is 0 and so is the masked ``dy``, whatever cell the tie picks: the same values as
        masking the routed gradient with ``x > 0``."""
        xp, pads, y = self._cache[:3]
        if pads is None and self._cache[3] == "relu" and not relu_input:
            raise ValueError(f"{self.label}: its input's ReLU was applied after its maximum (a training step's "
                             f"tiled route), so its backward routes dL/dz (relu_input=True, as Model.backward "
                             f"passes it)")
        if pads is None:  # a TiledMap's blocks: their gradient in the same order, for the convolution below
            rises = self._cache[4]
            if rises is None:  # after forward(training=False)
                rises = max_pool_tiles(xp, rises=True)[1]
            return max_pool_tiles_backward(dy, rises, y, relu_input)
        _, backward_kernel, pool, strides = self._kernels()
        if self.rank == 1:
            dxp = backward_kernel(dy[:, :, None], xp[:, :, None], y[:, :, None], pool, strides, relu_input)[:, :, 0]
        else:
            dxp = backward_kernel(dy, xp, y, pool, strides, relu_input)
        return self._unpad(dxp, pads)


class _AveragePooling(_Pooling):
    """Average pooling, channels-last.

    Shapes: ``x: (N, *spatial, C)`` -> ``y: (N, *spatial_out, C)``.

    Forward: ``y = sum over the window / count``, where ``count`` is the number of real
    (non-padding) cells in the window, as Keras's 'same' average pooling.
    Backward: every real cell of a window receives ``dy / count``.
    """

    def _counts(self, x_shape, pads, out):
        ones = np.zeros((1,) + tuple(n + sum(p) for n, p in zip(x_shape[1:-1], pads)) + (1,), dtype=self.dtype)
        ones[(slice(None),) + tuple(slice(b, b + n) for (b, _), n in zip(pads, x_shape[1:-1])) + (slice(None),)] = 1
        count = np.zeros((1,) + out + (1,), dtype=self.dtype)
        for index in offset_slices_nd(self.pool_size, out, self.strides):
            count += ones[index]
        return count

    def forward(self, x, training=False):
        self._check_input(x)
        pads, out = self._geometry(x.shape)
        xp = self._pad(x, pads, 0)
        total = np.zeros((x.shape[0],) + out + (x.shape[-1],), dtype=self.dtype)
        for index in offset_slices_nd(self.pool_size, out, self.strides):
            total += xp[index]
        count = self._counts(x.shape, pads, out)
        self._cache = (xp.shape, pads, count)
        return total / count

    def backward(self, dy):
        xp_shape, pads, count = self._cache
        share = dy / count
        dxp = np.zeros(xp_shape, dtype=self.dtype)
        for index in offset_slices_nd(self.pool_size, dy.shape[1:-1], self.strides):
            dxp[index] += share
        return self._unpad(dxp, pads)


class _GlobalPooling(Layer):
    """Shared shape handling of the global pooling layers (one value per sample and channel)."""

    rank = 2

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(keepdims, bool):
            raise ValueError(f"{self.label}: keepdims must be True or False, received {keepdims!r}")
        self.keepdims = keepdims

    @property
    def _axes(self):
        return tuple(range(1, self.rank + 1))

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)

    def compute_output_shape(self, input_shape):
        n, c = input_shape[0], input_shape[-1]
        return (n,) + (1,) * self.rank + (c,) if self.keepdims else (n, c)

    def _as_window(self, dy):
        """``dy`` as ``(N, 1, ..., 1, C)``, to broadcast over the spatial axes."""
        return dy if self.keepdims else dy.reshape((dy.shape[0],) + (1,) * self.rank + (dy.shape[-1],))


class _GlobalAveragePooling(_GlobalPooling):
    """Mean over every spatial axis, per channel.

    Shapes: ``x: (N, *spatial, C)`` -> ``y: (N, C)`` (``(N, 1, ..., 1, C)`` with ``keepdims=True``).
    Forward: ``y = sum over the spatial axes / their size``. Backward: every cell receives ``dy / size``.
    """

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.mean(axis=self._axes, keepdims=self.keepdims)

    def backward(self, dy):
        shape = self._cache
        return np.broadcast_to(self._as_window(dy) / math.prod(shape[1:-1]), shape).copy()


class _GlobalMaxPooling(_GlobalPooling):
    """Max over every spatial axis, per channel.

    Shapes: ``x: (N, *spatial, C)`` -> ``y: (N, C)`` (``(N, 1, ..., 1, C)`` with ``keepdims=True``).
    Forward: ``y = max over the spatial axes``. Backward: ``dy`` is shared equally among the cells
    that hold the maximum, ``dx = (x == y) / count(x == y) * dy``: what TensorFlow's gradient of
    ``reduce_max`` does on ties (unlike the window max pooling, which gives all of it to the first).
    """

    def forward(self, x, training=False):
        self._check_input(x)
        y = x.max(axis=self._axes, keepdims=True)
        self._cache = (x, y)
        return y if self.keepdims else y.reshape(x.shape[0], x.shape[-1])

    def backward(self, dy):
        x, y = self._cache
        hits = (x == y).astype(self.dtype)
        return hits / hits.sum(axis=self._axes, keepdims=True) * self._as_window(dy)


class MaxPooling1D(_MaxPooling):
    """Max pooling over steps: ``(N, steps, C)`` -> ``(N, steps_out, C)`` (see ``_MaxPooling``)."""

    rank = 1


class MaxPooling2D(_MaxPooling):
    """Max pooling over height and width: ``(N, H, W, C)`` -> ``(N, H_out, W_out, C)`` (see ``_MaxPooling``)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class MaxPooling3D(_MaxPooling):
    """Max pooling over depth, height and width: ``(N, D, H, W, C)`` -> ``(N, D_out, H_out, W_out, C)``."""

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class AveragePooling1D(_AveragePooling):
    """Average pooling over steps: ``(N, steps, C)`` -> ``(N, steps_out, C)`` (see ``_AveragePooling``)."""

    rank = 1


class AveragePooling2D(_AveragePooling):
    """Average pooling over height and width: ``(N, H, W, C)`` -> ``(N, H_out, W_out, C)`` (see ``_AveragePooling``)."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class AveragePooling3D(_AveragePooling):
    """Average pooling over depth, height and width: ``(N, D, H, W, C)`` -> ``(N, D_out, H_out, W_out, C)``."""

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """Mean over steps: ``(N, steps, C)`` -> ``(N, C)`` (``(N, 1, C)`` with ``keepdims``)."""

    rank = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """Mean over the whole image: ``(N, H, W, C)`` -> ``(N, C)`` (``(N, 1, 1, C)`` with ``keepdims``)."""


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """Mean over the whole volume: ``(N, D, H, W, C)`` -> ``(N, C)`` (``(N, 1, 1, 1, C)`` with ``keepdims``)."""

    rank = 3


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """Max over steps: ``(N, steps, C)`` -> ``(N, C)`` (``(N, 1, C)`` with ``keepdims``)."""

    rank = 1


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """Max over the whole image: ``(N, H, W, C)`` -> ``(N, C)`` (``(N, 1, 1, C)`` with ``keepdims``)."""


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """Max over the whole volume: ``(N, D, H, W, C)`` -> ``(N, C)`` (``(N, 1, 1, 1, C)`` with ``keepdims``)."""

    rank = 3
