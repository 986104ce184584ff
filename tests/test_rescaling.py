"""The Rescaling layer (finite differences, config, errors) and the pixel checks of ``scratch.preprocess``."""

import re

import numpy as np
import pytest

import scratch

from .finite_diff import check_layer


@pytest.mark.parametrize("scale, offset, channels",
                         [(1 / 255, 0.0, 1), (0.5, -0.25, 2), ([2.0, -1.0, 0.5], [0.0, 1.0, 3.0], 3)])
def test_rescaling_finite_differences_and_formula(scale, offset, channels):
    rng = np.random.default_rng(7)
    layer = scratch.Rescaling(scale, offset=offset, dtype="float64")
    x = rng.uniform(0, 255, (2, 4, 3, channels))
    y = layer(x)
    # float32 factors, as Keras (a Python number becomes a float32 tensor before the cast)
    s, o = (np.float32(np.asarray(v)).astype(np.float64) for v in (scale, offset))
    np.testing.assert_array_equal(y, x * s + o)
    check_layer(layer, x, rng)
    assert layer.params == {} and layer.get_weights() == []


def test_rescaling_config_round_trip_and_errors():
    layer = scratch.Rescaling(1 / 255, offset=-0.5, name="r")
    config = layer.get_config()
    assert config["scale"] == 1 / 255 and config["offset"] == -0.5
    assert scratch.Rescaling.from_config(config).get_config() == config
    for bad in ("x", float("nan"), [], None, True):
        with pytest.raises(ValueError, match="Rescaling 'r': scale must be a finite number"):
            scratch.Rescaling(bad, name="r")
    with pytest.raises(ValueError, match="scale has 2 values, the input has 3 channels"):
        scratch.Rescaling([1.0, 2.0], name="r")(np.zeros((1, 2, 2, 3), np.float32))


def test_model_with_rescaling_takes_raw_pixels():
    model = scratch.build_model({"input_shape": [28, 28, 1], "layers": [
        {"class_name": "Rescaling", "config": {"scale": 1 / 255, "offset": -0.5}},
        {"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 10}}]}, dtype="float64", seed=0)
    assert model.preprocess == "raw"
    raw = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    plain = scratch.build_model({"input_shape": [28, 28, 1], "preprocess": "center", "layers": [
        {"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 10}}]}, dtype="float64", seed=0)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(scratch.preprocess(raw, model.preprocess, "float64")),
                               plain.predict(scratch.preprocess(raw, "center", "float64")), rtol=1e-6, atol=1e-6)


# -- item 6: scaling helpers refuse input whose range shows a mistake --------------------------------
@pytest.mark.parametrize("images, fragment", [
    (np.full((1, 28, 28), 0.5, np.float32), "look already scaled to [0, 1]"),
    (np.eye(28, dtype=np.uint8)[None], "look already scaled to [0, 1] (or are a 0/1 mask)"),
    (np.full((1, 28, 28), 65535, np.uint16), "values from 65535 to 65535; 16-bit images: scale them"),
    (np.full((1, 28, 28), -1.0), "must lie in 0..255, received values from -1.0"),
    (np.full((1, 28, 28), np.nan), "NaN or inf"),
    (np.full((1, 28, 28), True), "dtype bool"),
])
def test_preprocess_refuses_input_that_shows_a_mistake(images, fragment):
    with pytest.raises(ValueError, match=r"preprocess: .*" + re.escape(fragment)):
        scratch.preprocess(images, "scale")


def test_preprocess_accepts_raw_pixels_in_any_numeric_dtype_and_blank_images():
    for dtype in (np.uint8, np.int64, np.float32, np.float64, np.uint16):
        x = np.array([[[0, 51, 255]]], dtype=dtype)
        np.testing.assert_allclose(scratch.preprocess(x)[..., 0], [[[0, 0.2, 1]]], rtol=1e-6)
    assert scratch.preprocess(np.zeros((2, 28, 28), np.uint8)).max() == 0
    np.testing.assert_array_equal(scratch.preprocess(np.array([[[0, 7, 255]]], np.uint8), "raw")[..., 0], [[[0, 7, 255]]])
