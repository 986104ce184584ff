"""Parity cases of the normalization layers: ``(id, class name, kwargs, input shape[, options])``.

Every BatchNormalization case compares, besides the output and gradients, the moving
statistics after the call (``"state moving_mean"``, ``"state moving_variance"``): updated in
training mode, untouched in inference mode and in a frozen layer.
"""

TRAINING = {"training": True}

CASES = [
    # BatchNormalization: inference (moving statistics) and training (batch statistics) mode
    ("bn-inference-4d", "BatchNormalization", dict(), (3, 5, 6, 4)),
    ("bn-training-4d", "BatchNormalization", dict(), (3, 5, 6, 4), TRAINING),
    ("bn-inference-2d", "BatchNormalization", dict(), (6, 5)),
    ("bn-training-2d", "BatchNormalization", dict(), (6, 5), TRAINING),
    ("bn-training-axis3", "BatchNormalization", dict(axis=3), (2, 4, 4, 3), TRAINING),
    ("bn-training-momentum-eps", "BatchNormalization", dict(momentum=0.8, epsilon=0.1), (4, 3, 3, 2), TRAINING),
    ("bn-inference-momentum-eps", "BatchNormalization", dict(momentum=0.5, epsilon=1e-5), (2, 3, 3, 3)),
    ("bn-training-no-center", "BatchNormalization", dict(center=False), (2, 4, 5, 3), TRAINING),
    ("bn-training-no-scale", "BatchNormalization", dict(scale=False), (2, 4, 5, 3), TRAINING),
    ("bn-training-plain", "BatchNormalization", dict(center=False, scale=False), (5, 4), TRAINING),
    ("bn-inference-plain", "BatchNormalization", dict(center=False, scale=False), (2, 3, 3, 2)),
    ("bn-training-batch1", "BatchNormalization", dict(), (1, 4, 4, 2), TRAINING),
    ("bn-frozen-training", "BatchNormalization", dict(trainable=False), (3, 4, 4, 3), TRAINING),
    ("bn-training-lenet-size", "BatchNormalization", dict(), (4, 11, 11, 64), TRAINING),
    # LayerNormalization: per sample and position, over the channels
    ("ln-4d", "LayerNormalization", dict(), (2, 4, 5, 6)),
    ("ln-2d", "LayerNormalization", dict(), (4, 7)),
    ("ln-training-eps", "LayerNormalization", dict(epsilon=0.1), (3, 3, 3, 4), TRAINING),
    ("ln-no-center", "LayerNormalization", dict(center=False), (3, 5)),
    ("ln-no-scale", "LayerNormalization", dict(scale=False), (2, 3, 3, 4)),
    ("ln-plain-axis3", "LayerNormalization", dict(axis=3, center=False, scale=False), (2, 3, 3, 4)),
    ("ln-frozen", "LayerNormalization", dict(trainable=False), (2, 3, 3, 4)),
    # BatchNormalization on inputs of other ranks (1-D and 3-D convolutions' outputs)
    ("bn-training-3d", "BatchNormalization", dict(), (3, 7, 4), TRAINING),
    ("bn-training-5d", "BatchNormalization", dict(), (2, 3, 4, 2, 3), TRAINING),
    ("bn-inference-5d", "BatchNormalization", dict(), (2, 3, 2, 2, 3)),
    # LayerNormalization over other axes: gamma/beta shaped by the axes (Keras's sorted sizes)
    ("ln-axes-123", "LayerNormalization", dict(axis=[1, 2, 3]), (2, 3, 4, 2)),
    ("ln-axes-12", "LayerNormalization", dict(axis=[1, 2]), (2, 3, 4, 2)),
    ("ln-axes-2-1", "LayerNormalization", dict(axis=[2, 1], center=False), (2, 4, 3, 3)),
    ("ln-axis-1-3d", "LayerNormalization", dict(axis=1, scale=False), (3, 5, 2)),
    ("ln-axes-neg-mixed", "LayerNormalization", dict(axis=[-1, 1]), (2, 3, 2, 4)),
    # GroupNormalization
    ("gn-groups-2", "GroupNormalization", dict(groups=2), (2, 3, 4, 4)),
    ("gn-groups-1-eps", "GroupNormalization", dict(groups=1, epsilon=0.1), (2, 3, 3, 3)),
    ("gn-instance", "GroupNormalization", dict(groups=-1, center=False), (2, 5, 3)),
    ("gn-groups-3-5d", "GroupNormalization", dict(groups=3, scale=False), (2, 2, 3, 2, 6)),
]
