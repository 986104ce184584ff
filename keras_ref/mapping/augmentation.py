"""Augmentation layers: RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomContrast,
RandomBrightness, RandomCrop.

Besides the layer mappings, ``keras_transformation`` turns the parameters a scratch layer drew
(``layer.get_random_transformation(x)``) into the dict Keras's ``transform_images`` takes, so
both engines apply the same angle, shift, zoom, flip, factor or crop: the engines cannot share a
random generator, but they can share what it drew.
"""

import keras
import numpy as np

import scratch

from . import from_keras, to_keras
from .common import refuse

GEOMETRY = ("RandomRotation", "RandomTranslation", "RandomZoom")


def _seed(klayer):
    return klayer.seed if isinstance(klayer.seed, int) else None


@to_keras("RandomFlip")
def flip_to_keras(layer, common):
    return keras.layers.RandomFlip(layer.mode, seed=layer.seed, **common)


@to_keras("RandomRotation")
def rotation_to_keras(layer, common):
    return keras.layers.RandomRotation(list(layer.factor), fill_mode=layer.fill_mode, interpolation=layer.interpolation,
                                       seed=layer.seed, fill_value=layer.fill_value, **common)


@to_keras("RandomTranslation", "RandomZoom")
def shift_zoom_to_keras(layer, common):
    cls = getattr(keras.layers, type(layer).__name__)
    return cls(layer.height_factor, layer.width_factor, fill_mode=layer.fill_mode, interpolation=layer.interpolation,
               seed=layer.seed, fill_value=layer.fill_value, **common)


@to_keras("RandomContrast", "RandomBrightness")
def contrast_brightness_to_keras(layer, common):
    cls = getattr(keras.layers, type(layer).__name__)
    return cls(list(layer.factor), value_range=list(layer.value_range), seed=layer.seed, **common)


@to_keras("RandomCrop")
def crop_to_keras(layer, common):
    return keras.layers.RandomCrop(layer.height, layer.width, seed=layer.seed, **common)


def _channels_last(klayer):
    if getattr(klayer, "data_format", "channels_last") != "channels_last":
        refuse(klayer, "data_format", klayer.data_format, "'channels_last'")


@from_keras("RandomFlip")
def flip_from_keras(klayer, common):
    _channels_last(klayer)
    return scratch.RandomFlip(klayer.mode, seed=_seed(klayer), **common)


@from_keras(*GEOMETRY)
def geometry_from_keras(klayer, common):
    _channels_last(klayer)
    options = dict(fill_mode=klayer.fill_mode, interpolation=klayer.interpolation, seed=_seed(klayer),
                   fill_value=float(klayer.fill_value), **common)
    if isinstance(klayer, keras.layers.RandomRotation):
        return scratch.RandomRotation(list(klayer.factor), **options)
    cls = getattr(scratch, type(klayer).__name__)
    return cls(klayer.height_factor, klayer.width_factor, **options)


@from_keras("RandomContrast", "RandomBrightness")
def contrast_brightness_from_keras(klayer, common):
    _channels_last(klayer)
    cls = getattr(scratch, type(klayer).__name__)
    return cls(list(klayer.factor), value_range=list(klayer.value_range), seed=_seed(klayer), **common)


@from_keras("RandomCrop")
def crop_from_keras(klayer, common):
    _channels_last(klayer)
    return scratch.RandomCrop(klayer.height, klayer.width, seed=_seed(klayer), **common)


def keras_transformation(klayer, transformation, shape):
    """The dict (or tuple) Keras's ``klayer.transform_images`` takes, for the parameters a scratch
    layer drew; the rotation matrix is computed by Keras itself from the shared angle."""
    name = type(klayer).__name__
    if name == "RandomRotation":
        angle = keras.ops.convert_to_tensor(np.asarray(transformation["angle"], np.float32))
        n = shape[0]
        matrix = klayer._compute_affine_matrix(
            center_x=0.5, center_y=0.5, angle=angle, translate_x=keras.ops.zeros([n]), translate_y=keras.ops.zeros([n]),
            scale=keras.ops.ones([n]), shear_x=keras.ops.zeros([n]), shear_y=keras.ops.zeros([n]),
            height=shape[1], width=shape[2])
        return {"angle": angle, "rotation_matrix": matrix}
    if name == "RandomCrop":
        return tuple(int(v) for v in transformation)
    return {key: keras.ops.convert_to_tensor(np.asarray(value)) for key, value in transformation.items()}


def scratch_transformation(klayer, ktransformation):
    """The parameters Keras drew (``klayer.get_random_transformation(x)``) as a scratch layer takes them."""
    if type(klayer).__name__ == "RandomCrop":
        return tuple(int(keras.ops.convert_to_numpy(v)) for v in ktransformation)
    keep = {"RandomFlip": ("flips",), "RandomRotation": ("angle",), "RandomTranslation": ("translations",),
            "RandomZoom": ("height_zoom", "width_zoom"), "RandomContrast": ("contrast_factor",),
            "RandomBrightness": ("rgb_delta",)}[type(klayer).__name__]
    return {key: keras.ops.convert_to_numpy(ktransformation[key]) for key in keep}
