"""Layers ``keras.applications`` defines itself: LayerScale (ConvNeXt), CustomScaleLayer (InceptionResNetV2)."""

from keras.src.applications.convnext import LayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

import scratch

from . import from_keras, to_keras


@to_keras("LayerScale")
def layer_scale_to_keras(layer, common):
    return LayerScale(layer.init_values, layer.projection_dim, **common)


@from_keras("LayerScale")
def layer_scale_from_keras(klayer, common):
    return scratch.LayerScale(float(klayer.init_values), int(klayer.projection_dim), **common)


@to_keras("CustomScaleLayer")
def custom_scale_to_keras(layer, common):
    return CustomScaleLayer(layer.scale, **common)


@from_keras("CustomScaleLayer")
def custom_scale_from_keras(klayer, common):
    return scratch.CustomScaleLayer(float(klayer.scale), **common)
