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

import copy
import json
import sys
from pathlib import Path

import numpy as np

import scratch

POOLING_ENDS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D")
TRANSFER_ARCH = "transfer_arch.json"
TRANSFER_INIT = "transfer_init.npz"
OWN_FILES = (TRANSFER_ARCH, TRANSFER_INIT)  # what transfer writes into --out before the run starts there
TRANSFER_RECORD = "transfer.json"
MNIST_SHAPE = (28, 28, 1)  # what the command line trains on


# -- digit subsets ---------------------------------------------------------------------------------
def parse_digits(text):
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"5,7,9"``, ``"0-2,8"`` too. An argparse ``type``."""
    import argparse

    digits = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                digits.extend(range(lo, hi + 1))
            else:
                digits.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be digits like 0-4 or 5,7,9, received {text!r}") from None
    if not all(0 <= d <= 9 for d in digits) or len(set(digits)) != len(digits) or len(digits) < 2:
        raise argparse.ArgumentTypeError(f"must be at least two different digits 0-9 (like 0-4 or 5,7,9), "
                                         f"received {text!r}")
    return sorted(digits)


def add_digits_option(parser, help=None):
    parser.add_argument("--digits", type=parse_digits,
                        help=help or "train and test on these digits only (e.g. 0-4, 5-9 or 1,7), their labels "
                                     "renumbered 0, 1, ... (default all ten)")


def select_digits(x, y, digits):
    """The images of ``digits`` (in their order in ``x``), labels renumbered ``digits[i] -> i``."""
    if not digits:
        return x, y
    keep = np.isin(y, digits)
    remap = np.full(10, -1, dtype=np.int64)
    remap[list(digits)] = np.arange(len(digits))
    return x[keep], remap[y[keep]]


def class_digits(model, digits, weights, what="--weights"):
    """The digit each output of ``model`` stands for: the digits the run that wrote ``weights`` trained
    on (its ``metrics.json`` beside the file, checked), which ``--digits`` (``digits``) may repeat but not
    contradict; without a record ``digits``, else 0-9. A model whose outputs are not 10 needs one of them."""
    classes = int(model.output_shape[-1])
    record = Path(weights).parent / "metrics.json"
    recorded = _recorded_digits(record)
    if recorded is not None:
        if len(recorded) != classes:
            raise ValueError(f"{what} {weights}: {record} beside it records digits {_listed(recorded)}, "
                             f"{len(recorded)} of them, but the model has {classes} outputs: the record is not this "
                             f"model's (move the file out of that folder and give --digits)")
        if digits is not None and list(digits) != recorded:
            raise ValueError(f"--digits {_listed(digits)}: the run's {record} records that the model of {what} "
                             f"{weights} was trained on digits {_listed(recorded)}, its outputs in that order; leave "
                             f"--digits out")
        return recorded
    if digits is None:
        if classes != 10:
            raise ValueError(f"{what} {weights}: the model has {classes} outputs, not one per digit 0-9; give "
                             f"--digits (the digits it was trained on, as train.py transfer --digits 5-9; a run's "
                             f"metrics.json records them)")
        return list(range(10))
    if len(digits) != classes:
        raise ValueError(f"--digits {_listed(digits)}: {len(digits)} digits, but the model of {what} "
                         f"{weights} has {classes} outputs")
    return list(digits)


def _listed(digits):
    return ",".join(map(str, digits))


def _recorded_digits(record):
    """The digits a run's ``metrics.json`` records (``options.digits``; None: none recorded, or no readable
    record); a recorded value that is not at least two different digits 0-9 is an error naming the file."""
    try:
        found = json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("options"), dict):
        return None
    found = found["options"].get("digits")
    if found is None:
        return None
    if not (isinstance(found, list) and len(found) >= 2 and len(set(found)) == len(found)
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 9 for d in found)):
        raise ValueError(f"{record}: options.digits must be at least two different digits 0-9, found {found!r}; "
                         f"the run's record is damaged")
    return found


def check_classes(desc, digits, what="--arch"):
    """The architecture's output must have a unit for every class of the task."""
    if not digits:
        return
    last = desc["layers"][-1]
    units = last.get("config", {}).get("units") if last.get("class_name") == "Dense" else None
    if units is not None and units < len(digits):
        raise ValueError(f"--digits {','.join(map(str, digits))}: {len(digits)} classes, but the output layer of "
                         f"{what} {desc.get('name')!r} has {units} units")


# -- the transfer model --------------------------------------------------------------------------------
def load_source(path, arch=None, dtype="float32"):
    """The trained model to transfer from, as a scratch model (``Sequential``, or ``Model`` for a
    Functional ``.keras`` file), from either engine's file."""
    from cli.engines import load_scratch_model

    path = str(path)
    if not Path(path).is_file():
        raise ValueError(f"--source {path}: file not found")
    return load_scratch_model(path, arch=arch, dtype=dtype, what="--source")


def _cut(layers, base_until, what):
    """How many of ``layers`` the base keeps."""
    names = [layer.name for layer in layers]
    if base_until is not None:
        if base_until not in names:
            raise ValueError(f"--base-until {base_until!r}: {what} has no layer of that name; its layers: "
                             f"{', '.join(names)}")
        return names.index(base_until) + 1
    ends = [i for i, layer in enumerate(layers) if type(layer).__name__ in POOLING_ENDS]
    if not ends or ends[0] == 0:
        raise ValueError(f"{what} has no layer before a Flatten or global pooling layer to end the base at; name the "
                         f"last layer of the base with --base-until (its layers: {', '.join(names)})")
    return ends[0]


def _weighted(layers):
    """The layers with trainable weights (what ``--fine-tune K`` counts)."""
    return [layer for layer in layers if layer.params]


def _unique(name, taken):
    candidate, k = name, 0
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate


def head_specs(base_shape, classes, pooling=None, hidden=None, dropout=None, taken=(), default="flatten"):
    """The new head's layer specs: pooling or ``Flatten`` for an image-shaped base output
    (``pooling``, None: ``default``), an optional hidden ``Dense`` (relu), an optional
    ``Dropout``, then ``Dense(classes)`` logits. Pooling asked of a base that ends in vectors is
    an error (it would be ignored)."""
    taken = set(taken)
    specs = []
    if len(base_shape) == 4:
        pooling = pooling or default
        cls = {"flatten": "Flatten", "avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}[pooling]
        specs.append({"class_name": cls, "config": {"name": _unique("head_" + ("flatten" if pooling == "flatten"
                                                                                  else "pooling"), taken)}})
    elif len(base_shape) != 2:
        raise ValueError(f"--base-until: the base's output has shape {base_shape}; the head takes images "
                         f"(N, H, W, C) or vectors (N, D)")
    elif pooling is not None:
        raise ValueError(f"--head-pooling {pooling}: the base ends in vectors {tuple(base_shape)}, and pooling applies "
                         f"to images (N, H, W, C); leave it out, or end the base earlier with --base-until")
    if hidden:
        specs.append({"class_name": "Dense", "config": {"name": _unique("head_hidden", taken), "units": hidden,
                                                        "activation": "relu"}})
    if dropout:
        specs.append({"class_name": "Dropout", "config": {"name": _unique("head_dropout", taken), "rate": dropout}})
    specs.append({"class_name": "Dense", "config": {"name": _unique("head_output", taken), "units": classes}})
    return specs


def transfer_description(source, classes, base_until=None, fine_tune=0, baseline=False, pooling=None,
                         hidden=None, dropout=None, what="--source"):
    """``(desc, info)``: the transfer architecture (a Sequential description, the frozen base
    layers ``"trainable": false``) and what the run records of it (kept, frozen, trainable
    layers). ``fine_tune``: unfreeze the last K base layers with weights; ``baseline``: every
    layer trainable (the same network trained from scratch)."""
    if not isinstance(source, scratch.Sequential):
        raise ValueError(f"{what}: {source.name!r} is a Functional (graph) model; the command line transfers "
                         f"Sequential models, in Python use cli.transfer.transfer_model(source, classes)")
    layers = source.layers
    cut = _cut(layers, base_until, f"{what} ({source.name})")
    base = layers[:cut]
    weighted = _weighted(base)
    if fine_tune > len(weighted):
        raise ValueError(f"--fine-tune {fine_tune}: the base has only {len(weighted)} layer(s) with weights "
                         f"({', '.join(la.name for la in weighted) or 'none'})")
    unfrozen = {la.name for la in weighted[len(weighted) - fine_tune:]} if fine_tune else set()
    specs = []
    for layer in base:
        spec = copy.deepcopy(scratch.layers.serialize(layer))
        spec["config"].pop("dtype", None)
        spec["config"]["trainable"] = bool(baseline or layer.name in unfrozen)
        specs.append(spec)
    head = head_specs(base[-1].output_shape, classes, pooling, hidden, dropout, taken={la.name for la in base})
    desc = {"name": f"transfer-{source.name}", "input_shape": list(source.input_shape[1:]),
            "preprocess": source.preprocess,
            "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}, "layers": specs + head}
    info = {"source_model": source.name, "kept_layers": [la.name for la in base],
            "dropped_layers": [la.name for la in layers[cut:]],
            "frozen_layers": [s["config"]["name"] for s in specs if not s["config"]["trainable"]],
            "trainable_layers": [s["config"]["name"] for s in specs + head
                                 if s["config"].get("trainable", True)],
            "head_layers": [s["config"]["name"] for s in head], "classes": classes,
            "fine_tune": fine_tune, "baseline": baseline, "head_pooling": _pooling_of(head)}
    return desc, info


def initial_model(desc, info, source, dtype, seed):
    """The transfer model, built from ``desc`` with seeded weights, its base then given the
    source's weights (unless a baseline: random weights throughout)."""
    model = scratch.build_model(desc, dtype=dtype, seed=seed)
    if not info["baseline"]:
        for layer, src in zip(model.layers, source.layers[:len(info["kept_layers"])]):
            layer.set_weights([np.asarray(w, dtype=model.dtype) for w in src.get_weights()])
    return model


# -- the command -----------------------------------------------------------------------------------------
ENGINES = ("scratch", "keras", "compare")


def add_parser(sub, model_opts, positive_int, learning_rate, fraction):
    SHARED_OPTIONS[:] = list(model_opts._actions)
    t = sub.add_parser("transfer", parents=[model_opts], help="transfer a trained model's base to a new task",
                       description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
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
    from cli import runs

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
        from cli.engines import import_keras

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


SHARED_OPTIONS = []  # the training options transfer shares with scratch/keras/compare (add_parser fills it)
NOT_REPEATED = {"help", "arch", "init_from", "out"}


def same_run_command(args, arch, init_from, **override):
    """``python train.py compare ...`` that trains this run's model in both engines: its
    architecture and initial weights, and every training option the user gave (``override``:
    phase 2's learning rate and epochs)."""
    import argparse
    import shlex

    from cli import runs

    parts = ["python", "train.py", "compare", "--arch", runs.rel(arch)]
    if init_from is not None:
        parts += ["--init-from", runs.rel(init_from)]
    for action in SHARED_OPTIONS:
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
    from cli.engines import DEFAULT_LR

    return DEFAULT_LR[optimizer or "adam"]


# -- graph models (keras.applications style) -------------------------------------------------------------
def transfer_model(source, classes, base_until=None, fine_tune=0, pooling=None, hidden=None, dropout=None,
                   seed=0, input_shape=None, baseline=False, what="--source"):
    """``(model, info)``: transfer learning on a graph ``scratch.Model`` (a Functional ``.keras``
    file, a ``keras.applications`` network through ``keras_ref.from_keras``), Keras's recipe.

    The source is copied (its config and weights: the source itself is left as it is); the base
    is the graph from its inputs to the output of ``base_until`` (default: the tensor that enters
    the first ``Flatten`` or global pooling that every path to the output passes through, the
    top's, not a squeeze-and-excitation block's), frozen (``trainable=False``; the last ``fine_tune``
    base layers with weights stay trainable); the head is called on that tensor: ``pooling``
    (``"avg"``, ``"max"``, ``"flatten"``) when it is an image, an optional hidden ``Dense``
    (relu) and ``Dropout``, and ``Dense(classes)`` logits, its weights seeded from ``seed``
    (``pooling`` None: ``"avg"``, as ``keras.applications``' ``pooling="avg"``).
    The result trains like any model (``compile``/``fit``) and converts with ``keras_ref.to_keras``.

    ``input_shape`` (``(H, W, C)``): the new task's images, when they differ from the source's
    (MNIST's 28x28x1 into a ``keras.applications`` network of at least 32x32x3). The model then
    starts with an adapter in front of the base, a nested model called on the new input:
    ``ZeroPadding2D`` to the source's height and width (centred; zeros in the model's input
    space, after the preprocessing), and for one channel into three, ``Concatenate`` of three
    copies (a grey image as RGB). ``baseline``: every layer trainable, all weights drawn
    fresh from ``seed`` (the same network trained from scratch).
    """
    if not isinstance(source, scratch.Model):
        raise ValueError(f"transfer_model: expected a scratch.Model (graph), received {type(source).__name__}; "
                         f"a Sequential source goes through transfer_description")
    if len(source.inputs) != 1:
        raise ValueError(f"{what}: model {source.name!r} has {len(source.inputs)} inputs; transfer takes a model of "
                         f"one image input")
    clone = scratch.Model.from_config(source.get_config(), dtype=source.dtype.name)
    clone.set_weights(source.get_weights())
    names = [layer.name for layer in clone.layers]
    leaves_of_source = [la.name for la in scratch.leaf_layers(clone)]  # nested models opened
    taken = set(names) | set(leaves_of_source)
    if base_until is not None:
        calls = [node for node in clone.nodes if node.layer.name == base_until]
        if not calls:
            raise ValueError(f"--base-until {base_until!r}: model {source.name!r} has no layer of that name; its "
                             f"layers: {', '.join(names)}")
        if len(calls) > 1:
            raise ValueError(f"--base-until {base_until!r}: that layer is called {len(calls)} times in "
                             f"{source.name!r}; its output is ambiguous")
        tip = calls[0].output
    else:
        ends = [node for node in clone.nodes
                if type(node.layer).__name__ in POOLING_ENDS and _every_path_passes(clone, node)]
        if not ends:
            raise ValueError(f"model {source.name!r} has no Flatten or global pooling layer that every path to its "
                             f"output passes through, to end the base at; name the last layer of the base with "
                             f"--base-until (its layers: {', '.join(names)})")
        tip = ends[0].inbound[0]
    base = scratch.Model(clone.inputs[0], tip, name=f"{source.name}_base")
    base_layers = list(scratch.leaf_layers(base))
    weighted = _weighted(base_layers)
    if fine_tune > len(weighted):
        raise ValueError(f"--fine-tune {fine_tune}: the base has only {len(weighted)} layer(s) with weights")
    unfrozen = weighted[len(weighted) - fine_tune:] if fine_tune else []
    for layer in base.layers:  # a nested model frozen as a whole: opened, its layers set one by one below
        if isinstance(layer, scratch.Model):
            layer.trainable = True
    for layer in base_layers:
        layer.trainable = any(layer is u for u in unfrozen)
    inp, x = clone.inputs[0], tip
    adapter = _input_adapter(clone.inputs[0].shape[1:], input_shape, what, source.name, source.dtype.name, taken,
                             _background(source.preprocess))
    if adapter:
        inp = scratch.Input(tuple(input_shape), dtype=source.dtype.name, name="transfer_input")
        a = inp
        for layer, copies in adapter:
            a = layer([a] * copies) if copies else layer(a)
        x = base(a)
    k = 0
    for spec in head_specs(tip.shape, classes, pooling, hidden, dropout, taken=taken, default="avg"):
        layer = scratch.layers.deserialize(spec, dtype=source.dtype.name)
        layer.seed = int(seed) * 1000 + k
        k += 1
        x = layer(x)
    model = scratch.Model(inp, x, name=f"transfer-{source.name}", preprocess=source.preprocess,
                          loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    if baseline:  # the same graph, every layer trainable, fresh weights
        for layer in base_layers:
            layer.trainable = True
        model = scratch.Model.from_config(model.get_config(), dtype=source.dtype.name, seed=seed)
    leaves = list(scratch.leaf_layers(model))
    base_names, adapters = {la.name for la in base_layers}, [layer.name for layer, _ in adapter]
    base_layers = [la for la in leaves if la.name in base_names]
    head = [la for la in leaves if la.name not in base_names and la.name not in adapters]
    info = {"source_model": source.name, "kept_layers": [la.name for la in base_layers],
            "dropped_layers": [n for n in leaves_of_source if n not in base_names],
            "frozen_layers": [la.name for la in base_layers if not la.trainable],
            "trainable_layers": [la.name for la in leaves if la.trainable and la.name not in adapters],
            "head_layers": [la.name for la in head], "classes": classes, "fine_tune": fine_tune, "baseline": baseline,
            "input_adapter": adapters, "head_pooling": _pooling_of(head)}
    return model, info


def _pooling_of(head):
    """What the head does with the base's images: "flatten", "avg", "max", or None (vectors)."""
    names = {"Flatten": "flatten", "GlobalAveragePooling2D": "avg", "GlobalMaxPooling2D": "max"}
    first = head[0] if head else None
    cls = first["class_name"] if isinstance(first, dict) else type(first).__name__
    return names.get(cls)


def _every_path_passes(model, node):
    """Whether every path from the model's inputs to its outputs goes through ``node``: the
    top's pooling does, a squeeze-and-excitation block's does not (its block's input also
    reaches the output around it, through the ``Multiply``)."""
    seen, stack = set(), list(model.outputs)
    while stack:
        t = stack.pop()
        if t.node is None:
            return False  # reached an input without passing through node
        if t.node is node or id(t.node) in seen:
            continue
        seen.add(id(t.node))
        stack.extend(t.node.inbound)
    return True


def _background(preprocess):
    """What a black (0) pixel becomes under ``preprocess``: the value the adapter pads with."""
    return float(scratch.preprocess(np.zeros((1, 1, 1, 1), np.uint8), preprocess, "float64")[0, 0, 0, 0])


def _input_adapter(source_shape, input_shape, what, name, dtype, taken, background=0.0):
    """``[(layer, copies)]`` turning images of ``input_shape`` into the source's ``source_shape``
    (``copies``: the layer takes that many copies of its input), ``[]`` when they match. The
    padding is the preprocessed black of ``background`` (``ZeroPadding2D`` between two
    ``Rescaling`` shifts when it is not 0, as for ``center``)."""
    source_shape = tuple(source_shape)
    if input_shape is None or tuple(input_shape) == source_shape:
        return []
    (h, w, c), (sh, sw, sc) = tuple(input_shape), source_shape
    if h > sh or w > sw or c not in (sc, 1):
        channels = f"{sc} channel{'s' if sc > 1 else ''}" + (" (or 1, repeated)" if sc > 1 else "")
        raise ValueError(f"{what}: model {name!r} takes {sh}x{sw}x{sc} images; the task's are {h}x{w}x{c}, which "
                         f"cannot be padded into them: expected images of at most {sh}x{sw} with {channels}")
    taken = set(taken)
    adapter = []
    if (h, w) != (sh, sw):
        top, left = (sh - h) // 2, (sw - w) // 2
        pad = scratch.ZeroPadding2D(((top, sh - h - top), (left, sw - w - left)), dtype=dtype,
                                    name=_unique("transfer_padding", taken))
        if background:
            adapter.append((scratch.Rescaling(1.0, offset=-background, dtype=dtype,
                                              name=_unique("transfer_shift", taken)), 0))
        adapter.append((pad, 0))
        if background:
            adapter.append((scratch.Rescaling(1.0, offset=background, dtype=dtype,
                                              name=_unique("transfer_unshift", taken)), 0))
    if c != sc:
        adapter.append((scratch.Concatenate(axis=-1, dtype=dtype, name=_unique("transfer_channels", taken)), sc))
    return adapter
