"""Regularization layers (Keras's ``keras/src/layers/regularization``): ActivityRegularization."""

from ... import layers
from ..config import from_config, to_config


@to_config("ActivityRegularization")
def activity_regularization_to_config(layer):
    return {"l1": layer.l1, "l2": layer.l2}


@from_config("ActivityRegularization")
def activity_regularization_from_config(cfg, common):
    return layers.ActivityRegularization(l1=float(cfg.get("l1", 0.0)), l2=float(cfg.get("l2", 0.0)), **common)
