"""Regularization layers (Keras's ``keras/src/layers/regularization``): Dropout, SpatialDropout1D/2D/3D,
AlphaDropout, GaussianNoise, GaussianDropout, ActivityRegularization."""

from ... import layers
from ..config import from_config, to_config

SPATIAL = ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")


def _seed(cfg):
    seed = cfg.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        cfg.refuse("seed", seed, "an int or None")
    return seed


def _noise_shape(cfg):
    shape = cfg.get("noise_shape")
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


@to_config("Dropout", "AlphaDropout")
def dropout_to_config(layer):
    return {"rate": layer.rate, "noise_shape": None if layer.noise_shape is None else list(layer.noise_shape),
            "seed": layer.seed}


@from_config("Dropout", "AlphaDropout")
def dropout_from_config(cfg, common):
    return getattr(layers, cfg.class_name)(float(cfg["rate"]), noise_shape=_noise_shape(cfg), seed=_seed(cfg), **common)


@to_config(*SPATIAL, common=("name", "dtype"))  # Keras's SpatialDropout takes no trainable (no weights)
def spatial_dropout_to_config(layer):
    return {"rate": layer.rate, "seed": layer.seed}


@from_config(*SPATIAL)
def spatial_dropout_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return getattr(layers, cfg.class_name)(float(cfg["rate"]), seed=_seed(cfg), **common)


@to_config("GaussianNoise")
def gaussian_noise_to_config(layer):
    return {"stddev": layer.stddev, "seed": layer.seed}


@from_config("GaussianNoise")
def gaussian_noise_from_config(cfg, common):
    return layers.GaussianNoise(float(cfg["stddev"]), seed=_seed(cfg), **common)


@to_config("GaussianDropout")
def gaussian_dropout_to_config(layer):
    return {"rate": layer.rate, "seed": layer.seed}


@from_config("GaussianDropout")
def gaussian_dropout_from_config(cfg, common):
    return layers.GaussianDropout(float(cfg["rate"]), seed=_seed(cfg), **common)


@to_config("ActivityRegularization")
def activity_regularization_to_config(layer):
    return {"l1": layer.l1, "l2": layer.l2}


@from_config("ActivityRegularization")
def activity_regularization_from_config(cfg, common):
    return layers.ActivityRegularization(l1=float(cfg.get("l1", 0.0)), l2=float(cfg.get("l2", 0.0)), **common)
