"""Transfer learning on the command line, and MNIST digit subsets.

``train.py transfer --source FILE`` takes a trained model (a scratch ``.npz``, a ``.keras``
file, or a ``.weights.h5`` with ``--arch``; ``Sequential`` or Functional), keeps its layers up
to ``--base-until NAME`` (default: the last layer before the first ``Flatten`` or global
pooling; in a graph, the first one every path to the output passes through), puts a new head
on top (``Flatten``, or average pooling for a graph, when the base ends in images, optional
hidden ``Dense``/``Dropout``, then a ``Dense`` with one unit per class of the new task),
freezes the base (``trainable=False``; a frozen ``BatchNormalization`` runs in inference mode,
as in Keras) and trains. A graph that takes larger or 3-channel images (``keras.applications``)
gets an input adapter (``transfer_model``'s ``input_shape``) so that it trains on MNIST.

The transfer model is an ordinary architecture description (JSON: a ``Sequential`` description
or a graph's ``get_config()``, the frozen layers marked ``"trainable": false``) plus its initial weights (the source's for the base, seeded fresh ones
for the head). ``transfer`` writes both into the run folder (``transfer_arch.json``,
``transfer_init.npz``) and then runs the ordinary ``scratch``, ``keras`` or ``compare``
training on them, so the same run in the other engine, or both side by side, is::

    python train.py compare --arch RUN/transfer_arch.json --init-from RUN/transfer_init.npz --digits 5-9

``--fine-tune K`` is Keras's two-phase recipe: phase 1 trains the head with the whole base
frozen (``--epochs``, ``--lr``); phase 2 unfreezes the last K layers of the base that hold
weights and trains head and unfrozen layers together, with a new optimizer at one lower
learning rate for all of them (``--fine-tune-lr``, default ``--lr`` / 10) for
``--fine-tune-epochs`` (default ``--epochs``), in the sub-folder ``fine_tune/``. The base's
``BatchNormalization`` layers among the last K are unfrozen too, and then normalize with batch
statistics and update their moving ones; ``--fine-tune-bn frozen`` keeps them frozen, in
inference mode, and does not count them in K. That is Keras's advice: its fine-tuning guide
calls the base with ``training=False`` (inference mode, gamma and beta still trained), its
EfficientNet example leaves the BatchNormalization layers frozen, as here.

``--digits 0-4`` (or ``5,6,7``) keeps the images of those digits, train and test alike, and
renumbers their labels 0, 1, ... in the order given (sorted), for every training command.
"""

import argparse
import copy
import json
import shlex
import sys
from pathlib import Path

import scratch
from cli import runs
from cli.engines import DEFAULT_LR, import_keras
from cli.options import fraction, learning_rate, positive_int
from cli.transfer_models import MNIST_SHAPE, initial_model, load_source, transfer_description, transfer_model

TRANSFER_ARCH = "transfer_arch.json"

TRANSFER_INIT = "transfer_init.npz"

FINE_TUNE_PLAN = "fine_tune_plan.json"  # phase 2, planned before phase 1 trains: a resumed phase 1 carries on
FINE_TUNE = "fine_tune"  # phase 2's folder, inside phase 1's
OWN_FILES = (TRANSFER_ARCH, TRANSFER_INIT, FINE_TUNE_PLAN)  # what transfer writes into --out before the run starts

ENGINES = ("scratch", "keras", "compare")



def add_parser(sub, model_opts):
    t = sub.add_parser("transfer", parents=[model_opts], help="transfer a trained model's base to a new task",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.set_defaults(shared_options=tuple(model_opts._actions))  # what same_run_command repeats
    t.add_argument("--source", required=True, metavar="FILE",
                   help="the trained model: .npz (either engine's run), .keras, or .weights.h5 with --arch")
    t.add_argument("--engine", choices=ENGINES, default="scratch",
                   help="train with scratch, keras, or both side by side (compare) (default scratch)")
    t.add_argument("--base-until", metavar="LAYER",
                   help="the last layer of the source kept in the base (default: the one before the first Flatten "
                        "or global pooling)")
    t.add_argument("--head-pooling", choices=("flatten", "avg", "max"),
                   help="how the head turns the base's feature maps into a vector (default flatten for a Sequential "
                        "source, avg for a Functional one, as keras.applications' pooling='avg')")
    t.add_argument("--head-hidden", type=positive_int, metavar="UNITS",
                   help="a hidden Dense layer (relu) in the head (default none)")
    t.add_argument("--head-dropout", type=fraction, metavar="RATE", help="Dropout before the output (default none)")
    t.add_argument("--fine-tune", type=positive_int, metavar="K",
                   help="after training the head (phase 1), unfreeze the last K base layers with weights and train "
                        "again (phase 2, in RUN/fine_tune)")
    t.add_argument("--fine-tune-lr", type=learning_rate,
                   help="phase 2's learning rate, for every trainable layer (default --lr / 10)")
    t.add_argument("--fine-tune-epochs", type=positive_int, help="phase 2's epochs (default --epochs)")
    t.add_argument("--fine-tune-bn", choices=("trainable", "frozen"),
                   help="phase 2: the base's BatchNormalization layers are unfrozen like the others (trainable, the "
                        "default: they then normalize with batch statistics and update their moving ones) or stay "
                        "frozen, in inference mode, and are not counted by K (frozen: Keras's advice)")
    t.add_argument("--baseline", action="store_true",
                   help="the comparison run: the same network, every layer trainable, from random weights")
    t.add_argument("--deterministic", action="store_true",
                   help="keras engine: TensorFlow with the parity suite's settings (compare always has them)")
    t.add_argument("--no-convert", action="store_true", help="scratch engine: do not write model.weights.h5")
    return t



def _phase_args(args, **changes):
    phase = copy.copy(args)
    phase.resume = None
    for k, v in changes.items():
        setattr(phase, k, v)
    return phase



def cmd_transfer(args, argv, train_one, compare):
    """``train.py transfer``: write the transfer model into the run folder, then train it with
    ``train_one(args, engine, argv, extra)`` or ``compare(args, argv, extra)``."""
    if args.init_from is not None:
        raise ValueError("--init-from: transfer starts from --source (its base) and seeded head weights")
    for name in ("fine_tune_lr", "fine_tune_epochs", "fine_tune_bn"):
        if getattr(args, name) is not None and not args.fine_tune:
            raise ValueError(f"--{name.replace('_', '-')}: only with --fine-tune K (phase 2's setting)")
    if args.fine_tune and args.baseline:
        raise ValueError("--fine-tune and --baseline: the baseline trains every layer from the start")
    if args.fine_tune and args.engine == "compare":
        raise ValueError("--fine-tune with --engine compare: compare keeps no weights for phase 2; run the "
                         "transfer with --engine scratch (or keras): its fine_tune/metrics.json gives the compare "
                         "command of phase 2 (transfer.same_run_in_both_engines)")
    if args.arch is not None and not str(args.source).endswith(".weights.h5"):
        raise ValueError("--arch: only needed with a .weights.h5 --source (the other files hold their architecture)")
    dtype, seed = args.dtype or "float32", args.seed if args.seed is not None else 0
    if args.engine != "scratch":  # TensorFlow's settings are fixed when it loads, which reading a .keras may do
        import_keras(deterministic=args.engine == "compare" or args.deterministic)
    source = load_source(args.source, args.arch, dtype)
    classes = len(args.digits) if args.digits else 10
    graph = not isinstance(source, scratch.Sequential)
    options = {"base_until": args.base_until, "pooling": args.head_pooling, "hidden": args.head_hidden,
               "dropout": args.head_dropout}
    if graph:  # a Functional source: the transfer model is a graph; MNIST images adapted to its input
        model, info = transfer_model(source, classes, seed=seed, input_shape=MNIST_SHAPE, baseline=args.baseline,
                                     what=f"--source {args.source}", **options)
        desc = model.get_config()
        if args.fine_tune:
            model2, info2 = transfer_model(source, classes, fine_tune=args.fine_tune, seed=seed,
                                           input_shape=MNIST_SHAPE, keep_bn_frozen=args.fine_tune_bn == "frozen",
                                           **options)
            desc2 = model2.get_config()
    else:
        if tuple(source.input_shape[1:]) != MNIST_SHAPE:
            raise ValueError(f"--source {args.source}: model {source.name!r} takes "
                             f"{'x'.join(map(str, source.input_shape[1:]))} images, the command line trains on "
                             f"MNIST's 28x28x1 (a Functional model is adapted by padding; a Sequential one is not)")
        desc, info = transfer_description(source, classes, baseline=args.baseline, **options)
        if args.fine_tune:  # phase 2's model, checked before phase 1 trains
            desc2, info2 = transfer_description(source, classes, fine_tune=args.fine_tune,
                                                keep_bn_frozen=args.fine_tune_bn == "frozen", **options)
        model = initial_model(desc, info, source, dtype, seed)
    out = Path(args.out) if args.out else None
    if out is not None:
        runs.refuse_existing_run(out, args.engine)
        runs.refuse_occupied(out)
        out = runs.prepare_out(out)
    else:
        out = runs.claim_new_run_dir("runs", f"transfer-{args.engine}", desc["name"])
    runs.write_json(out / TRANSFER_ARCH, desc)
    scratch.save_checkpoint(out / TRANSFER_INIT, model, meta={"transfer": info})
    info = {"source": str(Path(args.source).resolve()), **info, "digits": args.digits,
            "architecture_file": TRANSFER_ARCH, "init_file": TRANSFER_INIT,
            "head": {"pooling": info["head_pooling"], "hidden": args.head_hidden, "dropout": args.head_dropout},
            "same_run_in_both_engines": same_run_command(args, out / TRANSFER_ARCH,
                                                         None if args.baseline else out / TRANSFER_INIT)}
    print(f"transfer from {args.source} ({source.name}): base {_names(info['kept_layers'])} "
          f"({'trainable, random weights: baseline' if args.baseline else 'frozen'}); head "
          f"{', '.join(info['head_layers'])} for {classes} classes", flush=True)
    phase1 = _phase_args(args, arch=str(out / TRANSFER_ARCH), out=str(out),
                         init_from=None if args.baseline else str(out / TRANSFER_INIT))
    extra = {"transfer": {**info, "phase": 1 if args.fine_tune else None}}
    if args.fine_tune:  # recorded from the start: phase 2 is asked for, and how (a resume carries on into it)
        extra["transfer"].update(fine_tune_asked=args.fine_tune, phase_2=PENDING, phase_2_folder=FINE_TUNE)
        runs.write_json(out / FINE_TUNE_PLAN, _phase_2_plan(args, argv, out, desc2, info, info2))
    rc = compare(phase1, argv, extra) if args.engine == "compare" else train_one(phase1, args.engine, argv, extra)
    if rc != 0 or not args.fine_tune:
        return rc
    return run_phase_2(out, train_one)


PENDING, RUNNING, COMPLETE = "pending (phase 1 not finished)", "running", "complete"


def _phase_2_plan(args, argv, out, desc2, info, info2):
    """Everything phase 2 needs, as plain data: its architecture, its arguments and its record."""
    folder = out / FINE_TUNE
    lr = _fine_tune_lr(args)
    epochs2 = args.fine_tune_epochs or args.epochs
    phase2 = _phase_args(args, arch=str(folder / TRANSFER_ARCH), out=str(folder), init_from=str(out / "model.npz"),
                         lr=lr, epochs=epochs2)
    extra2 = {"transfer": {**info, **info2, "source": info["source"], "phase": 2, "head": info["head"],
                           "architecture_file": TRANSFER_ARCH, "init_file": "../model.npz",
                           "phase_1_run": str(out.resolve()), "fine_tune_lr": lr,
                           "same_run_in_both_engines": same_run_command(args, folder / TRANSFER_ARCH,
                                                                        out / "model.npz", lr=lr, epochs=epochs2)}}
    return {"engine": args.engine, "architecture": desc2, "argv": list(argv), "extra": extra2,
            "args": {k: v for k, v in vars(phase2).items() if k != "shared_options"},
            "unfrozen": [la for la in info2["trainable_layers"] if la not in info2["head_layers"]], "lr": lr}


def run_phase_2(out, train_one):
    """Phase 2 of ``out``'s fine-tuning run, from the plan phase 1 recorded, in ``out/fine_tune``."""
    plan = json.loads((out / FINE_TUNE_PLAN).read_text())
    folder = runs.prepare_out(out / FINE_TUNE)
    runs.write_json(folder / TRANSFER_ARCH, plan["architecture"])
    print(f"fine-tuning: unfrozen {', '.join(plan['unfrozen'])} - lr {plan['lr']}", file=sys.stdout, flush=True)
    _mark_phase_2(out, RUNNING)
    rc = train_one(argparse.Namespace(**plan["args"]), plan["engine"], plan["argv"], plan["extra"])
    if rc == 0:
        _mark_phase_2(out, COMPLETE)
    return rc


def _mark_phase_2(out, state):
    """Phase 1's record says how far phase 2 is (``transfer.phase_2``)."""
    record = json.loads((out / runs.METRICS).read_text())
    record["transfer"]["phase_2"] = state
    runs.write_json(out / runs.METRICS, record)


def phase_2_planned(folder):
    """The run at ``folder`` is phase 1 of a fine-tuning transfer whose plan is there."""
    return (Path(folder) / FINE_TUNE_PLAN).is_file() and \
        (runs.read_run(folder).get("transfer") or {}).get("phase") == 1


def resume_phase_1(args, engine_name, argv, train_one):
    """``--resume`` of a fine-tuning run's phase 1: finish phase 1 (unless it is complete), then carry
    on into phase 2 (start it, or resume it if it started). Asking phase 1 for more epochs after phase 2
    started is refused: it would rewrite the ``model.npz`` phase 2 started from."""
    out = Path(args.resume)
    record = runs.read_run(out)
    if record["engine"] != engine_name:
        raise ValueError(f"--resume {args.resume}: a {record['engine']} run; resume it with: python train.py "
                         f"{record['engine']} --resume {args.resume}")
    phase2 = out / FINE_TUNE
    started = (phase2 / runs.METRICS).is_file()
    if started:
        status = runs.read_run(phase2).get("status")
        if args.epochs is not None or status == COMPLETE:
            raise ValueError(f"--resume {args.resume}: phase 2 ({runs.rel(phase2)}, {status}) started from this "
                             f"run's model.npz; resuming phase 1 would rewrite it"
                             + ("" if status == COMPLETE else
                                f"; carry on with: python train.py {engine_name} --resume {runs.rel(out)}"
                                f" (without --epochs)"))
        print(f"phase 1 is complete; resuming phase 2 in {runs.rel(phase2)}", flush=True)
        rc = train_one(_phase_args(args, resume=str(phase2)), engine_name, argv)
        if rc == 0:
            _mark_phase_2(out, COMPLETE)
        return rc
    if record.get("status") != COMPLETE or args.epochs is not None:
        rc = train_one(args, engine_name, argv)
        if rc != 0:
            return rc
    else:
        print("phase 1 is complete; starting phase 2", flush=True)
    return run_phase_2(out, train_one)


def phase_2_resumed(folder):
    """After a resumed run at ``folder`` completes: if it is a fine-tuning phase 2, its phase 1 says so."""
    transfer = runs.read_run(folder).get("transfer") or {}
    parent = Path(folder).parent
    if transfer.get("phase") == 2 and Path(folder).name == FINE_TUNE and (parent / FINE_TUNE_PLAN).is_file():
        _mark_phase_2(parent, COMPLETE)


def _fine_tune_lr(args):
    return args.fine_tune_lr or (args.lr if args.lr is not None else _default_lr(args.optimizer)) / 10



NOT_REPEATED = {"help", "arch", "init_from", "out"}



def same_run_command(args, arch, init_from, **override):
    """``python train.py compare ...`` that trains this run's model in both engines: its
    architecture and initial weights, and every training option the user gave (``override``:
    phase 2's learning rate and epochs)."""
    parts = ["python", "train.py", "compare", "--arch", runs.rel(arch)]
    if init_from is not None:
        parts += ["--init-from", runs.rel(init_from)]
    for action in args.shared_options:
        if not action.option_strings or action.dest in NOT_REPEATED:
            continue
        value = override.get(action.dest, getattr(args, action.dest, None))
        if value is None:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            parts.append(action.option_strings[0 if value else 1])
        elif action.nargs == 0:  # store_true
            if value:
                parts.append(action.option_strings[0])
        elif action.dest == "digits":
            parts += [action.option_strings[0], ",".join(map(str, value))]
        else:
            parts += [action.option_strings[0], str(value)]
    return " ".join(shlex.quote(p) for p in parts)



def _names(names, most=8):
    """A list of layer names for one line: all of them, or the first and last few and how many."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:3])}, ... {', '.join(names[-2:])} ({len(names)} layers)"



def _default_lr(optimizer):
    return DEFAULT_LR[optimizer or "adam"]
