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
``--fine-tune-epochs`` (default ``--epochs``), in the sub-folder ``fine_tune/``.

``--digits 0-4`` (or ``5,6,7``) keeps the images of those digits, train and test alike, and
renumbers their labels 0, 1, ... in the order given (sorted), for every training command.
"""

import argparse
import copy
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

OWN_FILES = (TRANSFER_ARCH, TRANSFER_INIT)  # what transfer writes into --out before the run starts there

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
    for name in ("fine_tune_lr", "fine_tune_epochs"):
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
                                           input_shape=MNIST_SHAPE, **options)
            desc2 = model2.get_config()
    else:
        if tuple(source.input_shape[1:]) != MNIST_SHAPE:
            raise ValueError(f"--source {args.source}: model {source.name!r} takes "
                             f"{'x'.join(map(str, source.input_shape[1:]))} images, the command line trains on "
                             f"MNIST's 28x28x1 (a Functional model is adapted by padding; a Sequential one is not)")
        desc, info = transfer_description(source, classes, baseline=args.baseline, **options)
        if args.fine_tune:  # phase 2's model, checked before phase 1 trains
            desc2, info2 = transfer_description(source, classes, fine_tune=args.fine_tune, **options)
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
    rc = compare(phase1, argv, extra) if args.engine == "compare" else train_one(phase1, args.engine, argv, extra)
    if rc != 0 or not args.fine_tune:
        return rc
    folder = runs.prepare_out(out / "fine_tune")
    runs.write_json(folder / TRANSFER_ARCH, desc2)
    lr = _fine_tune_lr(args)
    epochs2 = args.fine_tune_epochs or args.epochs
    print(f"fine-tuning: unfrozen {', '.join(la for la in info2['trainable_layers'] if la not in info2['head_layers'])}"
          f" - lr {lr}", file=sys.stdout, flush=True)
    phase2 = _phase_args(args, arch=str(folder / TRANSFER_ARCH), out=str(folder), init_from=str(out / "model.npz"),
                         lr=lr, epochs=epochs2)
    extra2 = {"transfer": {**info, **info2, "source": info["source"], "phase": 2, "head": info["head"],
                           "architecture_file": TRANSFER_ARCH, "init_file": "../model.npz",
                           "phase_1_run": str(out.resolve()), "fine_tune_lr": lr,
                           "same_run_in_both_engines": same_run_command(args, folder / TRANSFER_ARCH,
                                                                        out / "model.npz", lr=lr, epochs=epochs2)}}
    return train_one(phase2, args.engine, argv, extra2)



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
