"""Pooling in 1 and 3 spatial dimensions (one N-d implementation with the 2-D layers): naive
loops, finite differences, the N-d kernels against the 2-D ones, Keras's defaults, errors."""

import numpy as np
import pytest

import scratch
from scratch import kernels
from tests.finite_diff import check_layer
from tests.matchers import raises
from tests.naive import naive_pool, naive_pool_nd

F64 = "float64"
TOL = dict(rtol=1e-12, atol=1e-12)

WINDOWED = [  # (class, kwargs, input shape)
    ("MaxPooling1D", {}, (2, 7, 3)),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 2)),
    ("MaxPooling1D", dict(pool_size=3, strides=1), (1, 6, 2)),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 2)),
    ("AveragePooling1D", dict(pool_size=2, strides=1), (1, 5, 2)),
    ("MaxPooling3D", {}, (2, 4, 5, 4, 2)),
    ("MaxPooling3D", dict(pool_size=(3, 2, 2), strides=(1, 2, 1), padding="same"), (1, 4, 5, 3, 2)),
    ("AveragePooling3D", dict(pool_size=(3, 2, 2), strides=(1, 2, 1), padding="same"), (1, 4, 5, 3, 2)),
    ("AveragePooling3D", dict(pool_size=2, strides=1), (1, 3, 3, 4, 1)),
]


@pytest.mark.parametrize("cls, kwargs, shape", WINDOWED, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(WINDOWED)])
@pytest.mark.parametrize("integers", [False, True], ids=["reals", "ties"])
def test_windowed_pooling_matches_loops_and_finite_differences(cls, kwargs, shape, integers):
    rng = np.random.default_rng(len(shape) + integers)
    x = rng.standard_normal(shape)
    if integers:  # small integers: ties in (almost) every window
        x = np.round(x)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    y = layer(x)
    dy = rng.standard_normal(y.shape)
    ties = "all" if cls == "MaxPooling3D" else "first"
    y_ref, dx_ref = naive_pool_nd(x, dy, layer.pool_size, layer.strides, layer.padding,
                                  "max" if cls.startswith("Max") else "avg", ties)
    assert layer.output_shape == (None,) + y_ref.shape[1:]
    np.testing.assert_allclose(y, y_ref, **TOL)
    np.testing.assert_allclose(layer.backward(dy), dx_ref, **TOL)
    if not integers:  # distinct values: max pooling is differentiable there
        check_layer(layer, x, rng)


def test_naive_nd_reference_is_the_2d_one_on_two_axes():
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((2, 5, 6, 2)), rng.standard_normal((2, 3, 3, 2))
    for kind in ("max", "avg"):
        a = naive_pool(x, dy, (3, 2), (2, 2), "same", kind)
        b = naive_pool_nd(x, dy, (3, 2), (2, 2), "same", kind)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("pool, strides", [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((2, 3), (3, 1))])
def test_nd_kernels_equal_the_2d_kernels_on_two_axes(pool, strides):
    rng = np.random.default_rng(0)
    xp = np.round(rng.standard_normal((3, 7, 8, 2)))  # ties: the first maximum wins in both
    y = kernels.max_pool(xp, pool, strides)
    np.testing.assert_array_equal(kernels.max_pool_nd(xp, pool, strides), y)
    dy = rng.standard_normal(y.shape)
    for relu in (False, True):
        np.testing.assert_array_equal(kernels.max_pool_nd_backward(dy, xp, y, pool, strides, relu),
                                      kernels.max_pool_backward(dy, xp, y, pool, strides, relu))


def test_max_pool_3d_ties_send_the_whole_gradient_to_every_maximum():
    """TensorFlow's MaxPool3DGrad (what Keras computes) on a window of equal values: each cell gets dy."""
    layer = scratch.MaxPooling3D(dtype=F64)
    layer(np.ones((1, 2, 2, 2, 1)))
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1, 1), 3.0)), np.full((1, 2, 2, 2, 1), 3.0))


@pytest.mark.parametrize("rank", [1, 3])
def test_max_pooling_relu_input_masks_like_a_relu_below(rank):
    rng = np.random.default_rng(rank)
    z = rng.standard_normal((2,) + (4,) * rank + (3,))
    layer = getattr(scratch, f"MaxPooling{rank}D")(dtype=F64)
    relu = scratch.ReLU(dtype=F64)
    y = layer(relu(z))
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(dy, relu_input=True), relu.backward(layer.backward(dy)))


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("kind", ["Average", "Max"])
def test_global_pooling_nd_matches_numpy_and_finite_differences(rank, kind):
    rng = np.random.default_rng(rank)
    shape = (2,) + (3, 4, 2)[:rank] + (3,)
    x = rng.standard_normal(shape)
    axes = tuple(range(1, rank + 1))
    for keepdims in (False, True):
        layer = getattr(scratch, f"Global{kind}Pooling{rank}D")(keepdims=keepdims, dtype=F64)
        y = layer(x)
        ref = x.mean(axis=axes, keepdims=keepdims) if kind == "Average" else x.max(axis=axes, keepdims=keepdims)
        np.testing.assert_array_equal(y, ref)
        assert layer.output_shape == (None,) + ref.shape[1:]
        check_layer(layer, x, rng)


def test_global_max_pooling_1d_splits_ties_equally():
    layer = scratch.GlobalMaxPooling1D(dtype=F64)
    layer(np.array([[[1.0], [2.0], [2.0], [0.0]]]))
    np.testing.assert_array_equal(layer.backward(np.array([[4.0]])), [[[0.0], [2.0], [2.0], [0.0]]])


def test_keras_defaults():
    assert scratch.MaxPooling1D().pool_size == (2,) and scratch.MaxPooling1D(3).strides == (3,)
    assert scratch.AveragePooling3D().pool_size == (2, 2, 2)
    assert scratch.MaxPooling3D(pool_size=3, strides=(1, 2, 1)).strides == (1, 2, 1)
    assert scratch.MaxPooling2D().pool_size == (2, 2)


@pytest.mark.parametrize("make, shape, words", [
    (lambda: scratch.MaxPooling1D(name="p"), (2, 5, 5, 1), ["MaxPooling1D 'p'", "3-D", "(batch, steps, channels)"]),
    (lambda: scratch.AveragePooling3D(name="p"), (2, 5, 5, 1), ["AveragePooling3D 'p'", "5-D", "depth"]),
    (lambda: scratch.GlobalMaxPooling3D(name="p"), (2, 5, 1), ["GlobalMaxPooling3D 'p'", "5-D"]),
    (lambda: scratch.MaxPooling1D(4, name="p"), (2, 3, 1), ["MaxPooling1D 'p'", "pool_size (4,)", "steps 3"]),
    (lambda: scratch.MaxPooling3D((1, 1, 3), name="p"), (1, 2, 2, 2, 1), ["MaxPooling3D 'p'", "width 2"]),
])
def test_wrong_shapes_are_refused(make, shape, words):
    with raises(*words):
        make()(np.zeros(shape, dtype="float32"))


@pytest.mark.parametrize("make, words", [
    (lambda: scratch.MaxPooling1D((2, 2), name="p"), ["MaxPooling1D 'p'", "pool_size", "tuple of 1", "(2, 2)"]),
    (lambda: scratch.AveragePooling3D((2, 2), name="p"), ["AveragePooling3D 'p'", "pool_size", "tuple of 3"]),
    (lambda: scratch.MaxPooling3D(2, strides=0, name="p"), ["MaxPooling3D 'p'", "strides", "0"]),
    (lambda: scratch.AveragePooling1D(2, padding="causal", name="p"), ["AveragePooling1D 'p'", "padding", "causal"]),
    (lambda: scratch.GlobalAveragePooling1D(keepdims=1, name="p"), ["GlobalAveragePooling1D 'p'", "keepdims"]),
])
def test_bad_arguments_are_refused(make, words):
    with raises(*words):
        make()


@pytest.mark.parametrize("cls", ["MaxPooling1D", "AveragePooling3D", "GlobalMaxPooling1D", "GlobalAveragePooling3D"])
def test_config_round_trip(cls):
    layer = getattr(scratch, cls)(name="p")
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
