"""Regularizers, constraints and ActivityRegularization (issue 20): formulas against plain loops,
the penalties in the training loss and their gradients (finite differences through a whole
model), the constraints after the optimizer step, configs, and refusals."""

import numpy as np
import pytest

import scratch
from scratch import constraints, regularizers

from .finite_diff import assert_gradient

F64 = {"dtype": "float64"}


def f32(v):
    """A factor as Keras applies it, even to float64 arrays: through float32 (``tf.cast`` of a Python float)."""
    return float(np.float32(v))


# -- the formulas, against plain loops -------------------------------------------------------
def naive_penalty(x, l1, l2):
    total, grad = 0.0, np.zeros_like(x)
    for i, v in enumerate(x.reshape(-1)):
        total += l1 * abs(v) + l2 * v * v
        grad.reshape(-1)[i] = l1 * (1.0 if v > 0 else -1.0 if v < 0 else 0.0) + 2 * l2 * v
    return total, grad


@pytest.mark.parametrize("reg,l1,l2", [(regularizers.L1(0.3), f32(0.3), 0.0),
                                       (regularizers.L2(0.2), 0.0, f32(0.2)),
                                       (regularizers.L1L2(0.05, 0.1), f32(0.05), f32(0.1))])
def test_penalties_match_loops(reg, l1, l2):
    x = np.random.default_rng(0).standard_normal((3, 4, 2))
    x[0, 0, 0] = 0.0  # sign(0) = 0, as TensorFlow's gradient of abs
    total, grad = naive_penalty(x, l1, l2)
    np.testing.assert_allclose(reg(x), total, rtol=1e-13)
    np.testing.assert_allclose(reg.gradient(x), grad, rtol=1e-13, atol=1e-15)
    assert reg(x.astype(np.float32)).dtype == np.float32


def test_keras_names_and_defaults():
    """What Keras 3's ``regularizers.get`` gives for each name (checked against Keras in
    parity_tests/test_regularizers_parity.py): ``"l1"`` is L1(0.01) with its factor a float32
    tensor, ``"l1l2"`` has both factors 0, and ``"l1_l2"`` is not a name Keras 3 knows."""
    assert regularizers.get("l1").get_config() == {"l1": 0.009999999776482582}
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get({"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}}) == regularizers.L1L2(0.01, 0.02)
    with pytest.raises(ValueError, match="l1_l2"):
        regularizers.get("l1_l2")
    with pytest.raises(ValueError, match="OrthogonalRegularizer"):
        regularizers.get({"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}})
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert constraints.get("unit_norm") == constraints.UnitNorm(0)


def naive_constraint(w, kind, axis, **kw):
    """Each slice along ``axis`` (the axes reduced) rescaled by a loop over the kept indices."""
    axes = [a % w.ndim for a in (axis if isinstance(axis, list) else [axis])]
    kept = [a for a in range(w.ndim) if a not in axes]
    out = w.copy()
    for idx in np.ndindex(*[w.shape[a] for a in kept]):
        sl = [slice(None)] * w.ndim
        for a, i in zip(kept, idx):
            sl[a] = i
        v = w[tuple(sl)]
        n = np.sqrt((v ** 2).sum())
        if kind == "max":
            out[tuple(sl)] = v * min(n, kw["max_value"]) / (1e-7 + n)
        elif kind == "unit":
            out[tuple(sl)] = v / (1e-7 + n)
        else:
            d = kw["rate"] * min(max(n, kw["min_value"]), kw["max_value"]) + (1 - kw["rate"]) * n
            out[tuple(sl)] = v * d / (1e-7 + n)
    return out


@pytest.mark.parametrize("axis", [0, [0, 1, 2], -1])
def test_constraints_match_loops(axis):
    w = np.random.default_rng(1).standard_normal((3, 3, 2, 4))
    np.testing.assert_allclose(constraints.MaxNorm(1.5, axis)(w), naive_constraint(w, "max", axis, max_value=1.5),
                               rtol=1e-13)
    np.testing.assert_allclose(constraints.UnitNorm(axis)(w), naive_constraint(w, "unit", axis), rtol=1e-13)
    np.testing.assert_allclose(constraints.MinMaxNorm(0.5, 1.0, 0.7, axis)(w),
                               naive_constraint(w, "minmax", axis, min_value=0.5, max_value=1.0, rate=0.7), rtol=1e-13)
    np.testing.assert_array_equal(constraints.NonNeg()(w), np.where(w > 0, w, 0.0))


# -- in a model: the loss, its gradients -------------------------------------------------------
def regularized_model(seed=0, output_softmax=True):
    x = scratch.Input((6, 6, 2), dtype="float64")
    c = scratch.Conv2D(3, 3, activation="relu", kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.1),
                       activity_regularizer=regularizers.L1L2(0.01, 0.02), **F64)(x)
    p = scratch.MaxPooling2D(2, **F64)(c)
    b = scratch.BatchNormalization(gamma_regularizer="l2", beta_regularizer=regularizers.L1(0.05), **F64)(p)
    d = scratch.DepthwiseConv2D(2, depthwise_regularizer=regularizers.L2(0.03), padding="same", **F64)(b)
    f = scratch.Flatten(**F64)(d)
    a = scratch.ActivityRegularization(l1=0.02, l2=0.1, **F64)(f)
    o = scratch.Dense(4, activation="softmax" if output_softmax else None,
                      kernel_regularizer=regularizers.L1L2(0.01, 0.01), activity_regularizer="l2", **F64)(a)
    return scratch.Model(x, o, seed=seed, loss={"class_name": "SparseCategoricalCrossentropy",
                                                 "from_logits": not output_softmax})


def test_loss_is_the_loss_plus_every_penalty():
    """Keras's ``compute_loss``: the compiled loss plus ``model.losses`` = activity penalties
    ``R(y) / batch`` (each regularized call) then ``R(w)`` of each regularized trainable weight."""
    model = regularized_model()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 6, 6, 2)), np.array([0, 1, 2, 3, 0])
    loss, out = model.compute_gradients(x, y, loss=scratch.SparseCategoricalCrossentropy())
    conv, dense, act = model.get_layer("conv2d"), model.get_layer("dense"), model.get_layer("activity_regularization")
    bn, dw = model.get_layer("batch_normalization"), model.get_layer("depthwise_conv2d")
    conv_out = conv.forward(x)
    plain = scratch.SparseCategoricalCrossentropy()(y, out)
    activity = (f32(0.01) * np.abs(conv_out).sum() + f32(0.02) * (conv_out ** 2).sum()) / 5
    flat = model.get_layer("flatten").forward(dw.forward(bn.forward(model.get_layer("max_pooling2d").forward(conv_out), training=True)))
    activity += (f32(0.02) * np.abs(flat).sum() + f32(0.1) * (flat ** 2).sum()) / 5 + f32(0.01) * (out ** 2).sum() / 5
    weights = (f32(0.01) * (conv.params["kernel"] ** 2).sum() + f32(0.1) * np.abs(conv.params["bias"]).sum()
               + f32(0.01) * (bn.params["gamma"] ** 2).sum() + f32(0.05) * np.abs(bn.params["beta"]).sum()
               + f32(0.03) * (dw.params["kernel"] ** 2).sum()
               + f32(0.01) * np.abs(dense.params["kernel"]).sum() + f32(0.01) * (dense.params["kernel"] ** 2).sum())
    assert len(model.losses) == 3 + 6
    np.testing.assert_allclose(loss, plain + activity + weights, rtol=1e-13)
    assert act.get_config()["l2"] == 0.1 and "activity_regularizer" not in act.get_config()


@pytest.mark.parametrize("output_softmax", [True, False])
def test_total_loss_gradients_finite_differences(output_softmax):
    """Every weight's gradient and the input's, of the loss with all penalties (a softmax output's
    loss from its logits, with an activity penalty on the softmax's output)."""
    model = regularized_model(output_softmax=output_softmax)
    model._set_input_grads(True)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 6, 6, 2)), np.array([0, 1, 2, 3])
    for layer in model.layers:  # nonzero biases and betas: |.| differentiable there
        for p in layer.params.values():
            p += rng.uniform(0.05, 0.2, p.shape) * np.sign(rng.standard_normal(p.shape))
    loss_fn = scratch.SparseCategoricalCrossentropy(from_logits=not output_softmax)
    model.compute_gradients(x, y, loss=loss_fn, trainable_only=False)
    grads = {k: g.copy() for k, g in model.named_grads().items()}
    # the input gradient: the same pass again, with dL/dx kept
    out = model.forward(x, training=True)
    lf, pred = model._loss_input(out, loss_fn)
    lf(y, pred)
    dx = model.backward(lf.backward(), logits=pred is not out, penalties=True)

    def total():
        value, _ = model.compute_gradients(x, y, loss=loss_fn, trainable_only=False)
        return float(value)

    for name, p in model.named_params().items():
        assert_gradient(name, total, p, grads[name], rng, max_coords=12, directions=1)
    assert_gradient("x", total, x, dx, rng, max_coords=12, directions=1)


def test_frozen_layers_have_no_penalty_and_fusion_stays_off_under_an_activity_penalty():
    model = regularized_model()
    assert model._fusions == {}  # conv2d's output has an activity penalty: no relu -> pool fusion
    before = len(model.losses)
    model.get_layer("conv2d").trainable = False
    assert len(model.losses) == before - 2


# -- the constraints, after the update ---------------------------------------------------------
def test_constraints_applied_after_each_update():
    layer = scratch.Dense(3, kernel_constraint=constraints.MaxNorm(0.5, 0), bias_constraint="non_neg", **F64)
    model = scratch.Sequential([layer], input_shape=(4,), dtype="float64", seed=0,
                               loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    model.compile(scratch.SGD(0.5))
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    for _ in range(3):
        w, b = layer.params["kernel"].copy(), layer.params["bias"].copy()
        model.compute_gradients(x, y)
        gw, gb = layer.grads["kernel"].copy(), layer.grads["bias"].copy()
        model.train_step(x, y)
        np.testing.assert_allclose(layer.params["kernel"], naive_constraint(w - 0.5 * gw, "max", 0, max_value=0.5),
                                   rtol=1e-13)
        np.testing.assert_array_equal(layer.params["bias"], np.maximum(b - 0.5 * gb, 0.0))
    assert model.named_constraints() == {"dense/kernel": constraints.MaxNorm(0.5, 0),
                                         "dense/bias": constraints.NonNeg()}


# -- configs and refusals ---------------------------------------------------------------------
def test_config_round_trip_through_a_checkpoint(tmp_path):
    model = regularized_model()
    model.get_layer("dense").constraints["kernel"] = constraints.UnitNorm(0)  # not an option: not saved
    conv = scratch.Conv2D(2, 3, kernel_constraint={"class_name": "MinMaxNorm", "config": {"min_value": 0.1}},
                          bias_constraint="non_neg", dtype="float64")
    again = scratch.layers.deserialize(scratch.layers.serialize(conv))
    assert again.constraints == conv.constraints and again.get_config() == conv.get_config()
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = scratch.Model.load(path)
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
        assert a.regularizers == b.regularizers and (a.activity_regularizer == b.activity_regularizer)
    assert loaded.get_layer("conv2d").regularizers == {"kernel": regularizers.L2(0.01),
                                                       "bias": regularizers.L1(0.1)}


def test_refusals_name_the_layer_and_option():
    with pytest.raises(ValueError, match=r"Dense 'd'.*'gamma_regularizer'"):
        scratch.Dense(2, name="d", gamma_regularizer="l2")
    with pytest.raises(ValueError, match=r"Conv2D 'c': kernel_regularizer.*'Orthogonal"):
        scratch.Conv2D(2, 3, name="c", kernel_regularizer={"class_name": "OrthogonalRegularizer", "config": {}})
    with pytest.raises(ValueError, match=r"Dense 'd': kernel_constraint.*'nonneg'"):
        scratch.Dense(2, name="d", kernel_constraint="nonneg")
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-0.1)
    with pytest.raises(TypeError, match="foo"):
        scratch.Dense(2, foo=1)
    with pytest.raises(ValueError, match=r"BatchNormalization 'b': has no option 'moving_mean_regularizer'"):
        scratch.BatchNormalization(name="b", moving_mean_regularizer="l2")  # not trained: Keras has none either


def test_sequential_config_round_trip_keeps_every_penalty():
    layers = [scratch.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(0.01, 0.02), bias_constraint="non_neg",
                             activity_regularizer="l1"),
              scratch.LayerNormalization(axis=[1, 2], gamma_regularizer="l2", beta_constraint=constraints.MaxNorm(1.0)),
              scratch.GroupNormalization(groups=1, gamma_constraint=constraints.UnitNorm(0)),
              scratch.Flatten(), scratch.ActivityRegularization(l1=0.5),
              scratch.Dense(3, kernel_constraint=constraints.MinMaxNorm(0.1, 0.9, 0.5, [0]))]
    model = scratch.Sequential(layers, input_shape=(5, 5, 1), seed=0)
    again = scratch.model_from_config(model.get_config())
    for a, b in zip(model.layers, again.layers):
        assert a.get_config() == b.get_config()
        assert (a.regularizers, a.constraints, a.activity_regularizer) == \
            (b.regularizers, b.constraints, b.activity_regularizer), a.name
    assert again.layers[4].activity_regularizer == regularizers.L1L2(0.5, 0.0)
