"""Core layers: Dense."""

import keras

import scratch

from . import from_keras, to_keras
from .common import keras_weight_options, weight_options


@to_keras("Dense")
def dense_to_keras(layer, common):
    return keras.layers.Dense(layer.units, **keras_weight_options(layer), **common)


@from_keras("Dense")
def dense_from_keras(klayer, common):
    return scratch.Dense(klayer.units, **weight_options(klayer), **common)
