"""Resampling and the new normalizations against Keras 3, as whole models (issue 20): a Keras
model with UpSampling2D(bilinear), Resizing (bicubic, crop to aspect ratio), CenterCrop,
GroupNormalization and LayerNormalization over (width, channels) converts to scratch and back,
and both compute the same output and gradients; what the engine does not compute is refused in
one line naming the layer, its class and the option."""

from parity_tests import twins  # noqa: I001  (TensorFlow deterministic first)
from parity_tests.determinism import tf

import keras
import numpy as np
import pytest

import keras_ref
from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity


def _keras_model(dtype):
    with twins.keras_floatx(dtype):
        inputs = keras.Input((6, 5, 2))
        x = keras.layers.UpSampling2D((2, 2), interpolation="bilinear", name="up")(inputs)
        x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
        x = keras.layers.GroupNormalization(groups=2, name="gn")(x)
        x = keras.layers.Resizing(7, 7, interpolation="bicubic", crop_to_aspect_ratio=True, name="resize")(x)
        x = keras.layers.LayerNormalization(axis=[2, 3], name="ln")(x)
        x = keras.layers.CenterCrop(5, 4, name="crop")(x)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        outputs = keras.layers.Dense(3, name="dense")(x)
        return keras.Model(inputs, outputs)


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_model_converts_both_ways_and_agrees(dtype):
    keras_model = _keras_model(dtype)
    rng = np.random.default_rng(0)
    for layer in keras_model.layers:  # non-trivial gamma/beta
        if layer.name in ("gn", "ln"):
            layer.set_weights([w + rng.uniform(-0.5, 0.5, w.shape).astype(dtype) for w in layer.get_weights()])
    model = keras_ref.from_keras(keras_model)
    again = keras_ref.to_keras(model)
    for a, b in zip(keras_model.layers[1:], again.layers[1:]):
        ca, cb = a.get_config(), b.get_config()
        assert {k: v for k, v in ca.items() if k != "name"} == {k: v for k, v in cb.items() if k != "name"}
    assert model.get_layer("ln").params["gamma"].shape == (7, 4)
    x = rng.standard_normal((2, 6, 5, 2)).astype(dtype)
    y = np.array([0, 2])
    model._set_input_grads(True)
    loss_fn = {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}
    loss, out = model.compute_gradients(x, y, loss=loss_fn, trainable_only=False)
    xt = tf.constant(x)
    variables = keras_model.trainable_variables
    with tf.GradientTape() as tape:
        tape.watch(xt)
        k_out = keras_model(xt)
        k_loss = twins.keras_loss_from_spec(loss_fn, dtype)(tf.constant(y), k_out)
    grads = tape.gradient(k_loss, variables)
    ours = {("model", "output"): out, ("model", "loss"): np.array(loss, dtype)}
    theirs = {("model", "output"): k_out.numpy(), ("model", "loss"): k_loss.numpy()}
    for v, g in zip(variables, grads):
        layer = v.path.split("/")[0]
        ours[(layer, v.name)] = model.get_layer(layer).grads[v.name]
        theirs[(layer, v.name)] = g.numpy()
    assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=dtype, dtype=dtype)


@pytest.mark.parametrize("make, fragments", [
    (lambda: keras.layers.UpSampling2D(interpolation="area", name="u"),
     ["'u' (UpSampling2D)", "interpolation='area'"]),
    (lambda: keras.layers.Resizing(3, 3, interpolation="lanczos3", name="u"),
     ["'u' (Resizing)", "interpolation='lanczos3'"]),
    (lambda: keras.layers.Resizing(3, 3, antialias=True, name="u"), ["'u' (Resizing)", "antialias=True"]),
    (lambda: keras.layers.GroupNormalization(groups=2, axis=1, name="u"), ["'u' (GroupNormalization)", "axis=1"]),
])
def test_from_keras_refuses_in_one_line(make, fragments):
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, make()(inputs))
    with pytest.raises(ValueError) as e:
        keras_ref.from_keras(model)
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("method, dtype", [("area", "float32"), ("lanczos3", "float64")])
def test_tensorflow_cannot_differentiate_what_the_engine_refuses(method, dtype):
    """Why ``"area"`` and the lanczos kernels are refused: TensorFlow registers no gradient for
    ResizeArea, and ScaleAndTranslateGrad takes float32 only (a float64 model cannot train)."""
    xt = tf.constant(np.ones((1, 3, 3, 1), dtype))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = keras.ops.image.resize(xt, (5, 5), interpolation=method)
    with pytest.raises((LookupError, tf.errors.InvalidArgumentError)):
        tape.gradient(y, xt)
