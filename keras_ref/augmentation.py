"""What live Keras needs for the augmentation layers (their mapping is ``scratch.keras_io.mapping.augmentation``).

``keras_transformation`` turns the parameters a scratch layer drew
(``layer.get_random_transformation(x)``) into the dict Keras's ``transform_images`` takes, so
both engines apply the same angle, shift, zoom, flip, factor or crop: the engines cannot share a
random generator, but they can share what it drew.
"""

import keras
import numpy as np


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
