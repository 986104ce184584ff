"""Parity cases of the convolutional layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    # Conv2D: kernel sizes, strides, valid/same (odd totals), channels, batch sizes, activations
    ("conv-k3-valid", "Conv2D", dict(filters=4, kernel_size=3), (2, 8, 8, 1)),
    ("conv-k1-s1", "Conv2D", dict(filters=3, kernel_size=1), (1, 5, 6, 3)),
    ("conv-k2x3-s2x1-same-odd", "Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same"), (3, 7, 8, 2)),
    ("conv-k3-s2-same-odd", "Conv2D", dict(filters=5, kernel_size=3, strides=2, padding="same"), (2, 8, 8, 3)),
    ("conv-k2-s1-same-odd", "Conv2D", dict(filters=3, kernel_size=2, padding="same"), (2, 7, 7, 2)),
    ("conv-k5-s3-valid", "Conv2D", dict(filters=2, kernel_size=5, strides=3), (2, 12, 11, 2)),
    ("conv-k4-s2-same-even", "Conv2D", dict(filters=3, kernel_size=4, strides=2, padding="same"), (1, 9, 10, 1)),
    ("conv-relu", "Conv2D", dict(filters=4, kernel_size=3, activation="relu"), (4, 9, 9, 3)),
    ("conv-softmax-nobias", "Conv2D", dict(filters=3, kernel_size=3, activation="softmax", use_bias=False), (2, 6, 6, 2)),
    ("conv-lenet2", "Conv2D", dict(filters=64, kernel_size=3, activation="relu"), (2, 13, 13, 32)),
]
