"""Issue 20's pooling, reshaping, regularization and embedding layers through the one mapping
(``scratch.keras_io.mapping``): every class both ways with every option it has, from live Keras
layers and from their serialized configs as a ``.keras`` file holds them (lists, not tuples), and
the one-line refusals."""

import json

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from scratch.keras_io import config as keras_config

L = keras.layers

KERAS_LAYERS = [  # (Keras layer, input shape without batch)
    (lambda: L.MaxPooling1D(3, strides=2, padding="same", name="t"), (9, 2)),
    (lambda: L.AveragePooling1D(2, name="t"), (6, 2)),
    (lambda: L.MaxPooling3D((1, 2, 2), name="t"), (2, 4, 4, 1)),
    (lambda: L.AveragePooling3D(2, strides=(1, 1, 2), padding="same", name="t"), (3, 4, 5, 2)),
    (lambda: L.GlobalMaxPooling1D(keepdims=True, name="t"), (5, 3)),
    (lambda: L.GlobalAveragePooling1D(name="t"), (5, 3)),
    (lambda: L.GlobalMaxPooling3D(name="t"), (2, 3, 2, 3)),
    (lambda: L.GlobalAveragePooling3D(keepdims=True, name="t"), (2, 3, 2, 3)),
    (lambda: L.ZeroPadding1D((2, 0), name="t"), (4, 2)),
    (lambda: L.ZeroPadding2D(((1, 0), (2, 3)), name="t"), (3, 3, 1)),
    (lambda: L.ZeroPadding3D((1, 0, 2), name="t"), (2, 2, 2, 1)),
    (lambda: L.Cropping1D((0, 2), name="t"), (5, 2)),
    (lambda: L.Cropping2D(((1, 0), (0, 2)), name="t"), (4, 5, 1)),
    (lambda: L.Cropping3D(((1, 0), (0, 1), (1, 1)), name="t"), (3, 3, 4, 1)),
    (lambda: L.UpSampling1D(3, name="t"), (3, 2)),
    (lambda: L.UpSampling2D((2, 3), name="t"), (2, 2, 1)),
    (lambda: L.UpSampling3D((1, 2, 2), name="t"), (2, 2, 2, 1)),
    (lambda: L.Dropout(0.3, noise_shape=(None, 1, 2), seed=4, name="t"), (3, 2)),
    (lambda: L.SpatialDropout1D(0.2, seed=1, name="t"), (4, 3)),
    (lambda: L.SpatialDropout2D(0.2, name="t"), (4, 4, 3)),
    (lambda: L.SpatialDropout3D(0.2, name="t"), (2, 2, 2, 3)),
    (lambda: L.AlphaDropout(0.1, noise_shape=(None, 1, 3), seed=2, name="t"), (4, 3)),
    (lambda: L.GaussianNoise(0.25, seed=5, name="t"), (4, 3)),
    (lambda: L.GaussianDropout(0.2, name="t"), (4, 3)),
    (lambda: L.Embedding(11, 4, name="t"), (6,)),
]


def _built(make, shape):
    klayer = make()
    dtype = "int32" if isinstance(klayer, L.Embedding) else "float32"
    keras.Sequential([keras.Input(shape, dtype=dtype), klayer])
    return klayer


def _config_without_common(config):
    return {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}


@pytest.mark.parametrize("make, shape", KERAS_LAYERS, ids=[str(i) for i in range(len(KERAS_LAYERS))])
def test_every_option_goes_both_ways(make, shape):
    klayer = _built(make, shape)
    layer = keras_ref.convert._scratch_layer(klayer, "float32")
    assert type(layer).__name__ == type(klayer).__name__ and layer.name == "t"
    # back to Keras: the same class and the same config, through Keras's own deserializer
    back = keras_ref.convert.keras_layer(layer)
    assert type(back) is type(klayer)
    ours, theirs = _config_without_common(back.get_config()), _config_without_common(klayer.get_config())
    if "embeddings_initializer" in theirs:  # initializers only shape fresh weights
        ours.pop("embeddings_initializer"), theirs.pop("embeddings_initializer")
    assert json.loads(json.dumps(ours)) == json.loads(json.dumps(theirs))
    # from the serialized config as a .keras file has it (JSON: tuples become lists), TensorFlow-free
    cfg = keras_config.KerasConfig(type(klayer).__name__, json.loads(json.dumps(klayer.get_config())))
    from_file = keras_config.layer_from_config(cfg, "float32")
    assert from_file.get_config() == layer.get_config()


def test_a_keras_model_of_the_new_layers_converts_and_agrees():
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((6, 8, 8, 1)), L.ZeroPadding3D(1), L.AveragePooling3D(2),
                           L.SpatialDropout3D(0.3), L.Cropping3D(((1, 0), (0, 0), (0, 1))), L.UpSampling3D((1, 2, 1)),
                           L.MaxPooling3D((1, 2, 2)), L.GlobalAveragePooling3D(), L.GaussianNoise(0.1), L.Dense(2)])
    model = keras_ref.from_keras(km)
    x = np.random.default_rng(0).standard_normal((2, 6, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x), km(x).numpy(), rtol=1e-5, atol=1e-6)
    again = keras_ref.to_keras(model)
    assert [type(la).__name__ for la in again.layers] == [type(la).__name__ for la in km.layers]


@pytest.mark.parametrize("make, shape, setting", [
    (lambda: L.Embedding(5, 2, mask_zero=True, name="c"), (4,), "mask_zero"),
    (lambda: L.Embedding(5, 2, embeddings_regularizer="l2", name="c"), (4,), "embeddings_regularizer"),
    (lambda: L.Embedding(5, 2, embeddings_constraint="non_neg", name="c"), (4,), "embeddings_constraint"),
    (lambda: L.UpSampling2D(interpolation="lanczos3", name="c"), (3, 3, 1), "interpolation"),
    (lambda: L.MaxPooling3D(data_format="channels_first", name="c"), (1, 4, 4, 4), "data_format"),
    (lambda: L.ZeroPadding3D(data_format="channels_first", name="c"), (1, 4, 4, 4), "data_format"),
    (lambda: L.SpatialDropout2D(0.5, data_format="channels_first", name="c"), (1, 4, 4), "data_format"),
])
def test_refusals_name_the_layer_class_and_option(make, shape, setting):
    klayer = make()
    dtype = "int32" if isinstance(klayer, L.Embedding) else "float32"
    km = keras.Sequential([keras.Input(shape, dtype=dtype), klayer])
    with pytest.raises(ValueError, match=setting) as info:
        keras_ref.from_keras(km)
    message = str(info.value)
    assert "'c'" in message and type(klayer).__name__ in message and "\n" not in message


def test_moved_mappings_are_in_one_place():
    """Dropout, ZeroPadding2D, Cropping2D and UpSampling2D left keras_ref.mapping for the one mapping."""
    from keras_ref import mapping
    for name in ("Dropout", "ZeroPadding2D", "Cropping2D", "UpSampling2D"):
        assert name not in mapping.TO_KERAS and name not in mapping.FROM_KERAS
        assert name in keras_config.TO_CONFIG and name in keras_config.FROM_CONFIG
    new = {name for name in scratch.LAYERS if name.endswith(("1D", "3D")) or name in (
        "Embedding", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout2D")}
    assert new <= set(keras_config.TO_CONFIG) and new <= set(keras_config.FROM_CONFIG)
