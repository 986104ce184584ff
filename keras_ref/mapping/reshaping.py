"""Reshaping layers: Flatten, Reshape (ZeroPadding, Cropping and UpSampling are mapped in
``scratch.keras_io.mapping.reshaping``)."""

import keras

import scratch

from . import from_keras, to_keras


@to_keras("Flatten")
def flatten_to_keras(layer, common):
    return keras.layers.Flatten(**common)


@from_keras("Flatten")
def flatten_from_keras(klayer, common):
    return scratch.Flatten(**common)


@to_keras("Reshape")
def reshape_to_keras(layer, common):
    return keras.layers.Reshape(layer.target_shape, **common)


@from_keras("Reshape")
def reshape_from_keras(klayer, common):
    return scratch.Reshape(tuple(klayer.target_shape), **common)
