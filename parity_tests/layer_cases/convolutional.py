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
CASES += [
    # Conv2D dilation: 2 and (2, 3), valid and same with odd sizes and odd pad totals
    ("conv-dil2-valid-odd", "Conv2D", dict(filters=3, kernel_size=3, dilation_rate=2), (2, 9, 11, 2)),
    ("conv-dil2x3-same-odd", "Conv2D", dict(filters=2, kernel_size=(3, 2), dilation_rate=(2, 3), padding="same"), (2, 7, 9, 3)),
    ("conv-dil2-k2-same-oddtotal", "Conv2D", dict(filters=3, kernel_size=2, dilation_rate=2, padding="same", activation="relu"), (2, 8, 7, 2)),
    ("conv-dil3x1-valid-nobias", "Conv2D", dict(filters=2, kernel_size=(2, 3), dilation_rate=(3, 1), use_bias=False), (1, 7, 6, 2)),
    # Conv2D groups: 2 and C (one channel per group), with strides, dilation, same/valid
    ("conv-groups2", "Conv2D", dict(filters=4, kernel_size=3, groups=2), (2, 7, 7, 4)),
    ("conv-groups2-s2-same-odd", "Conv2D", dict(filters=6, kernel_size=3, strides=2, padding="same", groups=2, activation="relu"), (2, 9, 8, 4)),
    ("conv-groupsC-dil2-same", "Conv2D", dict(filters=6, kernel_size=3, dilation_rate=2, padding="same", groups=3, use_bias=False), (2, 8, 9, 3)),
    ("conv-groupsC-k2x3-s2x1", "Conv2D", dict(filters=8, kernel_size=(2, 3), strides=(2, 1), groups=4), (1, 7, 8, 4)),
    # DepthwiseConv2D: depth_multiplier 1/2/3, strides, dilation, same/valid odd totals, relu/linear, no bias
    ("dw-k3-valid", "DepthwiseConv2D", dict(kernel_size=3), (2, 7, 8, 3)),
    ("dw-m2-s2-same-odd", "DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 9, 7, 2)),
    ("dw-m3-dil2x3-same-relu", "DepthwiseConv2D", dict(kernel_size=(3, 2), dilation_rate=(2, 3), padding="same", depth_multiplier=3, activation="relu"), (2, 7, 9, 2)),
    ("dw-m2-k2-same-nobias", "DepthwiseConv2D", dict(kernel_size=2, padding="same", depth_multiplier=2, use_bias=False), (3, 5, 6, 4)),
    ("dw-s2-dil2-same", "DepthwiseConv2D", dict(kernel_size=3, strides=2, dilation_rate=2, padding="same"), (2, 9, 10, 2)),
    ("dw-mobilenet", "DepthwiseConv2D", dict(kernel_size=3, padding="same", activation="relu"), (2, 8, 8, 32)),
    # SeparableConv2D: depthwise then pointwise
    ("sep-k3-valid", "SeparableConv2D", dict(filters=4, kernel_size=3), (2, 7, 7, 3)),
    ("sep-m2-s2-same-odd-relu", "SeparableConv2D", dict(filters=3, kernel_size=3, strides=2, padding="same", depth_multiplier=2, activation="relu"), (2, 9, 8, 2)),
    ("sep-m3-dil2-valid-nobias", "SeparableConv2D", dict(filters=5, kernel_size=(2, 3), dilation_rate=2, depth_multiplier=3, use_bias=False), (1, 8, 9, 2)),
    ("sep-k2x1-s1x2-dil2x1-same", "SeparableConv2D", dict(filters=2, kernel_size=(2, 1), strides=(1, 2), dilation_rate=(2, 1), padding="same"), (2, 6, 7, 3)),
]
