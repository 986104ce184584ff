"""Keras's small configurable objects (regularizers, constraints) from and to its serialized form.

``get`` takes what Keras's ``regularizers.get`` / ``constraints.get`` take: ``None``, an instance, a
name, or ``{"class_name": ..., "config": {...}}``; ``serialize`` writes Keras's form back. The classes
themselves live in ``scratch.regularizers`` and ``scratch.constraints``.
"""


def get(identifier, label, kind, base, names, classes):
    """An instance of ``base`` for ``identifier`` (``names``: Keras's names, ``classes``: its class names),
    or a ``ValueError`` naming ``label`` and the ``kind`` (``"regularizer"``, ``"constraint"``)."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        if identifier not in names:
            raise ValueError(f"{label}: unknown {kind} {identifier!r}; Keras's names are {sorted(names)}")
        return names[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in classes:
        config = identifier.get("config") or {}
        try:
            return classes[identifier["class_name"]](**config)
        except TypeError:
            raise ValueError(f"{label}: bad {identifier['class_name']} config {config!r}") from None
    name = identifier.get("class_name") if isinstance(identifier, dict) else type(identifier).__name__
    raise ValueError(f"{label}: {kind} {name!r} is not one the scratch engine computes; supported: {sorted(classes)}")


def serialize(obj, module):
    """Keras's serialized form of ``obj`` (``module``: ``"keras.regularizers"``...), or None."""
    if obj is None:
        return None
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(), "registered_name": None}
