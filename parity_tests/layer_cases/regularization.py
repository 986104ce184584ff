"""Parity cases of the regularization layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("dropout-inference", "Dropout", dict(rate=0.5), (2, 6, 6, 2)),
]
