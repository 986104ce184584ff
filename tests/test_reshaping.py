"""Reshape, ZeroPadding2D, Cropping2D, UpSampling2D: naive loop references, finite differences,
errors and config round trips (float64)."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratch
from tests.finite_diff import check_layer
from tests.matchers import raises

F64 = "float64"
TOL = dict(rtol=1e-12, atol=1e-12)
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)


# -- naive references ------------------------------------------------------------------------

def naive_zero_pad(x, pads):
    (t, b), (left, r) = pads
    n, h, w, c = x.shape
    y = np.zeros((n, t + h + b, left + w + r, c))
    for i in range(h):
        for j in range(w):
            y[:, t + i, left + j, :] = x[:, i, j, :]
    return y


def naive_crop(x, crops):
    (t, b), (left, r) = crops
    n, h, w, c = x.shape
    y = np.zeros((n, h - t - b, w - left - r, c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            y[:, i, j, :] = x[:, t + i, left + j, :]
    return y


def naive_upsample(x, size):
    n, h, w, c = x.shape
    y = np.zeros((n, h * size[0], w * size[1], c))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            y[:, i, j, :] = x[:, i // size[0], j // size[1], :]
    return y


def naive_upsample_backward(dy, size):
    n, hs, ws, c = dy.shape
    dx = np.zeros((n, hs // size[0], ws // size[1], c))
    for i in range(hs):
        for j in range(ws):
            dx[:, i // size[0], j // size[1], :] += dy[:, i, j, :]
    return dx


def naive_reshape(x, target):
    """Copy value by value in row-major order of both shapes."""
    n = x.shape[0]
    flat = [x[b][idx] for b in range(n) for idx in np.ndindex(*x.shape[1:])]
    y = np.zeros((n,) + target)
    k = 0
    for b in range(n):
        for idx in np.ndindex(*target):
            y[b][idx] = flat[k]
            k += 1
    return y


margins = st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2)))


@SETTINGS
@given(pads=margins, h=st.integers(1, 5), w=st.integers(1, 5), seed=st.integers(0, 99))
def test_zero_padding_matches_loops_and_finite_differences(pads, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, 2))
    layer = scratch.ZeroPadding2D(pads, dtype=F64)
    y = layer(x)
    np.testing.assert_allclose(y, naive_zero_pad(x, pads), **TOL)
    dy = rng.standard_normal(y.shape)
    # the adjoint of padding is cropping the same margins
    np.testing.assert_allclose(layer.backward(dy), naive_crop(dy, pads), **TOL)
    check_layer(layer, x, rng)


@SETTINGS
@given(crops=margins, seed=st.integers(0, 99))
def test_cropping_matches_loops_and_finite_differences(crops, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, 5, 2))
    layer = scratch.Cropping2D(crops, dtype=F64)
    y = layer(x)
    np.testing.assert_allclose(y, naive_crop(x, crops), **TOL)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy), naive_zero_pad(dy, crops), **TOL)
    check_layer(layer, x, rng)


@SETTINGS
@given(size=st.tuples(st.integers(1, 3), st.integers(1, 3)), h=st.integers(1, 4), w=st.integers(1, 4),
       seed=st.integers(0, 99))
def test_upsampling_matches_loops_and_finite_differences(size, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, 3))
    layer = scratch.UpSampling2D(size, dtype=F64)
    y = layer(x)
    np.testing.assert_allclose(y, naive_upsample(x, size), **TOL)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy), naive_upsample_backward(dy, size), **TOL)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("in_shape, target, resolved", [
    ((4, 3, 2), (24,), (24,)),
    ((4, 3, 2), (-1, 4), (6, 4)),
    ((4, 3, 2), (2, -1, 3), (2, 4, 3)),
    ((12,), (3, 2, 2), (3, 2, 2)),
])
def test_reshape_matches_loops_and_finite_differences(in_shape, target, resolved):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2,) + in_shape)
    layer = scratch.Reshape(target, dtype=F64)
    y = layer(x)
    assert layer.output_shape == (None,) + resolved
    np.testing.assert_allclose(y, naive_reshape(x, resolved), **TOL)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("form, expected", [
    (2, ((2, 2), (2, 2))),
    ((1, 3), ((1, 1), (3, 3))),
    ([1, 3], ((1, 1), (3, 3))),
    (((0, 1), (2, 3)), ((0, 1), (2, 3))),
    ([[0, 1], [2, 3]], ((0, 1), (2, 3))),
])
def test_margin_forms_as_keras(form, expected):
    assert scratch.ZeroPadding2D(form).padding == expected
    assert scratch.Cropping2D(form).cropping == expected


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, arg", [(scratch.ZeroPadding2D, "padding"), (scratch.Cropping2D, "cropping")])
@pytest.mark.parametrize("bad", [-1, (1, -2), ((1, 2), (3,)), ((1, 2, 3), (0, 0)), "same", 1.5, (1, 2, 3), True])
def test_bad_margin_forms_are_refused(cls, arg, bad):
    with raises(f"{cls.__name__} 'm'", f"{arg} must be", "received", repr(bad)):
        cls(bad, name="m")


@pytest.mark.parametrize("crops, what", [(((2, 2), (0, 0)), "4 of the input's 4 rows"),
                                         (((0, 0), (3, 3)), "6 of the input's 5 columns"),
                                         (((5, 0), (0, 0)), "5 of the input's 4 rows")])
def test_cropping_everything_is_refused(crops, what):
    layer = scratch.Cropping2D(crops, name="crop")
    with raises("Cropping2D 'crop'", "cropping", str(crops), what, "leaving none", "(1, 4, 5, 1)"):
        layer(np.zeros((1, 4, 5, 1), np.float32))
    assert scratch.Cropping2D(((1, 2), (2, 2)))(np.zeros((1, 4, 5, 1), np.float32)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("target", [(7, 3), (-1, 7), (2, 2, 2)])
def test_reshape_of_wrong_size_is_refused(target):
    layer = scratch.Reshape(target, name="r")
    with raises("Reshape 'r'", "(2, 4, 5, 1)", f"target_shape {target}"):
        layer(np.zeros((2, 4, 5, 1), np.float32))


@pytest.mark.parametrize("bad", [(-1, -1), (0, 3), (), (2.0, 3), 5, "ab", (-2, 3)])
def test_bad_reshape_targets_are_refused(bad):
    with raises("Reshape 'r'", "target_shape must be", repr(bad)):
        scratch.Reshape(bad, name="r")


@pytest.mark.parametrize("mode", ["lanczos3", "lanczos5", "area", "cubic", 3])
def test_upsampling_refuses_other_interpolations(mode):
    with raises("UpSampling2D 'u'", "interpolation must be one of ('bilinear', 'nearest', 'bicubic')", repr(mode)):
        scratch.UpSampling2D(2, interpolation=mode, name="u")


@pytest.mark.parametrize("bad", [0, (2, 0), (1, 2, 3), -1])
def test_upsampling_refuses_bad_sizes(bad):
    with raises("UpSampling2D 'u'", "size", repr(bad)):
        scratch.UpSampling2D(bad, name="u")


@pytest.mark.parametrize("make", [lambda: scratch.ZeroPadding2D(name="s"), lambda: scratch.Cropping2D(name="s"),
                                  lambda: scratch.UpSampling2D(name="s")])
def test_spatial_reshaping_layers_refuse_wrong_rank(make):
    with raises("'s'", "expected 4-D input", "(2, 6, 6)"):
        make()(np.zeros((2, 6, 6), np.float32))


# -- config round trips ------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    {"class_name": "ZeroPadding2D", "config": {"padding": [[1, 2], [0, 3]]}},
    {"class_name": "ZeroPadding2D", "config": {"padding": 2}},
    {"class_name": "Cropping2D", "config": {"cropping": [1, 0]}},
    {"class_name": "Reshape", "config": {"target_shape": [-1, 4]}},
    {"class_name": "UpSampling2D", "config": {"size": [3, 1], "interpolation": "nearest"}},
])
def test_config_round_trip(spec):
    layer = scratch.layers.deserialize(spec)
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert again.get_config() == layer.get_config()
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), again(x))
