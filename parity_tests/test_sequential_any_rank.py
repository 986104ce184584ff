"""Keras ``Sequential`` models that do not start from an image (issue 19) convert both ways and agree:
a DCGAN-style generator (vector in, ``Dense -> Reshape -> UpSampling2D -> Conv2D``) and
``Input((28, 28))`` then ``Reshape``."""

import keras
import numpy as np
import pytest

import keras_ref
import scratch


def generator():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(4 * 4 * 3, activation="relu"),
                             keras.layers.Reshape((4, 4, 3)), keras.layers.UpSampling2D(2),
                             keras.layers.Conv2D(2, 3, padding="same", activation="tanh")], name="generator")


def grey():
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Reshape((28, 28, 1)),
                             keras.layers.Conv2D(3, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                             keras.layers.Flatten(), keras.layers.Dense(10)], name="grey")


@pytest.mark.parametrize("make", [generator, grey])
def test_a_sequential_of_any_input_rank_converts_both_ways_and_agrees(make):
    keras.utils.set_random_seed(0)
    km = make()
    model = keras_ref.from_keras(km)
    assert isinstance(model, scratch.Sequential) and model.input_shape == tuple(km.inputs[0].shape)
    x = np.random.default_rng(1).random((4,) + tuple(km.inputs[0].shape[1:]), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    back = keras_ref.to_keras(model)
    assert isinstance(back, keras.Sequential)
    np.testing.assert_allclose(back.predict(x, verbose=0), km.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
