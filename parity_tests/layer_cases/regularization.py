"""Parity cases of the regularization layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("dropout-inference", "Dropout", dict(rate=0.5), (2, 6, 6, 2)),
    # the identity (its penalty enters the training loss: parity_tests/test_regularizers_parity.py)
    ("activity-regularization", "ActivityRegularization", dict(l1=0.01, l2=0.02), (2, 4, 3), {"training": True}),
]

# Training mode: the same draws in both engines (parity_tests.twins.injected_noise: the scratch layer's
# fixed_mask/fixed_noise, and Keras's own call with its random functions returning those draws).
TRAIN = {"training": True}
CASES += [
    ("dropout-train", "Dropout", dict(rate=0.4), (2, 5, 3), TRAIN),
    ("dropout-train-noise-shape", "Dropout", dict(rate=0.5, noise_shape=(None, 1, 1, 3)), (3, 2, 2, 3), TRAIN),
    ("spatial-dropout1d", "SpatialDropout1D", dict(rate=0.5), (3, 5, 4), TRAIN),
    ("spatial-dropout1d-inference", "SpatialDropout1D", dict(rate=0.5), (2, 5, 4)),
    ("spatial-dropout2d", "SpatialDropout2D", dict(rate=0.4), (3, 4, 3, 4), TRAIN),
    ("spatial-dropout2d-inference", "SpatialDropout2D", dict(rate=0.4), (2, 4, 3, 4)),
    ("spatial-dropout3d", "SpatialDropout3D", dict(rate=0.5), (2, 3, 2, 3, 4), TRAIN),
    ("spatial-dropout3d-inference", "SpatialDropout3D", dict(rate=0.5), (2, 3, 2, 3, 4)),
    ("alpha-dropout", "AlphaDropout", dict(rate=0.3), (3, 4, 5), TRAIN),
    ("alpha-dropout-noise-shape", "AlphaDropout", dict(rate=0.5, noise_shape=(None, 1, 4)), (3, 5, 4), TRAIN),
    ("alpha-dropout-inference", "AlphaDropout", dict(rate=0.3), (2, 6)),
    ("gaussian-noise", "GaussianNoise", dict(stddev=0.3), (2, 4, 3, 2), TRAIN),
    ("gaussian-noise-inference", "GaussianNoise", dict(stddev=0.3), (2, 4, 3)),
    ("gaussian-dropout", "GaussianDropout", dict(rate=0.3), (2, 4, 3, 2), TRAIN),
    ("gaussian-dropout-inference", "GaussianDropout", dict(rate=0.3), (2, 7)),
]
