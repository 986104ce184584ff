"""Core: ConstantOp written alone (Dense is mapped in ``scratch.keras_io.mapping.core``)."""

import keras

from . import to_keras


@to_keras("ConstantOp")
def constant_op_to_keras(layer, common):
    """Keras has no layer for ``x + 3.0``; alone (a layer of a Sequential), it is a ``Lambda`` of the
    same ``keras.ops`` call (a graph writes the operation itself, see ``keras_ref.functional``)."""
    fn = getattr(keras.ops, layer.op)
    value, reverse = layer.value, layer.reverse
    return keras.layers.Lambda(lambda x: fn(value, x) if reverse else fn(x, value), **common)
