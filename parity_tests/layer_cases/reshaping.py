"""Parity cases of the reshaping layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("flatten", "Flatten", {}, (2, 5, 4, 3)),
    # Reshape: explicit target, one -1 inferred, to rank 2 and rank 4
    ("reshape-explicit", "Reshape", dict(target_shape=(20, 3)), (2, 5, 4, 3)),
    ("reshape-infer", "Reshape", dict(target_shape=(-1, 6)), (2, 5, 4, 3)),
    ("reshape-rank4", "Reshape", dict(target_shape=(3, -1, 2)), (2, 4, 3, 2)),
    ("reshape-from-flat", "Reshape", dict(target_shape=(2, 3, 2)), (3, 12)),
    # ZeroPadding2D: Keras's three forms of padding
    ("zeropad-default", "ZeroPadding2D", {}, (2, 4, 5, 3)),
    ("zeropad-int", "ZeroPadding2D", dict(padding=2), (2, 3, 4, 2)),
    ("zeropad-pair", "ZeroPadding2D", dict(padding=(0, 3)), (1, 4, 3, 2)),
    ("zeropad-pairs", "ZeroPadding2D", dict(padding=((1, 2), (3, 0))), (2, 4, 5, 1)),
    # Cropping2D: the same forms
    ("crop-default", "Cropping2D", {}, (2, 4, 5, 2)),
    ("crop-int", "Cropping2D", dict(cropping=1), (2, 5, 6, 2)),
    ("crop-pair", "Cropping2D", dict(cropping=(2, 0)), (1, 6, 4, 3)),
    ("crop-pairs", "Cropping2D", dict(cropping=((0, 2), (1, 3))), (2, 5, 7, 1)),
    # UpSampling2D: square and rectangular factors
    ("upsample-default", "UpSampling2D", {}, (2, 3, 4, 2)),
    ("upsample-3x1", "UpSampling2D", dict(size=(3, 1)), (2, 3, 2, 1)),
    ("upsample-int3", "UpSampling2D", dict(size=3, interpolation="nearest"), (1, 2, 3, 2)),
    # keras.ops.image.resize: TensorFlow's half-pixel bilinear and bicubic (float32 inside, as TF)
    ("upsample-bilinear", "UpSampling2D", dict(interpolation="bilinear"), (2, 3, 4, 2)),
    ("upsample-bilinear-3x2", "UpSampling2D", dict(size=(3, 2), interpolation="bilinear"), (1, 4, 3, 3)),
    ("upsample-bicubic", "UpSampling2D", dict(interpolation="bicubic"), (2, 4, 3, 2)),
    ("upsample-bicubic-3x1", "UpSampling2D", dict(size=(3, 1), interpolation="bicubic"), (1, 5, 4, 1)),
]

# 1-D and 3-D (one N-d implementation with the 2-D layers): Keras's forms and defaults
CASES += [
    ("zeropad1d-default", "ZeroPadding1D", {}, (2, 4, 3)),
    ("zeropad1d-pair", "ZeroPadding1D", dict(padding=(0, 2)), (2, 3, 2)),
    ("zeropad3d-default", "ZeroPadding3D", {}, (2, 2, 3, 2, 2)),
    ("zeropad3d-triple", "ZeroPadding3D", dict(padding=(1, 0, 2)), (1, 2, 2, 3, 2)),
    ("zeropad3d-pairs", "ZeroPadding3D", dict(padding=((0, 1), (2, 0), (1, 1))), (2, 2, 3, 2, 1)),
    ("crop1d-default", "Cropping1D", {}, (2, 5, 3)),
    ("crop1d-pair", "Cropping1D", dict(cropping=(0, 2)), (2, 5, 2)),
    ("crop3d-default", "Cropping3D", {}, (2, 4, 3, 5, 2)),
    ("crop3d-pairs", "Cropping3D", dict(cropping=((0, 1), (2, 0), (1, 2))), (1, 3, 4, 5, 2)),
    ("upsample1d-default", "UpSampling1D", {}, (2, 3, 2)),
    ("upsample1d-3", "UpSampling1D", dict(size=3), (2, 4, 1)),
    ("upsample3d-default", "UpSampling3D", {}, (2, 2, 3, 2, 2)),
    ("upsample3d-3x1x2", "UpSampling3D", dict(size=(3, 1, 2)), (1, 2, 2, 3, 1)),
]
