"""The configurations the parity suite runs, shared by the tests and the report (one list).

Layer cases are ``(id, class name, constructor kwargs, input shape (N, H, W, C) or (N, F))``;
'same' cases include odd padding totals (e.g. n=7, k=2, s=1: total 1; n=8, k=3, s=2: total 1,
the extra row/column going at the bottom/right).
"""

import numpy as np

import scratch

LAYER_CASES = [
    # Conv2D: kernel sizes, strides, valid/same (odd totals), channels, batch sizes, activations
    ("conv-k3-valid", "Conv2D", dict(filters=4, kernel_size=3), (2, 8, 8, 1)),
    ("conv-k1-s1", "Conv2D", dict(filters=3, kernel_size=1), (1, 5, 6, 3)),
    ("conv-k2x3-s2x1-same-odd", "Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same"), (3, 7, 8, 2)),
    ("conv-k3-s2-same-odd", "Conv2D", dict(filters=5, kernel_size=3, strides=2, padding="same"), (2, 8, 8, 3)),
    ("conv-k2-s1-same-odd", "Conv2D", dict(filters=3, kernel_size=2, padding="same"), (2, 7, 7, 2)),
    ("conv-k5-s3-valid", "Conv2D", dict(filters=2, kernel_size=5, strides=3), (2, 12, 11, 2)),
    ("conv-k4-s2-same-even", "Conv2D", dict(filters=3, kernel_size=4, strides=2, padding="same"), (1, 9, 10, 1)),
    ("conv-relu", "Conv2D", dict(filters=4, kernel_size=3, activation="relu"), (4, 9, 9, 3)),
    ("conv-softmax-nobias", "Conv2D", dict(filters=3, kernel_size=3, activation="softmax", use_bias=False), (2, 6, 6, 2)),
    ("conv-lenet2", "Conv2D", dict(filters=64, kernel_size=3, activation="relu"), (2, 13, 13, 32)),
    # MaxPooling2D: non-overlapping, overlapping, strided, 'same' with odd totals
    ("maxpool-2", "MaxPooling2D", dict(pool_size=2), (2, 8, 8, 3)),
    ("maxpool-2-odd-input", "MaxPooling2D", dict(pool_size=2), (2, 7, 9, 2)),
    ("maxpool-3-s1-overlap", "MaxPooling2D", dict(pool_size=3, strides=1), (2, 6, 7, 2)),
    ("maxpool-3-s2-overlap-same", "MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 2)),
    ("maxpool-2-s1-same-odd", "MaxPooling2D", dict(pool_size=2, strides=1, padding="same"), (1, 5, 5, 1)),
    ("maxpool-2x3-s3x1", "MaxPooling2D", dict(pool_size=(2, 3), strides=(3, 1)), (3, 9, 7, 1)),
    # AveragePooling2D: the same geometries ('same' divides by real cells only)
    ("avgpool-2", "AveragePooling2D", dict(pool_size=2), (2, 8, 8, 3)),
    ("avgpool-3-s1-overlap", "AveragePooling2D", dict(pool_size=3, strides=1), (2, 6, 7, 2)),
    ("avgpool-3-s2-overlap-same", "AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 8, 7, 2)),
    ("avgpool-2-s1-same-odd", "AveragePooling2D", dict(pool_size=2, strides=1, padding="same"), (1, 5, 5, 1)),
    ("avgpool-2x3-s3x1-same", "AveragePooling2D", dict(pool_size=(2, 3), strides=(3, 1), padding="same"), (3, 9, 7, 1)),
    # Dense: sizes, activations, bias
    ("dense", "Dense", dict(units=10), (4, 1352)),
    ("dense-relu", "Dense", dict(units=7, activation="relu"), (3, 12)),
    ("dense-softmax-nobias", "Dense", dict(units=5, activation="softmax", use_bias=False), (2, 9)),
    ("dense-batch1", "Dense", dict(units=3), (1, 4)),
    # the rest
    ("flatten", "Flatten", {}, (2, 5, 4, 3)),
    ("relu", "ReLU", {}, (2, 5, 4, 3)),
    ("softmax", "Softmax", {}, (4, 10)),
    ("dropout-inference", "Dropout", dict(rate=0.5), (2, 6, 6, 2)),
]

LAYER_TYPES = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense", "Flatten", "ReLU", "Softmax", "Dropout")
DTYPES = ("float32", "float64")


def make_layer(cls_name, kwargs, dtype, seed=0):
    """A scratch layer named like Keras names it, built with a seeded random kernel and bias.

    Biases are drawn at random too (zeros would hide a bias bug).
    """
    layer = getattr(scratch, cls_name)(**kwargs, dtype=dtype)
    layer.name = scratch.model._snake(cls_name)
    layer.seed = seed
    return layer


def layer_input(shape, dtype, seed=0, relu_zeros=False):
    """Standard-normal input; with ``relu_zeros`` a quarter of it exactly 0 (ReLU's kink)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if relu_zeros:
        x[rng.random(shape) < 0.25] = 0.0
    return x.astype(dtype)


def randomize_bias(layer, seed=0):
    if "bias" in layer.params:
        layer.params["bias"][...] = np.random.default_rng(seed + 1).standard_normal(layer.params["bias"].shape)


MODELS = ("blog", "lenet")
MODEL_BATCH = 16

TRAIN_RUNS = [  # (architecture, optimizer, batch size, dtypes the test suite runs; the report runs both)
    ("blog", "sgd", 32, DTYPES),
    ("blog", "momentum", 32, DTYPES),
    ("blog", "nesterov", 32, DTYPES),
    ("blog", "adam", 32, DTYPES),
    ("lenet", "adam", 4, ("float64",)),  # lenet steps are slow in NumPy; the report adds float32
]


# -- running a case (tests and report share these) -------------------------------------------
def run_layer_case(case, dtype, seed=0):
    """``(scratch, keras)`` named arrays of one layer case: output, dL/dx, parameter gradients."""
    from parity_tests import engines

    _, cls_name, kwargs, shape = case
    layer = make_layer(cls_name, kwargs, dtype, seed)
    layer.build((None,) + shape[1:])
    randomize_bias(layer, seed)
    x = layer_input(shape, dtype, seed, relu_zeros=cls_name == "ReLU")
    return engines.layer_parity(layer, x, seed=seed + 2)


def run_model_case(arch, dtype, masked, seed=0):
    """``(scratch, keras)`` output, loss and all gradients of ``arch`` on a real MNIST batch.

    ``masked``: training mode with the same injected dropout mask in both engines; else
    inference mode (dropout off).
    """
    from parity_tests import engines

    model = scratch.build_model(arch, dtype=dtype, seed=seed)
    x, y = engines.mnist_batches(dtype, 1, MODEL_BATCH, model.preprocess, seed=seed)[0]
    masks = engines.dropout_masks(model, len(x), seed) if masked else None
    return engines.model_parity(model, x, y, training=masked, masks=masks)


def run_training(arch, optimizer, batch, dtype, steps, seed=0):
    """``[(step, scratch weights, keras weights)]`` after each of ``steps`` training steps."""
    from parity_tests import engines

    preprocess = scratch.get_architecture(arch)["preprocess"]
    batches = engines.mnist_batches(dtype, steps, batch, preprocess, seed=seed)
    return [(step, sw, kw) for step, sw, kw, _, _ in engines.train_parity(arch, dtype, optimizer, batches, seed)]
