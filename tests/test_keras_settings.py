"""``train.py keras`` runs TensorFlow as it ships unless ``--deterministic`` (issue 14).

The default run is checked in a child process (TensorFlow reads oneDNN's setting when it
loads, and this process may already hold a deterministic TensorFlow from the parity suite);
the resume and starting-weight checks run here: they hold whatever TensorFlow's settings.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratch
import train
from cli.engines import KerasEngine

pytestmark = pytest.mark.keras
ROOT = Path(__file__).resolve().parent.parent


def test_default_keras_run_uses_tensorflow_as_it_ships_and_prints_no_startup_lines(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}  # as a user's shell
    proc = subprocess.run([sys.executable, "train.py", "keras", "--epochs", "1", "--limit", "64", "--test-limit", "64",
                           "--no-plots", "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["deterministic"] is False and m["tensorflow"]["op_determinism"] is False
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert m["tensorflow"]["onednn"] is True  # TensorFlow's default on x86 Linux
    # absl's "All log messages before absl::InitializeLog()", oneDNN's and cudart's notices: hidden
    assert proc.stderr == "", proc.stderr
    assert "deterministic" not in proc.stdout.splitlines()[0]


def test_keras_resume_without_determinism_starts_from_exactly_the_saved_state(tmp_path, capsys, monkeypatch):
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    out = tmp_path / "run"
    common = ["--arch", "lenet", "--limit", "128", "--test-limit", "64", "--batch-size", "64", "--no-plots"]
    assert train.main(["keras", "--out", str(out), "--epochs", "1", *common]) == 0
    with np.load(out / "checkpoint.npz") as f:
        saved = {k: f[k] for k in f.files}
    loaded = {}
    original = KerasEngine.load_checkpoint.__func__

    def load_checkpoint(cls, *args, **kwargs):
        engine, meta = original(cls, *args, **kwargs)
        loaded.update({f"weight_{i:03d}": w for i, w in enumerate(engine.weights())})
        loaded.update({f"optimizer_{i:03d}": np.asarray(v) for i, v in enumerate(engine.model.optimizer.variables)})
        loaded.update({f"seed/{n}": np.asarray(g.state) for n, g in engine._seed_generators().items()})
        return engine, meta

    monkeypatch.setattr(KerasEngine, "load_checkpoint", classmethod(load_checkpoint))
    assert train.main(["keras", "--resume", str(out), "--epochs", "2", "--no-plots"]) == 0
    arrays = sorted(k for k in saved if k not in ("format", "meta"))
    assert sorted(loaded) == arrays and any(k.startswith("seed/") for k in arrays)
    for key in arrays:
        assert loaded[key].dtype == saved[key].dtype and np.array_equal(loaded[key], saved[key]), key
    assert saved["optimizer_000"].shape == () and int(saved["optimizer_000"]) == 2  # iterations: 128 images / 64
    assert np.abs(saved["optimizer_002"]).max() > 0  # Adam's first moment of the first kernel came with it
    m = json.loads((out / "metrics.json").read_text())
    assert m["deterministic"] is False and m["history"]["epoch"] == [1, 2] and m["status"] == "complete"
    assert all(np.isfinite(m["history"]["loss"]))
    capsys.readouterr()


def test_keras_default_starts_from_the_scratch_engines_weights():
    desc = scratch.get_architecture("lenet")
    engine = KerasEngine.create(desc, "float32", 5, "adam", 0.001)
    ours = scratch.build_model(desc, seed=5).get_weights()
    theirs = engine.weights()
    assert len(ours) == len(theirs) and all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_transfer_compare_from_a_functional_keras_file_in_a_fresh_process(tmp_path):
    """Reading a Functional ``.keras`` source loads TensorFlow; ``transfer --engine compare`` must
    have set the deterministic settings first (as a user runs it: a fresh process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    source = tmp_path / "net.keras"
    make = ("import keras; i = keras.Input((32, 32, 3)); x = keras.layers.Conv2D(4, 3, name='c')(i); "
            "x = keras.layers.GlobalAveragePooling2D(name='p')(x); "
            f"keras.Model(i, keras.layers.Dense(10, name='d')(x)).save({str(source)!r})")
    proc = subprocess.run([sys.executable, "-c", make], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "train.py", "transfer", "--source", str(source), "--engine", "compare",
                           "--digits", "5-9", "--limit", "32", "--test-limit", "32", "--epochs", "1", "--no-plots",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["tensorflow"] == {"onednn": False, "op_determinism": True}
    assert m["transfer"]["input_adapter"] == ["transfer_padding", "transfer_channels"]
