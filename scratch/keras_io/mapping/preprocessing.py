"""Preprocessing layers (Keras's ``keras/src/layers/preprocessing``): Resizing, CenterCrop.

Refused from Keras, in one line naming the layer: ``antialias=True``, ``fill_mode`` other than
``"constant"``, ``channels_first``, the interpolations ``scratch.resize`` does not compute
(``"area"``, ``"lanczos3"``, ``"lanczos5"``).
"""

from ... import layers, resize
from ..config import from_config, to_config


@to_config("Resizing")
def resizing_to_config(layer):
    return {"height": layer.height, "width": layer.width, "interpolation": layer.interpolation,
            "crop_to_aspect_ratio": layer.crop_to_aspect_ratio, "pad_to_aspect_ratio": layer.pad_to_aspect_ratio,
            "fill_mode": layer.fill_mode, "fill_value": layer.fill_value, "antialias": layer.antialias,
            "data_format": "channels_last"}


@from_config("Resizing")
def resizing_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    cfg.expect("antialias", (False,), False)
    cfg.expect("fill_mode", ("constant",), "constant")
    interpolation = cfg.expect("interpolation", resize.INTERPOLATIONS, "bilinear")
    return layers.Resizing(int(cfg["height"]), int(cfg["width"]), interpolation=interpolation,
                           crop_to_aspect_ratio=bool(cfg.get("crop_to_aspect_ratio", False)),
                           pad_to_aspect_ratio=bool(cfg.get("pad_to_aspect_ratio", False)),
                           fill_value=float(cfg.get("fill_value", 0.0)), **common)


@to_config("CenterCrop")
def center_crop_to_config(layer):
    return {"height": layer.height, "width": layer.width, "data_format": "channels_last"}


@from_config("CenterCrop")
def center_crop_from_config(cfg, common):
    cfg.expect("data_format", ("channels_last",), "channels_last")
    return layers.CenterCrop(int(cfg["height"]), int(cfg["width"]), **common)
