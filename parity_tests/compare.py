"""The one parity helper: compare two sets of named arrays under a named tolerance.

Arrays are keyed ``(layer, tensor)``, e.g. ``("conv2d", "output")``, ``("conv2d", "grad kernel")``,
``("model", "loss")``. The scratch engine's values are ``actual``, Keras's ``expected``.

A tensor passes when ``max|actual - expected| <= atol + rtol * max|expected|``: the error is
measured against the tensor's own scale, not element by element, because a gradient entry
that is a sum of cancelling terms can be tiny while its absolute error is of the size of the
terms (an element-wise relative test would flag rounding noise there, not a bug).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Diff:
    """How far one tensor of one layer is from its Keras twin."""

    layer: str
    tensor: str
    max_abs: float      # max |actual - expected|
    max_rel: float      # max_abs / max |expected|  (0 when both are all zeros)
    index: tuple        # where max_abs is
    actual: float       # the scratch value there
    expected: float     # the Keras value there
    allowed: float      # atol + rtol * max |expected|
    ok: bool
    problem: str = ""   # shape or dtype mismatch, non-finite values

    def message(self, tol, context=""):
        where = f"{context}: " if context else ""
        if self.problem:
            return f"{where}layer {self.layer!r}, tensor {self.tensor!r}: {self.problem}"
        return (f"{where}layer {self.layer!r}, tensor {self.tensor!r}: max |scratch - keras| = {self.max_abs:.3e} "
                f"(relative {self.max_rel:.3e}) at index {self.index}: scratch {self.actual!r}, keras {self.expected!r}; "
                f"{tol.name} allows {self.allowed:.3e} (atol {tol.atol:g} + rtol {tol.rtol:g} * max|keras|)")


def _diff(key, a, b, tol, dtype):
    layer, tensor = key
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Diff(layer, tensor, np.inf, np.inf, (), np.nan, np.nan, 0.0, False,
                    f"shape {a.shape} (scratch) vs {b.shape} (keras)")
    if dtype is not None and (a.dtype != dtype or b.dtype != dtype):
        return Diff(layer, tensor, np.inf, np.inf, (), np.nan, np.nan, 0.0, False,
                    f"dtype {a.dtype} (scratch) vs {b.dtype} (keras), both should be {np.dtype(dtype).name}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return Diff(layer, tensor, np.inf, np.inf, (), np.nan, np.nan, 0.0, False, "non-finite values")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    err = np.abs(a64 - b64)
    scale = float(np.abs(b64).max()) if b64.size else 0.0
    flat = int(err.argmax()) if err.size else 0
    index = np.unravel_index(flat, err.shape) if err.size else ()
    max_abs = float(err.max()) if err.size else 0.0
    allowed = tol.atol + tol.rtol * scale
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    return Diff(layer, tensor, max_abs, rel, tuple(int(i) for i in index),
                a.reshape(-1)[flat].item() if a.size else np.nan, b.reshape(-1)[flat].item() if b.size else np.nan,
                allowed, max_abs <= allowed)


def compare(actual, expected, tol, dtype=None):
    """``[Diff]`` for every key of ``expected`` (a key missing on either side is a failure).

    ``dtype``: when given, both sides must have it (a float64 comparison against a float32
    Keras result is not a float64 comparison).
    """
    diffs = []
    for key in sorted(set(actual) | set(expected)):
        if key not in actual or key not in expected:
            side = "scratch" if key not in actual else "keras"
            diffs.append(Diff(key[0], key[1], np.inf, np.inf, (), np.nan, np.nan, 0.0, False, f"missing on the {side} side"))
        else:
            diffs.append(_diff(key, actual[key], expected[key], tol, dtype))
    return diffs


def assert_parity(actual, expected, tol, context="", dtype=None):
    """``compare`` and fail with every offending tensor's message; returns the diffs."""
    diffs = compare(actual, expected, tol, dtype)
    bad = [d.message(tol, context) for d in diffs if not d.ok]
    if bad:
        raise AssertionError("\n".join(bad))
    return diffs
