"""Files written before ``Sequential`` became a graph ``Model`` (issue 19) still load and compute the same.

``tests/data/before_one_engine/`` was written by the two-container engine (commit eb846a7): a blog
``Sequential`` checkpoint and a small graph checkpoint, each after one Adam/SGD step (optimizer state
included), their outputs on fixed inputs (``expected.npz``), and a one-epoch ``train.py scratch`` run
folder (``checkpoint.npz``, ``metrics.json``, ``history.csv``).
"""

import json
import shutil
from pathlib import Path

import numpy as np

import scratch
from tests import record_sequential
from tests.cli_run import run

DATA = Path(__file__).resolve().parent / "data" / "before_one_engine"


def test_old_checkpoints_load_with_their_optimizer_and_compute_the_same():
    expected = np.load(DATA / "expected.npz")
    blog = scratch.load_checkpoint(DATA / "blog_sequential.npz")[0]
    assert isinstance(blog, scratch.Sequential) and type(blog.optimizer).__name__ == "Adam"
    assert blog.optimizer.iterations == 1
    np.testing.assert_array_equal(blog.predict(expected["x"]), expected["blog"])
    graph = scratch.load_checkpoint(DATA / "graph.npz")[0]
    assert type(graph) is scratch.Model and type(graph.optimizer).__name__ == "SGD"
    rng = np.random.default_rng(0)  # the inputs expected.npz's graph outputs were computed on
    rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    rng.random((4, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, 4)
    np.testing.assert_array_equal(graph.predict(rng.random((4, 8, 8, 1), dtype=np.float32)), expected["graph"])


def test_an_old_run_folder_resumes_as_an_uninterrupted_run_of_today(tmp_path, capsys):
    with record_sequential.without_tiles():  # the plain route: the bits the old engine computed (issue 22)
        _resume_and_compare(tmp_path, capsys)


def _resume_and_compare(tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(DATA / "run", old)
    rc, stdout, err = run(["scratch", "--resume", str(old), "--epochs", "2"], capsys)
    assert rc == 0, err
    assert "resuming after epoch 1" in stdout
    rc, _, err = run(["scratch", "--epochs", "2", "--limit", "64", "--test-limit", "32", "--no-plots", "--no-convert",
                      "--out", str(tmp_path / "whole")], capsys)
    assert rc == 0, err
    resumed, whole = (json.loads((p / "metrics.json").read_text()) for p in (old, tmp_path / "whole"))
    for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
        assert resumed["history"][key] == whole["history"][key], key
    for a, b in zip(scratch.load_checkpoint(old / "model.npz")[0].get_weights(),
                    scratch.load_checkpoint(tmp_path / "whole" / "model.npz")[0].get_weights()):
        np.testing.assert_array_equal(a, b)
