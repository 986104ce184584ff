"""Checkpoints: a model, its optimizer and its run's metadata in one versioned ``.npz``, written
atomically; and ``model_from_config``, the one way back from either container's config.

This module sits below the models: ``scratch.models`` registers its two containers in
``CONTAINERS`` (a graph config has ``inputs``; a ``Sequential``'s architecture description has
``input_shape`` and a list of layers), as ``scratch.layers.LAYERS`` names the layer classes.
"""

import json
import os

import numpy as np

from . import optimizers as optimizers_mod
from .files import atomic_write
from .layers.node import leaf_layers
from .layers.regularization import NoiseLayer

CHECKPOINT_FORMAT = "scratch-cnn-checkpoint"
CHECKPOINT_VERSION = 1
SAVERS = {}  # file suffix -> fn(model, path): Keras's formats, registered by scratch.keras_io
CONTAINERS = {}  # "graph" and "sequential": the model classes, registered by scratch.models


def model_from_config(config, dtype=None, seed=None):
    """A ``Sequential`` from an architecture description, or a graph ``Model`` from its config
    (one with ``inputs``); checkpoints hold either."""
    graph = isinstance(config, dict) and "inputs" in config and "input_shape" not in config
    return CONTAINERS["graph" if graph else "sequential"].from_config(config, dtype=dtype, seed=seed)


def _dropout_states(model):
    return {layer.name: layer.rng.bit_generator.state for layer in leaf_layers(model)
            if isinstance(layer, NoiseLayer)}


def save_checkpoint(path, model, meta=None):
    """Save ``model`` (weights in Keras order, config, optimizer state, RNG states, ``meta``).

    Layout of the ``.npz``: ``format``, ``format_version``, ``config`` (JSON), ``weight_000``...,
    ``optimizer`` (JSON: class and config, or null), ``optimizer/<key>`` state arrays,
    ``meta`` (JSON, with the dropout generators' states).
    """
    arrays = {"format": np.array(CHECKPOINT_FORMAT), "format_version": np.array(CHECKPOINT_VERSION),
              "config": np.array(json.dumps(model.get_config()))}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight_{i:03d}"] = w
    opt = model.optimizer
    arrays["optimizer"] = np.array(json.dumps(None if opt is None else
                                              {"class_name": type(opt).__name__, "config": opt.get_config()}))
    if opt is not None:
        for k, v in opt.get_state().items():
            arrays[f"optimizer/{k}"] = v
    arrays["meta"] = np.array(json.dumps({**(meta or {}), "model_seed": model.seed,
                                          "dropout_rng": _dropout_states(model)}))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path, dtype=None):
    """``(model, meta)`` from ``save_checkpoint``'s file; the model has its optimizer restored.

    Raises ``ValueError`` naming the file for anything wrong: missing, not an ``.npz``, not
    a checkpoint of this format, a newer version, weights that do not fit the config.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"checkpoint {path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if data.get("format", np.array("")).item() != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path}: not a scratch checkpoint (no format tag {CHECKPOINT_FORMAT!r})")
    if "format_version" not in data:
        raise ValueError(f"checkpoint {path}: no 'format_version' entry")
    try:
        version = int(data["format_version"].item())
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint {path}: format_version must be an integer, found "
                         f"{data['format_version'].item()!r}") from None
    if version > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path}: format version {version} is newer than this code's {CHECKPOINT_VERSION}")
    try:
        config = json.loads(data["config"].item())
        meta = json.loads(data["meta"].item())
        opt_spec = json.loads(data["optimizer"].item())
    except (KeyError, ValueError) as e:
        raise ValueError(f"checkpoint {path}: corrupt config or metadata ({e})") from None
    try:
        model = model_from_config(config, dtype=dtype, seed=meta.get("model_seed"))
    except ValueError as e:
        raise ValueError(f"checkpoint {path}: {e}") from None
    weights = [data[k] for k in sorted(k for k in data if k.startswith("weight_"))]
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"checkpoint {path}: {e}") from None
    if opt_spec is not None:
        try:
            opt = optimizers_mod.OPTIMIZERS[str(opt_spec["class_name"]).lower()](**opt_spec["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"checkpoint {path}: unusable optimizer {opt_spec!r} ({type(e).__name__}: {e}); "
                             f"known: {sorted(optimizers_mod.OPTIMIZERS)}") from None
        opt.set_state({k[len("optimizer/"):]: v for k, v in data.items() if k.startswith("optimizer/")})
        params = model.named_params()
        for name, slots in opt.slots.items():
            for slot, arr in slots.items():
                if name not in params or arr.shape != params[name].shape:
                    want = params[name].shape if name in params else "no such parameter"
                    raise ValueError(f"checkpoint {path}: optimizer slot {slot!r} of {name!r} has shape "
                                     f"{arr.shape}, expected {want}")
                slots[slot] = arr.astype(params[name].dtype, copy=False)
        model.compile(opt)
    for layer in leaf_layers(model):
        state = meta.get("dropout_rng", {}).get(layer.name)
        if state is not None:
            layer.rng.bit_generator.state = state
    return model, meta
