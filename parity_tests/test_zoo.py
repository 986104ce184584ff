"""Every CNN family of ``keras.applications`` in the scratch engine, in parity with Keras.

For each model (``parity_tests/zoo.py``: ``weights=None``, smallest input, 10 classes):

- converted to scratch and back, every weight bit for bit, the same weight paths;
- ``zoo.parity_checks``: predictions in float32 (``MODEL_FLOAT32``); in float64, on one batch of 2,
  the output, the loss and the gradient of every trainable weight (``MODEL_FLOAT64``); two
  training steps (batch statistics, the same injected dropout masks, batches of 8) of plain SGD
  in float64, every weight after each step, moving statistics included (``TRAIN_FLOAT64``).
  Gradients and weights are held relative to the model's largest one (``zoo.model_wide``: a bias
  before a BatchNormalization has gradient exactly 0, computed as rounding noise by both engines).
  Why inference mode for the gradients and these steps: ``zoo.parity_checks``.

``python -m parity_tests.report`` prints one row per model from the same checks.
"""

import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import zoo
from parity_tests.compare import assert_parity

LIGHT = {"MobileNet", "MobileNetV2", "MobileNetV3Small"}  # the others take tens of seconds each
PARAMS = [name if name in LIGHT else pytest.param(name, marks=pytest.mark.slow) for name in zoo.ZOO]


def _round_trip(km, model):
    """Converted to scratch and back: the same weight paths, every weight bit for bit."""
    assert isinstance(model, scratch.Model)
    back = keras_ref.to_keras(model)
    # A Normalization whose statistics Keras holds as weights (EfficientNet's) comes back with them in
    # its config (the scratch layer takes them as arguments): same values, no weights to compare.
    stats = {la.name for la in zoo._leaves(km) if isinstance(la, keras.layers.Normalization)}
    theirs = {p: v for p, v in zoo.keras_paths(km) if p.split("/")[-2] not in stats}
    mine = dict(zoo.keras_paths(back))
    assert set(mine) == set(theirs)
    assert all(np.array_equal(np.asarray(mine[p]), np.asarray(theirs[p])) for p in theirs)


@pytest.mark.parametrize("name", PARAMS)
def test_zoo_model_round_trips_and_matches_keras(name):
    checks = zoo.parity_checks(name, on_float32=_round_trip)
    assert [c[0] for c in checks] == ["predictions", "gradients", "output and loss", "weights after step 1",
                                      "weights after step 2"]
    for what, dtype, ours, theirs, tolerance in checks:
        assert_parity(ours, theirs, tolerance, context=f"{name} {what}", dtype=dtype)
