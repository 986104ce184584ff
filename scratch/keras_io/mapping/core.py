"""Core layers (Keras's ``keras/src/layers/core``): Dense."""

from ... import layers
from ..config import from_config, to_config, weight_options_config


@to_config("Dense")
def dense_to_config(layer):
    return {"units": layer.units, **weight_options_config(layer)}


@from_config("Dense")
def dense_from_config(cfg, common):
    return layers.Dense(int(cfg["units"]), **cfg.weight_options(), **common)
