"""Normalization (given mean and variance): loop reference, finite differences, errors, config."""


import numpy as np
import pytest

import scratch
from tests.finite_diff import check_layer
from tests.matchers import raises

F64 = "float64"
TOL = dict(rtol=1e-12, atol=1e-12)


def naive_normalize(x, mean_of, var_of, invert=False):
    """Element by element: ``(x - m) / max(sqrt(v), 1e-7)`` (``invert``: ``m + x * max(...)``),
    with ``mean_of(index)``/``var_of(index)`` giving the statistics of one element."""
    y = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        std = max(np.sqrt(var_of(idx)), 1e-7)
        y[idx] = mean_of(idx) + x[idx] * std if invert else (x[idx] - mean_of(idx)) / std
    return y


@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("axis, mean, variance, shape, pick", [
    (-1, [0.3, -1.0, 2.0], [0.5, 4.0, 0.0], (2, 3, 4, 3), lambda idx: idx[3]),
    (None, 0.7, 2.2, (2, 3, 2, 2), lambda idx: ()),
    (3, 0.7, 2.2, (2, 3, 2, 2), lambda idx: ()),  # a scalar broadcast over the kept axis
    ((1, 2), [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], [[1.0, 2.0], [3.0, 4.0], [0.5, 0.25]], (2, 3, 2, 1),
     lambda idx: (idx[1], idx[2])),
    ((1, 3), [1.5, -0.5], [2.0, 0.75], (2, 3, 2, 2), lambda idx: idx[3]),  # matched to the last kept axis
    (-1, [0.5, 1.0, -1.0, 0.0], [1.0, 2.0, 0.5, 4.0], (3, 4), lambda idx: idx[1]),
])
def test_normalization_matches_loops_and_finite_differences(axis, mean, variance, shape, pick, invert):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = scratch.Normalization(axis=axis, mean=mean, variance=variance, invert=invert, dtype=F64)
    m, v = np.asarray(mean), np.asarray(variance)
    expected = naive_normalize(x, lambda idx: m[pick(idx)], lambda idx: v[pick(idx)], invert)
    np.testing.assert_allclose(layer(x), expected, **TOL)
    check_layer(layer, x, rng)
    assert layer.get_weights() == [] and layer.params == {} and layer.state == {}  # no weights, as Keras


def test_zero_variance_divides_by_epsilon():
    layer = scratch.Normalization(mean=[1.0], variance=[0.0], dtype=F64)
    np.testing.assert_array_equal(layer(np.array([[1.5]])), [[0.5 / 1e-7]])


@pytest.mark.parametrize("kwargs, fragments", [
    (dict(), ("mean and variance must both be given", "adapt")),
    (dict(mean=[1.0]), ("mean and variance must both be given", "variance=None")),
    (dict(mean=[1.0, 2.0], variance=[1.0]), ("same shape", "(2,)", "(1,)")),
    (dict(mean=[[1.0]], variance=[[1.0]]), ("rank of mean", "(1, 1)", "axis (-1,)")),
    (dict(mean=[1.0], variance=[-1.0]), ("variance finite and >= 0", "-1.0")),
    (dict(mean=[np.nan], variance=[1.0]), ("mean must be finite",)),
    (dict(axis="x", mean=1.0, variance=1.0), ("axis must be an int", "'x'")),
])
def test_normalization_argument_errors(kwargs, fragments):
    with raises("Normalization 'n'", *fragments):
        scratch.Normalization(**kwargs, name="n")


def test_normalization_shape_errors():
    with raises("Normalization 'n'", "do not broadcast", "(3,)", "(2, 4, 4, 2)"):
        scratch.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 1.0], name="n")(np.zeros((2, 4, 4, 2), np.float32))
    with raises("Normalization 'n'", "axis values must be in [-4, 4)", "axis=(4,)"):
        scratch.Normalization(axis=4, mean=1.0, variance=1.0, name="n")(np.zeros((2, 4, 4, 2), np.float32))
    with raises("Normalization 'n'", "axis 0", "size is unknown"):
        scratch.Normalization(axis=0, mean=1.0, variance=1.0, name="n").build((None, 4, 4, 2))


def test_normalization_refuses_a_new_size_of_a_kept_axis():
    layer = scratch.Normalization(axis=(1, 3), mean=1.0, variance=1.0, name="n")
    layer(np.zeros((2, 4, 4, 2), np.float32))
    assert layer(np.zeros((1, 4, 7, 2), np.float32)).shape == (1, 4, 7, 2)  # a reduced axis may change
    with raises("Normalization 'n'", "built for input shape (None, 4, 4, 2)", "(2, 5, 4, 2)"):
        layer(np.zeros((2, 5, 4, 2), np.float32))


def test_normalization_config_round_trip_keeps_exact_values():
    spec = {"class_name": "Normalization", "config": {"axis": [1, 2], "mean": [[0.1, 0.2]], "variance": [[0.3, 0.4]],
                                                      "invert": True}}
    layer = scratch.layers.deserialize(spec, dtype=F64)
    config = layer.get_config()
    assert (config["axis"], config["mean"], config["variance"], config["invert"]) == ([1, 2], [[0.1, 0.2]],
                                                                                       [[0.3, 0.4]], True)
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert again.get_config() == config
    x = np.random.default_rng(1).standard_normal((2, 1, 2, 3))
    np.testing.assert_array_equal(layer(x), again(x))
    # float64 keeps the given values exactly (Keras rounds them through float32 first)
    np.testing.assert_array_equal(layer(np.zeros((1, 1, 2, 3)))[0, 0, :, 0], [0.1, 0.2])
