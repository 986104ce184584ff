"""``--augment`` reaches the batches every engine trains on, in every command (issue 21, item 1).

The Keras engine trains a whole epoch through ``fit`` (``KerasEngine.train_epoch``); it was handed the
stored images, so ``train.py keras --augment`` and ``transfer --engine keras --augment`` trained
without augmentation while recording it. These tests look at what each model is given.
"""

from parity_tests import twins  # noqa: F401,I001  (TensorFlow deterministic before Keras loads)

import json

import numpy as np
import pytest

import scratch
from cli import runs
from cli.augment import Augmenter
from cli.engines import KerasEngine, ScratchEngine
from tests.cli_run import run

SMALL = ["--limit", "300", "--test-limit", "100", "--epochs", "1", "--no-plots"]


def _spy(engine, seen):
    """Record the images the model is given: per batch (``train_step``, ``train_on_batch``) or the whole
    epoch's batches in order (``fit``)."""
    for name in (("train_step",) if engine.name == "scratch" else ("fit", "train_on_batch")):
        original = getattr(engine.model, name)

        def record(*args, original=original, **kwargs):
            seen.setdefault(engine.name, []).append(np.array(kwargs["x"] if "x" in kwargs else args[0]))
            return original(*args, **kwargs)

        setattr(engine.model, name, record)


@pytest.mark.parametrize("names", [("scratch",), ("keras",), ("scratch", "keras")])
def test_the_first_batch_each_engine_trains_on_is_the_augmented_one(names):
    """One engine (``scratch``/``keras`` commands, ``transfer``), or both stepped together (``compare``)."""
    desc = scratch.get_architecture("blog")
    (x, y), _ = scratch.load_mnist()
    x, y = scratch.preprocess(x[:70], desc["preprocess"], "float32"), y[:70].astype(np.int64)
    made = [{"scratch": ScratchEngine, "keras": KerasEngine}[n].create(desc, "float32", 3, "adam", 0.005)
            for n in names]
    seen = {}
    for engine in made:
        _spy(engine, seen)
    augmenter = Augmenter(0.03, 0.1, 0.1, seed=3)
    trainer = runs.EpochRunner(made, x, y, x[:20], y[:20], 32, 3, stream=open("/dev/null", "w"), augment=augmenter)
    trainer.epoch(0, 1)
    first = x[runs.epoch_order(3, 0, len(x))[:32]]
    for engine in made:
        given = seen[engine.name][0][:32]
        assert given.shape == first.shape, engine.name
        assert np.abs(given - first).max() > 0.1, f"{engine.name} trained on the stored images"
        np.testing.assert_array_equal(given, augmenter.batches(0, 0, first, [engine])[0], err_msg=engine.name)


def _loss(folder):
    return json.loads((folder / "metrics.json").read_text())["history"]["loss"]


def test_keras_run_with_augment_differs_from_the_run_without(tmp_path, capsys):
    for name, extra in (("plain", []), ("augmented", ["--augment"])):
        rc, _, err = run(["keras", "--deterministic", *SMALL, *extra, "--out", str(tmp_path / name)], capsys)
        assert rc == 0, err
    assert _loss(tmp_path / "plain") != _loss(tmp_path / "augmented")


def test_keras_transfer_with_augment_differs_from_the_run_without(tmp_path, capsys):
    source = tmp_path / "source.npz"
    scratch.save_checkpoint(source, scratch.build_model("blog", seed=3))
    for name, extra in (("plain", []), ("augmented", ["--augment"])):
        rc, _, err = run(["transfer", "--engine", "keras", "--deterministic", "--source", str(source), "--digits",
                          "5-9", "--no-convert", *SMALL, *extra, "--out", str(tmp_path / name)], capsys)
        assert rc == 0, err
    assert _loss(tmp_path / "plain") != _loss(tmp_path / "augmented")
