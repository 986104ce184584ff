"""The command line on Keras model files in a process where importing TensorFlow fails
(``tests/no_tensorflow.py --cli``): ``convert`` to and from ``.keras``/``.weights.h5``,
``predict``, ``eval --engine scratch``, ``scratch --arch MODEL.keras``, ``transfer --source
MODEL.keras``; after each, ``sys.modules`` holds no TensorFlow (nor Keras)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scratch

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--limit", "64", "--test-limit", "50", "--batch-size", "32", "--epochs", "1", "--no-plots", "--no-convert"]


@pytest.mark.slow
def test_cli_reads_and_writes_keras_files_without_tensorflow(tmp_path, mnist):
    scratch.save_checkpoint(tmp_path / "lenet.npz", scratch.build_model("lenet", seed=7))
    (_, _), (x_test, _) = mnist
    Image.fromarray(x_test[0]).save(tmp_path / "seven.png")
    t = str(tmp_path)
    commands = [
        ["convert", f"{t}/lenet.npz", f"{t}/lenet.keras"],
        ["convert", f"{t}/lenet.keras", f"{t}/lenet.weights.h5"],
        ["predict", "--weights", f"{t}/lenet.keras", f"{t}/seven.png"],
        ["eval", f"{t}/lenet.keras", "--engine", "scratch", "--limit", "50"],
        ["eval", f"{t}/lenet.weights.h5", "--arch", "lenet", "--limit", "50"],
        ["scratch", "--arch", f"{t}/lenet.keras", "--init-from", f"{t}/lenet.keras", "--out", f"{t}/run", *SMALL],
        ["transfer", "--source", f"{t}/lenet.keras", "--digits", "5-9", "--out", f"{t}/xfer", *SMALL],
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "no_tensorflow.py"), "--cli"], input=json.dumps(commands),
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])["cli"]
    for r in results:
        assert r["rc"] == 0 and r["leaked"] == [], (r, proc.stderr[-2000:])
    assert "seven.png: " in proc.stdout
    original = scratch.load_checkpoint(tmp_path / "lenet.npz")[0]
    back = scratch.load_model(tmp_path / "lenet.keras")
    assert all(np.array_equal(a, b) for a, b in zip(original.get_weights(), back.get_weights(), strict=True))
    assert (tmp_path / "run" / "model.npz").exists() and (tmp_path / "xfer" / "model.npz").exists()
