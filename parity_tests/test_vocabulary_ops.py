"""Operations in Functional models, whole: Keras models written with ``keras.ops`` calls, tensor operators
and ``Lambda`` layers of them, converted by ``from_keras`` and back by ``to_keras``, in parity (outputs,
dL/d(inputs), every weight gradient) through ``parity_tests.check`` in float32 and float64; saved as
``.keras`` files, checked from the command line (``--no-safe-mode`` for a Lambda). Refusals in one line."""

from parity_tests.determinism import tf  # noqa: I001  (TensorFlow deterministic before Keras loads)

import re

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import layers as L
from keras import ops

import keras_ref
import scratch
from parity_tests import cases, check
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity


def _tower(dtype):
    x = keras.Input((6, 6, 2), dtype=dtype)
    y = L.Conv2D(3, 3, activation="relu", dtype=dtype, name="tower_conv")(x)
    y = L.GlobalAveragePooling2D(dtype=dtype, name="tower_pool")(y)
    return keras.Model(x, L.Dense(4, dtype=dtype, name="tower_dense")(y), name="tower")


def siamese(dtype, use_lambda=False):
    """Two inputs through one shared tower, then ``sqrt(sum(square(a - b), axis=-1, keepdims=True))``
    (written with ops, or as a ``Lambda`` of the same function), then a Dense head."""
    left, right = keras.Input((6, 6, 2), dtype=dtype, name="left"), keras.Input((6, 6, 2), dtype=dtype, name="right")
    tower = _tower(dtype)
    a, b = tower(left), tower(right)

    def distance(ab):
        u, v = ab
        return ops.sqrt(ops.maximum(ops.sum(ops.square(u - v), axis=-1, keepdims=True), 1e-7))

    d = L.Lambda(distance, dtype=dtype, name="distance")([a, b]) if use_lambda else distance([a, b])
    return keras.Model([left, right], L.Dense(1, dtype=dtype, name="head")(d), name="siamese")


def many_ops(dtype):
    """Most of the vocabulary in one graph: arithmetic with broadcasting and numbers, reductions, shape
    operations, slicing, matmul, cast."""
    x = keras.Input((4, 4, 3), dtype=dtype, name="image")
    c = L.Conv2D(4, 1, dtype=dtype, name="conv")(x)
    gate = ops.mean(c, axis=(1, 2), keepdims=True)  # (N, 1, 1, 4): broadcast over the pixels
    y = c * ops.exp(-ops.abs(gate)) + ops.clip(c, -0.5, 0.5) - ops.maximum(c, gate) / 2.0
    y = ops.concatenate([y[:, :, :, 1:3], ops.square(y[..., :1]) ** 1.5], axis=-1)  # (N, 4, 4, 3)
    z = ops.reshape(ops.transpose(y, (0, 3, 1, 2)), (-1, 3, 16))  # (N, 3, 16)
    g = ops.matmul(z, ops.transpose(z, (0, 2, 1)))  # (N, 3, 3)
    s = ops.stack([ops.max(g, axis=-1), ops.min(g, axis=1), ops.sum(g, axis=2)], axis=1)  # (N, 3, 3)
    s = ops.squeeze(ops.expand_dims(s, 2), 2)
    t = ops.log(1.0 + ops.sqrt(ops.power(s, 2.0) + 1.0)) - ops.negative(ops.minimum(s, 0.0))
    t = ops.cast(ops.reshape(t, (-1, 9)), dtype)
    return keras.Model(x, L.Dense(2, dtype=dtype, name="out")(t), name="many_ops")


def _assert_check_passes(km, dtype, batch=3):
    model = keras_ref.from_keras(km)
    rows = check.check(km, model, batch=batch)
    bad = [r for r in rows if not r.ok]
    assert not bad, "\n".join(check.render(rows))
    return model, rows


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_many_ops_in_parity(dtype):
    model, rows = _assert_check_passes(many_ops(dtype), dtype)
    assert sum(isinstance(la, scratch.Op) for la in model.layers) >= 20
    assert {r.kind for r in rows} >= {"Op", "ConstantOp", "Conv2D", "Dense"}
    # and back: to_keras replays the ops, with the same result
    km2 = keras_ref.to_keras(model)
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(dtype)
    np.testing.assert_allclose(km2(x).numpy(), model.forward(x), rtol=1e-5 if dtype == "float32" else 1e-12)
    whole = check.check(km2, model, batch=2)[-1]  # gradients too, against the Keras graph to_keras wrote
    assert whole.ok, "\n".join(check.render([whole]))


@pytest.mark.parametrize("use_lambda", [False, True], ids=["ops", "lambda"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_siamese_with_a_traced_distance_in_parity(dtype, use_lambda):
    km = siamese(dtype, use_lambda)
    model, rows = _assert_check_passes(km, dtype)
    if use_lambda:  # the Lambda is traced into a nested graph of operations, named as the layer
        traced = model.get_layer("distance")
        assert isinstance(traced, scratch.Model)
        assert [getattr(la, "op", type(la).__name__) for la in traced.layers] == [
            "Subtract", "square", "sum", "maximum", "sqrt"]  # a - b of one rank: the merge layer, as before
    paths = [r.path for r in rows]
    assert "tower/tower_conv" in paths and "tower/tower_conv (call 2)" in paths  # one tower, called twice
    back = keras_ref.to_keras(model)
    xs = [np.random.default_rng(i).standard_normal((2, 6, 6, 2)).astype(dtype) for i in range(2)]
    np.testing.assert_allclose(back(xs).numpy(), km(xs).numpy(), rtol=1e-5 if dtype == "float32" else 1e-12)


def test_sequential_with_a_lambda():
    km = keras.Sequential([keras.Input((5,), dtype="float64"), L.Dense(3, dtype="float64", name="d"),
                           L.Lambda(lambda t: ops.square(t) * 0.5, dtype="float64", name="half_square"),
                           L.Dense(2, dtype="float64", name="e")])
    model, _ = _assert_check_passes(km, "float64")
    assert isinstance(model, scratch.Sequential) and isinstance(model.get_layer("half_square"), scratch.Model)


# A Python lambda saved in a .keras file: Keras stores its bytecode and, with safe_mode=False, rebuilds it
# with the globals of keras.src.utils.python_utils, where ``keras`` is no name: it imports what it uses.
DISTANCE = lambda ab: __import__("keras").ops.sqrt(  # noqa: E731
    __import__("keras").ops.sum(__import__("keras").ops.square(ab[0] - ab[1]), axis=-1, keepdims=True))


def test_lambda_files_need_and_take_no_safe_mode(tmp_path):
    left, right = keras.Input((6, 6, 2), name="left"), keras.Input((6, 6, 2), name="right")
    tower = _tower("float32")
    d = L.Lambda(DISTANCE, name="distance")([tower(left), tower(right)])
    path = tmp_path / "siamese.keras"
    keras.Model([left, right], L.Dense(1, name="head")(d)).save(path)
    lines = []
    assert check.main([str(path)], print_fn=lines.append) == check.EXIT_CANNOT_TAKE
    assert len(lines) == 1 and "safe_mode=False" in lines[0] and "--no-safe-mode" in lines[0], lines
    for dtype in ("float32", "float64"):
        lines = []
        status = check.main([str(path), "--no-safe-mode", "--dtype", dtype, "--batch", "2"], print_fn=lines.append)
        assert status == check.EXIT_OK, "\n".join(lines)
    with pytest.raises(ValueError, match=r"holds a Lambda layer.*safe_mode=False") as e:  # train.py's reader
        keras_ref.load_weights_file(path)
    assert "\n" not in str(e.value)


def test_ops_file_passes_check_both_dtypes(tmp_path):
    path = tmp_path / "ops.keras"
    many_ops("float32").save(path)
    for dtype in ("float32", "float64"):
        lines = []
        assert check.main([str(path), "--dtype", dtype, "--batch", "2"], print_fn=lines.append) == check.EXIT_OK, \
            "\n".join(lines)


def _refusal(km):
    with pytest.raises(ValueError) as e:
        keras_ref.from_keras(km)
    text = str(e.value)
    assert "\n" not in text
    return text


def test_refusals_name_the_operation_or_lambda():
    x = keras.Input((4, 3))
    assert re.search(r"operation 'cos(_\d+)?' \(Cos\) is not one the scratch engine computes",
                     _refusal(keras.Model(x, ops.cos(x))))
    assert re.search(r"operation 'sum(_\d+)?' \(Sum\): Op 'sum(_\d+)?': axis=0 includes the batch axis",
                     _refusal(keras.Model(x, ops.sum(x, axis=0, keepdims=True))))
    assert re.search(r"\(Cast\) has dtype='float16'", _refusal(keras.Model(x, ops.cast(x, "float16"))))
    assert re.search(r"layer 'tf_fn' \(Lambda\): its function cannot be traced",
                     _refusal(keras.Model(x, L.Lambda(lambda t: tf.math.cos(t), name="tf_fn")(x))))
    numpy_fn = L.Lambda(lambda t: np.tanh(np.asarray(t)), output_shape=(4, 3), name="np_fn")
    assert re.search(r"layer 'np_fn' \(Lambda\): its function cannot be traced", _refusal(keras.Model(x, numpy_fn(x))))
    inner = L.Dense(2, name="made_inside")
    assert re.search(r"layer 'calls_dense' \(Lambda\): its function calls layer 'made_inside'",
                     _refusal(keras.Model(x, L.Lambda(lambda t: inner(t) * 2.0, name="calls_dense")(x))))
    assert re.search(r"layer 'cos_fn' \(Lambda\): operation 'cos(_\d+)?' \(Cos\)",
                     _refusal(keras.Model(x, L.Lambda(lambda t: ops.cos(t), name="cos_fn")(x))))


# -- any input size: keras.Input((None, None, 3)) --------------------------------------------------
def fcn(dtype, sequential=False):
    """A fully convolutional net: convolutions and pooling, then a per-pixel head and a global pooling."""
    body = [L.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype, name="c1"),
            L.MaxPooling2D(2, dtype=dtype, name="pool"),
            L.Conv2D(5, 3, strides=2, dtype=dtype, name="c2"),
            L.BatchNormalization(dtype=dtype, name="bn"),
            L.Conv2D(3, 1, dtype=dtype, name="per_pixel"),
            L.GlobalAveragePooling2D(dtype=dtype, name="gap")]
    if sequential:
        return keras.Sequential([keras.Input((None, None, 3), dtype=dtype)] + body, name="fcn_seq")
    x = keras.Input((None, None, 3), dtype=dtype, name="image")
    y = x
    for la in body:
        y = la(y)
    return keras.Model(x, y, name="fcn")


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fully_convolutional_net_at_two_input_sizes(dtype, sequential):
    km = fcn(dtype, sequential)
    bn = km.get_layer("bn")  # statistics that are not 0 and 1
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 1.5, 5), rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)])
    model = keras_ref.from_keras(km)
    assert model.input_shape == (None, None, None, 3)
    for size in (9, 14):
        rows = check.check(km, model, batch=2, size=size)
        assert all(r.ok for r in rows), "\n".join(check.render(rows))
    x = rng.standard_normal((2, 11, 7, 3)).astype(dtype)  # not square either
    np.testing.assert_allclose(model.forward(x), km(x).numpy(), rtol=1e-5 if dtype == "float32" else 1e-12)
    back = keras_ref.to_keras(model)
    assert tuple(back.inputs[0].shape) == (None, None, None, 3)
    np.testing.assert_allclose(back(x).numpy(), km(x).numpy(), rtol=1e-5 if dtype == "float32" else 1e-12)


def test_summary_shows_none_as_keras_and_checkpoints_keep_it(tmp_path):
    model = keras_ref.from_keras(fcn("float64", sequential=True))
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, None, None, 4)" in line for line in lines) and any("(None, 3)" in line for line in lines)
    x = np.random.default_rng(1).standard_normal((1, 10, 12, 3))
    scratch.save_checkpoint(tmp_path / "fcn.npz", model)
    again, _ = scratch.load_checkpoint(tmp_path / "fcn.npz")
    assert again.input_shape == (None, None, None, 3)
    np.testing.assert_array_equal(again.forward(x), model.forward(x))


def test_fcn_file_passes_check_at_a_chosen_size(tmp_path):
    path = tmp_path / "fcn.keras"
    fcn("float32").save(path)
    for dtype in ("float32", "float64"):
        lines = []
        status = check.main([str(path), "--dtype", dtype, "--batch", "2", "--size", "10"], print_fn=lines.append)
        assert status == check.EXIT_OK and "random input (2, 10, 10, 3)" in lines[0], "\n".join(lines)


def test_file_configs_map_to_the_same_nodes_without_keras(tmp_path):
    """The one mapping read from a ``.keras`` file's config.json (what a TensorFlow-free reader sees:
    ``module``, ``class_name``, ``config``, ``inbound_nodes`` of each operation) gives the same scratch
    layers, on the same inbound tensors, as ``from_keras`` reading the live model."""
    import json
    import zipfile

    from scratch.keras_io import config as kc

    km = many_ops("float32")
    path = tmp_path / "ops.keras"
    km.save(path)
    live = {la.name: la for la in keras_ref.from_keras(km).layers}
    inbound = {n.layer.name: [t.node.layer.name if t.node else "image" for t in n.inbound]
               for n in keras_ref.from_keras(km).nodes}
    entries = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"]
    ops_seen = 0
    for entry in entries:
        if not entry["module"].startswith("keras.src.ops"):
            continue
        ops_seen += 1
        cfg = kc.KerasConfig(entry["class_name"], entry["config"], where=str(path))
        (call,) = entry["inbound_nodes"]
        layer, tensors = kc.operation_from_config(cfg, kc.decode_args(call["args"]), kc.decode_args(call["kwargs"]),
                                                  "float32")
        twin = live[entry["name"]]
        assert type(layer) is type(twin) and layer.get_config() == twin.get_config(), entry["name"]
        assert [t.ref[0] for t in tensors] == inbound[entry["name"]], entry["name"]
    assert ops_seen >= 20


# -- random operations: broadcast shapes, reduction axes ------------------------------------------
@settings(max_examples=12, deadline=None, derandomize=True)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), mask=st.lists(st.booleans(), min_size=6, max_size=6),
       op=st.sampled_from(["add", "subtract", "multiply", "divide", "maximum", "minimum"]),
       dtype=st.sampled_from(cases.DTYPES))
def test_random_broadcasts_match_keras(dims, mask, op, dtype):
    a = (2,) + tuple(1 if m else d for d, m in zip(dims, mask[:3]))
    b = (2,) + tuple(1 if m else d for d, m in zip(dims, mask[3:]))
    case = ("hypothesis-broadcast", "Op", dict(op=op), [a, b], {"positive": op == "divide"})
    ours, theirs = cases.run_layer_case(case, dtype)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), axes=st.sets(st.integers(1, 3), min_size=1),
       keepdims=st.booleans(), op=st.sampled_from(["sum", "mean", "max", "min"]), dtype=st.sampled_from(cases.DTYPES))
def test_random_reductions_match_keras(dims, axes, keepdims, op, dtype):
    axis = sorted(a for a in axes if a <= len(dims)) or [1]
    case = ("hypothesis-reduce", "Op", dict(op=op, axis=axis, keepdims=keepdims), (2,) + tuple(dims),
            {"integers": 1} if op in ("max", "min") else {})
    ours, theirs = cases.run_layer_case(case, dtype)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)


def activations_on_tensors(dtype):
    """Activation functions called on tensors in a Functional model, each on its own branch."""
    x = keras.Input((3, 3, 4), dtype=dtype, name="image")
    c = L.Conv2D(4, 1, dtype=dtype, name="conv")(x)
    branches = [ops.relu(c), ops.relu6(c * 4.0), ops.sigmoid(c), ops.tanh(c), ops.silu(c), ops.gelu(c),
                ops.gelu(c, approximate=False), ops.elu(c, alpha=0.7), ops.leaky_relu(c, negative_slope=0.1),
                ops.hard_sigmoid(c), ops.hard_silu(c), ops.softplus(c), ops.softsign(c), ops.selu(c),
                ops.log_sigmoid(c), ops.softmax(c, axis=1), ops.log_softmax(c),
                keras.activations.relu(c, negative_slope=0.1, max_value=1.5), keras.activations.swish(c)]
    return keras.Model(x, ops.concatenate(branches, axis=-1), name="activations_on_tensors")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_functions_on_tensors_in_parity(dtype):
    model, rows = _assert_check_passes(activations_on_tensors(dtype), dtype)
    kinds = {type(la).__name__ for la in model.layers}
    assert {"Activation", "ReLU", "ELU", "LeakyReLU", "Softmax"} <= kinds, kinds
    back = keras_ref.to_keras(model)
    assert check.check(back, model, batch=2)[-1].ok
