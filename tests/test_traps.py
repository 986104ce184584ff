"""One named test per known trap of the engine (``../shared/STYLE.md``, "Traps we know about").

The Keras-side traps (oneDNN, Keras's float32 default, TensorFlow's tie routing measured on
Keras itself) live in ``parity_tests/``.
"""

import numpy as np
import pytest

import scratch
from scratch import geometry, initializers

F64 = "float64"


def image(values):
    """A 2-D list -> one (1, H, W, 1) float64 image."""
    return np.array(values, dtype=np.float64)[None, :, :, None]


# -- 'same' padding: the odd extra pad goes at the bottom/right -----------------------------------

def test_same_padding_total_and_split_as_keras():
    # total = max((ceil(n/s) - 1) * s + k - n, 0), before = total // 2, after = the rest
    assert geometry.same_pads(5, 2, 1) == (0, 1)
    assert geometry.same_pads(5, 4, 1) == (1, 2)
    assert geometry.same_pads(6, 3, 2) == (0, 1)   # out 3: (3-1)*2 + 3 - 6 = 1
    assert geometry.same_pads(7, 3, 2) == (1, 1)
    assert geometry.same_pads(4, 1, 3) == (0, 0)
    assert geometry.same_pads(5, 1, 3) == (0, 0)   # out 2: 3 + 1 - 5 < 0 -> 0
    assert geometry.output_length(5, 2, 2, "same") == 3 and geometry.output_length(5, 2, 2, "valid") == 2


def test_conv_same_padding_extra_row_and_column_at_bottom_right():
    x = image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    conv = scratch.Conv2D(1, 2, padding="same", use_bias=False, dtype=F64)
    conv.build(x.shape)
    conv.set_weights([np.ones((2, 2, 1, 1))])
    y = conv(x)[0, :, :, 0]
    # each output sums the 2x2 window starting at its own pixel; zeros lie below and to the right
    np.testing.assert_array_equal(y, [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


def test_pooling_same_padding_extra_at_bottom_right():
    x = image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    y = scratch.AveragePooling2D(2, strides=1, padding="same", dtype=F64)(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[3, 4, 4.5], [6, 7, 7.5], [7.5, 8.5, 9]])


# -- pooling with 'same': pads never win a max, averages count real cells ------------------------

def test_max_pool_same_pads_never_win():
    x = image([[-5, -4, -3], [-2, -1, -6], [-7, -8, -9]])
    pool = scratch.MaxPooling2D(2, padding="same", dtype=F64)
    y = pool(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1, -3], [-7, -9]])  # zero padding would give 0 in three cells
    dx = pool.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[0, 0, 1], [0, 1, 0], [1, 0, 1]])  # no gradient lost to the pads


def test_average_pool_same_divides_by_real_cells():
    pool = scratch.AveragePooling2D(2, padding="same", dtype=F64)
    y = pool(np.ones((1, 3, 3, 1)))
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))  # dividing by 4 would give 1/2 and 1/4
    x = image([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_array_equal(pool(x)[0, :, :, 0], [[3, 4.5], [7.5, 9]])
    dx = pool.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1]])


# -- Flatten on NHWC: row-major over (H, W, C) ------------------------------------------------

def test_flatten_is_row_major_over_h_w_c():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    flat = scratch.Flatten(dtype=F64)(x)
    assert flat.shape == (2, 60)
    for b, h, w, c in np.ndindex(x.shape):
        assert flat[b, (h * 4 + w) * 5 + c] == x[b, h, w, c]
    # channels-first order (C, H, W) is a different vector: the trap is real
    assert not np.array_equal(flat[0], x[0].transpose(2, 0, 1).reshape(-1))


# -- Conv2D is cross-correlation with an HWIO kernel, no flip ------------------------------------

def test_conv_is_cross_correlation_not_convolution():
    x = image([[1, 2], [3, 4]])
    conv = scratch.Conv2D(1, 2, use_bias=False, dtype=F64)
    conv.build(x.shape)
    k = np.array([[1.0, 10.0], [100.0, 1000.0]])
    conv.set_weights([k[:, :, None, None]])
    assert conv(x)[0, 0, 0, 0] == 1 * 1 + 2 * 10 + 3 * 100 + 4 * 1000  # flipped would be 4321


def test_conv_kernel_layout_is_hwio():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4, 5, 2))
    conv = scratch.Conv2D(3, (2, 3), use_bias=False, dtype=F64)
    conv.build(x.shape)
    assert conv.params["kernel"].shape == (2, 3, 2, 3)  # (kh, kw, in, out)
    kernel = np.zeros((2, 3, 2, 3))
    kernel[1, 2, 1, 0] = 1.0  # row 1, column 2 of the window, input channel 1 -> filter 0
    conv.set_weights([kernel])
    y = conv(x)
    np.testing.assert_array_equal(y[0, :, :, 0], x[0, 1:, 2:, 1])
    np.testing.assert_array_equal(y[..., 1:], 0)


# -- max-pool ties: one cell per window, the first maximum in row-major order --------------------

def test_max_pool_ties_go_to_the_first_max_in_row_major_order():
    pool = scratch.MaxPooling2D(2, dtype=F64)
    x = image([[1, 1, 0, 2], [1, 1, 2, 1], [3, 0, 0, 0], [0, 3, 0, 0]])
    y = pool(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2], [3, 0]])
    dx = pool.backward(np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]]))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]])
    assert dx.sum() == 10  # each window's dy sent once, not to every tied cell


def test_max_pool_ties_in_overlapping_windows_accumulate():
    pool = scratch.MaxPooling2D(2, strides=1, dtype=F64)
    x = np.ones((1, 3, 3, 1))
    dx = pool(x) * 0 + 1
    dx = pool.backward(dx)[0, :, :, 0]
    # four windows, each first cell is its own top-left corner
    np.testing.assert_array_equal(dx, [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


# -- ReLU gradient at exactly 0 is 0 --------------------------------------------------------------

def test_relu_gradient_is_zero_at_exactly_zero():
    relu = scratch.ReLU(dtype=F64)
    x = np.array([[-1.0, 0.0, 1e-300, 2.0]])
    np.testing.assert_array_equal(relu(x), [[0, 0, 1e-300, 2]])
    np.testing.assert_array_equal(relu.backward(np.ones((1, 4))), [[0, 0, 1, 1]])


@pytest.mark.parametrize("kind", ["Dense", "Conv2D"])
def test_relu_activation_gradient_is_zero_at_exactly_zero(kind):
    # zero kernel and bias: every pre-activation is exactly 0, so nothing flows back
    if kind == "Dense":
        layer, x = scratch.Dense(3, activation="relu", dtype=F64), np.ones((2, 4))
    else:
        layer, x = scratch.Conv2D(3, 2, activation="relu", dtype=F64), np.ones((2, 3, 3, 2))
    layer.build(x.shape)
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    y = layer(x)
    assert np.all(y == 0)
    dx = layer.backward(np.ones_like(y))
    assert np.all(dx == 0) and np.all(layer.grads["kernel"] == 0) and np.all(layer.grads["bias"] == 0)


# -- cross-entropy: probabilities clip at 1e-7; logits are stable ---------------------------------

@pytest.mark.parametrize("loss_cls", [scratch.SparseCategoricalCrossentropy, scratch.CategoricalCrossentropy])
def test_cross_entropy_on_probabilities_clips_at_1e_7(loss_cls):
    loss = loss_cls(from_logits=False)
    p = np.array([[1.0, 0.0, 0.0]])
    y = np.array([1]) if loss_cls is scratch.SparseCategoricalCrossentropy else np.array([[0.0, 1.0, 0.0]])
    value = loss(y, p)
    assert np.isfinite(value)
    # log(0) clipped to log(1e-7); Keras's sparse loss renormalises the clipped vector first
    clipped = np.array([1 - 1e-7, 1e-7, 1e-7])
    expected = -np.log(1e-7 / clipped.sum()) if loss_cls is scratch.SparseCategoricalCrossentropy else -np.log(1e-7)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(16.118, abs=1e-3)
    assert np.all(np.isfinite(loss.backward()))


@pytest.mark.parametrize("loss_cls", [scratch.SparseCategoricalCrossentropy, scratch.CategoricalCrossentropy])
def test_cross_entropy_from_logits_is_finite_and_exact_at_1e4(loss_cls):
    loss = loss_cls(from_logits=True)
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    sparse = loss_cls is scratch.SparseCategoricalCrossentropy
    y = np.array([1, 1]) if sparse else np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    # sample 0: -log_softmax = 2e4 + log(1 + e^-1e4 + e^-2e4) = 2e4 exactly in float64; sample 1: 0
    assert loss(y, z) == 1e4
    g = loss.backward()
    np.testing.assert_array_equal(g, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])
    with np.errstate(all="ignore"):  # the naive formula is what the trap is about
        naive = -np.log(np.exp(z[0, 1]) / np.exp(z[0]).sum())
    assert not np.isfinite(naive)


# -- the loss is a batch mean, so gradients carry 1/N -----------------------------------------------

def test_loss_is_batch_mean_and_gradient_carries_one_over_n():
    rng = np.random.default_rng(0)
    z, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss = scratch.SparseCategoricalCrossentropy(from_logits=True)
    per_sample, per_sample_grads = [], []
    for i in range(5):
        per_sample.append(loss(labels[i:i + 1], z[i:i + 1]))
        per_sample_grads.append(loss.backward())
    total = loss(labels, z)
    assert total == pytest.approx(np.mean(per_sample), rel=1e-14)
    g = loss.backward()
    np.testing.assert_allclose(g, np.concatenate(per_sample_grads) / 5, rtol=1e-14, atol=1e-17)
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(g, (softmax - np.eye(4)[labels]) / 5, rtol=1e-12, atol=1e-15)


def test_model_gradients_are_invariant_to_duplicating_the_batch():
    rng = np.random.default_rng(1)
    model = scratch.build_model("blog", dtype=F64, seed=0)
    model.compile(scratch.SGD(0.1))
    x, y = rng.standard_normal((3, 28, 28, 1)), np.array([1, 7, 3])

    def grads_of(xb, yb):
        out = model.forward(xb, training=True)
        value = model.loss(yb, out)
        model.backward(model.loss.backward())
        return value, {k: v.copy() for k, v in model.named_grads().items()}

    l1, g1 = grads_of(x, y)
    l2, g2 = grads_of(np.concatenate([x, x]), np.concatenate([y, y]))
    assert l2 == pytest.approx(l1, rel=1e-13)
    for k in g1:  # a sum reduction would double every gradient
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-10, atol=1e-14, err_msg=k)


# -- Glorot-uniform fans for conv kernels ---------------------------------------------------------

def test_glorot_fans_for_conv_kernels():
    assert initializers.compute_fans((5, 3, 16, 32)) == (5 * 3 * 16, 5 * 3 * 32)
    assert initializers.compute_fans((100, 10)) == (100, 10)
    conv = scratch.Conv2D(32, (5, 3), dtype=F64)
    conv.init_seed = 0
    conv.build((None, 12, 12, 16))
    kernel = conv.params["kernel"]
    limit = np.sqrt(6 / (5 * 3 * 16 + 5 * 3 * 32))
    # 7680 uniform draws: the largest |w| lies within 0.1% of the limit, never beyond it
    assert limit * 0.999 < np.abs(kernel).max() <= limit
    assert np.sqrt(6 / (16 + 32)) > 3 * limit  # fans without the receptive field: clearly different
    assert np.abs(kernel.mean()) < 0.05 * limit
    assert np.all(conv.params["bias"] == 0)


# -- optimizers: Keras's equations, by hand --------------------------------------------------------

def test_adam_one_and_two_steps_match_keras_formula_with_eps_1e_7():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    opt = scratch.Adam(lr)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (b1, b2, eps)
    w0 = np.array([0.5, -0.3, 0.2])
    g1 = np.array([1e-6, -2e-8, 0.3])  # tiny gradients: eps matters, so a wrong eps shows
    g2 = np.array([-3e-7, 5e-8, -0.1])
    p = {"w": w0.copy()}
    opt.step(p, {"w": g1})
    w1 = p["w"].copy()
    opt.step(p, {"w": g2})
    m, v, w = np.zeros(3), np.zeros(3), w0.copy()
    expected = []
    for t, g in ((1, g1), (2, g2)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - lr_t * m / (np.sqrt(v) + eps)
        expected.append(w.copy())
    np.testing.assert_allclose(w1, expected[0], rtol=1e-13)
    np.testing.assert_allclose(p["w"], expected[1], rtol=1e-13)
    assert opt.iterations == 2
    # the paper's form (eps added to sqrt(v_hat)) moves the tiny-gradient weights differently
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1 * g1
    paper = w0 - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    assert np.abs(paper - w1).max() > 1e-6


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_nesterov_match_keras_formula(nesterov):
    lr, mu = 0.1, 0.9
    opt = scratch.SGD(lr, momentum=mu, nesterov=nesterov)
    w0 = np.array([1.0, -2.0])
    gs = [np.array([0.5, 0.25]), np.array([-1.0, 2.0])]
    p = {"w": w0.copy()}
    vel, w = np.zeros(2), w0.copy()
    for g in gs:
        opt.step(p, {"w": g})
        vel = mu * vel - lr * g                       # v = mu*v - lr*g
        w = w + (mu * vel - lr * g if nesterov else vel)  # Nesterov: w += mu*v - lr*g; else w += v
        np.testing.assert_allclose(p["w"], w, rtol=1e-14)
    # two steps by hand, written out
    v1 = -lr * gs[0]
    v2 = mu * v1 - lr * gs[1]
    if nesterov:
        hand = w0 + (mu * v1 - lr * gs[0]) + (mu * v2 - lr * gs[1])
    else:
        hand = w0 + v1 + v2
    np.testing.assert_allclose(p["w"], hand, rtol=1e-14)


def test_plain_sgd_step():
    p = {"w": np.array([1.0, 2.0])}
    scratch.SGD(0.5).step(p, {"w": np.array([2.0, -4.0])})
    np.testing.assert_array_equal(p["w"], [0.0, 4.0])


# -- dropout: identity when not training, inverted scaling when training --------------------------

def test_dropout_identity_when_not_training():
    x = np.random.default_rng(0).standard_normal((4, 50))
    drop = scratch.Dropout(0.5, seed=0, dtype=F64)
    y = drop(x)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(drop.backward(x), x)


def test_dropout_inverted_scaling_when_training():
    x = np.ones((200, 100))
    drop = scratch.Dropout(0.25, seed=0, dtype=F64)
    y = drop(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], 1 / 0.75)  # survivors scaled by 1/(1 - rate)
    assert abs(kept.mean() - 0.75) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # the expectation is preserved
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)  # same mask, same scale


# -- dtype: float64 end to end, float32 stays float32 ------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("arch", ["blog", "lenet"])
@pytest.mark.parametrize("opt", ["adam", "sgd", "rmsprop"])
def test_dtype_is_kept_end_to_end(dtype, arch, opt):
    rng = np.random.default_rng(0)
    model = scratch.build_model(arch, dtype=dtype, seed=0)
    optimizer = {"adam": scratch.Adam(1e-3), "sgd": scratch.SGD(0.01, momentum=0.9),
                 "rmsprop": scratch.RMSprop(1e-3)}[opt]
    model.compile(optimizer)
    x = rng.random((4, 28, 28, 1)).astype(dtype)
    y = np.array([0, 1, 2, 3])
    out = model.forward(x, training=True)
    assert out.dtype == dtype
    model.loss(y, out)
    dout = model.loss.backward()
    assert dout.dtype == dtype
    model.backward(dout)
    for k, g in model.named_grads().items():
        assert g.dtype == dtype, k
    model.train_step(x, y)
    model.train_step(x, y)
    for k, p in model.named_params().items():
        assert p.dtype == dtype, k
    for slots in optimizer.slots.values():
        for s in slots.values():
            assert s.dtype == dtype
    assert model.predict(x).dtype == dtype
    for w in model.get_weights():
        assert w.dtype == dtype
    # every intermediate output too
    h = x
    for layer in model.layers:
        h = layer.forward(h, training=True)
        assert h.dtype == dtype, layer.label
        dx = layer.backward(np.ones_like(h))
        assert (dx is None and not layer.input_grad) or dx.dtype == dtype, layer.label
        for k, g in layer.grads.items():
            assert g.dtype == dtype, (layer.label, k)


def test_preprocess_gives_float32_by_default_and_float64_when_asked():
    raw = np.full((2, 28, 28), 255, dtype=np.uint8)
    assert scratch.preprocess(raw).dtype == np.float32
    assert scratch.preprocess(raw, "center", dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(scratch.preprocess(raw, "center"), 0.5)
