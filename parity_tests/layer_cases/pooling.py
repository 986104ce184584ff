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

# 1-D and 3-D (one N-d implementation): 'valid' and 'same' with odd totals, strides, ties, keepdims.
# TensorFlow's MaxPool3D and AvgPool3D have no float64 kernel: their float64 runs compare with Keras
# in float32 (test_layers checks Keras really refuses float64).
F32 = {"keras_float32": "TensorFlow's MaxPool3D/AvgPool3D have no float64 kernel"}
CASES += [
    ("maxpool1d-2", "MaxPooling1D", {}, (2, 7, 3)),
    ("maxpool1d-3-s2-same", "MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 2)),
    ("maxpool1d-3-s1-ties", "MaxPooling1D", dict(pool_size=3, strides=1), (2, 9, 2), {"integers": 1}),
    ("avgpool1d-2", "AveragePooling1D", {}, (2, 7, 3)),
    ("avgpool1d-3-s2-same", "AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 2)),
    ("maxpool3d-2", "MaxPooling3D", {}, (2, 4, 5, 4, 2), F32),
    ("maxpool3d-3x2x2-s1x2x1-same", "MaxPooling3D", dict(pool_size=(3, 2, 2), strides=(1, 2, 1), padding="same"),
     (1, 4, 5, 3, 2), F32),
    ("maxpool3d-2-s1-ties", "MaxPooling3D", dict(pool_size=2, strides=1), (2, 3, 3, 3, 2), {"integers": 1, **F32}),
    ("avgpool3d-2", "AveragePooling3D", {}, (2, 4, 5, 4, 2), F32),
    ("avgpool3d-3x2x2-s1x2x1-same", "AveragePooling3D", dict(pool_size=(3, 2, 2), strides=(1, 2, 1),
                                                               padding="same"), (1, 4, 5, 3, 2), F32),
    ("gap1d", "GlobalAveragePooling1D", {}, (3, 5, 2)),
    ("gap1d-keepdims", "GlobalAveragePooling1D", dict(keepdims=True), (2, 4, 3)),
    ("gmp1d-ties", "GlobalMaxPooling1D", {}, (3, 6, 2), {"integers": 1}),
    ("gmp1d-keepdims", "GlobalMaxPooling1D", dict(keepdims=True), (2, 4, 3)),
    ("gap3d", "GlobalAveragePooling3D", {}, (2, 3, 4, 2, 2)),
    ("gap3d-keepdims", "GlobalAveragePooling3D", dict(keepdims=True), (2, 2, 3, 2, 3)),
    ("gmp3d", "GlobalMaxPooling3D", {}, (2, 3, 4, 2, 2)),
    ("gmp3d-keepdims-ties", "GlobalMaxPooling3D", dict(keepdims=True), (2, 2, 3, 2, 3), {"integers": 1}),
]
