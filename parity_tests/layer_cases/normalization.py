"""Parity cases of the normalization layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [

]
