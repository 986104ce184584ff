"""Every layer type against Keras: output, dL/dx and every parameter gradient, float32 and float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests import cases, twins
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("case", cases.LAYER_CASES, ids=[c[0] for c in cases.LAYER_CASES])
def test_layer_matches_keras(case, dtype):
    ours, theirs = cases.run_layer_case(case, dtype)
    diffs = assert_parity(ours, theirs, cases.tolerance_of(case, dtype), context=f"{case[0]} {dtype}", dtype=dtype)
    layer = cases.make_layer(case[1], case[2], dtype)
    shape = case[3]
    layer.build([(None,) + s[1:] for s in shape] if isinstance(shape, list) else (None,) + shape[1:])
    inputs = {f"grad input {i}" for i in range(len(shape))} if isinstance(shape, list) else {"grad input"}
    if layer.INTEGER_INPUT:  # indices have no gradient, in either engine
        inputs = set()
        assert not any(d.tensor == "grad input" for d in diffs)
    expected = {"output"} | inputs | {f"grad {k}" for k in layer.params}
    assert expected <= {d.tensor for d in diffs}  # every gradient was compared, none missing


@pytest.mark.parametrize("case", [c for c in cases.LAYER_CASES if len(c) > 4 and c[4].get("keras_float32")],
                         ids=lambda c: c[0])
def test_keras_float32_cases_really_fail_in_float64_keras(case):
    """A case compared with Keras in float32 in its float64 run is one Keras really cannot compute in
    float64 (if TensorFlow gains the kernel, this fails: compare in float64 then)."""
    import keras
    import tensorflow as tf

    layer = cases.make_layer(case[1], case[2], "float64")
    layer.build((None,) + case[3][1:])
    with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.NotFoundError), match="(?i)double"):
        twins.keras_twin(layer)(np.zeros(case[3]), training=False)
    assert keras.backend.backend() == "tensorflow"


def test_every_layer_type_is_covered():
    assert {c[1] for c in cases.LAYER_CASES} == set(cases.LAYER_TYPES)


SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


@SETTINGS
@given(h=st.integers(3, 9), w=st.integers(3, 9), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["valid", "same"]),
       c=st.integers(1, 3), f=st.integers(1, 3), n=st.integers(1, 3), dtype=st.sampled_from(cases.DTYPES))
def test_conv2d_random_configurations_match_keras(h, w, k, s, padding, c, f, n, dtype):
    if padding == "valid" and (k[0] > h or k[1] > w):
        k = (min(k[0], h), min(k[1], w))
    case = ("hypothesis-conv", "Conv2D", dict(filters=f, kernel_size=k, strides=s, padding=padding), (n, h, w, c))
    ours, theirs = cases.run_layer_case(case, dtype, seed=h * 100 + w)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)


@SETTINGS
@given(h=st.integers(2, 9), w=st.integers(2, 9), p=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["valid", "same"]),
       kind=st.sampled_from(["MaxPooling2D", "AveragePooling2D"]), dtype=st.sampled_from(cases.DTYPES))
def test_pooling_random_configurations_match_keras(h, w, p, s, padding, kind, dtype):
    if padding == "valid" and (p[0] > h or p[1] > w):
        p = (min(p[0], h), min(p[1], w))
    case = ("hypothesis-pool", kind, dict(pool_size=p, strides=s, padding=padding), (2, h, w, 2))
    ours, theirs = cases.run_layer_case(case, dtype, seed=h * 100 + w)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)


def test_keras_side_really_computes_in_float64():
    """A float64 case agrees at 1e-12, which a float32 Keras computation (errors ~1e-7) cannot."""
    case = cases.LAYER_CASES[0]
    ours, theirs = cases.run_layer_case(case, "float64")
    assert all(np.asarray(v).dtype == np.float64 for v in theirs.values())
    layer = cases.make_layer(case[1], case[2], "float64")
    layer.build((None,) + case[3][1:])
    assert twins.keras_twin(layer).compute_dtype == "float64"
    ours32, theirs32 = cases.run_layer_case(case, "float32")
    gap = max(d.max_rel for d in assert_parity(theirs32, theirs, tol.LAYER_FLOAT32, dtype=None))
    assert gap > 10 * tol.LAYER_FLOAT64.rtol  # float32 vs float64 Keras really differ
