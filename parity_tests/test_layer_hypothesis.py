"""Random configurations (hypothesis) of the layers issue 10 added, against Keras: output, dL/dx and
every parameter gradient (and the moving statistics after a training-mode pass), float32 and float64.

The named grids of ``parity_tests/layer_cases/`` cover each option on purpose; these draw the
options together, on shapes nobody chose. The convolutions have theirs in ``test_convolutional_parity.py``.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)
DTYPE = st.sampled_from(cases.DTYPES)
SHAPE4 = st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6), st.integers(1, 4))


def _check(case, dtype, seed):
    ours, theirs = cases.run_layer_case(case, dtype, seed=seed)
    assert_parity(ours, theirs, tol.for_dtype("LAYER", dtype), context=str(case), dtype=dtype)


@SETTINGS
@given(shape=SHAPE4, momentum=st.sampled_from([0.0, 0.5, 0.99]), epsilon=st.sampled_from([1e-3, 1e-5, 0.1]),
       center=st.booleans(), scale=st.booleans(), training=st.booleans(), trainable=st.booleans(), dtype=DTYPE)
def test_batch_normalization_random_configurations(shape, momentum, epsilon, center, scale, training, trainable,
                                                   dtype):
    if training and shape[0] * shape[1] * shape[2] < 4:  # 2 values a channel: outputs +-1 whatever the input,
        shape = (2, 2, 2, shape[3])  # a gradient of pure rounding noise on both sides (degenerate, not a test)
    kwargs = dict(momentum=momentum, epsilon=epsilon, center=center, scale=scale, trainable=trainable)
    _check(("hypothesis-bn", "BatchNormalization", kwargs, shape, {"training": training}), dtype, sum(shape))


@SETTINGS
@given(shape=SHAPE4, epsilon=st.sampled_from([1e-3, 1e-6]), center=st.booleans(), scale=st.booleans(), dtype=DTYPE)
def test_layer_normalization_random_configurations(shape, epsilon, center, scale, dtype):
    shape = shape[:3] + (shape[3] + 2,)  # 3+ values to normalize: with 2 the gradient is rounding noise
    kwargs = dict(epsilon=epsilon, center=center, scale=scale)
    _check(("hypothesis-ln", "LayerNormalization", kwargs, shape), dtype, sum(shape))


@SETTINGS
@given(shape=SHAPE4, max_value=st.sampled_from([None, 6.0, 0.5]), negative_slope=st.sampled_from([0.0, 0.1, 0.3]),
       threshold=st.sampled_from([0.0, 0.5, 1.5]), dtype=DTYPE)
def test_relu_random_configurations(shape, max_value, negative_slope, threshold, dtype):
    kwargs = dict(max_value=max_value, negative_slope=negative_slope, threshold=threshold)
    _check(("hypothesis-relu", "ReLU", kwargs, shape), dtype, sum(shape))


@SETTINGS
@given(shape=SHAPE4, kind=st.sampled_from(["LeakyReLU", "ELU", "PReLU", "Softmax", "Activation"]),
       axis=st.sampled_from([-1, 1, 2]), activation=st.sampled_from(["gelu", "silu", "softplus", "selu", "tanh",
                                                                      "hard_silu", "mish", "log_softmax"]),
       shared=st.sampled_from([None, [1, 2], [1]]), dtype=DTYPE)
def test_activation_layers_random_configurations(shape, kind, axis, activation, shared, dtype):
    kwargs = {"LeakyReLU": dict(negative_slope=0.2), "ELU": dict(alpha=0.7), "PReLU": dict(shared_axes=shared),
              "Softmax": dict(axis=axis), "Activation": dict(activation=activation)}[kind]
    _check(("hypothesis-activation", kind, kwargs, shape), dtype, sum(shape))


@SETTINGS
@given(shape=SHAPE4, top=st.integers(0, 2), bottom=st.integers(0, 2), left=st.integers(0, 2),
       right=st.integers(0, 2), kind=st.sampled_from(["ZeroPadding2D", "Cropping2D", "UpSampling2D",
                                                      "GlobalAveragePooling2D", "GlobalMaxPooling2D"]),
       keepdims=st.booleans(), dtype=DTYPE)
def test_shape_layers_random_configurations(shape, top, bottom, left, right, kind, keepdims, dtype):
    n, h, w, c = shape
    if kind == "Cropping2D":  # leave at least one row and column
        h, w = max(h, top + bottom + 1), max(w, left + right + 1)
    kwargs = {"ZeroPadding2D": dict(padding=((top, bottom), (left, right))),
              "Cropping2D": dict(cropping=((top, bottom), (left, right))),
              "UpSampling2D": dict(size=(top + 1, right + 1)),
              "GlobalAveragePooling2D": dict(keepdims=keepdims), "GlobalMaxPooling2D": dict(keepdims=keepdims)}[kind]
    _check(("hypothesis-shape", kind, kwargs, (n, h, w, c)), dtype, n + h + w + c)
