"""Nothing silently wrong, nothing lost (2) (issue 21): ``--out`` never overwrites what a folder holds, the
benchmark's smoke run keeps the committed results, and the mistakes that gave tracebacks or were silently
accepted are one ``error:`` line (or a ``ValueError`` naming what and where)."""

from pathlib import Path

import pytest

import scratch
from tests.cli_run import run

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
    import scratch.model

    written = []
    monkeypatch.setattr(scratch.model, "atomic_write", lambda path, write: written.append(Path(path)))
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
