"""Keras model files read and written with ``zipfile``, ``json`` and ``h5py``: no TensorFlow.

    model = scratch.load_model("model.keras")        # Keras 3 archive, or a legacy Keras 2 ".h5"
    scratch.load_weights(model, "model.weights.h5")  # Keras 3 weight file (or a legacy ".h5")
    model.save("model.keras")                        # a file keras.saving.load_model reads
    model.save("model.weights.h5")

A ``.keras`` file is a zip archive of ``config.json`` (the model as Keras serializes it),
``metadata.json`` (``keras_version``, ``date_saved``) and ``model.weights.h5`` (each layer's
variables at ``layers/<name>/vars/<i>``, see ``scratch.keras_io.graph``). A legacy ``.h5``
holds the config in its ``model_config`` attribute and each layer's weights in
``model_weights/<layer>/`` (the names in its ``weight_names`` attribute, nested models' weights
in their own group).

What is not read: the compiled loss, metrics and optimizer (``compile_config``, the
optimizer's variables) are ignored: the model loads for inference and fine-tuning, which
takes its optimizer and loss from ``compile``. Nothing in a file is executed: a ``Lambda``
layer (Python code) is refused, as are custom objects, layers the engine lacks, mixed or
quantized dtype policies, LoRA, regularizers and constraints, each in one line naming the
file, the layer and what is missing.

``h5py`` is imported when a file is read or written (``import scratch`` does not need it).
"""

import io
import json
import os
import time
import zipfile

import numpy as np

from ..checkpoint import SAVERS, load_checkpoint
from ..files import atomic_save, atomic_write
from ..models import Model
from . import graph, preprocessing

KERAS_VERSION = "3.15.1"  # written in metadata.json: the Keras these files are tested with
SUFFIXES = (".keras", ".weights.h5", ".h5", ".hdf5")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading and writing Keras files needs h5py (pip install h5py)") from None
    return h5py


def _kind(path):
    path = os.fspath(path)
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return suffix
    return os.path.splitext(path)[1]


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -- reading ------------------------------------------------------------------------------------------
def _keras3_vars(f):
    """``vars_at(path, names)`` for a Keras 3 weight file: the arrays at ``<path>/vars/0, 1...``."""
    def vars_at(path, names):
        group = f.get(path)
        if group is None or "vars" not in group:
            return None
        v = group["vars"]
        return [np.asarray(v[str(i)][()]) for i in range(len(v))]
    return vars_at


def _stored_paths(f):
    """Every ``.../vars`` group with at least one array (the layers the file has weights for)."""
    found = []
    if "layers" not in f:
        return found

    def visit(name, obj):
        if name.endswith("/vars") and hasattr(obj, "keys") and len(obj):
            found.append("layers/" + name[: -len("/vars")])
    f["layers"].visititems(visit)
    return found


def _check_all_used(where, stored, slots):
    used = {path for path, *_ in slots}
    extra = sorted(set(stored) - used)
    if extra:
        raise ValueError(f"{where}: the file has weights for {extra}, which the model's config does not have (a "
                         f"weights file of another model?)")


def _read_archive(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ValueError(f"{path}: not a Keras 3 .keras archive (no config.json; it has {sorted(names)})")
            if "model.weights.h5" not in names:
                other = sorted(n for n in names if "weights" in n)
                raise ValueError(f"{path}: no model.weights.h5 in the archive"
                                 f"{f' (it has {other}: sharded or npz weights are not read here)' if other else ''}")
            config = json.loads(z.read("config.json"))
            metadata = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
            weights = z.read("model.weights.h5")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not a complete .keras archive (zip: {e}); truncated or not a Keras file?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: config.json is not valid JSON ({e})") from None
    except (EOFError, zipfile.LargeZipFile, OSError) as e:
        raise ValueError(f"{path}: cannot read the archive ({type(e).__name__}: {e}); truncated?") from None
    return config, metadata, weights


def _check_version(path, version):
    if version and not str(version).startswith("3."):
        raise ValueError(f"{path}: written by Keras {version}; this reader knows the Keras 3 format")


def load_keras_archive(path, safe_mode=True):
    """A scratch model (weights loaded, preprocessing not yet taken) from a ``.keras`` file."""
    h5py = _h5py()
    config, metadata, weights = _read_archive(path)
    _check_version(path, metadata.get("keras_version"))
    try:
        f = h5py.File(io.BytesIO(weights), "r")
    except OSError as e:
        raise ValueError(f"{path}: model.weights.h5 is not a readable HDF5 file ({e})") from None
    with f:
        vars_at = _keras3_vars(f)
        reader = graph.ConfigReader(path, vars_at, safe_mode=safe_mode)
        model = reader.model(config)
        _check_all_used(path, _stored_paths(f), reader.slots)
        graph.load_slots(reader.slots, vars_at, path)
    return model


def _legacy_vars(f):
    """``vars_at(path, names)`` for a legacy ``.h5``: the arrays of ``model_weights/<names[0]>``,
    those of leaf layer ``names[-1]`` for a layer of a nested model (its weight names end
    ``<layer>/<variable>``)."""
    root = f["model_weights"] if "model_weights" in f else f

    def vars_at(path, names):
        group = root.get(names[0])
        if group is None:
            return None
        weight_names = [_text(n) for n in group.attrs.get("weight_names", [])]
        if len(names) > 1:
            weight_names = [n for n in weight_names if n.split("/")[-2:-1] == [names[-1]]]
        return [np.asarray(group[n][()]) for n in weight_names]
    return vars_at


def _check_legacy_used(where, f, slots):
    root = f["model_weights"] if "model_weights" in f else f
    used = {names[0] for _, names, *_ in slots}
    extra = sorted(name for name in root if name not in used and len(root[name].attrs.get("weight_names", [])))
    if extra:
        raise ValueError(f"{where}: the file has weights for layers {extra}, which the model's config does not have")


def load_legacy_h5(path, safe_mode=True):
    """A scratch model from a legacy full-model ``.h5`` (``model_config`` attribute, Keras 2 weight groups)."""
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e}); truncated?") from None
    with f:
        if "model_config" not in f.attrs:
            raise ValueError(f"{path}: an .h5 file without a model_config attribute holds weights only; build the "
                             f"model and use scratch.load_weights(model, path)")
        config = json.loads(_text(f.attrs["model_config"]))
        vars_at = _legacy_vars(f)
        reader = graph.ConfigReader(path, vars_at, safe_mode=safe_mode)
        model = reader.model(config)
        _check_legacy_used(path, f, reader.slots)
        graph.load_slots(reader.slots, vars_at, path)
    return model


def read_model(path, safe_mode=True):
    """The model a ``.keras`` or legacy ``.h5`` file holds, exactly (its first ``Rescaling`` kept)."""
    kind = _kind(path)
    if kind == ".keras":
        return load_keras_archive(path, safe_mode=safe_mode)
    if kind in (".h5", ".hdf5"):
        return load_legacy_h5(path, safe_mode=safe_mode)
    raise ValueError(f"load_model: {path}: unknown file type; expected .keras, .h5 or .npz")


def load_model(path, preprocess=None, safe_mode=True):
    """A scratch model from a Keras model file: a ``.keras`` archive, a legacy ``.h5``, or a scratch
    ``.npz`` checkpoint. No TensorFlow is imported.

    ``preprocess``: what raw pixels become for this model (``"scale"``, ``"center"``, ``"raw"``);
    by default it is read from the file (a first ``Rescaling`` layer of one of those forms
    becomes ``preprocess``; without one, ``"scale"`` with a warning). ``safe_mode``: as Keras's;
    a ``Lambda`` layer is refused either way (its Python code is never run).
    """
    path = os.fspath(path)
    kind = _kind(path)
    if not os.path.isfile(path):
        raise ValueError(f"load_model: {path}: file not found")
    if kind == ".npz":
        return load_checkpoint(path)[0]
    if kind == ".weights.h5":
        raise ValueError(f"load_model: {path}: a .weights.h5 file holds no architecture; build the model and use "
                         f"scratch.load_weights(model, path)")
    model = read_model(path, safe_mode=safe_mode)
    if preprocess is not None:
        model.preprocess = preprocess
        return model
    return preprocessing.take_preprocessing(model, path)


def load_weights(model, path):
    """Set scratch ``model``'s weights from a Keras ``.weights.h5`` (or the weights of a ``.keras``
    archive or a legacy ``.h5``); every layer must be there with the shapes it expects."""
    path = os.fspath(path)
    if not isinstance(model, Model):
        raise ValueError(f"load_weights: expected a scratch model, received {type(model).__name__}")
    if not os.path.isfile(path):
        raise ValueError(f"load_weights: {path}: file not found")
    h5py = _h5py()
    kind = _kind(path)
    writer = graph.ConfigWriter()
    writer.model(model)
    if kind == ".keras":
        _, _, data = _read_archive(path)
        source = io.BytesIO(data)
    else:
        source = path
    try:
        f = h5py.File(source, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e}); truncated?") from None
    with f:
        if "layers" in f:
            vars_at = _keras3_vars(f)
            slots = [(p, (layer.name,), layer, type(layer).__name__) for p, layer, _ in writer.slots]
            _check_all_used(path, _stored_paths(f), slots)
        else:
            vars_at = _legacy_vars(f)
            slots = _named_slots(model)
            _check_legacy_used(path, f, slots)
        graph.load_slots(slots, vars_at, path)
    return model


def _named_slots(model, names=()):
    """``(path, names, layer, class)`` of every leaf layer, by layer names (the legacy layout)."""
    out = []
    for layer in model.layers:
        if isinstance(layer, Model):
            out += _named_slots(layer, names + (layer.name,))
        else:
            out.append(("/".join(names + (layer.name,)), names + (layer.name,), layer, type(layer).__name__))
    return out


# -- writing ------------------------------------------------------------------------------------------
def _serialize(model, with_preprocessing):
    prefix = preprocessing.rescaling_layer(model) if with_preprocessing else None
    if prefix is not None:
        prefix.build((None,) + tuple(model.inputs[0].shape[1:]))
    writer = graph.ConfigWriter()
    spec = writer.model(model, prefix=prefix)
    return spec, writer.slots


def save_model(model, path):
    """Write scratch ``model`` as a Keras 3 ``.keras`` archive (its preprocessing as a first
    ``Rescaling`` layer, so Keras takes raw pixels), atomically."""
    h5py = _h5py()
    path = os.fspath(path)
    spec, slots = _serialize(model, with_preprocessing=True)
    weights = io.BytesIO()
    _write_weights_with_prefix(h5py, weights, spec, slots, model)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}

    def write(f):
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("metadata.json", json.dumps(metadata))
            z.writestr("config.json", json.dumps(spec))
            z.writestr("model.weights.h5", weights.getvalue())
    atomic_write(path, write)


def _write_weights_with_prefix(h5py, target, spec, slots, model):
    """As ``_write_weights``, with the container groups read off ``spec`` (which may have a prefix layer)."""
    members = {}

    def walk(spec, base):
        container = graph.Container(base)
        entries = spec["config"]["layers"]
        if spec["class_name"] == "Sequential":
            entries = entries[1:]
        for entry in entries:
            if entry.get("module") == graph.OPS_MODULE:
                continue
            p = container.path(entry["class_name"])
            members[p] = entry.get("name") or entry["config"].get("name")
            if entry["class_name"] in graph.MODEL_CLASSES:
                walk(entry, p + "/")
    walk(spec, "")
    with h5py.File(target, "w") as f:
        f.create_group("vars").attrs["name"] = model.name
        for p, name in members.items():
            f.require_group(p).require_group("vars").attrs["name"] = name
        for p, layer, weights in slots:
            group = f[p]["vars"]
            for i, w in enumerate(layer.get_weights() if weights is None else weights):
                group.create_dataset(str(i), data=w)


def save_weights(model, path):
    """Write scratch ``model``'s weights as Keras's ``.weights.h5`` (the model as Keras would rebuild it), atomically."""
    h5py = _h5py()
    path = os.fspath(path)
    spec, slots = _serialize(model, with_preprocessing=False)
    atomic_save(path, lambda tmp: _write_weights_with_prefix(h5py, tmp, spec, slots, model))


def save(model, path):
    """``model.save(path)`` for Keras's formats: ``.keras`` or ``.weights.h5``."""
    kind = _kind(path)
    if kind == ".keras":
        return save_model(model, path)
    if kind == ".weights.h5":
        return save_weights(model, path)
    raise ValueError(f"save: {path}: Keras's formats are .keras and .weights.h5 (scratch checkpoints: .npz)")


SAVERS[".keras"] = save_model
SAVERS[".weights.h5"] = save_weights
