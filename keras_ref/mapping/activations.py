"""Activation layers: Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax."""

import keras

import scratch

from . import from_keras, to_keras
from .common import activation_name, initializer_name, keras_activation


@to_keras("Activation")
def activation_to_keras(layer, common):
    return keras.layers.Activation(keras_activation(layer.activation.name), **common)


@from_keras("Activation")
def activation_from_keras(klayer, common):
    return scratch.Activation(activation_name(klayer), **common)


@to_keras("ReLU")
def relu_to_keras(layer, common):
    return keras.layers.ReLU(max_value=layer.max_value, negative_slope=layer.negative_slope,
                             threshold=layer.threshold, **common)


@from_keras("ReLU")
def relu_from_keras(klayer, common):
    return scratch.ReLU(max_value=None if klayer.max_value is None else float(klayer.max_value),
                        negative_slope=float(klayer.negative_slope), threshold=float(klayer.threshold), **common)


@to_keras("LeakyReLU")
def leaky_relu_to_keras(layer, common):
    return keras.layers.LeakyReLU(negative_slope=layer.negative_slope, **common)


@from_keras("LeakyReLU")
def leaky_relu_from_keras(klayer, common):
    return scratch.LeakyReLU(negative_slope=float(klayer.negative_slope), **common)


@to_keras("ELU")
def elu_to_keras(layer, common):
    return keras.layers.ELU(alpha=layer.alpha, **common)


@from_keras("ELU")
def elu_from_keras(klayer, common):
    return scratch.ELU(alpha=float(klayer.alpha), **common)


@to_keras("PReLU")
def prelu_to_keras(layer, common):
    return keras.layers.PReLU(alpha_initializer=layer.alpha_initializer, shared_axes=layer.shared_axes, **common)


@from_keras("PReLU")
def prelu_from_keras(klayer, common):  # alpha's regularizer and constraint come in common (convert.py)
    return scratch.PReLU(alpha_initializer=initializer_name(klayer.alpha_initializer, "zeros"),
                         shared_axes=klayer.shared_axes, **common)


@to_keras("Softmax")
def softmax_to_keras(layer, common):
    return keras.layers.Softmax(axis=layer.axis, **common)


@from_keras("Softmax")
def softmax_from_keras(klayer, common):
    axis = list(klayer.axis) if isinstance(klayer.axis, (list, tuple)) else klayer.axis
    return scratch.Softmax(axis=axis, **common)
