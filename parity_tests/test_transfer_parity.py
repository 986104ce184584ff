"""``train.py transfer`` in the Keras engine and in parity with the scratch engine (issue 12).

The source is a seeded lenet, given as the files a user has: a ``.keras`` file and a
``.weights.h5`` with ``--arch``. Frozen layers must come out bit-identical in Keras too (its
optimizer never sees them), and ``transfer --engine compare`` in float64 must keep both
engines' weights within rounding, the same as the ``compare`` command the run records.
"""

from parity_tests import twins  # noqa: F401,I001  (TensorFlow deterministic before Keras loads)

import json

import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import tolerances
from tests.cli_run import run

SMALL = ["--limit", "64", "--test-limit", "64", "--batch-size", "16", "--epochs", "1", "--no-plots"]



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


def keras_residual_net(shape=(10, 10, 3)):
    """A Keras Functional network shaped like the ``keras.applications`` ones (stem Conv/BN/ReLU, a
    residual block, global pooling, a top), small, float64, BN statistics made non-trivial."""
    import keras

    from parity_tests import zoo

    with twins.keras_floatx("float64"):
        keras.utils.set_random_seed(5)
        inp = keras.Input(shape)
        x = keras.layers.Conv2D(4, 3, padding="same", name="stem_conv")(inp)
        x = keras.layers.BatchNormalization(name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block_conv")(x)
        x = keras.layers.Add(name="block_add")([x, y])
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        km = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="predictions")(x))
    zoo.randomize_statistics(km, 5)
    return km


@pytest.mark.parametrize("fine_tune", [0, 1])
def test_graph_transfer_trains_in_parity_with_keras(fine_tune):
    """A Functional Keras source (``from_keras`` gives a ``scratch.Model``), cut before its global
    pooling, a new head; the transfer model moved to Keras; three Adam steps in both, float64."""
    import keras

    from cli import transfer_models

    km = keras_residual_net()
    source = keras_ref.from_keras(km)
    model, info = transfer_models.transfer_model(source, 3, fine_tune=fine_tune, hidden=6, seed=2)
    base = ["stem_conv", "stem_bn", "stem_relu", "block_conv", "block_add"]
    assert info["frozen_layers"] == [n for n in base if not (fine_tune and n == "block_conv")]
    twin = keras_ref.to_keras(model)
    assert [la.trainable for la in twin.layers if la.weights] == [la.trainable for la in model.layers
                                                                   if la.get_weights()]
    model.compile(twins.scratch_optimizer("adam"))
    with twins.keras_floatx("float64"):
        twin.compile(optimizer=twins.keras_optimizer("adam", "float64"),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, y = rng.normal(size=(6, 10, 10, 3)), rng.integers(0, 3, 6)
        model.train_step(x, y)
        twin.train_on_batch(x, y)
    ours, theirs = model.get_weights(), [np.asarray(w) for w in twin.get_weights()]
    assert len(ours) == len(theirs)
    scale = max(float(np.max(np.abs(w))) for w in theirs)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs)) <= tolerances.TRAIN_FLOAT64.rtol * scale
    kept = {la.name: la for la in source.layers}
    for layer in model.layers:  # frozen layers, moving statistics included, are the source's, bit for bit
        if layer.name in info["frozen_layers"]:
            assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), kept[layer.name].get_weights()))
    tuned = model.get_layer("block_conv").get_weights()[0]
    assert np.array_equal(tuned, kept["block_conv"].get_weights()[0]) == (fine_tune == 0)


def test_a_functional_keras_file_transfers_from_python_and_the_command_line(tmp_path, capsys):
    """A 32x32x3 Functional ``.keras`` source: MNIST's 28x28x1 digits reach its base through a
    padding and channel adapter; ``transfer --engine compare`` (float64) keeps both engines within
    rounding, and each engine alone leaves the frozen base bit-identical to the file's."""
    import keras

    from cli import transfer_models

    path = tmp_path / "residual.keras"
    keras_residual_net((32, 32, 3)).save(path)
    source = keras_ref.from_keras(keras.models.load_model(path, compile=False))
    model, info = transfer_models.transfer_model(source, 4)
    assert model.output_shape == (None, 4) and info["dropped_layers"] == ["avg_pool", "predictions"]
    rc, stdout, err = run(["transfer", "--source", str(path), "--engine", "compare", "--dtype", "float64",
                           "--digits", "5-8", "--out", str(tmp_path / "cmp"), *SMALL], capsys)
    assert rc == 0, err
    m = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    assert m["transfer"]["input_adapter"] == ["transfer_padding", "transfer_channels"]
    assert m["transfer"]["head_layers"] == ["head_pooling", "head_output"]  # avg pooling for a graph source
    assert m["max_weight_difference"][-1] <= tolerances.TRAIN_FLOAT64.rtol * 10
    kept = {la.name: la.get_weights() for la in source.layers}
    for engine in ("scratch", "keras"):
        out = tmp_path / engine
        rc, _, err = run(["transfer", "--source", str(path), "--engine", engine, "--digits", "5-8", "--out", str(out),
                          "--no-convert", *SMALL], capsys)
        assert rc == 0, err
        final = scratch.load_checkpoint(out / "model.npz")[0]
        leaves = {la.name: la for la in scratch.leaf_layers(final)}
        for name in ("stem_conv", "stem_bn", "block_conv"):  # frozen: the file's weights, bit for bit
            assert all(np.array_equal(a, b.astype(a.dtype)) for a, b in zip(leaves[name].get_weights(), kept[name]))
        assert not np.array_equal(leaves["head_output"].get_weights()[0],
                                  scratch.load_checkpoint(out / "transfer_init.npz")[0].get_layer(
                                      "head_output").get_weights()[0])
    rc, _, err = run(["transfer", "--source", str(path), "--out", str(tmp_path / "bad"), "--base-until", "nope",
                      *SMALL], capsys)
    assert rc == 2 and [line.startswith("error:") for line in err.splitlines()].count(True) == 1 and "--base-until 'nope': model" in err, err
    small = tmp_path / "small.keras"  # 10x10 images: MNIST's 28x28 cannot be padded into them
    keras_residual_net().save(small)
    rc, _, err = run(["transfer", "--source", str(small), "--out", str(tmp_path / "bad2"), *SMALL], capsys)
    assert rc == 2 and err.count("error:") == 1 and f"--source {small}: model" in err, err
    assert "takes 10x10x3 images; the task's are 28x28x1" in err


@pytest.mark.slow
def test_a_keras_applications_file_is_a_transfer_source_in_both_engines(tmp_path, capsys):
    """MobileNetV3Small (``weights=None``, 32x32x3) saved as ``.keras``, transferred to digits 5-9 on
    the command line with ``--engine compare``: both engines train the same head on the same batches."""
    import keras

    path = tmp_path / "mobilenet.keras"
    keras.utils.set_random_seed(0)
    keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=10).save(path)
    rc, stdout, err = run(["transfer", "--source", str(path), "--engine", "compare", "--digits", "5-9",
                           "--out", str(tmp_path / "cmp"), "--limit", "32", "--test-limit", "32", "--batch-size", "16",
                           "--epochs", "1", "--no-plots"], capsys)
    assert rc == 0, err
    m = json.loads((tmp_path / "cmp" / "metrics.json").read_text())
    t = m["transfer"]
    assert t["input_adapter"] == ["transfer_padding", "transfer_channels"] and t["classes"] == 5
    assert len(t["frozen_layers"]) > 100 and t["trainable_layers"] == t["head_layers"]
    h = m["histories"]
    np.testing.assert_allclose(h["scratch"]["loss"], h["keras"]["loss"], rtol=1e-4)


def test_a_functional_source_fine_tunes_on_the_command_line(tmp_path, capsys):
    """Phase 2 for a graph: the last base layer with weights unfrozen (inside the nested base,
    behind the adapter), everything below it still the file's, the head trained on."""
    import keras

    path = tmp_path / "residual.keras"
    keras_residual_net((32, 32, 3)).save(path)
    kept = {la.name: la.get_weights() for la in keras_ref.from_keras(keras.models.load_model(path)).layers}
    out = tmp_path / "ft"
    rc, stdout, err = run(["transfer", "--source", str(path), "--digits", "0-2", "--fine-tune", "1", "--out", str(out),
                           "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    assert "fine-tuning: unfrozen block_conv" in stdout
    phase1, phase2 = (scratch.load_checkpoint(p)[0] for p in (out / "model.npz", out / "fine_tune" / "model.npz"))
    leaves1 = {la.name: la for la in scratch.leaf_layers(phase1)}
    leaves2 = {la.name: la for la in scratch.leaf_layers(phase2)}
    same = {name: all(np.array_equal(a, b.astype(a.dtype)) for a, b in zip(leaves2[name].get_weights(), kept[name]))
            for name in ("stem_conv", "stem_bn", "block_conv")}
    assert same == {"stem_conv": True, "stem_bn": True, "block_conv": False}
    assert not np.array_equal(leaves2["head_output"].get_weights()[0], leaves1["head_output"].get_weights()[0])
    m = json.loads((out / "fine_tune" / "metrics.json").read_text())
    assert m["transfer"]["phase"] == 2 and "block_conv" not in m["transfer"]["frozen_layers"]


def test_keras_fine_tune_bn_keeps_batch_normalization_in_inference_mode_when_frozen(tmp_path, capsys):
    """``--fine-tune-bn frozen`` reaches the Keras engine through phase 2's transfer_arch.json: its
    BatchNormalization neither trains nor moves its statistics, while the convolution K counts trains
    (ignored, K = 1 would unfreeze the BatchNormalization instead: tests/test_transfer.py shows both)."""
    source = scratch.Sequential([scratch.Conv2D(4, 3, activation="relu"), scratch.BatchNormalization(),
                                 scratch.MaxPooling2D(2), scratch.Flatten(), scratch.Dense(10)],
                                input_shape=(28, 28, 1), seed=3)
    source.layers[1].set_weights([np.full(4, 2.0), np.full(4, 0.5), np.full(4, 0.3), np.full(4, 4.0)])
    scratch.save_checkpoint(tmp_path / "bn.npz", source)
    out = tmp_path / "ft"
    rc, _, err = run(["transfer", "--engine", "keras", "--deterministic", "--source", str(tmp_path / "bn.npz"),
                      "--digits", "0-4", "--out", str(out), "--fine-tune", "1", "--fine-tune-bn", "frozen", *SMALL],
               capsys)
    assert rc == 0, err
    tuned = scratch.load_checkpoint(out / "fine_tune" / "model.npz")[0]
    bn_same = all(np.array_equal(a, b) for a, b in zip(tuned.layers[1].get_weights(), source.layers[1].get_weights()))
    conv_same = np.array_equal(tuned.layers[0].get_weights()[0], source.layers[0].get_weights()[0])
    assert bn_same and not conv_same
