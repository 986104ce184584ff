"""The preprocessing a Keras model file carries, both ways (shared by ``scratch.keras_io`` and ``keras_ref``).

A scratch model's ``preprocess`` (what raw 0-255 pixels become: ``scratch.preprocess``) is not a
layer; a ``.keras`` file written here starts with a ``Rescaling`` computing it (``"center"``:
``Rescaling(1/255, offset=-0.5)``, ``"scale"``: ``Rescaling(1/255)``, ``"raw"``:
``Rescaling(1.0)``), so plain Keras takes raw pixels. Reading a file, a first ``Rescaling`` that
is one of these becomes the model's ``preprocess`` again; any other first ``Rescaling`` stays a
layer of the model (``preprocess "raw"``); a file without one (written by plain Keras) is read as
taking ``x / 255``, with a warning.
"""

import math
import warnings

from .. import architectures
from ..layers import Rescaling
from ..models import Model, Sequential


def is_graph(model):
    return isinstance(model, Model) and not isinstance(model, Sequential)


def preprocess_of(layer):
    """The ``preprocess`` mode a scratch ``Rescaling`` layer computes, or None."""
    if not isinstance(layer, Rescaling) or isinstance(layer.scale, list) or isinstance(layer.offset, list):
        return None
    for mode, (scale, offset) in architectures.PREPROCESS_RESCALING.items():
        if math.isclose(layer.scale, scale, rel_tol=1e-6) and math.isclose(layer.offset, offset, abs_tol=1e-9):
            return mode
    return None


def rescaling_layer(model):
    """The scratch ``Rescaling`` computing ``model.preprocess``, named apart from the model's layers."""
    scale, offset = architectures.PREPROCESS_RESCALING[model.preprocess]
    taken, name, k = {layer.name for layer in model.layers}, "rescaling", 0
    while name in taken:
        k += 1
        name = f"rescaling_{k}"
    return Rescaling(scale, offset=offset, name=name, dtype=model.dtype.name)


def _without_first_rescaling(model, mode):
    """A graph ``model`` whose first node (a ``Rescaling`` reading the input) is dropped, its
    consumers reading the input instead: the model ``preprocess`` ``mode`` feeds."""
    config = model.get_config()
    gone = model.nodes[0].layer.name
    source = config["inputs"][0]["name"]
    config["layers"] = [spec for spec in config["layers"] if spec["config"]["name"] != gone]
    for spec in config["layers"]:
        for call in spec["inbound_nodes"]:
            call["args"] = [[source, 0, 0] if ref[0] == gone else ref for ref in call["args"]]
    config["outputs"] = [[source, 0, 0] if ref[0] == gone else ref for ref in config["outputs"]]
    config["preprocess"] = mode
    rebuilt = Model.from_config(config, dtype=model.dtype.name)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def warn_no_rescaling(path, stacklevel=4):
    warnings.warn(f"{path}: the model does not start with a Rescaling layer, so the file does not say how it "
                  f"scales pixels; assuming x / 255 (preprocess 'scale'); give the architecture (--arch) or the scaling "
                  f"(--preprocess center|scale|raw) if it was trained otherwise", UserWarning, stacklevel=stacklevel)


def take_preprocessing(model, path, warn=True):
    """``model`` read from a ``.keras`` file, its first ``Rescaling`` turned back into ``preprocess``."""
    if is_graph(model):
        first = model.nodes[0].layer if model.nodes else None
        reads_input = first is not None and len(model.inputs) == 1 and model.nodes[0].inbound == model.inputs
        users = sum(1 for node in model.nodes if any(t is model.inputs[0] for t in node.inbound))
        mode = preprocess_of(first) if reads_input and users == 1 else None
        if mode is not None and len(model.nodes) > 1:
            return _without_first_rescaling(model, mode)
        if isinstance(first, Rescaling) and reads_input:
            model.preprocess = "raw"
        elif warn:
            warn_no_rescaling(path)
        return model
    first = model.layers[0]
    mode = preprocess_of(first)
    if mode is not None and len(model.layers) > 1:
        rest = model.layers[1:]
        return Sequential(rest, input_shape=model.input_shape[1:], name=model.name, dtype=model.dtype,
                          preprocess=mode, loss=model.loss_spec)
    if isinstance(first, Rescaling):
        model.preprocess = "raw"
    elif warn:
        warn_no_rescaling(path)
    return model
