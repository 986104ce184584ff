"""LayerScale and CustomScaleLayer (the layers keras.applications defines): finite differences, errors."""

import numpy as np
import pytest

import scratch

from .finite_diff import assert_gradient, check_layer, randomize_weights


def test_layer_scale_finite_differences():
    rng = np.random.default_rng(0)
    layer = scratch.LayerScale(0.3, 4, dtype="float64")
    layer.build((None, 3, 3, 4))
    randomize_weights(layer, rng)
    check_layer(layer, rng.standard_normal((2, 3, 3, 4)), rng)


def test_custom_scale_layer_finite_differences():
    rng = np.random.default_rng(1)
    layer = scratch.CustomScaleLayer(0.2, dtype="float64")
    xs = [rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((2, 3, 3, 2))]
    y = layer.forward(xs)
    np.testing.assert_array_equal(y, xs[0] + 0.2 * xs[1])
    r = rng.standard_normal(y.shape)
    for i, (x, dx) in enumerate(zip(xs, layer.backward(r))):
        assert_gradient(f"custom scale input {i}", lambda: float((layer.forward(xs) * r).sum()), x, dx, rng)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="LayerScale 'ls': expected 4 channels on the last axis"):
        scratch.LayerScale(0.1, 4, name="ls")(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="CustomScaleLayer: expected two inputs of the same shape"):
        scratch.CustomScaleLayer(0.1).build([(None, 3), (None, 4)])
