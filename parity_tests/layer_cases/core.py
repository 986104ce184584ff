"""Parity cases of the core layers: ``(id, class name, kwargs, input shape[, options])``."""

CASES = [
    # Dense: sizes, activations, bias
    ("dense", "Dense", dict(units=10), (4, 1352)),
    ("dense-relu", "Dense", dict(units=7, activation="relu"), (3, 12)),
    ("dense-softmax-nobias", "Dense", dict(units=5, activation="softmax", use_bias=False), (2, 9)),
    ("dense-batch1", "Dense", dict(units=3), (1, 4)),
    # ConstantOp: arithmetic with a number on a tensor (MobileNetV3's x + 3.0 and x * (1 / 6))
    ("constant-add", "ConstantOp", dict(op="add", value=3.0), (2, 4, 4, 3)),
    ("constant-multiply-sixth", "ConstantOp", dict(op="multiply", value=1 / 6), (2, 4, 4, 3)),
    ("constant-reverse-subtract", "ConstantOp", dict(op="subtract", value=1.5, reverse=True), (3, 5)),
    ("constant-divide", "ConstantOp", dict(op="divide", value=0.7), (3, 5)),
]

# Embedding: integer indices (int32, and int64), each seen several times (the scratch gradient is a
# scatter-add; an index's rows add up); on 1-D and 2-D index arrays
CASES += [
    ("embedding", "Embedding", dict(input_dim=7, output_dim=4), (3, 9)),
    ("embedding-int64-2d", "Embedding", dict(input_dim=5, output_dim=3), (2, 4, 6), {"index_dtype": "int64"}),
    ("embedding-one-index", "Embedding", dict(input_dim=1, output_dim=2), (2, 3)),
]
