"""Layers: one class each, ``forward`` next to ``backward``.

Every layer follows one protocol:

- ``build(input_shape)`` with the batch axis first, as in Keras (``(None, 28, 28, 1)``), or
  lazily on the first call; it creates ``params`` (``kernel``, ``bias``) and ``grads`` with
  the same keys.
- ``forward(x, training=False)`` returns the output and caches what ``backward`` needs.
- ``backward(dy)`` returns ``dx`` (``dL/dx``), fills ``grads`` and never modifies ``dy``
  or the cache.
- ``get_weights()`` / ``set_weights()`` in Keras order, with shape checks;
  ``get_config()`` / ``from_config()`` with Keras's argument names.

Arrays are channels-last (NHWC). Kernels are HWIO ``(kh, kw, in, out)``, dense kernels
``(in, out)``: Keras's own layouts, so weights move over unchanged. A layer computes in its
``dtype`` (float32 unless asked for float64) and refuses input of another dtype rather than
silently changing precision.
"""

import numpy as np

from . import geometry, initializers, parallel

ACTIVATIONS = (None, "linear", "relu", "softmax")
_CHUNK_BYTES = 1 << 20  # multi-pass elementwise work goes over about this much input at a time


def _normalize_activation(activation, layer):
    if activation not in ACTIVATIONS:
        raise ValueError(f"{layer}: unknown activation {activation!r}; supported: {ACTIVATIONS}")
    return None if activation == "linear" else activation


def _positive_int(value, name, layer):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, received {value!r}")
    return value


def _softmax(z):
    """Row-wise softmax over the last axis, shifted by the max so ``exp`` never overflows."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def _softmax_backward(y, dy):
    """``dz = y * (dy - sum(dy * y))`` over the last axis (the softmax Jacobian applied)."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


class Layer:
    """Base class: naming, dtype, lazy build, input checks, weights and config."""

    weight_names = ()  # Keras order of ``get_weights()``

    def __init__(self, name=None, dtype="float32"):
        self.name = name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.label}: dtype must be float32 or float64, received {dtype!r}")
        self.params = {}
        self.grads = {}
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.seed = None  # initializer seed; a model sets it from its own seed
        self.input_grad = True  # a model turns it off for its first layer (dx unused)

    # -- naming and config -------------------------------------------------------------
    @property
    def label(self):
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}

    def _set_weight_options(self, activation, use_bias, kernel_initializer, bias_initializer):
        """Validate and keep the options Conv2D and Dense share (Keras's names)."""
        self.activation = _normalize_activation(activation, self.label)
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer, self.label)
        initializers.get(bias_initializer, self.label)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _weight_options_config(self):
        return {"activation": self.activation or "linear", "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- build -------------------------------------------------------------------------
    def build(self, input_shape):
        """Check ``input_shape`` (batch axis first), create parameters, set ``output_shape``."""
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        self._check_shape(input_shape)
        self.input_shape = input_shape
        rng = np.random.default_rng(self.seed)
        self._build(input_shape, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.output_shape = self.compute_output_shape(input_shape)
        self.built = True

    def _build(self, input_shape, rng):
        pass

    def _check_shape(self, shape):
        pass

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    # -- calling -------------------------------------------------------------------------
    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def _check_input(self, x):
        """Validate at the door: an ndarray of this layer's dtype and a compatible shape."""
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self.label}: expected a NumPy array, received {type(x).__name__}")
        if x.dtype != self.dtype:
            raise ValueError(
                f"{self.label}: expected {self.dtype.name} input, received {x.dtype}; cast it "
                f"explicitly or build the layer with dtype={x.dtype.name!r}"
            )
        if not self.built:
            try:
                self.build((None,) + x.shape[1:])
            except ValueError as e:  # report the array's real shape, batch included
                raise ValueError(str(e).replace(str((None,) + x.shape[1:]), str(x.shape))) from None
            return
        expected = self.input_shape
        if x.ndim != len(expected) or any(e is not None and e != d for e, d in zip(expected[1:], x.shape[1:])):
            if len(expected) == 4 and x.ndim == 4 and expected[3] == x.shape[3]:
                self._check_shape((None,) + x.shape[1:])  # new spatial size: still valid?
                return
            raise ValueError(
                f"{self.label}: expected input shape {expected} (batch first), received {x.shape}"
            )

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    # -- weights -----------------------------------------------------------------------
    def get_weights(self):
        """Copies of the parameters in Keras order (``[kernel, bias]``)."""
        return [self.params[k].copy() for k in self.weight_names if k in self.params]

    def set_weights(self, weights):
        """Set parameters from a list in Keras order; count, shape and finiteness checked."""
        weights = list(weights)
        if self.weight_names and not self.built:
            raise ValueError(f"{self.label}: not built yet, so its weight shapes are unknown; call "
                             f"build(input_shape) or run it once before set_weights ({len(weights)} arrays given)")
        names = [k for k in self.weight_names if k in self.params]
        if len(weights) != len(names):
            raise ValueError(
                f"{self.label}: expected {len(names)} weight arrays {names}, received {len(weights)}"
            )
        for k, w in zip(names, weights):
            w = np.asarray(w)
            if w.shape != self.params[k].shape:
                raise ValueError(
                    f"{self.label}: weight {k!r} expected shape {self.params[k].shape}, received {w.shape}"
                )
            if not np.issubdtype(w.dtype, np.floating):
                raise ValueError(f"{self.label}: weight {k!r} must be floating point, received {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{self.label}: weight {k!r} contains NaN or inf")
            self.params[k][...] = w  # in place: the optimizer and the model keep their references


def _check_window_fits(layer, shape, name, window):
    """With 'valid' padding a window larger than the input leaves no output: refuse it."""
    if layer.padding != "valid":
        return
    for n, k, axis in zip(shape[1:3], window, ("height", "width")):
        if n is not None and n < k:
            raise ValueError(
                f"{layer.label}: {name} {window} is larger than the input "
                f"{axis} {n} with padding='valid' (input shape {shape})"
            )


def _check_rank4(layer, shape):
    if len(shape) != 4:
        raise ValueError(
            f"{layer.label}: expected 4-D input (batch, height, width, channels), "
            f"received shape {shape}"
        )


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
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.filters = _positive_int(filters, "filters", self.label)
        self.kernel_size = geometry.normalize_tuple(kernel_size, "kernel_size", self.label)
        self.strides = geometry.normalize_tuple(strides, "strides", self.label)
        self.padding = geometry.normalize_padding(padding, self.label)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, **self._weight_options_config()}

    def _check_shape(self, shape):
        _check_rank4(self, shape)
        if self.built and shape[3] != self.input_shape[3]:
            raise ValueError(
                f"{self.label}: expected {self.input_shape[3]} input channels, received {shape[3]}"
            )
        _check_window_fits(self, shape, "kernel_size", self.kernel_size)

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
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        xp, ph, pw = self._pad(x)
        n, hp, wp, c = xp.shape
        ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
        # im2col into the contiguous (N*H_out*W_out, kh*kw*C) matrix the GEMM wants.
        cols = np.empty((n * ho * wo, kh * kw * c), dtype=self.dtype)
        cols6 = cols.reshape(n, ho, wo, kh, kw, c)
        s0, s1, s2, s3 = xp.strides
        windows = np.lib.stride_tricks.as_strided(xp, (n, ho, wo, kh, kw, c),
                                                  (s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)

        def im2col(lo, hi):  # slices of the batch, on parallel threads
            if c == 1:  # one channel: a copy per kernel offset (kh*kw loops, never over pixels) is fastest
                for i in range(kh):
                    for j in range(kw):
                        cols6[lo:hi, :, :, i, j, :] = windows[lo:hi, :, :, i, j, :]
            else:  # the strided view (N, H_out, W_out, kh, kw, C) of every window, copied once
                cols6[lo:hi] = windows[lo:hi]

        parallel.over_batch(n, im2col, cols.nbytes)
        z = cols @ self.params["kernel"].reshape(kh * kw * c, self.filters)
        z = z.reshape(n, ho, wo, self.filters)
        if self.use_bias or self.activation == "relu":
            bias = self.params["bias"] if self.use_bias else None

            def bias_relu(lo, hi):
                part = z[lo:hi]
                if bias is not None:
                    part += bias
                if self.activation == "relu":
                    np.maximum(part, 0, out=part)

            parallel.over_batch(n, bias_relu, z.nbytes)
        if self.activation == "softmax":
            z = _softmax(z)
        self._cache = (x.shape, xp.shape, ph, pw, cols, z)
        return z

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (the caller applied the
        activation's gradient, as ``MaxPooling2D.backward(dy, relu_input=True)`` does)."""
        x_shape, xp_shape, ph, pw, cols, y = self._cache
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        n, ho, wo, f = y.shape
        c = x_shape[3]
        if pre_activation:
            dz = dy
        elif self.activation == "relu":  # gradient 0 at exactly 0, as Keras
            dz = np.empty(y.shape, dtype=np.result_type(dy.dtype, y.dtype))
            parallel.over_batch(n, lambda lo, hi: np.multiply(dy[lo:hi], y[lo:hi] > 0, out=dz[lo:hi]), dz.nbytes)
        elif self.activation == "softmax":
            dz = _softmax_backward(y, dy)
        else:
            dz = dy
        g = dz.reshape(n * ho * wo, f)
        self.grads["kernel"] = (cols.T @ g).reshape(kh, kw, c, f)
        if self.use_bias:  # column sums as one GEMV: a reduction over axis 0 of a thin matrix is slow
            self.grads["bias"] = np.ones(len(g), dtype=self.dtype) @ g
        if not self.input_grad:
            return None
        # dL/dX = G @ K.T, then col2im, one kernel offset at a time: the (N*H_out*W_out, C) block
        # G @ kernel[i, j].T is contiguous, so adding it back into the input positions it came
        # from runs over whole rows, and the full dL/dX matrix is never formed.
        kernel = self.params["kernel"]
        dxp = np.zeros(xp_shape, dtype=self.dtype)
        share = np.empty((n * ho * wo, c), dtype=self.dtype)
        block = share.reshape(n, ho, wo, c)
        for i in range(kh):  # overlapping windows accumulate
            for j in range(kw):
                np.matmul(g, kernel[i, j].T, out=share)
                target = dxp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
                parallel.over_batch(n, lambda lo, hi, t=target: np.add(t[lo:hi], block[lo:hi], out=t[lo:hi]),
                                    share.nbytes)
        return dxp[:, ph[0]:xp_shape[1] - ph[1], pw[0]:xp_shape[2] - pw[1], :]


class _Pooling2D(Layer):
    """Shared geometry and validation of the 2-D pooling layers."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.pool_size = geometry.normalize_tuple(pool_size, "pool_size", self.label)
        self.strides = self.pool_size if strides is None else geometry.normalize_tuple(strides, "strides", self.label)
        self.padding = geometry.normalize_padding(padding, self.label)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}

    def _check_shape(self, shape):
        _check_rank4(self, shape)
        _check_window_fits(self, shape, "pool_size", self.pool_size)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        return (n, geometry.output_length(h, ph, sh, self.padding),
                geometry.output_length(w, pw, sw, self.padding), c)

    def _geometry(self, x_shape):
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        ph = geometry.pads(x_shape[1], kh, sh, self.padding)
        pw = geometry.pads(x_shape[2], kw, sw, self.padding)
        hp, wp = x_shape[1] + sum(ph), x_shape[2] + sum(pw)
        return ph, pw, (hp - kh) // sh + 1, (wp - kw) // sw + 1

    def _windows(self, ho, wo):
        """``(i, j, row_slice, col_slice)`` for each window offset, in row-major order."""
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        for i in range(kh):
            for j in range(kw):
                yield slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)


class MaxPooling2D(_Pooling2D):
    """Max pooling, channels-last.

    Shapes: ``x: (N, H, W, C)`` -> ``y: (N, H_out, W_out, C)``.

    Forward: ``y = max over the window``; with ``padding='same'`` the padding is ``-inf`` so
    it never wins. Backward: each window sends its ``dy`` to one cell, the first maximum in
    row-major order (what TensorFlow's MaxPoolGrad does when a window has ties); windows that
    overlap add their contributions.
    """

    def forward(self, x, training=False):
        self._check_input(x)
        ph, pw, ho, wo = self._geometry(x.shape)
        xp = x if ph == (0, 0) and pw == (0, 0) else np.pad(
            x, ((0, 0), ph, pw, (0, 0)), constant_values=-np.inf)
        y = np.empty((x.shape[0], ho, wo, x.shape[3]), dtype=self.dtype)
        windows = list(self._windows(ho, wo))

        def images(lo, hi):  # slices of the batch, on parallel threads
            yc = y[lo:hi]
            for k, (rs, cs) in enumerate(windows):  # loop over the window's offsets only
                if k == 0:
                    yc[...] = xp[lo:hi, rs, cs, :]
                else:
                    np.maximum(yc, xp[lo:hi, rs, cs, :], out=yc)

        parallel.over_batch(len(y), images, xp.nbytes)
        self._cache = (x.shape, xp, ph, pw, y)
        return y

    def backward(self, dy, relu_input=False):
        """``dy``: dL/dy -> dL/dx. ``relu_input=True`` (``x`` came out of a ReLU, ``x = relu(z)``)
        returns dL/dz instead: since ``max(relu(z)) = relu(max(z))``, the ReLU mask is applied
        to the pooled gradient (``dy * (y > 0)``, a quarter of the size for 2x2 pools) before it
        is routed. A window routes to a cell holding its max; if that max is 0 the cell's mask
        is 0 and so is the masked ``dy``, whatever cell the tie picks: the same values as
        masking the routed gradient with ``x > 0``."""
        x_shape, xp, ph, pw, y = self._cache
        ho, wo = y.shape[1:3]
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        # Windows that tile the input (strides == pool_size) neither overlap nor leave gaps:
        # each cell then receives exactly one write, straight into its place in dx.
        tiles = (kh, kw) == (sh, sw)
        if tiles:
            dxp = np.empty(xp.shape, dtype=self.dtype)
            dxp[:, ho * sh:] = 0  # cells past the last window ('valid' on an odd size)
            dxp[:, :, wo * sw:] = 0
        else:
            dxp = np.zeros(xp.shape, dtype=self.dtype)
        # A few images at a time, so the passes below over one chunk stay in the CPU's cache;
        # slices of the batch on parallel threads (each image's gradient is independent).
        chunk = max(1, _CHUNK_BYTES // max(1, xp[:1].nbytes))

        def images(lo, hi):
            taken_buf = np.empty((min(chunk, hi - lo),) + y.shape[1:], dtype=bool)  # an earlier cell holds the max
            hit_buf = np.empty_like(taken_buf)
            for start in range(lo, hi, chunk):
                part = slice(start, min(start + chunk, hi))
                xc, yc, dyc, dxc = xp[part], y[part], dy[part], dxp[part]
                taken, hit = taken_buf[:len(yc)], hit_buf[:len(yc)]
                if relu_input:
                    np.greater(yc, 0, out=taken)
                    dyc = dyc * taken
                for k, (rs, cs) in enumerate(self._windows(ho, wo)):
                    if k == 0:
                        np.equal(xc[:, rs, cs, :], yc, out=taken)
                        first = taken
                    else:
                        np.equal(xc[:, rs, cs, :], yc, out=hit)
                        np.greater(hit, taken, out=hit)  # a max here and not already taken
                        np.logical_or(taken, hit, out=taken)
                        first = hit
                    if tiles:
                        np.multiply(dyc, first, out=dxc[:, rs, cs, :])
                    else:
                        dxc[:, rs, cs, :] += dyc * first

        parallel.over_batch(len(y), images, xp.nbytes)
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


class Dense(Layer):
    """Fully connected layer on the last axis.

    Shapes: ``x: (N, in)`` -> ``y: (N, units)``; kernel ``(in, units)``, bias ``(units,)``.

    Forward ``z = x @ W + b, y = act(z)``. Backward ``dW = x.T @ dz``, ``db = sum_n dz``,
    ``dx = dz @ W.T``.
    """

    weight_names = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.units = _positive_int(units, "units", self.label)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._weight_options_config()}

    def _check_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(
                f"{self.label}: expected 2-D input (batch, features), received shape {shape}; "
                f"put a Flatten layer before it"
            )
        if self.built and shape[1] != self.input_shape[1]:
            raise ValueError(f"{self.label}: expected {self.input_shape[1]} input features, received {shape[1]}")

    def _build(self, input_shape, rng):
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(
            (input_shape[1], self.units), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.units,), rng, self.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def forward(self, x, training=False):
        self._check_input(x)
        z = x @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        if self.activation == "relu":
            np.maximum(z, 0, out=z)
        elif self.activation == "softmax":
            z = _softmax(z)
        self._cache = (x, z)
        return z

    def backward(self, dy):
        x, y = self._cache
        if self.activation == "relu":
            dz = dy * (y > 0)
        elif self.activation == "softmax":
            dz = _softmax_backward(y, dy)
        else:
            dz = dy
        self.grads["kernel"] = x.T @ dz
        if self.use_bias:
            self.grads["bias"] = dz.sum(axis=0)
        return dz @ self.params["kernel"].T if self.input_grad else None


class Flatten(Layer):
    """``(N, H, W, C)`` -> ``(N, H*W*C)``, row-major over (H, W, C) as Keras on channels-last.

    Backward reshapes ``dy`` back to the input shape.
    """

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, received shape {shape}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._cache)


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
        y = _softmax(x)
        self._cache = y
        return y

    def backward(self, dy):
        return _softmax_backward(self._cache, dy)


class Dropout(Layer):
    """Inverted dropout: when training, ``y = x * keep / (1 - rate)``; identity otherwise.

    ``keep`` is drawn from this layer's own generator (seeded by ``seed``), so the same seed
    gives the same masks. ``fixed_mask`` (a boolean array shaped like the input, or
    broadcastable to it) replaces the random draw: the parity tests inject the same mask in
    both engines that way. Backward: ``dx = dy * keep / (1 - rate)``.
    """

    def __init__(self, rate, seed=None, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"{self.label}: rate must be a number in [0, 1), received {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.fixed_mask = None

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.rate == 0:
            self._cache = None
            return x
        if self.fixed_mask is not None:
            keep = np.asarray(self.fixed_mask, dtype=bool)
            if np.broadcast_shapes(keep.shape, x.shape) != x.shape:
                raise ValueError(f"{self.label}: fixed_mask shape {keep.shape} does not fit input {x.shape}")
        else:
            keep = self.rng.random(x.shape) >= self.rate
        scale = keep * self.dtype.type(1.0 / (1.0 - self.rate))
        self._cache = scale.astype(self.dtype, copy=False)
        return x * self._cache

    def backward(self, dy):
        return dy if self._cache is None else dy * self._cache


LAYERS = {cls.__name__: cls for cls in (Conv2D, MaxPooling2D, AveragePooling2D, Dense, Flatten,
                                        ReLU, Softmax, Dropout)}


def deserialize(spec, dtype=None):
    """Build a layer from ``{"class_name": ..., "config": {...}}`` (Keras's own layout)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"layer spec must be a dict with 'class_name' and 'config', received {spec!r}")
    name = spec["class_name"]
    if name not in LAYERS:
        raise ValueError(f"unknown layer class {name!r}; supported: {sorted(LAYERS)}")
    config = dict(spec.get("config", {}))
    if dtype is not None:
        config["dtype"] = dtype
    try:
        return LAYERS[name].from_config(config)
    except TypeError as e:
        raise ValueError(f"{name}: bad config {config!r}: {e}") from None


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
