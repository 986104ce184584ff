"""Parity cases of the preprocessing layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [

]
