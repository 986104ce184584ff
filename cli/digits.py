"""MNIST digit subsets for every command: ``--digits 0-4`` (or ``5,6,7``) keeps the images of those
digits, train and test alike, and renumbers their labels 0, 1, ... in the order given (sorted); a
model trained so has one output per digit, and its run's ``metrics.json`` records which."""

import argparse
import json
from pathlib import Path

import numpy as np


def parse_digits(text):
    """``"0-4"`` -> ``[0, 1, 2, 3, 4]``; ``"5,7,9"``, ``"0-2,8"`` too. An argparse ``type``."""
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
