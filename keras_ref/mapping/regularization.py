"""Regularization layers: Dropout."""

import keras

import scratch

from . import from_keras, to_keras
from .common import refuse


@to_keras("Dropout")
def dropout_to_keras(layer, common):
    return keras.layers.Dropout(layer.rate, seed=layer.seed, **common)


@from_keras("Dropout")
def dropout_from_keras(klayer, common):
    if klayer.noise_shape is not None:
        refuse(klayer, "noise_shape", klayer.noise_shape, "None")
    return scratch.Dropout(float(klayer.rate), seed=klayer.seed, **common)
