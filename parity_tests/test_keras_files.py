"""Keras model files read, run, trained and written by the scratch engine in a process where
importing TensorFlow fails (``tests/no_tensorflow.py``), compared here with Keras.

Keras saves each model as ``.keras`` and as a legacy ``.h5``; the child process loads them with
``scratch.load_model`` (``preprocess="raw"``: the structure exactly as Keras has it), predicts,
saves the model back (``.keras`` and ``.weights.h5``), takes one SGD step and reports every
weight. Here:

- predictions equal Keras's (float32, ``MODEL_FLOAT32``: 1e-5 of the largest output);
- the step equals the same step taken on ``keras_ref.from_keras(km)``'s twin (same engine, same
  weights: equal up to the order of a few sums, 1e-6 relative);
- Keras loads the files the child wrote: every weight bit for bit, the same predictions, and a
  freshly built Keras model takes the ``.weights.h5`` (Keras's own layout and layer order);
- the child imported no TensorFlow and its blocker held.

The default run covers one light ``keras.applications`` family (``.keras``) and a hand-made graph
(nested Sequential, a layer shared by two calls, arithmetic ops, BatchNormalization, Dropout;
``.keras`` and legacy ``.h5``); every other family, both formats, is one slow parametrized test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import keras_ref
import scratch
from parity_tests import zoo
from tests import no_tensorflow

ROOT = Path(__file__).resolve().parents[1]
LIGHT = ("MobileNetV2",)
FORMATS = {"MobileNetV2": ("keras",), "graph": ("keras", "h5")}  # the default run; the slow test: both
LR = 1e-3


def graph_model():
    """A small Functional model with what a file's graph can hold."""
    L = keras.layers
    keras.utils.set_random_seed(3)
    inner = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", name="c1"),
                              L.BatchNormalization(name="bn"), L.ReLU(name="relu")], name="inner")
    x = keras.Input((8, 8, 3), name="img")
    a = inner(x)
    shared = L.DepthwiseConv2D(3, padding="same", name="shared")
    b = L.Add(name="sum")([shared(a), shared(L.Activation("swish", name="act")(a))])
    b = (b + 3.0) * 0.5
    c = L.Concatenate(name="cat")([b, a])
    c = L.GlobalAveragePooling2D(name="gap")(L.Dropout(0.3, name="drop")(c))
    y = L.Dense(5, activation="softmax", name="out")(c)
    km = keras.Model(x, y, name="graph")
    zoo.randomize_statistics(km, 0)
    km.compile("adam", "sparse_categorical_crossentropy")  # a compile_config in the file: read, ignored
    return km


def _run_child(jobs, tmp):
    job_file = tmp / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    # one BLAS thread, as the twin's step in _compare: a float32 training step through a hundred layers on
    # batch statistics of 4 images moves by 1e-4 with the other summation order of OpenBLAS's two threads
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "no_tensorflow.py"), str(job_file)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["blocker_held"] and report["leaked"] == [], report
    return report["errors"]


def _prepare(name, km, tmp, formats=("keras", "h5")):
    """Save ``km`` in ``formats``, write the inputs, and the jobs of the child."""
    rng = np.random.default_rng(0)
    shape = tuple(km.inputs[0].shape[1:])
    x = rng.uniform(-1, 1, (2,) + shape).astype("float32")
    tx = rng.uniform(-1, 1, (4,) + shape).astype("float32")
    ty = rng.integers(0, km.outputs[0].shape[-1], 4)
    for key, value in (("x", x), ("tx", tx), ("ty", ty)):
        np.save(tmp / f"{name}.{key}.npy", value)
    jobs = []
    for fmt in formats:
        km.save(tmp / f"{name}.{fmt}")
        stem = tmp / f"{name}.{fmt}"
        jobs.append({"path": str(tmp / f"{name}.{fmt}"), "preprocess": "raw", "x": str(tmp / f"{name}.x.npy"),
                     "out": f"{stem}.out.npz", "save_before": [f"{stem}.back.keras", f"{stem}.back.weights.h5"],
                     "train": {"x": str(tmp / f"{name}.tx.npy"), "y": str(tmp / f"{name}.ty.npy"), "lr": LR,
                               "seed": 0}})
    return jobs


def _compare(name, km, tmp, rebuild, formats=("keras", "h5")):
    x, tx, ty = (np.load(tmp / f"{name}.{k}.npy") for k in ("x", "tx", "ty"))
    expected = np.asarray(km(x, training=False))
    twin = keras_ref.from_keras(km)
    with threadpool_limits(limits=1, user_api="blas"):  # as the child (_run_child): the same summation order
        twin_loss = no_tensorflow.sgd_step(twin, tx, ty, LR, seed=0)
    twin_weights = no_tensorflow.weights_by_path(twin)
    originals = {la.name: [np.asarray(w) for w in la.get_weights()] for la in zoo._leaves(km)}
    stats = {la.name for la in zoo._leaves(km) if isinstance(la, keras.layers.Normalization)}
    for fmt in formats:
        stem = tmp / f"{name}.{fmt}"
        got = np.load(f"{stem}.out.npz")
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got["predictions"], expected, rtol=1e-5, atol=1e-5 * scale, err_msg=f"{stem}")
        assert abs(float(got["loss"]) - twin_loss) <= 1e-6 * abs(twin_loss)
        mine = {k[len("weight:"):]: v for k, v in got.items() if k.startswith("weight:")}
        assert set(mine) == set(twin_weights)
        for path, w in twin_weights.items():
            np.testing.assert_allclose(mine[path], w, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(w).max()),
                                       err_msg=f"{stem}: {path} after one step")
        back = keras.saving.load_model(f"{stem}.back.keras")  # Keras reads what the engine wrote
        assert not any(isinstance(la, keras.layers.Lambda) for la in zoo._leaves(back))
        for la in zoo._leaves(back):
            if la.name in originals and la.name not in stats:
                assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(originals[la.name], la.get_weights())), \
                    f"{stem}.back.keras: {la.name}"
        assert sum(la.name in originals for la in zoo._leaves(back)) == len(originals)
        np.testing.assert_allclose(np.asarray(back(x, training=False)), expected, rtol=1e-5, atol=1e-5 * scale)
        fresh = rebuild()  # a Keras model of the same architecture, other weights, takes the weight file
        fresh.load_weights(f"{stem}.back.weights.h5")
        for la, original in zip(zoo._leaves(fresh), zoo._leaves(km), strict=True):  # same architecture, in order
            assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                       zip(original.get_weights(), la.get_weights(), strict=True)), f"{stem}.back.weights.h5: {la.name}"


@pytest.fixture(scope="module")
def light_files(tmp_path_factory):
    """The light families and the graph saved by Keras, all read in one TensorFlow-free child."""
    tmp = tmp_path_factory.mktemp("keras_files")
    models = {name: zoo.build(name, "float32") for name in LIGHT}
    models["graph"] = graph_model()
    jobs = [job for name, km in models.items() for job in _prepare(name, km, tmp, FORMATS[name])]
    return tmp, models, _run_child(jobs, tmp)


@pytest.mark.parametrize("name", [*LIGHT, "graph"])
def test_files_keras_saved_run_train_and_save_without_tensorflow(light_files, name):
    tmp, models, errors = light_files
    assert {p: e for p, e in errors.items() if Path(p).name.startswith(name + ".")} == {}
    rebuild = graph_model if name == "graph" else (lambda: zoo.build(name, "float32", seed=5))
    _compare(name, models[name], tmp, rebuild, FORMATS[name])


def test_the_written_metadata_names_the_installed_keras(light_files):
    import zipfile

    tmp, _, _ = light_files
    with zipfile.ZipFile(tmp / "graph.keras.back.keras") as z:
        assert json.loads(z.read("metadata.json"))["keras_version"] == keras.__version__
        config = json.loads(z.read("config.json"))
    assert config["class_name"] == "Functional" and config["config"]["layers"][1]["class_name"] == "Rescaling"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_every_zoo_family_through_files_without_tensorflow(tmp_path, name):
    km = zoo.build(name, "float32")
    errors = _run_child(_prepare(name, km, tmp_path), tmp_path)
    assert errors == {}
    _compare(name, km, tmp_path, lambda: zoo.build(name, "float32", seed=5))


def test_preprocessing_the_file_carries_becomes_preprocess(tmp_path):
    """A model the engine wrote starts with the Rescaling of its preprocess: read back, it is
    ``preprocess`` again (as ``keras_ref.load_weights_file`` does), and Keras takes raw pixels."""
    model = scratch.build_model("blog", seed=0)
    model.preprocess = "center"
    model.save(tmp_path / "blog.keras")
    back = scratch.load_model(tmp_path / "blog.keras")
    assert back.preprocess == "center" and [la.name for la in back.layers] == [la.name for la in model.layers]
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype("float32")
    ours = model.predict(scratch.preprocess(pixels, "center"))
    np.testing.assert_array_equal(back.predict(scratch.preprocess(pixels, "center")), ours)
    theirs = keras.saving.load_model(tmp_path / "blog.keras").predict(pixels, verbose=0)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-6)
    via_keras_ref = keras_ref.load_weights_file(tmp_path / "blog.keras")
    assert via_keras_ref.preprocess == "center"
