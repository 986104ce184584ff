"""A training run: its folder, the epoch loop shared by both engines, and its records.

Everything a run writes goes through ``atomic_write``: ``metrics.json``, ``history.csv`` and
the ``checkpoint.npz`` saved after every epoch (and once before the first), which is what
``--resume`` continues from.

Nothing is lost: a folder that holds a run is never written over by a new one (``--out``
refuses it, naming ``--resume``), nor one that holds anything else (``--out`` takes an empty
or new folder); a run holds its folder with a lock (``flock`` on ``.lock``,
which the kernel releases when the process dies, however it dies), so a second run into it is
refused; temporary files a killed run left (``.tmp-*``) are removed by the next run that holds
the folder; ``--resume`` checks the checkpoint against the folder's record before continuing.
"""

import csv
import io
import json
import math
import os
import platform
import signal
import sys
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from scratch.data import epoch_order
from scratch.files import TEMPORARY_PREFIX, atomic_write

from .progress import epoch_summary, progress_bar

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"
HISTORY = "history.csv"
LOCK = ".lock"
# options a run keeps for life (what the checkpoint must agree with); --epochs, --data, --threads may change
RUN_OPTIONS = ("arch", "batch_size", "optimizer", "lr", "seed", "limit", "test_limit", "dtype", "init_from",
               "digits", "validation_split")
HISTORY_KEYS = ("loss", "accuracy", "test_loss", "test_accuracy", "seconds", "images_per_s")
VALIDATION_KEYS = ("val_loss", "val_accuracy")  # in a run's history when it holds out --validation-split


def new_run_dir(root, engine, arch_name):
    """``runs/20260128-141502-scratch-blog`` (a suffix ``-2``, ``-3``... if it exists)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{engine}-{arch_name}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def claim_new_run_dir(root, engine, arch_name):
    """Create and return a fresh ``new_run_dir`` folder; two runs started in the same second
    get two folders (``mkdir`` either creates the folder or fails, never both)."""
    while True:
        path = new_run_dir(root, engine, arch_name)
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise ValueError(f"cannot create the run folder {path} ({e.strerror}); give --out") from None


def prepare_out(out, option="--out"):
    """Create the output folder; a clear error (naming ``option``) if it is a file or cannot be created."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{option} {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{option} {out}: cannot create the folder ({e.strerror})") from None
    return out


def refuse_existing_run(out, engine):
    """``--out`` must not name a folder that already holds a run: it would be written over."""
    out = Path(out)
    if not ((out / METRICS).exists() or (out / CHECKPOINT).exists()):
        return
    try:
        saved = json.loads((out / METRICS).read_text())
        what = f"a {saved.get('engine')} run of {saved.get('arch')!r}, {saved.get('status')}, " \
               f"{saved.get('epochs_completed', len(saved.get('history', {}).get('epoch', [])))} epoch(s)"
        engine = saved.get("engine", engine)
    except (OSError, ValueError, AttributeError):
        what = "a run"
    resumable = engine in ("scratch", "keras") and (out / CHECKPOINT).exists()
    ways = f"continue it with 'python train.py {engine} --resume {out} --epochs N', or " if resumable else ""
    why = f" (it has no {CHECKPOINT} to resume from)" if engine in ("scratch", "keras") and not resumable else ""
    raise ValueError(f"--out {out}: the folder already holds {what}; it is never written over{why}: {ways}give a new "
                     f"folder to --out (or leave --out out for a fresh folder under runs/)")


def refuse_occupied(out, keep=(), option="--out"):
    """``--out`` takes an empty or new folder: a run writes ``model.npz``, ``metrics.json``, pictures...
    there and would overwrite a file of the same name. ``keep``: names the command itself put there
    (``transfer``'s model files); a run's lock and temporary files are no one else's."""
    out = Path(out)
    if not out.is_dir():
        return
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()
                   if p.name not in keep and p.name != LOCK and not p.name.startswith(TEMPORARY_PREFIX))
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        raise ValueError(f"{option} {out}: expected an empty or new folder, found {len(found)} entr"
                         f"{'y' if len(found) == 1 else 'ies'} that a run could overwrite ({shown}); give an empty "
                         f"or new folder to {option} (or leave {option} out for a fresh folder under runs/)")


class FolderLock:
    """Holds a run folder: an exclusive ``flock`` on ``<folder>/.lock`` for the life of the run.

    The kernel drops the lock when the process ends, however it ends (SIGKILL included), so
    a killed run never leaves the folder stuck. A second run into a held folder is refused.
    """

    def __init__(self, folder, option="--out"):
        self.folder, self.file = Path(folder), None
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as before
            return
        try:
            self.file = open(self.folder / LOCK, "a+")
        except OSError as e:
            raise ValueError(f"{option} {self.folder}: cannot write in this folder ({e.strerror})") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "unknown"
            self.file.close()
            self.file = None
            raise ValueError(f"{option} {self.folder}: another run (process {holder}) is using this folder; wait "
                             f"for it to end or choose another folder") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()

    def clean_temporaries(self):
        """Remove the ``.tmp-*`` files an earlier, killed run left (nobody else writes here now)."""
        for path in self.folder.glob(TEMPORARY_PREFIX + "*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def release(self):
        if self.file is not None:
            self.file.close()  # closing the descriptor drops the flock
            self.file = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the run records its state and says how to resume."""


def terminate_as_interrupt():
    """Make SIGTERM raise ``Terminated`` in the main thread; returns the previous handler."""
    def handler(signum, frame):
        raise Terminated()
    return signal.signal(signal.SIGTERM, handler)


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


def empty_history(validation=False):
    return {"epoch": [], **{k: [] for k in history_keys(validation)}}


def history_keys(validation):
    """The per-epoch values a history holds (``validation``: a bool, or a history to look at)."""
    if isinstance(validation, dict):
        validation = VALIDATION_KEYS[0] in validation
    return HISTORY_KEYS + (VALIDATION_KEYS if validation else ())


def validation_split(x, y, fraction, what="--validation-split"):
    """``(x_train, y_train, (x_val, y_val))``: the last ``fraction`` of the images held out, taken before
    any shuffling, as Keras's ``fit(validation_split=)`` (``floor(n * (1 - fraction))`` images train);
    ``(x, y, None)`` without a fraction. Each part must keep at least one image."""
    if fraction is None:
        return x, y, None
    n = len(x)
    split_at = int(math.floor(n * (1.0 - fraction)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"{what} {fraction}: expected a split leaving at least one training and one validation "
                         f"image, received {n} training image(s): {split_at} would train and {n - split_at} "
                         f"validate (give more images or another fraction)")
    return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])


def write_json(path, data):
    text = json.dumps(data, indent=2, default=float) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def write_history_csv(path, history):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = history_keys(history)
    w.writerow(("epoch",) + keys)
    for i, epoch in enumerate(history["epoch"]):
        w.writerow([epoch] + [repr(float(history[k][i])) for k in keys])
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def read_run(folder):
    """``metrics.json`` of a run folder (for ``--resume``), with clear errors."""
    folder = Path(folder)
    path = folder / METRICS
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--resume {folder}: is a file; give the run's folder (the one holding {METRICS} "
                         f"and {CHECKPOINT})")
    if not folder.is_dir():
        raise ValueError(f"--resume {folder}: no such folder")
    if not path.is_file() or not (folder / CHECKPOINT).is_file():
        raise ValueError(f"--resume {folder}: not a run folder (needs {METRICS} and {CHECKPOINT})")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"--resume {folder}: unreadable {METRICS} ({e})") from None
    if not isinstance(record, dict):
        raise ValueError(f"--resume {folder}: {METRICS} is not a run record (a JSON object)")
    missing = [k for k in ("engine", "architecture", "options", "history") if k not in record]
    if missing or not isinstance(record.get("options"), dict) or not isinstance(record.get("architecture"), dict):
        raise ValueError(f"--resume {folder}: {METRICS} is not a complete run record (missing or malformed: "
                         f"{', '.join(missing) or 'options/architecture'}); it cannot be resumed")
    return record


def _layers_of(config):
    return ", ".join(spec["class_name"] for spec in config.get("layers", []))


def _describe_arch(config):
    return f"{config.get('name')!r} ({_layers_of(config)}; preprocess {config.get('preprocess')!r})"


def check_checkpoint(folder, record, opts, meta, found):
    """Refuse to resume from a checkpoint that is not this run's, naming both sides.

    ``meta``: the checkpoint's metadata; ``found``: what the checkpoint itself holds, as far
    as its engine's format tells (``architecture`` config, ``dtype``, ``optimizer`` class and
    config, ``seed``, ``weight_shapes``), each compared with ``metrics.json`` and the options.
    """
    import scratch

    from .engines import OPTIMIZER_OPTIONS, scratch_optimizer

    problems = []
    run = meta.get("run") if isinstance(meta, dict) else None
    if isinstance(run, dict):
        if record.get("run_id") and run.get("id") != record["run_id"]:
            problems.append(f"run id {run.get('id')!r} in {CHECKPOINT}, {record['run_id']!r} in {METRICS}")
        if run.get("engine") not in (None, record.get("engine")):
            problems.append(f"engine {run.get('engine')!r} in {CHECKPOINT}, {record.get('engine')!r} in {METRICS}")
        for key in RUN_OPTIONS:
            if key in run.get("options", {}) and run["options"][key] != opts.get(key):
                problems.append(f"--{key.replace('_', '-')} {run['options'][key]!r} in {CHECKPOINT}, "
                                f"{opts.get(key)!r} in {METRICS}")
    expected = scratch.build_model(record["architecture"], dtype=found.get("dtype") or opts["dtype"])
    want = expected.get_config()
    if found.get("architecture") is not None:
        have = found["architecture"]
        keys = ("input_shape", "preprocess", "loss", "layers")
        if any(have.get(k) != want.get(k) for k in keys):
            problems.append(f"architecture {_describe_arch(have)} in {CHECKPOINT}, {_describe_arch(want)} in {METRICS}")
    if found.get("weight_shapes") is not None:
        shapes = [tuple(w.shape) for w in expected.get_weights()]
        if [tuple(s) for s in found["weight_shapes"]] != shapes:
            problems.append(f"weight shapes {[tuple(s) for s in found['weight_shapes']]} in {CHECKPOINT}, "
                            f"architecture {record['architecture'].get('name')!r} in {METRICS} has {shapes}")
    if found.get("dtype") not in (None, opts["dtype"]):
        problems.append(f"dtype {found['dtype']} in {CHECKPOINT}, {opts['dtype']} in {METRICS}")
    if found.get("optimizer") is not None:
        opt = scratch_optimizer(opts["optimizer"], opts["lr"], {k: opts.get(k) for k in OPTIMIZER_OPTIONS})
        wanted = (type(opt).__name__, opt.get_config())
        if tuple(found["optimizer"]) != wanted:
            problems.append(f"optimizer {found['optimizer'][0]} {found['optimizer'][1]} in {CHECKPOINT}, "
                            f"{wanted[0]} {wanted[1]} (--optimizer {opts['optimizer']}, --lr {opts['lr']}) "
                            f"in {METRICS}")
    if "seed" in found and found["seed"] != opts["seed"]:
        problems.append(f"seed {found['seed']!r} in {CHECKPOINT}, {opts['seed']!r} in {METRICS}")
    have_h = meta.get("history", {}) if isinstance(meta, dict) else {}
    want_h = record.get("history", {})
    n_have, n_want = len(have_h.get("epoch", [])), len(want_h.get("epoch", []))
    if not problems:
        # metrics.json is written just after the checkpoint: it may be one epoch behind, never ahead
        same = all(have_h.get(k, [])[:n_want] == want_h.get(k, [])
                   for k in ("epoch",) + HISTORY_KEYS + VALIDATION_KEYS)
        if not (n_want <= n_have <= n_want + 1) or not same:
            problems.append(f"{n_have} epoch(s) of history in {CHECKPOINT}, {n_want} in {METRICS}"
                            + ("" if same else ", and they differ"))
    if problems:
        raise ValueError(f"--resume {folder}: {CHECKPOINT} is not this run's checkpoint: " + "; ".join(problems)
                         + "; refusing to continue (start a new run, or restore the run's own checkpoint)")


class EpochRunner:
    """Trains one or more engines on the same batches, epoch by epoch (``scratch.data.epoch_order``).

    ``position`` is ``(epoch, step)`` of the batch in progress, for error messages. ``validation``:
    ``(x_val, y_val)`` held out of the training images (``--validation-split``), evaluated after
    every epoch as the test set is (``val_loss``, ``val_accuracy`` in the logs), or None.
    """

    def __init__(self, engines, x, y, x_test, y_test, batch_size, seed, stream=None, augment=None, validation=None):
        self.engines, self.x, self.y = engines, x, y
        self.validation = validation
        self.augment = augment  # cli.augment.Augmenter or None
        self.x_test, self.y_test = x_test, y_test
        self.batch_size, self.seed, self.stream = batch_size, seed, stream
        self.steps = math.ceil(len(x) / batch_size)
        self.position = (0, 0)

    def epoch(self, epoch, epochs):
        """Train every engine one epoch, then evaluate each on the test set; one logs dict per engine.

        One engine that can train a whole epoch (``KerasEngine.train_epoch``: Keras's ``fit``)
        does so, on the same batches (augmented first, with ``augment``: the same draws as the
        per-batch path); several engines (``compare``) are stepped batch by batch together. An
        engine's seconds include augmenting its batches.
        """
        n = len(self.x)
        order = epoch_order(self.seed, epoch, n)
        bar = progress_bar(self.steps, f"Epoch {epoch + 1}/{epochs}", stream=self.stream)
        totals = [[0.0, 0, 0.0] for _ in self.engines]  # loss sum, correct, seconds
        whole = len(self.engines) == 1 and hasattr(self.engines[0], "train_epoch")
        # a diverging run ends with NonFiniteLossError, not warnings
        with bar, np.errstate(all="ignore"):
            if whole:
                def before_batch(s):
                    self.position = (epoch, s)

                def after_batch(s, running_loss):
                    bar.set_postfix_str(f"loss {running_loss:.4f}", refresh=False)
                    bar.update(1)

                x, augmenting = self.x, 0.0
                if self.augment:  # fit gets the epoch's augmented batches, the per-batch path's draws
                    start = time.perf_counter()
                    x = self.augment.epoch(self.engines[0], self.x, order, self.batch_size, epoch)
                    augmenting = time.perf_counter() - start
                loss, correct, seconds = self.engines[0].train_epoch(x, self.y, order, self.batch_size,
                                                                     before_batch, after_batch)
                totals[0] = [loss * n, correct, seconds + augmenting]  # the epoch's time includes augmenting
            for s in range(0 if whole else self.steps):
                self.position = (epoch, s)
                idx = order[s * self.batch_size:(s + 1) * self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
                params = self.augment.draw(xb, epoch, s) if self.augment else None
                for engine, t in zip(self.engines, totals):
                    start = time.perf_counter()  # each engine's time includes its augmenting
                    loss, correct = engine.train_batch(self.augment.apply(engine, xb, params) if self.augment else xb,
                                                       yb)
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
            if self.validation is not None:
                logs[-1]["val_loss"], logs[-1]["val_accuracy"] = engine.evaluate(*self.validation)
        return logs


def append(history, epoch, logs):
    history["epoch"].append(epoch + 1)
    for k in history_keys(history):
        history[k].append(float(logs[k]))


def print_epoch(epoch, epochs, logs, stream=None):
    line = epoch_summary(epoch, epochs, logs)
    if "val_loss" in logs:
        line += f" - val loss {logs['val_loss']:.4f} - val accuracy {logs['val_accuracy']:.4f}"
    line += f" - test loss {logs['test_loss']:.4f} - test accuracy {logs['test_accuracy']:.4f}"
    print(line, file=stream or sys.stdout, flush=True)


def command_line(argv):
    return " ".join(["python", "train.py", *argv])


def rel(path):
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    inside = os.path.relpath(path)
    return path if inside.startswith("..") else inside
