"""Whole models of issue 20's vocabulary in parity with Keras: a text CNN on integer token ids, and a
CNN with SpatialDropout2D, GaussianNoise and GaussianDropout trained in training mode with the same
random draws in both engines.

The text CNN is Kim's (2014) shape, shrunk: Embedding -> Conv1D (ReLU) -> GlobalMaxPooling1D -> Dense.
"""

from parity_tests.determinism import tf  # noqa: I001  (TensorFlow deterministic before Keras loads)

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import cases, twins
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity

VOCAB, STEPS_LEN, BATCH = 40, 12, 6


def text_cnn(dtype, seed=0):
    layers = [scratch.Embedding(VOCAB, 8, dtype=dtype), scratch.Conv1D(16, 3, activation="relu", dtype=dtype),
              scratch.GlobalMaxPooling1D(dtype=dtype), scratch.Dense(4, dtype=dtype)]
    model = scratch.Sequential(layers, input_shape=(STEPS_LEN,), dtype=dtype, seed=seed, name="text_cnn",
                               loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    # Keras's Embedding draws in [-0.05, 0.05]: rows of that size barely move the maxima, so larger ones
    model.layers[0].set_weights([np.random.default_rng(seed).standard_normal((VOCAB, 8))])
    return model


def tokens(seed=0, n=BATCH):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, (n, STEPS_LEN)).astype(np.int32), rng.integers(0, 4, n).astype(np.int64)


def noisy_cnn(dtype, seed=0):
    x = scratch.Input((8, 8, 3), dtype=dtype)
    y = scratch.Conv2D(4, 3, activation="relu", dtype=dtype)(x)
    y = scratch.SpatialDropout2D(0.4, dtype=dtype)(y)
    y = scratch.GaussianNoise(0.3, dtype=dtype)(y)
    y = scratch.MaxPooling2D(dtype=dtype)(y)
    y = scratch.Flatten(dtype=dtype)(y)
    y = scratch.GaussianDropout(0.3, dtype=dtype)(y)
    return scratch.Model(x, scratch.Dense(5, dtype=dtype)(y), seed=seed, name="noisy_cnn",
                         loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": True})


def train_steps(model, batches, optimizer, noise_seed=0, dense_gradients=False):
    """Both engines from the same weights, one training step per batch, each step's random layers
    given the same draws (``twins.injected_noise``); yields ``(step, scratch, keras)`` weights and losses.
    ``dense_gradients``: Keras's optimizer gets its gradients as dense tensors (an Embedding's come as
    ``tf.IndexedSlices``, see ``test_keras_adam_squares_each_occurrence_of_an_embedding_row``)."""
    dtype = model.dtype.name
    model.compile(twins.scratch_optimizer(optimizer))
    km = keras_ref.to_keras(model)
    opt = twins.keras_optimizer(optimizer, dtype)
    loss_fn = twins.keras_loss(model)
    leaves = list(scratch.leaf_layers(model))
    for step, (x, y) in enumerate(batches, start=1):
        shapes = [(layer, (len(x),) + tuple(layer.input_shape[1:])) for layer in leaves]
        draws = twins.noise_draws(shapes, seed=[noise_seed, step])
        with twins.injected_noise(leaves, km.layers, draws):
            s_loss, _ = model.train_step(x, y)
            with tf.GradientTape() as tape:
                k_loss = loss_fn(tf.constant(y), km(tf.constant(x), training=True))
            grads = tape.gradient(k_loss, km.trainable_variables)
            if dense_gradients:
                grads = [tf.convert_to_tensor(g) for g in grads]
            opt.apply_gradients(zip(grads, km.trainable_variables))
        ours = twins.weights_of(model.layers)
        ours[("model", "loss")] = np.asarray(s_loss, dtype=dtype)
        theirs = twins.weights_of(km.layers)
        theirs[("model", "loss")] = np.asarray(k_loss.numpy(), dtype=dtype)
        yield step, ours, theirs


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_text_cnn_output_and_gradients_match_keras(dtype):
    model = text_cnn(dtype)
    assert model.inputs[0].dtype == np.int32
    x, y = tokens()
    ours, theirs = twins.model_parity(model, x, y)
    diffs = assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=f"text cnn {dtype}", dtype=dtype)
    assert {("embedding", "grad embeddings"), ("dense", "grad kernel")} <= {(d.layer, d.tensor) for d in diffs}
    # the embedding gradient is a scatter-add: rows of tokens never seen are exactly 0 in both engines
    unseen = sorted(set(range(VOCAB)) - set(x.ravel().tolist()))
    assert unseen and not ours[("embedding", "grad embeddings")][unseen].any()
    assert ours[("embedding", "grad embeddings")].any()


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw", "adam-global-clipnorm", "adam-clipnorm",
                                       "rmsprop-clipvalue"])
def test_text_cnn_trains_in_parity_with_keras(optimizer, dtype):
    """Three steps on Keras's own (sparse) embedding gradients: the same weights after each, whatever the
    optimizer squares or clips (see the next test)."""
    model = text_cnn(dtype, seed=1)
    batches = [tokens(seed) for seed in range(3)]
    for step, ours, theirs in train_steps(model, batches, optimizer):
        assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"text cnn {optimizer} step {step} {dtype}",
                      dtype=dtype)


def test_keras_adam_squares_each_occurrence_of_an_embedding_row():
    """Keras's TensorFlow backend gives an Embedding's gradient as ``tf.IndexedSlices``, one slice per
    occurrence of a token, and its Adam squares those slices one by one (``ops.square`` is elementwise
    on the slices) before they are added: the second moment of a row seen twice gets ``g1**2 + g2**2``,
    not ``(g1 + g2)**2``. The scratch engine's optimizers take the Embedding's slices too
    (``Optimizer.step(..., sparse=...)``): equal to Keras on its sparse gradients, and not to Keras made
    to see the summed (dense) gradient, so the test would fail if the slices were ignored."""
    x, y = tokens(0)
    assert len(set(x.ravel().tolist())) < x.size  # tokens repeat
    _, ours, sparse = list(train_steps(text_cnn("float64", seed=1), [(x, y)], "adam"))[0]
    assert_parity(ours, sparse, tol.TRAIN_FLOAT64, context="adam on Keras's sparse gradients", dtype="float64")
    _, ours, dense = list(train_steps(text_cnn("float64", seed=1), [(x, y)], "adam", dense_gradients=True))[0]
    gap = np.abs(ours[("embedding", "embeddings")] - dense[("embedding", "embeddings")]).max()
    assert gap > 1e-4, gap
    assert_parity({k: v for k, v in ours.items() if k[0] == "dense"},
                  {k: v for k, v in dense.items() if k[0] == "dense"}, tol.TRAIN_FLOAT64, dtype="float64")


def test_text_cnn_from_keras_takes_integer_token_ids():
    """A Keras text model (int32 input) converts, computes the same, and predicts from token ids."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((STEPS_LEN,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 6, name="emb")(inp)
    h = keras.layers.Dense(5, activation="relu", name="per_position")(h)
    h = keras.layers.GlobalMaxPooling1D(name="gmp")(h)
    km = keras.Model(inp, keras.layers.Dense(3, name="head")(h))
    model = keras_ref.from_keras(km)
    assert model.inputs[0].dtype == np.int32 and isinstance(model.get_layer("emb"), scratch.Embedding)
    x, _ = tokens(5)
    np.testing.assert_allclose(model.predict(x), km(x).numpy(), rtol=1e-5, atol=1e-6)
    again = keras_ref.to_keras(model)
    assert again.inputs[0].dtype == "int32"
    np.testing.assert_allclose(again(x).numpy(), km(x).numpy(), rtol=1e-6, atol=1e-7)
    seq = keras.Sequential([keras.Input((STEPS_LEN,), dtype="int32"), keras.layers.Embedding(VOCAB, 4),
                            keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    ours = keras_ref.from_keras(seq)
    np.testing.assert_allclose(ours.predict(x), seq(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_noisy_cnn_training_step_matches_keras_with_the_same_draws(dtype):
    model = noisy_cnn(dtype)
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((4, 8, 8, 3)).astype(dtype), rng.integers(0, 5, 4)) for _ in range(2)]
    for step, ours, theirs in train_steps(model, batches, "sgd"):
        assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"noisy cnn step {step} {dtype}", dtype=dtype)


def test_noisy_cnn_draws_matter():
    """The comparison above can fail: with different draws in Keras, one step already disagrees, and a
    training step differs from an inference pass."""
    model = noisy_cnn("float64")
    x = np.random.default_rng(4).standard_normal((4, 8, 8, 3))
    km = keras_ref.to_keras(model)
    leaves = list(scratch.leaf_layers(model))
    shapes = [(layer, (4,) + tuple(layer.input_shape[1:])) for layer in leaves]
    with twins.injected_noise(leaves, km.layers, twins.noise_draws(shapes, seed=1)):
        ours = model.forward(x, training=True)
        same = km(x, training=True).numpy()
    with twins.injected_noise(leaves, km.layers, twins.noise_draws(shapes, seed=2)):
        other = km(x, training=True).numpy()
    np.testing.assert_allclose(ours, same, rtol=1e-12, atol=1e-12)
    assert np.abs(ours - other).max() > 1e-2
    assert np.abs(ours - model.forward(x)).max() > 1e-2
    np.testing.assert_allclose(model.forward(x), km(x).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_check_passes_the_text_cnn_and_the_noisy_cnn_saved_as_keras_files(tmp_path, dtype):
    """``python -m parity_tests.check`` on each model saved as ``.keras``: integer token ids drawn below the
    Embedding's ``input_dim``, every layer row and the whole model within tolerance."""
    from parity_tests import check

    for name, model in (("text", text_cnn("float32")), ("noisy", noisy_cnn("float32"))):
        path = tmp_path / f"{name}.keras"
        keras_ref.to_keras(model).save(path)
        lines = []
        status = check.main([str(path), "--dtype", dtype], print_fn=lines.append)
        assert status == check.EXIT_OK, "\n".join(lines)
        table = "\n".join(lines)
        assert ("Embedding" in table) == (name == "text") and ("SpatialDropout2D" in table) == (name == "noisy")
