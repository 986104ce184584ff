"""Keras Functional models in the scratch engine: converted both ways, outputs and every gradient
(inputs and weights, nested models included) equal to Keras's, float32 and float64.

The graphs cover what real CNNs do with graphs: residual additions (fan-out), a layer called
twice (shared weights), a nested Sequential, a squeeze-and-excitation product with
broadcasting, concatenation, several inputs and several outputs.
"""

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import tolerances as tol
from parity_tests import twins
from parity_tests.compare import assert_parity
from parity_tests.determinism import tf

L = keras.layers


def residual():
    x = keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    shared = L.Conv2D(4, 1, name="shared")
    y = L.Add()([shared(h), shared(L.MaxPooling2D(3, strides=1, padding="same")(h)), h])
    inner = keras.Sequential([keras.Input((8, 8, 4)), L.Conv2D(4, 3, padding="same"), L.ReLU()], name="inner")
    y = inner(y)
    squeeze = L.Conv2D(4, 1, activation="relu")(L.AveragePooling2D(8)(y))  # (N, 1, 1, 4)
    y = L.Multiply()([y, squeeze])  # squeeze-and-excitation: broadcast over H and W
    return keras.Model(x, L.Dense(3)(L.Flatten()(y)), name="residual")


def two_in_two_out():
    a, b = keras.Input((6, 6, 2), name="a"), keras.Input((6, 6, 2), name="b")
    s = L.Subtract()([a, b])
    c = L.Concatenate()([L.Conv2D(3, 3, padding="same")(s), L.Maximum()([a, b])])
    out1 = L.Dense(4)(L.Flatten()(c))
    out2 = L.Average()([L.Conv2D(2, 1)(c), b])
    return keras.Model([a, b], [out1, out2], name="two_in_two_out")


MODELS = {f.__name__: f for f in (residual, two_in_two_out)}


def _keras_grads(km, xs, dys):
    """Keras's dL/dx and dL/dw for ``L = sum(out * dy)``, weights by path ``layer[/inner]/variable``."""
    xts = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        for xt in xts:
            tape.watch(xt)
        outs = km(xts if len(xts) > 1 else xts[0])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        loss = tf.add_n([tf.reduce_sum(o * tf.constant(d)) for o, d in zip(outs, dys)])
    paths = _paths(km)
    grads = tape.gradient(loss, xts + [v for _, v in paths])
    result = {("model", f"output {i}"): o.numpy() for i, o in enumerate(outs)}
    result.update({("model", f"grad input {i}"): g.numpy() for i, g in enumerate(grads[:len(xts)])})
    result.update({(p, "grad"): g.numpy() for (p, _), g in zip(paths, grads[len(xts):])})
    return result


def _paths(km, prefix=""):
    out = []
    for la in km.layers:
        if isinstance(la, keras.Model):
            out += _paths(la, f"{prefix}{la.name}/")
        else:
            out += [(f"{prefix}{la.name}/{twins.var_name(v)}", v) for v in la.trainable_variables]
    return out


def _scratch_grads(model, xs, dys):
    model._set_input_grads(True)
    outs = model.forward(xs if len(xs) > 1 else xs[0])
    outs = outs if isinstance(outs, list) else [outs]
    dxs = model.backward(dys if len(dys) > 1 else dys[0])
    dxs = dxs if isinstance(dxs, list) else [dxs]
    result = {("model", f"output {i}"): o for i, o in enumerate(outs)}
    result.update({("model", f"grad input {i}"): d for i, d in enumerate(dxs)})
    result.update({(p, "grad"): g.copy() for p, g in model.named_grads().items()})
    return result


def _build(name, dtype):
    with twins.keras_floatx(dtype):
        keras.utils.set_random_seed(0)
        return MODELS[name]()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MODELS)
def test_functional_model_outputs_and_gradients_match_keras(name, dtype):
    km = _build(name, dtype)
    model = keras_ref.from_keras(km)
    assert isinstance(model, scratch.Model)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2,) + tuple(t.shape[1:])).astype(dtype) for t in km.inputs]
    outs = km(xs if len(xs) > 1 else xs[0])
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    dys = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    theirs = _keras_grads(km, xs, dys)
    ours = _scratch_grads(model, xs, dys)
    assert {k for k in ours if k[1] == "grad"} == {k for k in theirs if k[1] == "grad"}  # every weight, by path
    assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=f"{name} {dtype}", dtype=dtype)


@pytest.mark.parametrize("name", MODELS)
def test_functional_model_round_trips_bit_for_bit(name):
    km = _build(name, "float32")
    model = keras_ref.from_keras(km)
    back = keras_ref.to_keras(model)
    assert {la.name for la in back.layers} == {la.name for la in km.layers}
    for (p1, v1), (p2, v2) in zip(sorted(_paths(km)), sorted(_paths(back))):
        assert p1 == p2 and np.array_equal(np.asarray(v1), np.asarray(v2))
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3,) + tuple(t.shape[1:])).astype("float32") for t in km.inputs]
    a, b = km(xs if len(xs) > 1 else xs[0]), back(xs if len(xs) > 1 else xs[0])
    for u, v in zip(a if isinstance(a, (list, tuple)) else [a], b if isinstance(b, (list, tuple)) else [b]):
        assert np.array_equal(np.asarray(u), np.asarray(v))


def test_shared_layer_stays_shared():
    model = keras_ref.from_keras(_build("residual", "float32"))
    shared = model.get_layer("shared")
    assert sum(node.layer is shared for node in model.nodes) == 2
