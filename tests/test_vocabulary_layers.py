"""Issue 20's reshaping, noise and embedding layers in NumPy alone: naive loop references, finite
differences, seeded draws, Keras's formulas and defaults, one-line refusals, config round trips."""

import itertools
import math

import numpy as np
import pytest

import scratch
from tests.finite_diff import check_layer
from tests.matchers import raises

F64 = "float64"
TOL = dict(rtol=1e-12, atol=1e-12)


# -- ZeroPadding / Cropping / UpSampling in 1 and 3 dimensions --------------------------------------
def naive_pad(x, margins):
    n, *spatial, c = x.shape
    y = np.zeros([n] + [b + d + a for d, (b, a) in zip(spatial, margins)] + [c])
    for cell in itertools.product(*(range(d) for d in spatial)):
        y[(slice(None),) + tuple(i + b for i, (b, _) in zip(cell, margins))] = x[(slice(None),) + cell]
    return y


def naive_crop(x, margins):
    n, *spatial, c = x.shape
    out = [d - b - a for d, (b, a) in zip(spatial, margins)]
    y = np.zeros([n] + out + [c])
    for cell in itertools.product(*(range(d) for d in out)):
        y[(slice(None),) + cell] = x[(slice(None),) + tuple(i + b for i, (b, _) in zip(cell, margins))]
    return y


def naive_upsample(x, size):
    n, *spatial, c = x.shape
    y = np.zeros([n] + [d * s for d, s in zip(spatial, size)] + [c])
    for cell in itertools.product(*(range(d * s) for d, s in zip(spatial, size))):
        y[(slice(None),) + cell] = x[(slice(None),) + tuple(i // s for i, s in zip(cell, size))]
    return y


SPATIAL = [  # (class, kwargs, input shape, naive forward of x)
    ("ZeroPadding1D", {}, (2, 4, 3), lambda x: naive_pad(x, ((1, 1),))),
    ("ZeroPadding1D", dict(padding=(0, 2)), (2, 3, 2), lambda x: naive_pad(x, ((0, 2),))),
    ("ZeroPadding3D", {}, (2, 2, 3, 2, 2), lambda x: naive_pad(x, ((1, 1),) * 3)),
    ("ZeroPadding3D", dict(padding=(1, 0, 2)), (1, 2, 2, 3, 2), lambda x: naive_pad(x, ((1, 1), (0, 0), (2, 2)))),
    ("ZeroPadding3D", dict(padding=((0, 1), (2, 0), (1, 1))), (2, 2, 3, 2, 1),
     lambda x: naive_pad(x, ((0, 1), (2, 0), (1, 1)))),
    ("Cropping1D", {}, (2, 5, 3), lambda x: naive_crop(x, ((1, 1),))),
    ("Cropping1D", dict(cropping=(0, 2)), (2, 5, 2), lambda x: naive_crop(x, ((0, 2),))),
    ("Cropping3D", {}, (2, 4, 3, 5, 2), lambda x: naive_crop(x, ((1, 1),) * 3)),
    ("Cropping3D", dict(cropping=((0, 1), (2, 0), (1, 2))), (1, 3, 4, 5, 2),
     lambda x: naive_crop(x, ((0, 1), (2, 0), (1, 2)))),
    ("UpSampling1D", {}, (2, 3, 2), lambda x: naive_upsample(x, (2,))),
    ("UpSampling1D", dict(size=3), (2, 4, 1), lambda x: naive_upsample(x, (3,))),
    ("UpSampling3D", {}, (2, 2, 3, 2, 2), lambda x: naive_upsample(x, (2, 2, 2))),
    ("UpSampling3D", dict(size=(3, 1, 2)), (1, 2, 2, 3, 1), lambda x: naive_upsample(x, (3, 1, 2))),
]


@pytest.mark.parametrize("cls, kwargs, shape, naive", SPATIAL, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(SPATIAL)])
def test_spatial_reshaping_matches_loops_and_finite_differences(cls, kwargs, shape, naive):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    y = layer(x)
    np.testing.assert_array_equal(y, naive(x))
    assert layer.output_shape == (None,) + y.shape[1:]
    check_layer(layer, x, rng)
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert again.get_config() == layer.get_config()
    np.testing.assert_array_equal(again(x), y)


@pytest.mark.parametrize("cls, arg, bad", [
    ("ZeroPadding1D", "padding", (1, 2, 3)), ("ZeroPadding1D", "padding", ((1, 2), (0, 1))), ("ZeroPadding1D", "padding", -1),
    ("ZeroPadding3D", "padding", (1, 2)), ("ZeroPadding3D", "padding", ((1, 2), (3, 4))),
    ("Cropping1D", "cropping", (1, -1)), ("Cropping3D", "cropping", "same"), ("Cropping3D", "cropping", ((1,), 2, 3)),
])
def test_bad_margins_are_refused(cls, arg, bad):
    with raises(f"{cls} 'm'", f"{arg} must be", "received", repr(bad)):
        getattr(scratch, cls)(bad, name="m")


def test_margin_forms_as_keras():
    assert scratch.ZeroPadding1D(2).padding == ((2, 2),)
    assert scratch.ZeroPadding1D((0, 3)).padding == ((0, 3),)  # 1-D: (left, right), not symmetric per axis
    assert scratch.Cropping3D(2).cropping == ((2, 2),) * 3
    assert scratch.ZeroPadding3D((1, 2, 3)).padding == ((1, 1), (2, 2), (3, 3))
    assert scratch.Cropping1D().cropping == ((1, 1),) and scratch.UpSampling3D().size == (2, 2, 2)


def test_cropping_everything_is_refused_in_1d_and_3d():
    with raises("Cropping1D 'c'", "removes 4 of the input's 4 steps", "leaving none"):
        scratch.Cropping1D((2, 2), name="c")(np.zeros((1, 4, 2), np.float32))
    with raises("Cropping3D 'c'", "removes 2 of the input's 2 depth slices"):
        scratch.Cropping3D(name="c")(np.zeros((1, 2, 4, 4, 1), np.float32))


@pytest.mark.parametrize("make, shape, rank", [(lambda: scratch.UpSampling1D(name="s"), (2, 3, 3, 1), 3),
                                               (lambda: scratch.ZeroPadding3D(name="s"), (2, 3, 3, 1), 5),
                                               (lambda: scratch.Cropping1D(name="s"), (2, 3), 3)])
def test_wrong_rank_is_refused(make, shape, rank):
    with raises("'s'", f"expected {rank}-D input", str(shape)):
        make()(np.zeros(shape, np.float32))


def test_upsampling_sizes():
    with raises("UpSampling1D 'u'", "size", "(2, 2)"):
        scratch.UpSampling1D((2, 2), name="u")
    with raises("UpSampling3D 'u'", "size", "0"):
        scratch.UpSampling3D((2, 0, 1), name="u")
    assert scratch.UpSampling1D(3).get_config()["size"] == 3  # Keras's UpSampling1D size is an int


# -- noise and dropout variants ------------------------------------------------------------------
NOISY = [("GaussianNoise", dict(stddev=0.4)), ("GaussianDropout", dict(rate=0.3)), ("AlphaDropout", dict(rate=0.3)),
         ("SpatialDropout1D", dict(rate=0.5)), ("SpatialDropout2D", dict(rate=0.5)),
         ("SpatialDropout3D", dict(rate=0.5)), ("Dropout", dict(rate=0.5))]
SHAPES = {"SpatialDropout1D": (3, 4, 5), "SpatialDropout3D": (2, 3, 2, 3, 4)}


@pytest.mark.parametrize("cls, kwargs", NOISY, ids=[c for c, _ in NOISY])
def test_noise_layers_identity_in_inference_seeded_in_training(cls, kwargs):
    shape = SHAPES.get(cls, (3, 4, 4, 5))
    x = np.random.default_rng(0).standard_normal(shape)
    a, b, c = (getattr(scratch, cls)(**kwargs, seed=s, dtype=F64) for s in (1, 1, 2))
    np.testing.assert_array_equal(a(x), x)
    np.testing.assert_array_equal(a.backward(x), x)
    ya, yb, yc = (layer.forward(x, training=True) for layer in (a, b, c))
    np.testing.assert_array_equal(ya, yb)  # the same seed, the same draws
    assert np.abs(ya - yc).max() > 1e-3 and np.abs(ya - x).max() > 1e-3
    assert not np.array_equal(a.forward(x, training=True), ya)  # the generator moves on


@pytest.mark.parametrize("cls, kwargs", NOISY, ids=[c for c, _ in NOISY])
def test_noise_layers_with_injected_draws_are_their_formula_and_pass_finite_differences(cls, kwargs):
    shape = SHAPES.get(cls, (3, 4, 4, 5))
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    noise_shape = layer.noise_shape_of(shape)
    if layer.FIXED == "fixed_noise":
        z = rng.standard_normal(noise_shape)
        layer.fixed_noise = z
    else:
        keep = rng.random(noise_shape) >= kwargs["rate"]
        layer.fixed_mask = keep
    y = layer.forward(x, training=True)
    if cls == "GaussianNoise":
        expected = x + 0.4 * z
    elif cls == "GaussianDropout":
        expected = x * (1 + math.sqrt(0.3 / 0.7) * z)
    elif cls == "AlphaDropout":
        alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
        a = ((1 - 0.3) * (1 + 0.3 * alpha_p ** 2)) ** -0.5
        expected = a * np.where(keep, x, alpha_p) + (-a * alpha_p * 0.3)
    else:
        expected = np.where(keep, x / (1 - kwargs["rate"]), 0.0)
    np.testing.assert_allclose(y, expected, **TOL)
    check_layer(layer, x, rng, training=True)


def test_spatial_dropout_drops_whole_channels():
    layer = scratch.SpatialDropout2D(0.5, seed=0, dtype=F64)
    assert layer.noise_shape_of((3, 4, 5, 6)) == (3, 1, 1, 6)
    y = layer.forward(np.ones((3, 4, 5, 6)), training=True)
    per_channel = y.reshape(3, 20, 6)
    assert np.all(per_channel == per_channel[:, :1]) and {0.0, 2.0} == set(np.unique(y))
    assert "noise_shape" not in layer.get_config()


def test_alpha_dropout_keeps_selu_statistics():
    """Keras's affine correction: a standard normal input keeps mean ~0 and variance ~1."""
    layer = scratch.AlphaDropout(0.2, seed=0, dtype=F64)
    y = layer.forward(np.random.default_rng(0).standard_normal(400_000), training=True)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01


@pytest.mark.parametrize("make, words", [
    (lambda: scratch.GaussianNoise(1.5, name="n"), ["GaussianNoise 'n'", "stddev", "[0, 1]", "1.5"]),
    (lambda: scratch.GaussianDropout(1.0, name="n"), ["GaussianDropout 'n'", "rate", "[0, 1)", "1.0"]),
    (lambda: scratch.AlphaDropout(-0.1, name="n"), ["AlphaDropout 'n'", "rate", "-0.1"]),
    (lambda: scratch.SpatialDropout1D(0.5, seed="x", name="n"), ["SpatialDropout1D 'n'", "seed", "'x'"]),
])
def test_bad_noise_arguments_are_refused(make, words):
    with raises(*words):
        make()


def test_injected_draw_of_the_wrong_shape_is_refused():
    layer = scratch.GaussianNoise(0.1, name="g", dtype=F64)
    layer.fixed_noise = np.zeros((2, 3))
    with raises("GaussianNoise 'g'", "fixed_noise shape (2, 3)", "(2, 4)"):
        layer.forward(np.zeros((2, 4)), training=True)
    with raises("SpatialDropout1D 's'", "expected 3-D input"):
        scratch.SpatialDropout1D(0.5, name="s")(np.zeros((2, 4), np.float32))


def test_models_seed_every_noise_layer():
    def model():
        return scratch.Sequential([scratch.GaussianNoise(0.5), scratch.SpatialDropout1D(0.5)], input_shape=(4, 3),
                                  seed=3)
    x = np.ones((2, 4, 3), np.float32)
    np.testing.assert_array_equal(model().forward(x, training=True), model().forward(x, training=True))


# -- Embedding ---------------------------------------------------------------------------------------
def test_embedding_is_a_lookup_with_a_scatter_add_gradient():
    rng = np.random.default_rng(0)
    layer = scratch.Embedding(6, 3, dtype=F64)
    x = np.array([[0, 2, 2], [5, 2, 0]])
    y = layer(x)
    table = layer.params["embeddings"]
    for n, t in itertools.product(range(2), range(3)):
        np.testing.assert_array_equal(y[n, t], table[x[n, t]])
    dy = rng.standard_normal(y.shape)
    assert layer.backward(dy) is None
    expected = np.zeros((6, 3))
    for n, t in itertools.product(range(2), range(3)):
        expected[x[n, t]] += dy[n, t]
    np.testing.assert_allclose(layer.grads["embeddings"], expected, **TOL)
    assert layer.output_shape == (None, 3, 3) and layer.count_params() == 18


def test_embedding_finite_differences():
    from tests.finite_diff import assert_gradient
    rng = np.random.default_rng(1)
    layer = scratch.Embedding(5, 4, dtype=F64)
    x = rng.integers(0, 5, (3, 2, 4))
    r = rng.standard_normal(layer(x).shape)
    layer.backward(r)
    assert_gradient("embeddings", lambda: float((layer.forward(x) * r).sum()), layer.params["embeddings"],
                    layer.grads["embeddings"].copy(), rng)


def test_embedding_takes_whole_floats_and_any_integer_dtype():
    layer = scratch.Embedding(4, 2)
    ints = np.array([[1, 3]])
    y = layer(ints)
    for x in (ints.astype(np.int8), ints.astype(np.uint16), ints.astype(np.float32)):
        np.testing.assert_array_equal(layer(x), y)
    assert y.dtype == np.float32


@pytest.mark.parametrize("x, words", [
    (np.array([[0, 4]]), ["Embedding 'e'", "[0, 4)", "from 0 to 4"]),
    (np.array([[-1, 2]]), ["Embedding 'e'", "[0, 4)", "from -1"]),
    (np.array([[0.5, 2.0]]), ["Embedding 'e'", "integer indices", "float64"]),
    ([[1, 2]], ["Embedding 'e'", "NumPy array", "list"]),
])
def test_embedding_refuses_bad_indices(x, words):
    with raises(*words):
        scratch.Embedding(4, 2, name="e")(x)


def test_embedding_arguments():
    with raises("Embedding 'e'", "mask_zero=True", "no masks", "mask_zero=False"):
        scratch.Embedding(4, 2, mask_zero=True, name="e")
    with raises("Embedding 'e'", "input_dim", "0"):
        scratch.Embedding(0, 2, name="e")
    with raises("Embedding 'e'", "initializer", "'he_normal'"):
        scratch.Embedding(3, 2, embeddings_initializer="he_normal", name="e")
    layer = scratch.Embedding(9, 2, input_length=5)  # Keras 3 takes it and ignores it
    w = layer.build((None, 5)) or layer.params["embeddings"]
    assert w.shape == (9, 2) and np.abs(w).max() <= 0.05  # Keras's "uniform": [-0.05, 0.05]
    again = scratch.layers.deserialize(scratch.layers.serialize(layer))
    assert again.get_config() == layer.get_config()


def test_models_take_integer_token_ids():
    model = scratch.Sequential([scratch.Embedding(10, 4), scratch.GlobalAveragePooling1D(), scratch.Dense(3)],
                               input_shape=(5,), seed=0)
    assert model.inputs[0].dtype == np.int32 and model.dtype == np.float32
    x = np.random.default_rng(0).integers(0, 10, (8, 5))
    model.compile(scratch.SGD(0.5))
    before = model.layers[0].params["embeddings"].copy()
    model.fit(x, np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    assert not np.array_equal(before, model.layers[0].params["embeddings"])
    assert model.predict(x.astype(np.int64)).shape == (8, 3)
    with raises("Sequential.predict", "expected integer inputs", "float32"):
        model.predict(x.astype(np.float32))
    t = scratch.Input((5,), dtype="int32")
    with raises("Dense", "int32 tensor"):
        scratch.Dense(2)(t)
    graph = scratch.Model(t, scratch.Dense(2)(scratch.Embedding(10, 3)(t)))
    again = scratch.Model.from_config(graph.get_config())
    assert again.inputs[0].dtype == np.int32 and again.forward(x).shape == (8, 5, 2)


def test_a_model_starting_with_an_embedding_nests_on_integer_tensors():
    t = scratch.Input((5,), dtype="int32")
    x = np.random.default_rng(0).integers(0, 10, (3, 5))
    for inner in (scratch.Sequential([scratch.Embedding(10, 4), scratch.GlobalAveragePooling1D()], input_shape=(5,)),
                  scratch.Sequential([scratch.Embedding(10, 4), scratch.GlobalAveragePooling1D()])):
        outer = scratch.Model(t, scratch.Dense(2)(inner(t)))
        assert outer.forward(x).shape == (3, 2) and outer.dtype == np.float32
    with raises("Sequential", "called on a float32 tensor", "takes int32 input"):
        inner(scratch.Input((5,)))
    with raises("Dense 'd'", "called on a int32 tensor", "takes float32 input"):
        scratch.Dense(2, name="d")(t)
