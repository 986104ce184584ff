"""A named test for each Keras-side trap of ../shared/STYLE.md (and three more found here)."""

import os

import keras
import numpy as np
import pytest

import scratch
from parity_tests import cases, determinism, twins
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity, compare
from parity_tests.determinism import tf


def _parity(layer, x, dtype="float64", dy=None):
    layer.name = layer.name or scratch.models.functional.snake_case(type(layer).__name__)
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    ours, theirs = twins.layer_parity(layer, x)
    if dy is not None:
        ours = twins.scratch_layer_pass(layer, x, dy)
        theirs = twins.keras_layer_pass(twins.keras_twin(layer), x, dy)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=type(layer).__name__, dtype=dtype)
    return ours, theirs


def test_trap_same_padding_asymmetric_vs_keras():
    """Odd 'same' totals put the extra row/column at the bottom/right in Keras, and here."""
    x = np.zeros((1, 6, 6, 1))
    x[0, 0, 0, 0], x[0, 5, 5, 0] = 1.0, 2.0  # marks the corners, where the padding goes
    conv = scratch.Conv2D(1, 2, padding="same", dtype="float64")  # total 1: 0 before, 1 after
    conv.build((None, 6, 6, 1))
    conv.params["kernel"][...] = np.arange(1.0, 5.0).reshape(2, 2, 1, 1)
    ours, theirs = _parity(conv, x)
    assert ours[("conv2d", "output")][0, 5, 5, 0] == 2.0  # the bottom-right cell meets only kernel[0, 0]
    for kind in ("MaxPooling2D", "AveragePooling2D"):
        _parity(getattr(scratch, kind)(2, strides=1, padding="same", dtype="float64"), -np.abs(x) - 1)


def test_trap_flatten_order_vs_keras():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    ours, theirs = _parity(scratch.Flatten(dtype="float64"), x)
    assert np.array_equal(ours[("flatten", "output")], theirs[("flatten", "output")])
    channels_first = x.transpose(0, 3, 1, 2).reshape(2, -1)
    assert not np.array_equal(channels_first, theirs[("flatten", "output")])  # the other order is not Keras's


def test_trap_cross_correlation_vs_keras():
    conv = scratch.Conv2D(1, 3, dtype="float64")
    conv.build((None, 5, 5, 1))
    conv.params["kernel"][...] = np.arange(9.0).reshape(3, 3, 1, 1)  # asymmetric: a flip shows
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 1))
    ours, theirs = _parity(conv, x)
    conv.params["kernel"][...] = conv.params["kernel"][::-1, ::-1]
    flipped = conv.forward(x)
    assert np.abs(flipped - theirs[("conv2d", "output")]).max() > 1.0  # true convolution would differ


@pytest.mark.parametrize("pool, strides, padding", [(2, 2, "valid"), (3, 1, "valid"), (3, 2, "same"), (2, 1, "same")])
def test_trap_maxpool_ties_vs_tensorflow_gradient(pool, strides, padding):
    """Ties send the whole gradient to one cell (TensorFlow's MaxPoolGrad), in both engines."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (2, 7, 7, 2)).astype(np.float64)  # 0/1 inputs: most windows tie
    x[0, :, :, 0] = 1.0  # a channel where every window is one big tie
    dy_shape = (2,) + scratch.MaxPooling2D(pool, strides, padding).compute_output_shape((2, 7, 7, 2))[1:]
    dy = rng.standard_normal(dy_shape)
    ours, theirs = _parity(scratch.MaxPooling2D(pool, strides, padding, dtype="float64"), x, dy=dy)
    dx = theirs[("max_pooling2d", "grad input")]
    assert np.isclose(dx.sum(), dy.sum())  # each window's gradient went to exactly one cell, not to every tie


def test_trap_maxpool_same_pads_never_win_and_avgpool_counts_real_cells_vs_keras():
    x = -1.0 - np.random.default_rng(2).random((2, 5, 5, 1))  # all negative: a zero pad would win
    _parity(scratch.MaxPooling2D(3, 2, "same", dtype="float64"), x)
    ours, _ = _parity(scratch.AveragePooling2D(2, 2, "same", dtype="float64"), np.ones((1, 5, 5, 1)))
    assert np.all(ours[("average_pooling2d", "output")] == 1.0)  # corner windows divide by real cells


def test_trap_relu_gradient_at_zero_vs_keras():
    x = np.array([[-1.0, 0.0, 0.0, 2.0]]).reshape(1, 1, 2, 2)
    ours, theirs = _parity(scratch.ReLU(dtype="float64"), x, dy=np.ones_like(x))
    assert np.array_equal(theirs[("re_lu", "grad input")].ravel(), [0.0, 0.0, 0.0, 1.0])


def test_trap_keras_float64_really_float64():
    """A Keras layer without dtype= computes float32 even on float64 input; ours are float64 throughout."""
    x = np.random.default_rng(3).standard_normal((2, 6))
    default = keras.layers.Dense(3)
    assert np.asarray(default(x)).dtype == np.float32  # the trap itself
    dense = scratch.Dense(3, dtype="float64")
    ours, theirs = _parity(dense, x)  # passes LAYER_FLOAT64 (1e-12) and dtype float64 checks
    keras32 = keras.layers.Dense(3)
    keras32.build((None, 6))
    keras32.set_weights(dense.get_weights())
    gap = np.abs(np.asarray(keras32(x), np.float64) - theirs[("dense", "output")]).max()
    assert gap > 1e3 * tol.LAYER_FLOAT64.atol  # float32 Keras would be caught


def test_trap_onednn_off_and_op_determinism_on():
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0" and os.environ["TF_DETERMINISTIC_OPS"] == "1"
    assert not determinism.onednn_enabled()
    from tensorflow.python.framework import config

    assert config.is_op_determinism_enabled()
    case = cases.case_by_id("conv-lenet2")  # the lenet-sized conv: same inputs, same bits, twice
    (_, first), (_, second) = cases.run_layer_case(case, "float32"), cases.run_layer_case(case, "float32")
    assert all(first[k].tobytes() == second[k].tobytes() for k in first)


def _loss_parity(loss_name, from_logits, y_pred, y_true, dtype):
    ours = getattr(scratch, loss_name)(from_logits=from_logits)
    value = ours(y_true, y_pred)
    grad = ours.backward()
    theirs = getattr(keras.losses, loss_name)(from_logits=from_logits, dtype=dtype)
    p = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(p)
        kvalue = theirs(tf.constant(y_true), p)
    kgrad = tape.gradient(kvalue, p)
    return assert_parity({("loss", "value"): np.asarray(value, dtype), ("loss", "grad y_pred"): grad},
                         {("loss", "value"): kvalue.numpy(), ("loss", "grad y_pred"): kgrad.numpy()},
                         tol.for_dtype("LAYER", dtype), context=f"{loss_name} from_logits={from_logits}", dtype=dtype)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("loss_name", ["SparseCategoricalCrossentropy", "CategoricalCrossentropy"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_trap_both_loss_classes_vs_keras_losses(loss_name, from_logits, dtype):
    """Batch-mean reduction (the 1/N in the gradient), logits and probabilities, both label forms."""
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    y_pred = logits if from_logits else scratch.activations.softmax(logits)
    labels = rng.integers(0, 5, 6)
    y_true = labels if loss_name.startswith("Sparse") else np.eye(5, dtype=dtype)[labels]
    _loss_parity(loss_name, from_logits, y_pred, y_true, dtype)
    if from_logits:  # extreme logits stay finite and exact (log-softmax, not log(softmax))
        _loss_parity(loss_name, True, (logits * 3000).astype(dtype), y_true, dtype)


@pytest.mark.parametrize("loss_name", ["SparseCategoricalCrossentropy", "CategoricalCrossentropy"])
def test_trap_cross_entropy_clipping_vs_keras_on_probabilities(loss_name):
    """Probabilities below 1e-7 (and above 1 - 1e-7) are clipped as keras.losses clips them."""
    p = np.array([[1e-12, 1 - 2e-12, 1e-12], [0.2, 0.3, 0.5], [1e-9, 0.5, 0.5 - 1e-9]])
    labels = np.array([0, 1, 0])
    y_true = labels if loss_name.startswith("Sparse") else np.eye(3)[labels]
    diffs = _loss_parity(loss_name, False, p, y_true, "float64")
    value = [d for d in diffs if d.tensor == "value"][0]
    assert value.expected < -np.log(1e-7)  # finite: the clip at 1e-7 bounds it


def test_trap_keras_loss_computes_in_float32_unless_given_dtype():
    """Found here: a Keras loss casts float64 predictions to floatx (float32) unless dtype= is given."""
    logits, labels = np.random.default_rng(5).standard_normal((4, 3)), np.array([0, 1, 2, 0])
    assert keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits).dtype == "float32"
    model = scratch.build_model("blog", dtype="float64")
    assert twins.keras_loss(model)(labels, logits).dtype == "float64"


def test_trap_keras_optimizer_rounds_hyperparameters_to_float32():
    """Found here: Keras's float64 SGD momentum uses float64(float32(0.9)) unless given np.float64."""
    w0, g = np.array([1.0, -2.0, 3.0]), np.array([0.3, 0.1, -0.7])

    def two_steps(opt):
        v = keras.Variable(w0, dtype="float64")
        for _ in range(2):
            opt.apply_gradients([(tf.constant(g), v)])
        return v.numpy()

    lr, mu = (twins.OPTIMIZERS["momentum"][1][k] for k in ("learning_rate", "momentum"))
    with twins.keras_floatx("float64"):
        rounded = two_steps(keras.optimizers.SGD(lr, momentum=mu))
    exact = two_steps(twins.keras_optimizer("momentum", "float64"))
    ours = {"w": w0.copy()}
    opt = twins.scratch_optimizer("momentum")
    for _ in range(2):
        opt.step(ours, {"w": g.copy()})
    assert np.array_equal(ours["w"], exact)
    assert not np.array_equal(rounded, exact)


def test_trap_keras_fit_and_predict_cast_inputs_to_floatx():
    """Found here: Keras's fit/predict cast float64 arrays to floatx, so float64 runs set floatx=float64."""
    model = scratch.build_model("blog", dtype="float64", seed=0)
    keras_model = twins.keras_ref.to_keras(model)
    x = np.random.default_rng(6).random((8, 28, 28, 1)) - 0.5
    ours = model.predict(x)
    plain = keras_model.predict(x, verbose=0)
    with twins.keras_floatx("float64"):
        fixed = keras_model.predict(x, verbose=0)
    assert compare({("m", "out"): ours}, {("m", "out"): fixed}, tol.MODEL_FLOAT64)[0].ok
    assert not compare({("m", "out"): ours}, {("m", "out"): plain}, tol.MODEL_FLOAT64)[0].ok


def test_trap_glorot_fans_vs_keras():
    shape = (3, 3, 4, 8)
    limit = np.sqrt(6.0 / (3 * 3 * 4 + 3 * 3 * 8))
    theirs = keras.initializers.GlorotUniform(seed=0)(shape).numpy()
    ours = scratch.initializers.glorot_uniform(shape, np.random.default_rng(0))
    for w in (ours, theirs):
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
