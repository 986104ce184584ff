"""A training step's convolution -> tiling max pooling in the pool's order (``scratch.models.fusion.plan_tiles``).

The convolution computes only the pixels the pool's windows cover, per image block ``(a, b)`` holding
pixel ``(p*th + a, q*tw + b)`` of every window (``kernels.TiledMap``); the pool takes maxima over whole blocks and
routes its gradient over them. Checked here against the plain route and the naive references: the window
matrix's rows, the pool's outputs and routed gradients (ties and ReLU zeros included) bit for bit; a model's
outputs and input gradients bit for bit, its kernel gradients to rounding (the same products summed in another
order); and which pairs are planned.
"""

import numpy as np
import pytest

import scratch
from scratch import kernels
from scratch.layers import pooling
from tests.naive import naive_pool


def _tiled(full, tile, pooled):
    """The blocks of an NHWC map in the pool's order, gathered one pixel at a time (the reference)."""
    (th, tw), (ho, wo) = tile, pooled
    blocks = np.empty((len(full), th * tw, ho, wo) + full.shape[3:], dtype=full.dtype)
    for a in range(th):
        for b in range(tw):
            for p in range(ho):
                for q in range(wo):
                    blocks[:, a * tw + b, p, q] = full[:, p * th + a, q * tw + b]
    return blocks


@pytest.mark.parametrize("shape, ks, strides, dilation, tile", [
    ((3, 28, 28, 1), (3, 3), (1, 1), (1, 1), (2, 2)),  # lenet's first layer: one channel
    ((3, 13, 13, 5), (3, 3), (1, 1), (1, 1), (2, 2)),  # an odd output (11): the last row and column unread
    ((2, 15, 12, 3), (3, 2), (2, 1), (1, 1), (2, 3)),
    ((2, 14, 13, 2), (2, 3), (1, 1), (2, 2), (3, 2)),  # dilated
    ((2, 9, 9, 1), (1, 1), (1, 1), (1, 1), (1, 2)),
])
def test_the_tiled_window_matrix_is_the_window_matrix_in_the_pools_order(shape, ks, strides, dilation, tile):
    rng = np.random.default_rng(0)
    xp = rng.standard_normal(shape)
    cols = kernels.im2col(xp, ks, strides, dilation)
    out = kernels.output_size(xp.shape, ks, strides, dilation)
    pooled = tuple(o // t for o, t in zip(out, tile))
    want = _tiled(cols.reshape((len(xp),) + out + (-1,)), tile, pooled).reshape(-1, cols.shape[1])
    np.testing.assert_array_equal(kernels.im2col_tiles(xp, ks, strides, dilation, tile, pooled), want)


@pytest.mark.parametrize("relu_input", [False, True])
@pytest.mark.parametrize("size, tile", [((8, 10), (2, 2)), ((11, 11), (2, 2)), ((9, 8), (3, 2)), ((6, 7), (1, 3))])
def test_the_tiled_pool_gives_the_pools_maxima_and_routes_as_it_does(size, tile, relu_input):
    """Ties (rounded values) and whole windows of ReLU zeros: the first maximum in the window's row-major
    order takes the gradient, as ``max_pool_backward`` and the naive reference; unread cells get 0."""
    rng = np.random.default_rng(1)
    z = np.maximum(np.round(rng.standard_normal((3,) + size + (4,))), 0)
    z[0, :4] = 0
    pooled = tuple(n // t for n, t in zip(size, tile))
    blocks = _tiled(z, tile, pooled)
    y = kernels.max_pool(z, tile, tile)
    np.testing.assert_array_equal(kernels.max_pool_tiles(blocks), y)
    y_too, rises = kernels.max_pool_tiles(blocks, rises=True)
    np.testing.assert_array_equal(y_too, y)
    dy = rng.standard_normal(y.shape)
    routed = dy * (y > 0) if relu_input else dy
    _, want = naive_pool(z, routed, tile, tile, "valid", "max")
    np.testing.assert_array_equal(want, kernels.max_pool_backward(dy, z, y, tile, tile, relu_input))
    dblocks = kernels.max_pool_tiles_backward(dy, rises, y, relu_input)
    np.testing.assert_array_equal(dblocks, _tiled(want, tile, pooled))
    np.testing.assert_array_equal(kernels.untile(dblocks, tile, size), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("xp_shape, ks, strides, dilation, covered", [
    ((3, 13, 13, 5), (3, 3), (1, 1), (1, 1), (10, 10)),  # lenet's second layer: 11x11 out, 10x10 read
    ((2, 15, 12, 3), (3, 2), (2, 1), (1, 1), (6, 9)),
    ((2, 14, 13, 2), (2, 3), (1, 1), (2, 2), (9, 8)),
])
def test_col2im_over_the_covered_pixels_equals_col2im_with_zeros_elsewhere(xp_shape, ks, strides, dilation, covered,
                                                                          dtype):
    """The tiled route's input gradient: ``dz`` of the pixels the windows read, the rest skipped, not added as
    zeros: the same bits (col2im adds each pixel's kernel offsets in the same order)."""
    rng = np.random.default_rng(4)
    n, f = xp_shape[0], 6
    kernel = rng.standard_normal(ks + (xp_shape[-1], f)).astype(dtype)
    out = kernels.output_size(xp_shape, ks, strides, dilation)
    dz = np.zeros((n,) + out + (f,), dtype=dtype)
    dz[:, :covered[0], :covered[1]] = rng.standard_normal((n,) + covered + (f,))
    want = kernels.col2im(dz.reshape(-1, f), kernel, xp_shape, strides, dilation)
    part = np.ascontiguousarray(dz[:, :covered[0], :covered[1]]).reshape(-1, f)
    np.testing.assert_array_equal(kernels.col2im_nd(part, kernel, xp_shape, strides, dilation, out_size=covered), want)


@pytest.mark.parametrize("relu_input", [False, True])
def test_a_window_whose_maximum_is_nan_routes_nothing_as_the_plain_pool(relu_input):
    z = np.array([[1.0, np.nan], [0.0, 2.0]]).reshape(1, 2, 2, 1)
    y, rises = kernels.max_pool_tiles(_tiled(z, (2, 2), (1, 1)), rises=True)
    dy = np.ones((1, 1, 1, 1))
    want = kernels.max_pool_backward(dy, z, kernels.max_pool(z, (2, 2), (2, 2)), (2, 2), (2, 2), relu_input)
    np.testing.assert_array_equal(want, 0)
    np.testing.assert_array_equal(kernels.max_pool_tiles_backward(dy, rises, y, relu_input), _tiled(want, (2, 2), (1, 1)))


def _model(dtype, conv=None, pool=None, activation="relu"):
    conv = conv or {}
    return scratch.Sequential([
        scratch.Conv2D(4, 3, activation=activation, dtype=dtype, **conv),
        scratch.MaxPooling2D(**(pool or {"pool_size": 2}), dtype=dtype),
        scratch.Conv2D(6, 2, activation="relu", dtype=dtype),
        scratch.MaxPooling2D(2, dtype=dtype),
        scratch.Flatten(dtype=dtype),
        scratch.Dense(5, dtype=dtype),
    ], input_shape=(15, 14, 3), dtype=dtype, seed=3)


def _step(model, x, dy, tiles):
    """Outputs, dL/dx and the weight gradients of one forward + backward, with or without the plan."""
    model._tiles = tiles
    out = model.forward(x, training=True)
    dx = model.backward(dy)
    return out, dx, {k: v.copy() for k, v in model.named_grads().items()}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("conv, activation", [({}, "relu"), ({"padding": "same"}, "relu"), ({"strides": 2}, "tanh"),
                                              ({"dilation_rate": 2}, None)])
def test_a_training_step_in_the_pools_order_equals_the_plain_one(dtype, conv, activation, monkeypatch):
    rng = np.random.default_rng(2)
    model = _model(dtype, conv, activation=activation)
    model._set_input_grads(True)
    planned = dict(model._tiles)
    assert len(planned) == 2
    x = rng.standard_normal((4, 15, 14, 3)).astype(dtype)
    x[:, :5] = 0  # ReLU zeros: ties in the windows
    out = model.forward(x)
    dy = rng.standard_normal(out.shape).astype(dtype)
    tiled_calls = []
    tiled = pooling.max_pool_tiles
    monkeypatch.setattr(pooling, "max_pool_tiles", lambda blocks, **kw: tiled_calls.append(blocks.shape) or tiled(blocks, **kw))
    got = _step(model, x, dy, planned)
    assert len(tiled_calls) == 2  # both pairs took the route
    want = _step(model, x, dy, {})
    assert len(tiled_calls) == 2
    # On these maps (13x12 and smaller, odd) the windows leave pixels out: the tiled products have fewer rows
    # than the plain ones, and BLAS may round a product of another row count differently (the reviewer found
    # 1.2% of random configurations 1e-7 apart in float32): equal to rounding. Maps the windows cover: below.
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got[0], want[0], **tol)
    np.testing.assert_allclose(got[1], want[1], **tol)
    for k, g in want[2].items():
        assert got[2][k].dtype == g.dtype
        np.testing.assert_allclose(got[2][k], g, **tol, err_msg=k)


def test_routes_without_a_window_matrix_hand_the_pool_a_plain_map():
    """A convolution whose call takes another route (a 'same' 3x3 on a 2x2 map: the small-map products) returns
    the whole map; the pool reads it as usual: the same bits as without the plan."""
    rng = np.random.default_rng(4)
    x = scratch.Input((2, 2, 3), dtype="float64")
    h = scratch.MaxPooling2D(2, dtype="float64")(scratch.Conv2D(4, 3, padding="same", activation="relu",
                                                                dtype="float64")(x))
    model = scratch.Model(x, scratch.Flatten(dtype="float64")(h))
    assert len(model._tiles) == 1
    xs = rng.standard_normal((3, 2, 2, 3))
    dy = rng.standard_normal((3, 4))
    got, want = _step(model, xs, dy, dict(model._tiles)), _step(model, xs, dy, {})
    np.testing.assert_array_equal(got[0], want[0])
    for k in want[2]:
        np.testing.assert_array_equal(got[2][k], want[2][k])


def test_only_a_tiling_max_pool_reading_a_plain_2d_convolution_alone_is_planned():
    class OwnForward(scratch.Conv2D):  # a user's subclass with its own forward: it takes no tile
        def forward(self, x, training=False):
            return super().forward(x, training=training)

    x = scratch.Input((12, 12, 4))
    a = scratch.MaxPooling2D(2)(scratch.Conv2D(4, 3, padding="same", name="tiled")(x))
    b = scratch.MaxPooling2D(2, strides=1)(scratch.Conv2D(4, 1, name="overlapping")(a))  # windows overlap
    c = scratch.MaxPooling2D(2, padding="same")(scratch.Conv2D(4, 1, name="same_pool")(b))
    grouped = scratch.MaxPooling2D(2)(scratch.Conv2D(4, 1, groups=2, name="grouped")(c))
    d = scratch.MaxPooling2D(1)(OwnForward(4, 1, name="own")(grouped))
    shared = scratch.Conv2D(4, 1, name="shared")(d)  # two readers
    e = scratch.Add()([scratch.MaxPooling2D(1)(shared), shared])
    f = scratch.AveragePooling2D(1)(scratch.Conv2D(4, 1, name="average")(e))
    g = scratch.MaxPooling2D(1)(scratch.Conv2D(4, 1, activity_regularizer="l2", name="penalized")(f))
    h = scratch.MaxPooling2D(1)(scratch.DepthwiseConv2D(1, name="depthwise")(g))
    one = scratch.MaxPooling1D(1)(scratch.Conv1D(4, 1, name="one_d")(scratch.Reshape((1, 4))(h)))
    out = scratch.Conv2D(4, 1, name="returned")(h)
    model = scratch.Model(x, [scratch.Flatten()(one), scratch.MaxPooling2D(1)(out), out])
    names = {id(node): node.layer.name for node in model.nodes}
    assert sorted(names[i] for i in model._tiles) == ["tiled"]
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((2, 12, 12, 4)).astype("float32")
    outs = model.forward(xs, training=True)
    model.backward([np.ones_like(o) for o in outs])


def test_the_products_in_image_chunks_give_the_whole_products_bits(monkeypatch):
    rng = np.random.default_rng(6)
    xp = rng.standard_normal((7, 13, 13, 4)).astype("float32")
    w = rng.standard_normal((36, 5)).astype("float32")
    whole = kernels.im2col_tiles_matmul(xp, (3, 3), (1, 1), (1, 1), (2, 2), (5, 5), w)
    np.testing.assert_array_equal(
        whole, (kernels.im2col_tiles(xp, (3, 3), (1, 1), (1, 1), (2, 2), (5, 5)) @ w).reshape(7, 4, 5, 5, 5))
    monkeypatch.setattr(kernels, "_IM2COL_WHOLE", 0)
    monkeypatch.setattr(kernels, "_TILES_CHUNK", 2 * 100 * 36 * 4)  # two images a chunk: 4 chunks
    np.testing.assert_array_equal(kernels.im2col_tiles_matmul(xp, (3, 3), (1, 1), (1, 1), (2, 2), (5, 5), w), whole)


@pytest.mark.parametrize("training", [False, True])
def test_a_tiled_convolution_differentiates_after_either_forward(training):
    """``forward(training=False, tile=...)`` keeps no window matrix; its backward builds the tiled one again."""
    rng = np.random.default_rng(7)
    conv = scratch.Conv2D(3, 3, activation="relu", dtype="float64")
    pool = scratch.MaxPooling2D(2, dtype="float64")
    x = rng.standard_normal((2, 9, 9, 2))
    want = pool(conv(x))
    dy = rng.standard_normal(want.shape)
    want_dx = conv.backward(pool.backward(dy))
    want_dk = conv.grads["kernel"].copy()
    got = pool.forward(conv.forward(x, training=training, tile=pool.tile))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(conv.backward(pool.backward(dy)), want_dx)
    np.testing.assert_allclose(conv.grads["kernel"], want_dk, rtol=1e-12, atol=1e-12)


def test_a_pool_refuses_a_map_tiled_for_other_windows():
    pool = scratch.MaxPooling2D(2)
    with pytest.raises(ValueError, match=r"MaxPooling2D.*tiled by \(3, 3\), expected \(2, 2\)"):
        pool.forward(kernels.TiledMap(np.zeros((1, 9, 2, 2, 3), "float32"), (3, 3)))
    with pytest.raises(ValueError, match=r"expected None"):
        scratch.MaxPooling2D(2, strides=1).forward(kernels.TiledMap(np.zeros((1, 4, 2, 2, 3), "float32"), (2, 2)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_on_maps_the_windows_cover_outputs_input_gradients_and_predict_are_the_plain_bits(dtype, monkeypatch):
    """16x16 -> 8x8 -> 4x4: the tiled products have the plain ones' rows (permuted), the same bits, in a training
    step, in forward(training=False) and in predict."""
    rng = np.random.default_rng(8)
    model = scratch.Sequential([
        scratch.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype), scratch.MaxPooling2D(2, dtype=dtype),
        scratch.Conv2D(6, 3, padding="same", activation="relu", dtype=dtype), scratch.MaxPooling2D(2, dtype=dtype),
        scratch.Flatten(dtype=dtype), scratch.Dense(3, dtype=dtype)], input_shape=(16, 16, 2), dtype=dtype, seed=1)
    model._set_input_grads(True)
    x = rng.standard_normal((5, 16, 16, 2)).astype(dtype)
    x[:, :6] = 0
    dy = rng.standard_normal((5, 3)).astype(dtype)
    got, want = _step(model, x, dy, dict(model._tiles)), _step(model, x, dy, {})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    plain = model.forward(x)  # (_step left the plan off)
    model._tiles = scratch.models.fusion.plan_tiles(model.nodes, model.outputs)
    calls = []
    tiled = pooling.max_pool_tiles
    monkeypatch.setattr(pooling, "max_pool_tiles", lambda blocks, **kw: calls.append(blocks.shape) or tiled(blocks, **kw))
    np.testing.assert_array_equal(model.predict(x), plain)
    np.testing.assert_array_equal(model.forward(x), plain)
    assert len(calls) == 4  # predict and forward took the route


def test_forward_in_either_mode_and_predict_take_the_route_and_agree(monkeypatch):
    """On maps the windows leave pixels of (13x12, 5x5) the tiled products have fewer rows than the plain ones;
    forward(training=False) takes the route as predict does, so predict still gives its bits."""
    calls = []
    tiled = pooling.max_pool_tiles
    monkeypatch.setattr(pooling, "max_pool_tiles", lambda blocks, **kw: calls.append(blocks.shape) or tiled(blocks, **kw))
    model = _model("float32")
    x = np.random.default_rng(9).standard_normal((3, 15, 14, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x), model.forward(x))
    assert len(calls) == 4  # two pools in each
    model.forward(x, training=True)
    assert len(calls) == 6


@pytest.mark.parametrize("axis", [3, (1, 2), -1])
def test_an_activation_over_an_axis_keeps_the_plain_route(axis):
    """A softmax over the map's axes reads values the pool's order would move: the plain route, every call
    (the activation may be reassigned after the plan)."""
    from scratch import activations

    rng = np.random.default_rng(10)
    model = _model("float64")
    model.layers[0].activation = activations.softmax_fn(axis)
    x = rng.standard_normal((2, 15, 14, 3))
    dy = rng.standard_normal((2, 5))
    got, want = _step(model, x, dy, dict(model._tiles)), _step(model, x, dy, {})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    for k in want[2]:
        np.testing.assert_allclose(got[2][k], want[2][k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_an_activity_regularizer_set_after_the_plan_reads_the_whole_output():
    from scratch import regularizers

    rng = np.random.default_rng(11)
    model = _model("float64")
    model.layers[0].activity_regularizer = regularizers.get("l2")
    x = rng.standard_normal((2, 15, 14, 3))
    model.forward(x, training=True)  # the regularizer reads the convolution's whole map
    assert len(model._activity_losses) == 1
    np.testing.assert_array_equal(model.predict(x), model.forward(x))  # predict follows forward's route
    model._tiles = {}
    model.forward(x, training=True)
    assert len(model._activity_losses) == 1


def test_a_map_smaller_than_the_windows_gets_the_pools_own_error():
    x = scratch.Input((None, None, 2))
    model = scratch.Model(x, scratch.MaxPooling2D(3)(scratch.Conv2D(4, 3, activation="relu")(x)))
    assert len(model._tiles) == 1
    small = np.zeros((1, 4, 4, 2), "float32")  # a 2x2 output under 3x3 windows
    for call in (lambda: model.forward(small, training=True), lambda: model.predict(small),
                 lambda: model.forward(small)):
        with pytest.raises(ValueError, match="pool_size"):
            call()


@pytest.mark.parametrize("activation, pool_first", [("relu", True), (None, False), ("tanh", False)])
def test_a_relu_convolution_applies_its_relu_after_the_pools_maximum(activation, pool_first):
    """With a ReLU the tiled convolution of a training step adds its bias and stops (nothing activated in its
    cache); the pool's output is ``relu(max(z + b))``: the plain route's bits, and its backward's."""
    rng = np.random.default_rng(6)
    model = _model("float64", {"padding": "same"}, activation=activation)  # 15x14 maps: the windows cover them
    x = rng.standard_normal((3, 15, 14, 3))
    x[:, :5] = 0
    model.layers[0].params["bias"][:] = rng.standard_normal(4)
    dy = rng.standard_normal((3, 5))
    got = _step(model, x, dy, dict(model._tiles))
    assert (model.layers[0]._cache[6] is None) == pool_first  # y: the activated map, where it was computed
    conv, pool = model.layers[0], model.layers[1]
    np.testing.assert_array_equal(pool._cache[2], kernels.max_pool(conv.forward(x), (2, 2), (2, 2)))
    want = _step(model, x, dy, {})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    for k, g in want[2].items():  # the kernels' gradients sum the rows in another order
        np.testing.assert_allclose(got[2][k], g, rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("dtype, bias, pair", [("float32", 16.0, (0.5, 0.50000012)), ("float64", 16.0, (0.5, 0.5 + 2.0 ** -52))])
def test_values_the_bias_rounds_equal_route_to_the_first_of_them_as_the_plain_route(dtype, bias, pair):
    """``z`` 1.0 and just above it, ``fl(z + 16)`` equal: the first of the tied cells takes the gradient (Keras's
    rule on the values it pools), on the tiled route as on the plain one (a review found the route deciding on
    ``z`` before the bias)."""
    def run(tiles):
        model = scratch.Sequential([scratch.Conv2D(1, 1, activation="relu", dtype=dtype),
                                    scratch.MaxPooling2D(2, dtype=dtype), scratch.Flatten(dtype=dtype)],
                                   input_shape=(2, 2, 2), dtype=dtype, seed=0)
        model.layers[0].params["kernel"][:] = 1
        model.layers[0].params["bias"][:] = bias
        model._set_input_grads(True)
        if not tiles:
            model._tiles = {}
        x = np.zeros((1, 2, 2, 2), dtype)
        x[0, 0, 0] = [1.0, 0.0]
        x[0, 0, 1] = pair  # z just above 1.0, rounded to the same z + b
        y = model.forward(x, training=True)
        return y, model.backward(np.ones_like(y)), model.named_grads()["conv2d/kernel"].copy()

    (y, dx, dk), (y0, dx0, dk0) = run(True), run(False)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dx, dx0)
    np.testing.assert_array_equal(dk, dk0)
    assert dx0[0, 0, 0].tolist() == [1, 1] and dx0[0, 0, 1].tolist() == [0, 0]  # the first of the tied pair


def test_after_a_training_forward_the_layers_own_backward_says_it_needs_the_fused_gradient():
    """A training step's tiled route left the ReLU for after the pool's maximum: walking the layers by hand
    without the fusion's options gets a clear error, not a gradient routed by another rule."""
    rng = np.random.default_rng(7)
    model = _model("float64")
    out = model.forward(rng.standard_normal((2, 15, 14, 3)), training=True)
    d = model.layers[4].backward(model.layers[5].backward(rng.standard_normal(out.shape)))  # Dense, Flatten
    with pytest.raises(ValueError, match=r"max_pooling2d_1'?: its input's ReLU was applied after its maximum"):
        model.layers[3].backward(d)
    with pytest.raises(ValueError, match=r"conv2d_1'?: its last forward pass left its ReLU to the max pooling"):
        model.layers[2].backward(model.layers[3].backward(d, relu_input=True))
