"""BatchNormalization, LayerNormalization and frozen layers in the scratch engine (no TensorFlow).

Finite differences in both BN modes (in training mode the loss depends on the batch
statistics, so every input moves every output of its channel), naive per-channel loops at
1e-12, the moving-statistics update by hand, frozen layers in models and checkpoints, counts
and errors.
"""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratch
from tests.finite_diff import check_layer
from tests.matchers import raises

F64 = "float64"
TOL = dict(rtol=1e-12, atol=1e-12)
SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)


def random_bn(shape, seed, dtype=F64, **kwargs):
    """A built BatchNormalization with random gamma, beta, moving mean and (positive) moving variance."""
    rng = np.random.default_rng(seed)
    layer = scratch.BatchNormalization(dtype=dtype, **kwargs)
    layer.build((None,) + tuple(shape[1:]))
    c = shape[-1]
    draws = {"gamma": rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c), "beta": rng.standard_normal(c),
             "moving_mean": rng.standard_normal(c), "moving_variance": rng.uniform(0.5, 2.0, c)}
    layer.set_weights([draws[k] for k in layer._weights()])
    return layer, rng.standard_normal(shape).astype(dtype)


# -- finite differences ---------------------------------------------------------------------

@SETTINGS
@given(shape=st.sampled_from([(4, 3), (3, 2, 3, 2), (2, 3, 4, 3), (1, 3, 3, 2), (5, 1)]),
       training=st.booleans(), center=st.booleans(), scale=st.booleans(),
       epsilon=st.sampled_from([1e-3, 0.5]), seed=st.integers(0, 1000))
def test_batch_normalization_gradients_by_finite_differences(shape, training, center, scale, epsilon, seed):
    layer, x = random_bn(shape, seed, center=center, scale=scale, epsilon=epsilon, momentum=0.0)
    # momentum 0: the moving statistics become the batch's at each training call, which does
    # not change the training-mode output (it uses the batch statistics), only the state
    check_layer(layer, x, np.random.default_rng(seed), training=training)


def test_training_mode_gradient_differs_from_the_inference_formula():
    """The batch statistics carry gradient: ignoring them (dx = gamma * s * dy) is wrong in training mode."""
    layer, x = random_bn((4, 3, 3, 2), seed=1)
    dy = np.random.default_rng(2).standard_normal(x.shape)
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    s = 1 / np.sqrt(x.var(axis=(0, 1, 2)) + layer.epsilon)
    naive = dy * layer.params["gamma"] * s
    assert np.abs(dx - naive).max() > 0.1 * np.abs(naive).max()
    np.testing.assert_allclose(dx.sum(axis=(0, 1, 2)), 0, atol=1e-12)  # shifting a channel changes nothing


@SETTINGS
@given(shape=st.sampled_from([(3, 4), (2, 3, 3, 5), (2, 2, 3, 2), (4, 2)]), center=st.booleans(),
       scale=st.booleans(), epsilon=st.sampled_from([1e-3, 0.3]), seed=st.integers(0, 1000))
def test_layer_normalization_gradients_by_finite_differences(shape, center, scale, epsilon, seed):
    rng = np.random.default_rng(seed)
    layer = scratch.LayerNormalization(center=center, scale=scale, epsilon=epsilon, dtype=F64)
    layer.build((None,) + shape[1:])
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    check_layer(layer, rng.standard_normal(shape), rng)


# -- naive loops ----------------------------------------------------------------------------

def naive_bn_training(x, gamma, beta, eps, dy):
    """Per channel, explicit loops: mean, biased variance, output, and dx from the full Jacobian
    ``d xhat_i / d x_j = s (delta_ij - 1/m) - s xhat_i xhat_j / m``."""
    rows = x.reshape(-1, x.shape[-1])
    drows = dy.reshape(-1, x.shape[-1])
    m, c = rows.shape
    y, dx = np.zeros_like(rows), np.zeros_like(rows)
    means, variances = np.zeros(c), np.zeros(c)
    for ch in range(c):
        total = 0.0
        for i in range(m):
            total += rows[i, ch]
        mean = total / m
        sq = 0.0
        for i in range(m):
            sq += (rows[i, ch] - mean) ** 2
        var = sq / m
        s = 1.0 / np.sqrt(var + eps)
        xhat = [(rows[i, ch] - mean) * s for i in range(m)]
        for i in range(m):
            y[i, ch] = gamma[ch] * xhat[i] + beta[ch]
        for j in range(m):
            acc = 0.0
            for i in range(m):
                jac = s * ((i == j) - 1.0 / m) - s * xhat[i] * xhat[j] / m
                acc += drows[i, ch] * gamma[ch] * jac
            dx[j, ch] = acc
        means[ch], variances[ch] = mean, var
    return y.reshape(x.shape), dx.reshape(x.shape), means, variances


@pytest.mark.parametrize("shape", [(3, 2, 3, 2), (5, 3), (1, 2, 2, 3)])
def test_batch_normalization_training_mode_against_naive_loops(shape):
    layer, x = random_bn(shape, seed=sum(shape), momentum=0.75)
    gamma, beta = layer.params["gamma"].copy(), layer.params["beta"].copy()
    mm, mv = layer.state["moving_mean"].copy(), layer.state["moving_variance"].copy()
    dy = np.random.default_rng(9).standard_normal(shape)
    y_ref, dx_ref, mean, var = naive_bn_training(x, gamma, beta, layer.epsilon, dy)
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    np.testing.assert_allclose(y, y_ref, **TOL)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.state["moving_mean"], mm * 0.75 + mean * 0.25, **TOL)
    np.testing.assert_allclose(layer.state["moving_variance"], mv * 0.75 + var * 0.25, **TOL)  # biased variance


def test_batch_normalization_inference_and_layer_normalization_against_naive_loops():
    layer, x = random_bn((3, 2, 2, 3), seed=4)
    g, b = layer.params["gamma"], layer.params["beta"]
    mm, mv = layer.state["moving_mean"], layer.state["moving_variance"]
    ref = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        ch = idx[-1]
        ref[idx] = g[ch] * (x[idx] - mm[ch]) / np.sqrt(mv[ch] + layer.epsilon) + b[ch]
    np.testing.assert_allclose(layer.forward(x), ref, **TOL)

    ln = scratch.LayerNormalization(dtype=F64, epsilon=0.01)
    ln.build((None, 2, 2, 3))
    ln.set_weights([np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.2, -0.3])])
    ref = np.zeros_like(x)
    for pos in np.ndindex(x.shape[:-1]):
        v = x[pos]
        mean = sum(v) / len(v)
        var = sum((t - mean) ** 2 for t in v) / len(v)  # biased, epsilon inside the root
        for ch in range(len(v)):
            ref[pos + (ch,)] = ln.params["gamma"][ch] * (v[ch] - mean) / np.sqrt(var + 0.01) + ln.params["beta"][ch]
    np.testing.assert_allclose(ln.forward(x), ref, **TOL)


# -- moving statistics, modes, frozen --------------------------------------------------------

def test_moving_statistics_update_by_hand():
    """One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25; from (0, 1), momentum 0.9:
    moving_mean = 0.9 * 0 + 2.5 * 0.1 = 0.25, moving_variance = 0.9 * 1 + 1.25 * 0.1 = 1.025."""
    layer = scratch.BatchNormalization(momentum=0.9, dtype=F64)
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1, 1)
    y = layer.forward(x, training=True)
    assert layer.state["moving_mean"][0] == pytest.approx(0.25, rel=1e-15)
    assert layer.state["moving_variance"][0] == pytest.approx(1.025, rel=1e-15)
    np.testing.assert_allclose(y.ravel(), (x.ravel() - 2.5) / np.sqrt(1.25 + 1e-3), **TOL)
    layer.forward(x)  # inference: nothing moves
    assert layer.state["moving_mean"][0] == pytest.approx(0.25, rel=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_normalization_keeps_its_dtype(dtype):
    layer, x = random_bn((4, 3, 3, 2), seed=3, dtype=dtype)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert {a.dtype for a in [y, dx, *layer.grads.values(), *layer.get_weights()]} == {np.dtype(dtype)}


def test_frozen_batch_normalization_runs_in_inference_mode_under_training():
    frozen, x = random_bn((4, 3, 3, 2), seed=5, trainable=False)
    live, _ = random_bn((4, 3, 3, 2), seed=5)
    before = frozen.get_weights()
    dy = np.random.default_rng(0).standard_normal(x.shape)
    y_frozen = frozen.forward(x, training=True)
    dx_frozen = frozen.backward(dy)
    y_inf = live.forward(x, training=False)
    dx_inf = live.backward(dy)
    assert y_frozen.tobytes() == y_inf.tobytes() and dx_frozen.tobytes() == dx_inf.tobytes()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, frozen.get_weights()))
    assert not np.allclose(live.forward(x, training=True), y_inf)  # the unfrozen one does differ


def bn_model(frozen=(), seed=0, dtype="float32"):
    """Conv2D -> BN -> ReLU -> MaxPool -> Flatten -> Dense; the layer indices in ``frozen`` frozen."""
    layers = [scratch.Conv2D(4, 3, use_bias=False), scratch.BatchNormalization(momentum=0.8), scratch.ReLU(),
              scratch.MaxPooling2D(2), scratch.Flatten(), scratch.Dense(10)]
    for i in frozen:
        layers[i].trainable = False
    return scratch.Sequential([la for la in layers], input_shape=(10, 10, 1), seed=seed, dtype=dtype)


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 10, 10, 1)).astype(np.float32), rng.integers(0, 10, n)


def test_frozen_layers_never_change_and_gradients_still_flow():
    model = bn_model(frozen=(1, 5))  # BN and the last Dense frozen; the Conv2D before them trains
    model.compile(scratch.Adam(0.01))
    before = [la.get_weights() for la in model.layers]
    x, y = batch()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = [la.get_weights() for la in model.layers]
    for i in (1, 5):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(before[i], after[i]))
    assert np.abs(after[0][0] - before[0][0]).max() > 1e-3  # the conv trained through both frozen layers
    assert set(model.optimizer.slots) == {"conv2d/kernel"}


def test_checkpoint_keeps_moving_statistics_frozen_flags_and_only_trainable_slots(tmp_path):
    x, y = batch(24, seed=1)
    straight = bn_model(frozen=(0,)).compile(scratch.Adam(0.01))
    straight.fit(x, y, epochs=2, batch_size=8, verbose=0)

    first = bn_model(frozen=(0,)).compile(scratch.Adam(0.01))
    first.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.abs(first.layers[1].state["moving_mean"]).max() > 0
    first.save(tmp_path / "m.npz")
    resumed = scratch.Sequential.load(tmp_path / "m.npz")
    assert [la.trainable for la in resumed.layers] == [False] + [True] * 5
    assert all(a.tobytes() == b.tobytes() for a, b in zip(resumed.get_weights(), first.get_weights()))
    assert sorted(resumed.optimizer.slots) == ["batch_normalization/beta", "batch_normalization/gamma",
                                               "dense/bias", "dense/kernel"]
    resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(resumed.get_weights(), straight.get_weights()))


def test_config_round_trip_keeps_trainable_and_the_options():
    model = bn_model(frozen=(1,))
    model.layers[1].epsilon = 0.01
    model.add(scratch.LayerNormalization(center=False, trainable=False))
    model.build((None, 10, 10, 1))
    config = model.get_config()
    again = scratch.Sequential.from_config(config)
    assert again.get_config() == config
    assert [la.trainable for la in again.layers] == [True, False, True, True, True, True, False]
    bn = again.layers[1]
    assert (bn.momentum, bn.epsilon, bn.axis, bn.center, bn.scale) == (0.8, 0.01, -1, True, True)


def test_summary_counts_trainable_and_non_trainable():
    """Conv 3x3x1x4 no bias = 36; BN(4): gamma, beta trainable (8), moving statistics not (8);
    Dense 4*4*4 -> 10: 650. Frozen BN: its 16 all non-trainable; frozen conv: its 36 too."""
    for frozen, trainable in [((), 36 + 8 + 650), ((1,), 36 + 650), ((0, 1), 650)]:
        lines = []
        bn_model(frozen=frozen).summary(print_fn=lines.append)
        text = "\n".join(lines)
        total = 36 + 16 + 650
        assert f"Total params: {total:,} (" in text
        assert f"Trainable params: {trainable:,} (" in text
        assert f"Non-trainable params: {total - trainable:,} (" in text
        assert "batch_normalization (BatchNormalization) | (None, 8, 8, 4)" in text


def test_a_diverged_step_leaves_the_moving_statistics_of_the_last_good_step():
    model = bn_model().compile(scratch.SGD(0.1))
    x, y = batch(8)
    model.train_step(x, y)
    before = model.get_weights()
    model.layers[-1].params["bias"][0] = np.inf  # the output becomes non-finite
    with np.errstate(invalid="ignore"), pytest.raises(scratch.NonFiniteLossError):
        model.train_step(x * 3, y)  # would move the moving statistics
    after = model.get_weights()
    for i in (1, 2, 3, 4):  # gamma, beta, moving_mean, moving_variance
        assert before[i].tobytes() == after[i].tobytes()


# -- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, fragments", [
    (lambda: scratch.BatchNormalization(axis=1, name="bn"), ["'bn'", "axis=1", "not the last axis", "(2, 3, 3, 2)"]),
    (lambda: scratch.BatchNormalization(axis=3, name="bn"), ["'bn'", "axis=3", "not the last axis"]),
    (lambda: scratch.LayerNormalization(axis=0, name="ln"), ["'ln'", "axis=0", "distinct non-batch axes"]),
    (lambda: scratch.LayerNormalization(axis=[1, -3], name="ln"), ["'ln'", "axis=[1, -3]", "distinct non-batch"]),
    (lambda: scratch.LayerNormalization(axis=[1, 4], name="ln"), ["'ln'", "axis=[1, 4]", "(2, 3, 3, 2)"]),
    (lambda: scratch.GroupNormalization(groups=3, name="gn"), ["'gn'", "groups=3", "2 channels"]),
])
def test_axes_other_than_the_last_are_refused_at_build(make, fragments):
    layer = make()
    x = np.zeros((2, 3, 3, 2) if "axis=3" not in fragments else (2, 3), np.float32)
    with raises(*fragments):
        layer(x)


@pytest.mark.parametrize("make, fragments", [
    (lambda: scratch.BatchNormalization(axis=-2, name="bn"), ["'bn'", "axis must be -1", "axis=-2"]),
    (lambda: scratch.LayerNormalization(axis=(1, 2.0), name="ln"), ["'ln'", "list of ints", "axis=(1, 2.0)"]),
    (lambda: scratch.GroupNormalization(groups=0, name="gn"), ["'gn'", "groups", "-1", "0"]),
    (lambda: scratch.GroupNormalization(axis=-2, name="gn"), ["'gn'", "axis must be -1", "axis=-2"]),
    (lambda: scratch.BatchNormalization(momentum=1.5, name="bn"), ["'bn'", "momentum", "[0, 1]", "1.5"]),
    (lambda: scratch.BatchNormalization(epsilon=0, name="bn"), ["'bn'", "epsilon", "positive", "0"]),
    (lambda: scratch.LayerNormalization(epsilon="1e-3", name="ln"), ["'ln'", "epsilon", "'1e-3'"]),
    (lambda: scratch.BatchNormalization(center=1, name="bn"), ["'bn'", "center must be True or False", "1"]),
    (lambda: scratch.LayerNormalization(scale=None, name="ln"), ["'ln'", "scale must be True or False", "None"]),
    (lambda: scratch.BatchNormalization(gamma_initializer="random", name="bn"), ["'bn'", "unknown initializer",
                                                                                  "'random'", "ones"]),
    (lambda: scratch.BatchNormalization(moving_variance_initializer="x", name="bn"), ["'bn'", "'x'"]),
])
def test_bad_arguments_are_refused(make, fragments):
    with raises(*fragments):
        make()


def test_a_batch_alone_is_refused():
    with raises("BatchNormalization 'bn'", "expected input (batch, ..., channels)", "(4,)"):
        scratch.BatchNormalization(name="bn")(np.zeros(4, np.float32))


# -- LayerNormalization over other axes, GroupNormalization, BatchNormalization of any rank (issue 20) --

def naive_layer_norm(x, axes, gamma, beta, eps):
    """Per sample, one loop over the positions of the axes not normalized: the values of the
    normalized axes standardized, times gamma plus beta (shaped like those axes, in sorted order)."""
    axes = sorted(a % x.ndim for a in axes)
    kept = [a for a in range(x.ndim) if a not in axes]
    own = tuple(0 if a in kept else slice(None) for a in range(x.ndim))  # gamma/beta of the normalized axes
    y = np.empty_like(x)
    for idx in np.ndindex(*[x.shape[a] for a in kept]):
        sl = [slice(None)] * x.ndim
        for a, i in zip(kept, idx):
            sl[a] = i
        v = x[tuple(sl)]
        y[tuple(sl)] = (v - v.mean()) / np.sqrt(v.var() + eps) * gamma[own] + beta[own]
    return y


def naive_group_norm(x, groups, gamma, beta, eps):
    n, c = x.shape[0], x.shape[-1]
    size = c // groups
    y = np.empty_like(x)
    for b in range(n):
        for g in range(groups):
            v = x[b, ..., g * size:(g + 1) * size]
            y[b, ..., g * size:(g + 1) * size] = (v - v.mean()) / np.sqrt(v.var() + eps)
    return y * gamma + beta


@pytest.mark.parametrize("axis, shape", [([1, 2, 3], (2, 3, 4, 2)), ([1, 2], (2, 3, 4, 2)), ([2, 1], (2, 4, 3, 3)),
                                         (1, (3, 5, 2)), ([-1, 1], (2, 3, 2, 4))])
def test_layer_normalization_over_any_axes(axis, shape):
    rng = np.random.default_rng(0)
    layer = scratch.LayerNormalization(axis=axis, epsilon=0.01, dtype=F64)
    layer.build((None,) + shape[1:])
    sizes = tuple(shape[a] for a in (sorted(axis) if isinstance(axis, list) else [axis]))
    assert layer.params["gamma"].shape == layer.params["beta"].shape == sizes  # Keras's shapes
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal(shape)
    bshape = [1] * len(shape)
    for a in axis if isinstance(axis, list) else [axis]:
        bshape[a] = shape[a]  # the parameters reshaped in C order, as ops.layer_normalization does (for
        # axis=[-1, 1], Keras's sorted [-1, 1] gives gamma (C, H), read as (H, C): its quirk, kept)
    gamma, beta = (layer.params[k].reshape(bshape) for k in ("gamma", "beta"))
    np.testing.assert_allclose(layer.forward(x), naive_layer_norm(x, axis if isinstance(axis, list) else [axis],
                                                                  gamma, beta, 0.01), **TOL)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("groups, shape", [(2, (2, 3, 4, 4)), (1, (2, 3, 3, 3)), (-1, (2, 5, 3)), (3, (2, 2, 3, 2, 6))])
def test_group_normalization(groups, shape):
    rng = np.random.default_rng(1)
    layer = scratch.GroupNormalization(groups=groups, epsilon=0.01, dtype=F64)
    layer.build((None,) + shape[1:])
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal(shape)
    g = shape[-1] if groups == -1 else groups
    np.testing.assert_allclose(layer.forward(x, training=True),
                               naive_group_norm(x, g, layer.params["gamma"], layer.params["beta"], 0.01), **TOL)
    check_layer(layer, x, rng, training=True)


@pytest.mark.parametrize("shape", [(4, 5), (3, 7, 4), (2, 3, 4, 2, 3)])
def test_batch_normalization_of_any_rank(shape):
    layer, x = random_bn(shape, 2)
    check_layer(layer, x, np.random.default_rng(4), training=True)
