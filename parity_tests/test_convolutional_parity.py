"""Dilated/grouped Conv2D, DepthwiseConv2D and SeparableConv2D against Keras: random configurations,
the same refusals as Keras, conversions both ways."""

import itertools

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
from parity_tests.layer_cases import convolutional as layer_cases

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


SMALL_MAPS = [  # maps smaller than the window's reach: the live taps (1x1 maps) and the small-map route (2x2)
    ("Conv2D", dict(filters=4, kernel_size=3, padding="same", activation="relu"), (2, 1, 1, 6)),
    ("Conv2D", dict(filters=3, kernel_size=3, padding="same"), (3, 2, 2, 5)),
    ("Conv2D", dict(filters=6, kernel_size=5, padding="same"), (2, 2, 3, 4)),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (2, 2, 2, 3)),
    ("Conv1D", dict(filters=3, kernel_size=3, padding="causal"), (2, 1, 4)),
    ("Conv1D", dict(filters=3, kernel_size=3, padding="same"), (2, 2, 4)),
    ("Conv3D", dict(filters=2, kernel_size=3, padding="same"), (2, 1, 2, 2, 3)),
    ("DepthwiseConv2D", dict(kernel_size=5, padding="same", depth_multiplier=2), (2, 1, 1, 3)),
    ("DepthwiseConv2D", dict(kernel_size=5, padding="same"), (2, 2, 2, 3)),
    ("DepthwiseConv2D", dict(kernel_size=5, strides=2, padding="same"), (2, 2, 2, 3)),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, padding="same"), (2, 1, 2, 2)),
]


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("kind,kwargs,shape", SMALL_MAPS, ids=[f"{k}-{s}" for k, _, s in SMALL_MAPS])
def test_convolutions_on_maps_smaller_than_the_window_match_keras(kind, kwargs, shape, dtype):
    check_case(("small-map-" + kind, kind, kwargs, shape), dtype, seed=sum(shape))


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


# -- the N-d convolutions (issue 20) ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("case", layer_cases.DILATED_TRANSPOSE, ids=[c[0] for c in layer_cases.DILATED_TRANSPOSE])
def test_dilated_transpose_matches_keras_with_the_dilation_in_the_kernel(case, dtype):
    """TensorFlow's CPU kernels refuse a dilated transposed convolution (Conv2DBackpropInput: "Current CPU
    implementations do not yet support dilation rates larger than 1"), so Keras computes its undilated twin whose
    kernel holds the taps ``d`` cells apart with zeros between (the same sum, the same output size and 'same' pads,
    both from the dilated extent); the kernel gradient is that twin's at the taps."""
    _, cls, kwargs, shape = case
    layer = cases.make_layer(cls, kwargs, dtype)
    layer.build((None,) + shape[1:])
    cases.randomize_bias(layer)
    x = cases.layer_input(shape, dtype)
    dy = np.random.default_rng(2).standard_normal((shape[0],) + layer.output_shape[1:]).astype(dtype)
    ours = twins.scratch_layer_pass(layer, x, dy)
    taps = tuple(slice(None, None, d) for d in layer.dilation_rate)
    extent = tuple(scratch.geometry.effective_size(k, d) for k, d in zip(layer.kernel_size, layer.dilation_rate))
    undilated = cases.make_layer(cls, {**kwargs, "kernel_size": extent, "dilation_rate": 1}, dtype)
    undilated.build((None,) + shape[1:])
    stuffed = np.zeros(undilated.params["kernel"].shape, dtype=dtype)
    stuffed[taps] = layer.params["kernel"]
    undilated.set_weights([stuffed] + [w for k, w in layer._weights().items() if k != "kernel"])
    theirs = twins.keras_layer_pass(twins.keras_twin(undilated), x, dy, param_names=list(layer.params))
    theirs[(layer.name, "grad kernel")] = theirs[(layer.name, "grad kernel")][taps]
    diffs = assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=f"{case[0]} {dtype}", dtype=dtype)
    assert {"output", "grad input"} | {f"grad {k}" for k in layer.params} <= {d.tensor for d in diffs}


NEW_LAYERS = [  # (scratch layer, input shape): weight names and shapes, output shapes, as Keras's
    (scratch.Conv1D(4, 3, padding="causal", groups=2, name="c1"), (None, 9, 4)),
    (scratch.Conv3D(3, (2, 1, 3), strides=(1, 2, 1), padding="same", name="c3"), (None, 4, 5, 6, 2)),
    (scratch.DepthwiseConv1D(3, depth_multiplier=2, strides=2, name="d1"), (None, 9, 3)),
    (scratch.SeparableConv1D(5, 3, depth_multiplier=3, padding="same", name="s1"), (None, 9, 3)),
    (scratch.Conv1DTranspose(2, 3, strides=2, output_padding=1, name="t1"), (None, 5, 3)),
    (scratch.Conv2DTranspose(2, (3, 4), strides=(2, 3), padding="same", name="t2"), (None, 5, 4, 3)),
    (scratch.Conv3DTranspose(2, 2, strides=2, name="t3"), (None, 2, 3, 4, 3)),
]


@pytest.mark.parametrize("layer, shape", NEW_LAYERS, ids=[la.name for la, _ in NEW_LAYERS])
def test_nd_weight_names_shapes_and_output_shapes_are_keras(layer, shape):
    layer.build(shape)
    klayer = keras_ref.convert.keras_layer(layer)
    klayer.build(shape)
    assert [v.name for v in klayer.weights] == list(layer.weight_names)
    assert [tuple(v.shape) for v in klayer.weights] == [w.shape for w in layer.get_weights()]
    assert tuple(klayer.compute_output_shape(shape)) == layer.output_shape == layer.compute_output_shape(shape)
    back = keras_ref.convert._scratch_layer(klayer, "float32")
    assert type(back) is type(layer) and back.get_config() == layer.get_config()


@pytest.mark.parametrize("make, setting", [
    (lambda: keras.Sequential([keras.Input((2, 8)), keras.layers.Conv1D(2, 3, data_format="channels_first", name="c")]),
     "data_format"),
    (lambda: keras.Sequential([keras.Input((4, 4, 4, 2)), keras.layers.Conv3DTranspose(
        2, 2, kernel_regularizer=_ORTHO(), name="c")]), "kernel_regularizer"),
    (lambda: keras.Sequential([keras.Input((8, 2)), keras.layers.SeparableConv1D(2, 3, activation="glu", name="c")]),
     "activation"),
])
def test_from_keras_refuses_nd_settings_the_engine_lacks(make, setting):
    with pytest.raises(ValueError, match=f"'c'.*{setting}"):
        keras_ref.from_keras(make())


def test_transpose_output_sizes_and_refusals_match_keras_over_a_grid():
    """Conv1DTranspose over kernel 1-4, strides 1-3, valid/same, every output_padding (None and 0..s-1), inputs of
    3 and 4 steps, float64: where Keras computes, the same output (so the same size and pads), dL/dx and dL/dkernel;
    where TensorFlow refuses (a 'same' output_padding whose output a 'same' convolution does not map back), the
    scratch layer refuses too, when it is built."""
    computed = refused = 0
    for k, s, padding, n in itertools.product(range(1, 5), range(1, 4), ("valid", "same"), (3, 4)):
        for op in [None, *range(s)]:
            kwargs = dict(filters=2, kernel_size=k, strides=s, padding=padding, output_padding=op)
            case = (f"grid k{k} s{s} {padding} op{op} n{n}", "Conv1DTranspose", kwargs, (2, n, 1))
            try:
                ours, theirs = cases.run_layer_case(case, "float64", seed=k * 10 + s)
            except ValueError as e:
                assert "not back to" in str(e), (case, e)  # ours: refused at build, before Keras is asked
                klayer = keras.layers.Conv1DTranspose(**kwargs, dtype="float64")
                with pytest.raises(Exception):  # noqa: B017  (TensorFlow's AbortedError through Keras)
                    klayer(np.zeros((1, n, 1)))
                refused += 1
                continue
            assert_parity(ours, theirs, tol.for_dtype("LAYER", "float64"), context=case[0], dtype="float64")
            computed += 1
    assert computed > 100 and refused > 5, (computed, refused)
