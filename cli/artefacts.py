"""What a finished run leaves in its folder: weights for both engines and the pictures."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import scratch

TRAIN_PY = Path(__file__).resolve().parent.parent / "train.py"
PICTURES = ("curves.png", "filters.png", "feature_maps.png", "confusion.png", "mistakes.png")
MAX_MISTAKES = 32


def probabilities(outputs, from_logits):
    """Softmax of logits (stable); outputs that are already probabilities pass through."""
    z = np.asarray(outputs, dtype=np.float64)
    if not from_logits:
        return z
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def start_keras_conversion(npz, h5):
    """Write ``h5`` from ``npz`` in a child process (``train.py convert``, which writes Keras's
    format without TensorFlow: ``scratch.keras_io``), beside training. Returns the ``Popen``;
    ``finish_conversion`` waits for it."""
    return subprocess.Popen([sys.executable, str(TRAIN_PY), "convert", str(npz), str(h5)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_conversion(proc, h5):
    out, _ = proc.communicate()
    if proc.returncode != 0:
        print(f"warning: could not write {h5}: {out.strip().splitlines()[-1] if out.strip() else 'no output'}",
              file=sys.stderr)
        return None
    return h5


def first_conv(model):
    for i, layer in enumerate(model.layers):
        if isinstance(layer, scratch.Conv2D):
            return i
    return None


def draw_pictures(out, model, history, x_test, x_test_raw, y_test, outputs, title):
    """The five pictures of a run; ``model`` is a scratch model with the run's weights and
    ``outputs`` the engine's own test outputs. Returns the file names written."""
    from . import plots  # matplotlib only when drawing

    written = []
    plots.curves({"": history}, out / "curves.png", title)
    written.append("curves.png")
    i = first_conv(model)
    if i is not None:
        layer = model.layers[i]
        plots.filters(layer.params["kernel"], out / "filters.png",
                      f"{layer.name}: {layer.filters} filters {layer.kernel_size[0]}x{layer.kernel_size[1]}")
        x = x_test[:1].astype(model.dtype, copy=False)
        for la in model.layers[:i + 1]:
            x = la.forward(x)
        plots.feature_maps(x_test_raw[0], x[0], out / "feature_maps.png",
                           f"{layer.name} outputs for test digit 0 (a {y_test[0]})")
        written += ["filters.png", "feature_maps.png"]
    pred = np.asarray(outputs).argmax(axis=-1)
    k = np.asarray(outputs).shape[-1]
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_test.astype(np.int64), pred), 1)
    acc = float(np.trace(matrix) / matrix.sum())
    plots.confusion(matrix, out / "confusion.png", f"{title}: test confusion ({acc:.2%} correct)")
    wrong = np.flatnonzero(pred != y_test)
    shown = wrong[:MAX_MISTAKES]
    prob = probabilities(outputs[shown], model.outputs_are_logits) if len(shown) else np.zeros((0, k))
    plots.mistakes(x_test_raw[shown], y_test[shown], pred[shown], prob.max(axis=-1) if len(shown) else [],
                   out / "mistakes.png",
                   f"first {len(shown)} of {len(wrong)} misclassified test digits: true -> predicted (p)")
    written += ["confusion.png", "mistakes.png"]
    return written
