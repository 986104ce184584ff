"""The convolutions in 1, 2 and 3 spatial dimensions (one N-d implementation) and the transposed
convolutions, against the naive loops of ``tests/naive.py`` (float64, 1e-12), finite differences,
Keras's output-size and padding rules written out by hand, refusals, configs and models of every rank.

Keras's rules (``keras/src/backend/common/backend_utils.py::_get_output_shape_given_tf_padding``
and ``operation_utils.compute_conv_output_shape``), ``k`` the dilated kernel size ``d*(k-1)+1``::

    Conv 'causal' (Conv1D):  d*(k-1) zeros before the sequence, none after; out = ceil(n / s)
    ConvTranspose 'valid':   out = (n-1)*s + k + output_padding  (None: max(k, s) - k)
    ConvTranspose 'same':    out = n*s (output_padding None), else (n-1)*s + k % 2 + output_padding
"""

import itertools

import numpy as np
import pytest

import scratch
from scratch import geometry, kernels
from tests.finite_diff import check_layer, randomize_weights
from tests.matchers import raises
from tests.naive import (
    naive_conv_nd,
    naive_conv_nd_backward,
    naive_conv_transpose,
    naive_conv_transpose_backward,
)

TOL = dict(rtol=1e-12, atol=1e-12)
F64 = "float64"


def run(layer, x, rng):
    """``(y, dy, dx)`` with random weights (biases too) and a random upstream gradient."""
    layer.build((None,) + x.shape[1:])
    randomize_weights(layer, rng)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    return y, dy, layer.backward(dy)


def relu_or_linear(z, dy, activation):
    return (np.maximum(z, 0), dy * (z > 0)) if activation == "relu" else (z, dy)


def bias_sum(dz):
    return dz.reshape(-1, dz.shape[-1]).sum(axis=0)


# -- the convolutions against the loops ----------------------------------------------------------

CONV_CASES = [  # (class, kwargs, input shape)
    ("Conv1D", dict(filters=3, kernel_size=3), (2, 9, 2)),
    ("Conv1D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="causal", activation="relu"), (2, 8, 3)),
    ("Conv1D", dict(filters=4, kernel_size=2, strides=3, padding="causal"), (2, 10, 2)),
    ("Conv1D", dict(filters=4, kernel_size=4, strides=2, padding="same", groups=2, use_bias=False), (1, 9, 4)),
    ("Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same", groups=2), (1, 5, 6, 2)),
    ("Conv3D", dict(filters=3, kernel_size=2), (2, 3, 4, 3, 2)),
    ("Conv3D", dict(filters=4, kernel_size=(3, 1, 2), strides=(2, 1, 2), padding="same", groups=2), (1, 5, 3, 4, 2)),
    ("Conv3D", dict(filters=2, kernel_size=2, dilation_rate=(2, 1, 1), padding="same", activation="relu"),
     (1, 4, 3, 3, 1)),
    # 1x1 kernels with fewer filters than channels: col2im's one product with the kernel's transpose
    ("Conv1D", dict(filters=2, kernel_size=1), (2, 5, 4)),
    ("Conv2D", dict(filters=2, kernel_size=1, padding="same"), (2, 3, 4, 5)),
    ("Conv3D", dict(filters=3, kernel_size=1, use_bias=False), (1, 2, 3, 2, 6)),
    # maps smaller than the window's reach: only the live taps (geometry.live_taps) are multiplied
    ("Conv2D", dict(filters=3, kernel_size=3, padding="same", activation="relu"), (2, 1, 1, 4)),
    ("Conv2D", dict(filters=2, kernel_size=5, padding="same"), (2, 2, 2, 4)),  # F < C: the correlation, 3x3
    ("Conv2D", dict(filters=3, kernel_size=(3, 5), padding="same"), (2, 1, 3, 2)),
    ("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (1, 2, 2, 3)),
    ("Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same", groups=2), (2, 2, 1, 2)),
    ("Conv1D", dict(filters=2, kernel_size=3, padding="causal"), (2, 1, 3)),
    ("Conv1D", dict(filters=2, kernel_size=4, dilation_rate=2, padding="causal"), (2, 3, 2)),
    ("Conv3D", dict(filters=2, kernel_size=3, padding="same", use_bias=False), (1, 1, 2, 1, 3)),
    # ... and the small-map route (kernels.small_map_pairs): a few products over runs of the input
    ("Conv2D", dict(filters=3, kernel_size=3, padding="same", activation="relu"), (2, 2, 2, 5)),
    ("Conv2D", dict(filters=6, kernel_size=3, padding="same", use_bias=False), (3, 2, 2, 4)),
    ("Conv1D", dict(filters=2, kernel_size=5, padding="same"), (2, 2, 3)),
    ("Conv3D", dict(filters=3, kernel_size=(3, 2, 3), padding="same"), (2, 2, 1, 2, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", CONV_CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CONV_CASES)])
def test_conv_nd_matches_naive(cls, kwargs, shape):
    rng = np.random.default_rng(sum(shape))
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run(layer, x, rng)
    kernel = layer.params["kernel"]
    assert kernel.shape == layer.kernel_size + (shape[-1] // layer.groups, kwargs["filters"])
    geo = (layer.strides, layer.padding, layer.dilation_rate, layer.groups)
    z = naive_conv_nd(x, kernel, *geo)[0] + layer.params.get("bias", 0)
    y_ref, dz = relu_or_linear(z, dy, kwargs.get("activation"))
    assert y.shape == y_ref.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, y_ref, **TOL)
    dx_ref, dk_ref = naive_conv_nd_backward(x, kernel, dz, *geo)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], dk_ref, **TOL)
    if layer.use_bias:
        np.testing.assert_allclose(layer.grads["bias"], bias_sum(dz), **TOL)


def test_causal_output_reads_only_the_past():
    """Changing input step t changes no output before t (Conv1D 'causal', dilated), and the length is kept."""
    rng = np.random.default_rng(0)
    layer = scratch.Conv1D(2, 3, padding="causal", dilation_rate=2, dtype=F64)
    x = rng.standard_normal((1, 10, 2))
    y = layer.forward(x)
    assert y.shape == (1, 10, 2)
    x2 = x.copy()
    x2[0, 6] += 1.0
    y2 = layer.forward(x2)
    np.testing.assert_array_equal(y[0, :6], y2[0, :6])
    assert not np.allclose(y[0, 6], y2[0, 6])


DEPTHWISE_CASES = [  # (class, kwargs, input shape): 1-D depthwise and separable
    ("DepthwiseConv1D", dict(kernel_size=3), (2, 7, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, strides=2, dilation_rate=2, padding="same"), (2, 9, 2)),
    ("DepthwiseConv1D", dict(kernel_size=2, depth_multiplier=3, dilation_rate=3, activation="relu"), (1, 8, 2)),
    ("SeparableConv1D", dict(filters=3, kernel_size=3, depth_multiplier=2, padding="same"), (2, 7, 2)),
    ("SeparableConv1D", dict(filters=2, kernel_size=2, strides=3, padding="same", use_bias=False), (2, 8, 3)),
    # maps smaller than the window's reach: only the live taps (ConvBase.live_window) are multiplied
    ("DepthwiseConv2D", dict(kernel_size=5, padding="same", activation="relu"), (2, 1, 1, 3)),
    ("DepthwiseConv2D", dict(kernel_size=5, depth_multiplier=2, padding="same"), (2, 2, 2, 2)),
    ("DepthwiseConv2D", dict(kernel_size=5, strides=2, padding="same"), (2, 2, 2, 3)),
    ("SeparableConv2D", dict(filters=3, kernel_size=3, padding="same"), (2, 1, 2, 2)),
    ("DepthwiseConv1D", dict(kernel_size=5, padding="same"), (2, 2, 3)),
]


@pytest.mark.parametrize("cls,kwargs,shape", DEPTHWISE_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(DEPTHWISE_CASES)])
def test_depthwise_and_separable_match_naive(cls, kwargs, shape):
    """A depthwise convolution is the grouped convolution with one group per channel: kernel
    ``(*k, C, m)`` read as ``(*k, 1, C*m)``, groups ``C`` (output channel ``c*m + j`` from channel ``c``);
    the separable one then mixes the ``C*m`` channels with the pointwise kernel."""
    rng = np.random.default_rng(sum(shape) + 7)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run(layer, x, rng)
    c, m = shape[-1], layer.depth_multiplier
    dk = layer.params["kernel" if cls.startswith("Depthwise") else "depthwise_kernel"]
    assert dk.shape == layer.kernel_size + (c, m)
    geo = (layer.strides, layer.padding, layer.dilation_rate, c)
    grouped = dk.reshape(dk.shape[:-2] + (1, c * m))
    u = naive_conv_nd(x, grouped, *geo)[0]
    if cls.startswith("Separable"):
        pk = layer.params["pointwise_kernel"]
        assert pk.shape == (1,) * (len(shape) - 2) + (c * m, kwargs["filters"])
        pk = pk.reshape(c * m, -1)
        z = u @ pk
    else:
        z = u
    z = z + layer.params.get("bias", 0)
    y_ref, dz = relu_or_linear(z, dy, kwargs.get("activation"))
    assert y.shape == y_ref.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, y_ref, **TOL)
    if cls.startswith("Separable"):
        np.testing.assert_allclose(layer.grads["pointwise_kernel"].reshape(c * m, -1),
                                   u.reshape(-1, c * m).T @ dz.reshape(-1, dz.shape[-1]), **TOL)
        du = dz @ pk.T
    else:
        du = dz
    dx_ref, dk_ref = naive_conv_nd_backward(x, grouped, du, *geo)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    name = "kernel" if cls.startswith("Depthwise") else "depthwise_kernel"
    np.testing.assert_allclose(layer.grads[name], dk_ref.reshape(dk.shape), **TOL)


# -- the transposed convolutions ----------------------------------------------------------------

TRANSPOSE_CASES = [  # (class, kwargs, input shape)
    ("Conv1DTranspose", dict(filters=2, kernel_size=3), (2, 5, 3)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, output_padding=1), (2, 4, 2)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=2, strides=3), (1, 4, 2)),  # max(k, s) - k: a zero step
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", activation="relu"), (2, 6, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"), (2, 3, 4, 3)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(4, 3), strides=(2, 3), padding="same", output_padding=(1, 2)),
     (1, 3, 2, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=2, dilation_rate=(1, 2), use_bias=False), (2, 3, 3, 2)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=(2, 1, 2)), (1, 2, 3, 2, 2)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=(0, 1, 1)),
     (1, 2, 2, 3, 1)),
]


@pytest.mark.parametrize("cls,kwargs,shape", TRANSPOSE_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(TRANSPOSE_CASES)])
def test_conv_transpose_matches_naive(cls, kwargs, shape):
    rng = np.random.default_rng(sum(shape) + 3)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run(layer, x, rng)
    kernel = layer.params["kernel"]
    assert kernel.shape == layer.kernel_size + (kwargs["filters"], shape[-1])  # Keras's layout
    geo = (layer.strides, layer.padding, layer.output_padding, layer.dilation_rate)
    z = naive_conv_transpose(x, kernel, *geo)[0] + layer.params.get("bias", 0)
    y_ref, dz = relu_or_linear(z, dy, kwargs.get("activation"))
    assert y.shape == y_ref.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, y_ref, **TOL)
    dx_ref, dk_ref = naive_conv_transpose_backward(x, kernel, dz, *geo)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], dk_ref, **TOL)
    if layer.use_bias:
        np.testing.assert_allclose(layer.grads["bias"], bias_sum(dz), **TOL)


def test_transpose_is_the_adjoint_of_the_convolution():
    """<conv(u), v> == <u, conv_transpose(v)> with the same kernel, strides and padding, when the
    transposed convolution's output has the convolution's input size (here 7 -> 4 -> 7 with s=2, 'same')."""
    rng = np.random.default_rng(5)
    conv = scratch.Conv1D(3, 3, strides=2, padding="same", use_bias=False, dtype=F64)
    tconv = scratch.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=0, use_bias=False, dtype=F64)
    u, v = rng.standard_normal((2, 7, 2)), rng.standard_normal((2, 4, 3))
    conv.build(u.shape)
    tconv.build(v.shape)
    tconv.set_weights([conv.params["kernel"]])  # (k, C=2, F=3) is (k, filters=2, inputs=3) for the transpose
    assert tconv.forward(v).shape == u.shape
    np.testing.assert_allclose((conv.forward(u) * v).sum(), (u * tconv.forward(v)).sum(), **TOL)


def test_keras_output_size_and_padding_rules_by_hand():
    t = geometry.transpose_output_length
    assert t(5, 3, 1, "valid") == 7                      # (5-1)*1 + 3 + max(3, 1) - 3
    assert t(5, 2, 3, "valid") == 15                     # (5-1)*3 + 2 + (max(2, 3) - 2 = 1)
    assert t(5, 2, 3, "valid", 2) == 16                  # (5-1)*3 + 2 + 2
    assert t(5, 3, 1, "valid", d=2) == 9                 # dilated k = 5: 4 + 5
    assert t(5, 3, 2, "same") == 10 and t(5, 4, 2, "same") == 10  # n*s without output_padding
    assert t(5, 3, 2, "same", 1) == 10                   # (5-1)*2 + 3 % 2 + 1
    assert t(5, 4, 2, "same", 0) == 8                    # (5-1)*2 + 0 + 0: a 'same' conv of 8 gives 4, not 5
    assert geometry.pads(10, 4, 2, "same") == (1, 1)     # the pads of the adjoint convolution of 10 cells
    assert geometry.pads(9, 3, 1, "causal", 2) == (4, 0)
    assert geometry.output_length(9, 3, 2, "causal") == 5 and geometry.output_length(9, 4, 1, "causal", 3) == 9


# -- the general kernels give the tuned 2-D kernels bit for bit ------------------------------------

@pytest.mark.parametrize("groups", [1, 2])
def test_general_kernels_equal_the_2d_kernels_bit_for_bit(groups):
    rng = np.random.default_rng(groups)
    xp = rng.standard_normal((2, 9, 8, 4))
    geo = ((3, 2), (2, 1), (1, 2))
    cols = kernels.im2col(xp, *geo, groups)
    assert np.array_equal(kernels._im2col_any(xp, *geo, groups), cols)
    kernel = rng.standard_normal((3, 2, 4 // groups, 6))
    g = rng.standard_normal((cols.shape[-2], 6))
    assert np.array_equal(kernels._col2im_any(g, kernel, xp.shape, *geo[1:], groups),
                          kernels.col2im(g, kernel, xp.shape, *geo[1:], groups))
    dk = rng.standard_normal((3, 2, 4, 2))
    xr = kernels.repeat_channels(xp, 2)
    for strides in ((1, 1), (2, 1)):
        z = kernels.depthwise(xr, dk, strides, (1, 2))
        np.testing.assert_array_equal(kernels._depthwise_any(xr, dk, strides, (1, 2)), z)
        dz = rng.standard_normal(z.shape)
        for a, b in zip(kernels._depthwise_backward_any(dz, xr, dk, strides, (1, 2)),
                        kernels.depthwise_backward(dz, xr, dk, strides, (1, 2))):
            np.testing.assert_array_equal(a, b)


# -- finite differences -------------------------------------------------------------------------

FD_CASES = [
    ("Conv1D", dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2, activation="softmax"), (2, 6, 2)),
    ("Conv3D", dict(filters=2, kernel_size=2, strides=(1, 2, 1), padding="same", groups=2), (1, 3, 3, 2, 2)),
    ("DepthwiseConv1D", dict(kernel_size=2, depth_multiplier=2, strides=2, padding="same"), (2, 5, 2)),
    ("SeparableConv1D", dict(filters=2, kernel_size=3, dilation_rate=2, activation="softmax"), (2, 7, 2)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same", activation="softmax"), (2, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), strides=(1, 2), output_padding=(0, 1)), (1, 3, 2, 2)),
    ("Conv3DTranspose", dict(filters=1, kernel_size=2, dilation_rate=(2, 1, 1), padding="same"), (1, 2, 2, 2, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", FD_CASES, ids=[c for c, _, _ in FD_CASES])
def test_finite_differences(cls, kwargs, shape):
    rng = np.random.default_rng(len(cls))
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    layer.build((None,) + shape[1:])
    randomize_weights(layer, rng)
    check_layer(layer, rng.standard_normal(shape), rng, max_coords=30)


# -- refusals (Keras's rules) ----------------------------------------------------------------------

def test_refusals_name_the_layer_and_the_option():
    with raises("Conv2D 'c'", "padding", "'causal'"):
        scratch.Conv2D(2, 3, padding="causal", name="c")
    with raises("DepthwiseConv1D", "padding", "'causal'"):
        scratch.DepthwiseConv1D(3, padding="causal")
    with raises("Conv3D", "kernel_size", "tuple of 3", "(3, 3)"):
        scratch.Conv3D(2, (3, 3))
    with raises("Conv1DTranspose", "output_padding", "smaller than strides"):
        scratch.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with raises("Conv2DTranspose", "dilation_rate", "strides"):
        scratch.Conv2DTranspose(2, 3, strides=2, dilation_rate=2)
    with raises("Conv2DTranspose", "output_padding", "must be None"):
        scratch.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 1, 1))
    with raises("Conv1D", "3-D input", "(batch, steps, channels)", "(None, 5, 5, 2)"):
        scratch.Conv1D(2, 3).build((None, 5, 5, 2))
    with raises("Conv3D", "kernel_size", "larger than the input", "depth 1"):
        scratch.Conv3D(2, 2).build((None, 1, 4, 4, 2))
    # 'same' with output_padding where the adjoint convolution does not come back: TensorFlow aborts, we refuse
    with raises("Conv2DTranspose 't'", "output_padding=(0, 0)", "not back to 5"):
        scratch.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=0, name="t").build((None, 5, 5, 3))


# -- configs, shapes, summaries ---------------------------------------------------------------------

ALL_NEW = [
    scratch.Conv1D(4, 3, padding="causal", dilation_rate=2, groups=2, activation="relu", name="c1"),
    scratch.Conv3D(2, (1, 2, 3), strides=(1, 2, 1), padding="same", use_bias=False, name="c3"),
    scratch.DepthwiseConv1D(3, strides=2, depth_multiplier=2, padding="same", name="d1"),
    scratch.SeparableConv1D(3, 2, depth_multiplier=3, dilation_rate=2, name="s1"),
    scratch.Conv1DTranspose(2, 3, strides=2, output_padding=1, name="t1"),
    scratch.Conv2DTranspose(2, (3, 2), strides=(2, 1), padding="same", name="t2"),
    scratch.Conv3DTranspose(1, 2, dilation_rate=(1, 2, 1), name="t3"),
]


@pytest.mark.parametrize("layer", ALL_NEW, ids=[la.name for la in ALL_NEW])
def test_config_round_trips_and_output_shape_matches_forward(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert scratch.layers.deserialize(scratch.layers.serialize(layer)).get_config() == config
    shape = {1: (2, 9, 4), 2: (2, 5, 4, 4), 3: (2, 4, 5, 3, 4)}[layer.rank]
    fresh = type(layer).from_config(config)
    y = fresh.forward(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    assert y.shape == fresh.compute_output_shape(shape) == (2,) + fresh.output_shape[1:]


def test_summary_and_output_shapes_for_every_rank():
    models = {
        1: scratch.Sequential([scratch.Conv1D(4, 3, padding="causal"), scratch.Conv1DTranspose(2, 3, strides=2),
                               scratch.Flatten(), scratch.Dense(2)], input_shape=(7, 3)),
        3: scratch.Sequential([scratch.Conv3D(2, 2), scratch.Conv3DTranspose(3, 2, strides=2, padding="same"),
                               scratch.Flatten(), scratch.Dense(2)], input_shape=(3, 4, 5, 1)),
    }
    shapes = {1: [(None, 7, 4), (None, 15, 2), (None, 30), (None, 2)],
              3: [(None, 2, 3, 4, 2), (None, 4, 6, 8, 3), (None, 576), (None, 2)]}
    for rank, model in models.items():
        assert [la.output_shape for la in model.layers] == shapes[rank]
        lines = []
        model.summary(print_fn=lines.append)
        text = "\n".join(lines)
        for layer, shape in zip(model.layers, shapes[rank]):
            assert str(shape) in text and layer.name in text
        assert f"{model.count_params():,}" in text


LIFTS = [  # (1-D or 3-D layer, its 2-D twin over a height (or depth) of 1, input shape)
    (lambda: scratch.Conv1D(4, 3, strides=2, padding="same", groups=2), lambda: scratch.Conv2D(
        4, (1, 3), strides=(1, 2), padding="same", groups=2), (2, 9, 4)),
    (lambda: scratch.DepthwiseConv1D(3, depth_multiplier=2, dilation_rate=2), lambda: scratch.DepthwiseConv2D(
        (1, 3), depth_multiplier=2, dilation_rate=(1, 2)), (2, 9, 3)),
    (lambda: scratch.SeparableConv1D(3, 2, strides=2), lambda: scratch.SeparableConv2D(3, (1, 2), strides=(1, 2)),
     (2, 8, 2)),
    (lambda: scratch.Conv1DTranspose(2, 3, strides=2, padding="same"), lambda: scratch.Conv2DTranspose(
        2, (1, 3), strides=(1, 2), padding="same"), (2, 5, 3)),
    (lambda: scratch.Conv3D(2, (1, 2, 3), padding="same"), lambda: scratch.Conv2D(2, (2, 3), padding="same"),
     (2, 4, 5, 2)),
]


@pytest.mark.parametrize("make, make_2d, shape", LIFTS, ids=["conv1d", "depthwise1d", "separable1d", "transpose1d",
                                                              "conv3d"])
def test_every_rank_is_the_same_computation(make, make_2d, shape):
    """A 1-D layer is its 2-D twin over a height of 1, a 3-D one its 2-D twin over a depth of 1: same outputs
    and gradients (the general kernels against the tuned 2-D ones, through the layers)."""
    rng = np.random.default_rng(4)
    layer, twin = make(), make_2d()
    layer.dtype = twin.dtype = np.dtype(F64)
    lifted = (shape[0], 1) + shape[1:]
    x = rng.standard_normal(lifted if layer.rank == 3 else shape)
    x2 = x[:, 0] if layer.rank == 3 else x[:, None]
    layer.build((None,) + x.shape[1:])
    twin.build((None,) + x2.shape[1:])
    randomize_weights(layer, rng)
    twin.set_weights([w.reshape(t.shape) for w, t in zip(layer.get_weights(), twin.get_weights())])  # axes of 1
    y, y2 = layer.forward(x), twin.forward(x2)
    dy = rng.standard_normal(y.shape)
    dx, dx2 = layer.backward(dy), twin.backward(dy.reshape(y2.shape))
    np.testing.assert_allclose(y, y2.reshape(y.shape), **TOL)
    np.testing.assert_allclose(dx, dx2.reshape(dx.shape), **TOL)
    assert set(layer.grads) == set(twin.grads)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(g, twin.grads[k].reshape(g.shape), **TOL, err_msg=k)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_input_gradient_route_of_stride_1_convolutions(rank):
    """F < C at stride 1 takes the correlation, except a 1x1 kernel: one product ``G @ K.T`` (the kernel's
    transpose a view), the same values as the general col2im's zeros-and-add."""
    conv = getattr(scratch, f"Conv{rank}D")
    assert conv(2, 3).input_grad_by_correlation(4) and not conv(4, 3).input_grad_by_correlation(4)
    assert not conv(2, 1).input_grad_by_correlation(4) and not conv(2, 3, strides=2).input_grad_by_correlation(4)
    rng = np.random.default_rng(rank)
    kernel = rng.standard_normal((1,) * rank + (5, 2))
    g = rng.standard_normal((2 * 3 ** rank, 2))
    shape = (2,) + (3,) * rank + (5,)
    one = (1,) * rank
    dx = kernels.col2im_nd(g, kernel, shape, one, one)
    np.testing.assert_array_equal(dx, kernels._col2im_any(g, kernel, shape, one, one))
    np.testing.assert_array_equal(dx, (g @ kernel.reshape(5, 2).T).reshape(shape))


@pytest.mark.parametrize("padding", ["same", "valid", "causal"])
def test_live_taps_are_every_tap_that_reads_the_input(padding):
    """``geometry.live_taps`` against the loops: the taps it keeps include every tap some output reads an input
    cell through, the ones it drops read none, and the cropped window gives the same outputs at the same cells."""
    for n, k, s, d in itertools.product(range(1, 7), range(1, 6), range(1, 4), range(1, 3)):
        if s > 1 and d > 1 or (padding == "valid" and n < geometry.effective_size(k, d)):
            continue
        pad = geometry.pads(n, k, s, padding, d)
        out = (n + sum(pad) - geometry.effective_size(k, d)) // s + 1
        reads = {i: [p * s + i * d - pad[0] for p in range(out)] for i in range(k)}
        live = [i for i in range(k) if any(0 <= c < n for c in reads[i])]
        got = geometry.live_taps(n, k, s, pad, d)
        if got is None:  # every tap live, or the cropped window would need negative padding (skips the last
            if not live:  # cells), or none is (an even dilated 'same' window on one cell: the output is the bias)
                continue
            hull = (live[0], live[-1] + 1)
            before = pad[0] - hull[0] * d
            after = (out - 1) * s + (hull[1] - hull[0] - 1) * d - before - (n - 1)
            assert hull == (0, k) or min(before, after) < 0, (n, k, s, d)
            continue
        (first, stop), (before, after) = got
        assert first <= live[0] and live[-1] < stop and (first, stop) != (0, k)
        assert all(not any(0 <= c < n for c in reads[i]) for i in set(range(k)) - set(range(first, stop)))
        assert before >= 0 and after >= 0
        assert (n + before + after - geometry.effective_size(stop - first, d)) // s + 1 == out
        for i in range(first, stop):  # tap i, now i - first, reads the same cell of the input
            assert [p * s + (i - first) * d - before for p in range(out)] == reads[i]


def test_a_same_window_on_a_one_pixel_map_is_its_centre_tap():
    """A 'same' 3x3 on a 1x1 map: the other 8 taps meet only padding, so the convolution is the 1x1
    convolution with the centre tap (one product, no window matrix) and their weight gradients are zeros."""
    rng = np.random.default_rng(0)
    layer = scratch.Conv2D(5, 3, padding="same", dtype=F64)
    x = rng.standard_normal((3, 1, 1, 4))
    y, dy, dx = run(layer, x, rng)
    kernel = layer.params["kernel"]
    np.testing.assert_array_equal(y, (x.reshape(3, 4) @ kernel[1, 1] + layer.params["bias"]).reshape(3, 1, 1, 5))
    np.testing.assert_array_equal(dx, (dy.reshape(3, 5) @ kernel[1, 1].T).reshape(x.shape))
    dk = layer.grads["kernel"]
    np.testing.assert_array_equal(dk[1, 1], x.reshape(3, 4).T @ dy.reshape(3, 5))
    dk[1, 1] = 0
    assert not dk.any()


def test_small_maps_take_a_few_products_and_no_window_matrix():
    """A 'same' 3x3 on a 2x2 map: 8 products (each output row reads two input rows, two taps each), 16 of the
    window matrix's 36 tap-pixels; none on a 3x3 map (21 products) or where no product meets padding ('valid'),
    nor with strides, dilation or groups. The products equal the window matrix's sums; without the input
    gradient only the kernel's."""
    same3 = scratch.Conv2D(4, 3, padding="same")
    out, pairs = same3.small_map((2, 2, 2, 5))
    assert out == (2, 2) and len(pairs) == 8 and sum(c1 - c0 for *_, (c0, c1), _ in pairs) == 16
    assert same3.small_map((2, 3, 3, 5)) is None and scratch.Conv2D(4, 3).small_map((2, 3, 4, 5)) is None
    for kwargs in (dict(strides=2), dict(dilation_rate=2), dict(groups=2)):
        assert scratch.Conv2D(4, 3, padding="same", **kwargs).small_map((2, 2, 2, 4)) is None
    rng = np.random.default_rng(5)
    x, kernel, dz = rng.standard_normal((3, 2, 2, 5)), rng.standard_normal((3, 3, 5, 4)), rng.standard_normal((3, 2, 2, 4))
    np.testing.assert_allclose(kernels.small_map_conv(x, kernel, (out, pairs)), naive_conv_nd(x, kernel, (1, 1), "same", (1, 1))[0], **TOL)
    dk, dx = kernels.small_map_conv_backward(x, kernel, (out, pairs), dz)
    dx_ref, dk_ref = naive_conv_nd_backward(x, kernel, dz, (1, 1), "same", (1, 1))
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(dk, dk_ref, **TOL)
    dk_only, none = kernels.small_map_conv_backward(x, kernel, (out, pairs), dz, input_grad=False)
    assert none is None and np.array_equal(dk_only, dk)


SHIFTED_CASES = [  # F <= C/4 at stride 1 on a small map: one GEMM over the input and a shifted add per offset
    ("Conv2D", dict(filters=1, kernel_size=3, padding="same", activation="relu"), (2, 5, 6, 4)),
    ("Conv2D", dict(filters=2, kernel_size=(3, 2), padding="same"), (2, 5, 6, 8)),
    ("Conv1D", dict(filters=2, kernel_size=3, padding="causal"), (2, 6, 8)),
    ("Conv3D", dict(filters=1, kernel_size=3, padding="same", use_bias=False), (1, 3, 4, 3, 4)),
]


def test_the_shifted_products_route_only_where_it_measured_faster():
    """'same' or 'causal' (no product thrown away), at most a quarter as many filters as channels, maps of at
    most 64 pixels, stride 1, undilated, ungrouped, a kernel larger than 1x1: DenseNet121's 3x3 layers."""
    def takes(layer, shape):
        taps, pads = layer.live_window(shape)
        return layer.shifted_products(shape, tuple(t.stop - t.start for t in taps), pads)

    assert takes(scratch.Conv2D(32, 3, padding="same"), (32, 8, 8, 128))
    assert not takes(scratch.Conv2D(32, 3), (32, 8, 8, 128))  # 'valid': products thrown away
    assert not takes(scratch.Conv2D(48, 3, padding="same"), (32, 8, 8, 128))  # F > C/4
    assert not takes(scratch.Conv2D(32, 3, padding="same"), (32, 16, 16, 128))  # 256 pixels
    assert not takes(scratch.Conv2D(32, 1), (32, 8, 8, 128))  # 1x1: the input is the window matrix
    for kwargs in (dict(strides=2), dict(dilation_rate=2), dict(groups=2)):
        assert not takes(scratch.Conv2D(32, 3, padding="same", **kwargs), (32, 8, 8, 128))


@pytest.mark.parametrize("cls,kwargs,shape", SHIFTED_CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(SHIFTED_CASES)])
def test_inference_by_shifted_products_matches_naive_and_backward_after_it(cls, kwargs, shape, monkeypatch):
    """``conv_by_shifted_products`` (F <= C/4, stride 1, small maps): the naive convolution's values, and a backward pass after
    that forward (which kept the input unpadded, no window matrix) the naive gradients, in either mode."""
    calls = []
    shifted = scratch.kernels.conv_by_shifted_products
    from scratch.layers import convolutional
    monkeypatch.setattr(convolutional, "conv_by_shifted_products", lambda *a: calls.append(1) or shifted(*a))
    rng = np.random.default_rng(sum(shape) + 11)
    layer = getattr(scratch, cls)(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    layer.build((None,) + shape[1:])
    randomize_weights(layer, rng)
    geo = (layer.strides, layer.padding, layer.dilation_rate, layer.groups)
    z = naive_conv_nd(x, layer.params["kernel"], *geo)[0] + layer.params.get("bias", 0)
    dy = rng.standard_normal(z.shape)
    y_ref, dz = relu_or_linear(z, dy, kwargs.get("activation"))
    dx_ref, dk_ref = naive_conv_nd_backward(x, layer.params["kernel"], dz, *geo)
    for training in (False, True):
        y = layer.forward(x, training=training)
        np.testing.assert_allclose(y, y_ref, **TOL)
        dx = layer.backward(dy)
        np.testing.assert_allclose(dx, dx_ref, **TOL)
        np.testing.assert_allclose(layer.grads["kernel"], dk_ref, **TOL)
    assert calls == [1, 1]
