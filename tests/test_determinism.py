"""Same seed, same numbers; and ``import scratch`` stays free of TensorFlow."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratch

ROOT = Path(__file__).resolve().parent.parent


def train_20_steps(mnist, arch, seed, mode, batch_size):
    (x_train, y_train), _ = mnist
    x = scratch.preprocess(x_train[:10 * batch_size], mode)
    model = scratch.build_model(arch, seed=seed).compile(scratch.Adam(1e-3))
    model.fit(x, y_train[:10 * batch_size], epochs=2, batch_size=batch_size, verbose=0)  # 2 x 10 steps, shuffled
    assert model.optimizer.iterations == 20
    return model.get_weights()


@pytest.mark.parametrize("arch, mode, batch_size", [("blog", "center", 32), ("lenet", "scale", 4)])
def test_same_seed_gives_bit_identical_weights_after_20_steps(mnist, arch, mode, batch_size):
    a = train_20_steps(mnist, arch, 7, mode, batch_size)
    b = train_20_steps(mnist, arch, 7, mode, batch_size)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    c = train_20_steps(mnist, arch, 8, mode, batch_size)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


def test_same_seed_gives_the_same_initial_weights():
    for arch in ("blog", "lenet"):
        a, b = scratch.build_model(arch, seed=3), scratch.build_model(arch, seed=3)
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
        c = scratch.build_model(arch, seed=4)
        assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_dropout_with_the_same_seed_gives_the_same_masks():
    x = np.ones((6, 40), np.float32)
    a, b, c = scratch.Dropout(0.5, seed=1), scratch.Dropout(0.5, seed=1), scratch.Dropout(0.5, seed=2)
    for _ in range(3):  # a sequence of masks, not just the first
        ma, mb, mc = a(x, training=True), b(x, training=True), c(x, training=True)
        np.testing.assert_array_equal(ma, mb)
        assert not np.array_equal(ma, mc)


def test_model_dropout_masks_follow_the_model_seed():
    x = np.ones((4, 28, 28, 1), np.float32)
    outs = []
    for seed in (1, 1, 2):
        model = scratch.build_model("lenet", seed=seed)
        model.set_weights(scratch.build_model("lenet", seed=0).get_weights())  # same weights for all three
        outs.append(model.forward(x, training=True))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_import_scratch_does_not_import_tensorflow():
    code = ("import sys, scratch; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "assert not bad, bad; print('clean')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
