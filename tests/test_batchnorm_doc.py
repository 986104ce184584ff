"""The guide's batch normalization section derives the formula the layer computes.

``docs/guide.md`` ("Batch normalization's backward pass") ends its derivation with
``dx_j = gamma * s * (dy_j - mean(dy) - xhat_j * mean(dy * xhat))`` and states
``dbeta = sum_i dy_i``, ``dgamma = sum_i dy_i * xhat_i``. Here those lines, written literally in
NumPy, are checked against ``BatchNormalization.backward`` in training mode (the guide's own
example, one channel of four values, runs with the rest of the guide in tests/test_guide.py).
"""

from pathlib import Path

import numpy as np

import scratch

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
FORMULAS = ("gamma * s * (dy_j - mean(dy) - xhat_j * mean(dy * xhat))", "`dbeta = sum_i dy_i`",
            "`dgamma = sum_i dy_i * xhat_i`")


def test_the_guide_states_the_formulas_checked_here():
    text = GUIDE.read_text()
    section = text[text.index("### Batch normalization's backward pass"):]
    for formula in FORMULAS:
        assert formula in section, formula


def test_the_layer_computes_the_guides_formulas_in_training_mode():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 2)) * 3 + 1  # m = 4 * 3 * 5 values per channel
    dy = rng.standard_normal(x.shape)
    gamma = np.array([2.0, -0.5])
    bn = scratch.BatchNormalization(dtype="float64")
    bn.build(x.shape)
    bn.set_weights([gamma, np.array([0.5, 1.0]), np.zeros(2), np.ones(2)])  # gamma, beta, moving mean, variance
    bn.forward(x, training=True)
    dx = bn.backward(dy)

    axes = (0, 1, 2)  # every axis but the channel

    def mean(a):
        return a.mean(axis=axes)

    s = 1 / np.sqrt(x.var(axis=axes) + bn.epsilon)  # the biased variance, as the guide says
    xhat = (x - mean(x)) * s
    np.testing.assert_allclose(dx, gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn.grads["beta"], dy.sum(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(bn.grads["gamma"], (dy * xhat).sum(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(dx.sum(axis=axes), 0, atol=1e-12)  # "sum_j dx_j = 0 per channel"
