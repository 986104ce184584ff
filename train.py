"""Train, evaluate, compare and use the MNIST CNN, with the NumPy engine or its Keras twin.

    python train.py scratch [--arch blog] [--epochs 3] [--optimizer adam] [--lr 0.005] ...
    python train.py keras   (the same options; the same seed gives the same initial weights and batches)
    python train.py keras --deterministic   TensorFlow with the parity suite's settings: the same bits every run
    python train.py scratch --resume runs/<folder>          continue an interrupted run
    python train.py eval WEIGHTS [--engine scratch|keras]   test accuracy of saved weights
    python train.py compare [--arch blog] [--epochs 3]      both engines side by side
    python train.py transfer --source runs/<folder>/model.npz --digits 5-9   reuse a trained base for a new task
    python train.py scratch --digits 0-4                    train and test on some digits only (labels 0..4)
    python train.py predict --weights FILE IMAGE...         classify your own digits
    python train.py convert SRC DST [--arch blog]           weights from one engine's format to the other's

Weights: .npz (scratch checkpoint), .weights.h5 (Keras, needs --arch) or .keras.
"""

import scratch  # noqa: I001  (first: it sets OpenBLAS's thread timeout before NumPy loads OpenBLAS)

import argparse
import contextlib
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from cli import augment, digits, runs, transfer
from scratch.keras_io import weights_files
from cli.options import ArgumentParser, fraction, learning_rate, non_negative, open_fraction, positive_int, seed_int
from cli.engines import (DEFAULT_LR, OPTIMIZER_OPTIONS, OPTIMIZERS, KerasEngine, ScratchEngine, load_scratch_model,
                         with_label_smoothing)

DEFAULTS = {"arch": "blog", "epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": None, "seed": 0,
            "limit": None, "test_limit": None, "dtype": "float32", "data": None, "init_from": None, "threads": 1,
            "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
            "label_smoothing": None, "digits": None, "augment": False, "rotation": None, "shift": None,
            "zoom": None, "preprocess": None, "from_logits": None, "validation_split": None}
RESUMABLE_CHANGES = ("epochs", "data", "threads")  # what --resume lets you change; the rest is the run's
N_TRAIN = 60000
N_TEST = 10000
DETERMINISTIC_HELP = ("run TensorFlow with the parity suite's settings (oneDNN off, op determinism on): the same "
                      "bits every run and a bit-identical --resume, at some speed; default: TensorFlow as it ships")


@contextlib.contextmanager
def preprocess_given(preprocess):
    """Silence the "does not start with a Rescaling layer ... assuming x / 255" warning of a ``.keras``
    file when ``--preprocess`` says how pixels are scaled (it is then what the run uses)."""
    with warnings.catch_warnings():
        if preprocess is not None:
            warnings.filterwarnings("ignore", message=".*does not start with a Rescaling layer")
        yield


def architecture(opts, deterministic=False):
    """The description ``--arch`` names: a registry name, a JSON file, or a Keras model file
    (``.keras``: its architecture, read with Keras; its weights come with ``--init-from``)."""
    arch = opts["arch"]
    if isinstance(arch, str) and arch.endswith(".keras"):  # read without TensorFlow
        with preprocess_given(opts.get("preprocess")):
            desc = weights_files.load_weights_file(arch).get_config()
    else:
        desc = scratch.get_architecture(arch)
    # what a model file cannot say about its training data: how pixels are scaled, what the output is
    if opts.get("preprocess") is not None:
        desc["preprocess"] = opts["preprocess"]
    if opts.get("from_logits") is not None:
        desc["loss"] = {**desc["loss"], "from_logits": opts["from_logits"]}
    return scratch.architectures.validate(desc, f"--arch {arch}")


def optimizer_options(opts):
    """``--weight-decay``, ``--clipnorm``, ``--global-clipnorm``, ``--clipvalue`` for either engine's optimizer."""
    return {k: opts.get(k) for k in OPTIMIZER_OPTIONS}


def build_parser():
    p = ArgumentParser(prog="train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{scratch,keras,eval,compare,transfer,predict,convert}")

    model_opts = ArgumentParser(add_help=False)
    model_opts.add_argument("--arch", help="registry name (blog, lenet) or a JSON architecture file (default blog)")
    model_opts.add_argument("--epochs", type=positive_int, help="epochs in all (default 3)")
    model_opts.add_argument("--batch-size", type=positive_int, help="images per step (default 32)")
    model_opts.add_argument("--optimizer", choices=OPTIMIZERS,
                            help="sgd, momentum (SGD, momentum 0.9), nesterov, adam, rmsprop, adamw (default adam)")
    model_opts.add_argument("--weight-decay", type=non_negative,
                            help="decoupled weight decay w -= w * wd * lr before each update, as Keras's "
                                 "weight_decay (default off; adamw: 0.004)")
    model_opts.add_argument("--clipnorm", type=learning_rate, help="clip each gradient to this L2 norm")
    model_opts.add_argument("--global-clipnorm", type=learning_rate,
                            help="scale all gradients together so their joint L2 norm is at most this")
    model_opts.add_argument("--clipvalue", type=learning_rate, help="clip every gradient entry to [-v, v]")
    model_opts.add_argument("--label-smoothing", type=fraction,
                            help="smooth the targets (categorical cross-entropy on one-hot labels), e.g. 0.1")
    model_opts.add_argument("--lr", type=learning_rate,
                            help="learning rate (default " + ", ".join(f"{k} {v}" for k, v in DEFAULT_LR.items()) + ")")
    model_opts.add_argument("--seed", type=seed_int, help="initial weights, batch order, dropout (default 0)")
    model_opts.add_argument("--limit", type=positive_int, help="train on the first N training images only")
    model_opts.add_argument("--test-limit", type=positive_int, help="evaluate on the first N test images only")
    model_opts.add_argument("--validation-split", type=open_fraction, metavar="FRACTION",
                            help="hold out the last FRACTION of the training images (after --digits and --limit, "
                                 "before shuffling, as Keras's fit(validation_split=)) and report validation loss "
                                 "and accuracy after every epoch: choose an epoch on them, not on the test set "
                                 "(default: none held out)")
    model_opts.add_argument("--dtype", choices=("float32", "float64"), help="compute precision (default float32)")
    model_opts.add_argument("--data", help="MNIST .npz (default: $MNIST_PATH, data/mnist.npz, Keras's cache)")
    model_opts.add_argument("--out", help="output folder (default a new folder under runs/)")
    model_opts.add_argument("--init-from", metavar="FILE", help="start from weights saved by either engine")
    model_opts.add_argument("--threads", type=positive_int,
                            help="BLAS threads for NumPy (default 1: these small matrices gain little from more, "
                                 "and a thread pool on busy cores was measured 5-8x slower; with 1 the scratch "
                                 "engine splits its large products over its own threads)")
    model_opts.add_argument("--no-plots", action="store_true", help="skip the pictures")
    digits.add_digits_option(model_opts)
    model_opts.add_argument("--preprocess", choices=scratch.architectures.PREPROCESS,
                            help="how pixels are scaled before the model: center x/255-0.5, scale x/255, raw 0-255 "
                                 "(default: the architecture's; a .keras file's leading Rescaling)")
    model_opts.add_argument("--from-logits", action=argparse.BooleanOptionalAction, default=None,
                            help="the model outputs logits (--from-logits) or probabilities (--no-from-logits); "
                                 "default: the architecture's loss (a .keras file: logits)")
    model_opts.add_argument("--augment", action="store_true", default=None,
                            help="randomly rotate, shift and zoom every training batch (the same draws in both "
                                 "engines for a seed; picture augmented.png)")
    for name, text in (("rotation", "rotation factor, a fraction of a full turn"),
                       ("shift", "shift factor, a fraction of the height and width"),
                       ("zoom", "zoom factor (1 +- zoom)")):
        model_opts.add_argument(f"--{name}", type=fraction,
                                help=f"with --augment: {text} (default {augment.DEFAULT_FACTORS[name]}; 0: off)")

    for engine, text in (("scratch", "train with the NumPy engine"), ("keras", "train the Keras 3 twin")):
        s = sub.add_parser(engine, parents=[model_opts], help=text, description=text)
        s.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last completed epoch")
        if engine == "keras":
            s.add_argument("--deterministic", action="store_true", help=DETERMINISTIC_HELP)
        if engine == "scratch":
            s.add_argument("--no-convert", action="store_true",
                           help="do not write model.weights.h5 for Keras (written in a child process, without TensorFlow)")

    c = sub.add_parser("compare", parents=[model_opts], help="train both engines on the same batches",
                       description="Train both engines from the same initial weights on the same batches; "
                                   "per epoch, each one's loss and accuracy and their largest weight difference.")
    c.add_argument("--deterministic", action="store_true",
                   help="accepted for symmetry with 'keras': compare always runs TensorFlow deterministically")

    transfer.add_parser(sub, model_opts)

    e = sub.add_parser("eval", help="test loss and accuracy of saved weights")
    e.add_argument("weights", metavar="WEIGHTS", help=".npz, .weights.h5 (needs --arch) or .keras")
    e.add_argument("--engine", choices=("scratch", "keras"), default="scratch")
    e.add_argument("--arch", help="architecture the weights must fit (needed for .weights.h5)")
    e.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    e.add_argument("--data", help="MNIST .npz")
    e.add_argument("--limit", type=positive_int, help="evaluate on the first N test images only")
    digits.add_digits_option(e, help="test on these digits only, the model's outputs standing for them in order "
                                       "(default: the run's metrics.json beside the weights, else all ten)")

    pr = sub.add_parser("predict", help="classify your own images of digits")
    pr.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG, any size, dark or light background")
    pr.add_argument("--weights", required=True, help=".npz, .weights.h5 (needs --arch) or .keras")
    pr.add_argument("--engine", choices=("scratch", "keras"), default="scratch")
    pr.add_argument("--arch", help="architecture (needed for .weights.h5)")
    pr.add_argument("--save-input", metavar="DIR", help="also write each 28x28 network input as a PNG in DIR")
    digits.add_digits_option(pr, help="the digits the model's outputs stand for, as it was trained with --digits "
                                        "(default: the run's metrics.json beside the weights, else 0-9)")

    cv = sub.add_parser("convert", help="convert weights between the engines' formats")
    cv.add_argument("src", metavar="SRC")
    cv.add_argument("dst", metavar="DST", help=".npz, .weights.h5 or .keras")
    cv.add_argument("--arch", help="architecture (needed when SRC is .weights.h5)")
    return p


# -- options -----------------------------------------------------------------------------------
def resolve_options(args):
    """Every training option, defaults filled in (``lr`` from the optimizer)."""
    opts = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in DEFAULTS.items()}
    if opts["lr"] is None:
        opts["lr"] = DEFAULT_LR[opts["optimizer"]]
    given = [f"--{k}" for k in augment.DEFAULT_FACTORS if opts[k] is not None]
    if given and not opts["augment"]:
        raise ValueError(f"{', '.join(given)} without --augment: add --augment to augment the training images")
    if opts["augment"]:
        opts.update({k: v for k, v in augment.DEFAULT_FACTORS.items() if opts[k] is None})
    else:
        opts["augment"] = False
    if opts["limit"] is not None and opts["limit"] > N_TRAIN:
        raise ValueError(f"--limit {opts['limit']}: MNIST has {N_TRAIN} training images")
    if opts["test_limit"] is not None and opts["test_limit"] > N_TEST:
        raise ValueError(f"--test-limit {opts['test_limit']}: MNIST has {N_TEST} test images")
    return opts


def resume_options(args, saved, engine):
    if saved.get("engine") != engine:
        raise ValueError(f"--resume {args.resume}: that run used the {saved.get('engine')!r} engine; "
                         f"resume it with 'python train.py {saved.get('engine')} --resume {args.resume}'")
    opts = dict(saved["options"])
    for key in DEFAULTS:
        given = getattr(args, key)
        if given is None or given == opts.get(key):
            continue
        if key not in RESUMABLE_CHANGES:
            raise ValueError(f"--resume keeps the run's options: --{key.replace('_', '-')} was {opts.get(key)!r}, "
                             f"received {given!r} (only --epochs, --data and --threads may change)")
        opts[key] = given
    if args.init_from is not None:
        raise ValueError("--init-from and --resume cannot be combined: a resumed run continues from its checkpoint")
    return opts


def data_record(path):
    """What ``metrics.json`` records of the data: the file actually used and its SHA-256."""
    return {"file": str(Path(path).resolve()), "sha256": scratch.data.file_sha256(path)}


def load_data(opts, preprocess):
    """``(x, y, x_test, y_test, x_test_raw, validation)``: ``validation`` is ``(x_val, y_val)``, the last
    ``--validation-split`` of the training images (after ``--digits`` and ``--limit``), or None."""
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist(opts["data"])
    x_train, y_train = digits.select_digits(x_train, y_train, opts.get("digits"))  # then --limit of those
    x_test, y_test = digits.select_digits(x_test, y_test, opts.get("digits"))
    if opts.get("limit"):
        x_train, y_train = x_train[:opts["limit"]], y_train[:opts["limit"]]
    if opts.get("test_limit"):
        x_test, y_test = x_test[:opts["test_limit"]], y_test[:opts["test_limit"]]
    x_train, y_train, validation = runs.validation_split(x_train, y_train, opts.get("validation_split"))
    if validation is not None:
        validation = (scratch.preprocess(validation[0], preprocess, opts["dtype"]), validation[1].astype(np.int64))
    return (scratch.preprocess(x_train, preprocess, opts["dtype"]), y_train.astype(np.int64),
            scratch.preprocess(x_test, preprocess, opts["dtype"]), y_test.astype(np.int64), x_test, validation)


def _images_line(x, validation):
    """``1000 training images`` (``900 training images, 100 held out for validation``)."""
    return f"{len(x)} training images" + (f", {len(validation[0])} held out for validation" if validation else "")


def init_weights(opts, desc):
    if opts["init_from"] is None:
        return None
    model = load_scratch_model(opts["init_from"], arch=desc, dtype=opts["dtype"], what="--init-from")
    return model.get_weights()


# -- training ------------------------------------------------------------------------------------
def make_augmenter(opts):
    """``--augment``: the batch augmenter (``cli.augment``), or None."""
    if not opts.get("augment"):
        return None
    return augment.Augmenter(opts["rotation"], opts["shift"], opts["zoom"], opts["seed"], opts["dtype"])


def draw_augmented(augmenter, x, out, title):
    """``augmented.png``: the first training digits and augmented versions of them."""
    from cli import plots

    plots.augmented(x[:8], augmenter.examples(x[:8]), out / "augmented.png", title)
    return "augmented.png"


def cmd_train(args, engine_name, argv, extra=None):
    """One engine's run; ``extra``: more entries for ``metrics.json`` (``transfer`` writes what it transferred).
    A resumed fine-tuning run carries on into its phase 2 (``cli/transfer.py``)."""
    if args.resume and extra is None and transfer.phase_2_planned(args.resume):
        return transfer.resume_phase_1(args, engine_name, argv, _one_run)
    rc = _one_run(args, engine_name, argv, extra)
    if rc == 0 and args.resume:
        transfer.phase_2_resumed(args.resume)
    return rc


def _one_run(args, engine_name, argv, extra=None):
    wall_start = time.perf_counter()
    held = []  # the folder's lock, released however the run ends
    try:
        return _train(args, engine_name, argv, wall_start, held.append, extra)
    finally:
        for lock in held:
            lock.release()


def _checkpoint_meta(history, run):
    return {"epoch": len(history["epoch"]), "history": history, "run": run}


def _refuse_non_finite(ckpt, arrays):
    """A run's checkpoint holds only finite weights and optimizer state (a diverging run stops before it
    writes one): NaN or inf there is damage, which resuming would blame on --lr a few steps later."""
    for key, a in arrays.items():
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            raise ValueError(f"--resume: checkpoint {ckpt}: {key} holds {int(np.sum(~np.isfinite(a)))} NaN or inf "
                             f"value(s) of {a.size}; the checkpoint is damaged, refusing to continue from it")


def _resume_engine(args, engine_name, out, saved, opts, desc, deterministic=False):
    """The engine of ``out``'s checkpoint, checked against the run's record first."""
    ckpt = out / runs.CHECKPOINT
    if engine_name == "scratch":
        model, meta = scratch.load_checkpoint(ckpt)
        if model.optimizer is None:
            raise ValueError(f"checkpoint {ckpt}: holds no optimizer state, cannot resume from it")
        found = {"architecture": model.get_config(), "dtype": model.dtype.name, "seed": meta.get("model_seed"),
                 "optimizer": (type(model.optimizer).__name__, model.optimizer.get_config())}
        runs.check_checkpoint(out, saved, opts, meta, found)
        _refuse_non_finite(ckpt, {**{f"weight {i}": w for i, w in enumerate(model.get_weights())},
                                  **{f"optimizer state {k!r}": v for k, v in model.optimizer.get_state().items()}})
        return ScratchEngine(model), meta
    data, meta = KerasEngine.read_checkpoint(ckpt)
    _refuse_non_finite(ckpt, {k: v for k, v in data.items() if k.startswith(("weight_", "optimizer_"))})
    shapes = [data[k].shape for k in sorted(k for k in data if k.startswith("weight_"))]
    runs.check_checkpoint(out, saved, opts, meta, {"weight_shapes": shapes})
    return KerasEngine.load_checkpoint(ckpt, desc, opts["dtype"], opts["optimizer"], opts["lr"],
                                       options=optimizer_options(opts), deterministic=deterministic)


def _train(args, engine_name, argv, wall_start, hold, extra=None):
    if args.resume:
        if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
            raise ValueError(f"--out {args.out} and --resume {args.resume}: a resumed run continues in its own "
                             f"folder; leave out --out")
        runs.read_run(args.resume)  # clear errors before taking the folder
        out = Path(args.resume)
        lock = runs.FolderLock(out, "--resume")
        hold(lock)
        saved = runs.read_run(out)
        opts = resume_options(args, saved, engine_name)
        desc = saved["architecture"]
        if extra is None and "transfer" in saved:  # a transfer run keeps its record
            extra = {"transfer": saved["transfer"]}
    else:
        saved = None
        opts = resolve_options(args)
        deterministic = engine_name == "keras" and getattr(args, "deterministic", False)
        desc = with_label_smoothing(architecture(opts, deterministic), opts["label_smoothing"])
        out = Path(args.out) if args.out else None
        if out is not None:
            runs.refuse_existing_run(out, engine_name)
            runs.refuse_occupied(out, keep=transfer.OWN_FILES if "transfer" in (extra or {}) else ())
    digits.check_classes(desc, opts.get("digits"))
    data_file = scratch.data.locate_mnist(opts["data"])[1]
    x, y, x_test, y_test, x_test_raw, validation = load_data(opts, desc["preprocess"])
    # Keras: TensorFlow as it ships unless --deterministic; a resumed deterministic run stays deterministic
    deterministic = getattr(args, "deterministic", False) or bool((saved or {}).get("deterministic"))
    tf_options = {"deterministic": deterministic} if engine_name == "keras" else {}
    if saved is None:
        init = init_weights(opts, desc)
        cls = ScratchEngine if engine_name == "scratch" else KerasEngine
        engine = cls.create(desc, opts["dtype"], opts["seed"], opts["optimizer"], opts["lr"], init,
                            options=optimizer_options(opts), **tf_options)
        out = runs.prepare_out(out) if out is not None else runs.claim_new_run_dir("runs", engine_name, desc["name"])
        lock = runs.FolderLock(out)
        hold(lock)
        runs.refuse_existing_run(out, engine_name)  # a run that started meanwhile
        history = runs.empty_history(validation is not None)
        run_id = uuid.uuid4().hex
    else:
        engine, meta = _resume_engine(args, engine_name, out, saved, opts, desc, deterministic)
        history = meta["history"]
        run_id = saved.get("run_id") or uuid.uuid4().hex
    lock.clean_temporaries()
    start = len(history["epoch"])
    run = {"id": run_id, "engine": engine_name, "options": {k: opts.get(k) for k in runs.RUN_OPTIONS}}
    record = {"engine": engine_name, "run_id": run_id, "command": runs.command_line(argv), "arch": desc["name"],
              "architecture": desc, "options": opts, "data": data_record(data_file), "seed": opts["seed"],
              "versions": runs.versions(engine_name), "train_images": len(x), "test_images": len(x_test),
              "validation_images": len(validation[0]) if validation else 0, "status": "running", **(extra or {})}
    if engine_name == "keras":
        record.update(deterministic=deterministic, tensorflow=engine.settings)
    print(f"{engine_name} engine - {desc['name']} ({engine.scratch_model().count_params():,} parameters) - "
          f"{opts['optimizer']} lr {opts['lr']} - batch {opts['batch_size']} - {opts['dtype']} - seed {opts['seed']} "
          f"- {_images_line(x, validation)} - output {runs.rel(out)}"
          + (" - deterministic" if deterministic and engine_name == "keras" else "")
          + (f" - resuming after epoch {start}" if saved else ""), flush=True)
    ckpt = out / runs.CHECKPOINT
    resume_hint = f"python train.py {engine_name} --resume {runs.rel(out)}"
    checkpointed = [start]  # the epochs checkpoint.npz holds: the record never runs ahead of it

    def save_checkpoint():
        try:
            engine.save_checkpoint(ckpt, _checkpoint_meta(history, run))
        except OSError as e:  # disk full, read-only...: the previous checkpoint is intact (atomic_write)
            if not ckpt.exists():
                raise ValueError(f"could not write the first checkpoint {runs.rel(ckpt)} ({e.strerror or e}); "
                                 f"nothing was trained: make room and start the run again") from None
            raise ValueError(f"could not write the checkpoint {runs.rel(ckpt)} after epoch {len(history['epoch'])} "
                             f"({e.strerror or e}); it still holds {checkpointed[0]} epoch(s), and the run's record "
                             f"says so: make room and continue with '{resume_hint} --epochs {opts['epochs']}'") \
                from None
        checkpointed[0] = len(history["epoch"])

    def save_progress(status, extra=None):
        kept = {k: v[:checkpointed[0]] for k, v in history.items()}
        runs.write_json(out / runs.METRICS, {**record, "status": status, "epochs_completed": checkpointed[0],
                                             "history": kept, **(extra or {})})
        runs.write_history_csv(out / runs.HISTORY, kept)

    augmenter = make_augmenter(opts)
    if augmenter is not None:
        record["augmentation"] = augmenter.record()
        if not args.no_plots:
            draw_augmented(augmenter, x, out, f"--augment {augmenter.factors} - first training digits (left)")
    runner = runs.EpochRunner([engine], x, y, x_test, y_test, opts["batch_size"], opts["seed"], augment=augmenter,
                              validation=validation)
    previous = runs.terminate_as_interrupt()
    try:
        if saved is None:
            save_checkpoint()
            save_progress("running")
        if saved is not None and start >= opts["epochs"]:
            print(f"the run already has {start} epoch(s), nothing to train (give --epochs N, N > {start}, to train "
                  f"more); rewriting its results")
        for epoch in range(start, opts["epochs"]):
            logs = runner.epoch(epoch, opts["epochs"])[0]
            runs.append(history, epoch, logs)
            runs.print_epoch(epoch, opts["epochs"], logs)
            save_checkpoint()
            save_progress("running")
        return finish_run(args, engine, out, record, history, x_test, x_test_raw, y_test, desc, wall_start,
                          save_progress)
    except KeyboardInterrupt as e:
        epoch, step = runner.position
        save_progress("interrupted")
        what = "terminated (SIGTERM)" if isinstance(e, runs.Terminated) else "interrupted"
        print(f"\n{what} in epoch {epoch + 1} (batch {step + 1}/{runner.steps}); {checkpointed[0]} "
              f"completed epoch(s) are saved in {runs.rel(ckpt)}; resume with: {resume_hint}", file=sys.stderr)
        return 143 if isinstance(e, runs.Terminated) else 130
    except scratch.NonFiniteLossError as e:
        epoch, step = runner.position
        save_progress("diverged", {"error": str(e)})
        print(f"error: training stopped: {e} (epoch {epoch + 1}, batch {step + 1}/{runner.steps}); the last good "
              f"checkpoint ({checkpointed[0]} epoch(s)) is {runs.rel(ckpt)}; try a smaller --lr",
              file=sys.stderr)
        return 1
    except Exception as e:
        try:
            save_progress("failed", {"error": f"{type(e).__name__}: {e}"})
        except OSError:  # the disk that failed the run: the record stays as last written, never ahead
            pass
        raise
    finally:
        runs.signal.signal(runs.signal.SIGTERM, previous)


def finish_run(args, engine, out, record, history, x_test, x_test_raw, y_test, desc, wall_start, save_progress):
    from cli import artefacts

    outputs = engine.predict(x_test)
    test_loss, test_acc = engine.evaluate(x_test, y_test)
    model = engine.scratch_model()
    files = ["model.npz"]
    conversion = None
    if engine.name == "scratch":
        scratch.save_checkpoint(out / "model.npz", model, meta={"engine": "scratch", "history": history})
        if not getattr(args, "no_convert", False):
            conversion = artefacts.start_keras_conversion(out / "model.npz", out / "model.weights.h5")
    else:
        plain = scratch.build_model(desc, dtype=model.dtype)
        plain.set_weights(model.get_weights())
        scratch.save_checkpoint(out / "model.npz", plain, meta={"engine": "keras", "history": history})
        engine.keras_ref.save_keras_weights(model, out / "model.weights.h5")
        engine.keras_ref.save_keras_weights(model, out / "model.keras")
        files += ["model.weights.h5", "model.keras"]
    if not args.no_plots:
        files += artefacts.draw_pictures(out, model, history, x_test, x_test_raw, y_test, outputs,
                                         f"{engine.name} - {desc['name']}")
    if conversion is not None and artefacts.finish_conversion(conversion, out / "model.weights.h5"):
        files.append("model.weights.h5")
    seconds = sum(history["seconds"])
    images = record["train_images"] * len(history["epoch"])
    wall = time.perf_counter() - wall_start
    save_progress("complete", {"test_loss": test_loss, "test_accuracy": test_acc,
                               "train_images_per_s": images / seconds if seconds else None,
                               "train_seconds": seconds, "wall_time_s": wall, "files": files})
    print(f"{engine.name} {desc['name']}: test accuracy {test_acc:.4f} ({test_acc:.2%}) - test loss {test_loss:.4f} - "
          f"{len(history['epoch'])} epoch(s) - {images / seconds if seconds else 0:.0f} images/s - "
          f"wall time {wall:.1f} s - saved in {runs.rel(out)}")
    return 0


# -- compare -------------------------------------------------------------------------------------
def cmd_compare(args, argv, extra=None):
    wall_start = time.perf_counter()
    opts = resolve_options(args)
    desc = with_label_smoothing(architecture(opts, deterministic=True), opts["label_smoothing"])
    out = Path(args.out) if args.out else None
    if out is not None:
        runs.refuse_existing_run(out, "compare")
        runs.refuse_occupied(out, keep=transfer.OWN_FILES if "transfer" in (extra or {}) else ())
    digits.check_classes(desc, opts.get("digits"))
    x, y, x_test, y_test, _, validation = load_data(opts, desc["preprocess"])
    init = init_weights(opts, desc)
    engines = [cls.create(desc, opts["dtype"], opts["seed"], opts["optimizer"], opts["lr"], init,
                          options=optimizer_options(opts), **tf_options)
               for cls, tf_options in ((ScratchEngine, {}), (KerasEngine, {"deterministic": True}))]
    out = runs.prepare_out(out) if out is not None else runs.claim_new_run_dir("runs", "compare", desc["name"])
    lock = runs.FolderLock(out)
    try:
        runs.refuse_existing_run(out, "compare")
        lock.clean_temporaries()
        previous = runs.terminate_as_interrupt()
        try:
            return _compare(args, argv, opts, desc, engines, out, x, y, x_test, y_test, wall_start, extra,
                            validation)
        finally:
            runs.signal.signal(runs.signal.SIGTERM, previous)
    finally:
        lock.release()


def _compare(args, argv, opts, desc, engines, out, x, y, x_test, y_test, wall_start, extra=None, validation=None):

    def max_diff():
        return max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                   for a, b in zip(engines[0].weights(), engines[1].weights()))

    diffs = [max_diff()]
    print(f"compare - {desc['name']} - {opts['optimizer']} lr {opts['lr']} - batch {opts['batch_size']} - "
          f"{opts['dtype']} - seed {opts['seed']} - {_images_line(x, validation)} - output {runs.rel(out)}")
    print(f"initial weights: largest difference {diffs[0]:.3g}")
    if any(spec["class_name"] == "Dropout" for spec in desc["layers"]):
        print("note: this architecture has Dropout; the engines draw different masks, so their weights drift "
              "apart by more than rounding")
    histories = {e.name: runs.empty_history(validation is not None) for e in engines}
    augmenter = make_augmenter(opts)
    if augmenter is not None and not args.no_plots:
        draw_augmented(augmenter, x, out, f"--augment {augmenter.factors} - first training digits (left)")
    runner = runs.EpochRunner(engines, x, y, x_test, y_test, opts["batch_size"], opts["seed"], augment=augmenter,
                              validation=validation)
    val = f" {'val loss':>8} {'val acc':>7}" if validation else ""
    header = (f"{'epoch':>5} | {'scratch loss':>12} {'acc':>7}{val} {'test acc':>8} | {'keras loss':>12} {'acc':>7}"
              f"{val} {'test acc':>8} | {'max |dw|':>9}")

    def val_cells(lg):
        return f" {lg['val_loss']:>8.4f} {lg['val_accuracy']:>7.4f}" if validation else ""

    try:
        for epoch in range(opts["epochs"]):
            logs = runner.epoch(epoch, opts["epochs"])
            for e, lg in zip(engines, logs):
                runs.append(histories[e.name], epoch, lg)
            diffs.append(max_diff())
            if epoch == 0:
                print(header)
            print(f"{epoch + 1:>5} | {logs[0]['loss']:>12.6f} {logs[0]['accuracy']:>7.4f}{val_cells(logs[0])} "
                  f"{logs[0]['test_accuracy']:>8.4f} | {logs[1]['loss']:>12.6f} {logs[1]['accuracy']:>7.4f}"
                  f"{val_cells(logs[1])} {logs[1]['test_accuracy']:>8.4f} | {diffs[-1]:>9.3g}", flush=True)
    except KeyboardInterrupt as e:
        what = "terminated (SIGTERM)" if isinstance(e, runs.Terminated) else "interrupted"
        print(f"\n{what} (compare keeps no checkpoint)", file=sys.stderr)
        return 143 if isinstance(e, runs.Terminated) else 130
    except scratch.NonFiniteLossError as e:
        epoch, step = runner.position
        print(f"error: training stopped: {e} (epoch {epoch + 1}, batch {step + 1}/{runner.steps}); try a smaller --lr",
              file=sys.stderr)
        return 1
    record = {"engine": "compare", "command": runs.command_line(argv), "arch": desc["name"], "architecture": desc,
              "options": opts, "data": data_record(scratch.data.locate_mnist(opts["data"])[1]), "seed": opts["seed"],
              "versions": runs.versions("keras"), "train_images": len(x),
              "validation_images": len(validation[0]) if validation else 0,
              "test_images": len(x_test), "deterministic": True, "tensorflow": engines[1].settings,
              "histories": histories, "max_weight_difference": diffs,
              "augmentation": augmenter.record() if augmenter is not None else None,
              "wall_time_s": time.perf_counter() - wall_start, "status": "complete", **(extra or {})}
    runs.write_json(out / runs.METRICS, record)
    for name, h in histories.items():
        runs.write_history_csv(out / f"history_{name}.csv", h)
    if not args.no_plots:
        from cli import plots

        plots.comparison(histories, diffs[1:], out / "compare.png",
                         f"scratch vs keras - {desc['name']} - {opts['optimizer']} lr {opts['lr']} - {opts['dtype']}")
    print(f"largest weight difference after {opts['epochs']} epoch(s): {diffs[-1]:.3g} - "
          f"wall time {record['wall_time_s']:.1f} s - saved in {runs.rel(out)}")
    return 0


# -- eval, predict, convert ------------------------------------------------------------------------
def check_classifier(model, path, what):
    """``eval`` and ``predict`` take a classifier: one image input, one output of one score per class."""
    if isinstance(model.input_shape, list):
        raise ValueError(f"{what} {path}: model {model.name!r} has {len(model.input_shape)} inputs "
                         f"{model.input_shape}; eval and predict take a model with one image input")
    shapes = model.output_shape
    if isinstance(shapes, list):
        raise ValueError(f"{what} {path}: model {model.name!r} has {len(shapes)} outputs {shapes}; eval and "
                         f"predict take a model with one output, one score per class (batch, classes)")
    if len(shapes) != 2:
        raise ValueError(f"{what} {path}: model {model.name!r} outputs shape {shapes}, not one score per class "
                         f"(batch, classes); eval and predict take a classifier")


def load_for_engine(path, arch, dtype, engine, what="WEIGHTS"):
    """``(engine, model)`` for saved weights: the chosen engine (``ScratchEngine`` or ``KerasEngine``,
    which offer ``predict`` and ``evaluate``) and the scratch model the weights loaded into."""
    model = load_scratch_model(path, arch=arch, dtype=dtype)
    check_classifier(model, path, what)
    if engine == "scratch":
        model.compile("sgd")
        return ScratchEngine(model), model
    keras_engine = KerasEngine.create(model.get_config(), dtype, None, "sgd", 0.01, model.get_weights())
    return keras_engine, model


def cmd_eval(args):
    if args.limit is not None and args.limit > N_TEST:
        raise ValueError(f"--limit {args.limit}: MNIST has {N_TEST} test images")
    engine, model = load_for_engine(args.weights, args.arch, args.dtype, args.engine)
    known = digits.class_digits(model, args.digits, args.weights, what="WEIGHTS")
    (_, _), (x_test, y_test) = scratch.load_mnist(args.data)
    x_test, y_test = digits.select_digits(x_test, y_test, None if known == list(range(10)) else known)
    if args.limit:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    x = scratch.preprocess(x_test, model.preprocess, args.dtype)
    loss, acc = engine.evaluate(x, y_test.astype(np.int64))
    correct = int(round(acc * len(x)))
    shown = "" if known == list(range(10)) else f" - digits {','.join(map(str, known))}"
    print(f"{args.weights} - {args.engine} engine - {model.name}{shown}: test accuracy {acc:.4f} ({correct}/{len(x)}) - "
          f"test loss {loss:.4f}")
    return 0


def cmd_predict(args):
    from cli import artefacts, images

    engine, model = load_for_engine(args.weights, args.arch, "float32", args.engine, what="--weights")
    labels = digits.class_digits(model, args.digits, args.weights)
    failed = 0
    folder = runs.prepare_out(args.save_input, "--save-input") if args.save_input else None
    saved_names = set()
    for path in args.images:
        try:
            digit = images.load_digit(path)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        if folder is not None:
            from PIL import Image

            name, k = Path(path).stem + "_28x28.png", 1
            while name in saved_names:  # two inputs with one stem (a/3.png, b/3.jpg) keep both
                k += 1
                name = f"{Path(path).stem}-{k}_28x28.png"
            saved_names.add(name)
            Image.fromarray(digit).save(folder / name)
        x = scratch.preprocess(digit[None], model.preprocess, "float32")
        prob = artefacts.probabilities(engine.predict(x), model.outputs_are_logits)[0]
        best = int(prob.argmax())
        print(f"{path}: {labels[best]} ({prob[best]:.1%})  " + " ".join(f"{labels[d]}:{p:.3f}"
                                                                        for d, p in enumerate(prob)))
    return 1 if failed else 0


def cmd_convert(args):
    dst = str(args.dst)
    model = load_scratch_model(args.src, arch=args.arch, what="SRC")
    if dst.endswith(".npz"):
        scratch.save_checkpoint(dst, model)
    elif dst.endswith((".weights.h5", ".keras")):  # written without TensorFlow
        weights_files.save_weights_file(model, dst)
    else:
        raise ValueError(f"DST {dst}: unknown file type; expected .npz, .weights.h5 or .keras")
    print(f"{args.src} -> {dst}")
    return 0


def show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning is one ``warning:`` line on stderr (Keras's and this project's alike)."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    warnings.showwarning = show_warning
    try:
        if args.command in ("scratch", "keras", "compare", "transfer"):
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=args.threads or DEFAULTS["threads"], user_api="blas")
        if args.command in ("scratch", "keras"):
            return cmd_train(args, args.command, argv)
        if args.command == "compare":
            return cmd_compare(args, argv)
        if args.command == "transfer":
            with preprocess_given(args.preprocess):  # a .keras --source without Rescaling: --preprocess says it
                return transfer.cmd_transfer(args, argv, cmd_train, cmd_compare)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "predict":
            return cmd_predict(args)
        return cmd_convert(args)
    except (ValueError, OSError) as e:  # DataError is a ValueError: bad files, options, weights
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
