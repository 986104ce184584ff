"""Sequential's features: summary, config, checkpoints, predict/evaluate/fit, divergence."""

import json
import os

import numpy as np
import pytest

import scratch
from scratch import checkpoint as checkpoint_mod
from scratch import files as files_mod

from .test_gradients import CUSTOM


def small_batch(n=8, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1)).astype(dtype), rng.integers(0, 10, size=n)


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# -- summary -----------------------------------------------------------------------------------

def conv_params(k, c_in, filters):
    return (k * k * c_in + 1) * filters


@pytest.mark.parametrize("arch, rows, total", [
    ("blog", [("conv2d (Conv2D)", "(None, 26, 26, 8)", conv_params(3, 1, 8)),
              ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 8)", 0),
              ("flatten (Flatten)", "(None, 1352)", 0),
              ("dense (Dense)", "(None, 10)", (13 * 13 * 8 + 1) * 10)], 13610),
    ("lenet", [("conv2d (Conv2D)", "(None, 26, 26, 32)", conv_params(3, 1, 32)),
               ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", 0),
               ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", conv_params(3, 32, 64)),
               ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", 0),
               ("flatten (Flatten)", "(None, 1600)", 0),
               ("dropout (Dropout)", "(None, 1600)", 0),
               ("dense (Dense)", "(None, 10)", (5 * 5 * 64 + 1) * 10)], 34826),
])
def test_summary_names_shapes_and_parameter_counts(arch, rows, total):
    """Keras prints 13,610 parameters for the seed network and 34,826 for lenet."""
    model = scratch.build_model(arch, seed=0)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert sum(r[2] for r in rows) == total == model.count_params()
    table = [line for line in lines if line.startswith("| ") and "Layer (type)" not in line]
    assert len(table) == len(rows)
    for line, (name, shape, count) in zip(table, rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells == [name, shape, f"{count:,}"], line
    assert f"Total params: {total:,}" in text and f"Trainable params: {total:,}" in text
    assert "Non-trainable params: 0" in text


def test_summary_of_an_unbuilt_model_is_an_error():
    with pytest.raises(ValueError, match="not built"):
        scratch.Sequential([scratch.Dense(3)]).summary()


# -- config ------------------------------------------------------------------------------------

@pytest.mark.parametrize("desc", ["blog", "lenet", CUSTOM], ids=["blog", "lenet", "custom"])
def test_get_config_from_config_round_trip(desc):
    model = scratch.build_model(desc, dtype="float64", seed=0)
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON, no NumPy objects
    clone = scratch.Sequential.from_config(config)
    assert clone.get_config() == config
    assert clone.dtype == model.dtype and [type(la) for la in clone.layers] == [type(la) for la in model.layers]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((3,) + tuple(config["input_shape"]))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_layer_config_round_trip():
    layers = [scratch.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu", use_bias=False,
                             name="c", dtype="float64"),
              scratch.MaxPooling2D((3, 2), strides=(1, 2), padding="same", name="m"),
              scratch.AveragePooling2D(2, name="a"), scratch.Dense(5, activation="softmax", name="d"),
              scratch.Flatten(name="f"), scratch.ReLU(name="r"), scratch.Softmax(name="s"),
              scratch.Dropout(0.3, seed=7, name="o")]
    for layer in layers:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
        assert scratch.layers.deserialize(scratch.layers.serialize(layer)).get_config() == config


# -- checkpoints -----------------------------------------------------------------------------------

def train_steps(model, batches):
    for x, y in batches:
        model.train_step(x, y)


def test_checkpoint_round_trip_and_bit_identical_continuation(tmp_path):
    batches = [small_batch(8, seed=s) for s in range(6)]
    a = scratch.build_model("lenet", seed=0).compile(scratch.Adam(1e-3))
    train_steps(a, batches[:3])
    path = tmp_path / "lenet.npz"
    a.save(path, meta={"epoch": 3})
    b, meta = scratch.load_checkpoint(path)
    assert meta["epoch"] == 3
    assert_same_weights(a, b)
    assert b.get_config() == a.get_config()
    assert type(b.optimizer) is scratch.Adam and b.optimizer.get_config() == a.optimizer.get_config()
    sa, sb = a.optimizer.get_state(), b.optimizer.get_state()
    assert sa.keys() == sb.keys() and int(sb["iterations"]) == 3
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    # training on from here (dropout masks included) is the same with or without the save/load
    train_steps(a, batches[3:])
    train_steps(b, batches[3:])
    assert_same_weights(a, b)
    assert a.optimizer.iterations == b.optimizer.iterations == 6


def test_checkpoint_resumed_fit_equals_uninterrupted_fit(tmp_path):
    x, y = small_batch(96, seed=1)
    full = scratch.build_model("blog", seed=5).compile(scratch.SGD(0.05, momentum=0.9))
    full.fit(x, y, epochs=2, batch_size=32, seed=5, verbose=0)
    half = scratch.build_model("blog", seed=5).compile(scratch.SGD(0.05, momentum=0.9))
    half.fit(x, y, epochs=1, batch_size=32, seed=5, verbose=0)
    half.save(tmp_path / "half.npz")
    resumed = scratch.Sequential.load(tmp_path / "half.npz")
    resumed.fit(x, y, epochs=2, initial_epoch=1, batch_size=32, seed=5, verbose=0)
    assert_same_weights(full, resumed)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_checkpoint_keeps_dtype(tmp_path, dtype):
    model = scratch.build_model("blog", dtype=dtype, seed=0)
    model.save(tmp_path / "m.npz")
    loaded = scratch.Sequential.load(tmp_path / "m.npz")
    assert loaded.dtype == dtype and loaded.optimizer is None
    assert_same_weights(model, loaded)


def test_atomic_write_leaves_the_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = scratch.build_model("blog", seed=0)
    model.save(path)
    before = path.read_bytes()

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_mod.np, "savez", failing_savez)
    other = scratch.build_model("blog", seed=1)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    assert_same_weights(scratch.Sequential.load(path), model)


def test_atomic_write_on_keyboard_interrupt(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def interrupted(f):
        f.write(b"new but partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files_mod.atomic_write(path, interrupted)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    files_mod.atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"


# -- predict, evaluate, fit -------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 3, 7, 100])
def test_predict_in_batches_equals_one_forward(batch_size):
    model = scratch.build_model("lenet", dtype="float64", seed=0)
    x, _ = small_batch(10, dtype="float64")
    whole = model.forward(x)
    predicted = model.predict(x, batch_size=batch_size)
    np.testing.assert_allclose(predicted, whole, rtol=1e-13, atol=1e-15)
    for i in range(0, 10, batch_size):  # each batch is exactly that batch's forward
        np.testing.assert_array_equal(predicted[i:i + batch_size], model.forward(x[i:i + batch_size]))


def test_predict_of_no_images():
    model = scratch.build_model("blog", seed=0)
    out = model.predict(np.zeros((0, 28, 28, 1), np.float32))
    assert out.shape == (0, 10) and out.dtype == np.float32


def test_evaluate_equals_manual_computation():
    model = scratch.build_model("blog", dtype="float64", seed=2)
    rng = np.random.default_rng(3)
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()])
    x, y = rng.random((50, 28, 28, 1)) - 0.5, rng.integers(0, 10, size=50)
    loss, acc = model.evaluate(x, y, batch_size=16)
    z = model.forward(x)
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(50), y].mean(), rel=1e-12)
    assert acc == np.mean(z.argmax(axis=1) == y)


def test_fit_history_keys_and_values():
    x, y = small_batch(40, seed=4)
    xv, yv = small_batch(12, seed=5)
    model = scratch.build_model("blog", seed=0).compile(scratch.Adam(1e-3))
    batch_losses = []
    history = model.fit(x, y, epochs=2, batch_size=16, validation_data=(xv, yv), verbose=0,
                        on_batch_end=lambda e, s, steps, loss: batch_losses.append((e, s, steps, loss)))
    assert set(history) == {"loss", "accuracy", "seconds", "images_per_s", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in history.values())
    assert [(e, s, n) for e, s, n, _ in batch_losses] == [(e, s, 3) for e in range(2) for s in range(3)]
    # the epoch loss is the per-sample mean of the batch losses (batches of 16, 16, 8)
    first = [loss for e, _, _, loss in batch_losses if e == 0]
    assert history["loss"][0] == pytest.approx((16 * first[0] + 16 * first[1] + 8 * first[2]) / 40, rel=1e-12)
    assert (history["val_loss"][1], history["val_accuracy"][1]) == model.evaluate(xv, yv)
    assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
    assert model.optimizer.iterations == 6


def test_fit_without_compile_is_an_error():
    x, y = small_batch(4)
    with pytest.raises(ValueError, match="compile"):
        scratch.build_model("blog").fit(x, y, verbose=0)


# -- divergence -------------------------------------------------------------------------------------

def test_non_finite_loss_error_names_the_step_and_keeps_the_last_good_weights():
    x, y = small_batch(96, seed=6)
    model = scratch.build_model("blog", seed=0).compile(scratch.SGD(1e30))  # diverges at once
    snapshots = []
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(scratch.NonFiniteLossError) as info:
        model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                  on_batch_end=lambda *_: snapshots.append(model.get_weights()))
    good_steps = len(snapshots)
    assert 1 <= good_steps < 18
    assert f"training step {good_steps + 1}" in str(info.value)
    assert model.optimizer.iterations == good_steps
    for a, b in zip(snapshots[-1], model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_non_finite_loss_error_from_an_injected_inf_weight():
    x, y = small_batch(8)
    model = scratch.build_model("blog", seed=0).compile(scratch.Adam(1e-3))
    model.train_step(x, y)
    model.layers[-1].params["bias"][3] = np.inf  # behind set_weights's back
    before = model.get_weights()
    with np.errstate(invalid="ignore"), pytest.raises(scratch.NonFiniteLossError, match="training step 2"):
        model.train_step(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 1
    assert issubclass(scratch.NonFiniteLossError, FloatingPointError)


def test_checkpoint_keeps_the_model_seed_and_ordinary_file_permissions(tmp_path):
    model = scratch.build_model("blog", seed=7)
    model.compile(scratch.Adam(0.01))
    path = tmp_path / "m.npz"
    model.save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert scratch.Sequential.load(path).seed == 7


def test_checkpoint_with_a_mis_shaped_optimizer_slot_is_refused(tmp_path):
    x, y = small_batch()
    model = scratch.build_model("blog", seed=0)
    model.compile(scratch.Adam(0.01))
    model.train_step(x, y)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as f:
        data = dict(f)
    data["optimizer/m:dense/kernel"] = np.zeros((3, 3), np.float32)
    np.savez(path, **data)
    with pytest.raises(ValueError, match=r"optimizer slot 'm' of 'dense/kernel' has shape \(3, 3\), expected \(1352, 10\)"):
        scratch.Sequential.load(path)
