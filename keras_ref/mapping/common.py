"""What needs live Keras objects: refusing a live layer's setting, the registered ``gelu_approximate``,
and reading a live layer's activation function (the rest of the mapping is ``scratch.keras_io``)."""

import functools

import keras

import scratch


def refuse(klayer, setting, value, expected):
    raise ValueError(f"from_keras: layer {klayer.name!r} ({type(klayer).__name__}) has {setting}={value!r}; "
                     f"the scratch engine supports only {expected}")


@keras.saving.register_keras_serializable(package="scratch", name="gelu_approximate")
def gelu_approximate(x):
    """Keras's ``gelu(x, approximate=True)`` as a named, serializable function: Keras has no name
    for the tanh form (its ``"gelu"`` is the exact erf form), the scratch engine calls it
    ``"gelu_approximate"``."""
    return keras.activations.gelu(x, approximate=True)


def activation_name(klayer, activation=None):
    """The ``scratch.activations`` name of a Keras layer's activation function, or a refusal naming it.

    Every ``keras.activations`` function the engine computes maps to its Keras name (aliases
    ``swish``/``hard_swish`` are the same functions as ``silu``/``hard_silu``); ``gelu`` with
    ``approximate=True`` (``gelu_approximate`` above, or ``functools.partial(keras.activations.gelu,
    approximate=True)``) maps to ``"gelu_approximate"``. Anything else (a lambda, a partial with
    other arguments, a custom function) is refused.
    """
    fn = klayer.activation if activation is None else activation
    supported = f"one of {sorted(scratch.activations.REGISTRY)}"
    if fn is gelu_approximate:
        return "gelu_approximate"
    if isinstance(fn, functools.partial) and fn.func is keras.activations.gelu and not fn.args:
        if set(fn.keywords) <= {"approximate"}:
            return "gelu_approximate" if fn.keywords.get("approximate", False) else "gelu"
    name = getattr(fn, "__name__", None)
    if (not isinstance(name, str) or name not in scratch.activations.REGISTRY or name == "gelu_approximate"
            or keras.activations.get(name) is not fn):
        refuse(klayer, "activation", name or fn, supported)
    return name
