"""Parity cases of the reshaping layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("flatten", "Flatten", {}, (2, 5, 4, 3)),
]
