"""Reshaping layers: Flatten, Reshape, ZeroPadding2D, Cropping2D, UpSampling2D."""

import keras

import scratch

from . import from_keras, to_keras
from .common import refuse


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


@to_keras("ZeroPadding2D")
def zero_padding_to_keras(layer, common):
    return keras.layers.ZeroPadding2D(layer.padding, **common)


@from_keras("ZeroPadding2D")
def zero_padding_from_keras(klayer, common):
    return scratch.ZeroPadding2D(tuple(tuple(p) for p in klayer.padding), **common)


@to_keras("Cropping2D")
def cropping_to_keras(layer, common):
    return keras.layers.Cropping2D(layer.cropping, **common)


@from_keras("Cropping2D")
def cropping_from_keras(klayer, common):
    return scratch.Cropping2D(tuple(tuple(p) for p in klayer.cropping), **common)


@to_keras("UpSampling2D")
def upsampling_to_keras(layer, common):
    return keras.layers.UpSampling2D(layer.size, interpolation=layer.interpolation, **common)


@from_keras("UpSampling2D")
def upsampling_from_keras(klayer, common):
    if klayer.interpolation not in scratch.UpSampling2D.INTERPOLATIONS:
        refuse(klayer, "interpolation", klayer.interpolation, f"one of {scratch.UpSampling2D.INTERPOLATIONS}")
    return scratch.UpSampling2D(tuple(klayer.size), interpolation=klayer.interpolation, **common)
