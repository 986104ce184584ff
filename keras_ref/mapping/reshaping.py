"""Reshaping layers: Flatten."""

import keras

import scratch

from . import from_keras, to_keras


@to_keras("Flatten")
def flatten_to_keras(layer, common):
    return keras.layers.Flatten(**common)


@from_keras("Flatten")
def flatten_from_keras(klayer, common):
    return scratch.Flatten(**common)
