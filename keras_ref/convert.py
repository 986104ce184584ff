"""The Keras 3 twin of a scratch model, and conversions both ways.

``build_keras(arch, dtype)`` builds the Keras ``Sequential`` from the same architecture
description as ``scratch.build_model``; ``to_keras(model)`` and ``from_keras(keras_model)``
move a model with its weights across. Layer names are the scratch model's names
(``conv2d``, ``max_pooling2d``, ...), weights are in Keras's layouts on both sides, so they
map layer by layer, in order, unchanged (bit-identical).

The layer-by-layer mappings live in ``scratch.keras_io.mapping`` (and, until moved, ``keras_ref.mapping``).
What ``from_keras`` refuses, with a ``ValueError`` naming the layer and the setting:
anything the scratch engine does not compute (``channels_first``, an activation the engine
lacks, a layer class the engine lacks, a regularizer other than L1/L2/L1L2, a constraint other than
MaxNorm/NonNeg/UnitNorm/MinMaxNorm, LoRA, quantization, a setting a family module refuses, a mixed or
half-precision dtype policy). Input sizes may be ``None`` (``keras.Input((None, None, 3))``): the
scratch model takes any size there, as Keras. Frozen layers (``trainable=False``) stay frozen.
Initializers only matter for fresh weights, and weights are copied: ``glorot_uniform`` and
``zeros`` are recorded as such, any other initializer is recorded as the scratch default
(``glorot_uniform`` kernels, ``zeros`` biases) and does not affect the copied values.
"""

import keras
from keras.src.applications.convnext import LayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

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
    if keras_config.operation_call(layer) is not None:  # an operation alone: a Functional model of its keras.ops call
        try:
            return functional.op_model(layer)
        except Exception as e:
            raise functional.keras_refusal(layer, e) from None
    if kind not in mapping.TO_KERAS and kind not in keras_config.TO_CONFIG:
        raise ValueError(f"to_keras: layer {layer.label} has no Keras twin here")
    try:
        if kind in keras_config.TO_CONFIG:  # the one mapping, through Keras's own deserializer
            class_name, config = keras_config.layer_to_config(layer)
            if ">" in class_name:  # a class of one's own, by the name Keras registered it under
                return keras.saving.deserialize_keras_object({"module": None, "class_name": class_name.split(">")[1],
                                                              "config": config, "registered_name": class_name})
            return keras.layers.deserialize(keras_config.serialize_layer(layer))  # keras.applications' own under
            # their module
        penalties = {k: (keras.regularizers if k.endswith("_regularizer") else keras.constraints).get(v)
                     for k, v in keras_config.penalties_config(layer).items()}
        return mapping.TO_KERAS[kind](layer, {"name": layer.name, "dtype": layer.dtype.name,
                                              "trainable": layer.trainable, **penalties})
    except Exception as e:
        raise functional.keras_refusal(layer, e) from None


def _keras_structure(model):
    """A built, uncompiled Keras ``Sequential`` with ``model``'s layers (Keras's own initial weights)."""
    dtype = model.inputs[0].dtype.name  # the model's dtype, or an Embedding's integer indices
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
    # regularizers and constraints: read from the config with the other options (L1, L2, L1L2;
    # MaxNorm, NonNeg, UnitNorm, MinMaxNorm), any other refused there (keras_io.config.penalties_from_config)
    if getattr(klayer, "lora_enabled", False):
        refuse(klayer, "lora_rank", klayer.lora_rank, "None (no LoRA)")
    if getattr(klayer, "quantization_mode", None) is not None:
        refuse(klayer, "quantization_mode", klayer.quantization_mode, "None")


APPLICATION_CLASSES = (LayerScale, CustomScaleLayer)  # defined by keras.applications, not keras.layers


def keras_class_key(klayer):
    """The mapping's key for Keras layer ``klayer``: its class name when ``type(klayer)`` is Keras's own
    class of that name (the one ``keras.layers`` exports), the name Keras registered it under
    (``"mypkg>MyLayer"``) when it is a class of one's own whose twin ``scratch.register_layer`` registered.
    Any other class is refused in one line naming it, also one of one's own named like a Keras layer."""
    cls = type(klayer)
    kind = cls.__name__
    if getattr(keras.layers, kind, None) is cls or cls in APPLICATION_CLASSES:
        return kind
    registered = keras.saving.get_registered_name(cls)
    if ">" in registered and registered in keras_config.FROM_CONFIG:  # not a bare name: it could be Keras's
        return registered
    same = (f" (named like keras.layers.{kind}, but not that class)"
            if getattr(keras.layers, kind, None) is not None or kind in keras_config.FROM_CONFIG else "")
    name = registered if ">" in registered else f"yourpackage>{kind}"
    raise ValueError(f"from_keras: layer {klayer.name!r} is a {cls.__module__}.{cls.__qualname__}, a layer class of "
                     f"its own{same}; the scratch engine takes it once its NumPy twin is registered: "
                     f"scratch.register_layer(TwinClass, keras_name={name!r}) (docs/custom_layers.md)")


def keras_config_of(klayer, kind=None):
    """Keras layer ``klayer`` as the mapping reads it: its class name and ``get_config()``.

    The activation is read from the live function first (a lambda or a ``functools.partial`` of
    gelu has no serialized form: the one Keras computes as gelu's tanh form becomes its registered
    name, anything else is refused naming the layer). ``kind``: the mapping's key (``keras_class_key``)."""
    kind = kind or type(klayer).__name__
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
    kind = keras_class_key(klayer)
    if kind in keras_config.FROM_CONFIG:  # the one mapping, from the layer's serialized config
        return keras_config.layer_from_config(keras_config_of(klayer, kind), dtype)
    if kind not in mapping.FROM_KERAS:
        raise ValueError(f"from_keras: layer {klayer.name!r} is a {kind}, which the scratch engine does not have; "
                         f"supported: {sorted(mapping.FROM_KERAS)}")
    penalties = keras_config.penalties_from_config(keras_config.KerasConfig(kind, klayer.get_config()))
    return mapping.FROM_KERAS[kind](klayer, {"name": klayer.name, "dtype": dtype, "trainable": bool(klayer.trainable),
                                             **penalties})


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
    if len(shape) < 2:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has input shape {shape}; the scratch engine "
                         f"takes inputs with a batch axis (batch, ...)")
    if not keras_model.layers:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has no layers")
    dtype = _model_dtype(keras_model)
    layers = [functional.lambda_twin(klayer, klayer._inbound_nodes[0].arguments.args[0], _scratch_layer, dtype)
              if isinstance(klayer, keras.layers.Lambda) else _scratch_layer(klayer, dtype)
              for klayer in keras_model.layers]
    if layers[0].INTEGER_INPUT:  # an Embedding first: the input's dtype as Keras has it (indices, or floats it casts)
        kin = keras_model.inputs[0]
        layers.insert(0, scratch.Input(shape[1:], name=kin.name, dtype=functional._input_dtype(kin, dtype)))
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
