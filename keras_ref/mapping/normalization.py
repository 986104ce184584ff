"""Normalization layers: BatchNormalization, LayerNormalization (over the channel axis, the last one).

Refused from Keras: any other axis (or several), batch renormalization (``renorm``),
``synchronized=True``, LayerNormalization's deprecated ``rms_scaling``, regularizers and
constraints on ``gamma`` / ``beta``. The moving statistics travel with the other weights
(``get_weights`` order ``gamma, beta, moving_mean, moving_variance``).
"""

import keras

import scratch

from . import from_keras, to_keras
from .common import INITIALIZER_NAMES, refuse

NORMALIZATION_INITIALIZERS = {**INITIALIZER_NAMES, "Ones": "ones"}


def _initializers(layer, *names):
    return {name: getattr(layer, name) for name in names}


def _keras_initializer_names(klayer, **defaults):
    """As ``common.initializer_name`` (weights are copied; an unknown initializer becomes the default), knowing ``ones``."""
    return {name: NORMALIZATION_INITIALIZERS.get(type(getattr(klayer, name)).__name__, default)
            for name, default in defaults.items()}


def _last_axis(klayer):
    """Keras's axis (an int, or LayerNormalization's one-element list once built) if it is the last axis."""
    axis = klayer.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            refuse(klayer, "axis", axis, "the channel axis (last) alone")
        axis = axis[0]
    ndim = klayer.input_spec.ndim if getattr(klayer, "input_spec", None) is not None else None
    if ndim is None:
        ndim = len(klayer.input.shape)
    if axis not in (-1, ndim - 1):
        refuse(klayer, "axis", axis, f"-1 or {ndim - 1} (the channel axis, last, of its {ndim}-D input)")
    return int(axis)


def _check_regularization(klayer):
    for attr in ("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"):
        value = getattr(klayer, attr, None)
        if value is not None:
            refuse(klayer, attr, type(value).__name__, "None")


@to_keras("BatchNormalization")
def batch_normalization_to_keras(layer, common):
    return keras.layers.BatchNormalization(
        axis=layer.axis, momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        **_initializers(layer, "beta_initializer", "gamma_initializer", "moving_mean_initializer",
                        "moving_variance_initializer"), **common)


@from_keras("BatchNormalization")
def batch_normalization_from_keras(klayer, common):
    if klayer.renorm:
        refuse(klayer, "renorm", klayer.renorm, "False (no batch renormalization)")
    if klayer.synchronized:
        refuse(klayer, "synchronized", klayer.synchronized, "False")
    _check_regularization(klayer)
    return scratch.BatchNormalization(
        axis=_last_axis(klayer), momentum=float(klayer.momentum), epsilon=float(klayer.epsilon),
        center=bool(klayer.center), scale=bool(klayer.scale),
        **_keras_initializer_names(klayer, beta_initializer="zeros", gamma_initializer="ones",
                                   moving_mean_initializer="zeros", moving_variance_initializer="ones"),
        **common)


@to_keras("LayerNormalization")
def layer_normalization_to_keras(layer, common):
    return keras.layers.LayerNormalization(
        axis=layer.axis, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        **_initializers(layer, "beta_initializer", "gamma_initializer"), **common)


@from_keras("LayerNormalization")
def layer_normalization_from_keras(klayer, common):
    if getattr(klayer, "rms_scaling", False):
        refuse(klayer, "rms_scaling", True, "False (use the plain layer normalization)")
    _check_regularization(klayer)
    return scratch.LayerNormalization(
        axis=_last_axis(klayer), epsilon=float(klayer.epsilon), center=bool(klayer.center), scale=bool(klayer.scale),
        **_keras_initializer_names(klayer, beta_initializer="zeros", gamma_initializer="ones"), **common)
