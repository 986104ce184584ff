"""Regularizers, constraints and ActivityRegularization against Keras 3 (issue 20).

What Keras does, read in its source and pinned here:

- ``Trainer.compute_loss`` (keras/src/trainers/trainer.py): ``total = ops.sum([compiled loss,
  *[ops.sum(l) for l in model.losses]])`` (one list, summed once, in the loss's dtype);
- ``Layer.losses``: the activity penalties recorded by the last call, then ``R(w)`` of every
  trainable weight with a regularizer (``Layer._get_regularization_losses``);
- ``Layer.__call__``: an activity penalty is ``R(output) / batch size`` (``divide_no_nan``; Keras 3
  divides, tf.keras 2 did not): ``test_keras_divides_the_activity_penalty_by_the_batch``;
- ``BaseOptimizer.apply``: the update of every weight, then ``w.assign(c(w))`` for each weight
  with a constraint, then ``iterations += 1``.

The training steps run Keras's own ``train_on_batch`` (its ``compute_loss``, its optimizer with
its constraints) against ``scratch``'s ``train_step``, weights compared after every step.
"""

from parity_tests import twins  # noqa: I001  (TensorFlow deterministic first)
from parity_tests.determinism import tf

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity
from scratch import constraints, regularizers


# -- the penalties and projections alone ---------------------------------------------------------
@pytest.mark.parametrize("name", ["l1", "l2", "l1l2", "L1", "L2", "L1L2", "max_norm", "non_neg", "unit_norm",
                                  "min_max_norm", "MaxNorm"])
def test_names_give_keras_defaults(name):
    kind = "regularizers" if name.lower().startswith("l") else "constraints"
    ours = getattr(scratch, kind).get(name)
    theirs = getattr(keras, kind).get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


def test_l1_l2_is_no_keras_3_name():
    """The Keras 2 name ``"l1_l2"`` is refused by Keras 3's ``regularizers.get``, and here."""
    with pytest.raises(ValueError):
        keras.regularizers.get("l1_l2")
    with pytest.raises(ValueError, match="l1_l2"):
        regularizers.get("l1_l2")


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("config", [("L1", {"l1": 0.01}), ("L2", {"l2": 0.03}), ("L1L2", {"l1": 0.02, "l2": 0.05}),
                                    ("L1L2", {"l1": 0.0, "l2": 0.1})], ids=["l1", "l2", "l1l2", "l1l2-only-l2"])
def test_regularizer_value_and_gradient(config, dtype):
    cls, kwargs = config
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(dtype)
    x[0, 0, :2] = 0.0
    ours = getattr(regularizers, cls)(**kwargs)
    with twins.keras_floatx("float32"):  # as a user builds it: L1's factor a float32 tensor
        theirs = getattr(keras.regularizers, cls)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = theirs(xt)
    grad = tape.gradient(value, xt)
    assert_parity({("r", "value"): np.array(ours(x)), ("r", "grad"): ours.gradient(x)},
                  {("r", "value"): value.numpy(), ("r", "grad"): grad.numpy()}, tol.for_dtype("LAYER", dtype),
                  context=f"{cls} {dtype}", dtype=dtype)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("config", [("MaxNorm", {"max_value": 1.0, "axis": 0}),
                                    ("MaxNorm", {"max_value": 1.5, "axis": [0, 1, 2]}), ("NonNeg", {}),
                                    ("UnitNorm", {"axis": -1}),
                                    ("MinMaxNorm", {"min_value": 0.8, "max_value": 1.2, "rate": 0.6, "axis": [0, 1]})])
def test_constraint_projection(config, dtype):
    cls, kwargs = config
    w = np.random.default_rng(1).standard_normal((3, 3, 2, 4)).astype(dtype)
    ours = getattr(constraints, cls)(**kwargs)(w)
    theirs = getattr(keras.constraints, cls)(**kwargs)(tf.constant(w)).numpy()
    assert ours.dtype == theirs.dtype
    assert_parity({("c", "w"): ours}, {("c", "w"): theirs}, tol.for_dtype("LAYER", dtype), context=cls, dtype=dtype)


def test_keras_divides_the_activity_penalty_by_the_batch():
    """Keras 3's own docstring example: kernel ``L1(0.01)`` on ones (5x5) is 0.25, ``L2(0.01)`` of
    the output 2*5 = 10 per entry over a batch of 5 is 0.01 * 25 * 100 / 5 = 5.0: the sum is 5.25."""
    klayer = keras.layers.Dense(5, kernel_initializer="ones", kernel_regularizer=keras.regularizers.L1(0.01),
                                activity_regularizer=keras.regularizers.L2(0.01))
    klayer(np.full((5, 5), 2.0, np.float32))
    np.testing.assert_allclose(float(sum(klayer.losses)), 5.25, rtol=1e-6)
    layer = scratch.Dense(5, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.01),
                          activity_regularizer=regularizers.L2(0.01))
    model = scratch.Sequential([layer], input_shape=(5,))
    model.forward(np.full((5, 5), 2.0, np.float32))
    np.testing.assert_allclose(float(sum(model.losses)), 5.25, rtol=1e-6)


# -- a regularized and constrained CNN: the loss, then training steps ---------------------------
def regularized_cnn(dtype, seed=0):
    """Every weight-carrying layer with a penalty and a constraint, activity penalties inside and at
    the softmax output, an ActivityRegularization layer."""
    D = {"dtype": dtype}
    layers = [
        scratch.Conv2D(4, 3, activation="relu", kernel_regularizer=regularizers.L2(0.02),
                       bias_regularizer=regularizers.L1(0.01), activity_regularizer=regularizers.L1L2(0.001, 0.002),
                       kernel_constraint=constraints.MaxNorm(0.6, [0, 1, 2]), bias_constraint="non_neg", **D),
        scratch.BatchNormalization(gamma_regularizer=regularizers.L2(0.01), beta_regularizer="l1",
                                   gamma_constraint=constraints.MinMaxNorm(0.5, 1.0, 0.5, 0), **D),
        scratch.MaxPooling2D(2, **D),
        scratch.DepthwiseConv2D(2, padding="same", depthwise_regularizer=regularizers.L1L2(0.01, 0.01),
                                depthwise_constraint=constraints.UnitNorm([0, 1]), **D),
        scratch.SeparableConv2D(3, 2, pointwise_regularizer="l2", depthwise_regularizer=regularizers.L1(0.002),
                                pointwise_constraint=constraints.MaxNorm(1.0, 0), **D),
        scratch.PReLU(alpha_regularizer=regularizers.L2(0.01), alpha_constraint=constraints.NonNeg(), **D),
        scratch.Flatten(**D),
        scratch.ActivityRegularization(l1=0.001, l2=0.01, **D),
        scratch.Dense(5, activation="softmax", kernel_regularizer=regularizers.L1L2(0.005, 0.01),
                      bias_constraint=constraints.NonNeg(), activity_regularizer=regularizers.L2(0.05), **D),
    ]
    return scratch.Sequential(layers, input_shape=(9, 9, 2), dtype=dtype, seed=seed,
                              loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": False})


def _batches(dtype, steps=4, n=6):
    rng = np.random.default_rng(3)
    return [(rng.standard_normal((n, 9, 9, 2)).astype(dtype), rng.integers(0, 5, n)) for _ in range(steps)]


def test_keras_twin_carries_every_penalty_and_converts_back():
    model = regularized_cnn("float64")
    keras_model = keras_ref.to_keras(model)
    conv = keras_model.get_layer("conv2d")
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L2) and conv.kernel.regularizer is not None
    assert isinstance(conv.kernel.constraint, keras.constraints.MaxNorm) and conv.kernel.constraint.axis == [0, 1, 2]
    assert isinstance(keras_model.get_layer("depthwise_conv2d").kernel.constraint, keras.constraints.UnitNorm)
    assert keras_model.get_layer("activity_regularization").get_config()["l2"] == 0.01
    back = keras_ref.from_keras(keras_model)
    for a, b in zip(model.layers, back.layers):
        assert a.get_config() == b.get_config(), a.name
        assert a.regularizers == b.regularizers and a.constraints == b.constraints
        assert a.activity_regularizer == b.activity_regularizer


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_loss_with_penalties_is_keras_compute_loss(dtype):
    model = regularized_cnn(dtype)
    keras_model = keras_ref.to_keras(model)
    x, y = _batches(dtype, 1)[0]
    loss, out = model.compute_gradients(x, y, loss=model.loss_spec, training=True)
    with twins.keras_floatx(dtype):  # Keras's compiled loss computes in floatx
        keras_model.compile(loss=twins.keras_loss(model), jit_compile=False)
        k_out = keras_model(tf.constant(x), training=True)
        k_loss = keras_model.compute_loss(x=x, y=tf.constant(y), y_pred=k_out, training=True)
    assert len(keras_model.losses) == len(model.losses) == 3 + 9  # activity: 3 layers; 9 regularized weights
    assert_parity({("model", "loss"): np.array(loss), ("model", "output"): out},
                  {("model", "loss"): k_loss.numpy(), ("model", "output"): k_out.numpy()},
                  tol.for_dtype("MODEL", dtype), context=dtype, dtype=dtype)


@pytest.mark.parametrize("optimizer, dtype", [("momentum", "float32"), ("momentum", "float64"), ("adam", "float64")])
def test_training_steps_with_penalties_and_constraints_match_keras(optimizer, dtype):
    """Keras's own ``train_on_batch`` (compute_loss with model.losses, the optimizer's constraints)
    and scratch's ``train_step`` from the same weights: losses and every weight after every step."""
    model = regularized_cnn(dtype)
    model.compile(twins.scratch_optimizer(optimizer), loss=model.loss_spec)
    keras_model = keras_ref.to_keras(model)
    with twins.keras_floatx(dtype):  # Keras's compiled loss computes in floatx
        keras_model.compile(optimizer=twins.keras_optimizer(optimizer, dtype), loss=twins.keras_loss(model),
                            jit_compile=False)
    first = twins.weights_of(model.layers)
    for step, (x, y) in enumerate(_batches(dtype), start=1):
        s_loss, _ = model.train_step(x, y)
        with twins.keras_floatx(dtype):
            k_loss = keras_model.train_on_batch(x, y.astype(np.int64))
        ours, theirs = twins.weights_of(model.layers), twins.weights_of(keras_model.layers)
        ours[("model", "loss")], theirs[("model", "loss")] = np.array(s_loss, dtype), np.array(k_loss, dtype)
        assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"{optimizer} {dtype} step {step}",
                      dtype=dtype)
    last = twins.weights_of(model.layers)
    assert max(np.abs(last[k] - first[k]).max() for k in first) > 1e-3  # it trained
    kernel = model.get_layer("conv2d").params["kernel"]  # the constraint acted: every filter's norm <= 0.6
    assert np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))).max() <= 0.6 + 1e-6
    assert model.get_layer("dense").params["bias"].min() >= 0 and model.get_layer("p_re_lu").params["alpha"].min() >= 0


def test_from_keras_refuses_what_it_does_not_compute_in_one_line():
    inputs = keras.Input((4, 4, 1))
    out = keras.layers.Conv2D(2, 3, name="c", kernel_regularizer=keras.regularizers.OrthogonalRegularizer())(inputs)
    with pytest.raises(ValueError, match=r"layer 'c' \(Conv2D\) has kernel_regularizer='OrthogonalRegularizer'"):
        keras_ref.from_keras(keras.Model(inputs, out))

    class Positive(keras.constraints.Constraint):
        def __call__(self, w):
            return keras.ops.abs(w)

    out = keras.layers.Dense(2, name="d", bias_constraint=Positive())(keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match=r"layer 'd' \(Dense\) has bias_constraint=.*Positive"):
        keras_ref.from_keras(keras.Model(inputs, out))


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_evaluate_includes_the_penalties_as_keras(dtype):
    """Keras's ``evaluate`` reports ``compute_loss`` too: the loss plus ``model.losses`` (inference mode)."""
    model = regularized_cnn(dtype)
    model.compile("sgd", loss=model.loss_spec)
    keras_model = keras_ref.to_keras(model)
    with twins.keras_floatx(dtype):
        keras_model.compile(loss=twins.keras_loss(model), jit_compile=False)
        x, y = _batches(dtype, 1, n=8)[0]
        k_loss = keras_model.evaluate(x, y.astype(np.int64), batch_size=8, verbose=0)
    loss, _ = model.evaluate(x, y, batch_size=8)
    plain = scratch.SparseCategoricalCrossentropy()(y, model.predict(x))
    assert loss > plain + 1e-3  # the penalties are there
    np.testing.assert_allclose(loss, k_loss, rtol=1e-5 if dtype == "float32" else 1e-11)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_takes_a_regularized_constrained_keras_file(tmp_path, dtype):
    """``python -m parity_tests.check`` on the model saved as .keras: every layer and the whole model
    (a tape on ``sum(output * r)``: no penalty, as Keras's) agree."""
    from parity_tests import check

    path = tmp_path / "regularized.keras"
    keras_ref.to_keras(regularized_cnn("float32")).save(path)
    lines = []
    assert check.main([str(path), "--dtype", dtype], print_fn=lines.append) == 0, "\n".join(lines)
