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


@to_keras("ConstantOp")
def constant_op_to_keras(layer, common):
    """Keras has no layer for ``x + 3.0``; alone (a layer of a Sequential), it is a ``Lambda`` of the
    same ``keras.ops`` call (a graph writes the operation itself, see ``keras_ref.functional``)."""
    fn = getattr(keras.ops, layer.op)
    value, reverse = layer.value, layer.reverse
    return keras.layers.Lambda(lambda x: fn(value, x) if reverse else fn(x, value), **common)
