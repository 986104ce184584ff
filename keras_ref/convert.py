"""The Keras 3 twin of a scratch model, and conversions both ways.

``build_keras(arch, dtype)`` builds the Keras ``Sequential`` from the same architecture
description as ``scratch.build_model``; ``to_keras(model)`` and ``from_keras(keras_model)``
move a model with its weights across. Layer names are the scratch model's names
(``conv2d``, ``max_pooling2d``, ...), weights are in Keras's layouts on both sides, so they
map layer by layer, in order, unchanged (bit-identical).

What ``from_keras`` refuses, with a ``ValueError`` naming the layer and the setting:
anything the scratch engine does not compute (``channels_first``, ``dilation_rate != 1``,
``groups != 1``, an activation other than linear/relu/softmax, a layer class the engine
lacks, regularizers, constraints, LoRA, quantization, frozen layers, ``noise_shape``,
ReLU's ``max_value``/``negative_slope``/``threshold``, Softmax on another axis, a mixed or
half-precision dtype policy, an input that is not ``(batch, height, width, channels)``).
Initializers only matter for fresh weights, and weights are copied: ``glorot_uniform`` and
``zeros`` are recorded as such, any other initializer is recorded as the scratch default
(``glorot_uniform`` kernels, ``zeros`` biases) and does not affect the copied values.
"""

import keras
import numpy as np

import scratch
from scratch import layers as scratch_layers

if keras.backend.backend() != "tensorflow":
    raise ImportError(f"keras_ref needs the TensorFlow backend of Keras, this process has {keras.backend.backend()!r}; "
                      f"set KERAS_BACKEND=tensorflow before importing keras")

DTYPES = ("float32", "float64")
ACTIVATIONS = {"linear": None, "relu": "relu", "softmax": "softmax"}
INITIALIZER_NAMES = {"GlorotUniform": "glorot_uniform", "Zeros": "zeros"}


# -- scratch -> Keras ----------------------------------------------------------------------
def keras_layer(layer):
    """The Keras layer computing what scratch ``layer`` computes (same name and dtype)."""
    common = {"name": layer.name, "dtype": layer.dtype.name}
    if isinstance(layer, scratch.Conv2D):
        return keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                   activation=layer.activation or "linear", use_bias=layer.use_bias,
                                   kernel_initializer=layer.kernel_initializer,
                                   bias_initializer=layer.bias_initializer, **common)
    if isinstance(layer, scratch.MaxPooling2D):
        return keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides, padding=layer.padding, **common)
    if isinstance(layer, scratch.AveragePooling2D):
        return keras.layers.AveragePooling2D(layer.pool_size, strides=layer.strides, padding=layer.padding, **common)
    if isinstance(layer, scratch.Dense):
        return keras.layers.Dense(layer.units, activation=layer.activation or "linear", use_bias=layer.use_bias,
                                  kernel_initializer=layer.kernel_initializer,
                                  bias_initializer=layer.bias_initializer, **common)
    if isinstance(layer, scratch.Flatten):
        return keras.layers.Flatten(**common)
    if isinstance(layer, scratch.ReLU):
        return keras.layers.ReLU(**common)
    if isinstance(layer, scratch.Softmax):
        return keras.layers.Softmax(axis=-1, **common)
    if isinstance(layer, scratch.Dropout):
        return keras.layers.Dropout(layer.rate, seed=layer.seed, **common)
    raise ValueError(f"to_keras: layer {layer.label} has no Keras twin here")


def _keras_structure(model):
    """A built, uncompiled Keras ``Sequential`` with ``model``'s layers (Keras's own initial weights)."""
    dtype = model.dtype.name
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), dtype=dtype, name="input_layer")
    return keras.Sequential([inputs] + [keras_layer(layer) for layer in model.layers], name=model.name)


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
    """A Keras ``Sequential`` computing what scratch ``model`` computes, with its weights copied."""
    if not isinstance(model, scratch.Sequential):
        raise ValueError(f"to_keras: expected a scratch.Sequential, received {type(model).__name__}")
    if not model.built:
        raise ValueError("to_keras: the scratch model is not built; give it an input_shape or call it once")
    keras_model = _keras_structure(model)
    for layer, klayer in zip(model.layers, keras_model.layers):
        klayer.set_weights(layer.get_weights())
    return keras_model


# -- Keras -> scratch ----------------------------------------------------------------------
def _refuse(klayer, setting, value, expected):
    raise ValueError(f"from_keras: layer {klayer.name!r} ({type(klayer).__name__}) has {setting}={value!r}; "
                     f"the scratch engine supports only {expected}")


def _activation_name(klayer):
    for name in ACTIVATIONS:
        if klayer.activation is keras.activations.get(name):
            return ACTIVATIONS[name]
    shown = getattr(klayer.activation, "__name__", repr(klayer.activation))
    _refuse(klayer, "activation", shown, f"one of {sorted(ACTIVATIONS)}")


def _initializer_name(init, default):
    return INITIALIZER_NAMES.get(type(init).__name__, default)


def _check_common(klayer):
    if not klayer.trainable:
        _refuse(klayer, "trainable", False, "trainable layers (the engine trains every weight)")
    fmt = getattr(klayer, "data_format", "channels_last")
    if fmt != "channels_last":
        _refuse(klayer, "data_format", fmt, "'channels_last'")
    for attr in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                 "kernel_constraint", "bias_constraint"):
        value = getattr(klayer, attr, None)
        if value is not None:
            _refuse(klayer, attr, type(value).__name__, "None")
    if getattr(klayer, "lora_enabled", False):
        _refuse(klayer, "lora_rank", klayer.lora_rank, "None (no LoRA)")
    if getattr(klayer, "quantization_mode", None) is not None:
        _refuse(klayer, "quantization_mode", klayer.quantization_mode, "None")


def _scratch_layer(klayer, dtype):
    """The scratch layer computing what Keras layer ``klayer`` computes (without weights)."""
    _check_common(klayer)
    common = {"name": klayer.name, "dtype": dtype}
    kind = type(klayer).__name__
    if isinstance(klayer, keras.layers.Conv2D) and kind == "Conv2D":
        if tuple(klayer.dilation_rate) != (1, 1):
            _refuse(klayer, "dilation_rate", tuple(klayer.dilation_rate), "(1, 1)")
        if klayer.groups != 1:
            _refuse(klayer, "groups", klayer.groups, "1")
        return scratch.Conv2D(klayer.filters, tuple(klayer.kernel_size), strides=tuple(klayer.strides),
                              padding=klayer.padding, activation=_activation_name(klayer), use_bias=klayer.use_bias,
                              kernel_initializer=_initializer_name(klayer.kernel_initializer, "glorot_uniform"),
                              bias_initializer=_initializer_name(klayer.bias_initializer, "zeros"), **common)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        cls = scratch.MaxPooling2D if kind == "MaxPooling2D" else scratch.AveragePooling2D
        return cls(tuple(klayer.pool_size), strides=tuple(klayer.strides), padding=klayer.padding, **common)
    if kind == "Dense":
        return scratch.Dense(klayer.units, activation=_activation_name(klayer), use_bias=klayer.use_bias,
                             kernel_initializer=_initializer_name(klayer.kernel_initializer, "glorot_uniform"),
                             bias_initializer=_initializer_name(klayer.bias_initializer, "zeros"), **common)
    if kind == "Flatten":
        return scratch.Flatten(**common)
    if kind == "ReLU":
        for attr, default in (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0)):
            value = getattr(klayer, attr)
            value = None if value is None else float(value)
            if value != default:
                _refuse(klayer, attr, value, repr(default))
        return scratch.ReLU(**common)
    if kind == "Softmax":
        if klayer.axis not in (-1, [-1], (-1,)):
            _refuse(klayer, "axis", klayer.axis, "-1 (the last axis)")
        return scratch.Softmax(**common)
    if kind == "Dropout":
        if klayer.noise_shape is not None:
            _refuse(klayer, "noise_shape", klayer.noise_shape, "None")
        return scratch.Dropout(float(klayer.rate), seed=klayer.seed, **common)
    raise ValueError(f"from_keras: layer {klayer.name!r} is a {kind}, which the scratch engine does not have; "
                     f"supported: {sorted(scratch_layers.LAYERS)}")


def _model_dtype(keras_model):
    names = {}
    for klayer in keras_model.layers:
        policy = klayer.dtype_policy.name
        if policy not in DTYPES:
            _refuse(klayer, "dtype", policy, f"one of {DTYPES} (no mixed or half precision)")
        names.setdefault(policy, klayer.name)
    if len(names) > 1:
        raise ValueError(f"from_keras: layers of different dtypes ({', '.join(f'{k} in {v!r}' for k, v in names.items())}); "
                         f"the scratch engine computes a whole model in one dtype")
    return next(iter(names), "float32")


def from_keras(keras_model, preprocess="scale", loss=None):
    """A scratch ``Sequential`` computing what ``keras_model`` computes, with its weights copied.

    ``keras_model``: a built ``keras.Sequential`` of supported layers (see the module doc for
    what is refused). ``preprocess`` and ``loss`` (an architecture's ``loss`` dict; default
    sparse categorical cross-entropy from logits) are not part of a Keras model: give them
    when you know them (``load_weights_file`` takes them from the architecture).
    """
    if not isinstance(keras_model, keras.Sequential):
        raise ValueError(f"from_keras: expected a keras.Sequential, received {type(keras_model).__name__}")
    if not keras_model.built or not keras_model.inputs:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} is not built; give it a keras.Input(shape=...)")
    shape = tuple(keras_model.inputs[0].shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has input shape {shape}; the scratch engine "
                         f"takes images (batch, height, width, channels) of a known size")
    if not keras_model.layers:
        raise ValueError(f"from_keras: Keras model {keras_model.name!r} has no layers")
    dtype = _model_dtype(keras_model)
    layers = [_scratch_layer(klayer, dtype) for klayer in keras_model.layers]
    model = scratch.Sequential(layers, input_shape=shape[1:], name=keras_model.name, dtype=dtype,
                               preprocess=preprocess, loss=loss)
    for layer, klayer in zip(model.layers, keras_model.layers):
        try:
            layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
        except ValueError as e:
            raise ValueError(f"from_keras: {e}") from None
    return model
