"""Activation layers: ReLU, Softmax."""

import keras

import scratch

from . import from_keras, to_keras
from .common import refuse


@to_keras("ReLU")
def relu_to_keras(layer, common):
    return keras.layers.ReLU(**common)


@from_keras("ReLU")
def relu_from_keras(klayer, common):
    for attr, default in (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0)):
        value = getattr(klayer, attr)
        value = None if value is None else float(value)
        if value != default:
            refuse(klayer, attr, value, repr(default))
    return scratch.ReLU(**common)


@to_keras("Softmax")
def softmax_to_keras(layer, common):
    return keras.layers.Softmax(axis=-1, **common)


@from_keras("Softmax")
def softmax_from_keras(klayer, common):
    if klayer.axis not in (-1, [-1], (-1,)):
        refuse(klayer, "axis", klayer.axis, "-1 (the last axis)")
    return scratch.Softmax(**common)
