"""``python -m benchmarks --keras-files``: a Keras model file read and run without TensorFlow, against Keras.

For ResNet50 and MobileNetV2 (``keras.applications``, ``weights=None``, 224x224x3, 1000 classes;
the file written once by Keras), each in a fresh process, ``--repeats`` times (median):

- NumPy path: ``import scratch`` / ``scratch.load_model(path)`` / ``model.predict(one image)``;
- Keras: ``import keras`` (TensorFlow backend) / ``keras.saving.load_model(path)`` / ``model(one image)``.

And the installed size of what each path imports: NumPy and h5py, against TensorFlow, Keras and
their dependencies (the site-packages folders each one loads, measured on this machine).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("ResNet50", "MobileNetV2")

MAKE = """
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
keras.utils.set_random_seed(0)
getattr(keras.applications, sys.argv[1])(weights=None, input_shape=(224, 224, 3), classes=1000).save(sys.argv[2])
"""

NUMPY = """
import sys, time, json
t0 = time.perf_counter()
import numpy as np
import scratch
t1 = time.perf_counter()
model = scratch.load_model(sys.argv[1], preprocess="raw")
t2 = time.perf_counter()
x = np.random.default_rng(0).random((1, 224, 224, 3)).astype("float32")
model.predict(x)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "predict": t3 - t2,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""

KERAS = """
import sys, time, json, os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
t0 = time.perf_counter()
import numpy as np
import keras
t1 = time.perf_counter()
model = keras.saving.load_model(sys.argv[1], compile=False)
t2 = time.perf_counter()
x = np.random.default_rng(0).random((1, 224, 224, 3)).astype("float32")
model(x, training=False)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "predict": t3 - t2,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _child(code, *args):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _folder_size(path):
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def installed_size(modules):
    """Bytes on disk of the site-packages folders of ``modules`` (top-level names) that are installed there."""
    import importlib.util

    total, found = 0, []
    for name in modules:
        spec = importlib.util.find_spec(name) if name not in sys.builtin_module_names else None
        origin = spec and (spec.submodule_search_locations or [None])[0]
        if origin and "site-packages" in origin:
            total += _folder_size(origin)
            found.append(name)
    return total, found


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks --keras-files", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--out", help="result JSON")
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = os.path.join(tmp, f"{name}.keras")
            subprocess.run([sys.executable, "-c", MAKE, name, path], check=True, capture_output=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            row = {"file_mb": os.path.getsize(path) / 2 ** 20}
            for engine, code in (("numpy", NUMPY), ("keras", KERAS)):
                runs = [_child(code, path) for _ in range(args.repeats)]
                row[engine] = {k: statistics.median(r[k] for r in runs) for k in ("import", "load", "predict")}
                size, found = installed_size(runs[0]["modules"])
                row[engine]["installed_mb"] = size / 2 ** 20
                row[engine]["packages"] = found
            results[name] = row
    print("| model | path | import s | load s | predict 1 image s | total s | installed MB (packages) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name, row in results.items():
        for engine in ("numpy", "keras"):
            r = row[engine]
            total = r["import"] + r["load"] + r["predict"]
            print(f"| {name} ({row['file_mb']:.0f} MB file) | {engine} | {r['import']:.2f} | {r['load']:.2f} | "
                  f"{r['predict']:.2f} | {total:.2f} | {r['installed_mb']:.0f} ({', '.join(r['packages'])}) |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
