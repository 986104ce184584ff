"""``train.py keras`` trains each epoch through Keras's ``fit`` (``KerasEngine.train_epoch``) at
``fit``'s speed; these tests pin that it trains exactly the batches of the per-batch path
(``train_batch`` over ``scratch.data.epoch_order``) that ``compare`` still steps.

Bit-identity needs TensorFlow's deterministic settings, which are fixed when TensorFlow loads:
the checks run in this process when it has (or can still get) them, else in a child process.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.keras
ROOT = Path(__file__).resolve().parent.parent


def _engine(arch, dtype, lr, optimizer="adam"):
    import scratch
    from cli.engines import KerasEngine, with_label_smoothing

    desc = scratch.get_architecture(arch)
    if dtype == "float64":  # CategoricalCrossentropy: one-hot targets
        desc = with_label_smoothing(desc, 0.1)
    return KerasEngine.create(desc, dtype, 3, optimizer, lr, deterministic=True), desc


def _data(desc, n, dtype):
    import scratch

    (x, y), _ = scratch.load_mnist()
    return scratch.preprocess(x[:n], desc["preprocess"], dtype), y[:n].astype(np.int64)


def _state(engine):
    opt = engine.model.optimizer
    return ([np.asarray(w) for w in engine.weights()] + [np.asarray(v) for v in opt.variables]
            + [np.asarray(g.state) for g in engine._seed_generators().values()])


def both_paths():
    """One epoch of 70 images (batches 32, 32, 6) each way, from the same start: what each gives.

    lenet in float32 (Dropout: its generator must advance alike), blog in float64 with label
    smoothing (one-hot targets; fit must not cast the float64 images to float32); then a run
    that diverges, per batch and through fit.
    """
    from cli import runs
    from scratch.data import epoch_order

    found = {}
    for arch, dtype in (("lenet", "float32"), ("blog", "float64")):
        (per_batch, desc), (whole, _) = _engine(arch, dtype, 0.01), _engine(arch, dtype, 0.01)
        x, y = _data(desc, 70, dtype)
        order = epoch_order(3, 0, len(x))
        loss_sum, correct = 0.0, 0
        for s in range(3):
            idx = order[s * 32:(s + 1) * 32]
            loss, c = per_batch.train_batch(x[idx], y[idx])
            loss_sum, correct = loss_sum + loss * len(idx), correct + c
        calls = []
        runner = runs.EpochRunner([whole], x, y, x[:20], y[:20], 32, 3, stream=open("/dev/null", "w"))
        runner.epoch(0, 1)  # the CLI's path: one engine, a whole epoch through fit
        whole_logs = runner.epoch(1, 2)[0]  # epoch 2 continues from epoch 1's state
        for s in range(3):  # the per-batch engine's epoch 2, for the comparison
            idx = epoch_order(3, 1, len(x))[s * 32:(s + 1) * 32]
            per_batch.train_batch(x[idx], y[idx])
        direct = _engine(arch, dtype, 0.01)[0].train_epoch(x, y, order, 32, calls.append,
                                                         lambda s, loss, calls=calls: calls.append((s, loss)))
        found[f"{arch}/{dtype}"] = {
            "same_state": all(a.dtype == b.dtype and np.array_equal(a, b)
                              for a, b in zip(_state(per_batch), _state(whole))),
            "states": len(_state(whole)), "step": whole.step,
            "per_batch": [loss_sum / len(x), correct], "fit": [direct[0], direct[1]], "logs": whole_logs,
            "calls": [c if isinstance(c, int) else [c[0], c[1]] for c in calls]}
    diverging = {}
    for name in ("per_batch", "whole"):
        engine, desc = _engine("blog", "float32", 1e4, "sgd")
        x, y = _data(desc, 320, "float32")
        runner = runs.EpochRunner([engine], x, y, x[:20], y[:20], 32, 3, stream=open("/dev/null", "w"))
        try:
            with np.errstate(all="ignore"):
                for epoch in range(3):
                    if name == "whole":
                        runner.epoch(epoch, 3)
                        continue
                    order = epoch_order(3, epoch, len(x))
                    for s in range(10):
                        runner.position = (epoch, s)
                        engine.train_batch(x[order[s * 32:(s + 1) * 32]], y[order[s * 32:(s + 1) * 32]])
            diverging[name] = None
        except Exception as e:
            diverging[name] = [type(e).__name__, str(e), list(runner.position), engine.step]
    found["diverging"] = diverging
    return found


def _found():
    from cli.engines import import_keras

    try:
        import_keras(deterministic=True)
    except ValueError:  # this process's TensorFlow runs with oneDNN: ask a fresh one
        code = "import json, tests.test_keras_fit as t; print(json.dumps(t.both_paths(), default=float))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])
    return json.loads(json.dumps(both_paths(), default=float))


def test_fit_path_trains_exactly_the_per_batch_paths_batches_and_reports_the_same_epoch():
    found = _found()
    for case in ("lenet/float32", "blog/float64"):
        f = found[case]
        assert f["same_state"] and f["states"] > 4, case  # weights, optimizer variables, dropout generators
        assert f["step"] == 6, case  # 2 epochs of 3 steps, the last batch the 6 left over
        np.testing.assert_allclose(f["fit"][0], f["per_batch"][0], rtol=1e-6, err_msg=case)  # mean, summed by Keras
        assert f["fit"][1] == f["per_batch"][1], case  # correct images, exact
        assert f["calls"][::2] == [0, 1, 2] and [c[0] for c in f["calls"][1::2]] == [0, 1, 2], case
        assert f["calls"][-1][1] == pytest.approx(f["fit"][0], rel=1e-12), case  # the bar's last loss is the epoch's
        assert set(f["logs"]) >= {"loss", "accuracy", "seconds", "images_per_s"} and f["logs"]["seconds"] > 0
    per_batch, whole = found["diverging"]["per_batch"], found["diverging"]["whole"]
    assert whole is not None and whole[0] == "NonFiniteLossError" and "non-finite loss" in whole[1]
    assert whole == per_batch  # same message (same step), same position (epoch, batch), stopped at that step
    assert f"training step {whole[3]}" in whole[1]
