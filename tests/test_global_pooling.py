"""GlobalAveragePooling2D and GlobalMaxPooling2D: naive loops, ties, finite differences, errors."""


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


def naive_global(x, kind):
    n, h, w, c = x.shape
    y = np.zeros((n, c))
    for b in range(n):
        for ch in range(c):
            cells = [x[b, i, j, ch] for i in range(h) for j in range(w)]
            y[b, ch] = max(cells) if kind == "max" else sum(cells) / (h * w)
    return y


def naive_global_backward(x, dy, kind):
    """Average: dy / (H W) everywhere. Max: dy split equally among the cells equal to the max
    (TensorFlow's gradient of reduce_max)."""
    n, h, w, c = x.shape
    dx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            if kind == "avg":
                dx[b, :, :, ch] = dy[b, ch] / (h * w)
                continue
            m = max(x[b, i, j, ch] for i in range(h) for j in range(w))
            winners = [(i, j) for i in range(h) for j in range(w) if x[b, i, j, ch] == m]
            for i, j in winners:
                dx[b, i, j, ch] = dy[b, ch] / len(winners)
    return dx


@SETTINGS
@given(h=st.integers(1, 5), w=st.integers(1, 5), keepdims=st.booleans(), kind=st.sampled_from(["avg", "max"]),
       seed=st.integers(0, 99))
def test_global_pooling_matches_loops_and_finite_differences(h, w, keepdims, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, 3))
    cls = scratch.GlobalAveragePooling2D if kind == "avg" else scratch.GlobalMaxPooling2D
    layer = cls(keepdims=keepdims, dtype=F64)
    y = layer(x)
    assert y.shape == ((2, 1, 1, 3) if keepdims else (2, 3))
    assert layer.output_shape == ((None, 1, 1, 3) if keepdims else (None, 3))
    np.testing.assert_allclose(y.reshape(2, 3), naive_global(x, kind), **TOL)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy), naive_global_backward(x, dy.reshape(2, 3), kind), **TOL)
    check_layer(layer, x, rng)  # the max is unique almost surely: differentiable there


def test_global_max_pooling_splits_ties_equally_as_tf_reduce_max():
    """TensorFlow's reduce_max gradient (what Keras's GlobalMaxPooling2D differentiates) gives each
    of k tied maxima dy / k; measured on Keras: [[1, 3], [3, 3]] -> [0, 1/3, 1/3, 1/3]. (Unlike
    MaxPooling2D, whose MaxPoolGrad gives everything to the first maximum.)"""
    x = np.array([[[[1.0], [3.0]], [[3.0], [3.0]]]])
    layer = scratch.GlobalMaxPooling2D(dtype=F64)
    np.testing.assert_array_equal(layer(x), [[3.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0]])).ravel(), [0, 1 / 3, 1 / 3, 1 / 3])
    # integers: many ties in each channel, against the loop reference
    x = np.random.default_rng(3).integers(-2, 3, size=(3, 4, 5, 2)).astype(np.float64)
    dy = np.random.default_rng(4).standard_normal((3, 2))
    ties = (x == x.max(axis=(1, 2), keepdims=True)).sum(axis=(1, 2))
    assert (ties > 1).all()
    layer = scratch.GlobalMaxPooling2D(dtype=F64)
    layer(x)
    np.testing.assert_allclose(layer.backward(dy), naive_global_backward(x, dy, "max"), **TOL)


@pytest.mark.parametrize("cls", [scratch.GlobalAveragePooling2D, scratch.GlobalMaxPooling2D])
def test_global_pooling_errors(cls):
    with raises(f"{cls.__name__} 'g'", "keepdims must be True or False", "1"):
        cls(keepdims=1, name="g")
    with raises(f"{cls.__name__} 'g'", "expected 4-D input", "(2, 6, 6)"):
        cls(name="g")(np.zeros((2, 6, 6), np.float32))


@pytest.mark.parametrize("cls", [scratch.GlobalAveragePooling2D, scratch.GlobalMaxPooling2D])
def test_global_pooling_config_round_trip_and_other_sizes(cls):
    layer = scratch.layers.deserialize({"class_name": cls.__name__, "config": {"keepdims": True}})
    assert layer.get_config()["keepdims"] is True
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert again.get_config() == layer.get_config()
    layer(np.zeros((1, 4, 4, 2), np.float32))
    assert layer(np.ones((2, 7, 3, 2), np.float32)).shape == (2, 1, 1, 2)  # any image size, as Keras
