"""Nothing silently wrong, nothing lost (issue 13): run folders never written over, one run per
folder, resume only from the run's own checkpoint, named data sources, SIGTERM, leftovers, and
the mistakes that gave tracebacks or misleading messages, each now one ``error:`` line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scratch
from cli import runs
from tests.cli_run import run

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--limit", "64", "--test-limit", "64", "--batch-size", "32", "--no-plots", "--no-convert"]



def one_error_line(err, *fragments):
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file() and p.name != runs.LOCK}


@pytest.fixture(scope="module")
def blog_run(tmp_path_factory):
    """A finished one-epoch scratch blog run (in a child: nothing of it stays in this process)."""
    out = tmp_path_factory.mktemp("runs") / "blog"
    proc = subprocess.run([sys.executable, "train.py", "scratch", "--epochs", "1", "--out", str(out), *TINY],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def copy_run(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(runs.LOCK))
    return dst


# -- 7. --out never writes over a run ----------------------------------------------------------
@pytest.mark.parametrize("command", ["scratch", "compare"])
def test_out_on_an_existing_run_is_refused_and_nothing_changes(blog_run, tmp_path, capsys, command):
    folder = copy_run(blog_run, tmp_path / "existing")
    before = snapshot(folder)
    rc, _, err = run([command, "--epochs", "1", "--out", str(folder), *TINY[:-1]], capsys)
    assert rc == 2
    one_error_line(err, f"--out {folder}: the folder already holds a scratch run of 'blog', complete, 1 epoch(s)",
                   f"python train.py scratch --resume {folder} --epochs N", "new folder")
    assert snapshot(folder) == before


# -- 8. one run per folder; a killed run leaves no stuck lock ---------------------------------------
def test_a_second_run_into_a_held_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "busy"
    folder.mkdir()
    held = runs.FolderLock(folder)
    try:
        rc, _, err = run(["scratch", "--epochs", "1", "--out", str(folder), *TINY], capsys)
        assert rc == 2
        one_error_line(err, f"--out {folder}: another run (process {os.getpid()}) is using this folder")
        assert not (folder / runs.METRICS).exists()
    finally:
        held.release()


def test_a_killed_run_leaves_no_stuck_lock(tmp_path):
    folder = tmp_path / "killed"
    folder.mkdir()
    code = f"from cli import runs; import time; lock = runs.FolderLock({str(folder)!r}); print('held', flush=True); " \
           f"time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="another run"):
            runs.FolderLock(folder)
    finally:
        child.kill()
        child.wait()
    runs.FolderLock(folder).release()  # the kernel dropped the dead process's lock


# -- 3. --resume only from the run's own checkpoint -----------------------------------------------
def test_resume_refuses_another_architectures_checkpoint(blog_run, tmp_path, capsys):
    lenet = tmp_path / "lenet"
    rc, _, err = run(["scratch", "--arch", "lenet", "--epochs", "1", "--out", str(lenet), *TINY], capsys)
    assert rc == 0, err
    folder = copy_run(blog_run, tmp_path / "blog")
    shutil.copy(lenet / runs.CHECKPOINT, folder / runs.CHECKPOINT)
    rc, _, err = run(["scratch", "--resume", str(folder), "--epochs", "2"], capsys)
    assert rc == 2
    one_error_line(err, "checkpoint.npz is not this run's checkpoint", "architecture 'lenet' (Conv2D,",
                   "in checkpoint.npz, 'blog' (Conv2D, MaxPooling2D, Flatten, Dense; preprocess 'center') in metrics.json")


def test_resume_refuses_another_runs_checkpoint_of_the_same_architecture(blog_run, tmp_path, capsys):
    other = tmp_path / "other"
    rc, _, err = run(["scratch", "--epochs", "1", "--out", str(other), *TINY], capsys)
    assert rc == 0, err
    folder = copy_run(blog_run, tmp_path / "blog")
    shutil.copy(other / runs.CHECKPOINT, folder / runs.CHECKPOINT)
    rc, _, err = run(["scratch", "--resume", str(folder), "--epochs", "2"], capsys)
    one_error_line(err, "is not this run's checkpoint: run id")
    # the run's own checkpoint resumes; a leftover temporary file of a killed run is cleaned up
    shutil.copy(blog_run / runs.CHECKPOINT, folder / runs.CHECKPOINT)
    (folder / ".tmp-abc123metrics.json").write_text("half-written")
    rc, out, err = run(["scratch", "--resume", str(folder), "--epochs", "2", "--no-convert"], capsys)
    assert rc == 0, err
    assert not list(folder.glob(".tmp-*"))
    assert json.loads((folder / runs.METRICS).read_text())["epochs_completed"] == 2


def test_resume_checks_the_optimizer_and_dtype_of_an_old_checkpoint(blog_run, tmp_path, capsys):
    """A checkpoint without the run's identity (written before this) is still checked by its content."""
    folder = copy_run(blog_run, tmp_path / "blog")
    model, meta = scratch.load_checkpoint(folder / runs.CHECKPOINT)
    meta.pop("run")
    model64 = scratch.Sequential.from_config(model.get_config(), dtype="float64")
    model64.set_weights(model.get_weights())
    model64.compile(scratch.SGD(0.1))
    scratch.save_checkpoint(folder / runs.CHECKPOINT, model64, meta=meta)
    rc, _, err = run(["scratch", "--resume", str(folder), "--epochs", "2"], capsys)
    one_error_line(err, "dtype float64 in checkpoint.npz, float32 in metrics.json",
                   "optimizer SGD", "Adam {'learning_rate': 0.005")
    # the run's own old checkpoint, in a folder recorded before run ids: resumes
    scratch.save_checkpoint(folder / runs.CHECKPOINT, model, meta=meta)
    record = json.loads((folder / runs.METRICS).read_text())
    del record["run_id"]
    (folder / runs.METRICS).write_text(json.dumps(record))
    rc, _, err = run(["scratch", "--resume", str(folder), "--epochs", "2", "--no-convert"], capsys)
    assert rc == 0, err


# -- 4. the data file: named sources must exist; metrics.json records what was used ------------------
def test_metrics_json_records_the_data_file_and_its_checksum(blog_run):
    record = json.loads((blog_run / runs.METRICS).read_text())
    used = Path(record["data"]["file"])
    assert used.is_file() and record["data"]["sha256"] == scratch.data.file_sha256(used)
    assert record["run_id"]


def test_a_missing_mnist_path_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    rc, _, err = run(["scratch", "--out", str(tmp_path / "r"), *TINY], capsys)
    one_error_line(err, f"MNIST file not found at {tmp_path / 'nowhere.npz'} ($MNIST_PATH)")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def bad_labels(tmp_path_factory):
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist()
    y_train = y_train.copy()
    y_train[40] = 11
    path = tmp_path_factory.mktemp("data") / "bad-labels.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.mark.parametrize("argv", [["scratch"], ["keras"], ["eval", "{blog}/model.npz"]])
def test_out_of_range_labels_are_one_error_naming_the_file(argv, bad_labels, blog_run, tmp_path, capsys):
    argv = [a.replace("{blog}", str(blog_run)) for a in argv]
    extra = ["--out", str(tmp_path / "r"), *TINY[:-1]] if argv[0] != "eval" else []
    rc, _, err = run([*argv, "--data", str(bad_labels), *extra], capsys)
    assert rc == 2
    one_error_line(err, f"{bad_labels}: array 'y_train' has 1 label(s) outside 0..9, the first 11 at index 40")


# -- 9. SIGTERM is Ctrl-C: the run says so and records it ---------------------------------------
def test_sigterm_stops_the_run_like_ctrl_c(tmp_path):
    out = tmp_path / "term"
    child = subprocess.Popen([sys.executable, "train.py", "scratch", "--epochs", "50", "--limit", "2000",
                              "--test-limit", "64", "--out", str(out), "--no-plots", "--no-convert"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / runs.METRICS).exists() and time.time() < deadline and child.poll() is None:
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 143, err
    assert "terminated (SIGTERM) in epoch" in err and "resume with: python train.py scratch --resume" in err
    assert json.loads((out / runs.METRICS).read_text())["status"] == "interrupted"


# -- misleading messages and tracebacks, now one error line ------------------------------------------
def test_command_line_mistakes(blog_run, tmp_path, capsys):
    cases = [
        (["scratch", "--resume", str(blog_run / runs.METRICS)], "is a file; give the run's folder"),
        (["scratch", "--resume", str(blog_run), "--out", str(tmp_path / "x")], "a resumed run continues in its own"),
        (["scratch", "--test-limit", "20000", "--out", str(tmp_path / "y")], "--test-limit 20000: MNIST has 10000"),
        (["eval", str(blog_run / "model.npz"), "--limit", "20000"], "--limit 20000: MNIST has 10000 test images"),
    ]
    for argv, words in cases:
        rc, _, err = run(argv, capsys)
        assert rc == 2
        one_error_line(err, words)
    broken = copy_run(blog_run, tmp_path / "broken")
    record = json.loads((broken / runs.METRICS).read_text())
    del record["options"]
    (broken / runs.METRICS).write_text(json.dumps(record))
    rc, _, err = run(["scratch", "--resume", str(broken)], capsys)
    one_error_line(err, "metrics.json is not a complete run record (missing or malformed: options)")


def test_predict_save_input_names_its_option_and_keeps_every_input(blog_run, tmp_path, capsys):
    (_, _), (x_test, _) = scratch.load_mnist()
    for sub, i in (("a", 0), ("b", 1)):
        (tmp_path / sub).mkdir()
        Image.fromarray(x_test[i]).save(tmp_path / sub / "digit.png")
    Image.fromarray(x_test[2]).save(tmp_path / "a" / "digit.jpg")
    inputs = [str(tmp_path / "a" / "digit.png"), str(tmp_path / "b" / "digit.png"), str(tmp_path / "a" / "digit.jpg")]
    (tmp_path / "file").write_text("")
    rc, _, err = run(["predict", "--weights", str(blog_run / "model.npz"), *inputs, "--save-input",
                      str(tmp_path / "file")], capsys)
    one_error_line(err, f"--save-input {tmp_path / 'file'}: exists and is not a folder")
    rc, out, err = run(["predict", "--weights", str(blog_run / "model.npz"), *inputs, "--save-input",
                        str(tmp_path / "saved")], capsys)
    assert rc == 0, err
    saved = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert saved == ["digit-2_28x28.png", "digit-3_28x28.png", "digit_28x28.png"]
    arrays = [np.asarray(Image.open(tmp_path / "saved" / n)) for n in ("digit_28x28.png", "digit-2_28x28.png")]
    assert not np.array_equal(*arrays)


def test_checkpoint_with_unknown_optimizer_or_odd_version_is_one_clear_error(blog_run, tmp_path):
    with np.load(blog_run / runs.CHECKPOINT) as f:
        arrays = {k: f[k] for k in f.files}
    for key, value, words in (("optimizer", json.dumps({"class_name": "Adagrad", "config": {}}),
                               "unusable optimizer"),
                              ("format_version", "one", "format_version must be an integer, found 'one'")):
        path = tmp_path / f"{key}.npz"
        np.savez(path, **{**arrays, key: np.array(value)})
        with pytest.raises(ValueError, match=f"checkpoint {path}: {words}"):
            scratch.load_checkpoint(path)


def test_python_api_mistakes_are_value_errors_naming_the_problem():
    dense = scratch.Dense(3, name="d")
    with pytest.raises(ValueError, match="Dense 'd': backward called before forward"):
        dense.backward(np.ones((1, 3), np.float32))
    assert not hasattr(dense, "_cache")
    model = scratch.build_model("blog")
    model.compile("sgd")
    empty = np.zeros((0, 28, 28, 1), np.float32)
    for call in (lambda: model.fit(empty, np.zeros(0, np.int64), verbose=0),
                 lambda: model.evaluate(empty, np.zeros(0, np.int64))):
        with pytest.raises(ValueError, match=r"received 0 images \(shape \(0, 28, 28, 1\)\)"):
            call()
    for arch in ("blog", "lenet"):  # forward itself, in both modes (lenet's tiled route once failed inside a reshape)
        net = scratch.build_model(arch)
        for training in (False, True):
            with pytest.raises(ValueError, match=r"Sequential.forward: received 0 images \(shapes \[\(0, 28, 28, 1\)\]\)"):
                net.forward(empty, training=training)
    assert model.predict(empty).shape == (0, 10)  # predict: an empty output
    with pytest.raises(ValueError, match=r"one image of shape \(28, 28, 1\) without the batch axis; pass x\[None\]"):
        model.predict(np.zeros((28, 28, 1), np.float32))
    with pytest.raises(ValueError, match="backward called before the loss was computed"):
        scratch.SparseCategoricalCrossentropy().backward()
