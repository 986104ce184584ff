"""Parity cases of the activations layers: ``(id, class name, kwargs, input shape[, options])``.

Every activation function by name through ``Activation``, every activation layer over its
options, and every activation function as ``activation=`` of Dense, Conv2D, DepthwiseConv2D and
SeparableConv2D (the layers that take one). Inputs are standard normal (ReLU
cases get exact zeros); ``parity_tests/test_activations_parity.py`` adds inputs on the kinks and in
the saturated/overflow ranges.
"""

import scratch

# every name the engine has, aliases included (they are the same functions)
ACTIVATION_NAMES = tuple(sorted(scratch.activations.REGISTRY))

CASES = (
    [(f"activation-{name}", "Activation", {"activation": name}, (2, 4, 3, 5)) for name in ACTIVATION_NAMES]
    + [
        ("relu", "ReLU", {}, (2, 5, 4, 3)),
        ("relu-max6", "ReLU", {"max_value": 6.0}, (2, 5, 4, 3)),
        ("relu-max0.5", "ReLU", {"max_value": 0.5}, (2, 5, 4, 3)),
        ("relu-slope", "ReLU", {"negative_slope": 0.1}, (2, 5, 4, 3)),
        ("relu-threshold", "ReLU", {"threshold": 0.5}, (2, 5, 4, 3)),
        ("relu-slope-max", "ReLU", {"negative_slope": 0.2, "max_value": 1.0}, (2, 5, 4, 3)),
        ("relu-slope-max6", "ReLU", {"negative_slope": 0.2, "max_value": 6.0}, (2, 5, 4, 3)),
        ("relu-all", "ReLU", {"negative_slope": 0.3, "max_value": 1.5, "threshold": 0.25}, (2, 5, 4, 3)),
        ("leaky-relu", "LeakyReLU", {}, (2, 5, 4, 3)),
        ("leaky-relu-0.05", "LeakyReLU", {"negative_slope": 0.05}, (4, 10)),
        ("elu", "ELU", {}, (2, 5, 4, 3)),
        ("elu-alpha0.5", "ELU", {"alpha": 0.5}, (4, 10)),
        ("prelu", "PReLU", {}, (2, 5, 4, 3)),
        ("prelu-shared12", "PReLU", {"shared_axes": [1, 2]}, (2, 5, 4, 3)),
        ("prelu-shared3", "PReLU", {"shared_axes": 3}, (2, 5, 4, 3)),
        ("prelu-dense", "PReLU", {}, (4, 10)),
        ("softmax", "Softmax", {}, (4, 10)),
        ("softmax-axis1", "Softmax", {"axis": 1}, (2, 5, 4, 3)),
        ("softmax-axis-list", "Softmax", {"axis": [1, 2]}, (2, 5, 4, 3)),
        ("softmax-axis-single-list", "Softmax", {"axis": [-2]}, (2, 5, 4, 3)),
    ]
    # every activation on every layer that takes activation= (each maps the name to Keras itself)
    + [(f"dense-{a}", "Dense", {"units": 6, "activation": a}, (4, 7)) for a in ACTIVATION_NAMES]
    + [(f"conv2d-{a}", "Conv2D", {"filters": 3, "kernel_size": (3, 3), "activation": a}, (2, 6, 5, 2))
       for a in ACTIVATION_NAMES]
    + [(f"depthwise-{a}", "DepthwiseConv2D", {"kernel_size": (3, 3), "activation": a}, (2, 6, 5, 2))
       for a in ACTIVATION_NAMES]
    + [(f"separable-{a}", "SeparableConv2D", {"filters": 3, "kernel_size": (3, 3), "activation": a}, (2, 6, 5, 2))
       for a in ACTIVATION_NAMES]
)

# A small network with a PReLU (one alpha per channel), trained 50 steps in both engines.
PRELU_ARCH = {
    "name": "prelu-net",
    "description": "Conv 3x3 x4 -> PReLU(shared_axes=[1, 2]) -> MaxPool 2 -> Flatten -> Dense 10 logits",
    "input_shape": [28, 28, 1],
    "preprocess": "center",
    "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
    "layers": [
        {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3]}},
        {"class_name": "PReLU", "config": {"shared_axes": [1, 2]}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 10}},
    ],
}
