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
CASES += [
    # Conv1D: causal (dilated, strided), same with odd totals, groups
    ("conv1d-k3-valid", "Conv1D", dict(filters=3, kernel_size=3), (2, 9, 2)),
    ("conv1d-causal-dil2-relu", "Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, activation="relu"), (2, 10, 3)),
    ("conv1d-causal-s2", "Conv1D", dict(filters=2, kernel_size=4, strides=2, padding="causal"), (2, 9, 2)),
    ("conv1d-k4-s3-same-oddtotal-groups2", "Conv1D", dict(filters=4, kernel_size=4, strides=3, padding="same", groups=2), (2, 10, 4)),
    ("conv1d-dil3-same-oddtotal-nobias", "Conv1D", dict(filters=2, kernel_size=2, dilation_rate=3, padding="same", use_bias=False), (1, 8, 3)),
    # Conv3D
    ("conv3d-k2-valid", "Conv3D", dict(filters=3, kernel_size=2), (2, 4, 5, 3, 2)),
    ("conv3d-s2x1x2-same-odd-relu", "Conv3D", dict(filters=2, kernel_size=3, strides=(2, 1, 2), padding="same", activation="relu"), (2, 5, 4, 6, 2)),
    ("conv3d-dil2-same-groups2", "Conv3D", dict(filters=4, kernel_size=(2, 2, 1), dilation_rate=(2, 1, 1), padding="same", groups=2), (1, 5, 4, 3, 4)),
    # DepthwiseConv1D: depth_multiplier, strides, dilation (Keras allows strides with dilation here)
    ("dw1d-k3-valid", "DepthwiseConv1D", dict(kernel_size=3), (2, 8, 3)),
    ("dw1d-m2-s2-same-odd", "DepthwiseConv1D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 8, 2)),
    ("dw1d-m3-dil2-same-relu-nobias", "DepthwiseConv1D", dict(kernel_size=2, dilation_rate=2, padding="same", depth_multiplier=3, activation="relu", use_bias=False), (2, 7, 2)),
    ("dw1d-s2-dil2", "DepthwiseConv1D", dict(kernel_size=3, strides=2, dilation_rate=2), (1, 11, 2)),
    # SeparableConv1D
    ("sep1d-k3-valid", "SeparableConv1D", dict(filters=3, kernel_size=3), (2, 8, 2)),
    ("sep1d-m2-s2-same-odd-relu", "SeparableConv1D", dict(filters=4, kernel_size=3, strides=2, padding="same", depth_multiplier=2, activation="relu"), (2, 8, 3)),
    ("sep1d-m3-dil2-nobias", "SeparableConv1D", dict(filters=2, kernel_size=2, dilation_rate=2, depth_multiplier=3, use_bias=False), (1, 7, 2)),
    # Conv1DTranspose: valid/same, output_padding, the max(k, s) - k default, dilation
    ("convt1d-k3-valid", "Conv1DTranspose", dict(filters=2, kernel_size=3), (2, 5, 3)),
    ("convt1d-k3-s2-same", "Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 5, 2)),
    ("convt1d-k2-s3-valid-op2", "Conv1DTranspose", dict(filters=2, kernel_size=2, strides=3, output_padding=2), (2, 4, 2)),
    ("convt1d-k2-s3-valid", "Conv1DTranspose", dict(filters=2, kernel_size=2, strides=3), (1, 4, 2)),
    # Conv2DTranspose
    ("convt2d-k3-s2-same", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 2)),
    ("convt2d-k4-s2-same", "Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same"), (2, 3, 4, 2)),
    ("convt2d-k3x4-s2x3-same-op1x2", "Conv2DTranspose", dict(filters=2, kernel_size=(3, 4), strides=(2, 3), padding="same", output_padding=(1, 2)), (1, 3, 3, 2)),
    ("convt2d-k3-s2-valid-op1-nobias", "Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1, use_bias=False), (2, 3, 3, 3)),
    ("convt2d-dcgan", "Conv2DTranspose", dict(filters=8, kernel_size=4, strides=2, padding="same", activation="relu"), (2, 7, 7, 16)),
    # Conv3DTranspose
    ("convt3d-k2-s2-valid", "Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2), (1, 2, 3, 2, 2)),
    ("convt3d-k3-s2x1x2-same-op", "Conv3DTranspose", dict(filters=2, kernel_size=3, strides=(2, 1, 2), padding="same", output_padding=(1, 0, 0)), (2, 2, 3, 3, 2)),
]

# Dilated transposed convolutions: TensorFlow's CPU kernels refuse dilation > 1 in Conv2DBackpropInput and
# Conv3DBackpropInputV2 (what Keras's Conv*DTranspose calls), so these run against Keras with the dilation written
# into the kernel (zeros between the taps; parity_tests/test_convolutional_parity.py), not in LAYER_CASES.
DILATED_TRANSPOSE = [
    ("convt1d-dil2-same-relu", "Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", activation="relu"), (2, 6, 2)),
    ("convt2d-dil2x1-valid", "Conv2DTranspose", dict(filters=2, kernel_size=(2, 3), dilation_rate=(2, 1)), (2, 4, 3, 2)),
    ("convt3d-dil1x2x1-same", "Conv3DTranspose", dict(filters=1, kernel_size=2, dilation_rate=(1, 2, 1), padding="same"), (1, 3, 4, 3, 2)),
]
