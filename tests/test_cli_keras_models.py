"""Issue 10: the small CNNs Keras users write (batch normalization + global pooling, LeNet-5 with tanh
and average pooling, zero padding + leaky ReLU, dilated, depthwise-separable) train from a JSON
architecture with ``train.py`` in both engines on MNIST: ``compare`` in float64 keeps them equal.
(``parity_tests/test_keras_models.py`` takes the same nets from Keras and checks every gradient.)"""

import json

import pytest

import train


def _spec(cls, **config):
    return {"class_name": cls, "config": config}


NETS = {
    "bn_gap": [_spec("Conv2D", filters=4, kernel_size=3, padding="same", use_bias=False), _spec("BatchNormalization"),
               _spec("Activation", activation="relu"), _spec("MaxPooling2D"), _spec("GlobalAveragePooling2D"),
               _spec("Dense", units=10)],
    "lenet5": [_spec("Conv2D", filters=6, kernel_size=5, padding="same", activation="tanh"),
               _spec("AveragePooling2D"), _spec("Conv2D", filters=16, kernel_size=5, activation="tanh"),
               _spec("AveragePooling2D"), _spec("Flatten"), _spec("Dense", units=32, activation="tanh"),
               _spec("Dense", units=10)],
    "padded_leaky": [_spec("ZeroPadding2D", padding=2), _spec("Conv2D", filters=4, kernel_size=3),
                     _spec("LeakyReLU", negative_slope=0.1), _spec("MaxPooling2D"), _spec("Flatten"),
                     _spec("Dense", units=10)],
    "dilated": [_spec("Conv2D", filters=4, kernel_size=3, dilation_rate=2, activation="relu"),
                _spec("MaxPooling2D"), _spec("Flatten"), _spec("Dense", units=10)],
    "separable": [_spec("Conv2D", filters=4, kernel_size=3, activation="relu"),
                  _spec("DepthwiseConv2D", kernel_size=3, padding="same", depth_multiplier=2, use_bias=False),
                  _spec("BatchNormalization"), _spec("ReLU", max_value=6.0),
                  _spec("SeparableConv2D", filters=8, kernel_size=3, strides=2, activation="relu"),
                  _spec("GlobalMaxPooling2D"), _spec("Dense", units=10)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NETS)
def test_json_net_trains_the_same_in_both_engines(name, tmp_path, capsys):
    arch = tmp_path / f"{name}.json"
    arch.write_text(json.dumps({"name": name, "input_shape": [28, 28, 1], "preprocess": "scale",
                                "layers": NETS[name]}))
    out = tmp_path / "run"
    rc = train.main(["compare", "--arch", str(arch), "--dtype", "float64", "--limit", "64", "--test-limit", "100",
                     "--batch-size", "16", "--epochs", "1", "--no-plots", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((out / "metrics.json").read_text())
    assert record["max_weight_difference"][-1] < 1e-9
    assert record["histories"]["scratch"]["loss"][0] == pytest.approx(record["histories"]["keras"]["loss"][0],
                                                                       rel=1e-9)
