"""Augmentation layers against Keras: the same drawn parameters give the same images and gradients,
and each engine's draws cover the documented ranges.

The engines cannot share a random generator, so the geometry is tested on shared parameters:
Keras's layer draws (``get_random_transformation``), the scratch layer applies what Keras drew,
and the other way round (``scratch.keras_io.mapping.augmentation``, ``keras_ref.augmentation``). Tolerances:

- float32: to rounding (pixel values up to 255, so ``atol`` = a few float32 ulps of 255);
- float64: exact for flips and crops, ``1e-12`` for contrast and brightness; the resampling
  layers (rotation, translation, zoom) only to float32 rounding, because TensorFlow's
  ``ImageProjectiveTransformV3`` computes the coordinates and the bilinear blend in float32
  whatever the image dtype (``scratch.image`` computes the coordinates in float32 as it does, so
  the same pixels are read; the blend stays float64). With ``interpolation="nearest"`` they are
  exact in both dtypes.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import scratch
from keras_ref.augmentation import keras_transformation, scratch_transformation
from keras_ref.convert import keras_layer
from parity_tests import twins  # noqa: F401  (TF determinism settings first)

SHAPE = (4, 7, 8, 2)
LAYERS = [
    ("flip-horizontal", "RandomFlip", dict(mode="horizontal")),
    ("flip-vertical", "RandomFlip", dict(mode="vertical")),
    ("flip-both", "RandomFlip", dict()),
    ("rotation-bilinear-reflect", "RandomRotation", dict(factor=0.2)),
    ("rotation-nearest-constant", "RandomRotation",
     dict(factor=(-0.3, 0.1), fill_mode="constant", interpolation="nearest", fill_value=7.0)),
    ("translation-bilinear-wrap", "RandomTranslation", dict(height_factor=0.3, width_factor=(-0.4, 0.2),
                                                           fill_mode="wrap")),
    ("translation-nearest-nearest", "RandomTranslation", dict(height_factor=0.5, width_factor=0.5,
                                                             fill_mode="nearest", interpolation="nearest")),
    ("zoom-bilinear-constant", "RandomZoom", dict(height_factor=(-0.4, 0.5), width_factor=0.3, fill_mode="constant")),
    ("zoom-same-factor-reflect", "RandomZoom", dict(height_factor=0.4)),
    ("contrast", "RandomContrast", dict(factor=0.5)),
    ("contrast-pair-range", "RandomContrast", dict(factor=(0.2, 0.9), value_range=(20, 200))),
    ("brightness", "RandomBrightness", dict(factor=0.3)),
    ("brightness-clipped", "RandomBrightness", dict(factor=(-0.9, 0.9), value_range=(10, 250))),
    ("crop", "RandomCrop", dict(height=5, width=4)),
]
GEOMETRY = ("RandomRotation", "RandomTranslation", "RandomZoom")


def tolerance(cls, kwargs, dtype):
    if dtype == "float32":
        return dict(rtol=1e-5, atol=1e-4)
    if cls in GEOMETRY and kwargs.get("interpolation", "bilinear") == "bilinear":
        return dict(rtol=1e-6, atol=255 * 2e-7)  # TensorFlow's float32 blend
    return dict(rtol=1e-12, atol=1e-12)


def pair(cls, kwargs, dtype, seed=3):
    layer = getattr(scratch, cls)(**kwargs, seed=seed, dtype=dtype)
    klayer = keras_layer(layer)
    return layer, klayer


def images(dtype, seed=0):
    return (np.random.default_rng(seed).random(SHAPE) * 255).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,cls,kwargs", LAYERS, ids=[c[0] for c in LAYERS])
def test_same_parameters_same_images(case, cls, kwargs, dtype):
    layer, klayer = pair(cls, kwargs, dtype)
    x = images(dtype)
    xt = tf.constant(x)
    # what Keras drew, applied by both
    kt = klayer.get_random_transformation(xt, training=True)
    theirs = keras.ops.convert_to_numpy(klayer.transform_images(xt, kt))
    ours = layer.transform_images(x, scratch_transformation(klayer, kt))
    assert ours.dtype == theirs.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours, theirs, **tolerance(cls, kwargs, dtype), err_msg=f"{case}: Keras's draw")
    # what the scratch layer drew, applied by both
    t = layer.get_random_transformation(x)
    ours = layer.transform_images(x, t)
    theirs = keras.ops.convert_to_numpy(klayer.transform_images(xt, keras_transformation(klayer, t, x.shape)))
    np.testing.assert_allclose(ours, theirs, **tolerance(cls, kwargs, dtype), err_msg=f"{case}: scratch's draw")
    assert not np.array_equal(ours[..., :min(ours.shape[1], 5), :4, :], x[..., :min(ours.shape[1], 5), :4, :])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case,cls,kwargs", LAYERS, ids=[c[0] for c in LAYERS])
def test_gradients_match_keras(case, cls, kwargs, dtype):
    """dL/dx through the layer in training, the same parameters in both engines. For the resampling
    layers Keras differentiates ``affine_transform`` with TensorFlow's registered gradient (the
    upstream gradient resampled through the inverse transform); the scratch backward is that rule."""
    layer, klayer = pair(cls, kwargs, dtype)
    x = images(dtype)
    xt = tf.constant(x)
    kt = klayer.get_random_transformation(xt, training=True)
    layer.fixed_transformation = scratch_transformation(klayer, kt)
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(klayer.transform_images(xt, kt) * dy)
    theirs = tape.gradient(loss, xt).numpy()
    ours = layer.backward(dy)
    if cls in GEOMETRY and kwargs.get("interpolation", "bilinear") == "bilinear":
        tol = dict(rtol=1e-5, atol=2e-5)  # both invert the float32 matrix in float32 (LAPACK vs Eigen: ulps apart)
    else:
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, theirs, **tol, err_msg=case)


def test_gradients_pass_through_an_augmentation_layer_inside_a_model():
    """RandomRotation -> Conv2D -> Flatten -> Dense in training, Keras's layer made to use the
    scratch layer's drawn angles: outputs, dL/dx and the kernel gradients agree (float64)."""
    rng = np.random.default_rng(0)
    f64 = dict(dtype="float64")
    model = scratch.Sequential([scratch.RandomRotation(0.2, seed=1, fill_mode="constant", **f64),
                                scratch.Conv2D(3, 3, activation="tanh", **f64), scratch.Flatten(**f64),
                                scratch.Dense(2, **f64)], dtype="float64", seed=0)
    model.build((None, 7, 8, 2))
    kmodel = twins.keras_ref.to_keras(model)
    x = rng.standard_normal(SHAPE)
    rotation, krotation = model.layers[0], kmodel.layers[0]
    t = rotation.get_random_transformation(x)
    rotation.fixed_transformation = t
    kt = keras_transformation(krotation, t, x.shape)
    krotation.get_random_transformation = lambda data, training=True, seed=None: kt
    y = model.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = model.backward(dy, inputs_needed=True)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        ky = kmodel(xt, training=True)
        loss = tf.reduce_sum(ky * dy)
    kdx, kdw = tape.gradient(loss, [xt, kmodel.layers[1].kernel.value])
    np.testing.assert_allclose(y, ky.numpy(), rtol=1e-6, atol=1e-6)  # TF's float32 blend
    np.testing.assert_allclose(dx, kdx.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[1].grads["kernel"], kdw.numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(dx).max() > 0.01


def ks_uniform(samples, lo, hi):
    """Kolmogorov-Smirnov distance between the samples and the uniform distribution on [lo, hi]."""
    s = np.sort((np.ravel(samples) - lo) / (hi - lo))
    n = len(s)
    return max(np.max(np.arange(1, n + 1) / n - s), np.max(s - np.arange(n) / n))


N_DRAWS = 4000
KS_LIMIT = 1.95 / np.sqrt(N_DRAWS)  # 99.9% critical value: a fixed seed either passes or shows a real bias
DRAWN = [  # (case, class, kwargs, factor of the drawn parameters, documented [lo, hi])
    ("rotation", "RandomRotation", dict(factor=0.1), lambda t, s: t["angle"], (-36.0, 36.0)),
    ("rotation-pair", "RandomRotation", dict(factor=(-0.2, 0.05)), lambda t, s: t["angle"], (-72.0, 18.0)),
    ("translation-height", "RandomTranslation", dict(height_factor=0.2, width_factor=(0.1, 0.3)),
     lambda t, s: np.asarray(t["translations"])[:, 1] / s[1], (-0.2, 0.2)),
    ("translation-width", "RandomTranslation", dict(height_factor=0.2, width_factor=(0.1, 0.3)),
     lambda t, s: np.asarray(t["translations"])[:, 0] / s[2], (0.1, 0.3)),
    ("zoom-height", "RandomZoom", dict(height_factor=(-0.3, 0.2), width_factor=0.5),
     lambda t, s: t["height_zoom"], (0.7, 1.2)),
    ("zoom-width", "RandomZoom", dict(height_factor=(-0.3, 0.2), width_factor=0.5),
     lambda t, s: t["width_zoom"], (0.5, 1.5)),
    ("contrast", "RandomContrast", dict(factor=0.4), lambda t, s: t["contrast_factor"], (1.0, 1.4)),
    ("contrast-pair", "RandomContrast", dict(factor=(0.3, 0.5)), lambda t, s: t["contrast_factor"], (0.7, 1.5)),
    ("brightness", "RandomBrightness", dict(factor=0.2, value_range=(0, 1)), lambda t, s: t["rgb_delta"],
     (-0.2, 0.2)),
    ("brightness-range", "RandomBrightness", dict(factor=(-0.1, 0.3), value_range=(0, 255)),
     lambda t, s: t["rgb_delta"], (-25.5, 76.5)),
]


@pytest.mark.parametrize("case,cls,kwargs,factor,bounds", DRAWN, ids=[c[0] for c in DRAWN])
def test_drawn_factors_cover_the_documented_range(case, cls, kwargs, factor, bounds):
    """Both engines draw uniformly over the range Keras documents (and computes), one draw per image."""
    lo, hi = bounds
    shape = (N_DRAWS, 4, 5, 1)
    x = np.zeros(shape, "float32")
    layer, klayer = pair(cls, kwargs, "float32", seed=11)
    drawn = {"scratch": np.ravel(factor(layer.get_random_transformation(x), shape)),
             "keras": np.ravel(keras.ops.convert_to_numpy(
                 factor(scratch_transformation(klayer, klayer.get_random_transformation(tf.constant(x))), shape)))}
    width = hi - lo
    for engine, d in drawn.items():
        assert d.shape == (N_DRAWS,), (engine, d.shape)
        assert lo - 1e-5 * width <= d.min() and d.max() <= hi + 1e-5 * width, (case, engine, d.min(), d.max())
        assert d.min() < lo + 0.01 * width and d.max() > hi - 0.01 * width, (case, engine, d.min(), d.max())
        assert ks_uniform(d, lo, hi) < KS_LIMIT, (case, engine, ks_uniform(d, lo, hi))


def test_flips_and_crops_are_drawn_like_keras():
    """RandomFlip flips about half the images (one coin per image); RandomCrop's corner is uniform over
    the valid positions, in both engines."""
    x = np.zeros((N_DRAWS, 3, 3, 1), "float32")
    layer, klayer = pair("RandomFlip", {}, "float32", seed=5)
    for flips in (layer.get_random_transformation(x)["flips"],
                  keras.ops.convert_to_numpy(klayer.get_random_transformation(tf.constant(x))["flips"])):
        assert flips.shape == (N_DRAWS, 1, 1, 1)
        assert abs(flips.mean() - 0.5) < 3 * 0.5 / np.sqrt(N_DRAWS)
    x = np.zeros((1, 9, 7, 1), "float32")
    layer, klayer = pair("RandomCrop", dict(height=5, width=4), "float32", seed=5)
    for engine in ("scratch", "keras"):
        starts = np.array([layer.get_random_transformation(x) if engine == "scratch" else
                           scratch_transformation(klayer, klayer.get_random_transformation(tf.constant(x)))
                           for _ in range(300)])
        for axis, count in ((0, 5), (1, 4)):  # 9 - 5 + 1 rows, 7 - 4 + 1 columns of corners
            seen = np.bincount(starts[:, axis], minlength=count)
            assert len(seen) == count and seen.min() > 300 / count / 2, (engine, axis, seen)
