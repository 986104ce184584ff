"""The command line on a graph model: ``--arch`` given a Keras ``.keras`` file (a Functional model
with a residual connection and batch normalization), trained in both engines, compared, and its
files in every format evaluated the same (issue 11: ``train.py`` on any supported model)."""

import json

import numpy as np
import pytest

import scratch
from tests.cli_run import run as _run

QUIET = ["--no-plots", "--limit", "128", "--test-limit", "100", "--batch-size", "32", "--epochs", "1"]


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    from cli.engines import import_keras

    keras, _ = import_keras(0, deterministic=True)  # before anything loads TensorFlow (compare needs it so)
    layers = keras.layers
    x = keras.Input((28, 28, 1))
    h = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same", use_bias=False)(x)))
    h = layers.Add()([h, layers.Conv2D(4, 3, padding="same", activation="relu")(h)])
    out = layers.Dense(10)(layers.GlobalAveragePooling2D()(layers.MaxPooling2D()(h)))
    path = tmp_path_factory.mktemp("graph") / "tiny_resnet.keras"
    keras.Model(x, out, name="tiny_resnet").save(path)
    return path



@pytest.mark.slow
def test_compare_on_a_keras_graph_file_agrees_in_float64(keras_file, tmp_path, capsys):
    rc, out, err = _run(["compare", "--arch", str(keras_file), "--dtype", "float64", "--out", str(tmp_path / "c"),
                         *QUIET], capsys)
    assert rc == 0, err
    record = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert record["architecture"]["name"] == "tiny_resnet" and "inputs" in record["architecture"]
    assert record["max_weight_difference"][-1] < 1e-10


@pytest.mark.slow
def test_scratch_run_on_a_keras_graph_file_and_its_files_evaluate_the_same(keras_file, tmp_path, capsys):
    rc, out, err = _run(["scratch", "--arch", str(keras_file), "--out", str(tmp_path / "s"), *QUIET], capsys)
    assert rc == 0, err
    accuracies = []
    for argv in (["eval", str(tmp_path / "s" / "model.npz")],
                 ["eval", str(tmp_path / "s" / "model.weights.h5"), "--arch", str(keras_file)],
                 ["eval", str(tmp_path / "s" / "model.npz"), "--engine", "keras"]):
        rc, out, err = _run(argv + ["--limit", "100"], capsys)
        assert rc == 0, err
        accuracies.append(out.strip().splitlines()[-1].split("test accuracy ")[1].split(" ")[0])
    assert len(set(accuracies)) == 1, accuracies
    model = scratch.load_checkpoint(tmp_path / "s" / "model.npz")[0]
    assert type(model).__name__ == "Model" and np.isfinite(model.get_weights()[0]).all()


def test_preprocess_and_from_logits_options_override_the_architecture(tmp_path, capsys):
    """What a model file cannot say (how its pixels are scaled, whether it outputs logits): options."""
    rc, out, err = _run(["scratch", "--arch", "lenet", "--preprocess", "center", "--no-from-logits", "--no-convert",
                         "--out", str(tmp_path / "o"), *QUIET], capsys)
    assert rc == 0, err
    record = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert record["architecture"]["preprocess"] == "center"
    assert record["architecture"]["loss"]["from_logits"] is False
    assert (record["options"]["preprocess"], record["options"]["from_logits"]) == ("center", False)
    rc, out, err = _run(["scratch", "--arch", "lenet", "--preprocess", "sideways", *QUIET], capsys)
    assert rc == 2 and "--preprocess" in err
