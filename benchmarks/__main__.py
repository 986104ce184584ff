"""``python -m benchmarks [--quick] [--out FILE] [--markdown]``: scratch vs Keras, side by side.

The quiet full table (what docs/benchmarks.md shows): on a machine nothing else uses (``uptime``'s
load average near 0: other processes on the cores make every figure lower and noisier), run
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks`` (the full run: throughput of
blog and lenet beside Keras, the roofline, the per-layer profiles, the single layers, ResNet50,
MobileNetV2, EfficientNetB0 and DenseNet121, peak memory and the targets' met/not-met table; tens of
minutes), then paste ``python -m benchmarks --markdown`` (the tables of ``results/latest.json``) into
docs/benchmarks.md with the load average it prints. The roofline puts beside each model and pass the
time its GEMM FLOPs need at the matmul peak plus the time every other pass's bytes need at the copy
bandwidth, both measured in the same run, and the share of that bound reached (``benchmarks/roofline.py``).

Default: the full run (every section; the longest); ``--quick``: fewer repeats and shorter
samples; ``--smoke``: seconds of measuring, only to prove the pipeline runs (the test suite uses
it). Writes the result JSON (default ``benchmarks/results/latest.json``; ``--smoke``: a new
temporary file, its numbers being no results) and prints the markdown table.
``--models``: only the single-layer table and the keras.applications models (ResNet50, MobileNetV2,
EfficientNetB0, DenseNet121; the quick mode's settings; default output ``results/models.json``).
``--keras-baseline``: only ``train.py keras`` against plain Keras (the full mode's settings, 7
repeats; default output ``results/keras-baseline.json``). A partial run never overwrites
``latest.json`` unless ``--out`` names it.
``--keras-files``: only a Keras model file read and run without TensorFlow against Keras
(``benchmarks/keras_files.py``; prints its table, writes ``--out`` when given).
``--markdown`` only prints the table of an existing JSON (``--out``), measuring nothing.
"""

import argparse
import json
import os
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")
MODELS_RESULTS = os.path.join(os.path.dirname(RESULTS), "models.json")
BASELINE_RESULTS = os.path.join(os.path.dirname(RESULTS), "keras-baseline.json")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="fewer repeats and shorter samples (a first look; not the "
                                                        "published table)")
    g.add_argument("--smoke", action="store_true", help="the smallest run that exercises everything, in seconds of "
                                                        "measuring: its numbers are no results (the tests run it)")
    g.add_argument("--models", action="store_true",
                   help="only the single-layer table and the keras.applications models with their roofline "
                        "(quick settings; several minutes)")
    g.add_argument("--keras-baseline", action="store_true",
                   help="only train.py keras (default and --deterministic) against plain Keras fit and a "
                        "train_on_batch loop (full settings, 7 repeats; about 8 minutes)")
    g.add_argument("--keras-files", action="store_true",
                   help="only a Keras model file (ResNet50, MobileNetV2) imported, loaded and run by the NumPy path "
                        "(no TensorFlow) and by Keras: times and installed sizes (benchmarks/keras_files.py)")
    g.add_argument("--markdown", action="store_true", help="print the table of the JSON in --out; measure nothing")
    p.add_argument("--out", help=f"result JSON (default {os.path.relpath(RESULTS)}; --models and --keras-baseline: "
                                 f"{os.path.relpath(MODELS_RESULTS)} and {os.path.relpath(BASELINE_RESULTS)}; "
                                 f"--smoke: a new temporary file)")
    args = p.parse_args(argv)
    if args.keras_files:
        from . import keras_files

        return keras_files.main([] if args.out is None else ["--out", args.out])
    if args.out is None and args.smoke:  # a smoke run's numbers are no results: never over the committed ones
        import tempfile

        fd, args.out = tempfile.mkstemp(prefix="benchmarks-smoke-", suffix=".json")
        os.close(fd)
    if args.out is None:  # a partial run never overwrites the full run's results
        args.out = MODELS_RESULTS if args.models else BASELINE_RESULTS if args.keras_baseline else RESULTS

    from . import report

    if args.markdown:
        try:
            with open(args.out) as f:
                result = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"benchmarks: cannot read {args.out}: {e}")
        print(report.markdown(result))
        return result

    from scratch.files import atomic_write

    from .run import run, run_keras_baseline, run_models

    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if args.models:
        result = run_models(log=log)
    elif args.keras_baseline:
        result = run_keras_baseline(log=log)
    else:
        result = run("smoke" if args.smoke else "quick" if args.quick else "full", log=log)
    atomic_write(args.out, lambda f: f.write(json.dumps(result, indent=1).encode()))
    print(report.markdown(result))
    print(f"\n(written to {args.out})", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
