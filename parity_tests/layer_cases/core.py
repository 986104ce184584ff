"""Parity cases of the core layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    # Dense: sizes, activations, bias
    ("dense", "Dense", dict(units=10), (4, 1352)),
    ("dense-relu", "Dense", dict(units=7, activation="relu"), (3, 12)),
    ("dense-softmax-nobias", "Dense", dict(units=5, activation="softmax", use_bias=False), (2, 9)),
    ("dense-batch1", "Dense", dict(units=3), (1, 4)),
]
