"""Record what ``Sequential`` computes, to pin it bit for bit across refactors of the containers.

``python -m tests.record_sequential`` writes ``tests/data/sequential_recorded.json``: for a few
Sequential models (blog, lenet with its dropout and ReLU -> max-pool fusion, one with
BatchNormalization), in float32 and float64, the SHA-256 of the weights after two epochs of ``fit``,
the per-epoch losses as exact hex floats, and the same for a ``train.py scratch`` run resumed from
its first epoch. ``tests/test_sequential_recorded.py`` recomputes them and compares.

``fit`` and ``cli`` were recorded before a training step computed a convolution read by a tiling max pooling
in the pool's order (``scratch.models.fusion.plan_tiles``, issue 22), which sums the kernel's gradient in
another order: they are recomputed with that route off (``without_tiles``), and ``fit_tiled`` (recorded
since) pins the route as it runs by default.
"""

import contextlib
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

import scratch

OUT = Path(__file__).resolve().parent / "data" / "sequential_recorded.json"

BN = {"name": "bn", "input_shape": [12, 12, 1], "preprocess": "scale",
      "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
      "layers": [{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3], "activation": "relu"}},
                 {"class_name": "BatchNormalization", "config": {}},
                 {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
                 {"class_name": "Flatten", "config": {}},
                 {"class_name": "Dropout", "config": {"rate": 0.25}},
                 {"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}}]}

MODELS = {"blog": "blog", "lenet": "lenet", "bn": BN}


def digest(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def without_tiles():
    """Models built inside plan no tiled route (``scratch.models.fusion.plan_tiles``): the plain one."""
    from scratch.models import fusion

    plan = fusion.plan_tiles
    fusion.plan_tiles = lambda nodes, outputs: {}
    try:
        yield
    finally:
        fusion.plan_tiles = plan


def fit_record(name, dtype):
    arch = MODELS[name]
    desc = scratch.get_architecture(arch)
    shape = tuple(desc["input_shape"])
    rng = np.random.default_rng(7)
    x = rng.random((96,) + shape).astype(dtype)
    y = rng.integers(0, 10, 96)
    model = scratch.build_model(arch, dtype=dtype, seed=3)
    model.compile(scratch.Adam(0.005))
    hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    out = model.predict(x[:8])
    return {"weights": digest(model.get_weights()), "outputs": digest([out]),
            "loss": [float(v).hex() for v in hist["loss"]],
            "evaluate": [float(v).hex() for v in model.evaluate(x, y)]}


def cli_record():
    import train

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common = ["--arch", "lenet", "--limit", "192", "--test-limit", "100", "--batch-size", "64",
                  "--no-plots", "--no-convert"]
        assert train.main(["scratch", "--epochs", "1", "--out", str(tmp / "run")] + common) == 0
        assert train.main(["scratch", "--resume", str(tmp / "run"), "--epochs", "2"]) == 0
        m = json.loads((tmp / "run" / "metrics.json").read_text())
        weights = scratch.load_checkpoint(tmp / "run" / "model.npz")[0].get_weights()
        return {"weights": digest(weights),
                "history": {k: [float(v).hex() for v in m["history"][k]] for k in ("loss", "accuracy", "test_loss",
                                                                                   "test_accuracy")}}


def record():
    keys = [(name, dtype) for name in MODELS for dtype in ("float32", "float64")]
    with without_tiles():
        plain = {"fit": {f"{name}-{dtype}": fit_record(name, dtype) for name, dtype in keys}, "cli": cli_record()}
    return {**plain, "fit_tiled": {f"{name}-{dtype}": fit_record(name, dtype) for name, dtype in keys}}


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    OUT.parent.mkdir(exist_ok=True)
    with threadpool_limits(limits=1, user_api="blas"):  # as the tests run (tests/conftest.py): a product's
        recorded = record()  # last bits may depend on BLAS's threads
    OUT.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"wrote {OUT}")
