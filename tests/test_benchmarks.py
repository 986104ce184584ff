"""The benchmark still runs end to end (smoke mode) and writes every field the README table needs.

Speed is never asserted here: the figures come from ``python -m benchmarks`` printouts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import engines, keras_baseline, report, seed_loop
from benchmarks.__main__ import main

pytestmark = pytest.mark.keras


def test_smoke_run_writes_the_json_and_the_table(tmp_path, capsys):
    # In a child process, as a user runs it: the benchmark imports TensorFlow with its speed
    # defaults (oneDNN on), which must not leak into the tests that share this process.
    out = tmp_path / "result.json"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    for key in ("machine", "settings", "matmul_peak_before", "matmul_peak_after", "throughput", "ratios",
                "profile", "seed_loop", "memory", "targets", "date", "mode", "load_average_start",
                "load_average_end"):
        assert key in result, key
    m = result["machine"]
    for key in ("cpu", "usable_cores", "numpy", "tensorflow", "keras", "blas", "env"):
        assert key in m, key
    assert m["blas"] and {"internal_api", "num_threads", "architecture"} <= set(m["blas"][0])
    engines_seen = {(r["engine"], r["mode"]) for r in result["throughput"]}
    assert engines_seen == {(e, mode) for e in ("scratch", "scratch_blas1", "keras", "keras_xla")
                            for mode in ("train", "infer")}
    for r in result["throughput"]:
        assert r["images_per_s"] > 0 and r["min"] <= r["images_per_s"] <= r["max"] and r["gflops"] > 0
    for r in result["ratios"]:
        assert r["best_vs_best"] >= min(r["vs_keras"], r["vs_keras_xla"]) - 1e-12
    assert {row["layer"] for row in result["profile"][0]["layers"]} >= {"conv2d", "max_pooling2d", "dense"}
    assert {mem["engine"] for mem in result["memory"]} == {"scratch", "keras"}
    assert all(mem["peak_mb"] >= mem["after_import_mb"] > 0 for mem in result["memory"])
    assert result["seed_loop"]["images"] > 0 and np.isfinite(result["seed_loop"]["mean_loss"])
    assert [t["key"] for t in result["targets"]] == [t[0] for t in __import__("benchmarks.run").run.TARGETS]
    kb = result["keras_baseline"]
    assert sorted(kb["median_last_epoch"]) == sorted(keras_baseline.LEGS) and len(kb["runs"]) == 4
    settings = {row["leg"]: row["tensorflow"] for row in kb["runs"]}
    assert settings["cli_deterministic"] == {"onednn": False, "op_determinism": True}
    assert not settings["cli"]["op_determinism"] and settings["cli"] == settings["fit"] == settings["loop"]
    assert all(len(row["images_per_s"]) == kb["epochs"] and min(row["images_per_s"]) > 0 for row in kb["runs"])
    printed = proc.stdout
    assert "| `train.py keras --deterministic` | `python train.py keras --arch blog" in printed
    assert "| blog | 32 | training |" in printed and "| blog | 32 | inference |" in printed

    # --markdown re-renders the same table from the JSON alone
    main(["--markdown", "--out", str(out)])
    assert capsys.readouterr().out.strip() == report.markdown(result).strip()


def test_flop_counts_follow_the_layer_shapes():
    import scratch

    model = scratch.build_model("lenet")
    infer, train = engines.model_flops(model, 2)
    conv1 = 2 * 2 * 26 * 26 * 9 * 1 * 32
    conv2 = 2 * 2 * 11 * 11 * 9 * 32 * 64
    dense = 2 * 2 * 1600 * 10
    assert infer == conv1 + conv2 + dense
    assert train == 2 * conv1 + 3 * (conv2 + dense)  # no dx for the first layer


def test_seed_loop_trainer_learns_one_image():
    (x, y), _ = __import__("scratch").load_mnist()
    net = seed_loop.SeedLoopNet(seed=0)
    image = x[0].astype(np.float64) / 255 - 0.5
    first = net.train_one(image, int(y[0]))
    for _ in range(5):
        last = net.train_one(image, int(y[0]))
    assert last < first
