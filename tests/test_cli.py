"""The command line: options, artefacts, resume, errors, eval and predict (issue 5).

Runs are small (``--limit``, ``--test-limit``, one or two epochs). Most call ``train.main``
in this process; the scratch run that must not import TensorFlow runs in a child process.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scratch
from cli import images
from cli.engines import ScratchEngine
from tests.cli_run import run

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--limit", "320", "--test-limit", "500", "--batch-size", "32"]
QUIET = ["--no-plots", "--no-convert"]
PICTURE_SIZES = {  # width x height in pixels: figure size (inches) x 100 dpi, as cli.plots draws them
    "curves.png": (1000, 400),
    "filters.png": (1120, 200),      # blog: 8 filters in one row, and the colour bar
    "feature_maps.png": (1300, 520),  # the input and 8 maps, 2 rows of 5, a colour bar each
    "confusion.png": (640, 560),
    "mistakes.png": (1040, 660),     # 32 mistakes, 4 rows of 8
}



def weights_of(path):
    return scratch.load_checkpoint(path)[0].get_weights()


def same_weights(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


# -- a complete scratch run, in a child process ---------------------------------------------------
@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory):
    """``python train.py scratch`` with pictures and the Keras conversion, checking in the same
    process that TensorFlow was never imported."""
    out = tmp_path_factory.mktemp("scratch_run")
    code = ("import sys, train\n"
            f"rc = train.main(['scratch', '--epochs', '2', '--out', {str(out)!r}, '--limit', '640', "
            "'--test-limit', '1000'])\n"
            "print('TF_IMPORTED', 'tensorflow' in sys.modules)\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_scratch_command_never_imports_tensorflow(scratch_run):
    _, stdout = scratch_run
    assert "TF_IMPORTED False" in stdout


def test_run_prints_an_epoch_summary_and_a_closing_line(scratch_run):
    _, stdout = scratch_run
    lines = stdout.splitlines()
    assert sum(line.startswith("Epoch ") and "images/s" in line and "test accuracy" in line for line in lines) == 2
    assert any(line.startswith("scratch blog: test accuracy") and "wall time" in line for line in lines)


def test_metrics_json_records_the_run(scratch_run):
    out, _ = scratch_run
    m = json.loads((out / "metrics.json").read_text())
    assert m["engine"] == "scratch" and m["arch"] == "blog" and m["status"] == "complete"
    assert m["architecture"] == scratch.get_architecture("blog")
    assert m["options"] == {"arch": "blog", "epochs": 2, "batch_size": 32, "optimizer": "adam", "lr": 0.005,
                            "seed": 0, "limit": 640, "test_limit": 1000, "dtype": "float32", "data": None,
                            "init_from": None, "threads": 1, "weight_decay": None, "clipnorm": None,
                            "global_clipnorm": None, "clipvalue": None, "label_smoothing": None, "digits": None,
                            "augment": False, "rotation": None, "shift": None, "zoom": None,
                            "preprocess": None, "from_logits": None, "validation_split": None}
    assert m["seed"] == 0 and m["versions"]["numpy"] == np.__version__ and "tensorflow" not in m["versions"]
    h = m["history"]
    assert h["epoch"] == [1, 2]
    for key in ("loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_s"):
        assert len(h[key]) == 2 and all(np.isfinite(h[key])), key
    assert h["loss"][1] < h["loss"][0]
    assert m["test_accuracy"] == h["test_accuracy"][-1] and m["test_loss"] == pytest.approx(h["test_loss"][-1])
    assert m["train_images"] == 640 and m["test_images"] == 1000 and m["validation_images"] == 0
    assert m["train_images_per_s"] == pytest.approx(640 * 2 / sum(h["seconds"]))
    assert m["wall_time_s"] > sum(h["seconds"])
    assert set(m["files"]) == {"model.npz", "model.weights.h5", *PICTURE_SIZES}


def test_history_csv_has_one_row_per_epoch_matching_metrics(scratch_run):
    out, _ = scratch_run
    rows = list(csv.DictReader((out / "history.csv").open()))
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [int(r["epoch"]) for r in rows] == history["epoch"]
    for key in ("loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_s"):
        assert [float(r[key]) for r in rows] == history[key]


@pytest.mark.parametrize("name", sorted(PICTURE_SIZES))
def test_pictures_are_readable_pngs_of_the_right_size(scratch_run, name):
    out, _ = scratch_run
    with Image.open(out / name) as img:
        assert img.format == "PNG"
        assert img.size == PICTURE_SIZES[name]
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # something is drawn


def test_weights_saved_for_both_engines_are_the_same(scratch_run):
    import keras_ref  # a hard dependency (requirements.txt): a broken import must fail, not skip
    out, _ = scratch_run
    own = scratch.load_checkpoint(out / "model.npz")[0]
    assert own.optimizer is not None and own.optimizer.iterations == 2 * 20
    converted = keras_ref.load_weights_file(out / "model.weights.h5", arch="blog")
    assert same_weights(own.get_weights(), converted.get_weights())


def test_eval_gives_the_same_accuracy_with_both_engines(scratch_run, capsys):
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    out, _ = scratch_run
    results = {}
    for weights in ("model.npz", "model.weights.h5"):
        for engine in ("scratch", "keras"):
            rc, stdout, _ = run(["eval", str(out / weights), "--engine", engine, "--arch", "blog",
                                 "--limit", "2000"], capsys)
            assert rc == 0
            results[weights, engine] = stdout.split("test accuracy ")[1].split(" ")[:2]
    assert len(set(map(tuple, results.values()))) == 1, results
    assert results["model.npz", "scratch"][1] != "(0/2000)"


# -- options, determinism and resume ----------------------------------------------------------------
def test_options_reach_the_model_and_the_record(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = run(["scratch", "--optimizer", "nesterov", "--lr", "0.02", "--batch-size", "64", "--seed", "3",
                      "--dtype", "float64", "--epochs", "1", "--limit", "128", "--test-limit", "100",
                      "--out", str(out), *QUIET], capsys)
    assert rc == 0, err
    model = scratch.load_checkpoint(out / "model.npz")[0]
    assert model.dtype == np.float64 and all(w.dtype == np.float64 for w in model.get_weights())
    assert isinstance(model.optimizer, scratch.SGD)
    assert model.optimizer.get_config() == {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True,
                                            "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                                            "clipvalue": None}
    assert model.optimizer.iterations == 2  # 128 images / 64
    opts = json.loads((out / "metrics.json").read_text())["options"]
    assert (opts["optimizer"], opts["lr"], opts["batch_size"], opts["seed"], opts["dtype"]) == \
        ("nesterov", 0.02, 64, 3, "float64")


def test_default_output_folder_is_new_under_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        rc, _, err = run(["scratch", "--epochs", "1", "--limit", "64", "--test-limit", "64", *QUIET], capsys)
        assert rc == 0, err
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.endswith("-scratch-blog") or "-scratch-blog-" in f.name
                                     for f in folders)


def test_same_seed_same_numbers_and_another_seed_others(tmp_path, capsys):
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        rc, _, err = run(["scratch", "--epochs", "1", "--seed", seed, "--out", str(tmp_path / name),
                          *SMALL, *QUIET], capsys)
        assert rc == 0, err
    hist = {n: json.loads((tmp_path / n / "metrics.json").read_text())["history"] for n in "abc"}
    assert hist["a"]["loss"] == hist["b"]["loss"] and hist["a"]["test_loss"] == hist["b"]["test_loss"]
    assert same_weights(weights_of(tmp_path / "a" / "model.npz"), weights_of(tmp_path / "b" / "model.npz"))
    assert hist["a"]["loss"] != hist["c"]["loss"]


def interrupt_at(monkeypatch, epoch_step):
    """Make the scratch engine raise KeyboardInterrupt (as Ctrl-C does) at optimizer step ``epoch_step``."""
    original = ScratchEngine.train_batch

    def train_batch(self, x, y):
        if self.step == epoch_step:
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(ScratchEngine, "train_batch", train_batch)


def test_ctrl_c_then_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    """lenet (with Dropout: its generator state is part of the checkpoint), Adam state, 3 epochs."""
    common = ["--arch", "lenet", "--epochs", "3", "--limit", "96", "--test-limit", "32", *QUIET]
    rc, _, err = run(["scratch", "--out", str(tmp_path / "whole"), *common], capsys)
    assert rc == 0, err
    interrupt_at(monkeypatch, 3 + 1)  # 3 steps per epoch: in the middle of epoch 2
    cut = tmp_path / "cut"
    rc, _, err = run(["scratch", "--out", str(cut), *common], capsys)
    assert rc == 130
    assert f"resume with: python train.py scratch --resume {cut}" in err  # outside the working folder: absolute
    assert "1 completed epoch(s)" in err and "Traceback" not in err
    assert json.loads((cut / "metrics.json").read_text())["status"] == "interrupted"
    monkeypatch.undo()
    rc, stdout, err = run(["scratch", "--resume", str(cut)], capsys)
    assert rc == 0, err
    assert "resuming after epoch 1" in stdout
    assert same_weights(weights_of(tmp_path / "whole" / "model.npz"), weights_of(cut / "model.npz"))
    whole, resumed = (json.loads((p / "metrics.json").read_text()) for p in (tmp_path / "whole", cut))
    for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
        assert whole["history"][key] == resumed["history"][key]
    assert resumed["status"] == "complete" and resumed["options"] == whole["options"]


def test_resume_can_extend_the_epochs_but_not_change_other_options(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = run(["scratch", "--epochs", "1", "--out", str(out), *SMALL, *QUIET], capsys)
    assert rc == 0, err
    rc, _, err = run(["scratch", "--resume", str(out), "--lr", "0.1"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--lr" in err
    rc, _, err = run(["keras", "--resume", str(out)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "python train.py scratch --resume" in err
    rc, _, err = run(["scratch", "--resume", str(out), "--epochs", "2"], capsys)
    assert rc == 0, err
    assert json.loads((out / "metrics.json").read_text())["history"]["epoch"] == [1, 2]


def test_init_from_starts_from_the_given_weights_of_either_engine(scratch_run, tmp_path, capsys, monkeypatch):
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    source, _ = scratch_run
    interrupt_at(monkeypatch, 0)  # stop before the first step: the checkpoint holds the initial weights
    for name in ("model.npz", "model.weights.h5"):
        out = tmp_path / name
        rc, _, err = run(["scratch", "--init-from", str(source / name), "--out", str(out), *SMALL, *QUIET], capsys)
        assert rc == 130, err
        assert same_weights(weights_of(out / "checkpoint.npz"), weights_of(source / "model.npz"))


# -- the Keras engine and compare -----------------------------------------------------------------
def test_keras_run_matches_scratch_resumes_bit_identical_and_saves_both_formats(tmp_path, capsys):
    import keras_ref  # a hard dependency (requirements.txt): a broken import must fail, not skip
    common = ["--epochs", "2", "--limit", "128", "--test-limit", "200", "--no-plots"]
    for name, extra in (("scratch", ["--no-convert"]), ("keras", ["--deterministic"])):
        rc, _, err = run([name, "--out", str(tmp_path / name), *common, *extra], capsys)
        assert rc == 0, err
    m_s, m_k = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("scratch", "keras"))
    assert m_k["engine"] == "keras" and m_k["versions"]["tensorflow"] and m_k["versions"]["keras"]
    assert m_k["deterministic"] is True and m_k["tensorflow"] == {"onednn": False, "op_determinism": True}
    np.testing.assert_allclose(m_k["history"]["loss"], m_s["history"]["loss"], rtol=1e-4)
    assert {"model.npz", "model.weights.h5", "model.keras"} <= set(m_k["files"])
    npz = weights_of(tmp_path / "keras" / "model.npz")
    for other in ("model.weights.h5", "model.keras"):
        loaded = keras_ref.load_weights_file(tmp_path / "keras" / other, arch="blog").get_weights()
        assert same_weights(npz, loaded)
    # interrupted after one epoch (the run simply had --epochs 1), then resumed to two
    rc, _, err = run(["keras", "--deterministic", "--out", str(tmp_path / "cut"), *common[2:], "--epochs", "1"],
                     capsys)
    assert rc == 0, err
    rc, _, err = run(["keras", "--resume", str(tmp_path / "cut"), "--epochs", "2"], capsys)  # stays deterministic
    assert rc == 0, err
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["deterministic"] is True
    assert same_weights(weights_of(tmp_path / "cut" / "model.npz"), npz)
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["history"]["loss"] == m_k["history"]["loss"]


def test_keras_resume_restores_the_dropout_generators(tmp_path, capsys):
    """lenet has Dropout: Keras's .keras files do not keep its seed state, our checkpoint does."""
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    common = ["--arch", "lenet", "--limit", "128", "--test-limit", "64", "--batch-size", "64", "--no-plots",
              "--deterministic"]
    for name, epochs in (("whole", "2"), ("cut", "1")):
        rc, _, err = run(["keras", "--out", str(tmp_path / name), "--epochs", epochs, *common], capsys)
        assert rc == 0, err
    rc, _, err = run(["keras", "--resume", str(tmp_path / "cut"), "--epochs", "2", "--deterministic"], capsys)
    assert rc == 0, err
    assert same_weights(weights_of(tmp_path / "whole" / "model.npz"), weights_of(tmp_path / "cut" / "model.npz"))


def test_compare_reports_both_engines_and_their_weight_difference(tmp_path, capsys):
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    out = tmp_path / "cmp"
    rc, stdout, err = run(["compare", "--epochs", "1", "--limit", "128", "--test-limit", "200", "--out", str(out)],
                          capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["histories"]) == {"scratch", "keras"}
    assert m["deterministic"] is True and m["tensorflow"] == {"onednn": False, "op_determinism": True}
    assert m["max_weight_difference"][0] == 0  # the same initial weights
    assert 0 < m["max_weight_difference"][1] < 1e-4  # float32 rounding only, after 4 Adam steps
    np.testing.assert_allclose(m["histories"]["scratch"]["loss"], m["histories"]["keras"]["loss"], rtol=1e-5)
    assert "max |dw|" in stdout and "largest weight difference after 1 epoch(s)" in stdout
    with Image.open(out / "compare.png") as img:
        assert img.size == (1400, 400)


# -- predict ------------------------------------------------------------------------------------------
def synthetic_digits(x, folder):
    """Two files per MNIST digit: a dark-on-light PNG scaled x10 on a larger canvas, and a
    light-on-dark JPEG scaled x6 off centre."""
    paths = []
    for i, digit in enumerate(x):
        big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (400, 330), 235)
        canvas.paste(big, (90, 20))
        paths.append(folder / f"digit{i}.png")
        canvas.save(paths[-1])
        small = Image.fromarray(digit).resize((168, 168), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (260, 200), (8, 8, 8))
        canvas.paste(small.convert("RGB"), (10, 25))
        paths.append(folder / f"digit{i}.jpg")
        canvas.save(paths[-1], quality=90)
    return paths


def test_to_mnist_recovers_an_mnist_digit_from_a_large_inverted_picture(tmp_path):
    (_, _), (x_test, _) = scratch.load_mnist()
    for path in synthetic_digits(x_test[:10], tmp_path):
        got = images.load_digit(path).astype(np.float64)
        want = x_test[int(path.stem[5:])].astype(np.float64)
        assert got.shape == (28, 28)
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.8, path.name


def test_transparent_background_is_filled_opposite_the_ink(tmp_path):
    (_, _), (x_test, _) = scratch.load_mnist()
    rgba = np.zeros((112, 112, 4), dtype=np.uint8)  # black ink, alpha = the digit, transparent elsewhere
    rgba[..., 3] = np.asarray(Image.fromarray(x_test[0]).resize((112, 112), Image.Resampling.BILINEAR))
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ink.png")
    got = images.load_digit(tmp_path / "ink.png").astype(np.float64)
    assert np.corrcoef(got.ravel(), x_test[0].astype(np.float64).ravel())[0, 1] > 0.8


def test_predict_classifies_synthetic_png_and_jpeg_digits(scratch_run, tmp_path, capsys):
    out, _ = scratch_run
    model = scratch.load_checkpoint(out / "model.npz")[0]
    (_, _), (x_test, y_test) = scratch.load_mnist()
    logits = model.predict(scratch.preprocess(x_test[:200], "center"))
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    confident = np.flatnonzero((prob.max(1) > 0.95) & (logits.argmax(1) == y_test[:200]))[:6]
    assert len(confident) >= 3
    paths = synthetic_digits(x_test[confident], tmp_path)
    rc, stdout, err = run(["predict", "--weights", str(out / "model.npz"), *map(str, paths)], capsys)
    assert rc == 0, err
    lines = stdout.splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines):
        want = y_test[confident[int(path.stem[5:])]]
        assert line.startswith(f"{path}: {want} (")
        probs = [float(t.split(":")[1]) for t in line.split()[-10:]]
        assert sum(probs) == pytest.approx(1, abs=6e-3) and probs[want] == max(probs)


# -- user mistakes: one line on stderr, non-zero exit, no traceback -------------------------------------
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "corrupt.npz").write_bytes(b"this is not a zip file")
    (folder / "image.png").write_text("not an image")
    (folder / "arch.json").write_text('{"input_shape": [28, 28, 1]')
    (folder / "w.weights.h5").write_bytes(b"")
    model = scratch.build_model("blog", seed=0)
    model.save(folder / "blog.npz")
    return folder


ERRORS = {  # argv (with {bad} for the folder above) -> words the one line must contain
    "missing data": (["scratch", "--data", "{bad}/nowhere.npz"], "not found"),
    "corrupt data": (["scratch", "--data", "{bad}/corrupt.npz"], "not a readable .npz"),
    "unknown arch": (["scratch", "--arch", "resnet"], "unknown architecture 'resnet'"),
    "broken arch file": (["scratch", "--arch", "{bad}/arch.json"], "not valid JSON"),
    "epochs zero": (["scratch", "--epochs", "0"], "--epochs: must be a positive integer"),
    "batch not int": (["keras", "--batch-size", "big"], "--batch-size: must be a positive integer"),
    "negative lr": (["scratch", "--lr", "-1"], "--lr: must be a positive"),
    "unknown optimizer": (["scratch", "--optimizer", "adagrad"], "invalid choice: 'adagrad'"),
    "bad dtype": (["compare", "--dtype", "float16"], "invalid choice: 'float16'"),
    "limit too large": (["scratch", "--limit", "70000"], "MNIST has 60000"),
    "weights do not fit": (["eval", "{bad}/blog.npz", "--arch", "lenet"], "do not fit architecture 'lenet'"),
    "init weights do not fit": (["scratch", "--arch", "lenet", "--init-from", "{bad}/blog.npz"], "do not fit"),
    "missing weights": (["eval", "{bad}/none.npz"], "file not found"),
    "h5 without arch": (["eval", "{bad}/w.weights.h5"], "give --arch"),
    "unknown weights type": (["eval", "{bad}/image.png"], "unknown file type"),
    "not a run folder": (["scratch", "--resume", "{bad}"], "not a run folder"),
    "unreadable image": (["predict", "--weights", "{bad}/blog.npz", "{bad}/image.png"], "not a readable PNG/JPEG"),
    "missing image": (["predict", "--weights", "{bad}/blog.npz", "{bad}/none.png"], "file not found"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_user_mistakes_give_one_clear_line(case, bad_files, tmp_path, capsys):
    argv, words = ERRORS[case]
    argv = [a.replace("{bad}", str(bad_files)) for a in argv]
    if argv[0] in ("scratch", "keras", "compare") and "--resume" not in argv:
        argv = argv[:1] + ["--out", str(tmp_path / "out"), *SMALL, *QUIET[:1]] + argv[1:]
    rc, _, err = run(argv, capsys)
    assert rc not in (0, None)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert words in err, err


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    rc, _, err = run(["scratch", "--optimizer", "sgd", "--lr", "1e30", "--out", str(out), *SMALL, *QUIET], capsys)
    assert rc == 1
    assert err.count("\n") == 1 and "Traceback" not in err and "Warning" not in err, err
    assert "at training step 2 (epoch 1, batch 2/10)" in err and "checkpoint.npz" in err
    model, meta = scratch.load_checkpoint(out / "checkpoint.npz")
    assert meta["epoch"] == 0 and all(np.isfinite(w).all() for w in model.get_weights())
    assert json.loads((out / "metrics.json").read_text())["status"] == "diverged"


def test_progress_bar_shows_steps_elapsed_time_eta_and_loss():
    import io

    from cli.progress import progress_bar

    stream = io.StringIO()  # not a terminal: whole lines, one per update when log_interval allows
    with progress_bar(40, "Epoch 1/3", stream=stream, log_interval=0.0) as bar:
        for _ in range(2):
            bar.set_postfix_str("loss 0.5000", refresh=False)
            bar.update(10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()  # 0/40 when it starts, then 10/40 and 20/40
    assert lines[1].startswith("Epoch 1/3:  25%|") and "| 10/40 [00:00<00:00, " in lines[1]  # elapsed<ETA
    assert lines[2].endswith("step/s, loss 0.5000]") and "| 20/40 [" in lines[2]
    quiet = io.StringIO()  # the default: a log gets its first line after 10 s, so a short epoch writes none
    with progress_bar(40, "Epoch 1/3", stream=quiet) as bar:
        bar.update(40)
    assert quiet.getvalue() == ""
