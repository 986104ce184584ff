"""Finite differences (float64, central, random configurations) for every layer and whole models.

The bound (relative error below 1e-6) and the loss ``L = sum(y * r)`` are stated once, in
``tests/finite_diff.py``. Configurations are drawn from seeded generators, one seed per case,
so every run checks the same cases and a failure names its seed.
"""

import numpy as np
import pytest

import scratch

from .finite_diff import FD_RTOL, assert_gradient, check_layer, randomize_weights

F64 = "float64"
N_CONV, N_POOL, N_DENSE = 36, 30, 12


def conv_config(seed):
    rng = np.random.default_rng([1, seed])
    kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
    if seed % 4 == 0:
        kw = kh  # keep a share of square kernels
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    padding = ("valid", "same")[seed % 2]
    h = int(rng.integers(kh if padding == "valid" else 1, kh + 6))
    w = int(rng.integers(kw if padding == "valid" else 1, kw + 6))
    return dict(kernel_size=(kh, kw), strides=(sh, sw), padding=padding,
                filters=int(rng.integers(1, 5)), activation=[None, "relu", "relu", "softmax"][seed % 4],
                use_bias=bool(seed % 5), batch=int(rng.integers(1, 5)), h=h, w=w, c=int(rng.integers(1, 5)))


def pool_config(seed):
    rng = np.random.default_rng([2, seed])
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    if seed % 3 == 0:
        kw = kh
    strides = None if seed % 3 == 1 else tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = ("valid", "same")[seed % 2]
    h = int(rng.integers(kh if padding == "valid" else 1, kh + 6))
    w = int(rng.integers(kw if padding == "valid" else 1, kw + 6))
    return dict(pool_size=(kh, kw), strides=strides, padding=padding,
                batch=int(rng.integers(1, 5)), h=h, w=w, c=int(rng.integers(1, 5)))


def test_random_grids_cover_the_space():
    """The seeded grids really contain every kind of case the finite differences must cover."""
    convs = [conv_config(s) for s in range(N_CONV)]
    assert {c["kernel_size"][0] for c in convs} | {c["kernel_size"][1] for c in convs} == {1, 2, 3, 4, 5}
    assert any(c["kernel_size"][0] == c["kernel_size"][1] for c in convs)
    assert any(c["kernel_size"][0] != c["kernel_size"][1] for c in convs)
    assert {s for c in convs for s in c["strides"]} == {1, 2, 3}
    assert {c["padding"] for c in convs} == {"valid", "same"}
    assert {c["h"] % 2 for c in convs} == {0, 1} and {c["w"] % 2 for c in convs} == {0, 1}
    assert {c["c"] for c in convs} == {1, 2, 3, 4} and {c["batch"] for c in convs} == {1, 2, 3, 4}
    assert {c["activation"] for c in convs} == {None, "relu", "softmax"}
    # 'same' with an odd total padding (the asymmetric case) occurs
    assert any(c["padding"] == "same" and sum(scratch.geometry.same_pads(c["h"], c["kernel_size"][0],
                                                                          c["strides"][0])) % 2 for c in convs)
    pools = [pool_config(s) for s in range(N_POOL)]
    assert {c["padding"] for c in pools} == {"valid", "same"}
    assert any(c["strides"] is not None and c["strides"][0] < c["pool_size"][0] for c in pools)  # overlapping
    assert any(c["strides"] is None for c in pools)


@pytest.mark.parametrize("seed", range(N_CONV))
def test_conv2d_finite_differences(seed):
    cfg = conv_config(seed)
    rng = np.random.default_rng(seed)
    layer = scratch.Conv2D(cfg["filters"], cfg["kernel_size"], strides=cfg["strides"], padding=cfg["padding"],
                           activation=cfg["activation"], use_bias=cfg["use_bias"], dtype=F64)
    x = rng.standard_normal((cfg["batch"], cfg["h"], cfg["w"], cfg["c"]))
    layer.build(x.shape)
    randomize_weights(layer, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("seed", range(N_POOL))
def test_pooling_finite_differences(kind, seed):
    cfg = pool_config(seed)
    rng = np.random.default_rng(seed)
    layer = getattr(scratch, kind)(cfg["pool_size"], strides=cfg["strides"], padding=cfg["padding"], dtype=F64)
    # continuous random inputs: no ties, so the max is differentiable at x
    x = rng.standard_normal((cfg["batch"], cfg["h"], cfg["w"], cfg["c"]))
    check_layer(layer, x, rng)


@pytest.mark.parametrize("seed", range(N_DENSE))
def test_dense_finite_differences(seed):
    rng = np.random.default_rng([3, seed])
    activation = [None, "relu", "softmax"][seed % 3]
    layer = scratch.Dense(int(rng.integers(1, 7)), activation=activation, use_bias=bool(seed % 4), dtype=F64)
    x = rng.standard_normal((int(rng.integers(1, 5)), int(rng.integers(1, 9))))
    layer.build(x.shape)
    randomize_weights(layer, rng)
    check_layer(layer, x, rng)


@pytest.mark.parametrize("seed", range(6))
def test_flatten_relu_softmax_finite_differences(seed):
    rng = np.random.default_rng([4, seed])
    shape = tuple(int(v) for v in rng.integers(1, 5, size=4))
    check_layer(scratch.Flatten(dtype=F64), rng.standard_normal(shape), rng)
    check_layer(scratch.ReLU(dtype=F64), rng.standard_normal(shape), rng)
    check_layer(scratch.Softmax(dtype=F64), rng.standard_normal(shape[:2]), rng)  # over the last axis
    check_layer(scratch.Softmax(dtype=F64), 3 * rng.standard_normal(shape), rng)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_with_fixed_mask_finite_differences(rate):
    rng = np.random.default_rng(int(rate * 10))
    x = rng.standard_normal((3, 4, 5, 2))
    layer = scratch.Dropout(rate, dtype=F64)
    layer.fixed_mask = rng.random(x.shape) >= rate
    check_layer(layer, x, rng, training=True)
    check_layer(layer, x, rng, training=False)  # identity


# -- whole models ------------------------------------------------------------------------

CUSTOM = {
    "name": "fd_custom",
    "input_shape": [9, 8, 2],
    "layers": [
        {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": [3, 2], "strides": [2, 2],
                                            "padding": "same", "activation": "relu"}},
        {"class_name": "AveragePooling2D", "config": {"pool_size": [2, 3], "strides": [1, 2], "padding": "same"}},
        {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [2, 2], "strides": [1, 1], "padding": "same"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [3, 3], "strides": [2, 1], "padding": "same"}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 6, "activation": "relu"}},
        {"class_name": "Dropout", "config": {"rate": 0.3}},
        {"class_name": "Dense", "config": {"units": 4}},
        {"class_name": "Softmax", "config": {}},
    ],
}


def check_model(model, x, rng, training=False, max_coords=None):
    model.layers[0].input_grad = True  # a model skips dL/d(image); we want to check it too
    for layer in model.layers:
        if layer.params:
            randomize_weights(layer, rng, scale=0.3)
    y = model.forward(x, training=training)
    r = rng.standard_normal(y.shape)
    dx = model.backward(r)
    grads = {k: v.copy() for k, v in model.named_grads().items()}
    params = model.named_params()
    assert set(grads) == set(params)

    def loss():
        return float((model.forward(x, training=training) * r).sum())

    assert_gradient(f"{model.name} dx", loss, x, dx, rng, max_coords)
    for k, p in params.items():
        assert_gradient(f"{model.name} {k}", loss, p, grads[k], rng, max_coords)


def test_blog_model_finite_differences():
    rng = np.random.default_rng(10)
    model = scratch.build_model("blog", dtype=F64, seed=3)
    check_model(model, rng.standard_normal((2, 28, 28, 1)) * 0.5, rng, max_coords=300)


@pytest.mark.parametrize("training", [False, True])
def test_lenet_model_finite_differences(training):
    rng = np.random.default_rng(11)
    model = scratch.build_model("lenet", dtype=F64, seed=4)
    x = rng.random((2, 28, 28, 1))
    dropout = next(la for la in model.layers if isinstance(la, scratch.Dropout))
    dropout.fixed_mask = rng.random((2, 1600)) >= 0.5  # training=True uses this mask, not a fresh draw
    check_model(model, x, rng, training=training, max_coords=80)


@pytest.mark.parametrize("training", [False, True])
def test_custom_same_stride2_model_finite_differences(training):
    rng = np.random.default_rng(12)
    model = scratch.Sequential.from_config(CUSTOM, dtype=F64, seed=5)
    model.layers[6].fixed_mask = rng.random((3, 6)) >= 0.3
    check_model(model, rng.standard_normal((3, 9, 8, 2)), rng, training=training)


def test_finite_difference_check_can_fail():
    """The checker is not vacuous: a gradient off by 1e-5 relative is caught."""
    rng = np.random.default_rng(0)
    layer = scratch.Dense(3, dtype=F64)
    x = rng.standard_normal((2, 4))
    layer.build(x.shape)
    y = layer.forward(x)
    r = rng.standard_normal(y.shape)
    layer.backward(r)
    wrong = layer.grads["kernel"] * (1 + 1e-5)
    with pytest.raises(AssertionError, match="relative error"):
        assert_gradient("wrong", lambda: float((layer.forward(x) * r).sum()), layer.params["kernel"],
                        wrong, rng)
    assert FD_RTOL == 1e-6
