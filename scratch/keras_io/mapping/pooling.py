"""Pooling layers (Keras's ``keras/src/layers/pooling``): MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, GlobalMaxPooling2D."""

from ... import layers
from ..config import from_config, to_config


@to_config("MaxPooling2D", "AveragePooling2D")
def pooling_to_config(layer):
    return {"pool_size": list(layer.pool_size), "strides": list(layer.strides), "padding": layer.padding}


@from_config("MaxPooling2D", "AveragePooling2D")
def pooling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    pool = cfg.ints("pool_size", 2)
    strides = pool if cfg.get("strides") is None else cfg.ints("strides", 2)
    return getattr(layers, cfg.class_name)(pool, strides=strides, padding=cfg.expect("padding", ("valid", "same")),
                                           **common)


@to_config("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling_to_config(layer):
    return {"keepdims": layer.keepdims}


@from_config("GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return getattr(layers, cfg.class_name)(keepdims=bool(cfg.get("keepdims", False)), **common)
