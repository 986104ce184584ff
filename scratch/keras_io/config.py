"""Keras's serialized layer configs <-> scratch layers: the one mapping, without TensorFlow.

A Keras layer is, on disk and in ``layer.get_config()``, a class name and a dict of its
constructor arguments (``{"filters": 3, "kernel_size": [3, 3], "activation": "relu",
"kernel_initializer": {"class_name": "GlorotUniform", ...}, ...}``). Both directions work on
that dict, so a ``.keras`` file read with ``zipfile`` and ``json`` and a live Keras model
(``keras_ref.from_keras``, which reads each layer's ``get_config()``) go through the same code:

- ``@from_config("Conv2D")``: ``fn(cfg, common) -> scratch layer`` (without weights), where
  ``cfg`` is a ``KerasConfig`` (the Keras config with readers that refuse, in one line naming
  the layer, any value the engine does not compute) and ``common`` holds the scratch layer's
  ``name``, ``dtype`` and ``trainable``.
- ``@to_config("Conv2D")``: ``fn(layer) -> dict``, the Keras constructor arguments (plain JSON:
  activations by name, initializers by name or as Keras's serialized dicts) of the Keras layer
  computing what scratch ``layer`` computes; ``name``, ``dtype`` and ``trainable`` are added by
  the caller. The Keras class is the scratch class's name unless the function returns
  ``(class_name, config)``.

Weights are copied by the callers, in Keras order, unchanged.
"""

from .. import activations

TO_CONFIG = {}  # scratch class name -> fn(layer) -> Keras config (or (Keras class name, config))
FROM_CONFIG = {}  # Keras class name -> fn(KerasConfig, common) -> scratch layer
KERAS_MODULES = {}  # Keras class name -> the module Keras serializes it under, when not "keras.layers"
WEIGHTS_IN_CONFIG = {}  # Keras class -> fn(layer, stored arrays): its Keras weights kept as config (Normalization)
FILE_FORMS = {}  # Keras class -> fn(layer, config) -> (config, weights): how a file holds it, if not as to_config


def to_config(*names):
    def register(fn):
        for name in names:
            TO_CONFIG[name] = fn
        return fn
    return register


def from_config(*names):
    def register(fn):
        for name in names:
            FROM_CONFIG[name] = fn
        return fn
    return register


# Keras's initializer classes by the scratch engine's names (weights are copied, so an initializer
# only shapes fresh weights: an unknown one becomes the layer's default).
INITIALIZER_NAMES = {"GlorotUniform": "glorot_uniform", "Zeros": "zeros", "Ones": "ones"}


class KerasConfig:
    """One Keras layer's serialized config, read with one-line refusals.

    ``class_name`` (``"Conv2D"``), ``config`` (its ``get_config()`` dict), ``build_config`` (its
    ``{"input_shape": ...}`` when known), ``where`` (what reads it, for messages: ``"from_keras"``
    or a file's path). ``cfg["filters"]`` reads an argument Keras always writes; ``cfg.get(key,
    default)`` one it may leave out.
    """

    def __init__(self, class_name, config, build_config=None, where="from_keras", weights=None):
        self.class_name = class_name
        self.config = dict(config)
        self.build_config = build_config or {}
        self.where = where
        self._weights = weights  # a function returning the layer's stored weights (Keras order), when known

    def stored_weights(self, what):
        """The layer's weights as Keras stores them (a list of arrays in Keras order), for the few
        layers that keep configuration in weights; a refusal naming ``what`` when they are unknown."""
        if self._weights is None:
            raise ValueError(f"{self.where}: layer {self.name!r} ({self.class_name}) needs {what}, which are not "
                             f"available here")
        return list(self._weights())

    @property
    def name(self):
        return self.config.get("name")

    @property
    def input_shape(self):
        """The input shape Keras built the layer for (batch first, ``None`` unknown), or ``None``."""
        shape = self.build_config.get("input_shape")
        return None if shape is None else tuple(shape)

    def __getitem__(self, key):
        if key not in self.config:
            raise ValueError(f"{self.where}: layer {self.name!r} ({self.class_name}) has no {key!r} in its config; "
                             f"written by a Keras this reader does not know?")
        return self.config[key]

    def get(self, key, default=None):
        return self.config.get(key, default)

    def refuse(self, setting, value, expected):
        raise ValueError(f"{self.where}: layer {self.name!r} ({self.class_name}) has {setting}={value!r}; "
                         f"the scratch engine supports only {expected}")

    def expect(self, key, allowed, default=None):
        """The value of ``key`` if it is one of ``allowed``, else a refusal naming it."""
        value = self.get(key, default)
        if value not in allowed:
            self.refuse(key, value, " or ".join(repr(a) for a in allowed))
        return value

    def ints(self, key, n=None, default=None):
        """An int or a list of ints (Keras writes tuples as lists) as a tuple of ``n`` ints."""
        value = self.get(key, default)
        if isinstance(value, (list, tuple)):
            out = tuple(int(v) for v in value)
        else:
            out = (int(value),) * (n or 1)
        if n is not None and len(out) != n:
            self.refuse(key, value, f"{n} values")
        return out

    def activation(self, key="activation"):
        """The ``scratch.activations`` name of the serialized activation (a name, or Keras's
        ``{"module": "keras.activations", "class_name": "function", "config": "relu"}``, or the
        registered ``scratch>gelu_approximate``), or a refusal naming it."""
        value = self.get(key, "linear")
        if value is None:
            return "linear"
        name = value
        if isinstance(value, dict):
            module, inner = value.get("module"), value.get("config")
            if inner == "scratch>gelu_approximate":
                return "gelu_approximate"
            if module not in ("keras.activations", "keras.src.activations.activations", None) or not isinstance(inner, str):
                self.refuse(key, value.get("registered_name") or value.get("class_name"),
                            f"one of {sorted(activations.REGISTRY)} (a Keras activation function by name)")
            name = inner
        aliases = {"swish": "silu", "hard_swish": "hard_silu"}
        name = aliases.get(name, name)
        if not isinstance(name, str) or name not in activations.REGISTRY or name == "gelu_approximate":
            self.refuse(key, name, f"one of {sorted(activations.REGISTRY)}")
        return name

    def initializer(self, key, default):
        """The scratch name of a serialized initializer (only fresh weights depend on it: an
        initializer the engine lacks becomes ``default``)."""
        value = self.get(key)
        if isinstance(value, dict):
            return INITIALIZER_NAMES.get(value.get("class_name"), default)
        if isinstance(value, str):
            snake = {v: v for v in INITIALIZER_NAMES.values()}
            return snake.get(value, default)
        return default

    def weight_options(self, kernel="kernel_initializer"):
        """``activation``, ``use_bias`` and the initializers Dense and the convolutions share."""
        return dict(activation=self.activation(), use_bias=bool(self.get("use_bias", True)),
                    kernel_initializer=self.initializer(kernel, "glorot_uniform"),
                    bias_initializer=self.initializer("bias_initializer", "zeros"))


def keras_activation(name):
    """The serialized Keras activation of a ``scratch.activations`` name (Keras has no name for
    gelu's tanh form; ``keras_ref`` registers it as ``scratch>gelu_approximate``)."""
    if name == "gelu_approximate":  # as Keras serializes a registered function
        return {"module": "builtins", "class_name": "function", "config": "scratch>gelu_approximate",
                "registered_name": "function"}
    return name


def weight_options_config(layer, kernel="kernel_initializer"):
    """The Keras arguments for ``activation``/``use_bias``/initializers of a scratch layer."""
    return {"activation": keras_activation(layer.activation.name), "use_bias": layer.use_bias,
            kernel: getattr(layer, kernel), "bias_initializer": layer.bias_initializer}


def layer_from_config(cfg, dtype):
    """The scratch layer computing what the Keras layer of ``cfg`` (a ``KerasConfig``) computes,
    without weights; ``None`` if no mapping is registered for its class."""
    fn = FROM_CONFIG.get(cfg.class_name)
    if fn is None:
        return None
    common = {"name": cfg.name, "dtype": dtype, "trainable": bool(cfg.get("trainable", True))}
    return fn(cfg, common)


def serialize_layer(layer):
    """Scratch ``layer`` as Keras serializes a layer (``{"module", "class_name", "config",
    "registered_name"}``), or ``None`` if no mapping is registered for its class."""
    found = layer_to_config(layer)
    if found is None:
        return None
    class_name, config = found
    module = KERAS_MODULES.get(class_name, "keras.layers")
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None if module == "keras.layers" else class_name}


def layer_to_config(layer):
    """``(Keras class name, Keras config)`` of scratch ``layer`` (name, dtype and trainable included);
    ``None`` if no mapping is registered for its class."""
    fn = TO_CONFIG.get(type(layer).__name__)
    if fn is None:
        return None
    result = fn(layer)
    class_name, config = result if isinstance(result, tuple) else (type(layer).__name__, result)
    return class_name, {"name": layer.name, "dtype": layer.dtype.name, "trainable": layer.trainable, **config}
