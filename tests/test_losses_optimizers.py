"""Losses (reductions, label smoothing, binary cross-entropy) and optimizer options (weight
decay, AdamW, clipping), without TensorFlow: finite differences, a naive scalar reference of
each optimizer step, error messages, checkpoints (issue 10)."""

import math

import numpy as np
import pytest

import scratch
from scratch import losses
from tests.finite_diff import assert_gradient

REDUCTIONS = ["sum_over_batch_size", "sum", None, "mean", "none", "mean_with_sample_weight"]


def fd_cases():
    out = []
    for reduction in REDUCTIONS:
        for from_logits in (True, False):
            out.append(("SparseCategoricalCrossentropy", {"from_logits": from_logits, "reduction": reduction}))
            for ls in (0.0, 0.25):
                for cls in ("CategoricalCrossentropy", "BinaryCrossentropy"):
                    out.append((cls, {"from_logits": from_logits, "label_smoothing": ls, "reduction": reduction}))
    return out


@pytest.mark.parametrize("cls_name, config", fd_cases(), ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={val}" for k, val in v.items()))
def test_loss_gradient_matches_finite_differences(cls_name, config):
    """``backward(dloss)`` is the gradient of ``dloss * loss`` (or ``sum(dloss * values)`` per
    sample), away from the probability clip's kinks."""
    rng = np.random.default_rng(len(cls_name) + 7 * REDUCTIONS.index(config["reduction"]))
    n, k = 5, 4
    if config["from_logits"]:
        y_pred = rng.standard_normal((n, k)) * 2
    elif cls_name == "BinaryCrossentropy":
        y_pred = rng.uniform(0.05, 0.95, (n, k))
    else:  # unnormalised for the categorical loss: its renormalisation is differentiated too
        y_pred = rng.uniform(0.1, 1.0, (n, k))
        if cls_name.startswith("Sparse"):
            y_pred /= y_pred.sum(axis=1, keepdims=True) * 1.1
    labels = rng.integers(0, k, n)
    y_true = {"SparseCategoricalCrossentropy": labels, "CategoricalCrossentropy": np.eye(k)[labels],
              "BinaryCrossentropy": rng.integers(0, 2, (n, k)).astype(np.float64)}[cls_name]
    loss = getattr(scratch, cls_name)(**config)
    per_sample = config["reduction"] in (None, "none")
    upstream = rng.uniform(0.5, 1.5, n) if per_sample else 0.7

    def total():
        return float(np.sum(upstream * loss(y_true, y_pred)))

    total()
    assert_gradient(f"{cls_name} {config}", total, y_pred, loss.backward(upstream), rng)


def test_reductions_relate_as_keras_defines_them():
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    values = scratch.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(labels, z)
    assert values.shape == (6,)
    np.testing.assert_array_equal(scratch.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(labels, z),
                                  values)
    assert scratch.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(labels, z) == values.sum()
    for mean in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        assert scratch.SparseCategoricalCrossentropy(from_logits=True, reduction=mean)(labels, z) == values.sum() / 6
    loss = scratch.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    loss(labels, z)
    np.testing.assert_array_equal(loss.backward(), loss.backward(np.ones(6)))  # per-sample default: ones
    total = scratch.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    total(labels, z)
    np.testing.assert_array_equal(loss.backward(), total.backward())  # the gradient of their sum


def test_label_smoothing_by_hand():
    """Categorical: ``y * (1 - ls) + ls / K``; binary: ``y * (1 - ls) + ls / 2`` (Keras's docs)."""
    z = np.array([[2.0, -1.0, 0.5]])
    cce = scratch.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3)
    smoothed = np.array([[0.1, 0.8, 0.1]])
    logp = z - np.log(np.exp(z).sum())
    assert cce(np.array([[0.0, 1.0, 0.0]]), z) == pytest.approx(-(smoothed * logp).sum(), rel=1e-14)
    bce = scratch.BinaryCrossentropy(from_logits=True, label_smoothing=0.3)
    y = np.array([[1.0, 0.0, 1.0]])
    ys = np.array([[0.85, 0.15, 0.85]])
    naive = -(ys * np.log(1 / (1 + np.exp(-z))) + (1 - ys) * np.log(1 - 1 / (1 + np.exp(-z)))).mean()
    assert bce(y, z) == pytest.approx(naive, rel=1e-13)


def test_binary_cross_entropy_from_logits_is_stable_and_matches_probabilities():
    z = np.array([[1e4], [-1e4], [0.0], [3.0]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    loss = scratch.BinaryCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(loss(y, z), [0.0, 1e4, math.log(2), 3 + math.log1p(math.exp(-3))], rtol=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.0], [-1.0], [0.5], [1 / (1 + math.exp(-3))]], rtol=1e-15)
    p = 1 / (1 + np.exp(-z[2:]))
    probs = scratch.BinaryCrossentropy(reduction=None)(y[2:], p)
    np.testing.assert_allclose(probs, loss(y, z)[2:], rtol=1e-12)


def test_binary_cross_entropy_clips_probabilities_at_1e_7():
    """``clip(p, 1e-7, 1 - 1e-7)``: p = 0 costs -log(1 - 1e-7) (computed so, not log1p) when y = 0 and -log(1e-7) when
    y = 1; the gradient is zero beyond the clip and passes at its ends (tf.clip_by_value)."""
    loss = scratch.BinaryCrossentropy(reduction=None)
    p = np.array([[0.0], [0.0], [1e-7], [1e-9]])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(loss(y, p), [-math.log(1 - 1e-7), -math.log(1e-7), -math.log(1e-7),
                                            -math.log(1e-7)], rtol=1e-12)
    g = loss.backward()[:, 0]
    assert g[0] == 0 and g[1] == 0 and g[3] == 0 and g[2] == pytest.approx(-1e7, rel=1e-12)


def test_losses_get_deserialize_and_configs_round_trip():
    for loss in (scratch.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, reduction="sum"),
                 scratch.CategoricalCrossentropy(label_smoothing=0.2, reduction=None, axis=1),
                 scratch.SparseCategoricalCrossentropy(from_logits=True, reduction="mean")):
        again = losses.deserialize(losses.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
        assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()
    assert isinstance(losses.get("binary_crossentropy", from_logits=True), scratch.BinaryCrossentropy)
    assert losses.get("BinaryCrossentropy").from_logits is False
    nested = losses.get({"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1}})
    assert nested.label_smoothing == 0.1
    desc = scratch.get_architecture("blog")
    desc["loss"] = {"class_name": "CategoricalCrossentropy", "from_logits": True, "label_smoothing": 0.1,
                    "reduction": "sum"}
    model = scratch.build_model(desc).compile("sgd")
    assert isinstance(model.loss, scratch.CategoricalCrossentropy)
    assert (model.loss.label_smoothing, model.loss.reduction, model.loss.from_logits) == (0.1, "sum", True)
    assert model.get_config()["loss"] == desc["loss"]


# -- optimizers: a naive scalar reference, one number at a time --------------------------------
def naive_clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    grads = [[float(v) for v in g] for g in grads]
    if clipnorm is not None:
        out = []
        for g in grads:
            norm = math.sqrt(sum(v * v for v in g))
            out.append([v * clipnorm / max(norm, clipnorm) for v in g])
        return out
    if global_clipnorm is not None:
        norm = math.sqrt(sum(v * v for g in grads for v in g))
        scale = global_clipnorm * min(1 / norm, 1 / global_clipnorm)
        return [[v * scale for v in g] for g in grads]
    if clipvalue is not None:
        return [[min(max(v, -clipvalue), clipvalue) for v in g] for g in grads]
    return grads


def naive_steps(kind, params, grads_per_step, lr, wd=None, clip=None, **hp):
    """Python floats, one weight at a time: clip, decay, update (Keras's order)."""
    w = [[float(v) for v in p] for p in params]
    state = [[{"m": 0.0, "v": 0.0} for _ in p] for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        grads = naive_clip(grads, **(clip or {}))
        for i in range(len(w)):
            for j in range(len(w[i])):
                g, s = grads[i][j], state[i][j]
                if wd is not None:
                    w[i][j] -= w[i][j] * wd * lr
                if kind == "sgd":
                    mu = hp.get("momentum", 0.0)
                    if mu:
                        s["m"] = mu * s["m"] - lr * g
                        w[i][j] += s["m"]
                    else:
                        w[i][j] -= lr * g
                elif kind == "adam":
                    b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), hp.get("epsilon", 1e-7)
                    s["m"] += (g - s["m"]) * (1 - b1)
                    s["v"] += (g * g - s["v"]) * (1 - b2)
                    alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                    w[i][j] -= s["m"] * alpha / (math.sqrt(s["v"]) + eps)
                else:  # rmsprop
                    rho, eps = hp.get("rho", 0.9), hp.get("epsilon", 1e-7)
                    s["v"] = rho * s["v"] + (1 - rho) * g * g
                    w[i][j] -= lr * g / math.sqrt(s["v"] + eps)
    return w


OPTIMIZER_STEPS = [  # (id, scratch optimizer, naive kind, lr, weight decay, clip, hyperparameters)
    ("sgd-weight-decay", lambda: scratch.SGD(0.1, weight_decay=0.2), "sgd", 0.1, 0.2, None, {}),
    ("momentum-clipnorm", lambda: scratch.SGD(0.1, momentum=0.9, clipnorm=0.5), "sgd", 0.1, None,
     {"clipnorm": 0.5}, {"momentum": 0.9}),
    ("adam-global-clipnorm", lambda: scratch.Adam(0.01, global_clipnorm=0.8), "adam", 0.01, None,
     {"global_clipnorm": 0.8}, {}),
    ("adam-clipvalue-wd", lambda: scratch.Adam(0.01, clipvalue=0.3, weight_decay=0.1), "adam", 0.01, 0.1,
     {"clipvalue": 0.3}, {}),
    ("adamw", lambda: scratch.AdamW(0.01), "adam", 0.01, 0.004, None, {}),
    ("adamw-clipnorm", lambda: scratch.AdamW(0.01, weight_decay=0.1, clipnorm=0.4, beta_1=0.8), "adam", 0.01, 0.1,
     {"clipnorm": 0.4}, {"beta_1": 0.8}),
    ("rmsprop-clipvalue", lambda: scratch.RMSprop(0.01, clipvalue=0.3), "rmsprop", 0.01, None,
     {"clipvalue": 0.3}, {}),
    ("rmsprop-global-wd", lambda: scratch.RMSprop(0.01, global_clipnorm=0.5, weight_decay=0.3), "rmsprop", 0.01,
     0.3, {"global_clipnorm": 0.5}, {}),
]


@pytest.mark.parametrize("case", OPTIMIZER_STEPS, ids=[c[0] for c in OPTIMIZER_STEPS])
def test_optimizer_steps_match_a_naive_scalar_reference(case):
    """Three steps on two small weights whose gradients straddle every clip threshold."""
    _, make, kind, lr, wd, clip, hp = case
    rng = np.random.default_rng(1)
    params = {"a/kernel": rng.standard_normal(5), "a/bias": rng.standard_normal(2)}
    steps = [{"a/kernel": rng.standard_normal(5) * s, "a/bias": rng.standard_normal(2) * s * 0.1}
             for s in (1.0, 0.2, 2.0)]
    expected = naive_steps(kind, list(params.values()), [list(g.values()) for g in steps], lr, wd, clip, **hp)
    opt = make()
    start = {k: v.copy() for k, v in params.items()}
    for g in steps:
        opt.step(params, {k: v.copy() for k, v in g.items()})
    for (k, got), want in zip(params.items(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=k)
        assert not np.allclose(got, start[k])
    if clip is not None:  # the chosen thresholds really changed something
        changed = [not np.allclose(opt.clip_gradients(g)[k], g[k]) for g in steps for k in g]
        assert any(changed) and (not all(changed) or "clipvalue" in clip)


def test_clip_gradients_edge_cases():
    zero = {"w": np.zeros(3)}
    for opt in (scratch.SGD(clipnorm=1.0), scratch.SGD(global_clipnorm=1.0), scratch.SGD(clipvalue=1.0)):
        np.testing.assert_array_equal(opt.clip_gradients(zero)["w"], 0)  # a zero gradient stays 0, no NaN
    g = {"a": np.array([3.0, 4.0]), "b": np.array([0.0, 12.0])}  # norms 5 and 12, global 13
    np.testing.assert_allclose(scratch.SGD(clipnorm=6.0).clip_gradients(g)["a"], [3.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(scratch.SGD(clipnorm=6.0).clip_gradients(g)["b"], [0.0, 6.0], rtol=1e-15)
    out = scratch.SGD(global_clipnorm=6.5).clip_gradients(g)
    np.testing.assert_allclose(np.concatenate([out["a"], out["b"]]), [1.5, 2.0, 0.0, 6.0], rtol=1e-15)
    assert np.isnan(scratch.SGD(global_clipnorm=1.0).clip_gradients({"w": np.array([np.inf, 1.0])})["w"]).all()
    before = g["b"].copy()
    scratch.SGD(clipvalue=1.0).clip_gradients(g)
    np.testing.assert_array_equal(g["b"], before)  # never modifies the model's gradients


def test_float32_optimizer_stays_float32_with_options():
    p = {"w": np.array([1.0, -2.0], np.float32)}
    for opt in (scratch.AdamW(clipnorm=0.1), scratch.SGD(global_clipnorm=0.1, weight_decay=0.1),
                scratch.RMSprop(clipvalue=0.1)):
        opt.step(p, {"w": np.array([3.0, 4.0], np.float32)})
        assert p["w"].dtype == np.float32 and all(s.dtype == np.float32 for s in opt.slots["w"].values())


def raises(fn, *fragments, exc=ValueError):
    with pytest.raises(exc) as info:
        fn()
    for f in fragments:
        assert f in str(info.value), (f, str(info.value))


def test_optimizer_option_errors_name_the_optimizer_argument_and_value():
    raises(lambda: scratch.SGD(clipnorm=0), "SGD", "clipnorm", "positive", "0", "None")
    raises(lambda: scratch.Adam(clipvalue=-1.0), "Adam", "clipvalue", "-1.0")
    raises(lambda: scratch.RMSprop(global_clipnorm=float("inf")), "RMSprop", "global_clipnorm", "inf")
    raises(lambda: scratch.AdamW(clipnorm="1"), "AdamW", "clipnorm", "'1'")
    raises(lambda: scratch.SGD(weight_decay=-0.1), "SGD", "weight_decay", "non-negative", "-0.1")
    raises(lambda: scratch.AdamW(weight_decay=None), "AdamW", "weight_decay", "None")
    raises(lambda: scratch.Adam(clipnorm=1.0, global_clipnorm=2.0), "Adam", "only one of", "clipnorm=1.0",
           "global_clipnorm=2.0")
    raises(lambda: scratch.SGD(clipvalue=1.0, clipnorm=1.0), "SGD", "only one of", "clipvalue=1.0")
    raises(lambda: scratch.AdamW(learning_rate=0), "AdamW", "learning_rate", "0")
    raises(lambda: scratch.AdamW(beta_1=1.0), "AdamW", "beta_1", "1.0")
    raises(lambda: scratch.SGD(foo=1), "foo", exc=TypeError)


def test_loss_option_errors_name_the_loss_argument_and_value():
    raises(lambda: scratch.CategoricalCrossentropy(reduction="avg"), "CategoricalCrossentropy", "reduction", "'avg'")
    raises(lambda: scratch.BinaryCrossentropy(label_smoothing=1.5), "BinaryCrossentropy", "label_smoothing", "1.5")
    raises(lambda: scratch.CategoricalCrossentropy(label_smoothing=-0.1), "label_smoothing", "-0.1")
    raises(lambda: scratch.CategoricalCrossentropy(axis=0), "CategoricalCrossentropy", "axis", "0")
    raises(lambda: scratch.BinaryCrossentropy(axis=True), "axis", "True")
    raises(lambda: scratch.SparseCategoricalCrossentropy(ignore_class=3), "ignore_class", "3")
    raises(lambda: scratch.SparseCategoricalCrossentropy(label_smoothing=0.1), "label_smoothing", exc=TypeError)
    raises(lambda: losses.deserialize({"class_name": "SparseCategoricalCrossentropy", "label_smoothing": 0.1}),
           "SparseCategoricalCrossentropy", "label_smoothing")
    raises(lambda: losses.deserialize({"class_name": "Hinge"}), "unknown loss", "'Hinge'")
    raises(lambda: scratch.BinaryCrossentropy()(np.zeros((2, 3)), np.zeros((2, 2)) + 0.5), "BinaryCrossentropy",
           "(2, 2)", "(2, 3)")
    raises(lambda: scratch.BinaryCrossentropy().backward(), "BinaryCrossentropy", "first")


# -- checkpoints -----------------------------------------------------------------------------------
def test_checkpoint_round_trip_with_adamw_and_clipping(tmp_path):
    """AdamW with clipping saved mid-run and loaded continues exactly as the uninterrupted run."""
    rng = np.random.default_rng(0)
    x = rng.random((24, 28, 28, 1))
    y = rng.integers(0, 10, 24)
    model = scratch.build_model("blog", dtype="float64", seed=1)
    model.compile(scratch.AdamW(0.01, weight_decay=0.05, global_clipnorm=0.5, beta_2=0.99))
    for i in range(2):
        model.train_step(x[8 * i:8 * i + 8], y[8 * i:8 * i + 8])
    model.save(tmp_path / "ckpt.npz")
    loaded = scratch.Sequential.load(tmp_path / "ckpt.npz")
    assert isinstance(loaded.optimizer, scratch.AdamW)
    assert loaded.optimizer.get_config() == model.optimizer.get_config() == {
        "learning_rate": 0.01, "weight_decay": 0.05, "clipnorm": None, "global_clipnorm": 0.5, "clipvalue": None,
        "beta_1": 0.9, "beta_2": 0.99, "epsilon": 1e-7}
    assert loaded.optimizer.iterations == 2
    for a, b in ((model, loaded),):
        a.train_step(x[16:], y[16:])
        b.train_step(x[16:], y[16:])
    for wa, wb in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    state_a, state_b = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert state_a.keys() == state_b.keys() and all(np.array_equal(state_a[k], state_b[k]) for k in state_a)


@pytest.mark.parametrize("make", [lambda: scratch.SGD(0.1, momentum=0.5, clipvalue=0.2, weight_decay=0.01),
                                  lambda: scratch.RMSprop(clipnorm=1.0)])
def test_every_optimizer_option_survives_a_checkpoint(make, tmp_path):
    model = scratch.build_model("blog", seed=0).compile(make())
    model.save(tmp_path / "m.npz")
    assert scratch.Sequential.load(tmp_path / "m.npz").optimizer.get_config() == model.optimizer.get_config()
