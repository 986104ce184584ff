"""Peak memory of one engine's training, each engine in a process of its own.

``python -m benchmarks.memory ENGINE ARCH BATCH STEPS [CONFIG]`` imports only what the engine needs
(NumPy for scratch; TensorFlow and Keras for keras/keras_xla), trains ``STEPS`` steps and
prints one JSON line: the peak resident set size (``VmHWM``, see ``_peak_mb``) after the
imports, after building the model and loading the batch, and at the end. ``measure()`` runs it as a subprocess and reads that line.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile


def _peak_mb():
    """Peak resident memory of this process in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this program's own
    memory. (``ru_maxrss`` is not used there: across fork + exec it keeps the parent's peak,
    so a child of a process that imported TensorFlow would report TensorFlow's size.)
    Elsewhere: ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)  # macOS: bytes, Linux: kB


def measure(engine, arch, batch, steps, timeout=600, config=None):
    """Run the child for ``engine``; returns its JSON dict (``peak_mb``, ``after_import_mb``...).

    ``arch``: an architecture name, or one of ``contenders.ZOO_MODELS`` (a keras.applications model;
    the scratch child then builds ``scratch.Model.from_config(config)``, so it never loads TensorFlow).
    """
    cmd = [sys.executable, "-m", "benchmarks.memory", engine, arch, str(batch), str(steps)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        if config is not None:
            path = os.path.join(tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd.append(path)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.memory: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv):
    engine, arch, batch, steps = argv[0], argv[1], int(argv[2]), int(argv[3])
    if engine != "scratch":
        from .contenders import import_keras

        import_keras()
    from . import contenders

    baseline = _peak_mb()
    if arch not in contenders.ZOO_MODELS:
        eng = contenders.make_engine(engine, arch, batch)
    elif engine == "scratch":
        import scratch

        with open(argv[4]) as f:
            eng = contenders.ScratchEngine.for_graph(scratch.Model.from_config(json.load(f)), batch)
    else:
        eng = contenders.GraphKerasEngine(contenders.keras_application(arch), batch)
    after_setup = _peak_mb()
    eng.train(steps)
    print(json.dumps({"engine": engine, "arch": arch, "batch": batch, "steps": steps,
                      "after_import_mb": baseline, "after_setup_mb": after_setup, "peak_mb": _peak_mb(),
                      "training_increase_mb": _peak_mb() - baseline}))


if __name__ == "__main__":
    main(sys.argv[1:])
