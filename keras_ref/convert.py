"""The Keras 3 twin of a scratch model, and conversions both ways.

``build_keras(arch, dtype)`` builds the Keras ``Sequential`` from the same architecture
description as ``scratch.build_model``; ``to_keras(model)`` and ``from_keras(keras_model)``
move a model with its weights across. Layer names are the scratch model's names
(``conv2d``, ``max_pooling2d``, ...), weights are in Keras's layouts on both sides, so they
map layer by layer, in order, unchanged (bit-identical).

The layer-by-layer mappings live in ``scratch.keras_io.mapping`` (and, until moved, ``keras_ref.mapping``).
What ``from_keras`` refuses, with a ``ValueError`` naming the layer and the setting:
anything the scratch engine does not compute (``channels_first``, an activation the engine
lacks, a layer class the engine lacks, regularizers, constraints, LoRA, quantization, a
setting a family module refuses, a mixed or half-precision dtype policy, an input that is
not ``(batch, height, width, channels)``). Frozen layers (``trainable=False``) stay frozen.
Initializers only matter for fresh weights, and weights are copied: ``glorot_uniform`` and
``zeros`` are recorded as such, any other initializer is recorded as the scratch default
(``glorot_uniform`` kernels, ``zeros`` biases) and does not affect the copied values.
"""

import keras

import scratch
from scratch.keras_io import config as keras_config

from . import functional, mapping
from .mapping.common import activation_name, refuse

if keras.backend.backend() != "tensorflow":
    raise ImportError(f"keras_ref needs the TensorFlow backend of Keras, this process has {keras.backend.backend()!r}; "
                      f"set KERAS_BACKEND=tensorflow before importing keras")

DTYPES = ("float32", "float64")


# -- scratch -> Keras ----------------------------------------------------------------------
def keras_layer(layer):
    """The Keras layer computing what scratch ``layer`` computes (same name, dtype, trainable flag)."""
    kind = type(layer).__name__
    if kind not in mapping.TO_KERAS and kind not in keras_config.TO_CONFIG:
        raise ValueError(f"to_keras: layer {layer.label} has no Keras twin here")
    try:
        if kind not in mapping.TO_KERAS:  # the one mapping, through Keras's own deserializer (a live
            # mapping still in keras_ref.mapping, for the families being moved, comes first)
            return keras.layers.deserialize(keras_config.serialize_layer(layer))
        return mapping.TO_KERAS[kind](layer, {"name": layer.name, "dtype": layer.dtype.name,
                                              "trainable": layer.trainable})
    except Exception as e:
        raise functional.keras_refusal(layer, e) from None


def _keras_structure(model):
    """A built, uncompiled Keras ``Sequential`` with ``model``'s layers (Keras's own initial weights)."""
    dtype = model.dtype.name
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), dtype=dtype, name="input_layer")
    klayers = [functional.graph_to_keras(layer, keras_layer) if isinstance(layer, scratch.Model) else
               keras_layer(layer) for layer in model.layers]
    try:
        return keras.Sequential([inputs] + klayers, name=model.name)
    except Exception as e:  # find the layer Keras refuses: fresh twins called one by one
        x = keras.Input(shape=tuple(model.input_shape[1:]), dtype=dtype)
        for layer in model.layers:
            try:
                x = keras_layer(layer)(x)
            except Exception as e2:
                raise functional.keras_refusal(layer, e2, tuple(x.shape)) from None
        raise ValueError(f"to_keras: Keras cannot build Sequential {model.name!r} ({type(e).__name__}: {e})") from None


def build_keras(arch, dtype="float32"):
    """A built, uncompiled ``keras.Sequential`` from an architecture (registry name, .json path or dict).

    Every layer, and the input, gets ``dtype`` (so float64 really computes in float64).
    Layer names are those ``scratch.build_model(arch)`` gives. The weights are Keras's own
    fresh initial values (Keras's generator, not the scratch engine's).
    """
    if str(dtype) not in DTYPES:
        raise ValueError(f"build_keras: dtype must be one of {DTYPES}, received {dtype!r}")
    return _keras_structure(scratch.build_model(arch, dtype=str(dtype)))


def to_keras(model):
    """A Keras model computing what scratch ``model`` computes, with its weights copied: a
    ``keras.Sequential`` for a ``scratch.Sequential``, a Functional ``keras.Model`` for a graph."""
    if not isinstance(model, scratch.Model):
        raise ValueError(f"to_keras: expected a scratch.Sequential or scratch.Model, received {type(model).__name__}")
    if not model.built:
        raise ValueError("to_keras: the scratch model is not built; give it an input_shape or call it once")
    if isinstance(model, scratch.Sequential):
        keras_model = _keras_structure(model)
    else:
        keras_model = functional.graph_to_keras(model, keras_layer)
    functional.copy_weights_to_keras(model, keras_model)
    return keras_model


# -- Keras -> scratch ----------------------------------------------------------------------
def _check_common(klayer):
    fmt = getattr(klayer, "data_format", "channels_last")
    if fmt != "channels_last":
        refuse(klayer, "data_format", fmt, "'channels_last'")
    for attr in ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_regularizer",
                 "pointwise_regularizer", "kernel_constraint", "bias_constraint", "depthwise_constraint",
                 "pointwise_constraint"):
        value = getattr(klayer, attr, None)
        if value is not None:
            refuse(klayer, attr, type(value).__name__, "None")
    if getattr(klayer, "lora_enabled", False):
        refuse(klayer, "lora_rank", klayer.lora_rank, "None (no LoRA)")
    if getattr(klayer, "quantization_mode", None) is not None:
        refuse(klayer, "quantization_mode", klayer.quantization_mode, "None")


def keras_config_of(klayer):
    """Keras layer ``klayer`` as the mapping reads it: its class name and ``get_config()``.

    The activation is read from the live function first (a lambda or a ``functools.partial`` of
    gelu has no serialized form: the one Keras computes as gelu's tanh form becomes its registered
    name, anything else is refused naming the layer)."""
    kind = type(klayer).__name__
    live = getattr(klayer, "activation", None)
    if callable(live) and not isinstance(live, keras.layers.Layer):
        name = activation_name(klayer)
        klayer.activation = keras.activations.get("linear")
        try:
            config = klayer.get_config()
        finally:
            klayer.activation = live
        config["activation"] = keras_config.keras_activation(name)
    else:
        config = klayer.get_config()
    build = klayer.get_build_config() if klayer.built else None
    return keras_config.KerasConfig(kind, config, build, weights=klayer.get_weights)


def _scratch_layer(klayer, dtype):
    """The scratch layer computing what Keras layer ``klayer`` computes (without weights)."""
    _check_common(klayer)
    kind = type(klayer).__name__
    if kind not in mapping.FROM_KERAS and kind in keras_config.FROM_CONFIG:  # the one mapping, from its config
        return keras_config.layer_from_config(keras_config_of(klayer), dtype)
    if kind not in mapping.FROM_KERAS:
        raise ValueError(f"from_keras: layer {klayer.name!r} is a {kind}, which the scratch engine does not have; "
                         f"supported: {sorted(set(mapping.FROM_KERAS) | set(keras_config.FROM_CONFIG))}")
    return mapping.FROM_KERAS[kind](klayer, {"name": klayer.name, "dtype": dtype, "trainable": bool(klayer.trainable)})


def _leaf_layers(keras_model):
    """Every layer of ``keras_model`` that computes something, nested models opened, inputs left out."""
    for klayer in keras_model.layers:
        if isinstance(klayer, keras.Model):
            yield from _leaf_layers(klayer)
        elif not isinstance(klayer, keras.layers.InputLayer):
            yield klayer


def _model_dtype(keras_model):
    names = {}
    for klayer in _leaf_layers(keras_model):
        policy = klayer.dtype_policy.name
        if policy not in DTYPES:
            refuse(klayer, "dtype", policy, f"one of {DTYPES} (no mixed or half precision)")
        names.setdefault(policy, klayer.name)
    if len(names) > 1:
        raise ValueError(f"from_keras: layers of different dtypes ({', '.join(f'{k} in {v!r}' for k, v in names.items())}); "
                         f"the scratch engine computes a whole model in one dtype")
    return next(iter(names), "float32")


def from_keras(keras_model, preprocess="scale", loss=None):
    """A scratch model computing what ``keras_model`` computes, with its weights copied: a
    ``scratch.Sequential`` for a ``keras.Sequential``, a graph ``scratch.Model`` for a Functional one.

    ``keras_model``: a built Keras model of supported layers (see the module doc for what is
    refused). ``preprocess`` and ``loss`` (an architecture's ``loss`` dict; default sparse
    categorical cross-entropy from logits) are not part of a Keras model: give them when you
    know them (``load_weights_file`` takes them from the architecture).
    """
    if isinstance(keras_model, keras.Model) and not isinstance(keras_model, keras.Sequential):
        return _graph_from_keras(keras_model, preprocess, loss)
    if not isinstance(keras_model, keras.Sequential):
        raise ValueError(f"from_keras: expected a Keras model, received {type(keras_model).__name__}")
    if not keras_model.built or not keras_model.inputs:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} is not built; give it a keras.Input(shape=...)")
    shape = tuple(keras_model.inputs[0].shape)
    if len(shape) < 2 or any(d is None for d in shape[1:]):
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has input shape {shape}; the scratch engine "
                         f"takes inputs of a known size (batch, ...)")
    if not keras_model.layers:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has no layers")
    dtype = _model_dtype(keras_model)
    layers = [_scratch_layer(klayer, dtype) for klayer in keras_model.layers]
    model = scratch.Sequential(layers, input_shape=shape[1:], name=keras_model.name, dtype=dtype,
                               preprocess=preprocess, loss=loss)
    try:
        functional.copy_weights_from_keras(model, keras_model)
    except ValueError as e:
        raise ValueError(f"from_keras: {e}") from None
    return model


def _graph_from_keras(keras_model, preprocess, loss):
    """A ``scratch.Model`` for a Keras Functional model (nested models included), weights copied."""
    if not keras_model.built or not keras_model.inputs:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} is not built")
    dtype = _model_dtype(keras_model)
    model = functional.graph_from_keras(keras_model, _scratch_layer, dtype)
    try:
        functional.copy_weights_from_keras(model, keras_model)
    except ValueError as e:
        raise ValueError(f"from_keras: {e}") from None
    model.preprocess = preprocess
    model.loss_spec = loss or {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}
    return model
