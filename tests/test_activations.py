"""The activation functions and layers on their own (no TensorFlow): finite differences,
naive per-element references with the ``math`` module, kinks, configs and errors."""

import json
import math
import zlib

import numpy as np
import pytest

import scratch
from scratch import activations as act
from scratch import special
from tests.finite_diff import check_layer
from tests.matchers import raises

NAMES = sorted(act.REGISTRY)
ELEMENTWISE = [n for n in NAMES if n not in ("softmax", "log_softmax")]
KINKS = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0])


def away_from_kinks(x, margin=1e-3):
    """``x`` moved off every kink by at least ``margin`` (finite differences straddle nothing)."""
    x = x.copy()
    for k in KINKS:
        near = np.abs(x - k) < margin
        x[near] = k + np.where(x[near] >= k, margin, -margin) * 2
    return x


# -- finite differences ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_activation_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = away_from_kinks(2.0 * rng.standard_normal((2, 3, 4)))
    check_layer(scratch.Activation(name, dtype="float64"), x, rng)


LAYERS = [
    ("relu", lambda: scratch.ReLU(dtype="float64")),
    ("relu-max6", lambda: scratch.ReLU(max_value=6.0, dtype="float64")),
    ("relu-max2", lambda: scratch.ReLU(max_value=2.0, dtype="float64")),
    ("relu-slope-max-threshold", lambda: scratch.ReLU(max_value=2.0, negative_slope=0.3, threshold=0.5,
                                                      dtype="float64")),
    ("relu-slope", lambda: scratch.ReLU(negative_slope=0.3, dtype="float64")),
    ("leaky-relu", lambda: scratch.LeakyReLU(dtype="float64")),
    ("elu", lambda: scratch.ELU(alpha=0.7, dtype="float64")),
    ("prelu", lambda: scratch.PReLU(dtype="float64")),
    ("prelu-shared-12", lambda: scratch.PReLU(shared_axes=[1, 2], dtype="float64")),
    ("prelu-shared-3", lambda: scratch.PReLU(shared_axes=3, dtype="float64")),
    ("softmax-axis1", lambda: scratch.Softmax(axis=1, dtype="float64")),
    ("softmax-axes", lambda: scratch.Softmax(axis=[1, 3], dtype="float64")),
]


@pytest.mark.parametrize("make", [m for _, m in LAYERS], ids=[i for i, _ in LAYERS])
def test_layer_gradients_match_finite_differences(make):
    rng = np.random.default_rng(3)
    layer = make()
    x = away_from_kinks(2.0 * rng.standard_normal((2, 4, 3, 5)))
    layer.build((None, 4, 3, 5))
    if "alpha" in layer.params:  # random alpha of the right (shared) shape
        layer.params["alpha"][...] = rng.standard_normal(layer.params["alpha"].shape)
    check_layer(layer, x, rng)


def test_prelu_alpha_shape_follows_shared_axes():
    for shared, shape in ((None, (4, 3, 5)), ([1, 2], (1, 1, 5)), (3, (4, 3, 1)), ((1, 2, 3), (1, 1, 1))):
        layer = scratch.PReLU(shared_axes=shared)
        layer.build((None, 4, 3, 5))
        assert layer.params["alpha"].shape == shape and not layer.params["alpha"].any()


# -- naive per-element references (math module, one value at a time) ---------------------------
F32 = float(np.float32(1 / math.sqrt(2)))
COEFF = float(np.float32(0.044715))


def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


SOFTPLUS_THRESHOLD = math.log(2.0 ** -52) + 2  # TensorFlow's log(eps) + 2 in float64


def _softplus(v, th=SOFTPLUS_THRESHOLD):
    return v if v > -th else math.exp(v) if v < th else math.log1p(math.exp(v))


def _hard_sigmoid(v):
    return min(max(v + 3, 0.0), 6.0) / 6


NAIVE = {
    "linear": lambda v: v,
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "leaky_relu": lambda v: v if v > 0 else float(np.float32(0.2)) * v,
    "elu": lambda v: v if v >= 0 else math.exp(v) - 1,
    "selu": lambda v: act.SELU_SCALE * v if v >= 0 else act.SELU_SCALE_ALPHA * (math.exp(v) - 1),
    "celu": lambda v: max(v, 0.0) + math.expm1(min(v, 0.0)),
    "gelu": lambda v: 0.5 * v * math.erfc(-v * F32),
    "gelu_approximate": lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + COEFF * v ** 3))),
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "sparse_sigmoid": lambda v: 0.0 if v <= -1 else 1.0 if v >= 1 else 0.5 * (v + 1),
    "log_sigmoid": lambda v: -_softplus(-v),
    "tanh": math.tanh,
    "hard_tanh": lambda v: min(max(v, -1.0), 1.0),
    "tanh_shrink": lambda v: v - math.tanh(v),
    "hard_shrink": lambda v: v if abs(v) > 0.5 else 0.0,
    "soft_shrink": lambda v: v - 0.5 if v > 0.5 else v + 0.5 if v < -0.5 else 0.0,
    "softplus": _softplus,
    "sparse_plus": lambda v: 0.0 if v <= -1 else (v + 1) ** 2 / 4 if v < 1 else v,
    "squareplus": lambda v: (v + math.sqrt(v * v + 4)) / 2,
    "softsign": lambda v: v / (1 + abs(v)),
    "silu": lambda v: v * _sigmoid(v),
    "swish": lambda v: v * _sigmoid(v),
    "hard_silu": lambda v: v * _hard_sigmoid(v),
    "hard_swish": lambda v: v * _hard_sigmoid(v),
    "mish": lambda v: v * math.tanh(_softplus(v)),
    "exponential": math.exp,
}
GRID = np.unique(np.concatenate([np.linspace(-40, 40, 801), np.linspace(-4, 4, 161), KINKS, [1e-300, -1e-300, 1e-8,
                                                                                           -1e-8, 34.0, -34.1]]))


def test_every_elementwise_activation_has_a_naive_reference():
    assert set(NAIVE) == set(ELEMENTWISE)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_matches_naive_math_loop(name):
    """1e-15 relative, or 1e-15 absolute where a difference of 1-ulp operands cancels
    (``x - tanh(x)`` near 0, ``1 + tanh`` far left)."""
    ours = act.REGISTRY[name](GRID)
    ref = np.array([NAIVE[name](float(v)) for v in GRID])
    err = np.abs(ours - ref)
    bad = err > 1e-15 * np.abs(ref) + 1e-15
    assert not bad.any(), f"{name}: x={GRID[bad][:5]} ours {ours[bad][:5]} naive {ref[bad][:5]}"
    assert ours.dtype == np.float64
    assert act.REGISTRY[name](GRID.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_matches_naive_math_loop(kind, axis):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)) * 30  # exp would overflow unshifted
    fn = (act.softmax if kind == "softmax" else act.log_softmax)(x, axis)
    moved = np.moveaxis(x, axis, -1)
    ref = np.empty_like(moved)
    for idx in np.ndindex(moved.shape[:-1]):
        row = [float(v) for v in moved[idx]]
        m = max(row)
        total = sum(math.exp(v - m) for v in row)
        ref[idx] = [math.exp(v - m) / total if kind == "softmax" else (v - m) - math.log(total) for v in row]
    np.testing.assert_allclose(fn, np.moveaxis(ref, -1, axis), rtol=1e-14, atol=1e-15)


def test_erf_and_erfc_match_math_to_float64_rounding():
    x = np.concatenate([np.linspace(-27, 27, 54001), np.geomspace(1e-300, 27, 2000),
                        -np.geomspace(1e-300, 27, 2000), [0.84375, 1.25, 1 / 0.35, 6.0]])
    for ours, ref in ((special.erf, math.erf), (special.erfc, math.erfc)):
        got, want = ours(x), np.array([ref(v) for v in x])
        ok = want > 1e-300  # erfc's subnormal tail has no relative precision left
        rel = np.abs(got - want)[ok] / np.abs(want[ok])
        assert rel.max() < 1e-15, f"{ours.__name__}: {rel.max():.2e} at x={x[ok][rel.argmax()]}"
    np.testing.assert_array_equal(special.erf(np.array([np.inf, -np.inf, 0.0, 40.0])), [1.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(special.erfc(np.array([np.inf, -np.inf, 40.0])), [0.0, 2.0, 0.0])
    assert np.isnan(special.erf(np.array([np.nan]))).all() and np.isnan(special.erfc(np.array([np.nan]))).all()


def test_saturated_ranges_are_finite_and_exact():
    x = np.array([-1000.0, -800.0, 800.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):  # no overflow on the way
        np.testing.assert_array_equal(act.softplus(x), [0.0, 0.0, 800.0, 1000.0])
        np.testing.assert_array_equal(act.sigmoid(x), [0.0, 0.0, 1.0, 1.0])
        np.testing.assert_array_equal(act.log_sigmoid(x), [-1000.0, -800.0, 0.0, 0.0])
        np.testing.assert_array_equal(act.mish(x), [-0.0, -0.0, 800.0, 1000.0])
        np.testing.assert_array_equal(act.silu(x), [-0.0, -0.0, 800.0, 1000.0])
        np.testing.assert_array_equal(act.gelu(x), [-0.0, -0.0, 800.0, 1000.0])
    for name in ("softplus", "log_sigmoid", "mish", "sigmoid", "silu", "gelu", "selu", "elu"):
        fn = act.REGISTRY[name]
        dx = fn.backward(x, fn(x), np.ones_like(x))
        assert np.all(np.isfinite(dx)), name
    assert act.softmax(np.array([[1000.0, 0.0, -1000.0]]))[0, 0] == 1.0


# -- kinks: the gradient TensorFlow's autodiff gives there ------------------------------------
KINK_CASES = [
    ("relu-at-0", "relu", [0.0], [0.0]),
    ("relu6-at-0-and-6", "relu6", [0.0, 6.0], [0.0, 0.0]),
    ("leaky-relu-at-0", "leaky_relu", [0.0], [float(np.float32(0.2))]),
    ("hard-sigmoid-at-minus3-and-3", "hard_sigmoid", [-3.0, 3.0], [0.0, 0.0]),
    ("hard-silu-at-minus3-and-3", "hard_silu", [-3.0, 3.0], [0.0, 1.0]),
    ("elu-at-0", "elu", [0.0], [1.0]),
    ("selu-at-0", "selu", [0.0], [act.SELU_SCALE]),
    ("celu-at-0", "celu", [0.0], [2.0]),
    ("hard-tanh-at-minus1-and-1", "hard_tanh", [-1.0, 1.0], [1.0, 1.0]),
    ("sparse-sigmoid-at-minus1-and-1", "sparse_sigmoid", [-1.0, 1.0], [0.0, 0.0]),
    ("sparse-plus-at-minus1-and-1", "sparse_plus", [-1.0, 1.0], [0.0, 1.0]),
    ("shrinks-at-half", "hard_shrink", [-0.5, 0.5], [0.0, 0.0]),
    ("soft-shrink-at-half", "soft_shrink", [-0.5, 0.5], [0.0, 0.0]),
]


@pytest.mark.parametrize("case", KINK_CASES, ids=[c[0] for c in KINK_CASES])
def test_activation_gradient_at_kink(case):
    _, name, xs, expected = case
    x = np.array(xs)
    fn = act.REGISTRY[name]
    np.testing.assert_array_equal(fn.backward(x, fn(x), np.ones_like(x)), expected)


LAYER_KINKS = [
    ("relu-max6-at-0-and-6", dict(max_value=6.0), [0.0, 6.0], [0.0, 0.0]),  # Keras's relu6 op
    ("relu-max5-at-5", dict(max_value=5.0), [0.0, 5.0], [0.0, 1.0]),  # clip passes the gradient at max
    ("relu-threshold-at-t", dict(threshold=0.5), [0.5, 0.25], [0.0, 0.0]),
    ("relu-slope-at-0", dict(negative_slope=0.125), [0.0], [0.125]),  # leaky op: the slope at 0
    ("relu-slope-max-at-0", dict(negative_slope=0.125, max_value=2.0), [0.0, 2.0, -1.0], [0.0, 1.0, 0.125]),
    ("relu-slope-threshold-at-t", dict(negative_slope=0.125, threshold=1.0), [1.0, 0.5], [0.0, 0.125]),
]


@pytest.mark.parametrize("case", LAYER_KINKS, ids=[c[0] for c in LAYER_KINKS])
def test_relu_layer_gradient_at_kink(case):
    _, options, xs, expected = case
    layer = scratch.ReLU(**options, dtype="float64")
    x = np.array([xs])
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [expected])


def test_relu_layer_formula():
    x = np.array([[-2.0, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]])
    y = scratch.ReLU(max_value=1.5, negative_slope=0.5, threshold=0.5, dtype="float64")(x)
    # m if x >= m; x if t < x < m; slope * (x - t) otherwise (0 at x = t)
    np.testing.assert_array_equal(y, [[-1.25, -0.5, -0.25, -0.125, 0.0, 1.0, 1.5, 1.5, 1.5]])


def test_other_layer_kinks():
    x = np.array([[0.0, -2.0]])
    layer = scratch.LeakyReLU(dtype="float64")
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[float(np.float32(0.3))] * 2])
    layer = scratch.ELU(alpha=0.5, dtype="float64")
    layer(x)
    assert layer.backward(np.ones_like(x))[0, 0] == 0.5
    layer = scratch.PReLU(dtype="float64")
    layer.build((None, 2))
    layer.params["alpha"][...] = 0.25
    np.testing.assert_array_equal(layer(x), [[0.0, -0.5]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[0.0, 0.25]])


# -- configs --------------------------------------------------------------------------------
CONFIGS = [
    lambda: scratch.Activation("swish", name="a"),
    lambda: scratch.Activation("gelu_approximate"),
    lambda: scratch.ReLU(max_value=6, negative_slope=0.1, threshold=0.5),
    lambda: scratch.LeakyReLU(negative_slope=0.05),
    lambda: scratch.ELU(alpha=0.7, dtype="float64"),
    lambda: scratch.PReLU(shared_axes=[1, 2], trainable=False),
    lambda: scratch.Softmax(axis=[1, 2]),
    lambda: scratch.Softmax(axis=1),
]


@pytest.mark.parametrize("make", CONFIGS)
def test_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))  # JSON-able, as in an architecture file
    again = type(layer).from_config(config)
    assert again.get_config() == layer.get_config()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(layer.dtype)
    np.testing.assert_array_equal(again(x), layer(x))


def test_config_names_are_keras_names():
    assert scratch.Activation("swish").get_config()["activation"] == "silu"
    assert scratch.Activation("hard_swish").get_config()["activation"] == "hard_silu"
    assert set(scratch.ReLU().get_config()) >= {"max_value", "negative_slope", "threshold"}
    assert scratch.PReLU(shared_axes=2).get_config()["shared_axes"] == [2]
    assert scratch.Dense(3, activation="gelu").get_config()["activation"] == "gelu"


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make, fragments", [
    (lambda: scratch.Activation("nope", name="a1"), ("Activation 'a1'", "unknown activation 'nope'")),
    (lambda: scratch.Activation(3), ("Activation", "unknown activation 3")),
    (lambda: scratch.Dense(2, activation="glu"), ("Dense", "unknown activation 'glu'")),
    (lambda: scratch.ReLU(max_value=-1.0), ("ReLU", "max_value must be a float >= 0 or None", "-1.0")),
    (lambda: scratch.ReLU(negative_slope=-0.1), ("ReLU", "negative_slope must be a float >= 0", "-0.1")),
    (lambda: scratch.ReLU(negative_slope=None), ("ReLU", "negative_slope", "None")),
    (lambda: scratch.ReLU(threshold=None), ("ReLU", "threshold", "None")),
    (lambda: scratch.ReLU(threshold=-1), ("ReLU", "threshold", "-1")),
    (lambda: scratch.LeakyReLU(negative_slope=-0.3), ("LeakyReLU", "negative_slope", "-0.3")),
    (lambda: scratch.ELU(alpha="big"), ("ELU", "alpha must be a float", "'big'")),
    (lambda: scratch.PReLU(shared_axes=[0]), ("PReLU", "shared_axes must be axis numbers >= 1", "[0]")),
    (lambda: scratch.PReLU(shared_axes=-1), ("PReLU", "shared_axes", "[-1]")),
    (lambda: scratch.PReLU(alpha_initializer="orthogonal"), ("PReLU", "unknown initializer 'orthogonal'")),
    (lambda: scratch.Softmax(axis="last"), ("Softmax", "axis must be an int or a non-empty list of ints", "'last'")),
    (lambda: scratch.Softmax(axis=[]), ("Softmax", "axis", "[]")),
])
def test_argument_errors(make, fragments):
    with raises(*fragments):
        make()


def test_shape_errors():
    with raises("PReLU", "shared_axes [4] out of range for 4-D input"):
        scratch.PReLU(shared_axes=4).build((None, 2, 2, 3))
    layer = scratch.PReLU(shared_axes=[1, 2])
    layer(np.zeros((1, 4, 4, 3), np.float32))
    layer(np.zeros((1, 6, 5, 3), np.float32))  # shared axes may change size
    with raises("PReLU", "expected input shape (None, 4, 4, 3)", "(1, 4, 4, 2)"):
        layer(np.zeros((1, 4, 4, 2), np.float32))
    unshared = scratch.PReLU()
    unshared(np.zeros((1, 4, 4, 3), np.float32))
    with raises("PReLU", "every axis not in shared_axes is fixed by alpha"):
        unshared(np.zeros((1, 5, 4, 3), np.float32))
    with raises("Softmax", "axis 3 is out of range for 2-D input"):
        scratch.Softmax(axis=3)(np.zeros((2, 3), np.float32))
    with raises("Softmax", "axis [1, -1] repeats an axis"):
        scratch.Softmax(axis=[1, -1])(np.zeros((2, 3), np.float32))
