"""The vectorized layers against deliberately naive per-pixel loops, in float64 at 1e-12.

The references below are the obviously-correct version: explicit loops over images, output
pixels, window cells and channels, with padding handled by index checks instead of padded
arrays. Geometry (output size, 'same' pads) comes from ``scratch.geometry``, the one place it
is computed; ``test_traps.py`` checks those numbers by hand.
"""

import itertools
import zlib

import numpy as np
import pytest

import scratch
from scratch import geometry

TOL = dict(rtol=1e-12, atol=1e-12)


def out_and_pads(n, k, s, padding):
    return geometry.output_length(n, k, s, padding), geometry.pads(n, k, s, padding)[0]


# -- the naive references --------------------------------------------------------------------

def naive_conv(x, kernel, bias, strides, padding):
    """y[b, i, j, f] = bias[f] + sum_{di, dj, c} x[b, i*sh + di - top, j*sw + dj - left, c] * kernel[di, dj, c, f]."""
    nb, h, w, c = x.shape
    kh, kw, _, nf = kernel.shape
    (sh, sw) = strides
    ho, top = out_and_pads(h, kh, sh, padding)
    wo, left = out_and_pads(w, kw, sw, padding)
    y = np.zeros((nb, ho, wo, nf))
    for b in range(nb):
        for i in range(ho):
            for j in range(wo):
                for f in range(nf):
                    acc = bias[f]
                    for di in range(kh):
                        for dj in range(kw):
                            r, q = i * sh + di - top, j * sw + dj - left
                            if 0 <= r < h and 0 <= q < w:
                                for ch in range(c):
                                    acc += x[b, r, q, ch] * kernel[di, dj, ch, f]
                    y[b, i, j, f] = acc
    return y


def naive_conv_backward(x, kernel, dy, strides, padding):
    """(dx, dkernel, dbias): every term of the forward sum sends dy back to its two factors."""
    nb, h, w, c = x.shape
    kh, kw, _, nf = kernel.shape
    (sh, sw) = strides
    _, top = out_and_pads(h, kh, sh, padding)
    _, left = out_and_pads(w, kw, sw, padding)
    dx, dk, db = np.zeros_like(x), np.zeros_like(kernel), np.zeros(nf)
    for b in range(nb):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                for f in range(nf):
                    g = dy[b, i, j, f]
                    db[f] += g
                    for di in range(kh):
                        for dj in range(kw):
                            r, q = i * sh + di - top, j * sw + dj - left
                            if 0 <= r < h and 0 <= q < w:
                                for ch in range(c):
                                    dx[b, r, q, ch] += g * kernel[di, dj, ch, f]
                                    dk[di, dj, ch, f] += g * x[b, r, q, ch]
    return dx, dk, db


def naive_window(x, b, i, j, ch, pool, strides, padding):
    """The real (non-padding) cells of one pooling window, in row-major order: [(r, q), ...]."""
    (kh, kw), (sh, sw) = pool, strides
    _, top = out_and_pads(x.shape[1], kh, sh, padding)
    _, left = out_and_pads(x.shape[2], kw, sw, padding)
    cells = []
    for di in range(kh):
        for dj in range(kw):
            r, q = i * sh + di - top, j * sw + dj - left
            if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]:
                cells.append((r, q))
    return cells


def naive_pool(x, dy, pool, strides, padding, kind):
    """Forward and backward of max/average pooling, one window at a time.

    Max: the first maximum in row-major order wins the whole dy. Average: the window's real
    cells share dy equally (the count excludes padding).
    """
    nb, h, w, c = x.shape
    ho, _ = out_and_pads(h, pool[0], strides[0], padding)
    wo, _ = out_and_pads(w, pool[1], strides[1], padding)
    y = np.zeros((nb, ho, wo, c))
    dx = np.zeros_like(x)
    for b, i, j, ch in itertools.product(range(nb), range(ho), range(wo), range(c)):
        cells = naive_window(x, b, i, j, ch, pool, strides, padding)
        if kind == "max":
            best = cells[0]
            for cell in cells[1:]:
                if x[b, cell[0], cell[1], ch] > x[b, best[0], best[1], ch]:  # strict: first max stays
                    best = cell
            y[b, i, j, ch] = x[b, best[0], best[1], ch]
            dx[b, best[0], best[1], ch] += dy[b, i, j, ch]
        else:
            y[b, i, j, ch] = sum(x[b, r, q, ch] for r, q in cells) / len(cells)
            for r, q in cells:
                dx[b, r, q, ch] += dy[b, i, j, ch] / len(cells)
    return y, dx


# -- the configurations ------------------------------------------------------------------------

# (input h, w, channels, kernel, strides, padding). Includes 'same' with odd totals (the extra
# pad at bottom/right), non-square kernels and strides, strides larger than the kernel.
CONV_CASES = [
    (5, 5, 1, (3, 3), (1, 1), "valid"),
    (6, 7, 2, (3, 2), (2, 1), "valid"),
    (7, 6, 3, (2, 4), (1, 3), "valid"),
    (5, 6, 2, (2, 2), (1, 1), "same"),   # total 1: pad (0, 1)
    (6, 5, 1, (4, 3), (1, 2), "same"),   # h total 3: (1, 2)
    (7, 7, 2, (5, 5), (3, 3), "same"),
    (4, 5, 3, (1, 1), (2, 2), "same"),
    (8, 5, 1, (3, 1), (3, 2), "valid"),
    (3, 4, 4, (5, 2), (2, 3), "same"),   # kernel taller than the input: only 'same' allows it
]

# (input h, w, channels, pool, strides, padding); overlapping pools have strides < pool.
POOL_CASES = [
    (4, 4, 1, (2, 2), (2, 2), "valid"),
    (5, 5, 2, (2, 2), (2, 2), "valid"),
    (5, 5, 2, (3, 3), (1, 1), "valid"),  # overlapping
    (6, 7, 1, (3, 2), (2, 1), "valid"),  # overlapping, non-square
    (5, 5, 2, (2, 2), (2, 2), "same"),   # total 1: the last row/column padded
    (5, 6, 1, (3, 3), (2, 2), "same"),   # overlapping, odd total in h
    (7, 4, 3, (4, 3), (1, 2), "same"),
    (3, 3, 1, (3, 3), (3, 3), "same"),
    (6, 5, 2, (1, 2), (3, 1), "same"),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_matches_naive_loops(case, use_bias):
    h, w, c, k, s, padding = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = rng.standard_normal((2, h, w, c))
    layer = scratch.Conv2D(3, k, strides=s, padding=padding, use_bias=use_bias, dtype="float64")
    layer.build(x.shape)
    kernel = rng.standard_normal(layer.params["kernel"].shape)
    bias = rng.standard_normal(3) if use_bias else np.zeros(3)
    layer.set_weights([kernel, bias] if use_bias else [kernel])
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive_conv(x, kernel, bias, s, padding), **TOL)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dk, ref_db = naive_conv_backward(x, kernel, dy, s, padding)
    np.testing.assert_allclose(dx, ref_dx, **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], ref_dk, **TOL)
    if use_bias:
        np.testing.assert_allclose(layer.grads["bias"], ref_db, **TOL)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("ties", [False, True])
def test_pooling_matches_naive_loops(case, kind, ties):
    h, w, c, pool, s, padding = case
    rng = np.random.default_rng(zlib.crc32(repr((case, kind, ties)).encode()))
    # with ties: small integers, so most windows hold several equal maxima
    x = rng.integers(-2, 2, size=(3, h, w, c)).astype(np.float64) if ties else rng.standard_normal((3, h, w, c))
    cls = scratch.MaxPooling2D if kind == "max" else scratch.AveragePooling2D
    layer = cls(pool, strides=s, padding=padding, dtype="float64")
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    ref_y, ref_dx = naive_pool(x, dy, pool, s, padding, kind)
    np.testing.assert_allclose(y, ref_y, **TOL)
    np.testing.assert_allclose(layer.backward(dy), ref_dx, **TOL)


def test_naive_pool_reference_sends_ties_to_the_first_max():
    """The reference itself: a 2x2 window of equal values routes dy to its top-left cell only."""
    x = np.ones((1, 2, 2, 1))
    _, dx = naive_pool(x, np.full((1, 1, 1, 1), 5.0), (2, 2), (2, 2), "valid", "max")
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5.0, 0.0], [0.0, 0.0]])
