"""Activation layers (Keras's ``keras/src/layers/activations``): Activation, ReLU, LeakyReLU, ELU,
PReLU, Softmax."""

from ... import layers
from ..config import from_config, keras_activation, to_config


@to_config("Activation")
def activation_to_config(layer):
    return {"activation": keras_activation(layer.activation.name)}


@from_config("Activation")
def activation_from_config(cfg, common):
    return layers.Activation(cfg.activation(), **common)


@to_config("ReLU")
def relu_to_config(layer):
    return {"max_value": layer.max_value, "negative_slope": layer.negative_slope, "threshold": layer.threshold}


@from_config("ReLU")
def relu_from_config(cfg, common):
    max_value = cfg.get("max_value")
    return layers.ReLU(max_value=None if max_value is None else float(max_value),
                       negative_slope=float(cfg.get("negative_slope", 0.0)),
                       threshold=float(cfg.get("threshold", 0.0)), **common)


@to_config("LeakyReLU")
def leaky_relu_to_config(layer):
    return {"negative_slope": layer.negative_slope}


@from_config("LeakyReLU")
def leaky_relu_from_config(cfg, common):
    return layers.LeakyReLU(negative_slope=float(cfg.get("negative_slope", 0.3)), **common)


@to_config("ELU")
def elu_to_config(layer):
    return {"alpha": layer.alpha}


@from_config("ELU")
def elu_from_config(cfg, common):
    return layers.ELU(alpha=float(cfg.get("alpha", 1.0)), **common)


@to_config("PReLU")
def prelu_to_config(layer):
    return {"alpha_initializer": layer.alpha_initializer, "shared_axes": layer.shared_axes}


@from_config("PReLU")
def prelu_from_config(cfg, common):  # alpha_regularizer/alpha_constraint come in ``common``
    shared = cfg.get("shared_axes")
    if shared is not None:
        shared = [int(a) for a in shared] if isinstance(shared, (list, tuple)) else [int(shared)]
    return layers.PReLU(alpha_initializer=cfg.initializer("alpha_initializer", "zeros"), shared_axes=shared, **common)


@to_config("Softmax")
def softmax_to_config(layer):
    return {"axis": layer.axis}


@from_config("Softmax")
def softmax_from_config(cfg, common):
    axis = cfg.get("axis", -1)
    return layers.Softmax(axis=[int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis), **common)
