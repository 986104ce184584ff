"""Dilated and grouped Conv2D, DepthwiseConv2D and SeparableConv2D against naive per-pixel loops.

The references are the obviously-correct version: loops over images, output pixels, filters,
kernel taps and channels, padding handled by index checks (no padded arrays), the backward
the loop's adjoint (every term of the forward sum sends its gradient back to its two factors).
Compared in float64 at 1e-12; finite differences on random seeded configurations; Keras's
refusals; config round trips; the layers inside a ``Sequential`` that trains.
"""


import numpy as np
import pytest

import scratch
from scratch import geometry, parallel
from tests.finite_diff import check_layer, randomize_weights
from tests.matchers import raises

TOL = dict(rtol=1e-12, atol=1e-12)
F64 = "float64"


def axis(n, k, s, padding, d):
    """``(output length, pad before)`` of one axis, from ``scratch.geometry`` (checked by hand below)."""
    return geometry.output_length(n, k, s, padding, d), geometry.pads(n, k, s, padding, d)[0]


def taps(x_shape, kernel_hw, strides, padding, dilation):
    """Every ``(i, j, di, dj, r, q)``: output pixel, kernel tap and the input pixel it reads (inside only)."""
    _, h, w, _ = x_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    ho, top = axis(h, kh, sh, padding, dh)
    wo, left = axis(w, kw, sw, padding, dw)
    out = []
    for i in range(ho):
        for j in range(wo):
            for di in range(kh):
                for dj in range(kw):
                    r, q = i * sh + di * dh - top, j * sw + dj * dw - left
                    if 0 <= r < h and 0 <= q < w:
                        out.append((i, j, di, dj, r, q))
    return (ho, wo), out


# -- the naive references --------------------------------------------------------------------

def naive_conv(x, kernel, strides, padding, dilation, groups):
    """y[b, i, j, f] = sum_{di, dj, c'} x[b, i*sh + di*dh - top, j*sw + dj*dw - left, g*Cg + c'] * kernel[di, dj, c', f],
    g = f // (F / groups) the filter's group, Cg = C / groups."""
    nb, _, _, c = x.shape
    kh, kw, cg, nf = kernel.shape
    fg = nf // groups
    (ho, wo), cells = taps(x.shape, (kh, kw), strides, padding, dilation)
    y = np.zeros((nb, ho, wo, nf))
    for b in range(nb):
        for i, j, di, dj, r, q in cells:
            for f in range(nf):
                g = f // fg
                for ch in range(cg):
                    y[b, i, j, f] += x[b, r, q, g * cg + ch] * kernel[di, dj, ch, f]
    return y


def naive_conv_backward(x, kernel, dz, strides, padding, dilation, groups):
    nb = x.shape[0]
    kh, kw, cg, nf = kernel.shape
    fg = nf // groups
    _, cells = taps(x.shape, (kh, kw), strides, padding, dilation)
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    for b in range(nb):
        for i, j, di, dj, r, q in cells:
            for f in range(nf):
                g = f // fg
                for ch in range(cg):
                    dx[b, r, q, g * cg + ch] += dz[b, i, j, f] * kernel[di, dj, ch, f]
                    dk[di, dj, ch, f] += dz[b, i, j, f] * x[b, r, q, g * cg + ch]
    return dx, dk


def naive_depthwise(x, kernel, strides, padding, dilation):
    """y[b, i, j, c*m + k] = sum_{di, dj} x[b, i*sh + di*dh - top, j*sw + dj*dw - left, c] * kernel[di, dj, c, k]."""
    nb, _, _, c = x.shape
    kh, kw, _, m = kernel.shape
    (ho, wo), cells = taps(x.shape, (kh, kw), strides, padding, dilation)
    y = np.zeros((nb, ho, wo, c * m))
    for b in range(nb):
        for i, j, di, dj, r, q in cells:
            for ch in range(c):
                for k in range(m):
                    y[b, i, j, ch * m + k] += x[b, r, q, ch] * kernel[di, dj, ch, k]
    return y


def naive_depthwise_backward(x, kernel, dz, strides, padding, dilation):
    nb, _, _, c = x.shape
    kh, kw, _, m = kernel.shape
    _, cells = taps(x.shape, (kh, kw), strides, padding, dilation)
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    for b in range(nb):
        for i, j, di, dj, r, q in cells:
            for ch in range(c):
                for k in range(m):
                    dx[b, r, q, ch] += dz[b, i, j, ch * m + k] * kernel[di, dj, ch, k]
                    dk[di, dj, ch, k] += dz[b, i, j, ch * m + k] * x[b, r, q, ch]
    return dx, dk


def naive_pointwise(u, pk):
    """z[b, i, j, f] = sum_c u[b, i, j, c] * pk[0, 0, c, f]."""
    nb, ho, wo, cm = u.shape
    z = np.zeros((nb, ho, wo, pk.shape[3]))
    for b in range(nb):
        for i in range(ho):
            for j in range(wo):
                for f in range(pk.shape[3]):
                    for ch in range(cm):
                        z[b, i, j, f] += u[b, i, j, ch] * pk[0, 0, ch, f]
    return z


def naive_pointwise_backward(u, pk, dz):
    du, dpk = np.zeros_like(u), np.zeros_like(pk)
    nb, ho, wo, cm = u.shape
    for b in range(nb):
        for i in range(ho):
            for j in range(wo):
                for f in range(pk.shape[3]):
                    for ch in range(cm):
                        du[b, i, j, ch] += dz[b, i, j, f] * pk[0, 0, ch, f]
                        dpk[0, 0, ch, f] += dz[b, i, j, f] * u[b, i, j, ch]
    return du, dpk


def act_and_grad(z, dy, activation):
    """``(act(z), dL/dz)`` for the two activations the references use."""
    if activation == "relu":
        return np.maximum(z, 0), dy * (z > 0)
    assert activation is None
    return z, dy


def run_layer(layer, x, rng):
    """``(y, dy, dx)`` with random weights (biases too) and a random upstream gradient."""
    layer.build((None,) + x.shape[1:])
    randomize_weights(layer, rng)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    return y, dy, dx


def check_bias(layer, y_ref, dz, bias_shape):
    if layer.use_bias:
        assert layer.params["bias"].shape == bias_shape
        np.testing.assert_allclose(layer.grads["bias"], dz.sum(axis=(0, 1, 2)), **TOL)
    else:
        assert "bias" not in layer.params


# -- forward and backward against the loops -------------------------------------------------

CONV_CASES = [
    # (kwargs, input shape)
    (dict(filters=3, kernel_size=3, dilation_rate=2), (2, 7, 8, 2)),
    (dict(filters=2, kernel_size=(2, 3), dilation_rate=(2, 3), padding="same"), (2, 7, 9, 3)),
    (dict(filters=4, kernel_size=3, dilation_rate=(3, 1), padding="same", activation="relu"), (1, 6, 5, 2)),
    (dict(filters=4, kernel_size=3, groups=2), (2, 6, 6, 4)),
    (dict(filters=6, kernel_size=(3, 2), groups=3, strides=(2, 1), padding="same", use_bias=False), (2, 7, 6, 3)),
    (dict(filters=8, kernel_size=3, groups=4, dilation_rate=2, padding="same", activation="relu"), (2, 7, 7, 4)),
    (dict(filters=2, kernel_size=2, groups=2, strides=2), (1, 5, 5, 6)),
]


@pytest.mark.parametrize("kwargs,shape", CONV_CASES, ids=lambda v: str(v) if isinstance(v, tuple) else None)
def test_conv2d_dilated_grouped_matches_naive(kwargs, shape):
    rng = np.random.default_rng(sum(shape) + kwargs["filters"])
    layer = scratch.Conv2D(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run_layer(layer, x, rng)
    kernel, groups = layer.params["kernel"], layer.groups
    assert kernel.shape == layer.kernel_size + (shape[3] // groups, kwargs["filters"])
    geo = (layer.strides, layer.padding, layer.dilation_rate)
    z = naive_conv(x, kernel, *geo, groups) + layer.params.get("bias", 0)
    y_ref, dz = act_and_grad(z, dy, kwargs.get("activation"))
    assert y.shape == y_ref.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, y_ref, **TOL)
    dx_ref, dk_ref = naive_conv_backward(x, kernel, dz, *geo, groups)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], dk_ref, **TOL)
    check_bias(layer, y_ref, dz, (kwargs["filters"],))


DEPTHWISE_CASES = [
    (dict(kernel_size=3), (2, 6, 7, 3)),
    (dict(kernel_size=(3, 2), depth_multiplier=2, strides=(2, 1), padding="same"), (2, 7, 6, 2)),
    (dict(kernel_size=3, depth_multiplier=3, dilation_rate=(2, 3), padding="same", activation="relu"), (1, 7, 9, 2)),
    (dict(kernel_size=2, depth_multiplier=2, dilation_rate=2, use_bias=False), (2, 5, 6, 3)),
    (dict(kernel_size=3, strides=2, dilation_rate=2, padding="same"), (1, 9, 8, 2)),  # Keras allows the pair here
]


@pytest.mark.parametrize("kwargs,shape", DEPTHWISE_CASES, ids=lambda v: str(v) if isinstance(v, tuple) else None)
def test_depthwise_matches_naive(kwargs, shape):
    rng = np.random.default_rng(sum(shape) + 7)
    layer = scratch.DepthwiseConv2D(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run_layer(layer, x, rng)
    kernel, m = layer.params["kernel"], layer.depth_multiplier
    assert kernel.shape == layer.kernel_size + (shape[3], m)
    geo = (layer.strides, layer.padding, layer.dilation_rate)
    z = naive_depthwise(x, kernel, *geo) + layer.params.get("bias", 0)
    y_ref, dz = act_and_grad(z, dy, kwargs.get("activation"))
    assert y.shape == y_ref.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, y_ref, **TOL)
    dx_ref, dk_ref = naive_depthwise_backward(x, kernel, dz, *geo)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.grads["kernel"], dk_ref, **TOL)
    check_bias(layer, y_ref, dz, (shape[3] * m,))


SEPARABLE_CASES = [
    (dict(filters=3, kernel_size=3), (2, 6, 6, 2)),
    (dict(filters=4, kernel_size=(2, 3), depth_multiplier=2, strides=(1, 2), padding="same", activation="relu"),
     (2, 5, 7, 3)),
    (dict(filters=2, kernel_size=3, depth_multiplier=3, dilation_rate=(2, 1), use_bias=False), (1, 7, 5, 2)),
]


@pytest.mark.parametrize("kwargs,shape", SEPARABLE_CASES, ids=lambda v: str(v) if isinstance(v, tuple) else None)
def test_separable_matches_naive(kwargs, shape):
    rng = np.random.default_rng(sum(shape) + 11)
    layer = scratch.SeparableConv2D(**kwargs, dtype=F64)
    x = rng.standard_normal(shape)
    y, dy, dx = run_layer(layer, x, rng)
    dk, pk, m = layer.params["depthwise_kernel"], layer.params["pointwise_kernel"], layer.depth_multiplier
    assert dk.shape == layer.kernel_size + (shape[3], m) and pk.shape == (1, 1, shape[3] * m, kwargs["filters"])
    assert [w.shape for w in layer.get_weights()][:2] == [dk.shape, pk.shape]
    geo = (layer.strides, layer.padding, layer.dilation_rate)
    u = naive_depthwise(x, dk, *geo)
    z = naive_pointwise(u, pk) + layer.params.get("bias", 0)
    y_ref, dz = act_and_grad(z, dy, kwargs.get("activation"))
    np.testing.assert_allclose(y, y_ref, **TOL)
    du, dpk_ref = naive_pointwise_backward(u, pk, dz)
    dx_ref, ddk_ref = naive_depthwise_backward(x, dk, du, *geo)
    np.testing.assert_allclose(dx, dx_ref, **TOL)
    np.testing.assert_allclose(layer.grads["depthwise_kernel"], ddk_ref, **TOL)
    np.testing.assert_allclose(layer.grads["pointwise_kernel"], dpk_ref, **TOL)
    check_bias(layer, y_ref, dz, (kwargs["filters"],))


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_im2col_dilated_grouped_windows_and_col2im_adjoint(groups):
    """im2col row (b, i, j), column (di, dj, c') of group g is xp[b, i*sh + di*dh, j*sw + dj*dw, g*Cg + c'];
    col2im is its adjoint: <im2col(xp) @ K, G> == <xp, col2im(G, K)>."""
    from scratch.kernels import col2im, im2col

    rng = np.random.default_rng(groups)
    xp = rng.standard_normal((2, 9, 8, 4))
    k, s, d = (2, 3), (2, 1), (3, 2)
    cols = im2col(xp, k, s, d, groups)
    ho, wo = (9 - 3 - 1) // 2 + 1, (8 - 4 - 1) // 1 + 1
    cg = 4 // groups
    stacked = cols if groups > 1 else cols[None]
    assert stacked.shape == (groups, 2 * ho * wo, 6 * cg)
    for g in range(groups):
        for row, (b, i, j) in enumerate(np.ndindex(2, ho, wo)):
            expect = [xp[b, i * 2 + di * 3, j + dj * 2, g * cg + c] for di in range(2) for dj in range(3) for c in range(cg)]
            np.testing.assert_array_equal(stacked[g, row], expect)
    kernel = rng.standard_normal((2, 3, cg, 2 * groups))
    grad = rng.standard_normal((2 * ho * wo, 2 * groups))
    kg = kernel.reshape(-1, groups, 2).transpose(1, 0, 2)
    forward = (stacked @ kg).transpose(1, 0, 2).reshape(-1, 2 * groups)
    lhs = float((forward * grad).sum())
    rhs = float((xp * col2im(grad, kernel, xp.shape, s, d, groups)).sum())
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


def test_dilated_geometry_by_hand():
    """The effective kernel d*(k-1)+1 in 'valid' and 'same' sizes and pads, worked by hand."""
    assert geometry.effective_size(3, 2) == 5 and geometry.effective_size(2, 3) == 4
    assert geometry.output_length(7, 3, 1, "valid", 2) == 3      # 7 - 5 + 1
    assert geometry.same_pads(7, 3, 1, 2) == (2, 2)              # total 0*1 + 5 - 1 = 4
    assert geometry.same_pads(9, 2, 1, 3) == (1, 2)              # total 8 + 4 - 9 = 3: extra at the end
    assert geometry.same_pads(9, 3, 2, 2) == (2, 2)              # out 5: 4*2 + 5 - 9 = 4
    assert geometry.output_length(4, 3, 1, "valid", 2) == 0


def test_grouped_conv_is_independent_convs_per_group():
    """groups=g equals g separate Conv2Ds on the channel blocks, outputs concatenated."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 7, 6))
    grouped = scratch.Conv2D(4, 3, groups=2, padding="same", dtype=F64)
    grouped.build(x.shape)
    randomize_weights(grouped, rng)
    parts = []
    for g in range(2):
        conv = scratch.Conv2D(2, 3, padding="same", dtype=F64)
        conv.build((None, 6, 7, 3))
        conv.set_weights([grouped.params["kernel"][..., 2 * g:2 * g + 2], grouped.params["bias"][2 * g:2 * g + 2]])
        parts.append(conv(np.ascontiguousarray(x[..., 3 * g:3 * g + 3])))
    np.testing.assert_allclose(grouped(x), np.concatenate(parts, axis=-1), **TOL)


def test_depthwise_is_conv_with_one_group_per_channel():
    """DepthwiseConv2D(m) equals Conv2D(C*m, groups=C) with the same kernel reshaped (kh, kw, 1, C*m)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 7, 6, 3))
    dw = scratch.DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same", dtype=F64)
    dw.build(x.shape)
    randomize_weights(dw, rng)
    conv = scratch.Conv2D(6, 3, groups=3, dilation_rate=2, padding="same", dtype=F64)
    conv.build(x.shape)
    conv.set_weights([dw.params["kernel"].reshape(3, 3, 1, 6), dw.params["bias"]])
    np.testing.assert_allclose(dw(x), conv(x), **TOL)
    dy = rng.standard_normal((2, 7, 6, 6))
    np.testing.assert_allclose(dw.backward(dy), conv.backward(dy), **TOL)
    np.testing.assert_allclose(dw.grads["kernel"], conv.grads["kernel"].reshape(3, 3, 3, 2), **TOL)


def test_depthwise_same_bits_for_any_thread_count(monkeypatch):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 9, 8, 4)).astype(np.float32)
    layer = scratch.SeparableConv2D(5, 3, depth_multiplier=2, padding="same")
    results = []
    for threads in (1, 3):
        monkeypatch.setattr(parallel, "THREADS", threads)
        monkeypatch.setattr(parallel, "MIN_BYTES", 0)
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
        results.append((y, dx, {k: v.copy() for k, v in layer.grads.items()}))
    (y1, dx1, g1), (y3, dx3, g3) = results
    np.testing.assert_array_equal(y1, y3)
    np.testing.assert_array_equal(dx1, dx3)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g3[k], err_msg=k)


# -- finite differences on random configurations ---------------------------------------------

def random_config(kind, rng):
    """A random valid configuration of ``kind`` and an input shape it fits."""
    k = tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = str(rng.choice(["valid", "same"]))
    dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
    strides = (1, 1) if kind == "Conv2D" and max(dilation) > 1 else tuple(int(v) for v in rng.integers(1, 3, size=2))
    c = int(rng.integers(1, 4))
    kwargs = dict(kernel_size=k, strides=strides, padding=padding, dilation_rate=dilation,
                  activation=str(rng.choice(["linear", "softmax"])), use_bias=bool(rng.integers(2)))
    if kind == "Conv2D":
        groups = int(rng.choice([1, 2]))
        c *= groups
        kwargs.update(filters=groups * int(rng.integers(1, 3)), groups=groups)
    else:
        kwargs["depth_multiplier"] = int(rng.integers(1, 4))
        if kind == "SeparableConv2D":
            kwargs["filters"] = int(rng.integers(1, 4))
    h, w = (geometry.effective_size(kk, d) + int(rng.integers(0, 3)) for kk, d in zip(k, dilation))
    return kwargs, (2, h, w, c)


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"])
@pytest.mark.parametrize("seed", range(3))
def test_finite_differences_random_configurations(kind, seed):
    rng = np.random.default_rng(1000 * seed + len(kind))
    kwargs, shape = random_config(kind, rng)
    layer = scratch.LAYERS[kind](**kwargs, dtype=F64)
    layer.build((None,) + shape[1:])
    randomize_weights(layer, rng)
    check_layer(layer, rng.standard_normal(shape), rng, max_coords=40)


# -- refusals (Keras's rules) ------------------------------------------------------------------

@pytest.mark.parametrize("strides,dilation", [(2, 2), ((1, 2), (2, 1)), ((2, 1), (1, 3))])
def test_conv2d_refuses_dilation_with_strides_as_keras(strides, dilation):
    with raises("Conv2D 'c'", "dilation_rate", "strides", f"{geometry.normalize_tuple(strides, 's', 'l')}"):
        scratch.Conv2D(2, 3, strides=strides, dilation_rate=dilation, name="c")


@pytest.mark.parametrize("kind", ["DepthwiseConv2D", "SeparableConv2D"])
def test_depthwise_and_separable_accept_dilation_with_strides_as_keras(kind):
    extra = {"filters": 2} if kind == "SeparableConv2D" else {}
    layer = scratch.LAYERS[kind](kernel_size=3, strides=2, dilation_rate=2, padding="same", **extra)
    assert layer(np.zeros((1, 9, 9, 2), np.float32)).shape[1:3] == (5, 5)


def test_conv2d_groups_refusals():
    with raises("Conv2D 'c'", "filters must be divisible by groups", "filters=5", "groups=2"):
        scratch.Conv2D(5, 3, groups=2, name="c")
    for bad in (0, -2, 1.5, True):
        with raises("Conv2D 'c'", "groups", repr(bad)):
            scratch.Conv2D(4, 3, groups=bad, name="c")
    conv = scratch.Conv2D(4, 3, groups=4, name="c")
    with raises("Conv2D 'c'", "input channels must be divisible by groups", "received 6 channels", "groups=4"):
        conv(np.zeros((1, 5, 5, 6), np.float32))


@pytest.mark.parametrize("kind", ["DepthwiseConv2D", "SeparableConv2D"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_depth_multiplier_must_be_a_positive_int(kind, bad):
    extra = {"filters": 2} if kind == "SeparableConv2D" else {}
    with raises(f"{kind} 'd'", "depth_multiplier", repr(bad)):
        scratch.LAYERS[kind](kernel_size=3, depth_multiplier=bad, name="d", **extra)


@pytest.mark.parametrize("kind", ["Conv2D", "DepthwiseConv2D", "SeparableConv2D"])
def test_bad_dilation_and_too_small_input(kind):
    extra = {"filters": 2} if kind != "DepthwiseConv2D" else {}
    with raises(f"{kind} 'd'", "dilation_rate", "(0, 1)"):
        scratch.LAYERS[kind](kernel_size=3, dilation_rate=(0, 1), name="d", **extra)
    layer = scratch.LAYERS[kind](kernel_size=3, dilation_rate=(2, 1), name="d", **extra)
    with raises(f"{kind} 'd'", "kernel_size dilated by (2, 1)", "(5, 3)", "larger than the input height 4"):
        layer(np.zeros((1, 4, 6, 2), np.float32))
    same = scratch.LAYERS[kind](kernel_size=3, dilation_rate=(2, 1), padding="same", **extra)
    assert same(np.zeros((1, 4, 6, 2), np.float32)).shape[1:3] == (4, 6)


def test_unknown_initializer_is_refused():
    with raises("DepthwiseConv2D", "unknown initializer", "'orthogonal'"):
        scratch.DepthwiseConv2D(3, depthwise_initializer="orthogonal")
    with raises("SeparableConv2D", "unknown initializer", "'he'"):
        scratch.SeparableConv2D(2, 3, pointwise_initializer="he")


# -- config round trips ------------------------------------------------------------------------

def test_config_round_trips():
    layers = [scratch.Conv2D(6, (3, 2), dilation_rate=(2, 3), groups=3, padding="same", activation="relu",
                             use_bias=False, name="c", dtype=F64),
              scratch.DepthwiseConv2D((2, 3), strides=(2, 1), depth_multiplier=3, dilation_rate=2, padding="same",
                                      activation="softmax", name="d"),
              scratch.SeparableConv2D(4, 3, depth_multiplier=2, dilation_rate=(1, 2), use_bias=False,
                                      pointwise_initializer="zeros", name="s")]
    keys = {"Conv2D": {"dilation_rate", "groups", "kernel_initializer"},
            "DepthwiseConv2D": {"depth_multiplier", "dilation_rate", "depthwise_initializer"},
            "SeparableConv2D": {"depth_multiplier", "dilation_rate", "depthwise_initializer", "pointwise_initializer"}}
    for layer in layers:
        config = layer.get_config()
        assert keys[type(layer).__name__] <= set(config)
        assert type(layer).from_config(config).get_config() == config
        assert scratch.layers.deserialize(scratch.layers.serialize(layer)).get_config() == config
    assert layers[0].get_config()["dilation_rate"] == [2, 3] and layers[0].get_config()["groups"] == 3


# -- inside a model ----------------------------------------------------------------------------

def small_model(dtype="float64"):
    return scratch.Sequential([
        scratch.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu", dtype=dtype),
        scratch.Conv2D(4, 3, groups=2, activation="relu", dtype=dtype),
        scratch.MaxPooling2D(2, dtype=dtype),
        scratch.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu", dtype=dtype),
        scratch.MaxPooling2D(2, dtype=dtype),
        scratch.SeparableConv2D(6, 2, activation="relu", dtype=dtype),
        scratch.Flatten(dtype=dtype),
        scratch.Dense(3, dtype=dtype),
    ], input_shape=(12, 12, 2), dtype=dtype, seed=4)


def test_fusion_only_after_conv2d_and_equal_to_layer_by_layer():
    """The ReLU -> max-pool fusion applies to the grouped Conv2D (which honours pre_activation) and
    whatever ``Sequential`` chooses for the depthwise layer, the gradients equal the plain chain."""
    rng = np.random.default_rng(2)
    model = small_model()
    calls = {layer.name: options for layer, options in model.backward_calls()}
    assert calls["conv2d_1"] == {"pre_activation": True}
    x = rng.standard_normal((3, 12, 12, 2))
    out = model.forward(x, training=True)
    dy = rng.standard_normal(out.shape)
    model.backward(dy)
    fused = {k: v.copy() for k, v in model.named_grads().items()}
    for layer in reversed(model.layers):
        dy = layer.backward(dy)
    for k, g in model.named_grads().items():
        np.testing.assert_allclose(fused[k], g, rtol=1e-13, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trains_inside_sequential(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 12, 12, 2)).astype(dtype)
    y = rng.integers(0, 3, size=12)
    model = small_model(dtype).compile(scratch.Adam(3e-2), "sparse_categorical_crossentropy")
    before = {k: v.copy() for k, v in model.named_params().items()}
    losses = [model.train_step(x, y)[0] for _ in range(20)]
    assert losses[-1] < 0.5 * losses[0], losses  # memorizes 12 random labels
    for k, v in model.named_params().items():
        assert v.dtype == np.dtype(dtype)
        assert not np.array_equal(before[k], v), f"{k} did not move"
    names = [k for k in model.named_params() if "depthwise" in k or "separable" in k]
    assert any(k.endswith("depthwise_kernel") for k in names) and any(k.endswith("/kernel") for k in names)
