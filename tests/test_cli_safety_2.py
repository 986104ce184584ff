"""Nothing silently wrong, nothing lost (2) (issue 21): ``--out`` never overwrites what a folder holds, the
benchmark's smoke run keeps the committed results, and the mistakes that gave tracebacks or were silently
accepted are one ``error:`` line (or a ``ValueError`` naming what and where)."""

import json
from pathlib import Path

import pytest

import scratch
from tests.cli_run import run
from tests.matchers import raises

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--limit", "64", "--test-limit", "64", "--batch-size", "32", "--epochs", "1", "--no-plots"]


def one_error_line(err, *fragments):
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)


# -- 4. --out takes an empty or new folder ----------------------------------------------------------
@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.npz"
    scratch.save_checkpoint(path, scratch.build_model("blog", seed=1))
    return path


@pytest.mark.parametrize("command", [["scratch", "--no-convert"], ["compare"],
                                     ["transfer", "--digits", "5-9", "--no-convert", "--source", "SOURCE"]])
def test_out_into_a_folder_holding_other_files_is_refused_and_they_are_kept(command, source, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.npz").write_bytes(b"the user's own model")
    (mine / "notes").mkdir()
    argv = [str(source) if a == "SOURCE" else a for a in command]
    rc, _, err = run([*argv, *TINY, "--out", str(mine)], capsys)
    assert rc == 2
    one_error_line(err, f"--out {mine}: expected an empty or new folder, found 2 entries", "(model.npz, notes/)")
    assert (mine / "model.npz").read_bytes() == b"the user's own model"
    assert sorted(p.name for p in mine.iterdir()) == ["model.npz", "notes"]


def test_out_into_an_empty_folder_and_a_transfer_with_fine_tuning_still_run(source, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = run(["scratch", "--no-convert", *TINY, "--out", str(empty)], capsys)
    assert rc == 0, err
    rc, _, err = run(["transfer", "--source", str(source), "--digits", "5-9", "--fine-tune", "1", "--no-convert",
                      *TINY, "--out", str(tmp_path / "xfer")], capsys)
    assert rc == 0, err
    assert (tmp_path / "xfer" / "fine_tune" / "model.npz").is_file()


def test_benchmark_smoke_run_writes_a_temporary_file_not_the_committed_results(monkeypatch, capsys):
    import tempfile

    import benchmarks.__main__ as bench
    import benchmarks.report
    import benchmarks.run
    import scratch.files

    written = []
    monkeypatch.setattr(scratch.files, "atomic_write", lambda path, write: written.append(Path(path)))
    monkeypatch.setattr(benchmarks.run, "run", lambda mode, log: {"mode": mode})
    monkeypatch.setattr(benchmarks.report, "markdown", lambda result: "table")
    bench.main(["--smoke"])
    assert len(written) == 1
    assert written[0].resolve().parent == Path(tempfile.gettempdir()).resolve(), written
    assert ROOT / "benchmarks" / "results" not in written[0].resolve().parents
    assert str(written[0]) in capsys.readouterr().err
    written.clear()
    bench.main(["--quick"])  # the other modes keep their default
    assert written == [Path(bench.RESULTS)]


# -- 5, 6. eval and predict: one classifier, the digits its run recorded -----------------------------
def _five_outputs(folder, digits):
    """A blog network with 5 outputs in ``folder``, beside a ``metrics.json`` recording ``digits``."""
    arch = scratch.get_architecture("blog")
    arch["layers"][-1] = {**arch["layers"][-1], "config": {**arch["layers"][-1]["config"], "units": 5}}
    folder.mkdir()
    scratch.save_checkpoint(folder / "model.npz", scratch.build_model(arch, seed=0))
    (folder / "metrics.json").write_text(json.dumps({"options": {"digits": digits}}))
    return folder / "model.npz"


def _graph(outputs):
    x = scratch.Input((28, 28, 1))
    h = scratch.Conv2D(2, 3)(x)
    flat = scratch.Flatten()(h)
    return scratch.Model(x, {"two": [scratch.Dense(10)(flat), scratch.Dense(3)(flat)], "map": h}[outputs])


@pytest.mark.parametrize("outputs, words", [("two", "has 2 outputs [(None, 10), (None, 3)]; eval and predict take "
                                                     "a model with one output"),
                                            ("map", "outputs shape (None, 26, 26, 2), not one score per class")],
                         ids=["two-outputs", "feature-map"])
def test_eval_and_predict_of_a_model_that_is_no_classifier_is_one_error_line(outputs, words, tmp_path, capsys):
    path = tmp_path / "graph.npz"
    scratch.save_checkpoint(path, _graph(outputs))
    rc, _, err = run(["eval", str(path), "--limit", "20"], capsys)
    assert rc == 2
    one_error_line(err, f"WEIGHTS {path}: model 'functional' ", words)
    rc, _, err = run(["predict", "--weights", str(path), str(path)], capsys)
    assert rc == 2
    one_error_line(err, f"--weights {path}: model 'functional' ", words)


@pytest.mark.parametrize("digits", [[5, 6, 7, 8, 12], [5, 5, 6, 7, 8], [-1, 6, 7, 8, 9], [5, 6, 7, 8, True], "5-9"],
                         ids=["12", "repeated", "negative", "bool", "text"])
def test_digits_recorded_in_metrics_json_are_checked(digits, tmp_path, capsys):
    path = _five_outputs(tmp_path / "run", digits)
    for argv in (["eval", str(path), "--limit", "20"], ["predict", "--weights", str(path), str(path)]):
        rc, _, err = run(argv, capsys)
        assert rc == 2, err
        one_error_line(err, f"{tmp_path / 'run' / 'metrics.json'}: options.digits must be at least two different "
                            f"digits 0-9, found {digits!r}")


def test_digits_that_contradict_the_runs_record_are_refused(tmp_path, capsys):
    path = _five_outputs(tmp_path / "run", [5, 6, 7, 8, 9])
    rc, _, err = run(["eval", str(path), "--limit", "20", "--digits", "0-4"], capsys)
    assert rc == 2
    one_error_line(err, "--digits 0,1,2,3,4: the run's", "metrics.json records that the model of WEIGHTS",
                   "was trained on digits 5,6,7,8,9")
    rc, out, err = run(["eval", str(path), "--limit", "20", "--digits", "5-9"], capsys)  # the same digits: fine
    assert rc == 0 and "digits 5,6,7,8,9: test accuracy" in out, err
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"options": {"digits": list(range(10))}}))
    rc, _, err = run(["eval", str(path), "--limit", "20", "--digits", "5-9"], capsys)
    assert rc == 2
    one_error_line(err, "records digits 0,1,2,3,4,5,6,7,8,9, 10 of them, but the model has 5 outputs")


def test_concatenate_refuses_an_axis_out_of_range_naming_layer_axis_and_rank():
    x = scratch.Input((4, 4, 2))
    for axis in (5, -5, 4):
        with raises(f"Concatenate 'cat': axis {axis} is out of range for inputs of rank 4",
                    "expected an axis in 1..3 or -3..-1"):
            scratch.Concatenate(axis=axis, name="cat")([x, x])
    assert scratch.Concatenate(axis=-1)([x, x]).shape == (None, 4, 4, 4)


# -- 3. a failed checkpoint write: the run's record never runs ahead of its checkpoint ----------------
def test_a_checkpoint_that_cannot_be_written_leaves_the_previous_epoch_resumable(tmp_path, capsys, monkeypatch):
    import errno

    from cli.engines import ScratchEngine

    original = ScratchEngine.save_checkpoint

    def disk_full_at_epoch_2(self, path, meta):
        if meta["epoch"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, path, meta)

    out = tmp_path / "run"
    monkeypatch.setattr(ScratchEngine, "save_checkpoint", disk_full_at_epoch_2)
    rc, _, err = run(["scratch", "--no-convert", *TINY[:-3], "--epochs", "3", "--no-plots", "--out", str(out)], capsys)
    assert rc == 2
    one_error_line(err, f"could not write the checkpoint {out / 'checkpoint.npz'} after epoch 2 (No space left on "
                        f"device); it still holds 1 epoch(s)", f"python train.py scratch --resume {out} --epochs 3")
    record = json.loads((out / "metrics.json").read_text())
    assert record["status"] == "failed" and record["epochs_completed"] == 1 and record["history"]["epoch"] == [1]
    assert (out / "history.csv").read_text().count("\n") == 2  # the header and epoch 1
    assert not list(out.glob(".tmp-*"))
    monkeypatch.setattr(ScratchEngine, "save_checkpoint", original)
    rc, out_text, err = run(["scratch", "--resume", str(out), "--epochs", "3", "--no-plots", "--no-convert"], capsys)
    assert rc == 0, err
    assert "resuming after epoch 1" in out_text
    assert json.loads((out / "metrics.json").read_text())["history"]["epoch"] == [1, 2, 3]


def test_a_first_checkpoint_that_cannot_be_written_offers_no_resume(tmp_path, capsys, monkeypatch):
    import errno

    from cli.engines import ScratchEngine

    def disk_full(self, path, meta):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "run"
    monkeypatch.setattr(ScratchEngine, "save_checkpoint", disk_full)
    rc, _, err = run(["scratch", "--no-convert", *TINY, "--out", str(out)], capsys)
    assert rc == 2
    one_error_line(err, f"could not write the first checkpoint {out / 'checkpoint.npz'} (No space left on device); "
                        f"nothing was trained")
    monkeypatch.undo()
    rc, _, err = run(["scratch", "--no-convert", *TINY, "--out", str(out)], capsys)
    assert rc == 2
    one_error_line(err, "failed, 0 epoch(s); it is never written over (it has no checkpoint.npz to resume "
                        "from): give a new folder")
    assert "--resume" not in err


# -- 7. a damaged checkpoint is named, not blamed on --lr --------------------------------------------
def test_resume_refuses_a_checkpoint_with_nan_in_its_optimizer_state(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "run"
    rc, _, err = run(["scratch", "--no-convert", *TINY, "--out", str(out)], capsys)
    assert rc == 0, err
    with np.load(out / "checkpoint.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["optimizer/v:dense/bias"] = np.full_like(arrays["optimizer/v:dense/bias"], np.nan)
    np.savez(out / "checkpoint.npz", **arrays)
    rc, _, err = run(["scratch", "--resume", str(out), "--epochs", "2", "--no-plots", "--no-convert"], capsys)
    assert rc == 2
    one_error_line(err, f"--resume: checkpoint {out / 'checkpoint.npz'}: optimizer state 'v:dense/bias' holds 10 NaN "
                        f"or inf value(s) of 10; the checkpoint is damaged")
