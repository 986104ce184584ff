"""Graph models (``scratch.Model``) and the merge layers: mechanics against naive references and
finite differences (float64): fan-out, shared layers, nested models, several inputs and outputs."""

import json

import numpy as np
import pytest

import scratch

from .finite_diff import assert_gradient, randomize_weights

F64 = "float64"


def _check_graph(model, xs, rng, training=False):
    """Finite differences of every input and every trainable parameter of a graph model, with a
    random projection of every output as the loss."""
    for layer in model.layers:
        if layer.params:
            randomize_weights(layer, rng, scale=0.4)
    model._set_input_grads(True)
    outs = model.forward(xs, training=training)
    outs_list = outs if isinstance(outs, list) else [outs]
    rs = [rng.standard_normal(o.shape) for o in outs_list]
    dxs = model.backward(rs if isinstance(outs, list) else rs[0])
    dxs = dxs if isinstance(dxs, list) else [dxs]
    grads = {k: v.copy() for k, v in model.named_grads().items()}
    params = model.named_params()
    assert set(grads) == set(params)

    def loss():
        out = model.forward(xs, training=training)
        out = out if isinstance(out, list) else [out]
        return float(sum((o * r).sum() for o, r in zip(out, rs)))

    for i, (x, dx) in enumerate(zip(xs if isinstance(xs, list) else [xs], dxs)):
        assert_gradient(f"{model.name} input {i}", loss, x, dx, rng)
    for k, p in params.items():
        assert_gradient(f"{model.name} {k}", loss, p, grads[k], rng)


def test_fan_out_gradients_add_up():
    """One tensor read by three layers: its gradient is the sum of the three (and matches FD)."""
    x = scratch.Input((6, 6, 2), dtype=F64)
    h = scratch.Conv2D(3, 3, padding="same", dtype=F64)(x)
    a = scratch.Conv2D(3, 1, dtype=F64, activation="relu")(h)
    b = scratch.AveragePooling2D(1, dtype=F64)(h)
    c = scratch.Conv2D(3, 3, padding="same", dtype=F64)(h)
    y = scratch.Add(dtype=F64)([a, b, c])
    model = scratch.Model(x, scratch.Dense(4, dtype=F64)(scratch.Flatten(dtype=F64)(y)), seed=0)
    rng = np.random.default_rng(0)
    _check_graph(model, rng.standard_normal((2, 6, 6, 2)), rng)


def test_fan_out_gradient_equals_the_sum_of_the_branches():
    """The naive reference: with y = f(h) + g(h), dL/dh is f's dx plus g's dx computed separately."""
    rng = np.random.default_rng(1)
    x = scratch.Input((5, 5, 2), dtype=F64)
    f, g = scratch.Conv2D(2, 3, padding="same", dtype=F64), scratch.Conv2D(2, 1, dtype=F64)
    model = scratch.Model(x, scratch.Add(dtype=F64)([f(x), g(x)]), seed=3)
    model._set_input_grads(True)
    xv = rng.standard_normal((2, 5, 5, 2))
    dy = rng.standard_normal((2, 5, 5, 2))
    model.forward(xv)
    dx = model.backward(dy)
    f.forward(xv)
    dxf = f.backward(dy)
    g.forward(xv)
    dxg = g.backward(dy)
    np.testing.assert_allclose(dx, dxf + dxg, rtol=1e-13, atol=1e-13)


def test_shared_layer_gradients_add_up():
    """A Conv2D called twice (shared weights): its kernel gradient is the sum over both calls."""
    x1, x2 = scratch.Input((5, 5, 2), dtype=F64), scratch.Input((5, 5, 2), dtype=F64)
    shared = scratch.Conv2D(3, 3, padding="same", dtype=F64, name="shared")
    y = scratch.Concatenate(dtype=F64)([shared(x1), shared(scratch.ReLU(dtype=F64)(x2))])
    model = scratch.Model([x1, x2], y, seed=1)
    assert model.get_layer("shared") is shared and model.layers.count(shared) == 1
    rng = np.random.default_rng(2)
    _check_graph(model, [rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((2, 5, 5, 2))], rng)
    # the naive reference: each call separately, weight gradients summed
    xv1, xv2 = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((2, 5, 5, 2))
    dy = rng.standard_normal((2, 5, 5, 6))
    model.forward([xv1, xv2])
    model.backward(dy)
    total = shared.grads["kernel"].copy()
    shared.forward(xv1)
    shared.backward(dy[..., :3])
    first = shared.grads["kernel"].copy()
    shared.forward(np.maximum(xv2, 0))
    shared.backward(dy[..., 3:])
    np.testing.assert_allclose(total, first + shared.grads["kernel"], rtol=1e-13, atol=1e-13)


def test_nested_model_as_a_layer():
    inner_in = scratch.Input((6, 6, 3), dtype=F64)
    inner = scratch.Model(inner_in, scratch.Conv2D(4, 3, dtype=F64, activation="relu")(inner_in), name="block",
                          seed=2)
    x = scratch.Input((6, 6, 3), dtype=F64)
    y = inner(scratch.Conv2D(3, 1, dtype=F64)(x))
    model = scratch.Model(x, scratch.Dense(2, dtype=F64)(scratch.Flatten(dtype=F64)(y)), seed=4)
    assert any(k.startswith("block/conv2d/") for k in model.named_params())
    rng = np.random.default_rng(3)
    _check_graph(model, rng.standard_normal((2, 6, 6, 3)), rng)


def test_nested_model_called_twice_shares_its_weights():
    inner_in = scratch.Input((4,), dtype=F64)
    inner = scratch.Model(inner_in, scratch.Dense(4, dtype=F64, activation="relu")(inner_in), name="mlp", seed=5)
    x = scratch.Input((4,), dtype=F64)
    model = scratch.Model(x, inner(inner(x)), seed=6)
    rng = np.random.default_rng(4)
    _check_graph(model, rng.standard_normal((3, 4)), rng)


def test_several_inputs_and_outputs():
    a, b = scratch.Input((4, 4, 2), dtype=F64), scratch.Input((4, 4, 2), dtype=F64)
    s = scratch.Subtract(dtype=F64)([a, b])
    m = scratch.Multiply(dtype=F64)([a, s])
    out1 = scratch.Dense(3, dtype=F64)(scratch.Flatten(dtype=F64)(m))
    out2 = scratch.Maximum(dtype=F64)([s, b])
    model = scratch.Model([a, b], [out1, out2], seed=7)
    rng = np.random.default_rng(5)
    _check_graph(model, [rng.standard_normal((2, 4, 4, 2)), rng.standard_normal((2, 4, 4, 2))], rng)


def test_an_output_that_feeds_another_layer_too():
    """An output also read by a later layer: its gradient is the output's dy plus the later layer's."""
    x = scratch.Input((3,), dtype=F64)
    h = scratch.Dense(3, dtype=F64)(x)
    out = scratch.Dense(2, dtype=F64)(h)
    model = scratch.Model(x, [h, out], seed=8)
    rng = np.random.default_rng(6)
    _check_graph(model, rng.standard_normal((4, 3)), rng)


# -- merge layers ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
@pytest.mark.parametrize("shapes", [[(2, 3, 3, 2)] * 2, [(2, 3, 3, 2), (2, 1, 1, 2)], [(2, 4, 3), (2, 3)]])
def test_merge_layers_finite_differences_with_broadcasting(cls, shapes):
    rng = np.random.default_rng(7)
    n = 2 if cls == "Subtract" else 3
    shapes = (shapes * 2)[:n]
    layer = getattr(scratch, cls)(dtype=F64)
    xs = [rng.standard_normal(s) for s in shapes]
    y = layer.forward(xs)
    r = rng.standard_normal(y.shape)
    dxs = layer.backward(r)
    assert [d.shape for d in dxs] == [x.shape for x in xs]
    for i, (x, dx) in enumerate(zip(xs, dxs)):
        assert_gradient(f"{cls} input {i}", lambda: float((layer.forward(xs) * r).sum()), x, dx, rng)


def test_merge_layers_against_a_naive_reference():
    rng = np.random.default_rng(8)
    a, b, c = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((2, 1, 1, 2)), rng.standard_normal((2, 3, 3, 2))
    ref = {"Add": a + b + c, "Multiply": a * b * c, "Average": (a + b + c) / 3,
           "Maximum": np.maximum(np.maximum(a, b), c), "Minimum": np.minimum(np.minimum(a, b), c)}
    for cls, want in ref.items():
        np.testing.assert_allclose(getattr(scratch, cls)(dtype=F64).forward([a, b, c]), want, rtol=1e-15)
    np.testing.assert_array_equal(scratch.Subtract(dtype=F64).forward([a, c]), a - c)


def test_maximum_tie_goes_to_the_first_input():
    x = np.ones((1, 3))
    layer = scratch.Maximum(dtype=F64)
    layer.forward([x, x.copy(), x.copy()])
    grads = layer.backward(np.full((1, 3), 2.0))
    assert [g.tolist() for g in grads] == [[[2.0, 2.0, 2.0]], [[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]]


@pytest.mark.parametrize("axis", [-1, 1, 2, 3])
def test_concatenate_finite_differences(axis):
    rng = np.random.default_rng(9)
    shapes = [(2, 3, 4, 2)] * 3
    shapes = [tuple(s[i] + (k if i == axis % 4 else 0) for i in range(4)) for k, s in enumerate(shapes)]
    layer = scratch.Concatenate(axis=axis, dtype=F64)
    xs = [rng.standard_normal(s) for s in shapes]
    y = layer.forward(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    r = rng.standard_normal(y.shape)
    for i, (x, dx) in enumerate(zip(xs, layer.backward(r))):
        assert_gradient(f"concat input {i}", lambda: float((layer.forward(xs) * r).sum()), x, dx, rng)


# -- errors ------------------------------------------------------------------------------------
def test_disconnected_graph_is_refused():
    a, b = scratch.Input((3,)), scratch.Input((3,))
    y = scratch.Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected"):
        scratch.Model(a, y)


def test_merge_refuses_incompatible_shapes_and_subtract_three_inputs():
    with pytest.raises(ValueError, match=r"Add.*incompatible shapes"):
        scratch.Add()([scratch.Input((4, 4, 2)), scratch.Input((4, 3, 2))])
    with pytest.raises(ValueError, match="Subtract.*exactly 2 inputs"):
        scratch.Subtract()([scratch.Input((2,))] * 3)
    with pytest.raises(ValueError, match="Concatenate.*every axis but -1"):
        scratch.Concatenate()([scratch.Input((4, 4, 2)), scratch.Input((4, 3, 2))])


def test_model_refuses_wrong_input_arrays():
    x = scratch.Input((3,))
    model = scratch.Model(x, scratch.Dense(2)(x), seed=0)
    with pytest.raises(ValueError, match=r"expects float32 arrays of shape \(None, 3\), received float32 \(2, 4\)"):
        model.forward(np.zeros((2, 4), np.float32))


def test_same_seed_same_model():
    def build():
        x = scratch.Input((5, 5, 1))
        return scratch.Model(x, scratch.Dense(2)(scratch.Flatten()(scratch.Conv2D(2, 3)(x))), seed=11)

    assert all(np.array_equal(a, b) for a, b in zip(build().get_weights(), build().get_weights()))


def test_config_round_trip_rebuilds_the_same_graph():
    """get_config -> JSON -> from_config: the same layers, calls and (after set_weights) outputs."""
    import json

    inner_in = scratch.Input((5, 5, 2), dtype=F64)
    inner = scratch.Model(inner_in, scratch.Conv2D(2, 3, padding="same", dtype=F64)(inner_in), name="inner", seed=1)
    a, b = scratch.Input((5, 5, 2), dtype=F64, name="a"), scratch.Input((5, 5, 2), dtype=F64, name="b")
    shared = scratch.Conv2D(2, 1, dtype=F64, name="shared")
    y = scratch.Concatenate(dtype=F64)([shared(a), shared(inner(b))])
    model = scratch.Model([a, b], [y, scratch.Add(dtype=F64)([a, b])], name="graph", seed=2)
    config = json.loads(json.dumps(model.get_config()))
    copy = scratch.Model.from_config(config)
    copy.set_weights(model.get_weights())
    assert [la.name for la in copy.layers] == [la.name for la in model.layers]
    assert json.dumps(copy.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    rng = np.random.default_rng(12)
    xs = [rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((2, 5, 5, 2))]
    for u, v in zip(model.forward(xs), copy.forward(xs)):
        np.testing.assert_array_equal(u, v)


def test_config_naming_a_missing_tensor_is_refused():
    x = scratch.Input((3,), name="x")
    config = scratch.Model(x, scratch.Dense(2, name="d")(x), seed=0).get_config()
    config["layers"][0]["inbound_nodes"][0]["args"] = [["nowhere", 0, 0]]
    with pytest.raises(ValueError, match=r"need tensors \['nowhere'\]"):
        scratch.Model.from_config(config)


# -- training a graph ----------------------------------------------------------------------------
def _residual_net(dtype="float64", seed=0):
    x = scratch.Input((8, 8, 1), dtype=dtype)
    h = scratch.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype)(x)
    h = scratch.Add(dtype=dtype)([h, scratch.Conv2D(4, 1, dtype=dtype)(x)])
    h = scratch.BatchNormalization(dtype=dtype)(h)
    h = scratch.GlobalAveragePooling2D(dtype=dtype)(h)
    return scratch.Model(x, scratch.Dense(3, dtype=dtype)(h), name="residual", seed=seed)


def test_a_graph_trains_like_a_sequential_and_its_checkpoint_resumes_bit_identically(tmp_path):
    rng = np.random.default_rng(20)
    x, y = rng.uniform(0, 1, (40, 8, 8, 1)), rng.integers(0, 3, 40)
    model = _residual_net().compile(scratch.Adam(0.01))
    first = model.evaluate(x, y)[0]
    model.fit(x, y, epochs=1, batch_size=8, seed=1, verbose=0)
    path = tmp_path / "graph.npz"
    model.save(path)
    restored = scratch.load_checkpoint(path)[0]
    assert isinstance(restored, scratch.Model) and restored.get_config() == model.get_config()
    assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), model.get_weights()))
    model.fit(x, y, epochs=3, batch_size=8, seed=1, verbose=0, initial_epoch=1)
    restored.fit(x, y, epochs=3, batch_size=8, seed=1, verbose=0, initial_epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), model.get_weights()))
    assert model.evaluate(x, y)[0] < first
    assert model.predict(x).shape == (40, 3)


def test_graph_training_step_is_forward_loss_backward_update():
    """train_step on a graph equals the four steps done by hand (the naive reference)."""
    rng = np.random.default_rng(21)
    x, y = rng.uniform(0, 1, (6, 8, 8, 1)), rng.integers(0, 3, 6)
    model, by_hand = _residual_net(seed=3).compile(scratch.SGD(0.1)), _residual_net(seed=3).compile(scratch.SGD(0.1))
    model.train_step(x, y)
    loss = scratch.SparseCategoricalCrossentropy(from_logits=True)
    loss(y, by_hand.forward(x, training=True))
    by_hand.backward(loss.backward())
    by_hand.optimizer.step(by_hand.named_params(), by_hand.named_grads())
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), by_hand.get_weights()))


def test_graph_with_several_inputs_refuses_fit_clearly():
    a, b = scratch.Input((3,)), scratch.Input((3,))
    model = scratch.Model([a, b], scratch.Add()([a, b]), seed=0).compile("sgd")
    with pytest.raises(ValueError, match="take one input and one output; this model has 2 and 1"):
        model.fit(np.zeros((2, 3), np.float32), np.zeros(2, int))


def test_from_config_keeps_each_layers_frozen_flag_inside_a_trainable_model():
    """Keras's ``Model.from_config`` keeps a frozen layer frozen inside a trainable (nested) model,
    and a frozen model freezes every layer in it (checked in Keras 3.15: ``keras.Model.from_config``
    and ``load_model`` of a ``.keras`` file give the inner layer ``trainable=False``)."""
    inp = scratch.Input((4,))
    inner_out = scratch.Dense(3, name="inner")(inp)
    base = scratch.Model(inp, inner_out, name="base")
    base.get_layer("inner").trainable = False
    top_in = scratch.Input((4,))
    model = scratch.Model(top_in, scratch.Dense(2, name="head")(base(top_in)))
    again = scratch.Model.from_config(json.loads(json.dumps(model.get_config())))
    assert [la.trainable for la in scratch.leaf_layers(again)] == [False, True]
    assert again.trainable and again.get_layer("base").trainable
    base.trainable = False
    again = scratch.Model.from_config(model.get_config())
    assert [la.trainable for la in scratch.leaf_layers(again)] == [False, True]
    assert not again.get_layer("base").trainable


def test_input_gradient_is_whole_or_none_when_an_input_fans_out():
    """An input read by a Conv2D (which skips dL/dx by default: a model's images need none) and by
    an Add: backward returns no input gradient unless asked, and the whole sum when asked, never
    the Add's share alone (found by the guide's residual block)."""
    rng = np.random.default_rng(3)
    x_in = scratch.Input((5, 5, 2), dtype=F64)
    model = scratch.Model(x_in, scratch.Add(dtype=F64)([x_in, scratch.Conv2D(2, 3, padding="same", dtype=F64)(x_in)]))
    x = rng.standard_normal((2, 5, 5, 2))
    dy = rng.standard_normal((2, 5, 5, 2))
    model.forward(x)
    assert model.backward(dy) is None
    model.forward(x)
    dx = model.backward(dy, inputs_needed=True)
    assert_gradient("fan-out input", lambda: float((model.forward(x) * dy).sum()), x, dx, rng)
    fresh = scratch.Model(x_in, model.outputs[0])  # asked the other way: one reader's input_grad turned on
    fresh.layers[0].input_grad = True
    fresh.forward(x)
    np.testing.assert_allclose(fresh.backward(dy), dx, rtol=1e-12)
