"""A training run: its folder, the epoch loop shared by both engines, and its records.

Everything a run writes goes through ``atomic_write``: ``metrics.json``, ``history.csv`` and
the ``checkpoint.npz`` saved after every epoch (and once before the first), which is what
``--resume`` continues from.
"""

import csv
import io
import json
import math
import os
import platform
import sys
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from scratch.model import atomic_write

from .progress import epoch_summary, progress_bar

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"
HISTORY = "history.csv"
HISTORY_KEYS = ("loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_s")


def epoch_order(seed, epoch, n):
    """The shuffled order of epoch ``epoch``: exactly ``scratch.Sequential.fit``'s."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def new_run_dir(root, engine, arch_name):
    """``runs/20260128-141502-scratch-blog`` (a suffix ``-2``, ``-3``... if it exists)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{engine}-{arch_name}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def prepare_out(out):
    """Create the output folder; a clear error if it is a file or cannot be created."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {out}: cannot create the folder ({e.strerror})") from None
    return out


def versions(engine):
    """Versions that decide the numbers; TensorFlow's only read from its metadata for scratch."""
    names = ["numpy", "matplotlib", "pillow"] + (["tensorflow", "keras"] if engine != "scratch" else [])
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def empty_history():
    return {"epoch": [], **{k: [] for k in HISTORY_KEYS}}


def write_json(path, data):
    text = json.dumps(data, indent=2, default=float) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def write_history_csv(path, history):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("epoch",) + HISTORY_KEYS)
    for i, epoch in enumerate(history["epoch"]):
        w.writerow([epoch] + [repr(float(history[k][i])) for k in HISTORY_KEYS])
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def read_run(folder):
    """``metrics.json`` of a run folder (for ``--resume``), with clear errors."""
    folder = Path(folder)
    path = folder / METRICS
    if not folder.is_dir():
        raise ValueError(f"--resume {folder}: no such folder")
    if not path.is_file() or not (folder / CHECKPOINT).is_file():
        raise ValueError(f"--resume {folder}: not a run folder (needs {METRICS} and {CHECKPOINT})")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--resume {folder}: unreadable {METRICS} ({e})") from None


class Trainer:
    """Trains one or more engines on the same batches, epoch by epoch.

    ``position`` is ``(epoch, step)`` of the batch in progress, for error messages.
    """

    def __init__(self, engines, x, y, x_test, y_test, batch_size, seed, stream=None):
        self.engines, self.x, self.y = engines, x, y
        self.x_test, self.y_test = x_test, y_test
        self.batch_size, self.seed, self.stream = batch_size, seed, stream
        self.steps = math.ceil(len(x) / batch_size)
        self.position = (0, 0)

    def epoch(self, epoch, epochs):
        """Train every engine one epoch, then evaluate each on the test set; one logs dict per engine."""
        n = len(self.x)
        order = epoch_order(self.seed, epoch, n)
        bar = progress_bar(self.steps, f"Epoch {epoch + 1}/{epochs}", stream=self.stream)
        totals = [[0.0, 0, 0.0] for _ in self.engines]  # loss sum, correct, seconds
        # a diverging run ends with NonFiniteLossError, not warnings
        with bar, np.errstate(all="ignore"):
            for s in range(self.steps):
                self.position = (epoch, s)
                idx = order[s * self.batch_size:(s + 1) * self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
                for engine, t in zip(self.engines, totals):
                    start = time.perf_counter()
                    loss, correct = engine.train_batch(xb, yb)
                    t[2] += time.perf_counter() - start
                    t[0] += loss * len(idx)
                    t[1] += correct
                bar.set_postfix_str(f"loss {totals[0][0] / min(n, (s + 1) * self.batch_size):.4f}", refresh=False)
                bar.update(1)
        logs = []
        for engine, (loss_sum, correct, seconds) in zip(self.engines, totals):
            test_loss, test_acc = engine.evaluate(self.x_test, self.y_test)
            logs.append({"loss": loss_sum / n, "accuracy": correct / n, "test_loss": test_loss,
                         "test_accuracy": test_acc, "seconds": seconds, "images_per_s": n / seconds})
        return logs


def append(history, epoch, logs):
    history["epoch"].append(epoch + 1)
    for k in HISTORY_KEYS:
        history[k].append(float(logs[k]))


def print_epoch(epoch, epochs, logs, stream=None):
    line = epoch_summary(epoch, epochs, logs) + f" - test loss {logs['test_loss']:.4f}" \
        f" - test accuracy {logs['test_accuracy']:.4f}"
    print(line, file=stream or sys.stdout, flush=True)


def command_line(argv):
    return " ".join(["python", "train.py", *argv])


def rel(path):
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    inside = os.path.relpath(path)
    return path if inside.startswith("..") else inside
