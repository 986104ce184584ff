"""Parity cases of the pooling layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    # MaxPooling2D: non-overlapping, overlapping, strided, 'same' with odd totals
    ("maxpool-2", "MaxPooling2D", dict(pool_size=2), (2, 8, 8, 3)),
    ("maxpool-2-odd-input", "MaxPooling2D", dict(pool_size=2), (2, 7, 9, 2)),
    ("maxpool-3-s1-overlap", "MaxPooling2D", dict(pool_size=3, strides=1), (2, 6, 7, 2)),
    ("maxpool-3-s2-overlap-same", "MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 2)),
    ("maxpool-2-s1-same-odd", "MaxPooling2D", dict(pool_size=2, strides=1, padding="same"), (1, 5, 5, 1)),
    ("maxpool-2x3-s3x1", "MaxPooling2D", dict(pool_size=(2, 3), strides=(3, 1)), (3, 9, 7, 1)),
    # AveragePooling2D: the same geometries ('same' divides by real cells only)
    ("avgpool-2", "AveragePooling2D", dict(pool_size=2), (2, 8, 8, 3)),
    ("avgpool-3-s1-overlap", "AveragePooling2D", dict(pool_size=3, strides=1), (2, 6, 7, 2)),
    ("avgpool-3-s2-overlap-same", "AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 2)),
    ("avgpool-2-s1-same-odd", "AveragePooling2D", dict(pool_size=2, strides=1, padding="same"), (1, 5, 5, 1)),
    ("avgpool-2x3-s3x1-same", "AveragePooling2D", dict(pool_size=(2, 3), strides=(3, 1), padding="same"), (3, 9, 7, 1)),
    # GlobalAveragePooling2D / GlobalMaxPooling2D, with and without keepdims
    ("gap", "GlobalAveragePooling2D", {}, (3, 5, 4, 3)),
    ("gap-keepdims", "GlobalAveragePooling2D", dict(keepdims=True), (2, 3, 6, 2)),
    ("gmp", "GlobalMaxPooling2D", {}, (3, 5, 4, 3)),
    ("gmp-keepdims", "GlobalMaxPooling2D", dict(keepdims=True), (2, 3, 6, 2)),
    # exact ties (an integer-valued input): dy is shared equally among the tied maxima
    ("gmp-ties", "GlobalMaxPooling2D", {}, (2, 4, 4, 3), {"integers": 1}),
]
