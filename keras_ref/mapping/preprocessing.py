"""Preprocessing layers."""

import keras
import numpy as np

import scratch

from . import from_keras, to_keras
from .common import refuse

# -- Normalization --


@to_keras("Normalization")
def normalization_to_keras(layer, common):
    return keras.layers.Normalization(axis=layer.axis, mean=layer.mean.tolist(), variance=layer.variance.tolist(),
                                      invert=layer.invert, **common)


@from_keras("Normalization")
def normalization_from_keras(klayer, common):
    if klayer.input_mean is None:
        refuse(klayer, "mean", None, "mean and variance given in the config (an adapt()-ed Normalization, whose "
                                     "statistics are weights, is not implemented)")
    return scratch.Normalization(axis=tuple(klayer.axis), mean=np.array(klayer.input_mean).tolist(),
                                 variance=np.array(klayer.input_variance).tolist(), invert=bool(klayer.invert),
                                 **common)
