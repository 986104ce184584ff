"""Your own layers: the NumPy twin of your own Keras layer class, registered so that the conversions
(``keras_ref.from_keras``/``to_keras``), checkpoints and ``parity_tests.check`` take it like a built-in.

    scratch.register_layer(MyScale, keras_name="mypkg>MyScale")

``keras_name`` is the name Keras registers your Keras class under (``@keras.saving.register_keras_serializable(
package="mypkg")`` on ``class MyScale`` registers ``"mypkg>MyScale"``; a ``.keras`` file writes it as the
layer's ``registered_name``). A Keras layer is matched by that registered class, never by its bare class
name: a class of your own named ``Dense`` is not ``keras.layers.Dense``. See ``docs/custom_layers.md``.
"""

from .. import layers as layers_mod
from .config import FROM_CONFIG, TO_CONFIG

COMMON = ("name", "dtype", "trainable")
CUSTOM = {}  # keras registered name -> scratch class


def _default_to_config(layer):
    return {k: v for k, v in layer.get_config().items() if k not in COMMON}


def register_layer(cls, keras_name, to_config=None, from_config=None):
    """Register scratch layer class ``cls`` as the twin of the Keras class registered as ``keras_name``.

    ``cls``: a ``scratch.Layer`` subclass (forward, backward, ``params`` in Keras's weight order,
    ``get_config``); it joins ``scratch.LAYERS`` under its class name, so checkpoints rebuild it.
    ``to_config(layer) -> dict``: the Keras constructor arguments of the Keras twin of ``layer``
    (``name``, ``dtype`` and ``trainable`` are added); by default ``layer.get_config()`` without them.
    ``from_config(cfg, common) -> layer``: the scratch layer for the Keras layer's config (``cfg``, a
    ``scratch.keras_io.config.KerasConfig``: ``cfg["factor"]``, ``cfg.get``, ``cfg.refuse``...;
    ``common``: name, dtype, trainable); by default ``cls(**config, **common)`` with the Keras config's
    own arguments. Weights move in ``get_weights()`` order, unchanged, as for every layer: ``cls.weight_names``
    in Keras's order, each the name of the Keras weight (``parity_tests.check`` pairs gradients by name).
    Returns ``cls`` (so it can decorate the class).
    """
    if not isinstance(cls, type) or not issubclass(cls, layers_mod.Layer):
        raise ValueError(f"register_layer: expected a scratch.Layer subclass, received {cls!r}")
    if not isinstance(keras_name, str) or keras_name.count(">") != 1 or not all(keras_name.split(">")):
        raise ValueError(f"register_layer: keras_name must be the Keras registered name 'package>ClassName' "
                         f"(keras.saving.register_keras_serializable(package=...)), received {keras_name!r}")
    name = cls.__name__
    taken = layers_mod.LAYERS.get(name)
    if taken is not None and taken is not cls:
        raise ValueError(f"register_layer: scratch.LAYERS already has a class named {name!r} ({taken.__module__}); "
                         f"give yours another name")
    if CUSTOM.get(keras_name, cls) is not cls:
        raise ValueError(f"register_layer: {keras_name!r} is already the twin of {CUSTOM[keras_name].__name__}")
    to_fn = to_config or _default_to_config

    def keras_config(layer):
        return keras_name, to_fn(layer)

    def scratch_layer(cfg, common):
        if from_config is not None:
            return from_config(cfg, common)
        return cls(**{k: v for k, v in cfg.config.items() if k not in COMMON}, **common)

    layers_mod.LAYERS[name] = cls
    CUSTOM[keras_name] = cls
    TO_CONFIG[name] = keras_config
    FROM_CONFIG[keras_name] = scratch_layer
    return cls


def keras_class_key(module, class_name, registered_name):
    """The mapping's key for a serialized Keras layer (a ``.keras`` file's ``module``, ``class_name`` and
    ``registered_name``): Keras's own class (module ``keras...``) by its class name, a registered class of
    one's own by its registered name ``package>Class``; ``None`` for a class of one's own that Keras knows
    only by its bare name (then it is no built-in, whatever that name)."""
    if isinstance(module, str) and (module == "keras" or module.startswith("keras.")):
        return class_name
    if isinstance(registered_name, str) and ">" in registered_name:
        return registered_name
    return None
