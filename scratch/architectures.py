"""Architectures as plain descriptions, named in a registry.

A description is JSON-compatible data (no NumPy objects), so the same dict builds the
scratch model (``scratch.build_model``) and its Keras twin (``keras_ref.build_keras``)::

    {
      "name": "blog",
      "input_shape": [28, 28, 1],          # one image, channels-last, no batch axis
      "preprocess": "center",              # "center": x/255 - 0.5   "scale": x/255   "raw": x
      "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": true},
      "layers": [{"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 3}}, ...]
    }

Layer configs use Keras's argument names; anything left out takes Keras's default.

The input may also be given as Keras writes it in a ``Sequential``'s config: a first layer
``{"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1]}}`` (or
``"shape": [28, 28, 1]``, ``keras.Input``'s argument). It is the identity, so ``validate``
consumes it into ``input_shape`` (as Keras's ``model.layers`` leaves the input layer out),
and scratch models, their configs and ``to_keras``/``from_keras`` never hold one. With both
given, they must agree.
"""

import copy
import json

PREPROCESS = ("center", "scale", "raw")
# Each preprocessing as the Keras layer that computes it, ``Rescaling(scale, offset)``: a ``.keras``
# file starts with it, so the file takes raw 0-255 pixels in plain Keras (see ``keras_ref.files``).
PREPROCESS_RESCALING = {"center": (1 / 255, -0.5), "scale": (1 / 255, 0.0), "raw": (1.0, 0.0)}

BLOG = {
    "name": "blog",
    "description": "the seed tutorial network: Conv 3x3 x8 (valid, no activation) -> "
                   "MaxPool 2 -> Dense 10 logits",
    "input_shape": [28, 28, 1],
    "preprocess": "center",
    "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
    "layers": [
        {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [3, 3], "padding": "valid"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 10}},
    ],
}

LENET = {
    "name": "lenet",
    "description": "the classic Keras MNIST convnet: Conv 32 relu -> MaxPool -> Conv 64 relu "
                   "-> MaxPool -> Flatten -> Dropout 0.5 -> Dense 10 logits",
    "input_shape": [28, 28, 1],
    "preprocess": "scale",
    "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True},
    "layers": [
        {"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Conv2D", "config": {"filters": 64, "kernel_size": [3, 3], "activation": "relu"}},
        {"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2]}},
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dropout", "config": {"rate": 0.5}},
        {"class_name": "Dense", "config": {"units": 10}},
    ],
}

REGISTRY = {"blog": BLOG, "lenet": LENET}


def get_architecture(arch):
    """A deep copy of a description: from a registry name, a JSON file path, or a dict.

    Raises ``ValueError`` naming the problem (unknown name, unreadable file, missing keys).
    """
    if isinstance(arch, dict):
        desc = copy.deepcopy(arch)
        source = "architecture dict"
    elif isinstance(arch, str) and arch in REGISTRY:
        return copy.deepcopy(REGISTRY[arch])
    elif isinstance(arch, str) and arch.endswith(".keras"):
        raise ValueError(f"architecture {arch}: a .keras file is read with Keras: keras_ref.load_weights_file({arch!r})"
                         f".get_config() gives its description (train.py --arch does this)")
    elif isinstance(arch, str) and arch.endswith(".json"):
        source = f"architecture file {arch}"
        try:
            with open(arch) as f:
                desc = json.load(f)
        except OSError as e:
            raise ValueError(f"{source}: cannot read it ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: not valid JSON ({e})") from None
    else:
        raise ValueError(f"unknown architecture {arch!r}; use one of {sorted(REGISTRY)} or a .json file")
    return validate(desc, source)


def validate(desc, source="architecture"):
    """Check the keys of a description and fill the defaults; returns it."""
    if not isinstance(desc, dict):
        raise ValueError(f"{source}: expected a JSON object, received {type(desc).__name__}")
    if "inputs" in desc and "outputs" in desc:
        return _validate_graph(desc, source)
    if "layers" not in desc:
        raise ValueError(f"{source}: missing key 'layers'")
    _consume_input_layer(desc, source)
    if "input_shape" not in desc:
        raise ValueError(f"{source}: missing key 'input_shape' (or a first layer of class InputLayer)")
    shape = desc["input_shape"]
    if not isinstance(shape, list) or not shape or not all(
            d is None or isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"{source}: input_shape must be a list of positive ints (or null: any size) without the "
                         f"batch axis ([height, width, channels] for images), received {shape!r}")
    if not isinstance(desc["layers"], list) or not desc["layers"]:
        raise ValueError(f"{source}: 'layers' must be a non-empty list of layer configs")
    for i, spec in enumerate(desc["layers"]):
        if not isinstance(spec, dict) or "class_name" not in spec:
            raise ValueError(f"{source}: layer {i} must be {{'class_name': ..., 'config': {{...}}}}, received {spec!r}")
        if spec["class_name"] == "InputLayer":
            raise ValueError(f"{source}: layer {i} is an InputLayer; an InputLayer may only be the first layer")
        spec.setdefault("config", {})
    desc.setdefault("name", "custom")
    rescales = desc["layers"][0]["class_name"] == "Rescaling"
    desc.setdefault("preprocess", "raw" if rescales else "scale")
    if desc["preprocess"] not in PREPROCESS:
        raise ValueError(f"{source}: preprocess must be one of {PREPROCESS}, received {desc['preprocess']!r}")
    if rescales and desc["preprocess"] != "raw":
        raise ValueError(f"{source}: the first layer is a Rescaling and preprocess is {desc['preprocess']!r}: the "
                         f"pixels would be scaled twice; use preprocess 'raw' (the model takes 0-255 pixels) or "
                         f"drop the Rescaling layer")
    desc.setdefault("loss", {"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    return desc


INPUT_LAYER_FLAGS = ("sparse", "ragged", "optional")  # Keras InputLayer options the engine does not have


def _consume_input_layer(desc, source):
    """Move a leading ``InputLayer`` of ``desc["layers"]`` into ``desc["input_shape"]``."""
    layers = desc["layers"]
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], dict) \
            or layers[0].get("class_name") != "InputLayer":
        return
    config = layers[0].get("config") or {}
    label = f"{source}: InputLayer"
    if not isinstance(config, dict):
        raise ValueError(f"{label}: config must be a dict, received {config!r}")
    for flag in INPUT_LAYER_FLAGS:
        if config.get(flag):
            raise ValueError(f"{label}: {flag}={config[flag]!r} is not supported; the scratch engine takes dense "
                             f"images (batch, height, width, channels)")
    given = [k for k in ("batch_shape", "shape", "batch_input_shape") if config.get(k) is not None]
    if len(given) != 1:
        raise ValueError(f"{label}: expected exactly one of 'batch_shape' (batch axis first, null) or 'shape' "
                         f"(no batch axis), received {config!r}")
    key = given[0]
    value = config[key]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{label}: {key} must be a list, received {value!r}")
    if key == "shape":
        shape = list(value)
    else:
        if not value or value[0] is not None:
            raise ValueError(f"{label}: {key} must start with the batch axis as null (any batch size), "
                             f"received {list(value)!r}")
        shape = list(value[1:])
    if "input_shape" in desc and list(desc["input_shape"]) != shape:
        raise ValueError(f"{source}: input_shape {desc['input_shape']!r} and the InputLayer's {key} "
                         f"{list(value)!r} (input shape {shape!r}) disagree")
    desc["input_shape"] = shape
    desc["layers"] = layers[1:]


def _validate_graph(desc, source):
    """A graph model's description (``scratch.Model.get_config()``): inputs, layers with their
    calls, outputs; the same ``name``, ``preprocess`` and ``loss`` defaults as a Sequential's."""
    for key, kind in (("inputs", list), ("layers", list), ("outputs", list)):
        if not isinstance(desc.get(key), kind) or not desc[key]:
            raise ValueError(f"{source}: a graph description needs a non-empty list {key!r}")
    for i, spec in enumerate(desc["layers"]):
        if not isinstance(spec, dict) or "class_name" not in spec or "inbound_nodes" not in spec:
            raise ValueError(f"{source}: graph layer {i} must have 'class_name', 'config' and 'inbound_nodes'")
        spec.setdefault("config", {})
    desc.setdefault("name", "functional")
    desc.setdefault("preprocess", "scale")
    if desc["preprocess"] not in PREPROCESS:
        raise ValueError(f"{source}: preprocess must be one of {PREPROCESS}, received {desc['preprocess']!r}")
    desc.setdefault("loss", {"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    return desc
