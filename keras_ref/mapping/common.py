"""What the family modules share: refusing a setting, reading activations and initializers."""

import keras

import scratch

INITIALIZER_NAMES = {"GlorotUniform": "glorot_uniform", "Zeros": "zeros"}


def refuse(klayer, setting, value, expected):
    raise ValueError(f"from_keras: layer {klayer.name!r} ({type(klayer).__name__}) has {setting}={value!r}; "
                     f"the scratch engine supports only {expected}")


def activation_name(klayer, activation=None):
    """The ``scratch.activations`` name of a Keras layer's activation, or a refusal naming it."""
    fn = klayer.activation if activation is None else activation
    name = keras.activations.serialize(fn)
    name = name if isinstance(name, str) else getattr(fn, "__name__", repr(fn))
    name = {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)
    if name not in scratch.activations.REGISTRY or keras.activations.get(name) is not fn:
        refuse(klayer, "activation", name, f"one of {sorted(scratch.activations.REGISTRY)}")
    return name


def initializer_name(init, default):
    """Initializers only matter for fresh weights (weights are copied): unknown ones become the default."""
    return INITIALIZER_NAMES.get(type(init).__name__, default)


def weight_options(klayer):
    """The ``activation``/``use_bias``/initializer arguments Conv2D-like layers and Dense share."""
    return dict(activation=activation_name(klayer), use_bias=klayer.use_bias,
                kernel_initializer=initializer_name(klayer.kernel_initializer, "glorot_uniform"),
                bias_initializer=initializer_name(klayer.bias_initializer, "zeros"))


def keras_weight_options(layer):
    return dict(activation=layer.activation.name, use_bias=layer.use_bias,
                kernel_initializer=layer.kernel_initializer, bias_initializer=layer.bias_initializer)
