"""Parity cases of the activations layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("relu", "ReLU", {}, (2, 5, 4, 3)),
    ("softmax", "Softmax", {}, (4, 10)),
]
