"""``Op``, the operations of a Functional model (``scratch.layers.ops``): every parity case's backward
against central finite differences in float64, shapes against the arrays, refusals, config round trips
and graphs of ops saved and loaded as checkpoints."""

import numpy as np
import pytest

import scratch
from parity_tests.layer_cases.ops import CASES
from tests.finite_diff import assert_gradient


def _inputs(case, rng):
    _, _, kwargs, shape, *rest = case
    options = rest[0] if rest else {}
    shapes = shape if isinstance(shape, list) else [shape]
    xs = [rng.standard_normal(s) for s in shapes]
    if options.get("positive"):
        xs = [0.5 + np.abs(x) for x in xs]
    return xs if isinstance(shape, list) else xs[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_backward_matches_finite_differences(case):
    rng = np.random.default_rng(0)
    layer = scratch.Op(**case[2], dtype="float64")
    x = _inputs(case, rng)
    y = layer.forward(x)
    shape = [(None,) + a.shape[1:] for a in x] if isinstance(x, list) else (None,) + x.shape[1:]
    assert layer.compute_output_shape(shape) == (None,) + y.shape[1:]
    r = rng.standard_normal(y.shape)
    r_copy = r.copy()
    dx = layer.backward(r)
    np.testing.assert_array_equal(r, r_copy)  # dy untouched
    xs, dxs = (x, dx) if isinstance(x, list) else ([x], [dx])
    assert len(dxs) == len(xs)

    def loss():
        return float((layer.forward(x) * r).sum())

    for i, (a, d) in enumerate(zip(xs, dxs)):
        assert_gradient(f"{case[0]} dx{i}", loss, a, np.asarray(d), rng)


def test_op_forward_equations():
    x = np.arange(24, dtype="float64").reshape(2, 3, 4) - 5
    assert np.array_equal(scratch.Op("getitem", key=[[None, None, None], [1, 3, None]], dtype="float64").forward(x),
                          x[:, 1:3])
    assert np.array_equal(scratch.Op("sum", axis=-1, keepdims=True, dtype="float64").forward(x),
                          x.sum(-1, keepdims=True))
    assert np.array_equal(scratch.Op("power", constant=2.0, reverse=True, dtype="float64").forward(x), 2.0 ** x)
    a, b = x, x[:, :1, :]
    assert np.array_equal(scratch.Op("subtract", dtype="float64").forward([a, b]), a - b)
    assert np.array_equal(scratch.Op("clip", x_min=-1.0, x_max=2.0, dtype="float64").forward(x), np.clip(x, -1, 2))


def test_max_shares_dy_among_ties_and_maximum_gives_ties_to_the_first():
    x = np.array([[1.0, 3.0, 3.0]])
    layer = scratch.Op("max", axis=-1, dtype="float64")
    layer.forward(x)
    assert layer.backward(np.array([1.0])).tolist() == [[0.0, 0.5, 0.5]]
    layer = scratch.Op("maximum", dtype="float64")
    layer.forward([x, np.array([[3.0, 3.0, 1.0]])])
    d1, d2 = layer.backward(np.ones((1, 3)))
    assert d1.tolist() == [[0.0, 1.0, 1.0]] and d2.tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize("kwargs, shape, message", [
    (dict(op="sum", axis=0), (None, 3), "includes the batch axis"),
    (dict(op="mean", axis=None), (None, 3), "includes the batch axis"),
    (dict(op="transpose", axes=[1, 0, 2]), (None, 3, 4), "batch axis first"),
    (dict(op="getitem", key=[[0, 1, None]]), (None, 3), "indexes the batch axis"),
    (dict(op="getitem", key=[None]), (None, 3), "new axis before the batch axis"),
    (dict(op="reshape", newshape=[4, 3]), (None, 3), r"\(-1, d1, ...\)"),
    (dict(op="reshape", newshape=[-1, 5]), (None, 3), "cannot reshape"),
    (dict(op="squeeze", axis=None), (None, 1, 3), "give the axis"),
    (dict(op="squeeze", axis=2), (None, 1, 3), "cannot squeeze axis 2 of size 3"),
    (dict(op="add"), [(None, 3), (None, 2, 3)], "ranks 2 and 3"),
    (dict(op="multiply"), [(None, 3, 2), (None, 2, 2)], "do not broadcast"),
    (dict(op="matmul"), [(None, 3), (None, 3)], "rank 3 or more"),
])
def test_op_refuses_in_one_line_naming_the_layer(kwargs, shape, message):
    with pytest.raises(ValueError, match=f"Op 'odd'.*{message}"):
        layer = scratch.Op(name="odd", **kwargs)
        layer.build(shape)


@pytest.mark.parametrize("kwargs, message", [
    (dict(op="cosh"), "op must be one of"),
    (dict(op="sum", keepdim=True), "takes no option 'keepdim'"),
    (dict(op="power"), "constant exponent or base"),
    (dict(op="sqrt", constant=2.0), "only for the binary operations"),
    (dict(op="add", constant=float("nan")), "only a finite number"),
    (dict(op="clip", x_min=None, x_max=1.0), "x_min must be a number"),
    (dict(op="getitem", key=[["a", None, None]]), "index entry"),
])
def test_op_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scratch.Op(**kwargs)


def _siamese(dtype="float64"):
    a, b = scratch.Input((6,), name="left", dtype=dtype), scratch.Input((6,), name="right", dtype=dtype)
    tower = scratch.Dense(4, activation="relu", dtype=dtype)
    d = scratch.Op("subtract", dtype=dtype)([tower(a), tower(b)])
    s = scratch.Op("sum", axis=-1, keepdims=True, dtype=dtype)(scratch.Op("square", dtype=dtype)(d))
    dist = scratch.Op("sqrt", dtype=dtype)(scratch.Op("maximum", constant=1e-7, dtype=dtype)(s))
    head = scratch.Op("getitem", key=["...", [0, 2, None]], dtype=dtype)(tower(a))
    out = scratch.Op("concatenate", axis=-1, dtype=dtype)([dist, head])
    return scratch.Model([a, b], out, name="siamese", seed=3)


def test_graph_of_ops_checkpoint_round_trip(tmp_path):
    model = _siamese()
    names = [la.name for la in model.layers]
    assert {"subtract", "square", "sum", "maximum", "sqrt", "get_item", "concatenate"} <= set(names), names
    rng = np.random.default_rng(1)
    x = [rng.standard_normal((5, 6)), rng.standard_normal((5, 6))]
    y = model.forward(x)
    assert y.shape == (5, 3)
    scratch.save_checkpoint(tmp_path / "m.npz", model)
    again, _ = scratch.load_checkpoint(tmp_path / "m.npz")
    assert [type(la).__name__ for la in again.layers] == [type(la).__name__ for la in model.layers]
    assert again.get_config() == model.get_config()
    np.testing.assert_array_equal(again.forward(x), y)
    dy = rng.standard_normal(y.shape)
    model.backward(dy)
    again.backward(dy)
    for k, g in model.named_grads().items():
        np.testing.assert_array_equal(again.named_grads()[k], g)


def test_graph_of_ops_gradients_match_finite_differences():
    model = _siamese()
    model._set_input_grads(True)
    rng = np.random.default_rng(2)
    x = [rng.standard_normal((3, 6)), rng.standard_normal((3, 6))]
    y = model.forward(x)
    r = rng.standard_normal(y.shape)
    dxs = model.backward(r)
    grads = {k: v.copy() for k, v in model.named_grads().items()}

    def loss():
        return float((model.forward(x) * r).sum())

    for i, (a, d) in enumerate(zip(x, dxs)):
        assert_gradient(f"input {i}", loss, a, d, rng)
    for k, p in model.named_params().items():
        assert_gradient(k, loss, p, grads[k], rng)
