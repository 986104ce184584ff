"""``train.py transfer`` in the Keras engine and in parity with the scratch engine (issue 12).

The source is a seeded lenet, given as the files a user has: a ``.keras`` file and a
``.weights.h5`` with ``--arch``. Frozen layers must come out bit-identical in Keras too (its
optimizer never sees them), and ``transfer --engine compare`` in float64 must keep both
engines' weights within rounding, the same as the ``compare`` command the run records.
"""

from parity_tests import engines  # noqa: F401,I001  (TensorFlow deterministic before Keras loads)

import json

import numpy as np
import pytest

import keras_ref
import scratch
import train
from parity_tests import tolerances

SMALL = ["--limit", "64", "--test-limit", "64", "--batch-size", "16", "--epochs", "1", "--no-plots"]


def run(argv, capsys):
    try:
        rc = train.main(argv)
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def source_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source")
    model = scratch.build_model("lenet", seed=3)
    keras_ref.save_keras_weights(model, folder / "lenet.keras")
    keras_ref.save_keras_weights(model, folder / "lenet.weights.h5")
    return model, folder


@pytest.mark.parametrize("source, extra", [("lenet.keras", []), ("lenet.weights.h5", ["--arch", "lenet"])])
def test_keras_transfer_keeps_the_frozen_base_bit_identical_and_trains_the_head(source, extra, source_files, tmp_path,
                                                                                capsys):
    model, folder = source_files
    out = tmp_path / "xfer"
    rc, _, err = run(["transfer", "--engine", "keras", "--deterministic", "--source", str(folder / source),
                      "--digits", "5-9", "--out", str(out), *extra, *SMALL], capsys)
    assert rc == 0, err
    final = scratch.load_checkpoint(out / "model.npz")[0]
    init = scratch.load_checkpoint(out / "transfer_init.npz")[0]
    for k in range(4):
        assert all(np.array_equal(a, b) for a, b in zip(final.layers[k].get_weights(), model.layers[k].get_weights()))
    assert not np.array_equal(final.layers[-1].get_weights()[0], init.layers[-1].get_weights()[0])
    m = json.loads((out / "metrics.json").read_text())
    assert m["engine"] == "keras" and m["transfer"]["frozen_layers"] == ["conv2d", "max_pooling2d", "conv2d_1",
                                                                        "max_pooling2d_1"]


def test_transfer_compare_is_in_parity_and_equals_the_recorded_compare_command(source_files, tmp_path, capsys):
    _, folder = source_files
    out = tmp_path / "cmp"
    rc, _, err = run(["transfer", "--engine", "compare", "--source", str(folder / "lenet.keras"), "--dtype",
                      "float64", "--digits", "0,3,8", "--head-hidden", "8", "--out", str(out), *SMALL], capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    scale = max(float(np.max(np.abs(w))) for w in scratch.load_checkpoint(out / "transfer_init.npz")[0].get_weights())
    assert m["max_weight_difference"][0] == 0
    assert m["max_weight_difference"][-1] <= tolerances.TRAIN_FLOAT64.rtol * scale
    h = m["histories"]
    np.testing.assert_allclose(h["scratch"]["loss"], h["keras"]["loss"], rtol=tolerances.TRAIN_FLOAT64.rtol)
    # the command the run records reproduces it (the same architecture file and initial weights)
    again = m["transfer"]["same_run_in_both_engines"].split()[2:] + ["--dtype", "float64", "--out",
                                                                     str(tmp_path / "again"), *SMALL]
    rc, _, err = run(again, capsys)
    assert rc == 0, err
    m2 = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert m2["histories"]["scratch"]["loss"] == h["scratch"]["loss"]
    assert m2["max_weight_difference"] == m["max_weight_difference"]
