"""The speed kernels of issue 22 give the same bits as the formulas they replace, for any chunking and
number of threads (the formulas written out with NumPy temporaries are the reference)."""

import numpy as np
import pytest

import scratch
from scratch import kernels, parallel


def _reference_step(opt, p, g, state, t):
    """One step of ``opt``'s Keras formula with plain NumPy temporaries (the code before issue 22)."""
    c = p.dtype.type
    if opt.weight_decay is not None:
        p -= p * c(opt.weight_decay) * c(opt.learning_rate)
    if isinstance(opt, scratch.Adam):
        m, v = state.setdefault("m", np.zeros_like(p)), state.setdefault("v", np.zeros_like(p))
        lr, tt = c(opt.learning_rate), c(t)
        alpha = lr * np.sqrt(1 - c(opt.beta_2) ** tt) / (1 - c(opt.beta_1) ** tt)
        m += (g - m) * c(1 - opt.beta_1)
        v += (np.square(g) - v) * c(1 - opt.beta_2)
        p -= (m * alpha) / (np.sqrt(v) + c(opt.epsilon))
    elif isinstance(opt, scratch.RMSprop):
        v = state.setdefault("v", np.zeros_like(p))
        v[...] = c(opt.rho) * v + c(1 - opt.rho) * np.square(g)
        p -= (c(opt.learning_rate) * g) / np.sqrt(v + c(opt.epsilon))
    else:
        lr = c(opt.learning_rate)
        if not opt.momentum:
            p -= g * lr
            return
        m, mu = state.setdefault("m", np.zeros_like(p)), c(opt.momentum)
        m[...] = m * mu - g * lr
        p += (m * mu - g * lr) if opt.nesterov else m


OPTIMIZERS = [
    ("adam", lambda: scratch.Adam(0.01)),
    ("adamw", lambda: scratch.AdamW(0.01, weight_decay=0.1)),
    ("rmsprop", lambda: scratch.RMSprop(0.01, weight_decay=0.05)),
    ("sgd", lambda: scratch.SGD(0.1)),
    ("sgd-momentum", lambda: scratch.SGD(0.1, momentum=0.9)),
    ("sgd-nesterov", lambda: scratch.SGD(0.1, momentum=0.9, nesterov=True)),
]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_step_has_the_formulas_bits(name, make, dtype, threads, monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(kernels, "_UPDATE_CHUNK", 1000)  # several chunks, the last one partial
    rng = np.random.default_rng(3)
    shapes = {"big": (7, 13, 37), "small": (5,), "strided_grad": (40, 30)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    ref = {k: p.copy() for k, p in params.items()}
    opt, ref_opt, states = make(), make(), {k: {} for k in shapes}
    for t in range(1, 4):
        grads = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        grads["strided_grad"] = np.asfortranarray(grads["strided_grad"])  # a gradient need not be contiguous
        opt.step(params, grads)
        for k in shapes:
            _reference_step(ref_opt, ref[k], grads[k], states[k], t)
        for k in shapes:
            np.testing.assert_array_equal(params[k], ref[k], err_msg=f"{name} step {t} {k}")


RELU_OPTIONS = [{"max_value": 6.0}, {"max_value": 0.5}, {"threshold": 0.5}, {"max_value": 1.5, "threshold": 0.25},
                {"negative_slope": 0.2, "max_value": 6.0}, {}]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("options", RELU_OPTIONS, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()) or "plain")
def test_relu_layer_gate_kept_from_forward_equals_the_gradient_formula(options, training):
    """The ReLU layer keeps its gradient gate from a training forward pass; on inputs full of kinks (0, 6, the
    threshold, the max) its backward equals ``relu_backward`` from the input, bit for bit."""
    from scratch import activations
    from scratch.layers import ReLU

    rng = np.random.default_rng(0)
    kinks = np.array([0.0, 6.0, 0.5, 0.25, 1.5, -0.0, 7.0, -1.0, 3.0])
    x = np.concatenate([kinks, rng.standard_normal(63) * 4]).reshape(2, 6, 6, 1)
    dy = rng.standard_normal(x.shape)
    layer = ReLU(**options, dtype="float64")
    y = layer(x, training=training)
    np.testing.assert_array_equal(y, activations.relu(x, **options))
    np.testing.assert_array_equal(layer.backward(dy), activations.relu_backward(x, y, dy, **options))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("kwargs,shape", [
    (dict(kernel_size=5, padding="same"), (3, 1, 1, 4)),  # 1x1 under a 5x5 kernel: the slab path at stride 1
    (dict(kernel_size=5, padding="same", depth_multiplier=2), (2, 2, 3, 3)),
    (dict(kernel_size=3, padding="same", dilation_rate=2), (2, 2, 2, 2)),
    (dict(kernel_size=3, padding="same"), (2, 6, 5, 2)),  # the correlation path
], ids=lambda v: str(v) if isinstance(v, tuple) else None)
def test_depthwise_backward_on_small_maps_matches_naive(kwargs, shape, threads, monkeypatch):
    """Stride 1 on a map much smaller than its padded input adds each kernel offset's slab instead of
    correlating the padded gradient: both give the naive loops' gradients, for any number of threads."""
    from tests.test_convolutional import naive_depthwise_backward

    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    rng = np.random.default_rng(5)
    layer = scratch.DepthwiseConv2D(**kwargs, dtype="float64")
    x = rng.standard_normal(shape)
    y = layer(x, training=True)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    geo = (layer.strides, layer.padding, layer.dilation_rate)
    dx_ref, dk_ref = naive_depthwise_backward(x, layer.params["kernel"], dy, *geo)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], dk_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_activation_with_select_has_np_where_bits(dtype, monkeypatch):
    """``kernels.select`` (branch-free) in the activations gives the bits ``np.where`` gave: every registered
    activation, forward and backward, on values with kinks, signed zeros, infinities and NaN."""
    from scratch import activations

    monkeypatch.setattr(kernels, "_SELECT_MIN", 0)  # the branch-free path even on these small arrays
    monkeypatch.setattr(kernels, "_SELECT_CHUNK", 64)  # and several chunks
    rng = np.random.default_rng(1)
    special = [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 0.5, -0.5, 20.0, -20.0, np.inf, -np.inf, np.nan, 1e-7, -1e-7]
    x = np.concatenate([special, rng.standard_normal(200) * 4]).astype(dtype).reshape(8, -1)
    dy = rng.standard_normal(x.shape).astype(dtype)

    def run():
        out = {}
        with np.errstate(all="ignore"):
            for name, fn in activations.REGISTRY.items():
                y = fn.forward(x)
                out[name] = (y, fn.backward(x, y, dy))
            for opts in RELU_OPTIONS:
                y = activations.relu(x, **opts)
                out[str(opts)] = (y, activations.relu_backward(x, y, dy, **opts))
        return out

    fast = run()
    monkeypatch.setattr(activations, "select", np.where)
    slow = run()
    bits = np.int32 if dtype == np.float32 else np.int64
    for name in slow:
        for a, b in zip(fast[name], slow[name]):
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a.view(bits), b.view(bits), err_msg=name)


def test_select_broadcasts_and_falls_back_like_np_where(monkeypatch):
    monkeypatch.setattr(kernels, "_SELECT_MIN", 0)
    monkeypatch.setattr(kernels, "_SELECT_CHUNK", 5)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    cond = a > 0
    for args in [(cond, a, -a), (cond, a, np.float32(0)), (cond[:, :1], a, -a), (cond, a[0], -a),
                 (cond, a, 0.0), (cond, a, a.astype(np.float64)), (cond, a.astype(np.int32), 0)]:
        got, want = kernels.select(*args), np.where(*args)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


SPECIAL = np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1.5, -2.25, 6.0, 7.0, 1e-45])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(3, 5, 7, 11), (64, 8, 8, 37), (2, 9000)])
def test_channelwise_has_the_broadcast_ufuncs_bits(dtype, threads, shape, monkeypatch):
    """``channelwise(op, x, v)`` = ``op(x, v)`` bit for bit: a (C,) vector or a number, in place or not,
    rows with a remainder, batch slices on threads; other operands go to the ufunc itself (and its dtype rules)."""
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(kernels, "_ONE_PASS_THREADS", 0)
    monkeypatch.setattr(kernels, "_CHANNELWISE_MIN", {True: 1000, False: 1000})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:len(SPECIAL)] = SPECIAL
    v = rng.standard_normal(shape[-1]).astype(dtype)
    for op in (np.add, np.subtract, np.multiply, np.maximum, np.minimum):
        for operand in (v, 0, 6.0, np.dtype(dtype).type(-1.5)):
            want = op(x, operand)
            got = kernels.channelwise(op, x, operand)
            assert got.dtype == want.dtype and np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))
            inplace = x.copy()
            assert kernels.channelwise(op, inplace, operand, out=inplace) is inplace
            assert np.array_equal(inplace.view(f"u{x.itemsize}"), want.view(f"u{want.itemsize}"))
    other = np.float64(2.0) if dtype == "float32" else np.float32(2.0)  # a strong scalar of another dtype: NumPy's rules
    assert kernels.channelwise(np.multiply, x, other).dtype == np.multiply(x, other).dtype
    assert kernels.channelwise(np.multiply, x[:, ::2], 2.0).shape == x[:, ::2].shape  # not contiguous: the ufunc


@pytest.mark.parametrize("kwargs,shape", [({"filters": 8, "kernel_size": 3}, (9, 7, 7, 5)),
                                          ({"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same",
                                            "dilation_rate": 1}, (7, 9, 8, 3)),
                                          ({"filters": 6, "kernel_size": 3, "dilation_rate": 2}, (5, 6, 4))])
def test_conv_inference_forward_in_chunks_has_the_training_forwards_bits(kwargs, shape, monkeypatch):
    """forward(training=False) multiplies the window matrix a few images at a time and keeps none of it
    (``kernels.im2col_matmul``): the same bits as the whole product of forward(training=True), and a
    backward pass after it (which builds the matrix again) gives the same gradients."""
    monkeypatch.setattr(kernels, "_IM2COL_WHOLE", 0)
    monkeypatch.setattr(kernels, "_IM2COL_CHUNK", 1)  # one image per chunk
    rng = np.random.default_rng(4)
    layer = (scratch.layers.Conv1D if len(shape) == 3 else scratch.layers.Conv2D)(activation="relu", dtype="float64", **kwargs)
    layer.build((None,) + shape[1:])
    x = rng.standard_normal(shape)
    grads = []
    for training in (True, False):
        y = layer.forward(x, training=training)
        dy = np.ones_like(y)
        grads.append((y, layer.backward(dy), layer.grads["kernel"].copy(), layer.grads["bias"].copy()))
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
