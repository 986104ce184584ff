"""im2col and col2im: the two copies around a convolution's matrix products, and the fast
elementwise passes around them.

This module holds the speed machinery (batch slices on threads, see ``scratch.parallel``) so
the layers read as their maths. Every function loops at most over kernel offsets, never over
pixels or images, and gives the same bits for any number of threads.

Shapes::

    xp:    (N, Hp, Wp, C)                       the padded input
    cols:  (N*H_out*W_out, kh*kw*C)             one row per output pixel, columns (kh, kw, C)
    col2im(blocks) adds each offset's (N, H_out, W_out, C) block back where it came from.
"""

import numpy as np

from . import parallel


def output_size(xp_shape, kernel_size, strides, dilation=(1, 1)):
    """``(H_out, W_out)`` of a window sweep over an already padded input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation
    return (xp_shape[1] - dh * (kh - 1) - 1) // sh + 1, (xp_shape[2] - dw * (kw - 1) - 1) // sw + 1


def window_slices(i, j, out_size, strides, dilation=(1, 1)):
    """Row and column slices of ``xp`` seen by kernel offset ``(i, j)`` across all windows."""
    (ho, wo), (sh, sw), (dh, dw) = out_size, strides, dilation
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def im2col(xp, kernel_size, strides, dilation=(1, 1)):
    """The ``(N*H_out*W_out, kh*kw*C)`` matrix of every window of ``xp``, contiguous for the GEMM."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, strides, dilation
    n, _, _, c = xp.shape
    ho, wo = output_size(xp.shape, kernel_size, strides, dilation)
    cols = np.empty((n * ho * wo, kh * kw * c), dtype=xp.dtype)
    cols6 = cols.reshape(n, ho, wo, kh, kw, c)
    s0, s1, s2, s3 = xp.strides
    windows = np.lib.stride_tricks.as_strided(xp, (n, ho, wo, kh, kw, c),
                                              (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)

    def copy(lo, hi):  # slices of the batch, on parallel threads
        if c == 1:  # one channel: a copy per kernel offset (kh*kw loops, never over pixels) is fastest
            for i in range(kh):
                for j in range(kw):
                    cols6[lo:hi, :, :, i, j, :] = windows[lo:hi, :, :, i, j, :]
        else:  # the strided view (N, H_out, W_out, kh, kw, C) of every window, copied once
            cols6[lo:hi] = windows[lo:hi]

    parallel.over_batch(n, copy, cols.nbytes)
    return cols


def col2im(g, kernel, xp_shape, strides, dilation=(1, 1)):
    """``dL/dxp`` from ``G`` (``(N*H_out*W_out, F)``) and the kernel ``(kh, kw, C, F)``.

    ``dL/dX = G @ K.T`` is formed one kernel offset at a time: the ``(N*H_out*W_out, C)``
    block ``G @ kernel[i, j].T`` is contiguous, so adding it back into the input positions it
    came from runs over whole rows, and the full ``dL/dX`` matrix is never formed.
    """
    kh, kw, c, _ = kernel.shape
    n = xp_shape[0]
    ho, wo = output_size(xp_shape, (kh, kw), strides, dilation)
    dxp = np.zeros(xp_shape, dtype=kernel.dtype)
    share = np.empty((n * ho * wo, c), dtype=kernel.dtype)
    block = share.reshape(n, ho, wo, c)
    for i in range(kh):  # overlapping windows accumulate
        for j in range(kw):
            np.matmul(g, kernel[i, j].T, out=share)
            rs, cs = window_slices(i, j, (ho, wo), strides, dilation)
            target = dxp[:, rs, cs, :]
            parallel.over_batch(n, lambda lo, hi, t=target: np.add(t[lo:hi], block[lo:hi], out=t[lo:hi]),
                                share.nbytes)
    return dxp


def add_bias_relu(z, bias, relu):
    """``z += bias`` and, with ``relu``, ``z = max(z, 0)``, in place, over batch slices."""
    if bias is None and not relu:
        return z

    def work(lo, hi):
        part = z[lo:hi]
        if bias is not None:
            part += bias
        if relu:
            np.maximum(part, 0, out=part)

    parallel.over_batch(len(z), work, z.nbytes)
    return z


def relu_mask(dy, y):
    """``dy * (y > 0)`` over batch slices (ReLU's backward from its output)."""
    dz = np.empty(y.shape, dtype=np.result_type(dy.dtype, y.dtype))
    parallel.over_batch(len(y), lambda lo, hi: np.multiply(dy[lo:hi], y[lo:hi] > 0, out=dz[lo:hi]), dz.nbytes)
    return dz
