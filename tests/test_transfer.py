"""``train.py transfer`` and ``--digits`` (issue 12, transfer learning): the scratch engine.

The source is a seeded lenet saved as a scratch checkpoint (its weights need not be trained to
check what transfer keeps, freezes and trains). Runs are small (``--limit``), one epoch.
The Keras engine and the parity of both are in ``parity_tests/test_transfer_parity.py``.
"""

import argparse
import json

import numpy as np
import pytest

import scratch
from cli import digits, transfer_models
from tests.cli_run import run

SMALL = ["--limit", "96", "--test-limit", "100", "--batch-size", "32", "--epochs", "1", "--no-plots"]



@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A lenet checkpoint trained on digits 0-4 stand-in: seeded weights, saved by the scratch engine."""
    path = tmp_path_factory.mktemp("source") / "lenet.npz"
    scratch.save_checkpoint(path, scratch.build_model("lenet", seed=7))
    return path


def weights(path):
    return scratch.load_checkpoint(path)[0]


# -- digit subsets ------------------------------------------------------------------------------------------
def test_parse_digits_accepts_ranges_and_lists_and_refuses_the_rest():
    assert digits.parse_digits("0-4") == [0, 1, 2, 3, 4]
    assert digits.parse_digits("9,5,7") == [5, 7, 9]
    assert digits.parse_digits("0-2,8") == [0, 1, 2, 8]
    for bad in ("4-0", "a", "3", "1,1", "8-10", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="digits"):
            digits.parse_digits(bad)


def test_select_digits_keeps_those_images_in_order_and_renumbers_their_labels():
    y = np.array([5, 0, 9, 5, 3, 7])
    x = np.arange(len(y)) * 10
    xs, ys = digits.select_digits(x, y, [5, 7, 9])
    np.testing.assert_array_equal(xs, [0, 20, 30, 50])
    np.testing.assert_array_equal(ys, [0, 2, 0, 1])
    assert digits.select_digits(x, y, None)[1] is y


def test_digits_option_trains_and_tests_on_the_subset_and_records_it(tmp_path, capsys, mnist):
    out = tmp_path / "run"
    rc, _, err = run(["scratch", "--digits", "5-9", "--out", str(out), "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["options"]["digits"] == [5, 6, 7, 8, 9]
    assert m["train_images"] == 96 and m["test_images"] == 100  # --limit counts images of those digits
    (_, _), (x_test, y_test) = mnist
    x_sub, y_sub = digits.select_digits(x_test, y_test, [5, 6, 7, 8, 9])
    model = weights(out / "model.npz")
    x = scratch.preprocess(x_sub[:100], model.preprocess, "float32")
    loss, acc = model.evaluate(x, y_sub[:100])
    assert acc == pytest.approx(m["test_accuracy"]) and loss == pytest.approx(m["test_loss"], rel=1e-6)


# -- the transfer model ---------------------------------------------------------------------------------------
def test_default_base_ends_before_flatten_and_the_head_is_new():
    src = scratch.build_model("lenet", seed=1)
    desc, info = transfer_models.transfer_description(src, 5)
    assert info["kept_layers"] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    assert info["frozen_layers"] == info["kept_layers"] and info["dropped_layers"] == ["flatten", "dropout", "dense"]
    assert [s["class_name"] for s in desc["layers"][4:]] == ["Flatten", "Dense"]
    assert desc["layers"][-1]["config"]["units"] == 5 and desc["loss"]["from_logits"] is True
    desc, info = transfer_models.transfer_description(src, 3, base_until="conv2d_1", pooling="avg", hidden=16,
                                               dropout=0.25, fine_tune=1)
    assert info["kept_layers"] == ["conv2d", "max_pooling2d", "conv2d_1"] and info["frozen_layers"] == info[
        "kept_layers"][:2]
    assert [s["class_name"] for s in desc["layers"][3:]] == ["GlobalAveragePooling2D", "Dense", "Dropout", "Dense"]
    model = transfer_models.initial_model(desc, info, src, "float32", seed=0)
    for layer, orig in zip(model.layers[:3], src.layers):
        assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), orig.get_weights()))
    assert [la.trainable for la in model.layers[:3]] == [False, False, True]


def test_transfer_trains_the_head_and_leaves_the_frozen_base_bit_identical(source, tmp_path, capsys):
    out = tmp_path / "xfer"
    rc, stdout, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--out", str(out),
                           "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    src, init, final = weights(source), weights(out / "transfer_init.npz"), weights(out / "model.npz")
    assert not any(layer.trainable for layer in final.layers[:4])
    for k in range(4):
        assert all(np.array_equal(a, b) for a, b in zip(final.layers[k].get_weights(), src.layers[k].get_weights()))
    head, head0 = final.layers[-1].get_weights(), init.layers[-1].get_weights()
    assert head[0].shape == (1600, 5) and not np.array_equal(head[0], head0[0])  # the head trained
    m = json.loads((out / "metrics.json").read_text())
    t = m["transfer"]
    assert t["source"] == str(source.resolve()) and t["digits"] == [5, 6, 7, 8, 9]
    assert t["frozen_layers"] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    assert t["trainable_layers"] == ["head_flatten", "head_output"] and t["classes"] == 5
    assert json.loads((out / "transfer_arch.json").read_text())["layers"][0]["config"]["trainable"] is False
    assert "compare --arch" in t["same_run_in_both_engines"]


def test_fine_tune_unfreezes_the_last_weighted_layer_in_phase_two(source, tmp_path, capsys):
    out = tmp_path / "ft"
    rc, stdout, err = run(["transfer", "--source", str(source), "--digits", "0-4", "--out", str(out),
                           "--fine-tune", "1", "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    src, phase1, phase2 = weights(source), weights(out / "model.npz"), weights(out / "fine_tune" / "model.npz")
    same = [all(np.array_equal(a, b) for a, b in zip(x.get_weights(), y.get_weights()))
            for x, y in zip(phase2.layers[:4], src.layers)]
    assert same == [True, True, False, True]  # conv2d_1 (the last base layer with weights) fine-tuned
    assert not np.array_equal(phase2.layers[-1].get_weights()[0], phase1.layers[-1].get_weights()[0])
    m = json.loads((out / "fine_tune" / "metrics.json").read_text())
    assert m["transfer"]["phase"] == 2 and m["transfer"]["frozen_layers"] == ["conv2d", "max_pooling2d",
                                                                              "max_pooling2d_1"]
    assert m["options"]["lr"] == pytest.approx(0.0005)  # adam's 0.005 / 10
    assert "fine-tuning: unfrozen conv2d_1" in stdout


def test_baseline_is_the_same_network_trainable_from_random_weights(source, tmp_path, capsys):
    out = tmp_path / "base"
    rc, _, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--out", str(out), "--baseline",
                      "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["transfer"]["frozen_layers"] == [] and m["options"]["init_from"] is None
    assert not np.array_equal(weights(out / "model.npz").layers[0].get_weights()[0],
                              weights(source).layers[0].get_weights()[0])


TRANSFER_ERRORS = {
    "bad base-until": (["--base-until", "conv9"], "--base-until 'conv9': --source (lenet) has no layer of that name"),
    "fine-tune too large": (["--fine-tune", "3"], "--fine-tune 3: the base has only 2 layer(s) with weights"),
    "missing source": (["--source", "{tmp}/none.npz"], "--source {tmp}/none.npz: file not found"),
    "arch with an npz": (["--arch", "lenet"], "--arch: only needed with a .weights.h5 --source"),
    "fine-tune baseline": (["--fine-tune", "1", "--baseline"], "--fine-tune and --baseline"),
}


@pytest.mark.parametrize("case", sorted(TRANSFER_ERRORS))
def test_transfer_mistakes_give_one_clear_line(case, source, tmp_path, capsys):
    extra, words = TRANSFER_ERRORS[case]
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    argv = ["transfer", "--source", str(source), "--out", str(tmp_path / "out"), *SMALL] + extra
    rc, _, err = run(argv, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and words.replace("{tmp}", str(tmp_path)) in err, err


# -- a graph (keras.applications style) base ---------------------------------------------------------------------
def residual_net(seed=0):
    """Input -> Conv/BN/ReLU -> a residual Add -> GlobalAveragePooling2D -> Dense 10: the shape of an
    applications network, small."""
    inp = scratch.Input((10, 10, 3), dtype="float64")
    x = scratch.Conv2D(4, 3, padding="same", name="stem_conv", dtype="float64")(inp)
    x = scratch.BatchNormalization(name="stem_bn", dtype="float64")(x)
    x = scratch.ReLU(name="stem_relu", dtype="float64")(x)
    y = scratch.Conv2D(4, 3, padding="same", activation="relu", name="block_conv", dtype="float64")(x)
    x = scratch.Add(name="block_add", dtype="float64")([x, y])
    x = scratch.GlobalAveragePooling2D(name="avg_pool", dtype="float64")(x)
    out = scratch.Dense(10, name="predictions", dtype="float64")(x)
    model = scratch.Model(inp, out, name="tiny_resnet", seed=seed)
    rng = np.random.default_rng(seed)
    bn = model.get_layer("stem_bn")
    bn.set_weights([w + rng.uniform(0.1, 0.5, w.shape) for w in bn.get_weights()])  # non-trivial statistics
    return model


def test_graph_transfer_freezes_the_base_and_trains_the_head_with_fit():
    src = residual_net()
    before = [w.copy() for w in src.get_weights()]
    model, info = transfer_models.transfer_model(src, 3, seed=1)
    assert info["kept_layers"] == ["stem_conv", "stem_bn", "stem_relu", "block_conv", "block_add"]
    assert info["frozen_layers"] == info["kept_layers"] and info["dropped_layers"] == ["avg_pool", "predictions"]
    assert [type(la).__name__ for la in model.layers[-2:]] == ["GlobalAveragePooling2D", "Dense"]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 10, 10, 3)), rng.integers(0, 3, 24)
    model.compile(scratch.Adam(0.01))
    head0 = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=2, batch_size=8, seed=0, verbose=0)
    for name in info["kept_layers"]:  # kernels, biases and the BN moving statistics (inference mode)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_layer(name).get_weights(),
                                                        src.get_layer(name).get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(src.get_weights(), before))  # the source is untouched
    assert not np.array_equal(model.layers[-1].get_weights()[0], head0)
    tuned, info = transfer_models.transfer_model(src, 3, fine_tune=1, base_until="block_add", pooling="max", seed=1)
    assert info["frozen_layers"] == ["stem_conv", "stem_bn", "stem_relu", "block_add"]
    with pytest.raises(ValueError, match="--base-until 'nope': model 'tiny_resnet' has no layer of that name"):
        transfer_models.transfer_model(src, 3, base_until="nope")
    with pytest.raises(ValueError, match="--fine-tune 4: the base has only 3 layer"):
        transfer_models.transfer_model(src, 3, fine_tune=4)


def test_a_transfer_run_resumes_as_itself_and_evaluates_on_its_digits(source, tmp_path, capsys):
    out = tmp_path / "xfer"
    rc, _, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--out", str(out), "--no-convert",
                      *SMALL], capsys)
    assert rc == 0, err
    rc, _, err = run(["scratch", "--resume", str(out), "--epochs", "2", "--no-convert"], capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs_completed"] == 2 and m["transfer"]["frozen_layers"][0] == "conv2d"
    final, src = weights(out / "model.npz"), weights(source)
    assert all(np.array_equal(a, b) for a, b in zip(final.layers[2].get_weights(), src.layers[2].get_weights()))
    rc, stdout, err = run(["eval", str(out / "model.npz"), "--digits", "5-9", "--limit", "100"], capsys)
    assert rc == 0, err
    assert f"test accuracy {m['test_accuracy']:.4f}" in stdout


def test_graph_base_ends_at_the_tops_pooling_not_a_squeeze_excitation_blocks():
    """A squeeze-and-excitation block (GlobalAveragePooling2D -> Dense -> Multiply back onto the
    feature maps) has a global pooling that the feature maps bypass; the default base ends at the
    pooling every path to the output goes through (MobileNetV3 and EfficientNet are built so)."""
    inp = scratch.Input((8, 8, 3))
    x = scratch.Conv2D(4, 3, padding="same", name="conv")(inp)
    s = scratch.GlobalAveragePooling2D(keepdims=True, name="se_squeeze")(x)
    s = scratch.Conv2D(4, 1, activation="sigmoid", name="se_excite")(s)
    x = scratch.Multiply(name="se_scale")([x, s])
    x = scratch.GlobalAveragePooling2D(name="avg_pool")(x)
    model = scratch.Model(inp, scratch.Dense(10, name="predictions")(x), name="se_net")
    _, info = transfer_models.transfer_model(model, 3)
    assert info["kept_layers"] == ["conv", "se_squeeze", "se_excite", "se_scale"]
    assert info["dropped_layers"] == ["avg_pool", "predictions"]


# -- the backward pass skips a frozen base ------------------------------------------------------------------
def _grads_after_one_backward(model, x, y):
    model.compile(scratch.SGD(1e-3))  # the gradients are of the weights before the step
    model.train_step(x, y)
    return {k: v.copy() for k, v in model.named_grads().items()}


def test_a_frozen_sequential_base_gets_no_backward_pass_and_the_head_the_same_gradients(monkeypatch):
    src = scratch.build_model("lenet", dtype="float64", seed=7)
    desc, info = transfer_models.transfer_description(src, 5, fine_tune=1)
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 28, 28, 1)), rng.integers(0, 5, 4)
    frozen = transfer_models.initial_model(desc, info, src, "float64", seed=0)
    full = transfer_models.initial_model(desc, info, src, "float64", seed=0)
    full.build((None, 28, 28, 1))
    full.layers[0].input_grad = True  # asks for dL/d(image): every layer's backward runs
    calls = []
    for layer in frozen.layers[:2]:  # conv2d and max_pooling2d: below the lowest trainable layer (conv2d_1)
        monkeypatch.setattr(layer, "backward", lambda dy, _name=layer.name, **kw: calls.append(_name))
    lowest, returned = frozen.layers[2], []
    original = lowest.backward
    monkeypatch.setattr(lowest, "backward", lambda dy, **kw: returned.append(original(dy, **kw)) or returned[-1])
    ours, reference = _grads_after_one_backward(frozen, x, y), _grads_after_one_backward(full, x, y)
    assert calls == [] and sorted(ours) == sorted(reference) and "conv2d_1/kernel" in ours
    assert all(np.array_equal(ours[k], reference[k]) for k in ours)
    assert returned == [None]  # conv2d_1 computed no dL/d(its input) either
    assert lowest.input_grad is True  # for that pass only: a full backward() afterwards gets it
    model_dx = frozen.backward(np.ones((4, 5)))
    assert model_dx is None and returned[-1] is not None and returned[-1].shape == (4, 13, 13, 32)


@pytest.mark.parametrize("fine_tune", [0, 1])
def test_a_frozen_graph_base_behind_an_input_adapter_is_skipped_with_the_same_gradients(fine_tune):
    """The graph transfer model (nested base behind ZeroPadding2D/Concatenate): the head's (and the
    unfrozen layer's) gradients are those of the same model with the base's convolutions trainable,
    whose backward pass goes all the way down."""
    inp = scratch.Input((32, 32, 3), dtype="float64")
    x = scratch.Conv2D(4, 3, strides=2, name="stem_conv", dtype="float64")(inp)
    x = scratch.BatchNormalization(name="stem_bn", dtype="float64")(x)
    y = scratch.Conv2D(4, 3, padding="same", activation="relu", name="block_conv", dtype="float64")(x)
    x = scratch.Add(name="block_add", dtype="float64")([x, y])
    x = scratch.GlobalAveragePooling2D(name="avg_pool", dtype="float64")(x)
    src = scratch.Model(inp, scratch.Dense(10, name="predictions", dtype="float64")(x), name="net", seed=1)
    rng = np.random.default_rng(1)
    x, y = rng.random((3, 28, 28, 1)), rng.integers(0, 4, 3)
    model, info = transfer_models.transfer_model(src, 4, fine_tune=fine_tune, input_shape=(28, 28, 1), seed=2)
    reference, _ = transfer_models.transfer_model(src, 4, fine_tune=fine_tune, input_shape=(28, 28, 1), seed=2)
    for layer in scratch.leaf_layers(reference):  # a frozen BatchNormalization computes otherwise (inference
        layer.trainable = not isinstance(layer, scratch.BatchNormalization)  # mode): it stays frozen in both
    visited = []
    for layer in scratch.leaf_layers(model):
        original = layer.backward
        layer.backward = lambda dy, _f=original, _n=layer.name, **kw: (visited.append(_n), _f(dy, **kw))[1]
    ours, theirs = _grads_after_one_backward(model, x, y), _grads_after_one_backward(reference, x, y)
    assert set(ours) < set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in ours)
    # the pooling under the head only passes gradients down to the base: visited when block_conv trains
    assert set(visited) == ({"head_output", "head_pooling", "block_add", "block_conv"} if fine_tune
                            else {"head_output"})


def _small_graph(shape=(32, 32, 3)):
    inp = scratch.Input(shape)
    x = scratch.Conv2D(3, 3, name="c1")(inp)
    x = scratch.Conv2D(3, 3, name="c2")(x)
    x = scratch.GlobalAveragePooling2D(name="gap")(x)
    return scratch.Model(inp, scratch.Dense(10, name="top")(x), name="s", seed=0)


def test_a_graph_baseline_behind_an_adapter_is_drawn_from_its_seed():
    """The adapter makes the base a nested model: its fresh weights must come from the seed too
    (``compare --baseline`` builds the model once per engine from the description)."""
    src = _small_graph()
    first, _ = transfer_models.transfer_model(src, 3, seed=0, input_shape=(28, 28, 1), baseline=True)
    again, _ = transfer_models.transfer_model(src, 3, seed=0, input_shape=(28, 28, 1), baseline=True)
    other, _ = transfer_models.transfer_model(src, 3, seed=1, input_shape=(28, 28, 1), baseline=True)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights()))
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    assert not np.array_equal(first.get_weights()[0], src.get_weights()[0])  # fresh, not the source's
    rebuilt = scratch.build_model(first.get_config(), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), rebuilt.get_weights()))


def test_a_transfer_model_is_itself_a_source_and_its_record_names_the_layers_inside_its_nested_base():
    src = _small_graph()
    once, _ = transfer_models.transfer_model(src, 3, input_shape=(28, 28, 1))
    twice, info = transfer_models.transfer_model(once, 2, input_shape=(28, 28, 1), fine_tune=1)
    assert info["kept_layers"] == ["transfer_padding", "transfer_channels", "c1", "c2"]
    assert info["dropped_layers"] == ["head_pooling", "head_output"]
    assert info["frozen_layers"] == ["transfer_padding", "transfer_channels", "c1"]
    assert info["head_layers"] == ["head_pooling_1", "head_output_1"] and info["input_adapter"] == []
    assert twice.output_shape == (None, 2)


# -- what a transfer run records and how its files are read back (a hostile user's findings) -----------------
def test_predict_and_eval_name_the_digits_a_digits_model_stands_for(source, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "xfer"
    rc, _, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--out", str(out), "--no-convert",
                      *SMALL], capsys)
    assert rc == 0, err
    (_, _), (x_test, y_test) = scratch.load_mnist()
    Image.fromarray(x_test[0]).save(tmp_path / "seven.png")  # MNIST's first test digit, a 7
    rc, stdout, err = run(["predict", "--weights", str(out / "model.npz"), str(tmp_path / "seven.png")], capsys)
    assert rc == 0, err
    assert stdout.split("  ")[1].split()[0].startswith("5:")  # the outputs are named 5..9, not 0..4
    assert [w.split(":")[0] for w in stdout.split("  ")[1].split()] == ["5", "6", "7", "8", "9"]
    moved = tmp_path / "elsewhere.npz"  # away from its run's metrics.json: the digits must be given
    moved.write_bytes((out / "model.npz").read_bytes())
    rc, _, err = run(["predict", "--weights", str(moved), str(tmp_path / "seven.png")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "the model has 5 outputs, not one per digit 0-9; give --digits" in err
    rc, stdout, err = run(["predict", "--weights", str(moved), "--digits", "5-9", str(tmp_path / "seven.png")], capsys)
    assert rc == 0 and " 9:" in stdout, err
    rc, stdout, err = run(["eval", str(out / "model.npz"), "--limit", "50"], capsys)  # the run's digits
    assert rc == 0 and "digits 5,6,7,8,9: test accuracy" in stdout, err
    rc, _, err = run(["eval", str(moved), "--digits", "0-2"], capsys)
    assert rc == 2 and "--digits 0,1,2: 3 digits, but the model of WEIGHTS" in err


def test_the_recorded_compare_command_carries_the_runs_options_and_phase_two_its_own(source, tmp_path, capsys):
    out = tmp_path / "ft"
    rc, _, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--fine-tune", "1", "--out", str(out),
                      "--no-convert", "--lr", "0.002", *SMALL], capsys)
    assert rc == 0, err
    one = json.loads((out / "metrics.json").read_text())["transfer"]
    two = json.loads((out / "fine_tune" / "metrics.json").read_text())["transfer"]
    cmd1, cmd2 = one["same_run_in_both_engines"].split(), two["same_run_in_both_engines"].split()
    for cmd in (cmd1, cmd2):
        assert cmd[:3] == ["python", "train.py", "compare"]
        for flag, value in (("--limit", "96"), ("--batch-size", "32"), ("--digits", "5,6,7,8,9"), ("--epochs", "1")):
            assert cmd[cmd.index(flag) + 1] == value, (flag, cmd)
        assert "--out" not in cmd and "--fine-tune" not in cmd and "--no-convert" not in cmd
    assert cmd1[cmd1.index("--arch") + 1].endswith("ft/transfer_arch.json") and cmd1[cmd1.index("--lr") + 1] == "0.002"
    assert cmd1[cmd1.index("--init-from") + 1].endswith("ft/transfer_init.npz")
    assert cmd2[cmd2.index("--arch") + 1].endswith("ft/fine_tune/transfer_arch.json")
    assert cmd2[cmd2.index("--init-from") + 1].endswith("ft/model.npz")
    assert cmd2[cmd2.index("--lr") + 1] == "0.0002" and two["init_file"] == "../model.npz"
    assert (out / "fine_tune" / two["architecture_file"]).is_file()


MORE_ERRORS = {
    "pooling a vector base": (["--base-until", "dense", "--head-pooling", "max"],
                              "--head-pooling max: the base ends in vectors (None, 10)"),
    "fine-tune-lr alone": (["--fine-tune-lr", "0.1"], "--fine-tune-lr: only with --fine-tune K"),
    "fine-tune-epochs alone": (["--fine-tune-epochs", "2"], "--fine-tune-epochs: only with --fine-tune K"),
    "fine-tune-bn alone": (["--fine-tune-bn", "frozen"], "--fine-tune-bn: only with --fine-tune K"),
}


@pytest.mark.parametrize("case", sorted(MORE_ERRORS))
def test_options_that_would_be_ignored_are_refused(case, source, tmp_path, capsys):
    extra, words = MORE_ERRORS[case]
    rc, _, err = run(["transfer", "--source", str(source), "--out", str(tmp_path / "out"), *SMALL, *extra], capsys)
    assert rc == 2 and err.count("\n") == 1 and words in err, err


def test_a_vector_base_records_no_pooling(source, tmp_path, capsys):
    out = tmp_path / "vec"
    rc, _, err = run(["transfer", "--source", str(source), "--base-until", "dense", "--out", str(out), "--no-convert",
                      *SMALL], capsys)
    assert rc == 0, err
    t = json.loads((out / "metrics.json").read_text())["transfer"]
    assert t["head"]["pooling"] is None and t["head_layers"] == ["head_output"]


def test_the_adapter_pads_with_the_preprocessed_black_of_a_centred_source():
    """A ``center`` source sees black as -0.5: the padding around the digit must be -0.5 too."""
    inp = scratch.Input((32, 32, 3))
    x = scratch.GlobalAveragePooling2D(name="gap")(scratch.Conv2D(2, 3, name="c")(inp))
    src = scratch.Model(inp, scratch.Dense(10, name="top")(x), name="centred", seed=0, preprocess="center")
    model, info = transfer_models.transfer_model(src, 3, input_shape=(28, 28, 1))
    assert info["input_adapter"] == ["transfer_shift", "transfer_padding", "transfer_unshift", "transfer_channels"]
    digit = scratch.preprocess(scratch.load_mnist()[1][0][:1], "center", "float32")
    a = digit
    for layer in model.layers[:4]:  # the adapter's layers, in order
        a = layer.forward([a] * 3 if isinstance(layer, scratch.Concatenate) else a)
    assert a.shape == (1, 32, 32, 3)
    assert np.all(a[:, :2] == -0.5) and np.all(a[:, -2:] == -0.5) and np.all(a[:, :, :2] == -0.5)
    np.testing.assert_allclose(a[0, 2:30, 2:30, 1], digit[0, :, :, 0], atol=1e-7)  # x + 0.5 - 0.5 in float32


# -- a fine-tuning run interrupted in phase 1 (issue 21, item 2) -----------------------------------

def _interrupt_at(monkeypatch, step):
    from cli.engines import ScratchEngine

    calls = {"n": 0}
    original = ScratchEngine.train_batch

    def train_batch(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(ScratchEngine, "train_batch", train_batch)


def test_a_fine_tune_run_interrupted_in_phase_one_resumes_into_phase_two(source, tmp_path, capsys, monkeypatch):
    common = ["--source", str(source), "--digits", "0-4", "--fine-tune", "1", "--no-convert", "--limit", "96",
              "--test-limit", "50", "--batch-size", "32", "--epochs", "2", "--no-plots"]
    whole = tmp_path / "whole"
    rc, _, err = run(["transfer", "--out", str(whole), *common], capsys)
    assert rc == 0, err
    cut = tmp_path / "cut"
    _interrupt_at(monkeypatch, 3 + 2)  # 3 steps per epoch: in phase 1's second epoch
    rc, _, err = run(["transfer", "--out", str(cut), *common], capsys)
    assert rc == 130 and f"python train.py scratch --resume {cut}" in err
    monkeypatch.undo()
    m = json.loads((cut / "metrics.json").read_text())
    assert m["transfer"]["fine_tune_asked"] == 1 and m["transfer"]["phase_2"].startswith("pending")
    assert not (cut / "fine_tune").exists()
    rc, stdout, err = run(["scratch", "--resume", str(cut)], capsys)
    assert rc == 0, err
    assert "fine-tuning: unfrozen conv2d_1" in stdout
    assert json.loads((cut / "metrics.json").read_text())["transfer"]["phase_2"] == "complete"
    m2 = json.loads((cut / "fine_tune" / "metrics.json").read_text())
    assert m2["status"] == "complete" and m2["transfer"]["phase"] == 2
    for name in ("model.npz", "fine_tune/model.npz"):  # the interrupted run ends where the whole one did
        for a, b in zip(weights(whole / name).get_weights(), weights(cut / name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # phase 2 exists now: phase 1 may not be trained further (it would rewrite what phase 2 started from)
    rc, _, err = run(["scratch", "--resume", str(cut), "--epochs", "3"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "phase 2" in err and "would rewrite" in err


def test_a_fine_tune_run_interrupted_in_phase_two_resumes_from_its_phase_one_folder(source, tmp_path, capsys,
                                                                                     monkeypatch):
    common = ["--source", str(source), "--digits", "0-4", "--fine-tune", "1", "--no-convert", "--limit", "96",
              "--test-limit", "50", "--batch-size", "32", "--epochs", "1", "--no-plots"]
    cut = tmp_path / "cut"
    _interrupt_at(monkeypatch, 3 + 2)  # phase 1: 3 steps; phase 2's second step
    rc, _, err = run(["transfer", "--out", str(cut), *common], capsys)
    assert rc == 130
    monkeypatch.undo()
    assert json.loads((cut / "metrics.json").read_text())["transfer"]["phase_2"] == "running"
    rc, stdout, err = run(["scratch", "--resume", str(cut)], capsys)
    assert rc == 0, err
    assert "resuming phase 2" in stdout
    assert json.loads((cut / "fine_tune" / "metrics.json").read_text())["status"] == "complete"
    assert json.loads((cut / "metrics.json").read_text())["transfer"]["phase_2"] == "complete"


# -- --fine-tune-bn: BatchNormalization in the fine-tuned part of the base ------------------------------
def bn_source(seed=3):
    """A small Sequential source whose base ends conv -> BatchNormalization -> pool."""
    return scratch.Sequential([scratch.Conv2D(4, 3, activation="relu"), scratch.BatchNormalization(),
                               scratch.MaxPooling2D(2), scratch.Flatten(), scratch.Dense(10)],
                              input_shape=(28, 28, 1), seed=seed)


@pytest.mark.parametrize("bn", ["trainable", "frozen"])
def test_fine_tune_bn_decides_whether_batch_norm_trains_on_batch_statistics_in_phase_two(bn):
    source = bn_source()
    source.layers[1].set_weights([np.full(4, 2.0), np.full(4, 0.5), np.full(4, 0.3), np.full(4, 4.0)])
    desc, info = transfer_models.transfer_description(source, 2, fine_tune=1, keep_bn_frozen=bn == "frozen")
    tuned = transfer_models.initial_model(desc, {**info, "baseline": False}, source, "float32", seed=0)
    tuned.compile(scratch.SGD(0.1))
    images = scratch.preprocess(np.random.default_rng(0).integers(0, 256, (8, 28, 28)), "scale")
    tuned.train_step(images, np.array([0, 1] * 4))
    bn_layer, conv = tuned.layers[1], tuned.layers[0]
    moved = not np.array_equal(bn_layer.state["moving_mean"], source.layers[1].state["moving_mean"])
    conv_moved = not np.array_equal(conv.get_weights()[0], source.layers[0].get_weights()[0])
    if bn == "frozen":  # K = 1 counts the convolution, not the BatchNormalization, which stays in inference mode
        assert info["trainable_layers"] == ["conv2d", "head_flatten", "head_output"] and info["fine_tune_bn"] == "frozen"
        assert not bn_layer.trainable and not moved and conv_moved
        assert all(np.array_equal(a, b) for a, b in zip(bn_layer.get_weights(), source.layers[1].get_weights()))
    else:  # K = 1 is the BatchNormalization itself: batch statistics, moving ones updated
        assert info["trainable_layers"] == ["batch_normalization", "head_flatten", "head_output"]
        assert bn_layer.trainable and moved and not conv_moved


def test_fine_tune_bn_frozen_reaches_phase_two_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "bn.npz"
    source = bn_source()
    scratch.save_checkpoint(path, source)
    out = tmp_path / "ft"
    rc, stdout, err = run(["transfer", "--source", str(path), "--digits", "0-4", "--out", str(out), "--fine-tune", "1",
                           "--fine-tune-bn", "frozen", "--no-convert", *SMALL], capsys)
    assert rc == 0, err
    arch = json.loads((out / "fine_tune" / "transfer_arch.json").read_text())
    trainable = {spec["config"]["name"]: spec["config"]["trainable"] for spec in arch["layers"][:3]}
    assert trainable == {"conv2d": True, "batch_normalization": False, "max_pooling2d": False}
    phase2 = weights(out / "fine_tune" / "model.npz")
    assert np.array_equal(phase2.layers[1].state["moving_mean"], source.layers[1].state["moving_mean"])
    assert "fine-tuning: unfrozen conv2d " in stdout


@pytest.mark.parametrize("bn", ["trainable", "frozen"])
def test_fine_tune_bn_in_a_graph_base(bn):
    x = scratch.Input((8, 8, 1))
    h = scratch.BatchNormalization()(scratch.Conv2D(3, 3)(x))
    graph = scratch.Model(x, scratch.Dense(2)(scratch.GlobalAveragePooling2D()(h)), seed=0)
    model, info = transfer_models.transfer_model(graph, 2, fine_tune=1, keep_bn_frozen=bn == "frozen")
    trainable = {layer.name: layer.trainable for layer in scratch.leaf_layers(model)
                 if type(layer).__name__ in ("Conv2D", "BatchNormalization")}
    expected = {"frozen": [True, False], "trainable": [False, True]}[bn]
    assert list(trainable.values()) == expected and info["fine_tune_bn"] == bn
