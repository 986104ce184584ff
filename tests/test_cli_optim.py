"""The command line's optimizer and loss options (issue 10): --optimizer rmsprop/adamw,
--weight-decay, --clipnorm, --global-clipnorm, --clipvalue, --label-smoothing reach the model,
change the training, are recorded in metrics.json, and act identically in the Keras engine."""

import json

import numpy as np
import pytest

import scratch
import train
from tests.cli_run import run

SMALL = ["--limit", "64", "--test-limit", "100", "--batch-size", "32", "--epochs", "1", "--no-plots", "--no-convert"]


def train_scratch(out, *options):
    rc = train.main(["scratch", "--out", str(out), *SMALL, *options])
    assert rc == 0
    return scratch.load_checkpoint(out / "model.npz")[0], json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    """The same runs without the option under test: sgd and adam."""
    root = tmp_path_factory.mktemp("baselines")
    return {name: train_scratch(root / name, "--optimizer", name)[0].get_weights() for name in ("sgd", "adam")}


CASES = [  # (options, optimizer class, config entries it must have, baseline it must differ from, options recorded)
    (["--optimizer", "rmsprop"], scratch.RMSprop, {"learning_rate": 0.001}, "adam", {"optimizer": "rmsprop"}),
    (["--optimizer", "adamw"], scratch.AdamW, {"weight_decay": 0.004, "learning_rate": 0.005}, "adam",
     {"optimizer": "adamw"}),
    (["--optimizer", "sgd", "--weight-decay", "0.5"], scratch.SGD, {"weight_decay": 0.5}, "sgd",
     {"weight_decay": 0.5}),
    (["--optimizer", "sgd", "--clipnorm", "0.05"], scratch.SGD, {"clipnorm": 0.05}, "sgd", {"clipnorm": 0.05}),
    (["--optimizer", "sgd", "--global-clipnorm", "0.05"], scratch.SGD, {"global_clipnorm": 0.05}, "sgd",
     {"global_clipnorm": 0.05}),
    (["--optimizer", "sgd", "--clipvalue", "0.001"], scratch.SGD, {"clipvalue": 0.001}, "sgd", {"clipvalue": 0.001}),
]


@pytest.mark.parametrize("options, cls, config, baseline, recorded", CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_optimizer_option_reaches_the_model_changes_training_and_is_recorded(options, cls, config, baseline,
                                                                           recorded, baselines, tmp_path):
    model, metrics = train_scratch(tmp_path / "run", *options)
    assert type(model.optimizer) is cls
    assert {k: model.optimizer.get_config()[k] for k in config} == config
    assert {k: metrics["options"][k] for k in recorded} == recorded
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), baselines[baseline]))


def test_label_smoothing_trains_a_smoothed_categorical_loss_and_is_recorded(baselines, tmp_path):
    model, metrics = train_scratch(tmp_path / "run", "--optimizer", "adam", "--label-smoothing", "0.2")
    spec = {"class_name": "CategoricalCrossentropy", "from_logits": True, "label_smoothing": 0.2}
    assert model.loss_spec == spec and metrics["architecture"]["loss"] == spec
    assert metrics["options"]["label_smoothing"] == 0.2
    assert isinstance(model.compile("sgd").loss, scratch.CategoricalCrossentropy)
    assert model.loss.label_smoothing == 0.2
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), baselines["adam"]))
    h = metrics["history"]
    assert np.isfinite(h["test_loss"][0]) and 0 <= h["test_accuracy"][0] <= 1


@pytest.mark.slow
def test_options_act_identically_in_the_keras_engine(tmp_path, capsys):
    """compare in float64: both engines train with the same options to the same weights (rounding only)."""
    import keras_ref  # noqa: F401  (fail, never skip, if the twin cannot load)
    out = tmp_path / "cmp"
    rc, _, err = run(["compare", "--dtype", "float64", "--optimizer", "adamw", "--weight-decay", "0.1",
                      "--global-clipnorm", "0.5", "--label-smoothing", "0.1", "--out", str(out),
                      *SMALL[:-1]], capsys)
    assert rc == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["options"]["global_clipnorm"] == 0.5 and m["options"]["label_smoothing"] == 0.1
    assert m["max_weight_difference"][0] == 0
    assert m["max_weight_difference"][1] < 1e-12  # float64: no float32-rounded hyperparameter anywhere
    np.testing.assert_allclose(m["histories"]["scratch"]["loss"], m["histories"]["keras"]["loss"], rtol=1e-12)


@pytest.mark.parametrize("argv, fragments", [
    (["--clipnorm", "0"], ["--clipnorm", "positive", "'0'"]),
    (["--weight-decay", "-1"], ["--weight-decay", "non-negative", "'-1'"]),
    (["--label-smoothing", "1.5"], ["--label-smoothing", "[0, 1]", "'1.5'"]),
    (["--clipnorm", "1", "--clipvalue", "1"], ["only one of", "clipnorm=1.0", "clipvalue=1.0"]),
])
def test_option_mistakes_give_one_clear_line(argv, fragments, tmp_path, capsys):
    rc, _, err = run(["scratch", "--out", str(tmp_path / "x"), *SMALL, *argv], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for f in fragments:
        assert f in err, (f, err)


def test_resume_keeps_the_optimizer_options(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = run(["scratch", "--out", str(out), *SMALL, "--optimizer", "sgd", "--clipnorm", "0.5"], capsys)
    assert rc == 0, err
    rc, _, err = run(["scratch", "--resume", str(out), "--clipnorm", "1.0", "--no-plots", "--no-convert"], capsys)
    assert rc == 2 and "--clipnorm was 0.5" in err, err
    rc, _, err = run(["scratch", "--resume", str(out), "--epochs", "2", "--no-plots", "--no-convert"], capsys)
    assert rc == 0, err
    model = scratch.load_checkpoint(out / "model.npz")[0]
    assert model.optimizer.clipnorm == 0.5 and model.optimizer.iterations == 4
