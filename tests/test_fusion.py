"""The ReLU -> max-pool backward fusion gives the same gradients as the plain layer chain.

``Sequential.backward`` lets a ``MaxPooling2D`` after a ``Conv2D(activation="relu")`` apply
the ReLU mask to the pooled gradient (``relu_input=True``) and the convolution skip its own
mask pass (``pre_activation=True``). Here both paths run on the same cache and every
gradient must match exactly, on inputs full of ReLU zeros (ties in the pool windows).
"""

import numpy as np
import pytest

import scratch
from tests.naive import naive_pool


def _model(pool, dtype):
    return scratch.Sequential([
        scratch.Conv2D(4, 3, activation="relu", padding="same", dtype=dtype),
        scratch.MaxPooling2D(**pool, dtype=dtype),
        scratch.Conv2D(3, 2, activation="relu", dtype=dtype),
        scratch.MaxPooling2D(2, dtype=dtype),
        scratch.Flatten(dtype=dtype),
        scratch.Dense(5, dtype=dtype),
    ], input_shape=(9, 10, 2), dtype=dtype, seed=3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pool", [{"pool_size": 2}, {"pool_size": 3, "strides": 2, "padding": "same"},
                                  {"pool_size": 2, "strides": 1}])
def test_fused_backward_equals_layer_by_layer(dtype, pool):
    rng = np.random.default_rng(0)
    model = _model(pool, dtype)
    model._tiles = {}  # the plain route (a training step's tiled one adds the bias after the pool: test_tiles.py)
    x = rng.standard_normal((4, 9, 10, 2)).astype(dtype)
    x[:, :4] = 0  # whole windows of ReLU zeros: ties everywhere
    model.layers[0].params["bias"][:2] = -0.5
    out = model.forward(x, training=True)
    assert (model.layers[0]._cache[6] == 0).mean() > 0.3  # the zeros are there (y, in the cache)
    dy = rng.standard_normal(out.shape).astype(dtype)
    dy_before = dy.copy()

    calls = model.backward_calls()
    assert [(c[0].name, c[1]) for c in calls][2:] == [
        ("max_pooling2d_1", {"relu_input": True}), ("conv2d_1", {"pre_activation": True}),
        ("max_pooling2d", {"relu_input": True}), ("conv2d", {"pre_activation": True})]
    fused_dx = model.backward(dy)
    fused = {k: v.copy() for k, v in model.named_grads().items()}
    plain_dx = dy
    for layer in reversed(model.layers):
        plain_dx = layer.backward(plain_dx)
    np.testing.assert_array_equal(dy, dy_before)
    assert fused_dx is None and plain_dx is None  # first layer: no dL/d(image)
    for k, g in model.named_grads().items():
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(fused[k], g, err_msg=k)


def test_no_fusion_without_relu_or_pool():
    model = scratch.Sequential([scratch.Conv2D(2, 3), scratch.MaxPooling2D(2), scratch.Conv2D(2, 2, activation="relu"),
                                scratch.AveragePooling2D(2), scratch.Flatten(), scratch.Dense(3)],
                               input_shape=(12, 12, 1))
    assert all(options == {} for _, options in model.backward_calls())


@pytest.mark.parametrize("relu_input", [False, True])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_one_tied_window_among_unique_ones_goes_to_the_first_max(relu_input, padding):
    """A single positive tie among unique maxima reaches only its first cell, with and without
    the ReLU mask (zero windows tie too, and carry dy = 0 once masked)."""
    rng = np.random.default_rng(1)
    x = np.abs(rng.standard_normal((3, 5, 7, 2)))
    x[1, 2, 3, 1] = x[1, 3, 2, 1] = 9.0  # one window (row 1, column 1 of the output), two maxima
    x[0, :2, :2] = 0  # zero windows: ties that only matter without the ReLU mask
    pool = scratch.MaxPooling2D(2, padding=padding, dtype="float64")
    y = pool.forward(x)
    dy = rng.standard_normal(y.shape)
    routed = dy * (y > 0) if relu_input else dy
    _, ref_dx = naive_pool(x, routed, (2, 2), (2, 2), padding, "max")
    dx = pool.backward(dy, relu_input=relu_input)
    np.testing.assert_array_equal(dx, ref_dx)
    assert dx[1, 2, 3, 1] == routed[1, 1, 1, 1] and dx[1, 3, 2, 1] == 0


# -- predict: a convolution's bias and ReLU after the max pooling that reads it -----------------------------

def _fused_pairs(model):
    names = {id(node): node.layer.name for node in model.nodes}
    return sorted((names[a], names[b]) for a, (_, b) in model._inference_fusions.items())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pool", [{"pool_size": 2}, {"pool_size": 3, "strides": 2, "padding": "same"},
                                  {"pool_size": 2, "strides": 1}])
def test_predict_pools_before_the_bias_and_relu_with_the_same_bits(dtype, pool, monkeypatch):
    """``relu(max(z) + b) == max(relu(z + b))`` bit for bit (both maps non-decreasing, in floating point too):
    predict takes the pooled route, on inputs full of ReLU zeros and ties, and gives forward's exact values."""
    rng = np.random.default_rng(1)
    model = _model(pool, dtype)
    assert _fused_pairs(model) == [("conv2d", "max_pooling2d"), ("conv2d_1", "max_pooling2d_1")]
    x = rng.standard_normal((6, 9, 10, 2)).astype(dtype)
    x[:, :4] = 0
    model.layers[0].params["bias"][:2] = -0.5
    want = model.forward(x)
    from scratch.layers.convolutional import BaseConv
    activated = []
    activate = BaseConv.activate
    monkeypatch.setattr(BaseConv, "activate", lambda self, z: activated.append(self.name) or activate(self, z))
    got = model.predict(x)
    assert activated == ["conv2d", "conv2d_1"]  # both convolutions took the pooled route
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.dtype(dtype)


def test_predict_fuses_only_a_max_pool_reading_a_relu_or_linear_convolution_alone():
    x = scratch.Input((8, 8, 3))
    linear = scratch.Conv2D(4, 3, padding="same")(x)  # no activation: fused
    a = scratch.MaxPooling2D(2)(linear)
    tanh = scratch.Conv2D(4, 3, padding="same", activation="tanh")(a)  # not non-decreasing enough to trust
    b = scratch.MaxPooling2D(2)(tanh)
    shared = scratch.Conv2D(4, 1, activation="relu")(b)  # two readers: not fused
    c = scratch.Add()([scratch.MaxPooling2D(1)(shared), shared])
    d = scratch.AveragePooling2D(2)(scratch.Conv2D(4, 1, activation="relu")(c))  # average pooling: not fused
    one = scratch.Conv1D(3, 1, activation="relu")(scratch.Reshape((2, 2))(scratch.Flatten()(d)))
    e = scratch.MaxPooling1D(2, padding="same")(one)  # 1-D: fused
    model = scratch.Model(x, [scratch.Flatten()(e), linear])  # linear is an output too: its pool is not fused
    assert [pair[1] for pair in _fused_pairs(model)] == ["max_pooling1d"]
    single = scratch.Model(x, scratch.MaxPooling2D(2)(scratch.Conv2D(4, 3, padding="same")(x)))
    assert len(single._inference_fusions) == 1
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((3, 8, 8, 3)).astype("float32")
    for p, f in zip(model.infer(xs), model.forward(xs)):  # two outputs: predict's infer, called directly
        np.testing.assert_array_equal(p, f)
    np.testing.assert_array_equal(single.predict(xs), single.forward(xs))


def test_predict_leaves_the_last_forward_to_backward():
    """predict records nothing: a backward pass after it differentiates the last forward pass."""
    rng = np.random.default_rng(3)
    model = _model({"pool_size": 2}, "float64")
    x = rng.standard_normal((4, 9, 10, 2))
    out = model.forward(x, training=True)
    dy = rng.standard_normal(out.shape)
    model.backward(dy)
    expected = {k: v.copy() for k, v in model.named_grads().items()}
    model.forward(x, training=True)
    model.predict(rng.standard_normal((7, 9, 10, 2)))
    model.backward(dy)
    for k, g in model.named_grads().items():
        np.testing.assert_array_equal(g, expected[k], err_msg=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_folds_batch_normalization_into_the_convolution_before_it(dtype, monkeypatch):
    """A BatchNormalization reading a convolution with no activation (with or without a bias, depthwise too)
    is folded into it for predict: kernel * inv, bias * inv + offset. The same sums rounded differently:
    predict agrees with forward to rounding (float64: 1e-13), and the layers keep their own weights."""
    rng = np.random.default_rng(6)
    x = scratch.Input((6, 6, 3), dtype=dtype)
    a = scratch.BatchNormalization(dtype=dtype)(scratch.Conv2D(8, 3, padding="same", use_bias=False, dtype=dtype)(x))
    b = scratch.BatchNormalization(dtype=dtype)(scratch.DepthwiseConv2D(3, depth_multiplier=2, dtype=dtype)(
        scratch.ReLU(6.0, dtype=dtype)(a)))
    relu = scratch.Conv2D(4, 1, activation="relu", dtype=dtype)(b)  # an activation between: not folded
    c = scratch.BatchNormalization(dtype=dtype)(relu)
    shared = scratch.Conv2D(4, 1, dtype=dtype)(c)  # two readers: not folded
    d = scratch.Add(dtype=dtype)([scratch.BatchNormalization(dtype=dtype)(shared), shared])
    e = scratch.BatchNormalization(scale=False, dtype=dtype)(scratch.Conv1D(5, 2, dtype=dtype)(
        scratch.Reshape((16, 4), dtype=dtype)(d)))  # a bias, no gamma, one axis
    model = scratch.Model(x, scratch.Flatten(dtype=dtype)(e))
    kinds = sorted((node.layer.name, kind) for node in model.nodes
                   for nid, (kind, _) in model._inference_fusions.items() if nid == id(node))
    assert kinds == [("conv1d", "fold"), ("conv2d", "fold"), ("depthwise_conv2d", "fold")]
    for layer in model.layers:  # moving statistics and affine weights far from the identity
        for key in ("gamma", "beta", "moving_mean"):
            if key in layer.params or key in layer.state:
                (layer.params if key in layer.params else layer.state)[key][...] = rng.standard_normal(
                    layer.params.get(key, layer.state.get(key)).shape)
        if "moving_variance" in layer.state:
            layer.state["moving_variance"][...] = rng.random(layer.state["moving_variance"].shape) + 0.5
    before = {k: v.copy() for k, v in model.named_params().items()}
    xs = rng.standard_normal((5, 6, 6, 3)).astype(dtype)
    want = model.forward(xs)
    from scratch.layers.convolutional import ConvBase
    folds = []
    fold = ConvBase.folded
    monkeypatch.setattr(ConvBase, "folded", lambda self, *a: folds.append(self.name) or fold(self, *a))
    got = model.predict(xs)
    assert sorted(folds) == ["conv1d", "conv2d", "depthwise_conv2d"]
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, want, **tol)
    for k, v in model.named_params().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_predict_checks_the_plan_against_the_activations_as_they_are():
    """An activation reassigned after the model was built (a Keras habit) undoes a planned pair: predict runs
    those layers as they are, and agrees with forward."""
    rng = np.random.default_rng(7)
    x = scratch.Input((6, 6, 3), dtype="float64")
    fold = scratch.Conv2D(4, 3, padding="same", dtype="float64")
    pool = scratch.Conv2D(4, 3, padding="same", activation="relu", dtype="float64")
    h = scratch.MaxPooling2D(2, dtype="float64")(pool(scratch.BatchNormalization(dtype="float64")(fold(x))))
    model = scratch.Model(x, scratch.Flatten(dtype="float64")(h))
    assert sorted(kind for kind, _ in model._inference_fusions.values()) == ["fold", "pool"]
    bn = next(layer for layer in model.layers if isinstance(layer, scratch.BatchNormalization))
    bn.state["moving_mean"][...] = rng.standard_normal(4)
    fold.activation = scratch.activations.get("relu", fold.label)
    pool.activation = scratch.activations.get("tanh", pool.label)
    xs = rng.standard_normal((3, 6, 6, 3))
    np.testing.assert_allclose(model.predict(xs), model.forward(xs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.parametrize("tiles", [True, False])
def test_an_activation_set_after_the_plan_is_differentiated_as_itself(activation, tiles):
    """A ReLU convolution made linear or tanh after the model was built: its backward is planned again, not
    masked by the pool as a ReLU's (a review found the gradients of the stale plan); the same gradients as a
    model built with that activation."""
    rng = np.random.default_rng(1)

    def model(act):
        m = scratch.Sequential([scratch.Conv2D(4, 3, activation=act, dtype="float64"),
                                scratch.MaxPooling2D(2, dtype="float64"), scratch.Flatten(dtype="float64"),
                                scratch.Dense(3, dtype="float64")], input_shape=(10, 10, 2), dtype="float64", seed=1)
        m._set_input_grads(True)
        m.layers[0].params["bias"][:] = [-1, -0.5, 0.5, 1]
        if not tiles:
            m._tiles = {}
        return m

    x, dy = rng.standard_normal((3, 10, 10, 2)), rng.standard_normal((3, 3))
    fresh, changed = model(activation), model("relu")
    changed.layers[0].activation = scratch.activations.get(activation, "conv2d")
    assert dict(changed.backward_calls()[-1][1]) == {}  # no ReLU fusion left for the convolution
    grads = []
    for m in (fresh, changed):
        m.forward(x, training=True)
        dx = m.backward(dy)
        grads.append((dx, {k: v.copy() for k, v in m.named_grads().items()}))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    for k in grads[0][1]:
        np.testing.assert_array_equal(grads[0][1][k], grads[1][1][k], err_msg=k)
