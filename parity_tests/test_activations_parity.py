"""Activations against Keras beyond the standard-normal grid of ``test_layers``: kinks,
saturation and overflow ranges, the exact gradient at every kink, and the conversions."""

import functools

import keras
import numpy as np
import pytest

import keras_ref
import scratch
import scratch.special
from keras_ref.mapping.common import activation_name, gelu_approximate
from parity_tests import tolerances as tol
from parity_tests import twins
from parity_tests.compare import assert_parity
from parity_tests.layer_cases.activations import ACTIVATION_NAMES
from scratch.keras_io import config as keras_io_config

# Values on every kink (0, ±0.5, ±1, ±3, 6), just beside them, and far out: softplus's
# thresholds (±13.94 in float32, ±34.04 in float64), exp's range, erfc's tail.
SPECIAL = np.array([0.0, 1e-7, -1e-7, 0.5, -0.5, 1.0, -1.0, 2.9999, 3.0, 3.0001, -2.9999, -3.0, -3.0001,
                    5.9999, 6.0, 6.0001, 10.0, -10.0, 13.9, 14.0, -13.9, -14.0, 20.0, -20.0, 34.0, 34.1, -34.0,
                    -34.1, 40.0, -40.0, 60.0, -60.0, 85.0, -85.0])


def _pair(layer, x, dy=None):
    layer.name = scratch.models.functional.snake_case(type(layer).__name__)
    layer.build((None,) + x.shape[1:])
    klayer = twins.keras_twin(layer)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype) if dy is None else dy
    return twins.scratch_layer_pass(layer, x, dy), twins.keras_layer_pass(klayer, x, dy)


def _elementwise_close(ours, theirs, tolerance):
    rtol, atol = tolerance.rtol, tolerance.atol
    for key in theirs:
        a, b = np.asarray(ours[key], np.float64), np.asarray(theirs[key], np.float64)
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), key
        bad = ~(np.abs(a - b) <= atol + rtol * np.abs(b))
        assert not bad.any(), f"{key}: at {np.argwhere(bad).tolist()} scratch {a[bad]} keras {b[bad]}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", [n for n in ACTIVATION_NAMES if n not in ("softmax", "log_softmax")])
def test_activation_on_kinks_and_saturation_matches_keras(name, dtype):
    """Element by element (not on the tensor's scale), ``tol.ACTIVATION_ELEMENT_FLOAT32/64``."""
    x = SPECIAL if name != "exponential" else SPECIAL[np.abs(SPECIAL) <= 60]  # exp(85) overflows float32
    ours, theirs = _pair(scratch.Activation(name, dtype=dtype), x[None, :].astype(dtype))
    _elementwise_close(ours, theirs, tol.for_dtype("ACTIVATION_ELEMENT", dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_softmax_on_large_logits_matches_keras(kind, dtype):
    x = np.stack([SPECIAL, SPECIAL[::-1] * 10, np.zeros_like(SPECIAL)]).astype(dtype)  # up to 850: exp would overflow
    ours, theirs = _pair(scratch.Activation(kind, dtype=dtype), x)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=f"{kind} {dtype}", dtype=dtype)


# (id, layer, x values, dL/dx at each for dy = 1): both engines must give exactly these
KINKS = [
    ("relu-at-0", lambda d: scratch.Activation("relu", dtype=d), [0.0], [0.0]),
    ("relu6-at-0-and-6", lambda d: scratch.Activation("relu6", dtype=d), [0.0, 6.0], [0.0, 0.0]),
    ("leaky-relu-fn-at-0", lambda d: scratch.Activation("leaky_relu", dtype=d), [0.0], [np.float32(0.2)]),
    ("hard-sigmoid-at-minus3-and-3", lambda d: scratch.Activation("hard_sigmoid", dtype=d), [-3.0, 3.0], [0.0, 0.0]),
    ("hard-silu-at-minus3-and-3", lambda d: scratch.Activation("hard_silu", dtype=d), [-3.0, 3.0], [0.0, 1.0]),
    ("elu-at-0", lambda d: scratch.Activation("elu", dtype=d), [0.0], [1.0]),
    ("selu-at-0", lambda d: scratch.Activation("selu", dtype=d), [0.0], [scratch.activations.SELU_SCALE]),
    ("celu-at-0", lambda d: scratch.Activation("celu", dtype=d), [0.0], [2.0]),
    ("hard-tanh-at-minus1-and-1", lambda d: scratch.Activation("hard_tanh", dtype=d), [-1.0, 1.0], [1.0, 1.0]),
    ("sparse-sigmoid-at-minus1-and-1", lambda d: scratch.Activation("sparse_sigmoid", dtype=d), [-1.0, 1.0],
     [0.0, 0.0]),
    ("sparse-plus-at-minus1-and-1", lambda d: scratch.Activation("sparse_plus", dtype=d), [-1.0, 1.0], [0.0, 1.0]),
    ("hard-shrink-at-half", lambda d: scratch.Activation("hard_shrink", dtype=d), [-0.5, 0.5], [0.0, 0.0]),
    ("soft-shrink-at-half", lambda d: scratch.Activation("soft_shrink", dtype=d), [-0.5, 0.5], [0.0, 0.0]),
    ("ReLU-max6-at-0-and-6", lambda d: scratch.ReLU(max_value=6.0, dtype=d), [0.0, 6.0], [0.0, 0.0]),
    ("ReLU-max5-at-5", lambda d: scratch.ReLU(max_value=5.0, dtype=d), [0.0, 5.0], [0.0, 1.0]),
    ("ReLU-threshold-at-t", lambda d: scratch.ReLU(threshold=0.5, dtype=d), [0.5], [0.0]),
    ("ReLU-slope-at-0", lambda d: scratch.ReLU(negative_slope=0.125, dtype=d), [0.0], [0.125]),
    ("ReLU-slope-max-at-0-and-max", lambda d: scratch.ReLU(negative_slope=0.125, max_value=2.0, dtype=d),
     [0.0, 2.0], [0.0, 1.0]),
    ("ReLU-slope-threshold-at-t", lambda d: scratch.ReLU(negative_slope=0.125, threshold=1.0, dtype=d),
     [1.0, 0.5], [0.0, 0.125]),
    ("LeakyReLU-at-0", lambda d: scratch.LeakyReLU(dtype=d), [0.0], [np.float32(0.3)]),
    ("ELU-alpha-at-0", lambda d: scratch.ELU(alpha=0.5, dtype=d), [0.0], [0.5]),
    ("PReLU-at-0", lambda d: scratch.PReLU(dtype=d), [0.0, -1.0], [0.0, 0.0]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kink", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_kink_is_exactly_keras(kink, dtype):
    _, make, xs, grads = kink
    x = np.array([xs], dtype=dtype)
    ours, theirs = _pair(make(dtype), x, dy=np.ones_like(x))
    key = [k for k in theirs if k[1] == "grad input"][0]
    expected = np.array([grads], dtype=np.float64).astype(dtype)
    np.testing.assert_array_equal(theirs[key], expected)  # what TensorFlow's autodiff gives
    np.testing.assert_array_equal(ours[key], expected)
    np.testing.assert_array_equal(ours[(key[0], "output")], theirs[(key[0], "output")])


def test_float64_constants_rounded_through_float32_as_tensorflow():
    """TensorFlow rounds gelu's 1/sqrt(2) and 0.044715 and leaky_relu's slope to float32 even
    in float64: Keras is 1e-10..1e-8 away from the formulas with float64 constants; we match Keras."""
    x = np.linspace(-4, 4, 41)[None, :]
    erf = scratch.special.erf
    with_float64_constants = {
        "gelu": 0.5 * x * (1 + erf(x / np.sqrt(2))),
        "gelu_approximate": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
        "leaky_relu": np.where(x > 0, x, 0.2 * x),
    }
    for name, naive in with_float64_constants.items():
        ours, theirs = _pair(scratch.Activation(name, dtype="float64"), x)
        _elementwise_close(ours, theirs, tol.ACTIVATION_ELEMENT_FLOAT64)
        assert np.abs(theirs[("activation", "output")] - naive).max() > 1e-10, name


# -- conversions ------------------------------------------------------------------------------
LAYERS = [
    lambda: scratch.Activation("swish"),
    lambda: scratch.Activation("gelu_approximate"),
    lambda: scratch.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    lambda: scratch.LeakyReLU(negative_slope=0.05),
    lambda: scratch.ELU(alpha=0.7),
    lambda: scratch.PReLU(shared_axes=[1, 2]),
    lambda: scratch.Softmax(axis=[1, 2]),
]


@pytest.mark.parametrize("make", LAYERS, ids=lambda m: type(m()).__name__)
def test_layer_converts_both_ways(make):
    layer = make()
    layer.name = "act"
    layer.build((None, 5, 4, 3))
    if layer.params:
        layer.params["alpha"][...] = np.random.default_rng(0).standard_normal(layer.params["alpha"].shape)
    klayer = twins.keras_twin(layer)
    back = keras_io_config.layer_from_config(keras_ref.convert.keras_config_of(klayer), "float32")
    assert back.get_config() == layer.get_config()
    x = np.random.default_rng(1).standard_normal((2, 5, 4, 3)).astype("float32")
    back.build((None, 5, 4, 3))
    back.set_weights(klayer.get_weights())
    np.testing.assert_allclose(back(x), np.asarray(klayer(x)), rtol=1e-5, atol=1e-6)


def test_activation_names_of_keras_functions():
    dense = keras.layers.Dense(2)
    for name in ACTIVATION_NAMES:
        if name != "gelu_approximate":
            expected = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
            assert activation_name(dense, keras.activations.get(name)) == expected
    assert activation_name(dense, gelu_approximate) == "gelu_approximate"
    assert activation_name(dense, functools.partial(keras.activations.gelu, approximate=True)) == "gelu_approximate"
    assert activation_name(dense, functools.partial(keras.activations.gelu, approximate=False)) == "gelu"
    for fn in (lambda x: x, keras.activations.glu, keras.activations.sparsemax,
               functools.partial(keras.activations.leaky_relu, negative_slope=0.1)):
        with pytest.raises(ValueError, match="activation"):
            activation_name(dense, fn)


def test_gelu_approximate_survives_a_keras_file(tmp_path):
    """The tanh GELU travels as the registered Keras function ``scratch>gelu_approximate``."""
    arch = {"name": "g", "input_shape": [6, 6, 1], "preprocess": "scale",
            "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
            "layers": [{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3,
                                                          "activation": "gelu_approximate"}},
                       {"class_name": "Activation", "config": {"activation": "gelu_approximate"}},
                       {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 3}}]}
    model = scratch.build_model(arch, seed=0)
    km = keras_ref.to_keras(model)
    km.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras", compile=False)
    back = keras_ref.from_keras(loaded)
    assert [la.get_config() for la in back.layers] == [la.get_config() for la in model.layers]
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(back(x), model(x), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded(x)), model(x), rtol=1e-5, atol=1e-6)
