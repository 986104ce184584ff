"""Preprocessing layers: Rescaling, Normalization."""

import keras
import numpy as np

import scratch

from . import from_keras, to_keras
from .common import refuse


def _plain(klayer, name, value):
    """Keras keeps ``scale``/``offset`` as given: a number, a list, or an array; the engine takes numbers or lists."""
    array = np.asarray(value)
    if array.ndim > 1 or not np.issubdtype(array.dtype, np.number):
        refuse(klayer, name, value, "a number or a list of numbers (one per channel)")
    return float(array) if array.ndim == 0 else [float(v) for v in array]


@to_keras("Rescaling")
def rescaling_to_keras(layer, common):
    return keras.layers.Rescaling(scale=layer.scale, offset=layer.offset, **common)


@from_keras("Rescaling")
def rescaling_from_keras(klayer, common):
    return scratch.Rescaling(scale=_plain(klayer, "scale", klayer.scale),
                             offset=_plain(klayer, "offset", klayer.offset), **common)


# -- Normalization --


@to_keras("Normalization")
def normalization_to_keras(layer, common):
    return keras.layers.Normalization(axis=layer.axis, mean=layer.mean.tolist(), variance=layer.variance.tolist(),
                                      invert=layer.invert, **common)


@from_keras("Normalization")
def normalization_from_keras(klayer, common):
    if klayer.input_mean is None:  # statistics held as weights (adapt(), or EfficientNet's): their values
        if not klayer.built:
            refuse(klayer, "mean", None, "a built layer (its statistics are weights created at build)")
        mean, variance = np.asarray(klayer.adapt_mean), np.asarray(klayer.adapt_variance)
    else:  # Keras turns the given numbers into a float32 tensor before casting it to the layer's dtype:
        # the twin computes with those values (the scratch layer itself keeps what it is given)
        mean = np.array(klayer.input_mean, dtype=np.float32).astype(np.float64)
        variance = np.array(klayer.input_variance, dtype=np.float32).astype(np.float64)
    return scratch.Normalization(axis=tuple(klayer.axis), mean=mean.tolist(), variance=variance.tolist(),
                                 invert=bool(klayer.invert), **common)
