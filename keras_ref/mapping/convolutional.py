"""Convolution layers: Conv2D."""

import keras

import scratch

from . import from_keras, to_keras
from .common import keras_weight_options, refuse, weight_options


@to_keras("Conv2D")
def conv2d_to_keras(layer, common):
    return keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                               **keras_weight_options(layer), **common)


@from_keras("Conv2D")
def conv2d_from_keras(klayer, common):
    if tuple(klayer.dilation_rate) != (1, 1):
        refuse(klayer, "dilation_rate", tuple(klayer.dilation_rate), "(1, 1)")
    if klayer.groups != 1:
        refuse(klayer, "groups", klayer.groups, "1")
    return scratch.Conv2D(klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
                          padding=klayer.padding, **weight_options(klayer), **common)
