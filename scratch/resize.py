"""Image resizing in NumPy: what ``keras.ops.image.resize`` computes with the TensorFlow backend
(``tf.image.resize``, ``antialias=False``), forward and backward, pixel for pixel.

``resize(images, (out_h, out_w), interpolation)`` returns the resized ``(N, out_h, out_w, C)``
images and a ``plan`` (the 1-D sampling tables); ``resize_backward(dy, plan)`` is the gradient
TensorFlow registers (``ResizeBilinearGrad``, ``ResizeBicubicGrad``, ``ResizeNearestNeighborGrad``):
each output pixel's gradient scattered back onto the input pixels it read, with the weights it
read them with. Every method samples the two axes independently (a separable resampling), so a
plan is one table per axis.

Coordinates are TensorFlow's half-pixel centres, in float32 whatever the image dtype:
``scale = in / out`` (float32 division) and, for output index ``i``::

    bilinear, bicubic:  s = (i + 0.5) * scale - 0.5
    nearest:            s = (i + 0.5) * scale,  source = min(floor(s), in - 1)

- ``"nearest"``: ``y[i] = x[source(i)]`` (in the image dtype); backward adds ``dy[i]`` into
  ``dx[source(i)]``.
- ``"bilinear"``: ``lo = max(floor(s), 0)``, ``hi = min(ceil(s), in - 1)``, ``t = s - floor(s)``;
  computed in **float32** (TensorFlow's kernel converts every pixel to float and returns float32,
  even for float64 images: a float64 model's bilinear resize has float32 precision, here too)::

      top = x[lo_y, lo_x] + (x[lo_y, hi_x] - x[lo_y, lo_x]) * t_x
      bot = x[hi_y, lo_x] + (x[hi_y, hi_x] - x[hi_y, lo_x]) * t_x
      y   = top + (bot - top) * t_y

  backward: ``dx[lo_y, lo_x] += dy * (1 - t_y) * (1 - t_x)``, ``dx[lo_y, hi_x] += dy * (1 - t_y) * t_x``,
  ``dx[hi_y, lo_x] += dy * t_y * (1 - t_x)``, ``dx[hi_y, hi_x] += dy * t_y * t_x``, each product
  in float32 (``dy`` rounded to float32 first), added in the image dtype.
- ``"bicubic"``: Keys' cubic convolution (``a = -0.5``) at the taps ``floor(s) - 1 .. floor(s) + 2``,
  the kernel read from TensorFlow's table of 1025 float32 entries at ``round(frac(s) * 1024)``, a
  tap outside the image weighing 0 and the four weights divided by their sum; float32, the rows
  first then the columns (``y = sum_j wx_j * (sum_i wy_i * x[i, j])``, each sum left to right);
  backward ``dx[i, j] += dy * wy_i * wx_j`` in the image dtype (summed over the rows first, then
  the columns: TensorFlow's products regrouped, equal to rounding).

``"area"``, ``"lanczos3"`` and ``"lanczos5"`` (and ``antialias=True``) are not computed, and refused
in one line: TensorFlow registers no gradient for ``"area"`` (``ResizeArea``), so Keras cannot train
through it either, and the lanczos kernels (``ScaleAndTranslate``) have a gradient in float32 only
(``parity_tests/test_resize_parity.py`` pins both).
"""

import numpy as np

INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
KERAS_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")

F32 = np.float32
TABLE_SIZE = 1 << 10


def _scale(n_in, n_out):
    return F32(n_in) / F32(n_out)


def _coordinates(n_in, n_out, shift):
    """TensorFlow's half-pixel source coordinates of every output index, in float32."""
    return (np.arange(n_out, dtype=F32) + F32(0.5)) * _scale(n_in, n_out) - F32(shift)


def nearest_table(n_in, n_out):
    """The source index of each output index (``HalfPixelScalerForNN``, clamped)."""
    s = _coordinates(n_in, n_out, 0.0)
    return np.clip(np.floor(s).astype(np.int64), 0, n_in - 1)


def bilinear_table(n_in, n_out):
    """``(lo, hi, t)`` per output index: the two source indices and the float32 weight of ``hi``."""
    s = _coordinates(n_in, n_out, 0.5)
    f = np.floor(s)
    lo = np.maximum(f.astype(np.int64), 0)
    hi = np.minimum(np.ceil(s).astype(np.int64), n_in - 1)
    return lo, hi, (s - f).astype(F32)


def _keys_table():
    """TensorFlow's ``InitCoeffsTable(-0.5)``: ``[i, 0]`` the kernel at ``x = i / 1024`` (the near
    taps), ``[i, 1]`` at ``x + 1`` (the far taps); computed in double, stored in float32."""
    a = -0.5
    x = (np.arange(TABLE_SIZE + 1) * 1.0 / TABLE_SIZE).astype(F32).astype(np.float64)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    x1 = (x.astype(F32) + F32(1.0)).astype(np.float64)
    far = ((a * x1 - 5 * a) * x1 + 8 * a) * x1 - 4 * a
    return np.stack([near, far], axis=1).astype(F32)


KEYS_TABLE = _keys_table()


def bicubic_table(n_in, n_out):
    """``(index (n_out, 4), weight (n_out, 4) float32)``: the four taps and their normalized weights."""
    s = _coordinates(n_in, n_out, 0.5)
    base = np.floor(s).astype(np.int64)
    delta = (s - base.astype(F32)).astype(F32)
    offset = np.rint(delta * F32(TABLE_SIZE)).astype(np.int64)  # lrintf: to nearest, ties to even
    taps = base[:, None] + np.arange(-1, 3)[None, :]
    weight = np.stack([KEYS_TABLE[offset, 1], KEYS_TABLE[offset, 0], KEYS_TABLE[TABLE_SIZE - offset, 0],
                       KEYS_TABLE[TABLE_SIZE - offset, 1]], axis=1)
    inside = (taps >= 0) & (taps <= n_in - 1)
    weight = np.where(inside, weight, F32(0.0)).astype(F32)
    total = ((weight[:, 0] + weight[:, 1]) + weight[:, 2]) + weight[:, 3]
    norm = np.abs(total) >= F32(1000.0) * np.finfo(F32).tiny
    inv = np.where(norm, F32(1.0) / np.where(norm, total, F32(1.0)), F32(1.0)).astype(F32)
    weight = np.where(norm[:, None], weight * inv[:, None], weight).astype(F32)
    return np.clip(taps, 0, n_in - 1), weight


WHY_NOT = {"area": "TensorFlow has no gradient for it", "lanczos3": "its TensorFlow gradient exists in float32 only",
           "lanczos5": "its TensorFlow gradient exists in float32 only"}


def check_interpolation(interpolation, label):
    if interpolation not in INTERPOLATIONS:
        known = f"a Keras interpolation the scratch engine does not compute: {WHY_NOT[interpolation]}" \
            if interpolation in KERAS_INTERPOLATIONS else f"not one of Keras's {KERAS_INTERPOLATIONS}"
        raise ValueError(f"{label}: interpolation must be one of {INTERPOLATIONS}, received {interpolation!r} "
                         f"({known})")
    return interpolation


def resize(images, size, interpolation="bilinear"):
    """``(y, plan)``: ``images`` ``(N, H, W, C)`` resized to ``size = (out_h, out_w)``, in ``images``'s dtype."""
    n, h, w, c = images.shape
    oh, ow = size
    check_interpolation(interpolation, "resize")
    if interpolation == "nearest":
        plan = ("nearest", images.shape, nearest_table(h, oh), nearest_table(w, ow))
        return images[:, plan[2]][:, :, plan[3]], plan
    x = images.astype(F32, copy=False)
    if interpolation == "bilinear":
        (ly, hy, ty), (lx, hx, tx) = bilinear_table(h, oh), bilinear_table(w, ow)
        top_rows, bottom_rows = x[:, ly], x[:, hy]
        tx4 = tx[None, None, :, None]
        top = top_rows[:, :, lx] + (top_rows[:, :, hx] - top_rows[:, :, lx]) * tx4
        bottom = bottom_rows[:, :, lx] + (bottom_rows[:, :, hx] - bottom_rows[:, :, lx]) * tx4
        y = top + (bottom - top) * ty[None, :, None, None]
        return y.astype(images.dtype, copy=False), ("bilinear", images.shape, (ly, hy, ty), (lx, hx, tx))
    (iy, wy), (ix, wx) = bicubic_table(h, oh), bicubic_table(w, ow)
    rows = x[:, iy[:, 0]] * wy[None, :, 0, None, None]  # along y first: (N, oh, W, C)
    for k in range(1, 4):
        rows = rows + x[:, iy[:, k]] * wy[None, :, k, None, None]
    y = rows[:, :, ix[:, 0]] * wx[None, None, :, 0, None]
    for k in range(1, 4):
        y = y + rows[:, :, ix[:, k]] * wx[None, None, :, k, None]
    return y.astype(images.dtype, copy=False), ("bicubic", images.shape, (iy, wy), (ix, wx))


def _add_along(out, index, values, axis):
    """``out[..., index[i], ...] += values[..., i, ...]`` along ``axis``. Every table's indices are
    non-decreasing in the output index, so equal indices are consecutive: each run is summed
    (``np.add.reduceat``, in order) and added once."""
    if np.any(index[1:] < index[:-1]):  # not a table of this module: the general (slow) scatter
        where = [slice(None)] * out.ndim
        where[axis] = index
        np.add.at(out, tuple(where), values)
        return
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    sums = np.add.reduceat(values, starts, axis=axis)
    where = [slice(None)] * out.ndim
    where[axis] = index[starts]
    out[tuple(where)] += sums


def _scatter(dx, term, rows, cols):
    """``dx[:, rows[i], cols[j]] += term[:, i, j]`` (repeated indices add up)."""
    partial = np.zeros((dx.shape[0], dx.shape[1], term.shape[2], dx.shape[3]), dx.dtype)
    _add_along(partial, rows, term, 1)
    _add_along(dx, cols, partial, 2)


def resize_backward(dy, plan, dtype=None):
    """``dL/dimages`` from ``dL/dy`` (``(N, out_h, out_w, C)``), TensorFlow's gradient of ``resize``."""
    kind, shape, ty, tx = plan
    dtype = np.dtype(dtype or dy.dtype)
    dx = np.zeros(shape, dtype)
    if kind == "nearest":
        _scatter(dx, dy.astype(dtype, copy=False), ty, tx)
        return dx
    if kind == "bilinear":
        (ly, hy, t_y), (lx, hx, t_x) = ty, tx
        g = dy.astype(F32, copy=False)
        one = F32(1.0)
        for rows, wy in ((ly, one - t_y), (hy, t_y)):
            gy = g * wy[None, :, None, None]
            for cols, wx in ((lx, one - t_x), (hx, t_x)):
                _scatter(dx, (gy * wx[None, None, :, None]).astype(dtype), rows, cols)
        return dx
    (iy, wy), (ix, wx) = ty, tx
    g = dy.astype(F32).astype(dtype)  # TF's gradient input is float32, its products in the image dtype
    rows = np.zeros((shape[0], shape[1], g.shape[2], shape[3]), dtype)  # sum_i dy * wy_i onto the rows
    for i in range(4):
        _add_along(rows, iy[:, i], g * wy[None, :, i, None, None].astype(dtype), 1)
    for j in range(4):  # then sum_j (...) * wx_j onto the columns: TF's 16 products, grouped (rounding only)
        _add_along(dx, ix[:, j], rows * wx[None, None, :, j, None].astype(dtype), 2)
    return dx
