"""Parity cases of the merge layers: ``(id, class name, kwargs, [input shapes])`` (one shape per input).

Broadcasting as Keras allows it: ``(N, H, W, C)`` with ``(N, 1, 1, C)`` (a squeeze-and-excitation
block), and an input of fewer axes (ones inserted after the batch axis).
"""

CASES = [
    ("add-2", "Add", {}, [(2, 4, 4, 3)] * 2),
    ("add-3-broadcast", "Add", {}, [(2, 4, 4, 3), (2, 1, 1, 3), (2, 4, 4, 3)]),
    ("subtract", "Subtract", {}, [(2, 5, 3), (2, 5, 3)]),
    ("multiply-se-block", "Multiply", {}, [(2, 4, 4, 3), (2, 1, 1, 3)]),
    ("multiply-3", "Multiply", {}, [(3, 6)] * 3),
    ("average-3", "Average", {}, [(2, 3, 3, 2)] * 3),
    ("maximum-2", "Maximum", {}, [(2, 4, 4, 3)] * 2),
    ("maximum-3-broadcast", "Maximum", {}, [(2, 4, 4, 3), (2, 1, 1, 3), (2, 4, 4, 3)]),
    ("minimum-3", "Minimum", {}, [(2, 3, 3, 2)] * 3),
    ("concatenate-channels", "Concatenate", {}, [(2, 4, 4, 3), (2, 4, 4, 5)]),
    ("concatenate-axis1", "Concatenate", dict(axis=1), [(2, 2, 4, 3), (2, 3, 4, 3), (2, 1, 4, 3)]),
    ("concatenate-axis2-2d", "Concatenate", dict(axis=1), [(2, 3), (2, 4)]),
]
