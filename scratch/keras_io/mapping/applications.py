"""Layers ``keras.applications`` defines itself: LayerScale (ConvNeXt), CustomScaleLayer
(InceptionResNetV2). Keras serializes them under their defining module (``KERAS_MODULES``)."""

from ... import layers
from ..config import KERAS_MODULES, from_config, to_config

KERAS_MODULES["LayerScale"] = "keras.src.applications.convnext"
KERAS_MODULES["CustomScaleLayer"] = "keras.src.applications.inception_resnet_v2"


@to_config("LayerScale")
def layer_scale_to_config(layer):
    return {"init_values": layer.init_values, "projection_dim": layer.projection_dim}


@from_config("LayerScale")
def layer_scale_from_config(cfg, common):
    return layers.LayerScale(float(cfg["init_values"]), int(cfg["projection_dim"]), **common)


@to_config("CustomScaleLayer")
def custom_scale_to_config(layer):
    return {"scale": layer.scale}


@from_config("CustomScaleLayer")
def custom_scale_from_config(cfg, common):
    return layers.CustomScaleLayer(float(cfg["scale"]), **common)
