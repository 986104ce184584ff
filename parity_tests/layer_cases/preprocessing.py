"""Parity cases of the preprocessing layers: ``(id, class name, kwargs, input shape[, options])``.

Normalization's mean and variance are values exact in float32: Keras rounds a given mean
and variance to float32 before casting them to a float64 layer's dtype (see
``parity_tests/test_shape_layers.py``), the scratch engine keeps them exact.
"""

CASES = [
    ("rescaling-255", "Rescaling", {"scale": 1 / 255}, (2, 5, 4, 1)),
    ("rescaling-center", "Rescaling", {"scale": 1 / 255, "offset": -0.5}, (2, 5, 4, 3)),
    ("rescaling-per-channel", "Rescaling", {"scale": [0.5, -2.0, 3.0], "offset": [1.0, 0.0, -0.25]}, (2, 3, 4, 3)),
    # -- Normalization --
    ("norm-channels", "Normalization", dict(mean=[0.5, -1.25, 2.0], variance=[0.25, 4.0, 1.5]), (2, 4, 3, 3)),
    ("norm-scalar", "Normalization", dict(axis=None, mean=0.75, variance=2.5), (2, 3, 4, 2)),
    ("norm-invert", "Normalization", dict(mean=[0.5, -1.25], variance=[0.25, 3.0], invert=True), (2, 3, 3, 2)),
    ("norm-zero-variance", "Normalization", dict(mean=[1.0, 0.0], variance=[0.0, 9.0]), (2, 3, 3, 2)),
    ("norm-axes-hw", "Normalization", dict(axis=(1, 2), mean=[[0.5, 1.0, -2.0], [0.0, 0.25, 3.0]],
                                           variance=[[1.0, 2.0, 0.5], [4.0, 0.125, 1.0]]), (2, 2, 3, 2)),
    ("norm-axes-broadcast", "Normalization", dict(axis=(1, 3), mean=[1.5, -0.5], variance=[2.0, 0.75]), (2, 3, 2, 2)),
    ("norm-dense", "Normalization", dict(mean=[0.5, 1.0, -1.0, 0.0], variance=[1.0, 2.0, 0.5, 4.0]), (3, 4)),
    # -- Resizing and CenterCrop (keras.ops.image.resize: TensorFlow's pixels, its gradient) --
    ("resizing-bilinear-up", "Resizing", dict(height=7, width=5), (2, 3, 4, 2)),
    ("resizing-bilinear-down", "Resizing", dict(height=3, width=4), (1, 7, 9, 2)),
    ("resizing-nearest", "Resizing", dict(height=5, width=7, interpolation="nearest"), (2, 3, 4, 1)),
    ("resizing-bicubic", "Resizing", dict(height=6, width=3, interpolation="bicubic"), (1, 4, 5, 2)),
    ("resizing-crop-aspect", "Resizing", dict(height=4, width=4, crop_to_aspect_ratio=True), (2, 5, 8, 1)),
    ("resizing-pad-aspect", "Resizing", dict(height=4, width=6, pad_to_aspect_ratio=True, fill_value=0.5),
     (1, 5, 3, 2)),
    ("center-crop", "CenterCrop", dict(height=3, width=2), (2, 6, 5, 2)),
    ("center-crop-smaller", "CenterCrop", dict(height=5, width=4), (1, 4, 6, 2)),
]
