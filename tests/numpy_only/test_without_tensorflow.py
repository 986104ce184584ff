"""The engine alone: these tests need NumPy and h5py only (``requirements-numpy.txt``).

CI runs this folder a second time in a virtual environment without TensorFlow or Keras
(``.ci/run`` sets ``SCRATCH_NUMPY_ONLY=1`` there), so nothing here may import them; in the full
environment they run with the rest of the suite.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import scratch

NUMPY_ONLY = os.environ.get("SCRATCH_NUMPY_ONLY") == "1"


@pytest.mark.skipif(not NUMPY_ONLY, reason="only in CI's NumPy-only environment (.ci/run)")
def test_this_environment_has_no_tensorflow():
    """The second CI environment really lacks TensorFlow and Keras: what passes there needs neither."""
    assert importlib.util.find_spec("tensorflow") is None
    assert importlib.util.find_spec("keras") is None


def test_engine_trains_and_predicts_without_tensorflow():
    model = scratch.Sequential([scratch.Input((8, 8, 1)), scratch.Conv2D(2, 3, activation="relu"), scratch.Flatten(),
                                scratch.Dense(3)], seed=0)
    model.compile(scratch.Adam(0.01))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16)
    before = model.evaluate(x, y)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert model.evaluate(x, y) < before


def test_layer_list_command_runs_alone():
    out = subprocess.run([sys.executable, "-m", "scratch.layers"], capture_output=True, text=True, check=True).stdout
    assert "`Conv2D`" in out and "layer classes" in out
