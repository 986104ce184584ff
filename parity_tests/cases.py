"""The configurations the parity suite runs, shared by the tests and the report (one list).

Layer cases are ``(id, class name, constructor kwargs, input shape (N, H, W, C) or (N, F))``,
optionally followed by a dict of options (``{"training": True}``: run both layers in training
mode; ``{"integers": k}``: the input scaled by ``k`` and rounded to integers, so values tie
exactly; ``{"keras_float32": why}``: Keras cannot compute the layer in float64, so the float64
run compares with Keras in float32, at float32's tolerance, see ``tolerance_of``; ``{"positive": True}``: inputs in [0.5, 2.5], for ``sqrt`` and
``log``); they live in ``parity_tests/layer_cases/``, one module per Keras family.
'same' cases include odd padding totals (e.g. n=7, k=2, s=1: total 1; n=8, k=3, s=2: total 1,
the extra row/column going at the bottom/right).
"""

import numpy as np

import scratch
from parity_tests.layer_cases import (  # noqa: E402  (one list of cases per Keras family)
    activations,
    applications,
    augmentation,
    convolutional,
    core,
    merging,
    normalization,
    ops,
    pooling,
    preprocessing,
    regularization,
    reshaping,
)

LAYER_CASES = [case for family in (convolutional, pooling, core, reshaping, activations, regularization,
                                   normalization, preprocessing, merging, applications, augmentation, ops)
               for case in family.CASES]
# Every layer class the engine has must have at least one case (test_every_layer_type_is_covered).
LAYER_TYPES = tuple(sorted(scratch.LAYERS))
DTYPES = ("float32", "float64")


def make_layer(cls_name, kwargs, dtype, seed=0):
    """A scratch layer named like Keras names it, built with a seeded random kernel and bias.

    Biases are drawn at random too (zeros would hide a bias bug).
    """
    layer = getattr(scratch, cls_name)(**kwargs, dtype=dtype)
    layer.name = scratch.models.functional.snake_case(cls_name)
    layer.init_seed = seed
    return layer


def layer_input(shape, dtype, seed=0, relu_zeros=False):
    """Standard-normal input; with ``relu_zeros`` a quarter of it exactly 0 (ReLU's kink)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if relu_zeros:
        x[rng.random(shape) < 0.25] = 0.0
    return x.astype(dtype)


def randomize_bias(layer, seed=0):
    """Random biases, and random normalization weights (ones and zeros would hide a missing
    ``gamma``, ``beta`` or moving statistic): ``beta``, ``moving_mean`` standard normal, ``gamma``
    in [0.5, 1.5] with a random sign, ``moving_variance`` in [0.5, 2] (a variance stays positive)."""
    if "bias" in layer.params:
        layer.params["bias"][...] = np.random.default_rng(seed + 1).standard_normal(layer.params["bias"].shape)
    rng = np.random.default_rng([seed, 7])
    weights = layer._weights()
    for key, draw in (("gamma", lambda n: rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)),
                      ("beta", rng.standard_normal), ("moving_mean", rng.standard_normal),
                      ("moving_variance", lambda n: rng.uniform(0.5, 2.0, n))):
        if key in weights:
            weights[key][...] = draw(weights[key].shape)


MODELS = ("blog", "lenet")
MODEL_BATCH = 16


def _bn_net(name, frozen=False):
    """A small convnet with BatchNormalization after each convolution (its moving statistics are
    compared after every training step); ``frozen``: the first Conv2D and BatchNormalization
    are ``trainable=False`` (their weights must stay bit-identical in both engines).

    The convolutions have no bias: in training mode BatchNormalization subtracts the batch
    mean, so a bias before it has a gradient of exactly 0 mathematically, which both engines
    compute as rounding noise (~1e-16) that no relative tolerance can compare."""
    off = {"trainable": False} if frozen else {}
    return {
        "name": name, "input_shape": [28, 28, 1], "preprocess": "center",
        "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
        "layers": [
            {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3], "use_bias": False, **off}},
            {"class_name": "BatchNormalization", "config": {"momentum": 0.9, **off}},
            {"class_name": "ReLU", "config": {}},
            {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
            {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [3, 3], "use_bias": False}},
            {"class_name": "BatchNormalization", "config": {}},
            {"class_name": "ReLU", "config": {}},
            {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
            {"class_name": "Flatten", "config": {}},
            {"class_name": "Dense", "config": {"units": 10}},
        ],
    }


BN_NET = _bn_net("bn-net")
BN_FROZEN_NET = _bn_net("bn-frozen-net", frozen=True)

TRAIN_RUNS = [  # (architecture, optimizer, batch size, dtypes the test suite runs; the report runs both)
    ("blog", "sgd", 32, DTYPES),
    ("blog", "momentum", 32, DTYPES),
    ("blog", "nesterov", 32, DTYPES),
    ("blog", "adam", 32, DTYPES),
    ("lenet", "adam", 4, ("float64",)),  # lenet steps are slow in NumPy; the report adds float32
    # Keras's optimizer options (weight decay, AdamW, the three clippings): float64 in the tests
    # (the exact equations), the report adds float32
    ("blog", "adamw", 16, ("float64",)),
    ("blog", "sgd-weight-decay", 16, ("float64",)),
    ("blog", "sgd-clipnorm", 16, ("float64",)),
    ("blog", "adam-global-clipnorm", 16, ("float64",)),
    ("blog", "rmsprop-clipvalue", 16, ("float64",)),
    # BatchNormalization: batch statistics, moving statistics compared after every step. float64
    # only in the suite: in float32 the two engines drift apart to ~3e-4 of scale by step 50 (over
    # TRAIN_FLOAT32), while each float32 engine is ~1e-1 from the float64 run: dividing by the
    # batch's standard deviation amplifies rounding, step after step, in both engines alike.
    (BN_NET, "momentum", 16, ("float64",)),
    (activations.PRELU_ARCH, "adam", 8, ("float64",)),  # PReLU's alpha trained (one per channel)
]
# Runs the report keeps to float64 too, with the reason it prints: float32 cannot be compared there.
REPORT_FLOAT64_ONLY = {
    BN_NET["name"]: "float32 rounding amplified by the batch statistics: each float32 engine ends ~1e-1 from the "
                    "float64 run after 50 steps, so their 3e-4 from each other says nothing (see cases.TRAIN_RUNS)",
}


# -- running a case (tests and report share these) -------------------------------------------
def run_layer_case(case, dtype, seed=0):
    """``(scratch, keras)`` named arrays of one layer case: output, dL/dx, parameter gradients."""
    from parity_tests import twins

    _, cls_name, kwargs, shape, *rest = case
    options = rest[0] if rest else {}
    layer = make_layer(cls_name, kwargs, dtype, seed)
    if isinstance(shape, list):  # a merge layer: one input per shape
        layer.build([(None,) + s[1:] for s in shape])
        x = [layer_input(s, dtype, seed + i) for i, s in enumerate(shape)]
    else:
        layer.build((None,) + shape[1:])
        x = layer_input(shape, dtype, seed, relu_zeros=cls_name == "ReLU")
    x = shape_input(x, options)
    if layer.INTEGER_INPUT:  # indices (an Embedding's), each one seen several times
        x = np.random.default_rng(seed).integers(0, kwargs["input_dim"], shape).astype(options.get("index_dtype",
                                                                                                   "int32"))
    randomize_bias(layer, seed)
    keras_dtype = "float32" if options.get("keras_float32") else None
    return twins.layer_parity(layer, x, seed=seed + 2, training=options.get("training", False),
                              keras_dtype=keras_dtype)


def tolerance_of(case, dtype):
    """The layer tolerance of a case in ``dtype``: float32's for a float64 run compared with Keras in
    float32 (a ``keras_float32`` case)."""
    from parity_tests import tolerances

    options = case[4] if len(case) > 4 else {}
    return tolerances.for_dtype("LAYER", "float32" if options.get("keras_float32") else dtype)


def shape_input(x, options):
    """The options that shape a case's input values (each array of a list alike): ``integers`` (small
    integers: exact ties, e.g. several maxima in a window) and ``positive`` (in [0.5, 2.5])."""
    if isinstance(x, list):
        return [shape_input(a, options) for a in x]
    if options.get("integers"):
        x = np.round(x * options["integers"])
    if options.get("positive"):
        x = (0.5 + np.abs(x)).clip(None, 2.5).astype(x.dtype)
    return x


def case_by_id(case_id):
    return next(c for c in LAYER_CASES if c[0] == case_id)


def run_model_case(arch, dtype, masked, seed=0):
    """``(scratch, keras)`` output, loss and all gradients of ``arch`` on a real MNIST batch.

    ``masked``: training mode with the same injected dropout mask in both engines; else
    inference mode (dropout off).
    """
    from parity_tests import twins

    model = scratch.build_model(arch, dtype=dtype, seed=seed)
    x, y = twins.mnist_batches(dtype, 1, MODEL_BATCH, model.preprocess, seed=seed)[0]
    masks = twins.dropout_masks(model, len(x), seed) if masked else None
    return twins.model_parity(model, x, y, training=masked, masks=masks)


def run_training(arch, optimizer, batch, dtype, steps, seed=0):
    """``[(step, scratch weights, keras weights)]`` after each of ``steps`` training steps."""
    from parity_tests import twins

    preprocess = scratch.get_architecture(arch)["preprocess"]
    batches = twins.mnist_batches(dtype, steps, batch, preprocess, seed=seed)
    return [(step, sw, kw) for step, sw, kw, _, _ in twins.train_parity(arch, dtype, optimizer, batches, seed)]
