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

from .. import activations, constraints, regularizers

TO_CONFIG = {}  # scratch class name -> fn(layer) -> Keras config (or (Keras class name, config))
FROM_CONFIG = {}  # Keras class name -> fn(KerasConfig, common) -> scratch layer
COMMON_KEYS = ("name", "dtype", "trainable")
TO_CONFIG_COMMON = {}  # scratch class name -> the common keys its Keras class's constructor takes
KERAS_MODULES = {}  # Keras class name -> the module Keras serializes it under, when not "keras.layers"
WEIGHTS_IN_CONFIG = {}  # Keras class -> fn(layer, stored arrays): its Keras weights kept as config (Normalization)
FILE_FORMS = {}  # Keras class -> fn(layer, config) -> (config, weights): how a file holds it, if not as to_config


def to_config(*names, common=COMMON_KEYS):
    """Register ``fn(layer) -> Keras config`` for scratch classes ``names``; ``common``: which of
    ``name``, ``dtype``, ``trainable`` the Keras constructor takes (Keras's SpatialDropout layers
    take no ``trainable``)."""
    def register(fn):
        for name in names:
            TO_CONFIG[name] = fn
            TO_CONFIG_COMMON[name] = tuple(common)
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


PENALTY_SUFFIXES = ("_regularizer", "_constraint")


def penalties_from_config(cfg):
    """The scratch ``*_regularizer`` / ``*_constraint`` arguments (``scratch.regularizers`` /
    ``scratch.constraints`` objects) of every such option set in the Keras config (``None`` ones
    left out); a penalty the engine does not compute is refused in one line naming the layer,
    its class, the option and the penalty's class."""
    out = {}
    for key, value in cfg.config.items():
        if value is None or not key.endswith(PENALTY_SUFFIXES):
            continue
        module = regularizers if key.endswith("_regularizer") else constraints
        if not isinstance(value, (dict, str)):  # not serializable: a function or an object Keras cannot write
            cfg.refuse(key, type(value).__name__, f"one of {sorted(module.CLASSES)} or None")
        try:
            out[key] = module.get(value, key)
        except ValueError:
            name = value.get("registered_name") or value.get("class_name") if isinstance(value, dict) else value
            cfg.refuse(key, name, f"one of {sorted(module.CLASSES)} or None")
    return out


def penalties_config(layer):
    """Keras's serialized ``*_regularizer`` / ``*_constraint`` arguments of scratch ``layer`` (those
    set; ``ActivityRegularization`` writes its own ``l1``/``l2`` instead of ``activity_regularizer``)."""
    return {k: v for k, v in layer.get_config().items() if k.endswith(PENALTY_SUFFIXES)}


def layer_from_config(cfg, dtype):
    """The scratch layer computing what the Keras layer of ``cfg`` (a ``KerasConfig``) computes,
    without weights; ``None`` if no mapping is registered for its class. Regularizers and
    constraints travel in ``common`` (every scratch layer takes them; see ``scratch.layers.base``)."""
    fn = FROM_CONFIG.get(cfg.class_name)
    if fn is None:
        return None
    common = {"name": cfg.name, "dtype": dtype, "trainable": bool(cfg.get("trainable", True)),
              **penalties_from_config(cfg)}
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
    common = {"name": layer.name, "dtype": layer.dtype.name, "trainable": layer.trainable}
    keys = TO_CONFIG_COMMON.get(type(layer).__name__, COMMON_KEYS)
    return class_name, {**{k: common[k] for k in keys}, **config, **penalties_config(layer)}


# -- operations: keras.ops calls and tensor operators recorded in a Functional model -------------------
# A Functional model's config lists, besides layers, the operations written on its tensors
# (``{"module": "keras.src.ops.numpy", "class_name": "Sum", "config": {"name": "sum", "axis": -1,
# "keepdims": true}, "inbound_nodes": [{"args": [<tensor>], "kwargs": {}}]}``). Their class names
# collide with layers' (the ``Add`` operation of ``a + b`` is not the ``Add`` layer), so they have
# registries of their own; the entries are in ``mapping/ops.py``.
OP_FROM_CONFIG = {}  # Keras operation class name -> fn(KerasConfig, args, common) -> scratch layer
OP_TO_CALL = {}  # scratch class name -> fn(layer) -> (keras.ops function name, args, kwargs)


def op_from_config(*names):
    def register(fn):
        for name in names:
            OP_FROM_CONFIG[name] = fn
        return fn
    return register


def op_to_call(*names):
    def register(fn):
        for name in names:
            OP_TO_CALL[name] = fn
        return fn
    return register


class TensorArg:
    """A tensor among an operation call's arguments: ``shape`` (batch first, ``None`` unknown) and
    ``ref``, what the caller knows it by (a live ``KerasTensor``, or a file's ``keras_history``
    ``[layer name, node index, tensor index]``). In ``OP_TO_CALL``'s ``args``, ``TensorArg(i)`` stands
    for the node's ``i``-th input and ``TensorArg("all")`` for the list of all of them."""

    def __init__(self, ref, shape=None):
        self.ref = ref
        self.shape = None if shape is None else tuple(shape)

    def __repr__(self):
        return f"TensorArg({self.ref!r})"


def decode_args(value):
    """Call arguments as a Functional model's config writes them, as Python values: ``__keras_tensor__``
    -> ``TensorArg(keras_history, shape)``, ``__slice__`` -> ``slice``, ``__ellipsis__`` -> ``...``; lists
    and tuples kept (a list of tensors for ``concatenate``, an index tuple for ``GetItem``)."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        cfg = value["config"]
        return TensorArg(list(cfg["keras_history"]), cfg.get("shape"))
    if isinstance(value, dict) and value.get("class_name") == "__slice__":
        c = value["config"]
        return slice(c.get("start"), c.get("stop"), c.get("step"))
    if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
        return Ellipsis
    if isinstance(value, (list, tuple)):
        return type(value)(decode_args(v) for v in value)
    return value


def tensor_args(args):
    """The ``TensorArg``s of ``args`` in order (lists opened): the operation node's inputs."""
    out = []
    for a in args:
        if isinstance(a, TensorArg):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, TensorArg))
    return out


def operation_from_config(cfg, args, kwargs, dtype):
    """``(scratch layer, its input TensorArgs)`` for the Keras operation of ``cfg`` (a ``KerasConfig``)
    called with ``args``/``kwargs`` (tensors as ``TensorArg``, see ``decode_args``); the layer is
    called on the list of those inputs when ``layer.takes_list`` (or a merge layer), else on the one.
    A refusal names the operation, its class and what it cannot take."""
    fn = OP_FROM_CONFIG.get(cfg.class_name)
    if fn is None:
        raise ValueError(f"{cfg.where}: operation {cfg.name!r} ({cfg.class_name}) is not one the scratch engine "
                         f"computes; supported operations: {sorted(OP_FROM_CONFIG)}")
    if kwargs:
        cfg.refuse("call keyword arguments", sorted(kwargs), "positional arguments (as Keras records ops)")
    common = {"name": cfg.name, "dtype": dtype}
    try:
        layer = fn(cfg, list(args), common)
    except ValueError as e:
        text = str(e)
        raise ValueError(text if text.startswith(cfg.where) else
                         f"{cfg.where}: operation {cfg.name!r} ({cfg.class_name}): {text}") from None
    return layer, tensor_args(args)


def operation_call(layer):
    """``(keras.ops function name, args, kwargs)`` replaying scratch operation ``layer`` in Keras (``TensorArg(i)``:
    its ``i``-th input; ``"__getitem__"``: ``x[key]``); ``None`` if ``layer`` is no operation."""
    fn = OP_TO_CALL.get(type(layer).__name__)
    return None if fn is None else fn(layer)
