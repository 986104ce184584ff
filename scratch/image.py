"""Image geometry in NumPy: ``affine_transform``, what ``keras.ops.image.affine_transform`` computes.

Keras's TensorFlow backend runs ``tf.raw_ops.ImageProjectiveTransformV3``; this module computes
the same thing, vectorized over the batch, the pixels and the channels.

The transform convention (TensorFlow's): a transform is 8 numbers ``[a0, a1, a2, b0, b1, b2,
c0, c1]``, one row per image (or one row for all). It maps each OUTPUT pixel ``(x, y)``
(column, row; pixel centres at integer coordinates, ``(0, 0)`` the top-left pixel) to the
INPUT point it reads from::

    k    = c0 * x + c1 * y + 1
    x_in = (a0 * x + a1 * y + a2) / k
    y_in = (b0 * x + b1 * y + b2) / k

(``k == 0`` gives ``fill_value``). So a translation by ``+t`` pixels to the right is
``a2 = -t``: output ``x`` reads input ``x - t``.

``fill_mode`` says where a point outside the image reads from, per axis of length ``n``:

- ``"constant"``: nowhere: every pixel read outside ``[0, n - 1]`` is ``fill_value``
  (bilinear blends the inside neighbours with ``fill_value``);
- ``"nearest"``: the coordinate is clamped to ``[0, n - 1]`` (``aaaa|abcd|dddd``);
- ``"reflect"``: reflected about the image edge, the edge pixel repeated (``dcba|abcd|dcba``):
  ``-1 -> 0``, ``-2 -> 1``, ``n -> n - 1``, period ``2n``; then clamped to ``[0, n - 1]``;
- ``"wrap"``: TensorFlow's wrap, which shifts by ``n`` once per ``n - 1`` pixels outside
  (for integer coordinates ``-1 -> n - 1`` and ``n -> 0``, as ``abcd|abcd|abcd``), then clamps
  to ``[0, n - 1]``; an axis of length 1 always reads its one pixel.

``interpolation``: ``"nearest"`` reads the pixel at the coordinates rounded half away from
zero (C's ``round``); ``"bilinear"`` blends the four pixels around ``(x_in, y_in)`` with
weights ``(1 - fx)(1 - fy)``, ``fx (1 - fy)``, ``(1 - fx) fy``, ``fx fy`` (``fx = x_in -
floor(x_in)``), a pixel outside the image reading ``fill_value``.

Precision: TensorFlow computes the coordinates (and the bilinear blend) in float32 whatever
the image dtype; this module computes the coordinates in float32 too, as TensorFlow does
(so the same pixels are read, even where a float64 coordinate would land a hair across a
pixel or image edge), and the blend in the image's dtype: float32 results agree with
TensorFlow to rounding, and float64 results are the values TensorFlow's float32 blend rounds.
"""

import numpy as np

INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def map_coordinate(c, n, fill_mode):
    """Where the (real) coordinate ``c`` on an axis of length ``n`` reads under ``fill_mode``."""
    if fill_mode == "constant":
        return c
    if n <= 1:
        return np.zeros_like(c)
    if fill_mode == "reflect":
        period = 2 * n
        c = np.where(c < 0, c + period * np.floor(-c / period), c)  # into (-2n, 0]
        c = np.where(c < 0, np.where(c < -n, c + period, -c - 1), c)
        c = np.where(c > n - 1, c - period * np.floor(c / period), c)  # into [0, 2n)
        c = np.where(c >= n, period - c - 1, c)
    elif fill_mode == "wrap":
        below, above = c < 0, c > n - 1  # exclusive cases: a wrapped negative may land above n - 1
        c = np.where(below, c + n * (np.floor(-c / (n - 1)) + 1), np.where(above, c - n * np.floor(c / (n - 1)), c))
    return np.clip(c, 0, n - 1)


def _round_half_away(c):
    return np.sign(c) * np.floor(np.abs(c) + 0.5)


def _check(images, transform, interpolation, fill_mode):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"affine_transform: interpolation must be one of {INTERPOLATIONS}, "
                         f"received {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {FILL_MODES}, received {fill_mode!r}")
    if images.ndim not in (3, 4):
        raise ValueError(f"affine_transform: images must be (H, W, C) or (N, H, W, C), received shape "
                         f"{images.shape}")
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(f"affine_transform: transform must be (8,) or (N, 8), received shape {transform.shape}")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """Resample ``images`` through ``transform`` (see the module docstring for the conventions).

    Shapes: ``images: (N, H, W, C)`` (or ``(H, W, C)``), ``transform: (N, 8)`` or ``(8,)``
    (the same for every image) -> ``(N, H, W, C)`` (or ``(H, W, C)``), the images' dtype.
    """
    images, transform = np.asarray(images), np.asarray(transform)
    _check(images, transform, interpolation, fill_mode)
    single = images.ndim == 3
    x = images[None] if single else images
    n, h, w, _ = x.shape
    dt = np.dtype(np.float32)  # the geometry's precision, as TensorFlow's kernel
    t = np.broadcast_to(transform.astype(dt), (n, 8))
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))  # each (N, 1, 1)
    rows, cols = np.meshgrid(np.arange(h, dtype=dt), np.arange(w, dtype=dt), indexing="ij")  # (H, W)

    k = c0 * cols + c1 * rows + 1  # (N, H, W)
    degenerate = k == 0
    k = np.where(degenerate, 1, k)
    x_in = map_coordinate((a0 * cols + a1 * rows + a2) / k, w, fill_mode)
    y_in = map_coordinate((b0 * cols + b1 * rows + b2) / k, h, fill_mode)

    batch = np.arange(n)[:, None, None]
    fill = x.dtype.type(fill_value)

    def read(yi, xi):
        """Pixels at integer coordinates (N, H, W) -> (N, H, W, C), ``fill_value`` outside the image."""
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        values = x[batch, np.clip(yi, 0, h - 1).astype(np.intp), np.clip(xi, 0, w - 1).astype(np.intp)]
        return np.where(inside[..., None], values, fill)

    if interpolation == "nearest":
        out = read(_round_half_away(y_in), _round_half_away(x_in))
    else:
        y0, x0 = np.floor(y_in), np.floor(x_in)
        fy, fx = ((c - c0)[..., None].astype(x.dtype) for c, c0 in ((y_in, y0), (x_in, x0)))
        top = (1 - fx) * read(y0, x0) + fx * read(y0, x0 + 1)
        bottom = (1 - fx) * read(y0 + 1, x0) + fx * read(y0 + 1, x0 + 1)
        out = (1 - fy) * top + fy * bottom
    out = np.where(degenerate[..., None], fill, out).astype(x.dtype, copy=False)
    return out[0] if single else out


def inverse_transform(transform):
    """The transform undoing ``transform`` (the 3x3 matrix inverted, scaled so its last entry is 1).

    Shapes: ``(N, 8)`` or ``(8,)`` -> the same. TensorFlow's gradient of ``affine_transform``
    resamples the output gradient through this inverse (see ``affine_transform_backward``).
    """
    t = np.asarray(transform)
    flat = t.reshape(-1, 8)
    m = np.concatenate([flat, np.ones((len(flat), 1), flat.dtype)], axis=1).reshape(-1, 3, 3)
    inv = np.linalg.inv(m)
    inv = inv / inv[:, 2:3, 2:3]
    return inv.reshape(-1, 9)[:, :8].astype(t.dtype, copy=False).reshape(t.shape)


def affine_transform_backward(dy, transform, interpolation="bilinear", fill_mode="constant"):
    """``dL/dimages`` as TensorFlow (so Keras) computes it: ``dy`` resampled through the inverse
    transform, with the same interpolation and fill mode and ``fill_value = 0``::

        dx = affine_transform(dy, inverse_transform(transform), interpolation, fill_mode, 0)

    This is TensorFlow's registered gradient of ``ImageProjectiveTransformV3``, not the exact
    adjoint of the sampling: it equals the adjoint for transforms that move pixels onto pixels
    (integer shifts, flips, quarter turns, with ``fill_mode="constant"``) and approximates it
    otherwise (a finite-difference check of a rotation or a zoom does not agree with it, in
    either engine).
    """
    return affine_transform(dy, inverse_transform(transform), interpolation, fill_mode, 0.0)
