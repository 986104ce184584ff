"""Regularization layers: Dropout."""

import keras

import scratch

from . import from_keras, to_keras


@to_keras("Dropout")
def dropout_to_keras(layer, common):
    return keras.layers.Dropout(layer.rate, noise_shape=layer.noise_shape, seed=layer.seed, **common)


@from_keras("Dropout")
def dropout_from_keras(klayer, common):
    noise = None if klayer.noise_shape is None else tuple(klayer.noise_shape)
    return scratch.Dropout(float(klayer.rate), noise_shape=noise, seed=klayer.seed, **common)
