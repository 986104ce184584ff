"""Pooling layers (Keras's ``keras/src/layers/pooling``): max and average pooling, global max and
average pooling, in 1, 2 and 3 spatial dimensions."""

from ... import layers
from ..config import from_config, to_config

RANKS = (1, 2, 3)
WINDOWED = [f"{kind}Pooling{r}D" for kind in ("Max", "Average") for r in RANKS]
GLOBAL = [f"Global{kind}Pooling{r}D" for kind in ("Max", "Average") for r in RANKS]


@to_config(*WINDOWED)
def pooling_to_config(layer):
    return {"pool_size": list(layer.pool_size), "strides": list(layer.strides), "padding": layer.padding}


@from_config(*WINDOWED)
def pooling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    rank = getattr(layers, cfg.class_name).rank
    pool = cfg.ints("pool_size", rank)
    strides = pool if cfg.get("strides") is None else cfg.ints("strides", rank)
    return getattr(layers, cfg.class_name)(pool, strides=strides, padding=cfg.expect("padding", ("valid", "same")),
                                           **common)


@to_config(*GLOBAL)
def global_pooling_to_config(layer):
    return {"keepdims": layer.keepdims}


@from_config(*GLOBAL)
def global_pooling_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return getattr(layers, cfg.class_name)(keepdims=bool(cfg.get("keepdims", False)), **common)
