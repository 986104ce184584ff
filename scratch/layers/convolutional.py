"""Convolution layers (``keras/src/layers/convolutional``), in 1, 2 and 3 spatial dimensions.

One N-d implementation per kind, as Keras's ``base_conv.py`` & co.; the 1-D, 2-D and 3-D
classes differ only in ``rank``:

    BaseConv            Conv1D, Conv2D, Conv3D                       (dilated, grouped; Conv1D causal)
    BaseDepthwiseConv   DepthwiseConv1D, DepthwiseConv2D
    BaseSeparableConv   SeparableConv1D, SeparableConv2D
    BaseConvTranspose   Conv1DTranspose, Conv2DTranspose, Conv3DTranspose

Arrays are channels-last, ``(N, *S, C)`` with ``S`` the ``rank`` spatial sizes (``(N, L, C)``,
``(N, H, W, C)``, ``(N, D, H, W, C)``); kernels are Keras's layouts (``(*k, C/groups, F)``;
transposed: ``(*k, F, C)``). Window geometry (output sizes, 'same'/'causal' pads, the
transposed output sizes) comes from ``scratch.geometry``; the loops over kernel offsets live in
``scratch.kernels`` (two spatial axes: its tuned 2-D kernels).
"""

import numpy as np

from .. import activations, geometry, initializers, parallel
from ..kernels import (
    TiledMap,
    add_bias_relu,
    col2im_nd,
    conv_by_shifted_products,
    conv_input_grad_by_correlation,
    depthwise_backward_nd,
    depthwise_nd,
    im2col_matmul,
    im2col_nd,
    im2col_tiles,
    im2col_tiles_matmul,
    output_size_nd,
    relu_mask,
    repeat_channels,
    row_sums,
    small_map_conv,
    small_map_conv_backward,
    small_map_pairs,
    untile,
    zero_pad,
)
from .base import Layer, check_rank, check_window_fits, positive_int

__all__ = ["Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
           "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]

INPUT_AXES = {1: "(batch, steps, channels)", 2: "(batch, height, width, channels)",
              3: "(batch, depth, height, width, channels)"}


def crop(xp, pads):
    """``xp`` without ``pads`` (a view)."""
    return xp[(slice(None),) + tuple(slice(b, n - a) for n, (b, a) in zip(xp.shape[1:-1], pads))]


class ConvBase(Layer):
    """What every convolution shares: window geometry (kernel, strides, padding, dilation) in
    ``rank`` spatial dimensions, the rank and channel checks, zero padding, ``z + bias -> activation``
    and the activation's backward.

    Every convolution computes ``z = conv(x) + b``, ``y = act(z)``; ``backward(dy, pre_activation)``
    starts from ``dL/dz`` (``pre_activation=True``: ``dy`` already is ``dL/dz``, the ReLU -> max-pool
    fusion of ``Sequential.backward``).
    """

    rank = 2
    PADDINGS = geometry.PADDINGS  # Conv1D adds 'causal'

    def _set_geometry(self, kernel_size, strides, padding, dilation_rate):
        r = self.rank
        self.kernel_size = geometry.normalize_tuple(kernel_size, "kernel_size", self.label, r)
        self.strides = geometry.normalize_tuple(strides, "strides", self.label, r)
        self.padding = geometry.normalize_padding(padding, self.label, self.PADDINGS)
        self.dilation_rate = geometry.normalize_tuple(dilation_rate, "dilation_rate", self.label, r)

    def _geometry_config(self):
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides), "padding": self.padding,
                "dilation_rate": list(self.dilation_rate)}

    def _check_shape(self, shape):
        check_rank(self, shape, self.rank + 2, INPUT_AXES[self.rank])
        if self.built and shape[-1] != self.input_shape[-1]:
            raise ValueError(
                f"{self.label}: expected {self.input_shape[-1]} input channels, received {shape[-1]}"
            )
        span = tuple(geometry.effective_size(k, d) for k, d in zip(self.kernel_size, self.dilation_rate))
        name = ("kernel_size" if max(self.dilation_rate) == 1
                else f"kernel_size dilated by {self.dilation_rate}")
        check_window_fits(self, shape, name, span)

    def compute_output_shape(self, input_shape):
        n, *spatial, c = input_shape
        return (n, *(geometry.output_length(s, k, st, self.padding, d) for s, k, st, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate)), self._out_channels(c))

    def _window(self, x_shape):
        """``geometry.window`` for this input's spatial sizes, computed once per size (asked on every call)."""
        spatial = tuple(x_shape[1:-1])
        known = self.__dict__.setdefault("_windows", {})
        if spatial not in known:
            known[spatial] = geometry.window(spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return known[spatial]

    def _pads(self, x_shape):
        """``((before, after), ...)`` per spatial axis: 'same' (effective kernel size) or 'causal' zeros."""
        return self._window(x_shape)[0]

    def live_window(self, x_shape):
        """``(taps, pads)``: per spatial axis the slice of kernel taps that read the input for some output,
        and the padding of the window cropped to them (``geometry.live_taps``): all taps and ``_pads`` on any
        map the window fits, fewer on a map smaller than its reach (a 'same' 3x3 on a 1x1 map: the centre
        tap, a 1x1 convolution, 9 times fewer products, no window matrix). The dropped taps multiply only
        padding zeros, so the sums are those of the whole kernel, and their weight gradients are zeros."""
        return self._window(x_shape)[1:]

    def _activate(self, z, params=None):
        """``z += bias`` in place, then ``y = act(z)`` (ReLU in place too: then ``y is z``); ``params``: weights
        in place of the layer's own (``folded``)."""
        relu = self.activation.name == "relu"
        add_bias_relu(z, (self.params if params is None else params).get("bias"), relu)
        return z if relu else self.activation(z)

    def folded(self, scale, offset):
        """The weights of this convolution followed by ``y = z * scale + offset`` per output channel (a
        BatchNormalization in inference mode): ``{"kernel": kernel * scale, "bias": bias * scale + offset}``,
        for ``forward(x, weights=...)``. The same sums as the two layers, rounded differently (``predict``
        folds them, as TensorFlow's graph optimizer does for Keras's; ``scratch.models.fusion``)."""
        kernel, bias = self.params["kernel"], self.params.get("bias")
        return {"kernel": kernel * scale.reshape(kernel.shape[-2:] if self.DEPTHWISE else scale.shape),
                "bias": offset if bias is None else bias * scale + offset}

    def folding_pays(self, x_shape):
        """Whether folding a normalization into this call saves work: scaling the kernel is one pass over it,
        the normalization two over the output, so it pays where the kernel has fewer values than twice the
        output (most layers of a batch; not the wide kernels on ResNet50's last 1x1 maps, where folding on
        every call made its predict 6% slower). The batch decides, so the rounding of a layer's predict may
        differ between batch sizes (as the rows of a BLAS product already may)."""
        out = self.compute_output_shape((None,) + tuple(x_shape[1:]))
        return self.params["kernel"].size < 2 * x_shape[0] * int(np.prod(out[1:]))

    FOLDS_NORMALIZATION = False  # forward takes weights=folded(...) (BaseConv, BaseDepthwiseConv)
    DEPTHWISE = False

    def _dz(self, dy, z, y, pre_activation):
        """``dL/dz`` (same shape as ``z``), and ``dL/dbias`` (its sums over all but the channels) into ``grads``."""
        if pre_activation:
            dz = dy
        elif y is None:  # forward(pool_first=True): the ReLU ran on the pooled map only
            raise ValueError(f"{self.label}: its last forward pass left its ReLU to the max pooling after it (a "
                             f"training step's tiled route), so its backward takes dL/dz (pre_activation=True, "
                             f"as Model.backward passes it)")
        elif self.activation.name == "relu":  # gradient 0 at exactly 0, as Keras
            dz = relu_mask(dy, y)
        else:
            dz = self.activation.backward(z, y, dy)
        if self.use_bias:
            self.grads["bias"] = row_sums(dz)
        return dz


def live_taps_gradient(dk, kernel, taps):
    """The whole kernel's gradient from the live taps' ``dk`` (``ConvBase.live_window``): zeros at the others."""
    if dk.shape == kernel.shape:
        return dk
    full = np.zeros(kernel.shape, dtype=dk.dtype)
    full[taps] = dk
    return full


def _no_dilation_with_strides(layer):
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:  # Keras refuses the pair too
        raise ValueError(f"{layer.label}: dilation_rate > 1 needs strides of 1; received "
                         f"dilation_rate={layer.dilation_rate} with strides={layer.strides}")


class BaseConv(ConvBase):
    """N-d convolution (cross-correlation, as Keras), channels-last, optionally dilated and grouped.

    Shapes (``rank`` spatial axes; 2-D shown)::

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
    computes the same thing without forming it. ``padding="causal"`` (Conv1D): ``d*(k-1)`` zeros
    before the sequence, so output step ``t`` reads inputs ``<= t`` only.
    """

    weight_names = ("kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, groups=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters", self.label)
        self._set_geometry(kernel_size, strides, padding, dilation_rate)
        _no_dilation_with_strides(self)
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
        if shape[-1] % self.groups:
            raise ValueError(f"{self.label}: input channels must be divisible by groups; received {shape[-1]} "
                             f"channels (input shape {shape}), groups={self.groups}")

    def _build(self, input_shape, rng):
        shape = self.kernel_size + (input_shape[-1] // self.groups, self.filters)
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def _grouped_kernel(self, kernel):
        """``kernel`` (the live taps) as ``(groups, K*C/groups, F/groups)``."""
        g = self.groups
        return kernel.reshape(-1, g, self.filters // g).transpose(1, 0, 2)

    def small_map(self, x_shape):
        """``kernels.small_map_pairs`` where this convolution takes the small-map route (stride 1, undilated,
        ungrouped, a map so small that the window matrix would be mostly padding: a 'same' 3x3 on 2x2), else None."""
        if self.groups != 1 or set(self.strides) != {1} or set(self.dilation_rate) != {1}:
            return None
        return small_map_pairs(x_shape[1:-1], self.kernel_size, self._pads(x_shape))

    def takes_tile(self):
        """Whether ``forward(x, tile=...)`` may return a ``kernels.TiledMap`` (a 2-D, ungrouped
        convolution whose forward and backward are these; ``scratch.models.fusion.plan_tiles``)."""
        return (self.rank == 2 and self.groups == 1 and type(self).forward is BaseConv.forward
                and type(self).backward is BaseConv.backward and type(self)._activate is ConvBase._activate)

    ACTIVATE_LATER = True  # forward(activate=False) stops before the bias; activate(z) adds it, then the activation
    FOLDS_NORMALIZATION = True

    def activate(self, z):
        """``act(z + bias)``, in place where it can (``z`` is overwritten): the end of ``forward`` that
        ``forward(x, activate=False)`` left out (``predict`` runs it after a max pooling, see
        ``scratch.models.fusion.plan_inference``)."""
        return self._activate(z)

    def relu_after_pool(self, y):
        """``relu(y)`` in place: the end of ``forward(x, tile=..., pool_first=True)``, which added the bias and
        left the ReLU for the pooled map (``Model._relu_after_pool``)."""
        return add_bias_relu(y, None, relu=True)

    def forward(self, x, training=False, activate=True, weights=None, tile=None, pool_first=False):
        """``act(conv(x) + bias)``; ``activate=False`` (inference): ``conv(x)`` alone, nothing kept;
        ``weights``: ``folded`` weights in place of the layer's own (inference). ``tile`` (the output read by a
        max pooling alone whose windows tile it, ``scratch.models.fusion.plan_tiles``): the pooling's
        ``(th, tw)``; where this call takes the window matrix's route the output comes as a ``TiledMap``, only
        the pixels the windows cover, in the pool's order (the same values); with ``pool_first`` (a ReLU) that
        map is ``conv(x) + bias``, kept for a backward pass from ``dL/dz``, and ``relu_after_pool`` runs on the
        pooled map (``Model._relu_after_pool``)."""
        self._check_input(x)
        params = self.params if weights is None else weights
        taps, pads = self.live_window(x.shape)
        kernel = params["kernel"][taps]  # the live taps: the whole kernel unless the map is small
        ks = kernel.shape[:-2]
        pairs = None if set(ks) == {1} else self.small_map(x.shape)  # one live tap: a 1x1 convolution below
        if pairs is not None:  # a few products over runs of the input, none reading padding
            z = small_map_conv(x, params["kernel"], pairs)
            if not activate:
                return z
            y = self._activate(z, params)
            self._cache = (x, pairs, z, y)
            return y
        n, g = x.shape[0], self.groups
        if self.shifted_products(x.shape, ks, pads):  # F <= C/4 on a small map: no window matrix
            z = conv_by_shifted_products(x, kernel, pads)
            if not activate:
                return z
            y = self._activate(z, params)
            self._cache = (x.shape, x, taps, pads, None, z, y, None)  # x unpadded: a backward pass pads it
            return y
        xp = zero_pad(x, pads)
        out = output_size_nd(xp.shape, ks, self.strides, self.dilation_rate)
        pooled = None if tile is None else tuple(o // t for o, t in zip(out, tile))
        if pooled is not None and self._tiles_fit(pooled):
            w = kernel.reshape(-1, self.filters)
            if training:
                cols = im2col_tiles(xp, ks, self.strides, self.dilation_rate, tile, pooled)
                z = parallel.matmul(cols, w).reshape((n, -1) + pooled + (self.filters,))
            else:  # the matrix is not kept: a backward pass builds it again
                cols = None
                z = im2col_tiles_matmul(xp, ks, self.strides, self.dilation_rate, tile, pooled, w)
            if not activate:
                return TiledMap(z, tile)
            if pool_first:  # the ReLU comes after the pool's maximum (relu_after_pool): a backward pass gets dL/dz
                add_bias_relu(z, params.get("bias"), relu=False)
                self._cache = (x.shape, xp, taps, pads, cols, z, None, (tile, out))
                return TiledMap(z, tile, "relu")
            y = self._activate(z, params)
            self._cache = (x.shape, xp, taps, pads, cols, z, y, (tile, out))
            return TiledMap(y, tile)
        if g == 1 and not training:  # the matrix X is not kept: a backward pass builds it again
            cols = None
            z = im2col_matmul(xp, ks, self.strides, self.dilation_rate, kernel.reshape(-1, self.filters))
        else:
            cols = im2col_nd(xp, ks, self.strides, self.dilation_rate, g)  # (g,) N*P, K*C/g
            if g == 1:
                z = parallel.matmul(cols, kernel.reshape(-1, self.filters))
            else:  # (g, rows, F/g) -> (rows, g, F/g): filter block g next to block g-1
                z = np.ascontiguousarray((cols @ self._grouped_kernel(kernel)).transpose(1, 0, 2))
        z = z.reshape((n,) + out + (self.filters,))
        if not activate:
            return z
        y = self._activate(z, params)
        self._cache = (x.shape, xp, taps, pads, cols, z, y, None)
        return y

    def _tiles_fit(self, pooled):
        """Whether this call computes its output in the pool's order (``forward(tile=...)``): 2-D, ungrouped, an
        elementwise activation (a softmax over an axis reads values the order moves; checked on each call, as
        an activation may be reassigned), at least one window (else the pool's own check speaks)."""
        return (self.groups == 1 and self.rank == 2 and activations.is_elementwise(self.activation)
                and min(pooled) >= 1)

    SHIFTED_MAX_PIXELS = 64  # the shifted products measured faster on maps up to 8x8 (1.1-1.6x slower on 16x16)

    def shifted_products(self, x_shape, kernel_size, pads):
        """Whether the forward pass takes ``kernels.conv_by_shifted_products`` (one GEMM of every pixel by every
        offset's kernel, shifted adds) instead of the window matrix: stride 1, undilated, ungrouped, a kernel
        larger than 1x1 (``input_grad_by_correlation``), at most a quarter as many filters as channels (the GEMM's
        output at most a quarter of the window matrix), an output the input's size (no product thrown away, as
        'valid' would) on a map of at most ``SHIFTED_MAX_PIXELS``: DenseNet121's 3x3 layers, 128 -> 32.
        Measured slower outside it: 'valid' windows (a 7x7 on 10x10: 6x), ``F`` near ``C``, 16x16 maps."""
        spatial = tuple(x_shape[1:-1])
        out = tuple(n + b + a - k + 1 for n, k, (b, a) in zip(spatial, kernel_size, pads))
        return (self.input_grad_by_correlation(x_shape[-1], kernel_size) and 4 * self.filters <= x_shape[-1]
                and out == spatial and int(np.prod(spatial)) <= self.SHIFTED_MAX_PIXELS)

    def input_grad_by_correlation(self, c, kernel_size=None):
        """Whether ``dL/dx`` on ``c`` input channels is one correlation of the padded ``dz`` with the flipped
        kernel (stride 1, undilated, ungrouped, fewer filters than channels: fewer bytes moved than col2im).
        Not for a 1x1 kernel: there ``col2im_nd`` is one product with the kernel's transpose, a view, where the
        correlation would copy the transposed kernel on every call. ``kernel_size``: the live taps' window
        (``live_window``), the whole kernel if not given."""
        ks = self.kernel_size if kernel_size is None else kernel_size
        return (self.groups == 1 and set(self.strides) == {1} and set(self.dilation_rate) == {1} and self.filters < c
                and set(ks) != {1})

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (the caller applied the
        activation's gradient, as ``MaxPooling2D.backward(dy, relu_input=True)`` does)."""
        if len(self._cache) == 4:  # the small-map route
            x, pairs, z, y = self._cache
            dz = self._dz(dy, z, y, pre_activation)
            self.grads["kernel"], dx = small_map_conv_backward(x, self.params["kernel"], pairs, dz, self.input_grad)
            return dx
        x_shape, xp, taps, pads, cols, z, y, tiled = self._cache
        kernel = self.params["kernel"][taps]
        ks = kernel.shape[:-2]
        if cols is None:  # after forward(training=False), which may have kept x unpadded
            xp = zero_pad(xp, pads) if xp.shape == x_shape else xp
            cols = (im2col_nd(xp, ks, self.strides, self.dilation_rate) if tiled is None else
                    im2col_tiles(xp, ks, self.strides, self.dilation_rate, tiled[0], z.shape[2:4]))
        xp_shape = xp.shape
        f, c, groups = self.filters, x_shape[-1], self.groups
        dz = self._dz(dy, z, y, pre_activation)
        g = dz.reshape(-1, f)
        if groups == 1:
            dk = parallel.matmul(cols.T, g).reshape(ks + (c, f))
        else:  # per group X_g.T @ G_g: (groups, K*C/groups, F/groups) -> (K*C/groups, groups, F/groups)
            dk = cols.transpose(0, 2, 1) @ g.reshape(-1, groups, f // groups).transpose(1, 0, 2)
            dk = np.ascontiguousarray(dk.transpose(1, 0, 2)).reshape(ks + (c // groups, f))
        self.grads["kernel"] = live_taps_gradient(dk, self.params["kernel"], taps)
        if not self.input_grad:
            return None
        covered = None
        if tiled is not None and self.input_grad_by_correlation(c, ks):  # the whole map, 0 where no window reads
            dz = untile(dz, *tiled)
        elif tiled is not None:  # the pixels the windows read, in place: col2im skips the others (0)
            dz = untile(dz, tiled[0])
            g, covered = dz.reshape(-1, f), dz.shape[1:3]
        if self.input_grad_by_correlation(c, ks):
            return conv_input_grad_by_correlation(dz, kernel, pads)  # F < C: fewer bytes moved
        dxp = col2im_nd(g, kernel, xp_shape, self.strides, self.dilation_rate, groups, covered)
        return crop(dxp, pads)


class Conv1D(BaseConv):
    """1-D convolution over ``(N, L, C)``: ``BaseConv`` with one spatial axis; ``padding`` also
    ``"causal"``. Kernel ``(k, C/groups, F)``."""

    rank = 1
    PADDINGS = geometry.PADDINGS + ("causal",)


class Conv2D(BaseConv):
    """2-D convolution over ``(N, H, W, C)``: ``BaseConv`` with two spatial axes. Kernel ``(kh, kw, C/groups, F)``."""

    rank = 2


class Conv3D(BaseConv):
    """3-D convolution over ``(N, D, H, W, C)``: ``BaseConv`` with three spatial axes. Kernel
    ``(kd, kh, kw, C/groups, F)``."""

    rank = 3


def _initializer(name, layer):
    initializers.get(name, layer)  # refuses unknown names
    return name


def _depth_multiplier(value, layer):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: depth_multiplier must be a positive int, received {value!r}")
    return value


class BaseDepthwiseConv(ConvBase):
    """Depthwise N-d convolution: each input channel correlated with its own ``depth_multiplier``
    (``m``) filters, channels never mixed. Output channel ``c*m + j`` comes from input channel ``c``.

    Shapes (2-D shown; 1-D drops ``W``)::

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

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
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
        c, m = input_shape[-1], self.depth_multiplier
        self.params["kernel"] = initializers.get(self.depthwise_initializer, self.label)(
            self.kernel_size + (c, m), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((c * m,), rng, self.dtype)

    DEPTHWISE = True  # kernel (*k, C, m): output channel c*m + j is (c, j) of its last two axes (folded)
    FOLDS_NORMALIZATION = True

    def forward(self, x, training=False, weights=None):
        """``act(depthwise(x) + bias)``; ``weights``: ``folded`` weights in place of the layer's own (inference)."""
        self._check_input(x)
        params = self.params if weights is None else weights
        taps, pads = self.live_window(x.shape)  # the whole kernel unless the map is small
        xr = repeat_channels(zero_pad(x, pads), self.depth_multiplier)  # channel c at c*m .. c*m+m-1
        z = depthwise_nd(xr, params["kernel"][taps], self.strides, self.dilation_rate)
        y = self._activate(z, params)
        self._cache = (taps, pads, xr, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy (``pre_activation=True``: already dL/dz, as ``Conv2D.backward``)."""
        taps, pads, xr, z, y = self._cache
        dz = self._dz(dy, z, y, pre_activation)
        dk, dxp = depthwise_backward_nd(dz, xr, self.params["kernel"][taps], self.strides, self.dilation_rate,
                                        self.input_grad)
        self.grads["kernel"] = live_taps_gradient(dk, self.params["kernel"], taps)
        return None if dxp is None else crop(dxp, pads)


class DepthwiseConv1D(BaseDepthwiseConv):
    """Depthwise 1-D convolution over ``(N, L, C)``: kernel ``(k, C, m)``."""

    rank = 1


class DepthwiseConv2D(BaseDepthwiseConv):
    """Depthwise 2-D convolution over ``(N, H, W, C)``: kernel ``(kh, kw, C, m)``."""

    rank = 2


class BaseSeparableConv(ConvBase):
    """Depthwise convolution (``depth_multiplier`` ``m``, no bias, no activation) followed by a
    pointwise 1x1 convolution mixing the ``C*m`` channels into ``filters`` (``F``), then bias and
    activation.

    Shapes (2-D shown; 1-D drops ``W``)::

        x:                (N, H, W, C)
        depthwise_kernel: (kh, kw, C, m)     pointwise_kernel: (1, 1, C*m, F)     bias: (F,)
        u:                (N, H_out, W_out, C*m)                 y: (N, H_out, W_out, F)

    Forward (``P = pointwise_kernel.reshape(C*m, F)``, rows of ``u`` one per output pixel)::

        u = depthwise(x)         z = u @ P + b         y = act(z)

    Backward, with ``G = dL/dz`` as ``(N*H_out*W_out, F)``::

        dL/dP = u.T @ G          dL/dbias = sum over rows of G          dL/du = G @ P.T
        then the depthwise backward of ``dL/du`` gives ``dL/ddepthwise_kernel`` and ``dL/dx``.
    """

    weight_names = ("depthwise_kernel", "pointwise_kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
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
        c, m, ones = input_shape[-1], self.depth_multiplier, (1,) * self.rank
        init = initializers.get
        self.params["depthwise_kernel"] = init(self.depthwise_initializer, self.label)(
            self.kernel_size + (c, m), rng, self.dtype)
        self.params["pointwise_kernel"] = init(self.pointwise_initializer, self.label)(
            ones + (c * m, self.filters), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = init(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        taps, pads = self.live_window(x.shape)  # the whole kernel unless the map is small
        xr = repeat_channels(zero_pad(x, pads), self.depth_multiplier)
        u = depthwise_nd(xr, self.params["depthwise_kernel"][taps], self.strides, self.dilation_rate)
        cm = u.shape[-1]
        z = (u.reshape(-1, cm) @ self.params["pointwise_kernel"].reshape(cm, self.filters)).reshape(
            u.shape[:-1] + (self.filters,))
        y = self._activate(z)
        self._cache = (taps, pads, xr, u, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy (``pre_activation=True``: already dL/dz, as ``Conv2D.backward``)."""
        taps, pads, xr, u, z, y = self._cache
        cm = u.shape[-1]
        dz = self._dz(dy, z, y, pre_activation)
        g = dz.reshape(-1, self.filters)
        pk = self.params["pointwise_kernel"].reshape(cm, self.filters)
        self.grads["pointwise_kernel"] = (u.reshape(-1, cm).T @ g).reshape(self.params["pointwise_kernel"].shape)
        du = (g @ pk.T).reshape(u.shape)
        dk, dxp = depthwise_backward_nd(du, xr, self.params["depthwise_kernel"][taps], self.strides,
                                        self.dilation_rate, self.input_grad)
        self.grads["depthwise_kernel"] = live_taps_gradient(dk, self.params["depthwise_kernel"], taps)
        return None if dxp is None else crop(dxp, pads)


class SeparableConv1D(BaseSeparableConv):
    """Separable 1-D convolution over ``(N, L, C)``: depthwise ``(k, C, m)``, pointwise ``(1, C*m, F)``."""

    rank = 1


class SeparableConv2D(BaseSeparableConv):
    """Separable 2-D convolution over ``(N, H, W, C)``: depthwise ``(kh, kw, C, m)``, pointwise ``(1, 1, C*m, F)``."""

    rank = 2


class BaseConvTranspose(ConvBase):
    """N-d transposed convolution: the adjoint of a convolution (its input gradient), so an
    input of ``S`` steps gives about ``S * strides`` (Keras's ``base_conv_transpose.py``).

    Shapes (2-D shown; ``O`` from ``geometry.transpose_output_length``)::

        x:      (N, H, W, C)
        kernel: (kh, kw, F, C)          bias: (F,)        (Keras's layout: filters before inputs)
        y:      (N, H_O, W_O, F)

    Forward: every input pixel ``p`` sends ``x[p] @ kernel[a].T`` to output cell ``p*s + a*d``
    of a zero-padded output ``zp`` (the pads the convolution of an ``O``-sized input with the same
    geometry would use), then the pads are cropped::

        zp[n, p*s + a*d, f] += sum_c x[n, p, c] * kernel[a, f, c]      z = crop(zp) + b      y = act(z)

    which is ``col2im`` of the rows of ``x`` with the kernel read as a convolution kernel from
    ``F`` channels to ``C`` filters. Backward is that convolution, with ``G = dL/dz`` zero-padded
    back to ``zp``'s size and ``X_G`` its im2col matrix (columns ``(kh, kw, F)``)::

        dL/dx = X_G @ kernel.reshape(kh*kw*F, C)        dL/dkernel = (X_G.T @ x rows).reshape(kh, kw, F, C)
        dL/dbias = sum of G over all but the channels
    """

    weight_names = ("kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters", self.label)
        self._set_geometry(kernel_size, strides, padding, dilation_rate)
        _no_dilation_with_strides(self)
        self.output_padding = None if output_padding is None else self._output_padding(output_padding)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def _output_padding(self, value):
        r = self.rank
        ints = (value,) * r if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            ints = tuple(ints)
        except TypeError:
            ints = ()
        if len(ints) != r or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints):
            raise ValueError(f"{self.label}: output_padding must be None, a non-negative int or {r} of them, "
                             f"received {value!r}")
        if any(p >= s for p, s in zip(ints, self.strides)):
            raise ValueError(f"{self.label}: output_padding must be smaller than strides on every axis (as Keras); "
                             f"received output_padding={ints} with strides={self.strides}")
        return ints

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._geometry_config(),
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                **self._weight_options_config()}

    def _out_channels(self, c):
        return self.filters

    def _axes(self):
        """``(kernel, stride, dilation, output_padding)`` of each spatial axis."""
        ops = self.output_padding or (None,) * self.rank
        return list(zip(self.kernel_size, self.strides, self.dilation_rate, ops))

    def compute_output_shape(self, input_shape):
        n, *spatial, c = input_shape
        return (n, *(geometry.transpose_output_length(s, k, st, self.padding, p, d)
                     for s, (k, st, d, p) in zip(spatial, self._axes())), self.filters)

    def _check_shape(self, shape):
        check_rank(self, shape, self.rank + 2, INPUT_AXES[self.rank])
        if self.built and shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{self.label}: expected {self.input_shape[-1]} input channels, received {shape[-1]}")
        out = self.compute_output_shape(shape)[1:-1]
        for n, o, (k, s, d, _) in zip(shape[1:-1], out, self._axes()):
            # the convolution this one is the adjoint of must map O back to n (TensorFlow refuses otherwise)
            if n is not None and geometry.output_length(o, k, s, self.padding, d) != n:
                raise ValueError(f"{self.label}: output_padding={self.output_padding} with padding={self.padding!r}, "
                                 f"kernel_size={self.kernel_size} and strides={self.strides} gives an output of {o} "
                                 f"for an input of {n}, which a {self.padding!r} convolution maps to "
                                 f"{geometry.output_length(o, k, s, self.padding, d)}, not back to {n} "
                                 f"(Keras's TensorFlow backend refuses it too); input shape {shape}")

    def _build(self, input_shape, rng):
        shape = self.kernel_size + (self.filters, input_shape[-1])
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(shape, rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.filters,), rng, self.dtype)

    def _output_pads(self, x_shape):
        """The output's spatial sizes and the pads the adjoint convolution of that size would add."""
        out = self.compute_output_shape(x_shape)[1:-1]
        return out, tuple(geometry.pads(o, k, s, self.padding, d) for o, (k, s, d, _) in zip(out, self._axes()))

    def forward(self, x, training=False):
        self._check_input(x)
        n, c = x.shape[0], x.shape[-1]
        out, pads = self._output_pads(x.shape)
        padded = (n,) + tuple(o + b + a for o, (b, a) in zip(out, pads)) + (self.filters,)
        zp = col2im_nd(x.reshape(-1, c), self.params["kernel"], padded, self.strides, self.dilation_rate)
        z = np.ascontiguousarray(crop(zp, pads))
        y = self._activate(z)
        self._cache = (x, pads, z, y)
        return y

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy (``pre_activation=True``: already dL/dz, as ``Conv2D.backward``)."""
        x, pads, z, y = self._cache
        c, kernel = x.shape[-1], self.params["kernel"]
        dz = self._dz(dy, z, y, pre_activation)
        cols = im2col_nd(zero_pad(dz, pads), self.kernel_size, self.strides, self.dilation_rate)  # (N*P, K*F)
        self.grads["kernel"] = (cols.T @ x.reshape(-1, c)).reshape(kernel.shape)
        if not self.input_grad:
            return None
        return (cols @ kernel.reshape(-1, c)).reshape(x.shape)


class Conv1DTranspose(BaseConvTranspose):
    """Transposed 1-D convolution over ``(N, L, C)``: kernel ``(k, F, C)``."""

    rank = 1


class Conv2DTranspose(BaseConvTranspose):
    """Transposed 2-D convolution over ``(N, H, W, C)``: kernel ``(kh, kw, F, C)``."""

    rank = 2


class Conv3DTranspose(BaseConvTranspose):
    """Transposed 3-D convolution over ``(N, D, H, W, C)``: kernel ``(kd, kh, kw, F, C)``."""

    rank = 3
