"""Merge layers (Keras's ``keras/src/layers/merging``): Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate."""

from ... import layers
from ..config import from_config, to_config

ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


@to_config(*ELEMENTWISE)
def merge_to_config(layer):
    return {}


@from_config(*ELEMENTWISE)
def merge_from_config(cfg, common):
    return getattr(layers, cfg.class_name)(**common)


@to_config("Concatenate")
def concatenate_to_config(layer):
    return {"axis": layer.axis}


@from_config("Concatenate")
def concatenate_from_config(cfg, common):
    return layers.Concatenate(axis=int(cfg.get("axis", -1)), **common)
