"""Dilated/grouped Conv2D, DepthwiseConv2D and SeparableConv2D against Keras: random configurations,
the same refusals as Keras, conversions both ways."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_ref
import scratch
from parity_tests import cases, twins  # noqa: F401  (twins first: TF determinism)
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)


def fit_valid(h, w, k, d, padding):
    """Shrink a 'valid' kernel until its dilated extent fits the input."""
    if padding != "valid":
        return k
    return tuple(max(1, min(kk, (n - 1) // dd + 1)) for kk, dd, n in zip(k, d, (h, w)))


def check_case(case, dtype, seed):
    ours, theirs = cases.run_layer_case(case, dtype, seed=seed)
    diffs = assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)
    layer = cases.make_layer(case[1], case[2], dtype)
    layer.build((None,) + case[3][1:])
    assert {f"grad {k}" for k in layer.params} <= {d.tensor for d in diffs}


@SETTINGS
@given(h=st.integers(3, 9), w=st.integers(3, 9), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 3), st.integers(1, 3)), s=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.sampled_from(["valid", "same"]), groups=st.sampled_from([1, 2, 3]), cg=st.integers(1, 2),
       fg=st.integers(1, 2), dtype=st.sampled_from(cases.DTYPES))
def test_conv2d_dilated_grouped_random_configurations_match_keras(h, w, k, d, s, padding, groups, cg, fg, dtype):
    s = (1, 1) if max(d) > 1 else s  # Keras refuses the pair (test below)
    kwargs = dict(filters=groups * fg, kernel_size=fit_valid(h, w, k, d, padding), strides=s, padding=padding,
                  dilation_rate=d, groups=groups)
    check_case(("hypothesis-conv", "Conv2D", kwargs, (2, h, w, groups * cg)), dtype, seed=h * 100 + w)


@SETTINGS
@given(h=st.integers(3, 9), w=st.integers(3, 9), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 3), st.integers(1, 3)), s=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]), m=st.integers(1, 3), c=st.integers(1, 3),
       kind=st.sampled_from(["DepthwiseConv2D", "SeparableConv2D"]), f=st.integers(1, 3),
       dtype=st.sampled_from(cases.DTYPES))
def test_depthwise_and_separable_random_configurations_match_keras(h, w, k, d, s, padding, m, c, kind, f, dtype):
    kwargs = dict(kernel_size=fit_valid(h, w, k, d, padding), strides=(s, s), padding=padding, dilation_rate=d,
                  depth_multiplier=m)
    if kind == "SeparableConv2D":
        kwargs["filters"] = f
    check_case(("hypothesis-" + kind, kind, kwargs, (2, h, w, c)), dtype, seed=h * 100 + w)


@pytest.mark.parametrize("strides,dilation", [(1, 2), (2, 1), (2, 2), ((1, 2), (2, 1)), ((2, 1), (1, 1)),
                                              ((1, 1), (3, 2))])
def test_conv2d_refuses_exactly_what_keras_refuses(strides, dilation):
    def refused(make):
        try:
            make(2, 3, strides=strides, dilation_rate=dilation)
        except ValueError:
            return True
        return False
    assert refused(scratch.Conv2D) == refused(keras.layers.Conv2D)


@pytest.mark.parametrize("filters,groups,channels", [(4, 2, 6), (6, 4, 8), (4, 4, 6), (3, 3, 6)])
def test_conv2d_groups_refused_where_keras_refuses(filters, groups, channels):
    def refused(make):
        try:
            make(filters, 3, groups=groups).build((None, 5, 5, channels))
        except ValueError:
            return True
        return False
    assert refused(scratch.Conv2D) == refused(keras.layers.Conv2D)
    assert refused(scratch.Conv2D) == bool(filters % groups or channels % groups)


def test_weight_names_and_shapes_are_keras():
    for layer in [scratch.Conv2D(6, (3, 2), groups=3, name="c"), scratch.DepthwiseConv2D(3, depth_multiplier=2, name="d"),
                  scratch.SeparableConv2D(5, 3, depth_multiplier=3, name="s")]:
        layer.build((None, 8, 8, 3))
        klayer = keras_ref.convert.keras_layer(layer)
        klayer.build((None, 8, 8, 3))
        assert [v.name for v in klayer.weights] == list(layer.weight_names)
        assert [tuple(v.shape) for v in klayer.weights] == [w.shape for w in layer.get_weights()]
        assert klayer.compute_output_shape((None, 8, 8, 3)) == layer.output_shape


def small_model(dtype):
    return scratch.Sequential([
        scratch.Conv2D(4, 3, dilation_rate=(2, 1), padding="same", activation="relu", dtype=dtype),
        scratch.Conv2D(6, 2, groups=2, strides=2, dtype=dtype),
        scratch.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same", use_bias=False, dtype=dtype),
        scratch.SeparableConv2D(3, 2, depth_multiplier=3, strides=2, activation="relu", dtype=dtype),
        scratch.Flatten(dtype=dtype), scratch.Dense(3, dtype=dtype),
    ], input_shape=(11, 10, 2), dtype=dtype, seed=2)


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_to_keras_and_back_and_outputs_agree(dtype):
    model = small_model(dtype)
    km = keras_ref.to_keras(model)
    back = keras_ref.from_keras(km)
    assert back.get_config()["layers"] == model.get_config()["layers"]
    for a, b in zip(back.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    x = np.random.default_rng(0).standard_normal((3, 11, 10, 2)).astype(dtype)
    assert_parity({("model", "output"): model.predict(x)}, {("model", "output"): np.asarray(km(x))}, tol.for_dtype("LAYER", dtype),
                  dtype=dtype)


def test_to_keras_refuses_unequal_depthwise_strides_tf_cannot_compute():
    layer = scratch.DepthwiseConv2D(3, strides=(1, 2), name="d")
    with pytest.raises(ValueError, match=r"to_keras: layer DepthwiseConv2D 'd' has strides=\(1, 2\).*equal"):
        keras_ref.convert.keras_layer(layer)
    with pytest.raises(ValueError, match=r"SeparableConv2D 's' has strides=\(2, 1\)"):
        keras_ref.convert.keras_layer(scratch.SeparableConv2D(2, 3, strides=(2, 1), name="s"))
    # with a dilation Keras decomposes the convolution (stride 1, then subsampling): allowed and equal
    check_case(("uneven", "DepthwiseConv2D", dict(kernel_size=2, strides=(2, 1), dilation_rate=2, padding="same"),
                (1, 7, 6, 2)), "float64", seed=1)


_ORTHO, _CONSTRAINT = keras.regularizers.OrthogonalRegularizer, keras.constraints.Constraint  # not computed here


def _seq(*layers):
    return keras.Sequential([keras.Input((8, 8, 2))] + list(layers))


@pytest.mark.parametrize("make, setting", [
    (lambda: _seq(keras.layers.DepthwiseConv2D(3, activation="glu", name="c")), "activation"),
    (lambda: _seq(keras.layers.DepthwiseConv2D(3, depthwise_regularizer=_ORTHO(), name="c")), "depthwise_regularizer"),
    (lambda: _seq(keras.layers.SeparableConv2D(2, 3, pointwise_constraint=_CONSTRAINT(), name="c")), "pointwise_constraint"),
    (lambda: _seq(keras.layers.SeparableConv2D(2, 3, activation="glu", name="c")), "activation"),
    (lambda: _seq(keras.layers.Conv2D(2, 3, groups=2, kernel_regularizer=_ORTHO(), name="c")), "kernel_regularizer"),
])
def test_from_keras_refuses_what_the_engine_lacks(make, setting):
    with pytest.raises(ValueError, match=f"'c'.*{setting}"):
        keras_ref.from_keras(make())
