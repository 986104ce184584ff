"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D."""

import keras

import scratch

from . import from_keras, to_keras


@to_keras("MaxPooling2D", "AveragePooling2D")
def pooling_to_keras(layer, common):
    cls = getattr(keras.layers, type(layer).__name__)
    return cls(layer.pool_size, strides=layer.strides, padding=layer.padding, **common)


@from_keras("MaxPooling2D", "AveragePooling2D")
def pooling_from_keras(klayer, common):
    cls = getattr(scratch, type(klayer).__name__)
    return cls(tuple(klayer.pool_size), strides=tuple(klayer.strides), padding=klayer.padding, **common)


@to_keras("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling_to_keras(layer, common):
    return getattr(keras.layers, type(layer).__name__)(keepdims=layer.keepdims, **common)


@from_keras("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling_from_keras(klayer, common):
    return getattr(scratch, type(klayer).__name__)(keepdims=bool(klayer.keepdims), **common)
