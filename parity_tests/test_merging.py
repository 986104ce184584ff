"""Merge layers against Keras where random inputs cannot reach: exact ties in Maximum/Minimum."""

import numpy as np
import pytest

from parity_tests import cases, twins
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity


@pytest.mark.parametrize("cls", ["Maximum", "Minimum"])
def test_ties_route_the_gradient_like_keras(cls):
    """Three equal inputs (and a half-tied fourth): Keras's left-to-right maximum sends each tied
    cell's gradient to the first input holding it; so does the scratch layer."""
    rng = np.random.default_rng(0)
    a = rng.integers(-2, 3, (2, 3, 3, 2)).astype("float64")
    b = np.where(rng.random(a.shape) < 0.5, a, rng.integers(-2, 3, a.shape)).astype("float64")
    layer = cases.make_layer(cls, {}, "float64")
    layer.build([(None, 3, 3, 2)] * 4)
    ours, theirs = twins.layer_parity(layer, [a, a.copy(), b, a.copy()])
    assert_parity(ours, theirs, tol.LAYER_FLOAT64, context=f"{cls} ties", dtype="float64")
    assert np.count_nonzero(ours[(layer.name, "grad input 1")]) == 0  # the second copy never wins a tie
