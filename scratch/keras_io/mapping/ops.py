"""Operations (Keras's ``keras/src/ops``): the ``keras.ops`` calls and tensor operators a Functional model
records, by their Keras operation class, <-> ``scratch.Op`` (and, as before, ``ConstantOp`` for
``x + 3.0``-like arithmetic and the merge layers for ``a + b``, ``a - b``, ``a * b`` of one rank).

Activation functions called on tensors (``ops.relu(x)``, ``keras.activations.swish(x)``) become the
activation layers computing the same (``Activation``, ``ReLU``, ``ELU``, ``LeakyReLU``, ``Softmax``).

From Keras: ``@op_from_config("Sum", ...)`` entries take the operation's config (``cfg``: ``axis``,
``keepdims``, ``x_min``...) and its call's arguments (``args``: tensors as ``TensorArg``, numbers,
an index for ``GetItem``) and return the scratch layer. To Keras: ``@op_to_call("Op")`` gives the
``keras.ops`` call that replays a scratch ``Op`` (``keras_ref`` calls it on Keras tensors).
"""

import numbers

from ... import layers
from ...layers.ops import decode_key, encode_key
from ..config import TensorArg, op_from_config, op_to_call

UNARY = {"Negative": "negative", "Sqrt": "sqrt", "Square": "square", "Absolute": "abs", "Exp": "exp", "Log": "log"}
BINARY = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide", "TrueDivide": "divide",
          "Maximum": "maximum", "Minimum": "minimum", "Power": "power"}
MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}  # a + b of one rank: the merge layer
CONSTANT_OPS = ("add", "subtract", "multiply", "divide")  # x + 3.0: ConstantOp (MobileNetV3's hard sigmoid)
REDUCTIONS = {"Sum": "sum", "Mean": "mean", "Max": "max", "Min": "min"}


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _expect_args(cfg, args, pattern):
    """``args`` must be ``pattern`` (``"T"`` a tensor, ``"[T]"`` a list of tensors, ``"?"`` anything)."""
    ok = len(args) == len(pattern) and all(
        p == "?" or (p == "T" and isinstance(a, TensorArg))
        or (p == "[T]" and isinstance(a, (list, tuple)) and a and all(isinstance(t, TensorArg) for t in a))
        for a, p in zip(args, pattern))
    if not ok:
        shown = [("tensor" if isinstance(a, TensorArg) else repr(a)) for a in args]
        cfg.refuse("arguments", shown, f"({', '.join('tensor' if p == 'T' else 'list of tensors' if p == '[T]' else 'value' for p in pattern)})")


@op_from_config(*UNARY)
def unary_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.Op(UNARY[cfg.class_name], **common)


@op_from_config(*BINARY)
def binary_from_config(cfg, args, common):
    op = BINARY[cfg.class_name]
    if len(args) != 2:
        _expect_args(cfg, args, "TT")
    a, b = args
    if isinstance(a, TensorArg) and isinstance(b, TensorArg):
        if cfg.class_name in MERGES and a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape):
            return getattr(layers, MERGES[cfg.class_name])(**common)
        return layers.Op(op, **common)
    tensor, value, reverse = (a, b, False) if isinstance(a, TensorArg) else (b, a, True)
    if not isinstance(tensor, TensorArg) or not _number(value):
        cfg.refuse("arguments", [type(a).__name__, type(b).__name__], "two tensors, or a tensor and a number")
    if op in CONSTANT_OPS:
        return layers.ConstantOp(op, float(value), reverse=reverse, **common)
    return layers.Op(op, constant=float(value), reverse=reverse, **common)


@op_from_config(*REDUCTIONS)
def reduction_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    if cfg.get("initial") is not None:
        cfg.refuse("initial", cfg.get("initial"), "None")
    axis = cfg.get("axis")
    return layers.Op(REDUCTIONS[cfg.class_name], axis=list(axis) if isinstance(axis, (list, tuple)) else axis,
                     keepdims=bool(cfg.get("keepdims", False)), **common)


@op_from_config("Clip")
def clip_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.Op("clip", x_min=cfg["x_min"], x_max=cfg["x_max"], **common)


@op_from_config("Reshape")
def reshape_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.Op("reshape", newshape=list(cfg["newshape"]), **common)


@op_from_config("Transpose")
def transpose_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    axes = cfg.get("axes")
    return layers.Op("transpose", axes=None if axes is None else list(axes), **common)


@op_from_config("ExpandDims", "Squeeze")
def axis_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    axis = cfg.get("axis")
    return layers.Op("expand_dims" if cfg.class_name == "ExpandDims" else "squeeze",
                     axis=list(axis) if isinstance(axis, (list, tuple)) else axis, **common)


@op_from_config("Concatenate", "Stack")
def join_from_config(cfg, args, common):
    _expect_args(cfg, args, ["[T]"])
    return layers.Op(cfg.class_name.lower(), axis=int(cfg.get("axis", 0)), **common)


@op_from_config("Matmul")
def matmul_from_config(cfg, args, common):
    _expect_args(cfg, args, "TT")
    return layers.Op("matmul", **common)


@op_from_config("Cast")
def cast_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    cfg.expect("dtype", (common["dtype"],))  # only to the model's own dtype
    return layers.Op("cast", **common)


@op_from_config("GetItem")
def getitem_from_config(cfg, args, common):
    if len(args) != 2 or not isinstance(args[0], TensorArg):
        _expect_args(cfg, args, "T?")
    key = args[1] if isinstance(args[1], tuple) else tuple(args[1]) if isinstance(args[1], list) else (args[1],)
    for k in key:
        if not (k is None or k is Ellipsis or (isinstance(k, int) and not isinstance(k, bool)) or (
                isinstance(k, slice) and all(v is None or isinstance(v, int) for v in (k.start, k.stop, k.step)))):
            cfg.refuse("index", k if not isinstance(k, TensorArg) else "a tensor",
                       "ints, slices of ints, None and ... (no tensors or arrays as indices)")
    return layers.Op("getitem", key=encode_key(key), **common)


# -- activation functions called on tensors (ops.relu(x), keras.activations.swish(x)) ---------------
# They are the layers' activations: the scratch node is the activation layer computing the same, and
# goes back to Keras as that layer.
ACTIVATION_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Silu": "silu",
                  "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu", "Softplus": "softplus",
                  "Softsign": "softsign", "Selu": "selu", "LogSigmoid": "log_sigmoid"}


@op_from_config(*ACTIVATION_OPS)
def activation_op_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.Activation(ACTIVATION_OPS[cfg.class_name], **common)


@op_from_config("Gelu")
def gelu_op_from_config(cfg, args, common):  # ops.gelu's default is the tanh form
    _expect_args(cfg, args, "T")
    return layers.Activation("gelu_approximate" if cfg.get("approximate", True) else "gelu", **common)


@op_from_config("Elu")
def elu_op_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.ELU(alpha=float(cfg.get("alpha", 1.0)), **common)


@op_from_config("LeakyRelu")
def leaky_relu_op_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    return layers.LeakyReLU(negative_slope=float(cfg.get("negative_slope", 0.2)), **common)


@op_from_config("ReLU")  # keras.activations.relu(x, negative_slope, max_value, threshold) on a tensor
def relu_op_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    max_value = cfg.get("max_value")
    return layers.ReLU(max_value=None if max_value is None else float(max_value),
                       negative_slope=float(cfg.get("negative_slope", 0.0)), threshold=float(cfg.get("threshold", 0.0)),
                       **common)


@op_from_config("Softmax", "LogSoftmax")
def softmax_op_from_config(cfg, args, common):
    _expect_args(cfg, args, "T")
    axis = cfg.get("axis", -1)
    if cfg.class_name == "LogSoftmax":
        if axis != -1:
            cfg.refuse("axis", axis, "-1 (log_softmax over the last axis)")
        return layers.Activation("log_softmax", **common)
    if not isinstance(axis, int):
        cfg.refuse("axis", axis, "one axis")
    return layers.Softmax(axis=axis, **common)


# -- to Keras: the keras.ops call ----------------------------------------------------------------------


@op_to_call("Op")
def op_call(layer):
    """``(keras.ops function name, args, kwargs)`` of scratch ``Op`` ``layer``."""
    op, o = layer.op, layer.options
    x = TensorArg(0)
    if layer.constant is not None:
        c = layer.constant
        return op, ([c, x] if layer.reverse else [x, c]), {}
    if op in ("concatenate", "stack"):
        return op, [TensorArg("all")], {"axis": o["axis"]}
    if layer.takes_list:  # two tensors
        return op, [x, TensorArg(1)], {}
    if op == "getitem":
        return "__getitem__", [x, decode_key(layer.label, o["key"])], {}
    if op == "cast":
        return "cast", [x], {"dtype": layer.dtype.name}
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in o.items()}
    if op in ("reshape",):
        kwargs["newshape"] = tuple(-1 if d is None else d for d in kwargs["newshape"])
    return op, [x], kwargs
