"""Convolution layers: Conv2D (dilated, grouped), DepthwiseConv2D, SeparableConv2D.

``keras_ref.convert`` refuses what every layer may carry (channels_first, regularizers and
constraints, depthwise/pointwise ones included, LoRA, quantization); ``activation_name`` refuses
an activation the engine lacks. Initializers only shape fresh weights: unknown ones map to the
default, as for Dense.
"""

import keras

import scratch

from . import from_keras, to_keras
from .common import activation_name, initializer_name, keras_activation, keras_weight_options, weight_options


def _geometry(layer):
    return dict(kernel_size=tuple(layer.kernel_size), strides=tuple(layer.strides), padding=layer.padding,
                dilation_rate=tuple(layer.dilation_rate))


@to_keras("Conv2D")
def conv2d_to_keras(layer, common):
    return keras.layers.Conv2D(layer.filters, groups=layer.groups, **_geometry(layer), **keras_weight_options(layer),
                               **common)


@from_keras("Conv2D")
def conv2d_from_keras(klayer, common):
    return scratch.Conv2D(klayer.filters, groups=klayer.groups, **_geometry(klayer), **weight_options(klayer),
                          **common)


def _check_tf_depthwise_strides(layer):
    """TensorFlow's depthwise kernel (under Keras's DepthwiseConv2D and SeparableConv2D) takes only
    equal row and column strides, except where Keras decomposes a strided dilated convolution
    (stride 1, then subsampling): refuse what the twin could not compute, naming the setting."""
    strided_dilated = max(layer.strides) > 1 and max(layer.dilation_rate) > 1
    if layer.strides[0] != layer.strides[1] and not strided_dilated:
        raise ValueError(f"to_keras: layer {layer.label} has strides={layer.strides}; Keras's TensorFlow backend "
                         f"computes {type(layer).__name__} only with equal row and column strides")


def _depthwise_options(klayer):
    return dict(depth_multiplier=klayer.depth_multiplier, activation=activation_name(klayer),
                use_bias=klayer.use_bias,
                depthwise_initializer=initializer_name(klayer.depthwise_initializer, "glorot_uniform"),
                bias_initializer=initializer_name(klayer.bias_initializer, "zeros"))


@to_keras("DepthwiseConv2D")
def depthwise_to_keras(layer, common):
    _check_tf_depthwise_strides(layer)
    return keras.layers.DepthwiseConv2D(
        depth_multiplier=layer.depth_multiplier, activation=keras_activation(layer.activation.name),
        use_bias=layer.use_bias,
        depthwise_initializer=layer.depthwise_initializer, bias_initializer=layer.bias_initializer,
        **_geometry(layer), **common)


@from_keras("DepthwiseConv2D")
def depthwise_from_keras(klayer, common):
    return scratch.DepthwiseConv2D(**_geometry(klayer), **_depthwise_options(klayer), **common)


@to_keras("SeparableConv2D")
def separable_to_keras(layer, common):
    _check_tf_depthwise_strides(layer)
    return keras.layers.SeparableConv2D(
        layer.filters, depth_multiplier=layer.depth_multiplier, activation=keras_activation(layer.activation.name),
        use_bias=layer.use_bias, depthwise_initializer=layer.depthwise_initializer,
        pointwise_initializer=layer.pointwise_initializer, bias_initializer=layer.bias_initializer,
        **_geometry(layer), **common)


@from_keras("SeparableConv2D")
def separable_from_keras(klayer, common):
    return scratch.SeparableConv2D(
        klayer.filters, pointwise_initializer=initializer_name(klayer.pointwise_initializer, "glorot_uniform"),
        **_geometry(klayer), **_depthwise_options(klayer), **common)
