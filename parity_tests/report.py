"""``python -m parity_tests.report``: how far the scratch engine is from Keras, in one table.

``--zoo only`` prints the ``keras.applications`` models alone (one row each, and a summary table).

For each layer type (over every case of ``cases.LAYER_CASES``) and each model, in float32 and
float64: the largest absolute and relative (to the tensor's scale) difference of outputs,
gradients, and weights after ``TRAIN_STEPS`` training steps (largest over all steps and
optimizers), next to the tolerance the tests use. Exits 1 when anything is out of tolerance.
Same cases, same comparison (``compare``) and same tolerances as the tests.
"""

import sys
from collections import defaultdict

from parity_tests import (
    cases,
    determinism,  # noqa: F401  (before Keras)
)
from parity_tests import tolerances as tol
from parity_tests.compare import compare

OUTPUTS = ("output", "loss")


def _fold(rows, key, diffs, tolerance):
    for d in diffs:
        kind = "outputs" if d.tensor in OUTPUTS else ("gradients" if d.tensor.startswith("grad") else "weights")
        cell = rows[key].setdefault(kind, [0.0, 0.0, tolerance, True])
        cell[0], cell[1] = max(cell[0], d.max_abs), max(cell[1], d.max_rel)
        cell[3] = cell[3] and d.ok


def collect_zoo(names=None, progress=None):
    """The rows of the ``keras.applications`` models (``parity_tests.zoo.parity_checks``), keyed
    ``("zoo <name>", dtype)``, and ``{name: (layers, parameters)}``."""
    from parity_tests import zoo

    rows, sizes = defaultdict(dict), {}
    for name in names or zoo.ZOO:
        if progress:
            progress(f"zoo {name}")
        for _what, dtype, ours, theirs, tolerance in zoo.parity_checks(name):
            _fold(rows, (f"zoo {name}", dtype), compare(ours, theirs, tolerance, dtype), tolerance)
        km = zoo.build(name)
        sizes[name] = (sum(1 for _ in zoo._leaves(km)), km.count_params(), zoo.speed(km))
    return rows, sizes


def _model_relative(cell):
    """The largest difference relative to the model's largest value (what ``zoo.model_wide`` holds
    to: a bias before a BatchNormalization is rounding noise, relative to itself meaningless)."""
    max_abs, max_rel, tolerance, _ = cell
    return max_abs / (tolerance.atol / tolerance.rtol) if tolerance.atol else max_rel


def render_zoo(rows, sizes):
    """The zoo as one table: model, size, the largest relative differences, ok."""
    head = ["model", "layers", "parameters", "float32 predictions rel", "float64 gradients rel*",
            "float64 weights@2 rel*", "ok", "scratch/keras training", "scratch/keras inference"]
    lines = []
    for name, (n_layers, n_params, (train_ratio, infer_ratio)) in sizes.items():
        f32, f64 = rows[(f"zoo {name}", "float32")], rows[(f"zoo {name}", "float64")]
        cells = [f"{f32['outputs'][1]:.1e}", f"{_model_relative(f64['gradients']):.1e}",
                 f"{_model_relative(f64['weights']):.1e}"]
        ok = all(c[3] for c in list(f32.values()) + list(f64.values()))
        lines.append([name, str(n_layers), f"{n_params / 1e6:.1f}M", *cells, "yes" if ok else "NO",
                      f"{train_ratio:.2f}", f"{infer_ratio:.2f}"])
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in lines])


def collect(steps=tol.TRAIN_STEPS, progress=None):
    """``{(what, dtype): {"outputs"|"gradients"|"weights": [max_abs, max_rel, Tolerance, ok]}}``."""
    rows = defaultdict(dict)
    for dtype in cases.DTYPES:
        for case in cases.LAYER_CASES:
            ours, theirs = cases.run_layer_case(case, dtype)
            t = cases.tolerance_of(case, dtype)  # float32's for a float64 case Keras computes in float32 only
            _fold(rows, (case[1], dtype), compare(ours, theirs, t, dtype), t)
        for arch in cases.MODELS:
            for masked in (False, True):
                ours, theirs = cases.run_model_case(arch, dtype, masked)
                t = tol.for_dtype("MODEL", dtype)
                _fold(rows, (arch, dtype), compare(ours, theirs, t, dtype), t)
        for arch, optimizer, batch, _ in cases.TRAIN_RUNS:
            label = arch if isinstance(arch, str) else arch["name"]  # a registry name or a description
            if dtype == "float32" and label in cases.REPORT_FLOAT64_ONLY:
                continue
            if progress:
                progress(f"training {label} {optimizer} {dtype}")
            t = tol.for_dtype("TRAIN", dtype)
            for _, ours, theirs in cases.run_training(arch, optimizer, batch, dtype, steps):
                _fold(rows, (label, dtype), compare(ours, theirs, t, dtype), t)
    return rows


def render(rows, steps=tol.TRAIN_STEPS):
    head = ["what", "dtype", "outputs abs", "outputs rel", "gradients abs", "gradients rel",
            f"weights@{steps} abs", f"weights@{steps} rel", "tolerances (rtol/atol)", "ok"]
    lines = []
    for (what, dtype), cells in rows.items():
        row = [what, dtype]
        tols = []
        for kind in ("outputs", "gradients", "weights"):
            if kind in cells:
                a, r, t, _ = cells[kind]
                row += [f"{a:.1e}", f"{r:.1e}"]
                if f"{t.name} {t.rtol:g}/{t.atol:g}" not in tols:
                    tols.append(f"{t.name} {t.rtol:g}/{t.atol:g}")
            else:
                row += ["-", "-"]
        row += [", ".join(tols), "yes" if all(c[3] for c in cells.values()) else "NO"]
        lines.append(row)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in lines])


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m parity_tests.report", description=__doc__)
    parser.add_argument("--zoo", choices=("with", "only", "without"), default="with",
                        help="the keras.applications models: in the report (default), alone, or left out")
    args = parser.parse_args(argv)
    progress = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    rows = collect(progress=progress) if args.zoo != "only" else defaultdict(dict)
    if args.zoo != "without":
        zoo_rows, sizes = collect_zoo(progress=progress)
        rows.update(zoo_rows)
    print(render(rows))
    if args.zoo != "without":
        print("\nkeras.applications (weights=None, 10 classes; python -m parity_tests.report --zoo only). Speed: "
              "images/s ratios, float32, batch 8, best of 3 steps each, Keras under this suite's deterministic "
              "settings (oneDNN off); stock-Keras benchmarks of ResNet50 and MobileNetV2: docs/benchmarks.md. "
              "* relative to the model's largest gradient or weight (see parity_tests/zoo.py)\n")
        print(render_zoo(rows, sizes))
    bad = [f"{what} {dtype} {kind}" for (what, dtype), cells in rows.items() for kind, c in cells.items() if not c[3]]
    worst = {d: max((c[1] for (w, dt), cells in rows.items() if dt == d for c in cells.values()), default=0.0)
             for d in cases.DTYPES}
    print(f"\nworst relative difference: float32 {worst['float32']:.1e}, float64 {worst['float64']:.1e}; "
          f"weights after {tol.TRAIN_STEPS} steps of {', '.join(sorted({o for _, o, _, _ in cases.TRAIN_RUNS}))}")
    for label, why in cases.REPORT_FLOAT64_ONLY.items():
        print(f"{label}: trained in float64 only: {why}")
    if bad:
        print("OUT OF TOLERANCE: " + "; ".join(bad))
        return 1
    print("every row within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
