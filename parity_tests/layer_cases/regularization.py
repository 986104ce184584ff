"""Parity cases of the regularization layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    ("dropout-inference", "Dropout", dict(rate=0.5), (2, 6, 6, 2)),
    # the identity (its penalty enters the training loss: parity_tests/test_regularizers_parity.py)
    ("activity-regularization", "ActivityRegularization", dict(l1=0.01, l2=0.02), (2, 4, 3), {"training": True}),
]
