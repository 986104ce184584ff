"""``None`` sizes in ``scratch.Input`` / ``Sequential(input_shape=...)``: layers are built once and compute on
whatever size arrives; a size that cannot work is refused at the call, naming the layer."""

import numpy as np
import pytest

import scratch


def _seq():
    f64 = {"dtype": "float64"}
    return scratch.Sequential([scratch.Conv2D(3, 3, activation="relu", **f64), scratch.MaxPooling2D(2, **f64),
                               scratch.Conv2D(2, 1, **f64), scratch.GlobalMaxPooling2D(**f64)],
                              input_shape=(None, None, 1), dtype="float64", seed=0)


def test_sequential_of_any_size_trains_and_predicts():
    model = _seq()
    weights = [w.copy() for w in model.get_weights()]
    assert model.input_shape == (None, None, None, 1) and model.layers[0].output_shape == (None, None, None, 3)
    rng = np.random.default_rng(0)
    for h, w in ((8, 8), (13, 6)):
        x = rng.standard_normal((3, h, w, 1))
        y = model.forward(x)
        assert y.shape == (3, 2)
        model.backward(np.ones_like(y))
        assert model.layers[0].grads["kernel"].shape == (3, 3, 1, 3)
        assert model.predict(x[..., 0]).shape == (3, 2)  # greyscale images without their channel axis
    for a, b in zip(weights, model.get_weights()):  # built once: the weights are the same arrays' values
        np.testing.assert_array_equal(a, b)


def test_a_size_too_small_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"MaxPooling2D 'max_pooling2d'.*larger than the input"):
        _seq().forward(np.zeros((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="expects float64 arrays of shape"):
        _seq().forward(np.zeros((1, 8, 8, 2)))  # the channel count stays fixed


def test_input_refuses_bad_sizes():
    with pytest.raises(ValueError, match="positive ints or None"):
        scratch.Input((0, None, 3))


# the layers that need a size to be known (as in Keras): a weight or a statistic per index of that axis
NEEDS_SIZE = {"PReLU": "is not shared, so its size must be known", "Normalization": "its size is unknown",
              "LayerNormalization": "must have known sizes"}  # gamma and beta span the normalized axes


def test_every_image_layer_case_builds_for_any_size_and_computes_at_its_own():
    """Every 4-D parity case, built for ``(None, None, None, C)``: its forward and backward run at the
    case's size and agree with the shape it announced, or it is refused naming the layer (only where
    a weight or statistic per index of a spatial axis needs that size)."""
    from parity_tests.cases import LAYER_CASES, make_layer, shape_input

    ran = 0
    for case in LAYER_CASES:
        _, cls, kwargs, shape, *rest = case
        options = rest[0] if rest else {}
        if isinstance(shape, list) or len(shape) != 4:
            continue
        layer = make_layer(cls, kwargs, "float64")
        try:
            layer.build((None, None, None, shape[3]))
        except ValueError as e:
            assert cls in NEEDS_SIZE and NEEDS_SIZE[cls] in str(e) and layer.label in str(e), (case[0], str(e))
            continue
        x = shape_input(np.random.default_rng(0).standard_normal(shape), options)
        y = layer.forward(x, training=options.get("training", False))
        assert len(layer.output_shape) == y.ndim, case[0]
        assert all(d is None or d == n for d, n in zip(layer.output_shape[1:], y.shape[1:])), case[0]
        layer.backward(np.ones_like(y))
        ran += 1
    assert ran > 100


def test_layers_of_every_rank_built_for_one_size_compute_on_another():
    """As Keras: a layer built on one spatial size takes another with the same channels (1-D, 2-D and 3-D
    maps alike), checked against a twin built for the new size; a weight per index still refuses it."""
    rng = np.random.default_rng(0)
    for make, built, new in ((lambda: scratch.Conv1D(3, 3, dtype="float64"), (10, 2), (13, 2)),
                             (lambda: scratch.Conv2D(3, 3, dtype="float64"), (8, 8, 2), (9, 7, 2)),
                             (lambda: scratch.Conv3D(3, 2, dtype="float64"), (4, 4, 4, 2), (5, 3, 4, 2)),
                             (lambda: scratch.MaxPooling1D(2, dtype="float64"), (10, 2), (7, 2))):
        layer, twin = make(), make()
        layer.build((None,) + built)
        twin.build((None,) + new)
        twin.set_weights(layer.get_weights())
        x = rng.standard_normal((2,) + new)
        np.testing.assert_array_equal(layer.forward(x), twin.forward(x))
    prelu = scratch.PReLU(dtype="float64")
    prelu.build((None, 10, 2))
    with pytest.raises(ValueError, match="PReLU"):
        prelu.forward(rng.standard_normal((2, 12, 2)))
