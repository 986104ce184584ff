"""Augmentation layers (Keras's ``keras/src/layers/preprocessing/image_preprocessing``): RandomFlip,
RandomRotation, RandomTranslation, RandomZoom, RandomContrast, RandomBrightness, RandomCrop.

(What makes both engines draw the same parameters needs live Keras: ``keras_ref.augmentation``.)
"""

from ... import layers
from ..config import from_config, to_config

GEOMETRY = ("RandomRotation", "RandomTranslation", "RandomZoom")


def _seed(cfg):
    seed = cfg.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _factor(value):
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else value


@to_config("RandomFlip")
def flip_to_config(layer):
    return {"mode": layer.mode, "seed": layer.seed}


@to_config("RandomRotation")
def rotation_to_config(layer):
    return {"factor": list(layer.factor), "fill_mode": layer.fill_mode, "interpolation": layer.interpolation,
            "seed": layer.seed, "fill_value": layer.fill_value}


@to_config("RandomTranslation", "RandomZoom")
def shift_zoom_to_config(layer):
    return {"height_factor": _factor(layer.height_factor), "width_factor": _factor(layer.width_factor),
            "fill_mode": layer.fill_mode, "interpolation": layer.interpolation, "seed": layer.seed,
            "fill_value": layer.fill_value}


@to_config("RandomContrast", "RandomBrightness")
def contrast_brightness_to_config(layer):
    return {"factor": list(layer.factor), "value_range": list(layer.value_range), "seed": layer.seed}


@to_config("RandomCrop")
def crop_to_config(layer):
    return {"height": layer.height, "width": layer.width, "seed": layer.seed}


@from_config("RandomFlip")
def flip_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return layers.RandomFlip(cfg.get("mode", "horizontal_and_vertical"), seed=_seed(cfg), **common)


@from_config(*GEOMETRY)
def geometry_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    options = dict(fill_mode=cfg.get("fill_mode", "reflect"), interpolation=cfg.get("interpolation", "bilinear"),
                   seed=_seed(cfg), fill_value=float(cfg.get("fill_value", 0.0)), **common)
    if cfg.class_name == "RandomRotation":
        return layers.RandomRotation(_factor(cfg["factor"]), **options)
    return getattr(layers, cfg.class_name)(_factor(cfg["height_factor"]), _factor(cfg.get("width_factor")),
                                           **options)


@from_config("RandomContrast", "RandomBrightness")
def contrast_brightness_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    factor = cfg["factor"]
    return getattr(layers, cfg.class_name)(list(factor) if isinstance(factor, (list, tuple)) else factor,
                                           value_range=list(cfg.get("value_range", (0, 255))), seed=_seed(cfg),
                                           **common)


@from_config("RandomCrop")
def crop_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return layers.RandomCrop(int(cfg["height"]), int(cfg["width"]), seed=_seed(cfg), **common)
