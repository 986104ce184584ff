"""Models with the shape layers: an InputLayer in an architecture, and a small network
(ZeroPadding2D -> Conv2D -> GlobalAveragePooling2D -> Dense) trained a few steps."""

import json

import numpy as np
import pytest

import scratch
from tests.finite_diff import assert_gradient
from tests.matchers import raises

F64 = "float64"

LAYERS = [
    {"class_name": "ZeroPadding2D", "config": {"padding": 1}},
    {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
    {"class_name": "GlobalAveragePooling2D", "config": {}},
    {"class_name": "Dense", "config": {"units": 3}},
]
KERAS_INPUT = {"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 1], "dtype": "float32",
                                                      "sparse": False, "ragged": False, "name": "input_layer",
                                                      "optional": False}}


def arch(layers, **top):
    return {"name": "shapes", "layers": layers, **top}


@pytest.mark.parametrize("desc", [
    arch([KERAS_INPUT] + LAYERS),  # Keras 3's Sequential config: the first layer an InputLayer
    arch([KERAS_INPUT] + LAYERS, input_shape=[6, 6, 1]),  # both, agreeing
    arch([{"class_name": "InputLayer", "config": {"shape": [6, 6, 1]}}] + LAYERS),  # keras.Input(shape=...)
    arch(LAYERS, input_shape=[6, 6, 1]),
])
def test_input_layer_becomes_the_input_shape(desc):
    model = scratch.build_model(desc, dtype=F64, seed=0)
    assert model.input_shape == (None, 6, 6, 1)
    assert [type(la).__name__ for la in model.layers] == [spec["class_name"] for spec in LAYERS]
    config = model.get_config()
    assert config["input_shape"] == [6, 6, 1] and "InputLayer" not in json.dumps(config)
    again = scratch.Sequential.from_config(config, seed=0)
    assert again.get_config() == config
    x = np.random.default_rng(0).random((2, 6, 6, 1))
    np.testing.assert_array_equal(model.predict(x), again.predict(x))


@pytest.mark.parametrize("desc, fragments", [
    (arch([KERAS_INPUT] + LAYERS, input_shape=[6, 7, 1]),
     ("input_shape [6, 7, 1]", "InputLayer's batch_shape [None, 6, 6, 1]", "disagree")),
    (arch([{"class_name": "InputLayer", "config": {"batch_shape": [4, 6, 6, 1]}}] + LAYERS),
     ("InputLayer", "batch_shape must start with the batch axis as null", "[4, 6, 6, 1]")),
    (arch([{"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 1], "sparse": True}}] + LAYERS),
     ("InputLayer", "sparse=True")),
    (arch([{"class_name": "InputLayer", "config": {}}] + LAYERS), ("InputLayer", "exactly one of 'batch_shape'")),
    (arch([{"class_name": "InputLayer", "config": {"batch_shape": [None, 6, 6, 1], "shape": [6, 6, 1]}}] + LAYERS),
     ("InputLayer", "exactly one of")),
    (arch(LAYERS[:1] + [KERAS_INPUT] + LAYERS[1:], input_shape=[6, 6, 1]),
     ("layer 1 is an InputLayer", "only be the first layer")),
    (arch([{"class_name": "InputLayer", "config": {"batch_shape": [None, 36, 1.5]}}] + LAYERS),
     ("input_shape must be a list of positive ints", "[36, 1.5]")),
    (arch([KERAS_INPUT]), ("'layers' must be a non-empty list",)),
    (arch(LAYERS), ("missing key 'input_shape' (or a first layer of class InputLayer)",)),
])
def test_input_layer_errors(desc, fragments):
    with raises("architecture dict", *fragments):
        scratch.get_architecture(desc)


def test_small_network_trains_and_its_gradients_are_right():
    """ZeroPadding2D + GlobalAveragePooling2D carry gradients through a real model: finite
    differences on the whole model's loss, then a few SGD steps lower the loss."""
    desc = arch(LAYERS, input_shape=[6, 6, 1])
    model = scratch.build_model(desc, dtype=F64, seed=1)
    rng = np.random.default_rng(2)
    x = rng.random((8, 6, 6, 1))
    y = rng.integers(0, 3, 8)
    loss_fn = scratch.SparseCategoricalCrossentropy(from_logits=True)

    def loss():
        return float(loss_fn(y, model.forward(x)))

    loss()
    model.backward(loss_fn.backward())
    for name, p in model.named_params().items():
        assert_gradient(name, loss, p, model.named_grads()[name].copy(), rng)
    model.compile(optimizer=scratch.SGD(learning_rate=0.5))
    before = model.evaluate(x, y)[0]
    for _ in range(10):
        model.train_step(x, y)
    assert model.evaluate(x, y)[0] < before
