"""Weight files across the engines: scratch ``.npz`` checkpoints, Keras ``.weights.h5`` and ``.keras``.

Any of the three loads into either engine::

    model = load_weights_file("blog.weights.h5", arch="blog")        # -> scratch.Sequential
    keras_model = load_keras_model("blog.npz")                       # -> keras.Sequential
    save_keras_weights(model, "blog.weights.h5")                     # or "blog.keras", atomically

Arrays are copied unchanged (bit-identical in the same dtype). With ``arch`` given, the file
must fit it: a missing, extra or differently shaped weight is refused with a ``ValueError``
naming the file, the layer, the weight and both shapes.

Preprocessing travels with the model in every format: a ``.npz`` keeps the architecture's
``preprocess``; a ``.weights.h5`` is read with its architecture; a ``.keras`` file starts with
a ``keras.layers.Rescaling`` computing the preprocessing (``"center"``: ``Rescaling(1/255,
offset=-0.5)``, ``"scale"``: ``Rescaling(1/255)``, ``"raw"``: ``Rescaling(1.0)``), so plain
Keras (``keras.saving.load_model(path).predict(pixels)``) takes raw 0-255 pixels. Reading a
``.keras`` file, a first ``Rescaling`` that is one of these becomes the model's ``preprocess``
again; any other first ``Rescaling`` stays a layer of the model (``preprocess "raw"``); a file
without one (written by plain Keras, or here before this) is read as taking ``x / 255``, with a
warning.
"""

import os
import warnings

import h5py
import keras
import numpy as np

import scratch
from scratch.files import atomic_save
from scratch.keras_io import preprocessing as keras_preprocessing
from scratch.keras_io.weights_files import check_shapes as _check_shapes
from scratch.keras_io.weights_files import conform as _conform

from . import functional
from .convert import from_keras, keras_layer, to_keras

SUFFIXES = (".npz", ".weights.h5", ".keras")


def _kind(path, what):
    path = os.fspath(path)
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return suffix
    raise ValueError(f"{what}: {path}: unknown file type; expected one of {SUFFIXES}")


def _check_h5(path, model):
    """Check a Keras ``.weights.h5`` against scratch ``model`` before Keras reads it.

    Keras 3 stores each layer's variables as ``layers/<name>/vars/0``, ``/1``... in order.
    """
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f:
                raise ValueError(f"{path}: not a Keras 3 .weights.h5 file (no 'layers' group)")
            stored = {name: [f["layers"][name]["vars"][str(i)].shape for i in range(len(f["layers"][name]["vars"]))]
                      for name in f["layers"] if "vars" in f["layers"][name]}
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
    expected = {layer.name for layer in model.layers}
    stored = {name: shapes for name, shapes in stored.items() if shapes or name in expected}  # a graph's input
    extra = sorted(set(stored) - expected)
    if extra:
        raise ValueError(f"{path}: layers {extra} are not in the architecture (its layers: {sorted(expected)})")
    for layer in model.layers:
        if layer.name not in stored:
            raise ValueError(f"{path}: layer {layer.name!r} ({type(layer).__name__}) is missing from the file")
        _check_shapes(path, layer, stored[layer.name])


def load_weights_file(path, arch=None, dtype="float32"):
    """A scratch ``Sequential`` from a ``.npz`` checkpoint, a ``.weights.h5`` (needs ``arch``) or a ``.keras`` file.

    ``arch`` (registry name, .json path or dict) fixes the structure, preprocessing and loss;
    the file must fit it. Without it, ``.npz`` and ``.keras`` use the structure they hold (a
    ``.npz`` checkpoint also restores its optimizer when no ``arch`` is given).
    """
    path = os.fspath(path)
    kind = _kind(path, "load_weights_file")
    if isinstance(arch, str) and arch.endswith(".keras"):  # the architecture a Keras model file holds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arch = load_weights_file(arch).get_config()
    if not os.path.isfile(path):
        raise ValueError(f"load_weights_file: {path}: file not found")
    if kind == ".npz":
        if arch is None:
            return scratch.load_checkpoint(path, dtype=dtype)[0]
        return _conform(scratch.load_checkpoint(path)[0], arch, dtype, path)
    if kind == ".weights.h5":
        if arch is None:
            raise ValueError(f"load_weights_file: {path}: a .weights.h5 file holds no architecture; give arch=")
        model = scratch.build_model(arch, dtype=dtype)
        keras_model = to_keras(model)
        if functional.is_graph(model):
            # Keras names a graph's groups in the file by layer class and order, not by layer name:
            # its own reader matches them, and its errors are reported as this file's
            try:
                keras_model.load_weights(path)
            except Exception as e:
                raise ValueError(f"{path}: does not fit the architecture ({type(e).__name__}: {e})") from None
            functional.copy_weights_from_keras(model, keras_model)
            return model
        _check_h5(path, model)
        keras_model.load_weights(path)
        for layer, klayer in zip(model.layers, keras_model.layers):
            layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
        return model
    try:
        keras_model = keras.models.load_model(path, compile=False)
    except Exception as e:  # zip, JSON and deserialization errors all mean "not a usable .keras file"
        if "safe_mode" in str(e) and "Lambda" in str(e):
            raise ValueError(f"load_weights_file: {path}: holds a Lambda layer, whose Python code Keras loads only with "
                             f"safe_mode=False; if you trust the file, load it with keras.saving.load_model(path, "
                             f"safe_mode=False) and convert it with keras_ref.from_keras") from None
        raise ValueError(f"load_weights_file: {path}: not a readable .keras file ({type(e).__name__}: {e})") from None
    try:
        model = from_keras(keras_model)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return _conform(keras_preprocessing.take_preprocessing(model, path, warn=arch is None), arch, dtype, path)


def keras_with_preprocessing(model):
    """The Keras twin of scratch ``model`` behind a ``Rescaling`` layer computing its ``preprocess``:
    a self-contained Keras model taking raw 0-255 pixels (what a ``.keras`` file holds)."""
    rescaling = keras_layer(keras_preprocessing.rescaling_layer(model))
    if functional.is_graph(model):  # the Rescaling becomes the graph's first node
        keras_model = functional.graph_to_keras(model, keras_layer, prefix=rescaling)
        functional.copy_weights_to_keras(model, keras_model)
        return keras_model
    keras_model = to_keras(model)
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), dtype=model.dtype.name, name="input_layer")
    return keras.Sequential([inputs, rescaling, *keras_model.layers], name=keras_model.name)


def load_keras_model(path, arch=None, dtype="float32"):
    """The Keras twin (a ``keras.Sequential``, or a ``keras.Model`` for a graph) of the scratch model in a
    ``.npz`` checkpoint, a ``.weights.h5`` (needs ``arch``) or a ``.keras`` file."""
    return to_keras(load_weights_file(path, arch=arch, dtype=dtype))


def save_keras_weights(model, path):
    """Write scratch ``model``'s weights as Keras ``.weights.h5`` (or a whole ``.keras`` model), atomically.

    Keras writes to a temporary file with the right suffix beside ``path``, which is then
    renamed over ``path``: an interrupted save leaves the previous file intact.
    """
    path = os.fspath(path)
    kind = _kind(path, "save_keras_weights")
    if kind == ".npz":
        raise ValueError(f"save_keras_weights: {path}: use model.save() for a scratch .npz checkpoint")
    if not isinstance(model, scratch.Model):
        raise ValueError(f"save_keras_weights: expected a scratch.Sequential or Model, received {type(model).__name__}")
    keras_model = keras_with_preprocessing(model) if kind == ".keras" else to_keras(model)
    if kind == ".keras":
        atomic_save(path, lambda tmp: keras_model.save(tmp, overwrite=True))
    else:
        atomic_save(path, lambda tmp: keras_model.save_weights(tmp, overwrite=True))
