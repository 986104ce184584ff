"""Preprocessing layers (Keras's ``keras/src/layers/preprocessing``): Rescaling, Normalization, Resizing,
CenterCrop.

A Normalization Keras built from data (``adapt()``, or EfficientNet's) keeps its statistics as
weights (``mean``, ``variance``, ``count``) and writes ``"mean": null`` in its config: the
scratch layer takes their values as its ``mean``/``variance`` (``cfg.stored_weights()``), and
a weight file read into a model sets them (``WEIGHTS_IN_CONFIG``); a file written here holds
them as Keras holds adapted ones (``FILE_FORMS``, only for a layer read from adapted ones).
Resizing, CenterCrop: refused from Keras, in one line naming the layer: ``antialias=True``,
``fill_mode`` other than ``"constant"``, ``channels_first``, the interpolations ``scratch.resize``
does not compute (``"area"``, ``"lanczos3"``, ``"lanczos5"``).
"""

import numpy as np

from ... import layers, resize
from ..config import FILE_FORMS, WEIGHTS_IN_CONFIG, from_config, to_config


def _plain(cfg, key, default):
    """Keras keeps ``scale``/``offset`` as given: a number or a list (one per channel)."""
    value = cfg.get(key, default)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim > 1:
        cfg.refuse(key, value, "a number or a list of numbers (one per channel)")
    return float(array) if array.ndim == 0 else [float(v) for v in array]


@to_config("Rescaling")
def rescaling_to_config(layer):
    return {"scale": layer.scale, "offset": layer.offset}


@from_config("Rescaling")
def rescaling_from_config(cfg, common):
    return layers.Rescaling(scale=_plain(cfg, "scale", 1.0), offset=_plain(cfg, "offset", 0.0), **common)


@to_config("Normalization")
def normalization_to_config(layer):
    return {"axis": list(layer.axis), "mean": layer.mean.tolist(), "variance": layer.variance.tolist(),
            "invert": layer.invert}


def normalization_file_form(layer, config):
    """In a file, a layer read from adapted statistics (``keras_adapted``, set on reading) holds them
    again as Keras holds adapted ones: ``mean: null`` in the config, the values as the weights
    ``mean``, ``variance`` (the kept axes' sizes, the layer's dtype) and ``count`` (int64 0), as
    EfficientNet's; any other keeps them in its config (as ``to_config``), as ConvNeXt's: a Keras
    model built the same way takes the file's weights either way."""
    if not getattr(layer, "keras_adapted", False):
        return config, None
    shape = layer.input_shape
    ndim = len(shape)
    keep = sorted({a % ndim for a in layer.axis})
    kept = tuple(shape[d] for d in keep)
    expanded = [1] * len(keep)
    for i in range(1, layer.mean.ndim + 1):
        expanded[-i] = layer.mean.shape[-i]
    mean = np.broadcast_to(layer.mean.reshape(expanded), kept).astype(layer.dtype)
    variance = np.broadcast_to(layer.variance.reshape(expanded), kept).astype(layer.dtype)
    return {**config, "axis": [a % ndim for a in layer.axis], "mean": None, "variance": None}, \
        [mean, variance, np.array(0, dtype=np.int64)]


def normalization_set_statistics(layer, stored):
    """A weight file's ``mean``, ``variance`` (and ``count``) become the layer's statistics."""
    if len(stored) != 3:
        raise ValueError(f"layer {layer.name!r} (Normalization) expects 3 weight arrays [mean, variance, count], "
                         f"the file has {len(stored)}")
    layer.mean, layer.variance = (np.asarray(a, np.float64) for a in stored[:2])
    layer.build(layer.input_shape)


FILE_FORMS["Normalization"] = normalization_file_form
WEIGHTS_IN_CONFIG["Normalization"] = normalization_set_statistics


@from_config("Normalization")
def normalization_from_config(cfg, common):
    axis = cfg.get("axis", -1)
    axis = () if axis is None else tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else (int(axis),)
    if cfg.get("mean") is None:  # statistics held as weights: their values (float32 arrays, exact in float64)
        stored = cfg.stored_weights("its statistics (weights 'mean' and 'variance', from adapt())")
        if len(stored) < 2:
            cfg.refuse("weights", f"{len(stored)} arrays", "mean, variance and count")
        mean, variance = np.asarray(stored[0], np.float64), np.asarray(stored[1], np.float64)
    else:  # Keras turns the given numbers into a float32 tensor before casting it to the layer's dtype
        mean = np.array(cfg["mean"], dtype=np.float32).astype(np.float64)
        variance = np.array(cfg["variance"], dtype=np.float32).astype(np.float64)
    layer = layers.Normalization(axis=axis, mean=mean.tolist(), variance=variance.tolist(),
                                 invert=bool(cfg.get("invert", False)), **common)
    layer.keras_adapted = cfg.get("mean") is None  # how a file written here holds its statistics
    return layer


# -- Resizing, CenterCrop --


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
