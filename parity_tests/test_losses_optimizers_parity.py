"""Losses and optimizer options against Keras (issue 10).

Every loss configuration (class, from_logits, label_smoothing, reduction) in float32 and
float64: the value and dL/dy_pred (``tf.GradientTape`` with an upstream gradient) on inputs
that include the probability clip's both sides and its ends. Configs equal Keras's and load in
Keras. The optimizer options are trained 50 steps in ``test_models`` (``cases.TRAIN_RUNS``);
here we check their clipping really acts on those runs.
"""

from parity_tests import twins  # noqa: I001  (TensorFlow deterministic first)
from parity_tests.determinism import tf

import keras
import numpy as np
import pytest

import scratch
from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity

REDUCTIONS = ["sum_over_batch_size", "sum", None, "mean", "none"]
N, K = 6, 4


def loss_cases():
    """``(id, class name, config, output units)``: every combination the engine supports."""
    out = []
    for reduction in REDUCTIONS:
        r = str(reduction)
        for from_logits in (True, False):
            f = "logits" if from_logits else "probs"
            out.append((f"sparse-{f}-{r}", "SparseCategoricalCrossentropy",
                        {"from_logits": from_logits, "reduction": reduction}, K))
            for ls in (0.0, 0.1):
                out.append((f"cce-{f}-ls{ls}-{r}", "CategoricalCrossentropy",
                            {"from_logits": from_logits, "label_smoothing": ls, "reduction": reduction}, K))
                out.append((f"bce-{f}-ls{ls}-{r}", "BinaryCrossentropy",
                            {"from_logits": from_logits, "label_smoothing": ls, "reduction": reduction}, 3))
        out.append((f"bce-1unit-logits-{r}", "BinaryCrossentropy", {"from_logits": True, "reduction": reduction}, 1))
        out.append((f"bce-1unit-probs-{r}", "BinaryCrossentropy", {"from_logits": False, "reduction": reduction}, 1))
    return out


LOSS_CASES = loss_cases()


def loss_inputs(cls_name, from_logits, units, dtype, seed=0):
    """``(y_true, y_pred)``; probabilities include values under 1e-7, over 1 - 1e-7 and exactly at
    both clip ends (where TensorFlow's clip still passes the gradient)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((N, units)) * 3
    logits[0, 0] = 0.0  # the stable sigmoid formula's branch point
    labels = rng.integers(0, units, N) if cls_name != "BinaryCrossentropy" else None
    if cls_name == "BinaryCrossentropy":
        y_true = rng.integers(0, 2, (N, units)).astype(dtype)
        if units == 1:
            y_true = y_true[:, 0]  # (N,) labels for one output, as Keras expands them
        if from_logits:
            return y_true, logits.astype(dtype)
        p = 1 / (1 + np.exp(-logits))
        edge = np.array([0.0, 1e-9, 1 - 1e-9, 1.0, 1e-7, 1 - 1e-7], dtype)  # the ends, cast as Keras casts them
        p.flat[:len(edge)] = edge
        return y_true, p.astype(dtype)
    y_true = labels if cls_name.startswith("Sparse") else np.eye(units, dtype=dtype)[labels]
    if from_logits:
        return y_true, logits.astype(dtype)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[0] = [1e-12, 1 - 2e-12, 1e-12, 0.0][:units]  # below the clip, above it
    p[1, :2] = [1e-9, p[1, 1] + p[1, 0] - 1e-9]
    return y_true, p.astype(dtype)


def loss_parity(cls_name, config, y_true, y_pred, dtype, seed=0):
    ours = getattr(scratch, cls_name)(**config)
    value = ours(y_true, y_pred)
    per_sample = config.get("reduction") in (None, "none")
    rng = np.random.default_rng(seed + 1)
    upstream = rng.uniform(0.5, 1.5, np.shape(y_pred)[:-1]) if per_sample else np.array(0.7)
    upstream = upstream.astype(dtype)
    grad = ours.backward(upstream)
    theirs = getattr(keras.losses, cls_name)(**config, dtype=dtype)
    p = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(p)
        kvalue = theirs(tf.constant(y_true), p)
    kgrad = tape.gradient(kvalue, p, output_gradients=tf.constant(upstream))
    assert np.shape(value) == tuple(kvalue.shape) and np.asarray(value).dtype == dtype
    return assert_parity({("loss", "value"): np.asarray(value), ("loss", "grad y_pred"): grad},
                         {("loss", "value"): kvalue.numpy(), ("loss", "grad y_pred"): kgrad.numpy()},
                         tol.for_dtype("LAYER", dtype), context=f"{cls_name} {config}", dtype=dtype)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_value_and_gradient_match_keras(case, dtype):
    _, cls_name, config, units = case
    y_true, y_pred = loss_inputs(cls_name, config["from_logits"], units, dtype)
    loss_parity(cls_name, config, y_true, y_pred, dtype)


def test_probability_inputs_really_cross_the_clip():
    """The inputs above reach both clip ends, so the zero-gradient branch is compared too."""
    for cls_name, units in (("CategoricalCrossentropy", K), ("BinaryCrossentropy", 3)):
        _, p = loss_inputs(cls_name, False, units, "float64")
        q = p / p.sum(axis=1, keepdims=True) if cls_name.startswith("Cat") else p
        assert (q < 1e-7).any() and (q > 1 - 1e-7).any() and ((q > 1e-7) & (q < 1 - 1e-7)).any()
        loss = getattr(scratch, cls_name)()
        loss(np.zeros_like(p) if cls_name.startswith("Bin") else np.eye(units)[[1, 0, 0, 0, 0, 0]], p)
        g = loss.backward()
        assert (g == 0).any() and (g != 0).any()


@pytest.mark.parametrize("case", [c for c in LOSS_CASES if c[0].endswith("-sum_over_batch_size")],
                         ids=lambda c: c[0])
def test_loss_config_is_keras_config(case):
    _, cls_name, config, _ = case
    ours = getattr(scratch, cls_name)(**config)
    theirs = getattr(keras.losses, cls_name)(**config)
    assert ours.get_config() == theirs.get_config()
    assert getattr(keras.losses, cls_name).from_config(ours.get_config()).get_config() == ours.get_config()
    assert type(ours).from_config(theirs.get_config()).get_config() == ours.get_config()


def test_sparse_label_smoothing_is_refused_as_keras_refuses_it():
    with pytest.raises(TypeError, match="label_smoothing"):
        keras.losses.SparseCategoricalCrossentropy(label_smoothing=0.1)
    with pytest.raises(TypeError, match="label_smoothing"):
        scratch.SparseCategoricalCrossentropy(label_smoothing=0.1)


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_model_with_a_smoothed_categorical_loss_dict_matches_keras(dtype):
    """An architecture's whole loss dict reaches both engines (twins.keras_loss, compile)."""
    desc = scratch.get_architecture("blog")
    desc["loss"] = {"class_name": "CategoricalCrossentropy", "from_logits": True, "label_smoothing": 0.2,
                    "reduction": "sum"}
    model = scratch.build_model(desc, dtype=dtype, seed=0)
    x, labels = twins.mnist_batches(dtype, 1, cases.MODEL_BATCH, model.preprocess)[0]
    ours, theirs = twins.model_parity(model, x, np.eye(10, dtype=dtype)[labels])
    assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context="blog smoothed cce", dtype=dtype)
    model.compile("sgd")
    assert model.loss.get_config() == {"name": "categorical_crossentropy", "reduction": "sum", "from_logits": True,
                                       "label_smoothing": 0.2, "axis": -1}


# -- optimizers --------------------------------------------------------------------------------
NEW_OPTIMIZERS = ["adamw", "sgd-weight-decay", "sgd-clipnorm", "adam-global-clipnorm", "rmsprop-clipvalue"]


def test_new_optimizer_settings_are_trained_against_keras():
    assert {o for _, o, _, _ in cases.TRAIN_RUNS} >= set(NEW_OPTIMIZERS)


@pytest.mark.parametrize("name", list(twins.OPTIMIZERS))
def test_optimizer_config_is_keras_config(name):
    ours = twins.scratch_optimizer(name)
    theirs = twins.keras_optimizer(name, "float64").get_config()
    assert {k: theirs[k] for k in ours.get_config()} == ours.get_config()
    assert type(ours).from_config(ours.get_config()).get_config() == ours.get_config()


@pytest.mark.parametrize("name", ["sgd-clipnorm", "adam-global-clipnorm", "rmsprop-clipvalue"])
def test_clipping_acts_on_the_training_runs(name):
    """The scratch side of the parity runs, alone: clipping changes some gradients (some variables,
    steps or elements) and leaves others as they are, so both branches are compared with Keras."""
    arch, _, batch, dtypes = next(r for r in cases.TRAIN_RUNS if r[1] == name)
    model = scratch.build_model(arch, dtype=dtypes[0], seed=0)
    opt = twins.scratch_optimizer(name)
    model.compile(opt)
    changed, kept = 0, 0
    clip = opt._clipped  # what the step calls: (clipped gradients, an Embedding's squares)

    def spy(grads, sparse=None):
        nonlocal changed, kept
        out, squares = clip(grads, sparse)
        for k in grads:
            if name == "rmsprop-clipvalue":
                hit = np.abs(grads[k]) > opt.clipvalue
                changed, kept = changed + hit.sum(), kept + (~hit).sum()
            else:
                same = np.allclose(out[k], grads[k], rtol=1e-12, atol=0)
                changed, kept = changed + (not same), kept + same
        return out, squares

    opt._clipped = spy
    for x, y in twins.mnist_batches(dtypes[0], tol.TRAIN_STEPS, batch, model.preprocess):
        model.train_step(x, y)
    assert changed > 0 and kept > 0, (changed, kept)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "none"])
@pytest.mark.parametrize("cls_name", ["SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy"])
def test_losses_over_positions_match_keras(cls_name, reduction, dtype):
    """A class (or binary outputs) per pixel, ``(N, H, W, K)`` predictions (a segmentation map): one value per
    position, averaged over ``N * H * W`` as Keras does, and the gradient of every logit."""
    rng = np.random.default_rng(4)
    y_pred = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    labels = rng.integers(0, 5, (2, 3, 4))
    y_true = {"SparseCategoricalCrossentropy": labels, "CategoricalCrossentropy": np.eye(5, dtype=dtype)[labels],
              "BinaryCrossentropy": rng.integers(0, 2, (2, 3, 4, 5)).astype(dtype)}[cls_name]
    loss_parity(cls_name, {"from_logits": True, "reduction": reduction}, y_true, y_pred, dtype)
