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


@pytest.mark.parametrize("op, value, reverse", [("add", 3.0, False), ("multiply", 1 / 6, False),
                                                ("subtract", 1.5, True), ("divide", 0.7, False),
                                                ("divide", 2.0, True)])
def test_constant_op_finite_differences(op, value, reverse):
    rng = np.random.default_rng(2)
    layer = scratch.ConstantOp(op, value, reverse=reverse, dtype="float64")
    x = rng.uniform(0.5, 2.0, (2, 3, 4))  # away from 0 for value / x
    check_layer(layer, x, rng)
    ref = {"add": x + value, "multiply": x * value, "subtract": value - x if reverse else x - value,
           "divide": value / x if reverse else x / value}[op]
    np.testing.assert_array_equal(layer.forward(x), ref)


def test_constant_op_refuses_bad_arguments():
    with pytest.raises(ValueError, match="ConstantOp: op must be one of"):
        scratch.ConstantOp("power", 2.0)
    with pytest.raises(ValueError, match="ConstantOp: value must be a finite number"):
        scratch.ConstantOp("add", float("nan"))


def test_dropout_noise_shape_keeps_or_drops_whole_images():
    """Dropout(noise_shape=(None, 1, 1, 1)) (EfficientNet's drop connect): one draw per image."""
    layer = scratch.Dropout(0.5, noise_shape=(None, 1, 1, 1), seed=3, dtype="float64")
    x = np.ones((64, 3, 3, 2))
    y = layer.forward(x, training=True)
    per_image = y.reshape(64, -1)
    assert all(len(set(row)) == 1 for row in per_image)  # each image all kept (x2) or all dropped
    assert set(np.unique(per_image)) == {0.0, 2.0}
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    with pytest.raises(ValueError, match="noise_shape"):
        scratch.Dropout(0.5, noise_shape=(None, 2, 1, 1)).forward(np.ones((2, 3, 3, 2), np.float32), training=True)
