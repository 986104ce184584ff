"""``--validation-split FRACTION`` (issue 21, honest result tables): the last fraction of the training
images, taken before shuffling as Keras's ``fit(validation_split=)``, is held out and evaluated after
every epoch, in every command that trains (scratch, keras, compare, transfer), so that an epoch can be
chosen on it instead of on the test set."""

import contextlib
import csv
import io
import json

import numpy as np
import pytest

import scratch
import train
from cli.engines import ScratchEngine
from tests.cli_run import run

SMALL = ["--limit", "300", "--test-limit", "100", "--epochs", "1", "--no-plots"]


def record(folder):
    return json.loads((folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """A scratch run holding out 0.2 of its 300 images, and the same run without the split:
    ``{name: (folder, stdout)}``."""
    folder = tmp_path_factory.mktemp("validation")
    made = {}
    for name, extra in (("split", ["--validation-split", "0.2"]), ("plain", [])):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = train.main(["scratch", *SMALL, "--no-convert", "--out", str(folder / name), *extra])
        assert rc == 0, err.getvalue()
        made[name] = (folder / name, out.getvalue())
    return made


def test_the_last_fraction_is_held_out_and_evaluated_every_epoch(split_run):
    folder, printed = split_run["split"]
    m = record(folder)
    assert m["options"]["validation_split"] == 0.2
    assert (m["train_images"], m["validation_images"]) == (240, 60)  # floor(300 * 0.8), as Keras
    assert "240 training images, 60 held out for validation" in printed
    line = next(s for s in printed.splitlines() if s.startswith("Epoch 1/1"))
    h = m["history"]
    assert f"val loss {h['val_loss'][0]:.4f} - val accuracy {h['val_accuracy'][0]:.4f}" in line
    with open(folder / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["val_accuracy"]) == h["val_accuracy"][0] and float(rows[0]["val_loss"]) == h["val_loss"][0]
    # the held-out images are training images 240..299 (before any shuffling), scored by the epoch's model
    model, _ = scratch.load_checkpoint(folder / "model.npz")
    (x, y), _ = scratch.load_mnist()
    model.compile("sgd")
    loss, acc = ScratchEngine(model).evaluate(scratch.preprocess(x[240:300], model.preprocess, "float32"),
                                              y[240:300].astype(np.int64))
    assert acc == h["val_accuracy"][0] and loss == pytest.approx(h["val_loss"][0], rel=1e-6)


def test_without_the_option_nothing_is_held_out(split_run):
    m, split = record(split_run["plain"][0]), record(split_run["split"][0])
    assert m["train_images"] == 300 and m["validation_images"] == 0 and "val_loss" not in m["history"]
    assert m["history"]["loss"] != split["history"]["loss"]  # the split run trained on fewer images
    assert "val loss" not in split_run["plain"][1]


def test_keras_and_compare_hold_out_the_same_images(split_run, tmp_path, capsys):
    expected = record(split_run["split"][0])["history"]
    rc, out, err = run(["keras", *SMALL, "--deterministic", "--validation-split", "0.2", "--out",
                        str(tmp_path / "k")], capsys)
    assert rc == 0, err
    k = record(tmp_path / "k")
    assert (k["train_images"], k["validation_images"]) == (240, 60)
    assert k["history"]["val_accuracy"] == expected["val_accuracy"]
    np.testing.assert_allclose(k["history"]["val_loss"], expected["val_loss"], rtol=1e-4)
    rc, out, err = run(["compare", *SMALL, "--validation-split", "0.2", "--out", str(tmp_path / "c")], capsys)
    assert rc == 0, err
    c = record(tmp_path / "c")
    assert c["validation_images"] == 60 and "val acc" in out
    for name in ("scratch", "keras"):
        assert c["histories"][name]["val_accuracy"] == expected["val_accuracy"], name
    with open(tmp_path / "c" / "history_keras.csv") as f:
        assert "val_accuracy" in f.readline()


def test_transfer_holds_out_in_both_phases(split_run, tmp_path, capsys):
    source = split_run["plain"][0] / "model.npz"
    rc, out, err = run(["transfer", "--source", str(source), "--digits", "5-9", *SMALL, "--no-convert",
                        "--validation-split", "0.25", "--fine-tune", "1", "--out", str(tmp_path / "t")], capsys)
    assert rc == 0, err
    for folder in (tmp_path / "t", tmp_path / "t" / "fine_tune"):
        m = record(folder)
        assert (m["train_images"], m["validation_images"]) == (225, 75), folder
        assert len(m["history"]["val_accuracy"]) == 1
    assert "--validation-split 0.25" in record(tmp_path / "t")["transfer"]["same_run_in_both_engines"]


def test_resume_keeps_the_split(tmp_path, capsys):
    folder = tmp_path / "r"
    rc, _, err = run(["scratch", *SMALL, "--no-convert", "--validation-split", "0.2", "--out", str(folder)], capsys)
    assert rc == 0, err
    rc, _, err = run(["scratch", "--resume", str(folder), "--epochs", "2", "--validation-split", "0.3"], capsys)
    assert rc == 2
    assert err.strip() == ("error: --resume keeps the run's options: --validation-split was 0.2, received 0.3 "
                           "(only --epochs, --data and --threads may change)")
    rc, out, err = run(["scratch", "--resume", str(folder), "--epochs", "2", "--no-plots", "--no-convert"], capsys)
    assert rc == 0, err
    m = record(folder)
    assert m["validation_images"] == 60 and len(m["history"]["val_accuracy"]) == 2
    assert "val accuracy" in out.splitlines()[-2]


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "nan", "half"])
def test_the_fraction_must_lie_between_0_and_1(value, tmp_path, capsys):
    rc, out, err = run(["scratch", *SMALL, "--validation-split", value, "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"argument --validation-split: must be a number between 0 and 1 (both excluded), received {value!r}" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("limit, fraction, split", [("1", "0.5", "0 would train and 1 validate"),
                                                    ("10", "1e-17", "10 would train and 0 validate")])
def test_the_split_must_leave_images_on_both_sides(limit, fraction, split, tmp_path, capsys):
    rc, out, err = run(["scratch", "--limit", limit, "--epochs", "1", "--no-plots", "--validation-split", fraction,
                        "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: --validation-split {float(fraction)}: expected a split leaving at least one "
                          f"training and one validation image, received {limit} training image(s): {split}")
    assert not (tmp_path / "x").exists()
