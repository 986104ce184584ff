"""Parity cases of the preprocessing layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("rescaling-255", "Rescaling", {"scale": 1 / 255}, (2, 5, 4, 1)),
    ("rescaling-center", "Rescaling", {"scale": 1 / 255, "offset": -0.5}, (2, 5, 4, 3)),
    ("rescaling-per-channel", "Rescaling", {"scale": [0.5, -2.0, 3.0], "offset": [1.0, 0.0, -0.25]}, (2, 3, 4, 3)),
    # -- Normalization --
]
