"""Whole models of Keras's CNN vocabulary beyond 2-D image classifiers (issue 20), converted from Keras and
compared: outputs and every gradient (inputs and weights), then one training step (weights, moving statistics
included, and the loss), float32 and float64.

Each part is self-contained; tests are prefixed by their part (``test_conv_...``: the N-d and transposed
convolutions).
"""

from parity_tests.determinism import tf  # noqa: I001  (TensorFlow deterministic before Keras loads)

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import tolerances as tol
from parity_tests import twins
from parity_tests.compare import assert_parity
from parity_tests.test_functional_parity import _keras_grads, _scratch_grads

L = keras.layers


# -- the N-d and transposed convolutions ------------------------------------------------------------
# (Keras model builder, loss of its training step, targets of a batch of n from a generator)

def conv_time_series_fcn():
    """A 1-D fully convolutional time-series classifier (Wang et al. 2017, shrunk): Conv1D -> BN -> ReLU three
    times (same, causal dilated, strided), then Flatten -> Dense. No convolution bias before BatchNormalization
    (its gradient is 0 in theory in training mode: rounding noise in both engines, nothing to compare)."""
    return keras.Sequential([
        keras.Input((16, 3)),
        L.Conv1D(8, 5, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Conv1D(8, 3, padding="causal", dilation_rate=2, use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Conv1D(6, 3, strides=2, use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Flatten(), L.Dense(3),
    ], name="time_series_fcn")


def conv_small_3d_cnn():
    """A small volumetric classifier: Conv3D -> BatchNormalization (over a 5-D tensor) -> ReLU, a strided grouped
    Conv3D, Flatten -> Dense."""
    return keras.Sequential([
        keras.Input((6, 7, 5, 2)),
        L.Conv3D(4, 3, use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Conv3D(4, (2, 2, 1), strides=2, padding="same", groups=2),
        L.Flatten(), L.Dense(2),
    ], name="small_3d_cnn")


def conv_autoencoder():
    """A convolutional autoencoder (Keras's tutorial shape): strided Conv2D down, Conv2DTranspose up, a sigmoid
    Conv2D reconstruction (flattened for the binary cross-entropy against the input pixels)."""
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
        L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(1, 3, padding="same", activation="sigmoid"),
        L.Flatten(),
    ], name="autoencoder")


def _generator_layers():
    return [L.Dense(4 * 4 * 8, use_bias=False), L.BatchNormalization(), L.LeakyReLU(0.2), L.Reshape((4, 4, 8)),
            L.Conv2DTranspose(6, 4, strides=2, padding="same", use_bias=False), L.BatchNormalization(),
            L.LeakyReLU(0.2),
            L.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")]


def _discriminator_layers():
    return [L.Conv2D(4, 4, strides=2, padding="same"), L.LeakyReLU(0.2),
            L.Conv2D(8, 4, strides=2, padding="same"), L.LeakyReLU(0.2),
            L.Flatten(), L.Dense(1)]


def conv_dcgan_generator():
    """DCGAN's generator (Radford et al. 2015, shrunk): noise -> Dense -> BN -> Reshape -> Conv2DTranspose stride 2
    (-> BN -> LeakyReLU) -> Conv2DTranspose stride 2, tanh: a 16x16 image."""
    return keras.Sequential([keras.Input((5,))] + _generator_layers(), name="generator")


def conv_dcgan_discriminator():
    """DCGAN's discriminator: strided Conv2D -> LeakyReLU twice, Flatten -> Dense(1) logit."""
    return keras.Sequential([keras.Input((16, 16, 1))] + _discriminator_layers(), name="discriminator")


def conv_dcgan_generator_step():
    """The generator's training step of a DCGAN: generator then the frozen discriminator, labels "real" (1)."""
    layers = _generator_layers() + _discriminator_layers()
    for la in layers[-len(_discriminator_layers()):]:
        la.trainable = False
    return keras.Sequential([keras.Input((5,))] + layers, name="dcgan_generator_step")


BCE_LOGITS = {"class_name": "BinaryCrossentropy", "from_logits": True}
CONV_MODELS = {  # name: (builder, loss spec, targets(rng, x, n))
    "time_series_fcn": (conv_time_series_fcn, {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
                        lambda rng, x, n: rng.integers(0, 3, n)),
    "small_3d_cnn": (conv_small_3d_cnn, {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
                     lambda rng, x, n: rng.integers(0, 2, n)),
    "autoencoder": (conv_autoencoder, {"class_name": "BinaryCrossentropy"}, lambda rng, x, n: x.reshape(n, -1)),
    "dcgan_generator": (conv_dcgan_generator, None, None),  # trained through the next one
    "dcgan_discriminator": (conv_dcgan_discriminator, BCE_LOGITS,
                            lambda rng, x, n: rng.integers(0, 2, (n, 1)).astype(x.dtype)),
    "dcgan_generator_step": (conv_dcgan_generator_step, BCE_LOGITS, lambda rng, x, n: np.ones((n, 1), x.dtype)),
}


def _conv_pair(name, dtype):
    """The Keras model (Keras's own initial weights, in ``dtype``) and its scratch twin by ``from_keras``."""
    make, loss, _ = CONV_MODELS[name]
    with twins.keras_floatx(dtype):
        keras.utils.set_random_seed(0)
        km = make()
    return km, keras_ref.from_keras(km, loss=loss)


def _conv_input(km, dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(km.inputs[0].shape[1:])
    return rng.random(shape).astype(dtype) if km.name == "autoencoder" else rng.standard_normal(shape).astype(dtype)


def _conv_randomize_statistics(model, km, seed=0):
    """Random moving statistics (and gamma/beta) in both, so inference-mode BatchNormalization is not the identity."""
    rng = np.random.default_rng([seed, 3])
    for layer in model.layers:
        if isinstance(layer, scratch.BatchNormalization):
            c = layer.params["gamma"].shape
            values = [rng.uniform(0.5, 1.5, c), rng.standard_normal(c), 0.5 * rng.standard_normal(c),
                      rng.uniform(0.5, 2.0, c)]
            layer.set_weights(values)
            km.get_layer(layer.name).set_weights([v.astype(layer.dtype) for v in values])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONV_MODELS))
def test_conv_model_outputs_and_gradients_match_keras(name, dtype):
    km, model = _conv_pair(name, dtype)
    assert isinstance(model, scratch.Sequential)
    assert [type(la).__name__ for la in model.layers] == [type(la).__name__ for la in km.layers]
    _conv_randomize_statistics(model, km)
    assert [la.output_shape for la in model.layers] == [tuple(la.output.shape) for la in km.layers]
    x = _conv_input(km, dtype, 3)
    dy = np.random.default_rng(1).standard_normal((3,) + tuple(km.outputs[0].shape[1:])).astype(dtype)
    theirs = _keras_grads(km, [x], [dy])
    ours = _scratch_grads(model, [x], [dy])
    assert {k for k in ours if k[1] == "grad"} == {k for k in theirs if k[1] == "grad"}
    diffs = assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=f"{name} {dtype}", dtype=dtype)
    assert len(diffs) == 2 + len(km.trainable_variables)  # output, dL/dx, every trainable weight


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [n for n, (_, loss, _) in CONV_MODELS.items() if loss is not None])
def test_conv_model_training_step_matches_keras(name, dtype):
    """One Adam step in training mode (BatchNormalization on batch statistics, its moving statistics updated):
    the loss, then every weight of every layer, trainable or not, frozen ones unchanged in both."""
    km, model = _conv_pair(name, dtype)
    _, loss_spec, targets = CONV_MODELS[name]
    x = _conv_input(km, dtype, 4)
    y = targets(np.random.default_rng(2), x, 4)
    model.compile(twins.scratch_optimizer("adam"))
    before = twins.weights_of(model.layers)
    s_loss, _ = model.train_step(x, y)
    opt, loss_fn = twins.keras_optimizer("adam", dtype), twins.keras_loss_from_spec(loss_spec, dtype)
    variables = km.trainable_variables
    with tf.GradientTape() as tape:
        k_loss = loss_fn(tf.constant(y), km(tf.constant(x), training=True))
    opt.apply_gradients(zip(tape.gradient(k_loss, variables), variables))
    ours, theirs = twins.weights_of(model.layers), twins.weights_of(km.layers)
    assert set(ours) == set(theirs)
    assert_parity({("model", "loss"): np.asarray(s_loss, dtype)}, {("model", "loss"): np.asarray(k_loss)},
                  tol.for_dtype("MODEL", dtype), context=f"{name} {dtype} loss", dtype=dtype)
    assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"{name} {dtype} step 1", dtype=dtype)
    frozen = {(la.name, k) for la in model.layers if not la.trainable for k in la._weights()}
    moved = [k for k in ours if not np.array_equal(ours[k], before[k])]
    assert moved and not frozen & set(moved)  # trained, and the frozen discriminator stayed bit-identical
    assert (name != "dcgan_generator_step") or frozen


# -- a U-Net: skip connections concatenated across the resolutions ------------------------------------

def unet():
    """A two-level U-Net (Ronneberger et al. 2015, shrunk) for per-pixel classes: Conv2D blocks down with
    MaxPooling2D, Conv2DTranspose up, each up level concatenated with the down level of its size."""
    x = keras.Input((16, 16, 2))
    d1 = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    d2 = L.Conv2D(8, 3, padding="same", activation="relu")(L.MaxPooling2D()(d1))
    bottom = L.Conv2D(8, 3, padding="same", activation="relu")(L.MaxPooling2D()(d2))
    u2 = L.Concatenate()([L.Conv2DTranspose(8, 2, strides=2)(bottom), d2])
    u2 = L.Conv2D(8, 3, padding="same", activation="relu")(u2)
    u1 = L.Concatenate()([L.Conv2DTranspose(4, 2, strides=2)(u2), d1])
    u1 = L.Conv2D(4, 3, padding="same", activation="relu")(u1)
    return keras.Model(x, L.Conv2D(3, 1)(u1), name="unet")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unet_outputs_gradients_and_training_step_match_keras(dtype):
    """Outputs and every gradient, then one Adam step on per-pixel labels (logits, sparse cross-entropy
    over the class axis), weights compared after it."""
    with twins.keras_floatx(dtype):
        keras.utils.set_random_seed(0)
        km = unet()
    loss_spec = {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}
    model = keras_ref.from_keras(km, loss=loss_spec)
    assert isinstance(model, scratch.Model) and sum(isinstance(la, scratch.Concatenate) for la in model.layers) == 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 16, 2)).astype(dtype)
    dy = rng.standard_normal((2, 16, 16, 3)).astype(dtype)
    diffs = assert_parity(_scratch_grads(model, [x], [dy]), _keras_grads(km, [x], [dy]), tol.for_dtype("MODEL", dtype),
                          context=f"unet {dtype}", dtype=dtype)
    assert len(diffs) == 2 + len(km.trainable_variables)
    y = rng.integers(0, 3, (2, 16, 16))
    model.compile(twins.scratch_optimizer("adam"))
    s_loss, _ = model.train_step(x, y)
    opt, loss_fn = twins.keras_optimizer("adam", dtype), twins.keras_loss_from_spec(loss_spec, dtype)
    with tf.GradientTape() as tape:
        k_loss = loss_fn(tf.constant(y), km(tf.constant(x), training=True))
    opt.apply_gradients(zip(tape.gradient(k_loss, km.trainable_variables), km.trainable_variables))
    assert_parity({("model", "loss"): np.asarray(s_loss, dtype)}, {("model", "loss"): np.asarray(k_loss)},
                  tol.for_dtype("MODEL", dtype), context=f"unet {dtype} loss", dtype=dtype)
    assert_parity(twins.weights_of(model.layers), twins.weights_of(km.layers), tol.for_dtype("TRAIN", dtype),
                  context=f"unet {dtype} step 1", dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unet_saved_as_keras_file_passes_check(tmp_path, dtype):
    from parity_tests import check

    keras.utils.set_random_seed(0)
    path = tmp_path / "unet.keras"
    unet().save(path)
    lines = []
    assert check.main([str(path), "--dtype", dtype], print_fn=lines.append) == check.EXIT_OK, "\n".join(lines)
