"""Whole models against Keras: outputs, loss and every gradient; training steps; the test set."""

import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import cases, twins
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("arch, masked", [("blog", False), ("lenet", False), ("lenet", True)],
                         ids=["blog", "lenet-dropout-off", "lenet-injected-mask"])
def test_model_outputs_loss_and_gradients_match_keras(arch, masked, dtype):
    ours, theirs = cases.run_model_case(arch, dtype, masked)
    diffs = assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=f"{arch} {dtype}", dtype=dtype)
    model = scratch.build_model(arch)
    assert len(diffs) == 2 + len(model.get_weights())  # output, loss, one gradient per weight


def test_injected_mask_really_drops():
    """The masked run differs from the inference run (the mask is applied, in both engines)."""
    masked, _ = cases.run_model_case("lenet", "float64", True)
    plain, _ = cases.run_model_case("lenet", "float64", False)
    assert not np.allclose(masked[("model", "output")], plain[("model", "output")])


TRAIN_PARAMS = [(a, o, b, d) for a, o, b, dtypes in cases.TRAIN_RUNS for d in dtypes]


@pytest.mark.parametrize("arch, optimizer, batch, dtype", TRAIN_PARAMS,
                         ids=["-".join((a if isinstance(a, str) else a["name"], o, d)) for a, o, _, d in TRAIN_PARAMS])
def test_training_steps_match_keras(arch, optimizer, batch, dtype):
    steps = cases.run_training(arch, optimizer, batch, dtype, tol.TRAIN_STEPS)
    assert len(steps) == tol.TRAIN_STEPS
    first = steps[0][1]
    for step, ours, theirs in steps:  # weights compared after every step
        assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"{arch} {optimizer} {dtype} step {step}",
                      dtype=dtype)
    moved = max(np.abs(steps[-1][1][k] - first[k]).max() for k in first)
    assert moved > 1e-3  # the weights really trained


# -- the 10,000 test images, a model trained in one engine, moved to the other -----------------
def _test_images(preprocess, dtype):
    _, (x_test, y_test) = scratch.load_mnist()
    return scratch.preprocess(x_test, preprocess, dtype=dtype), y_test


def _train_scratch(arch, dtype, n):
    (x_train, y_train), _ = scratch.load_mnist()
    model = scratch.build_model(arch, dtype=dtype, seed=0)
    model.compile(scratch.Adam(0.005))
    model.fit(scratch.preprocess(x_train[:n], model.preprocess, dtype=dtype), y_train[:n], epochs=1,
              batch_size=32, verbose=0)
    return model


def _train_keras(arch, dtype, n):
    """Keras's own ``fit`` (no XLA), under floatx=dtype: fit/predict cast float arrays to floatx."""
    (x_train, y_train), _ = scratch.load_mnist()
    model = scratch.build_model(arch, dtype=dtype, seed=0)
    keras_model = keras_ref.to_keras(model)
    keras_model.compile(optimizer=twins.keras_optimizer("adam", dtype), loss=twins.keras_loss(model),
                        jit_compile=False)
    with twins.keras_floatx(dtype):
        keras_model.fit(scratch.preprocess(x_train[:n], model.preprocess, dtype=dtype), y_train[:n].astype(np.int64),
                        epochs=1, batch_size=32, shuffle=False, verbose=0)
    return keras_model


def _keras_predict(keras_model, x):
    with twins.keras_floatx(x.dtype.name):
        return keras_model.predict(x, batch_size=1000, verbose=0)


def _assert_same_predictions(ours, theirs, y_test, dtype):
    """Same class on every image (float64), or flips only at float32 near-ties (float32)."""
    assert_parity({("model", "logits"): ours}, {("model", "logits"): theirs},
                  tol.for_dtype("MODEL", dtype), context="test-set logits", dtype=dtype)
    flips = np.flatnonzero(ours.argmax(1) != theirs.argmax(1))
    if dtype == "float64":
        assert flips.size == 0, f"{flips.size} test images classified differently in float64: {flips[:10]}"
    else:
        assert flips.size <= tol.TEST_SET_MAX_FLIPS_FLOAT32, f"{flips.size} test images classified differently"
        for i in flips:
            top2 = np.sort(theirs[i])[-2:]
            assert top2[1] - top2[0] < tol.TEST_SET_TIE_MARGIN_FLOAT32, f"image {i}: a flip that is not a near-tie"
    acc_ours, acc_theirs = (ours.argmax(1) == y_test).mean(), (theirs.argmax(1) == y_test).mean()
    assert acc_ours > 0.85 and abs(acc_ours - acc_theirs) * len(y_test) <= flips.size
    return flips.size


@pytest.mark.slow
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_blog_trained_in_scratch_classifies_the_test_set_identically_in_keras(dtype):
    model = _train_scratch("blog", dtype, 4_000)
    x, y = _test_images(model.preprocess, dtype)
    keras_model = keras_ref.to_keras(model)
    _assert_same_predictions(model.predict(x, batch_size=1000), _keras_predict(keras_model, x),
                             y, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_blog_trained_in_keras_classifies_the_test_set_identically_in_scratch(dtype):
    keras_model = _train_keras("blog", dtype, 4_000)
    model = keras_ref.from_keras(keras_model, preprocess="center")
    x, y = _test_images("center", dtype)
    _assert_same_predictions(model.predict(x, batch_size=1000), _keras_predict(keras_model, x),
                             y, dtype)


@pytest.mark.slow
def test_lenet_trained_in_keras_keeps_its_test_accuracy_both_ways(tmp_path):
    keras_model = _train_keras("lenet", "float32", 2_000)
    keras_ref.save_keras_weights(keras_ref.from_keras(keras_model, preprocess="scale"), tmp_path / "lenet.keras")
    model = keras_ref.load_weights_file(tmp_path / "lenet.keras", arch="lenet")
    back = keras_ref.to_keras(model)
    x, y = _test_images("scale", "float32")
    theirs = _keras_predict(keras_model, x)
    assert np.array_equal(_keras_predict(back, x), theirs)  # bit-identical weights, same Keras
    _assert_same_predictions(model.predict(x, batch_size=1000), theirs, y, "float32")
