"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

import keras

import scratch

from . import from_keras, to_keras

ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


@to_keras(*ELEMENTWISE)
def merge_to_keras(layer, common):
    return getattr(keras.layers, type(layer).__name__)(**common)


@from_keras(*ELEMENTWISE)
def merge_from_keras(klayer, common):
    return getattr(scratch, type(klayer).__name__)(**common)


@to_keras("Concatenate")
def concatenate_to_keras(layer, common):
    return keras.layers.Concatenate(axis=layer.axis, **common)


@from_keras("Concatenate")
def concatenate_from_keras(klayer, common):
    return scratch.Concatenate(axis=int(klayer.axis), **common)
