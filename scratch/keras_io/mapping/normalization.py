"""Normalization layers (Keras's ``keras/src/layers/normalization``): BatchNormalization,
LayerNormalization, GroupNormalization.

Refused from Keras, in one line naming the layer: BatchNormalization and GroupNormalization on an
axis other than the channels (the last), batch renormalization (``renorm``), ``synchronized=True``,
LayerNormalization's deprecated ``rms_scaling``. LayerNormalization takes any axes (``[1, 2, 3]``).
Regularizers and constraints of ``gamma`` / ``beta`` travel with every layer's (``config.py``).
The moving statistics travel with the other weights (``get_weights`` order ``gamma, beta,
moving_mean, moving_variance``).
"""

from ... import layers
from ..config import from_config, to_config


def _options(layer):
    return {"epsilon": layer.epsilon, "center": layer.center, "scale": layer.scale,
            "beta_initializer": layer.beta_initializer, "gamma_initializer": layer.gamma_initializer}


def _read_options(cfg):
    return {"epsilon": float(cfg["epsilon"]), "center": bool(cfg.get("center", True)),
            "scale": bool(cfg.get("scale", True)), "beta_initializer": cfg.initializer("beta_initializer", "zeros"),
            "gamma_initializer": cfg.initializer("gamma_initializer", "ones")}


def _channel_axis(cfg):
    """Keras's ``axis`` if it is the channel axis (last) of the input the layer was built for."""
    axis = cfg.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        axis = axis[0]
    shape = cfg.input_shape
    last = None if shape is None else len(shape) - 1
    if not isinstance(axis, int) or axis not in (-1, last):
        cfg.refuse("axis", axis, "-1 (the channel axis, last)" if shape is None else
                   f"-1 or {last} (the channel axis, last, of its {len(shape)}-D input)")
    return axis


@to_config("BatchNormalization")
def batch_normalization_to_config(layer):
    return {"axis": layer.axis, "momentum": layer.momentum, **_options(layer),
            "moving_mean_initializer": layer.moving_mean_initializer,
            "moving_variance_initializer": layer.moving_variance_initializer}


@from_config("BatchNormalization")
def batch_normalization_from_config(cfg, common):
    if cfg.get("renorm", False):
        cfg.refuse("renorm", cfg["renorm"], "False (no batch renormalization)")
    if cfg.get("synchronized", False):
        cfg.refuse("synchronized", cfg["synchronized"], "False")
    return layers.BatchNormalization(
        axis=_channel_axis(cfg), momentum=float(cfg["momentum"]), **_read_options(cfg),
        moving_mean_initializer=cfg.initializer("moving_mean_initializer", "zeros"),
        moving_variance_initializer=cfg.initializer("moving_variance_initializer", "ones"), **common)


@to_config("LayerNormalization")
def layer_normalization_to_config(layer):
    return {"axis": layer.axis, **_options(layer)}


@from_config("LayerNormalization")
def layer_normalization_from_config(cfg, common):
    cfg.expect("rms_scaling", (False,), False)
    axis = cfg.get("axis", -1)
    if isinstance(axis, list) and not all(isinstance(a, int) for a in axis) or not isinstance(axis, (int, list)):
        cfg.refuse("axis", axis, "an int or a list of ints")
    return layers.LayerNormalization(axis=axis, **_read_options(cfg), **common)


@to_config("GroupNormalization")
def group_normalization_to_config(layer):
    return {"groups": layer.groups, "axis": layer.axis, **_options(layer)}


@from_config("GroupNormalization")
def group_normalization_from_config(cfg, common):
    return layers.GroupNormalization(groups=int(cfg["groups"]), axis=_channel_axis(cfg), **_read_options(cfg),
                                     **common)
