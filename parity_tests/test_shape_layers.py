"""The shape and preprocessing layers across the engines: whole models both ways, Keras's own
InputLayer config, refusals, and the facts the scratch layers rely on, measured on Keras."""

from parity_tests import twins  # noqa: I001  (TensorFlow deterministic before Keras loads)

import json

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity
from parity_tests.determinism import tf

SHAPES = {  # every shape layer in one model; the output flows through rank 4 -> 2 -> 3 -> 2
    "name": "shapes",
    "input_shape": [7, 6, 2],
    "layers": [
        {"class_name": "Normalization", "config": {"mean": [0.5, -0.25], "variance": [0.25, 2.0]}},
        {"class_name": "ZeroPadding2D", "config": {"padding": [[1, 0], [2, 1]]}},
        {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3, "activation": "relu"}},
        {"class_name": "Cropping2D", "config": {"cropping": [[0, 1], [1, 0]]}},
        {"class_name": "UpSampling2D", "config": {"size": [1, 2]}},
        {"class_name": "Reshape", "config": {"target_shape": [-1, 6, 3]}},
        {"class_name": "GlobalMaxPooling2D", "config": {"keepdims": True}},
        {"class_name": "Reshape", "config": {"target_shape": [3]}},
        {"class_name": "Dense", "config": {"units": 4}},
    ],
}
SMALL = {"name": "small", "input_shape": [6, 6, 1], "layers": [
    {"class_name": "ZeroPadding2D", "config": {}},
    {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
    {"class_name": "GlobalAveragePooling2D", "config": {}},
    {"class_name": "Dense", "config": {"units": 3}},
]}


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("desc", [SHAPES, SMALL], ids=["shapes", "small"])
def test_model_with_shape_layers_matches_keras(desc, dtype):
    """Output, loss and every gradient of a whole model, and to_keras/from_keras round trips."""
    model = scratch.build_model(desc, dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((4,) + tuple(desc["input_shape"])).astype(dtype)
    y = rng.integers(0, 3, 4)
    ours, theirs = twins.model_parity(model, x, y)
    assert_parity(ours, theirs, tol.for_dtype("MODEL", dtype), context=f"{desc['name']} {dtype}", dtype=dtype)
    back = keras_ref.from_keras(keras_ref.to_keras(model), preprocess=model.preprocess, loss=model.loss_spec)
    assert back.get_config() == {**model.get_config(), "name": model.name}
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_small_model_trains_as_keras():
    """A few SGD steps of ZeroPadding2D + GlobalAveragePooling2D + Dense, in float64, weights compared."""
    rng = np.random.default_rng(1)
    batches = [(rng.random((8, 6, 6, 1)), rng.integers(0, 3, 8)) for _ in range(5)]
    *_, (step, ours, theirs, s_loss, k_loss) = twins.train_parity(SMALL, "float64", "momentum", batches)
    assert step == 5
    assert_parity(ours, theirs, tol.TRAIN_FLOAT64, context="small float64 momentum", dtype="float64")


def test_keras_input_layer_config_builds_the_same_model():
    """The InputLayer entry of a real Keras Sequential config (``batch_shape``) is what the
    architecture loader consumes; the model is the same as with ``input_shape``."""
    km = keras_ref.build_keras(SMALL, dtype="float64")
    first = json.loads(json.dumps(km.get_config()["layers"][0], default=list))
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 6, 6, 1]
    desc = {k: v for k, v in SMALL.items() if k != "input_shape"}
    desc["layers"] = [first] + SMALL["layers"]
    a, b = scratch.build_model(desc, dtype="float64", seed=3), scratch.build_model(SMALL, dtype="float64", seed=3)
    assert a.get_config() == {**b.get_config(), "name": "small"}
    assert [la.name for la in km.layers] == [la.name for la in a.layers]  # Keras leaves the input out too


def test_global_max_pooling_tie_case_really_has_ties():
    case = cases.case_by_id("gmp-ties")
    x = cases.layer_input(case[3], "float64")
    x = np.round(x * case[4]["integers"])
    ties = (x == x.max(axis=(1, 2), keepdims=True)).sum(axis=(1, 2))
    assert (ties > 1).any() and ties.max() >= 3


def test_keras_global_max_pooling_splits_ties_equally():
    """The fact GlobalMaxPooling2D.backward relies on, measured: TF's reduce_max gradient."""
    xt = tf.constant(np.array([[[[1.0], [3.0]], [[3.0], [3.0]]]]))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = keras.layers.GlobalMaxPooling2D(dtype="float64")(xt)
    np.testing.assert_array_equal(tape.gradient(y, xt).numpy().ravel(), [0, 1 / 3, 1 / 3, 1 / 3])


def test_trap_keras_rounds_a_given_normalization_mean_to_float32():
    """Keras converts a given ``mean``/``variance`` to a float32 tensor before casting it to the
    layer's dtype, so a float64 Normalization(mean=0.1) subtracts float64(float32(0.1)). The
    scratch engine keeps the given values exact; the parity cases use float32-exact values."""
    x = np.zeros((1, 2), np.float64)
    k = keras.layers.Normalization(mean=[0.1, 0.5], variance=[1.0, 1.0], dtype="float64")
    s = scratch.Normalization(mean=[0.1, 0.5], variance=[1.0, 1.0], dtype="float64")
    theirs, ours = np.asarray(k(x)), s(x)
    assert theirs[0, 0] == -float(np.float32(0.1)) and ours[0, 0] == -0.1
    assert theirs[0, 1] == ours[0, 1] == -0.5  # exact in float32: no difference


@pytest.mark.parametrize("klayer, fragments", [
    (keras.layers.UpSampling2D(2, interpolation="lanczos5", name="up"), ("'up'", "interpolation='lanczos5'",
                                                                          "('bilinear', 'nearest', 'bicubic')")),
    (keras.layers.ZeroPadding2D(1, data_format="channels_first", name="zp"), ("'zp'", "channels_first")),
    (keras.layers.GlobalMaxPooling2D(data_format="channels_first", name="gmp"), ("'gmp'", "channels_first")),
])
def test_from_keras_refuses_unsupported_settings(klayer, fragments):
    km = keras.Sequential([keras.Input((4, 4, 2)), klayer, keras.layers.Flatten(), keras.layers.Dense(2)])
    if isinstance(klayer, keras.layers.Normalization):
        klayer.adapt(np.random.default_rng(0).random((3, 4, 4, 2)))
    with pytest.raises(ValueError) as info:
        keras_ref.from_keras(km)
    for f in fragments:
        assert f in str(info.value)


@pytest.mark.parametrize("klayer", [
    keras.layers.ZeroPadding2D(((1, 2), (0, 3))), keras.layers.ZeroPadding2D(2), keras.layers.Cropping2D((1, 0)),
    keras.layers.Cropping2D(((0, 1), (1, 1))), keras.layers.UpSampling2D((2, 1)), keras.layers.Reshape((-1, 2)),
    keras.layers.GlobalAveragePooling2D(keepdims=True), keras.layers.GlobalMaxPooling2D(),
    keras.layers.Normalization(axis=(1, 2), mean=[[0.5] * 4] * 4, variance=[[2.0] * 4] * 4, invert=True),
    keras.layers.Normalization(axis=None, mean=0.25, variance=4.0),
])
def test_keras_layer_round_trips_exactly(klayer):
    """Keras -> scratch -> Keras gives the same Keras config (name, dtype and arguments)."""
    km = keras.Sequential([keras.Input((4, 4, 2)), klayer])
    model = keras_ref.from_keras(km)
    again = keras_ref.to_keras(model).layers[0]
    assert again.get_config() == klayer.get_config()
    x = np.random.default_rng(0).random((2, 4, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.asarray(km(x)), rtol=1e-6, atol=1e-6)


def test_normalization_with_statistics_held_as_weights_converts_with_their_values():
    """A Normalization built without mean/variance keeps them as weights (adapt(), EfficientNet): the
    twin takes their values as its mean and variance and computes what Keras computes."""
    layer = keras.layers.Normalization(name="norm")
    km = keras.Sequential([keras.Input((3, 3, 2)), layer])
    layer.adapt(np.random.default_rng(0).normal(2.0, 3.0, (16, 3, 3, 2)).astype("float32"))
    model = keras_ref.from_keras(km)
    x = np.random.default_rng(1).normal(2.0, 3.0, (4, 3, 3, 2)).astype("float32")
    np.testing.assert_allclose(model.predict(x), np.asarray(km(x)), rtol=1e-6, atol=1e-6)
