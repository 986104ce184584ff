"""The vectorized layers against deliberately naive per-pixel loops, in float64 at 1e-12.

The references (``tests/naive.py``) are the obviously-correct version: explicit loops over
images, output pixels, window cells and channels, with padding handled by index checks instead
of padded arrays.
"""

import zlib

import numpy as np
import pytest

import scratch
from tests.naive import naive_conv, naive_conv_backward, naive_pool

TOL = dict(rtol=1e-12, atol=1e-12)


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
