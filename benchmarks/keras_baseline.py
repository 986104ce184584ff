"""The Keras baseline as a user runs it: ``train.py keras``, with and without ``--deterministic``,
against plain Keras (``model.fit``, and a bare ``train_on_batch`` loop) on the same data and model.

Every leg runs in a fresh child process with the TensorFlow variables of the environment
removed (``TF_ENABLE_ONEDNN_OPTS`` is read when TensorFlow loads, so settings cannot change
inside one process), interleaved over the repeats:

- ``cli``: ``python train.py keras --arch ARCH --epochs E --limit N --batch-size B --lr LR
  --no-plots`` exactly as a user types it; the images/s it records per epoch (``metrics.json``,
  what it prints: since each epoch runs through Keras's ``fit``, the epoch as a callback times
  it, like the ``fit`` leg);
- ``cli_deterministic``: the same command with ``--deterministic`` (oneDNN off, op determinism);
- ``fit``: ``model.fit(x, y, batch_size=B, epochs=E, shuffle=True)`` on the Keras twin built from
  the same initial weights, with TensorFlow as it ships; an epoch's images/s from a callback
  (``on_epoch_begin`` to ``on_epoch_end``);
- ``loop``: a bare loop of ``train_on_batch`` over the CLI's batches (same shuffling), TensorFlow
  as it ships, no progress bar or bookkeeping; an epoch's images/s from its wall time.

The first epoch includes tracing the training function, so the figures compare each run's
best epoch after the first (``--epochs`` of at least 2; the last epoch's figures are kept too). ``python -m benchmarks.keras_baseline fit|loop|fit,loop ARCH
BATCH LIMIT EPOCHS LR`` is the child for the plain-Keras legs (one JSON line per leg; the smoke
run puts both in one process to save a TensorFlow start-up).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEGS = ("cli", "cli_deterministic", "fit", "loop")
TEST_LIMIT = 500  # the CLI evaluates after each epoch (outside the timed steps); keep it short


def _clean_env():
    """The environment of a user's shell: no TensorFlow or Keras settings inherited from this process."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}


def _run(cmd, timeout):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_clean_env())
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.keras_baseline: {' '.join(cmd)} failed ({done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return done


def cli_command(arch, batch, limit, epochs, lr, deterministic, out):
    return ([sys.executable, "train.py", "keras", "--arch", arch, "--epochs", str(epochs), "--limit", str(limit),
             "--test-limit", str(TEST_LIMIT), "--batch-size", str(batch), "--lr", repr(lr), "--no-plots",
             "--out", out] + (["--deterministic"] if deterministic else []))


def measure_legs(legs, arch, batch, limit, epochs, lr, timeout=600):
    """One child process running ``legs`` (one CLI leg, or plain-Keras legs): per leg
    ``{"leg", "images_per_s" (per epoch), "tensorflow" (settings), "command", "wall_s"}``."""
    start = time.perf_counter()
    if legs[0] in ("cli", "cli_deterministic"):
        (leg,) = legs
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "run")
            cmd = cli_command(arch, batch, limit, epochs, lr, leg == "cli_deterministic", out)
            _run(cmd, timeout)
            with open(os.path.join(out, "metrics.json")) as f:
                m = json.load(f)
        found = [{"leg": leg, "images_per_s": m["history"]["images_per_s"], "tensorflow": m["tensorflow"]}]
        shown = " ".join(["python", *(a for a in cmd[1:] if a not in ("--out", out))])
    else:
        cmd = [sys.executable, "-m", "benchmarks.keras_baseline", ",".join(legs), arch, str(batch), str(limit),
               str(epochs), repr(lr)]
        found = [json.loads(line) for line in _run(cmd, timeout).stdout.strip().splitlines()[-len(legs):]]
        shown = " ".join(["python", *cmd[1:]])
    wall = time.perf_counter() - start
    return [{"leg": f["leg"], "images_per_s": [float(r) for r in f["images_per_s"]], "tensorflow": f["tensorflow"],
             "command": shown, "wall_s": wall} for f in found]


def measure(arch, batch, limit, epochs, repeats, lr=0.001, log=print, share_plain=False):
    """Every leg ``repeats`` times, interleaved, each in a fresh process (``share_plain``: the two
    plain-Keras legs in one). Per leg, over the repeats: the median, min and max of each run's
    best epoch after the first (``*_best_epoch``: other processes on the cores only ever slow an
    epoch down, so a run's fastest epoch is its own speed, as ``timeit`` takes the minimum), and
    of its last epoch (``*_last_epoch``, what earlier results held)."""
    groups = [["cli"], ["cli_deterministic"]] + ([["fit", "loop"]] if share_plain else [["fit"], ["loop"]])
    last, best = {leg: [] for leg in LEGS}, {leg: [] for leg in LEGS}
    runs = []
    for r in range(repeats):
        for legs in groups:
            for row in measure_legs(legs, arch, batch, limit, epochs, lr):
                runs.append(row)
                last[row["leg"]].append(row["images_per_s"][-1])
                best[row["leg"]].append(max(row["images_per_s"][1:] or row["images_per_s"]))  # 1 epoch: that one
        log(f"  keras baseline: repeat {r + 1}/{repeats} done")
    stats = {}
    for name, samples in (("last_epoch", last), ("best_epoch", best)):
        stats[f"median_{name}"] = {leg: float(np.median(v)) for leg, v in samples.items()}
        stats[f"min_{name}"] = {leg: float(min(v)) for leg, v in samples.items()}
        stats[f"max_{name}"] = {leg: float(max(v)) for leg, v in samples.items()}
    return {"arch": arch, "batch": batch, "images": limit, "epochs": epochs, "lr": lr, "repeats": repeats,
            "runs": runs, **stats}


# -- the child for the plain Keras legs ----------------------------------------------------------------
def _plain_keras(legs, arch, batch, limit, epochs, lr):
    sys.path.insert(0, ROOT)
    import scratch
    from cli.engines import import_keras, tensorflow_settings

    keras, keras_ref = import_keras()  # TensorFlow as it ships, as train.py keras sets it up
    desc = scratch.get_architecture(arch)
    (x, y), _ = scratch.load_mnist()
    x = scratch.preprocess(x[:limit], desc["preprocess"], "float32")
    y = y[:limit].astype(np.int64)
    for leg in legs:
        print(json.dumps({"leg": leg, "images_per_s": _plain_leg(leg, keras, keras_ref, desc, x, y, batch, epochs, lr),
                          "tensorflow": tensorflow_settings()}), flush=True)


def _plain_leg(leg, keras, keras_ref, desc, x, y, batch, epochs, lr):
    """Images/s per epoch of ``fit`` or the bare loop, on a fresh Keras twin of ``build_model(desc, seed=0)``."""
    import scratch
    from scratch.data import epoch_order

    model = keras_ref.to_keras(scratch.build_model(desc, seed=0))
    spec = desc["loss"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), metrics=["accuracy"],
                  loss=getattr(keras.losses, spec["class_name"])(from_logits=spec.get("from_logits", False)))
    rates = []
    if leg == "fit":
        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                rates.append(len(x) / (time.perf_counter() - self.start))

        model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    else:
        steps = -(-len(x) // batch)
        for epoch in range(epochs):
            order = epoch_order(0, epoch, len(x))
            start = time.perf_counter()
            for s in range(steps):
                idx = order[s * batch:(s + 1) * batch]
                model.train_on_batch(x[idx], y[idx])
            rates.append(len(x) / (time.perf_counter() - start))
    return rates


if __name__ == "__main__":
    names, arch, batch, limit, epochs, lr = sys.argv[1:7]
    legs = names.split(",")
    if not set(legs) <= {"fit", "loop"}:
        sys.exit(f"benchmarks.keras_baseline: unknown leg in {names!r}; the child runs fit, loop or fit,loop")
    _plain_keras(legs, arch, int(batch), int(limit), int(epochs), float(lr))
