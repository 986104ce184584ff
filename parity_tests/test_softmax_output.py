"""A softmax output with a cross-entropy (issue 13, item 2): Keras computes the loss from the
softmax's logits whatever ``from_logits`` says, and warns when it says ``True``
(``keras/src/backend/tensorflow/nn.py``, ``_get_logits``); the scratch engine does the same,
so the twins train alike and warn alike."""

import warnings

import numpy as np
import pytest

import scratch  # noqa: E402
from parity_tests import tolerances as tol
from parity_tests import twins
from parity_tests.compare import assert_parity

WARNING = ("received `from_logits=True`, but the `output` argument was produced by a Softmax activation and thus "
           "does not represent logits. Was this intended?")


def softmax_arch(from_logits, last):
    layers = [{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3]}},
              {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}}, {"class_name": "Flatten"}]
    if last == "dense":
        layers.append({"class_name": "Dense", "config": {"units": 10, "activation": "softmax"}})
    else:
        layers += [{"class_name": "Dense", "config": {"units": 10}}, {"class_name": "Softmax"}]
    return {"name": f"softmax-{last}", "input_shape": [28, 28, 1], "preprocess": "center", "layers": layers,
            "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": from_logits}}


@pytest.mark.parametrize("last", ["dense", "layer"])
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_output_trains_on_the_logits_in_both_engines_and_both_warn(last, from_logits, dtype):
    arch = softmax_arch(from_logits, last)
    batches = twins.mnist_batches(dtype, 8, 16, "center")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps = list(twins.train_parity(arch, dtype, "adam", batches))
    _, ours, theirs, s_loss, k_loss = steps[-1]
    assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"softmax {last} {dtype}", dtype=dtype)
    for step in steps:
        np.testing.assert_allclose(step[3], step[4], rtol=1e-9 if dtype == "float64" else 1e-5)
    messages = [str(w.message) for w in caught if WARNING in str(w.message)]
    files = {w.filename.split("/")[-1] for w in caught if WARNING in str(w.message)}
    if from_logits:
        assert files == {"nn.py", "trainer.py"}, files  # Keras (its backend) and the scratch engine, every step
        assert all(m.startswith('"`sparse_categorical_crossentropy` received') for m in messages)
    else:
        assert not messages


def test_scratch_loss_of_a_softmax_output_is_the_logits_cross_entropy():
    """Against a double softmax (what it computed before): the loss is that of the logits."""
    model = scratch.build_model(softmax_arch(True, "dense"), dtype="float64", seed=1)
    x, y = twins.mnist_batches("float64", 1, 8, "center")[0]
    with pytest.warns(UserWarning, match="does not represent logits"):
        loss, _ = model.evaluate(x, y)
    model.forward(x)
    z = model.layers[-1].pre_activation_output()
    expected = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y])
    assert loss == pytest.approx(expected, rel=1e-12)
    assert not model.outputs_are_logits
