"""Parity cases of ``Op``, the operations Keras records in a Functional model (``keras.ops`` calls and
tensor operators): ``(id, "Op", kwargs, input shape or [input shapes], options)``.

The Keras twin of each is a Functional model of the same ``keras.ops`` call, differentiated with
``tf.GradientTape`` (``keras_ref.functional.op_model``). Options: ``{"positive": True}`` draws the
inputs in [0.5, 2.5] (``sqrt``, ``log``, a power's base); ``{"integers": k}`` rounds ``k`` times
the inputs to integers, so values tie exactly (``max``, ``maximum``, ``clip`` at its bounds).
Broadcasting: ``(N, H, W, C)`` with ``(N, 1, 1, C)`` and ``(N, 1, W, 1)`` both ways.
"""

IMG = (2, 3, 4, 3)
POS = {"positive": True}

CASES = [
    # elementwise
    ("op-negative", "Op", dict(op="negative"), IMG),
    ("op-sqrt", "Op", dict(op="sqrt"), IMG, POS),
    ("op-square", "Op", dict(op="square"), IMG),
    ("op-abs", "Op", dict(op="abs"), IMG),
    ("op-exp", "Op", dict(op="exp"), IMG),
    ("op-log", "Op", dict(op="log"), IMG, POS),
    ("op-cast", "Op", dict(op="cast"), IMG),
    # two tensors, broadcast
    ("op-add-broadcast", "Op", dict(op="add"), [IMG, (2, 1, 1, 3)]),
    ("op-subtract-broadcast-both", "Op", dict(op="subtract"), [(2, 1, 4, 1), (2, 3, 1, 3)]),
    ("op-multiply", "Op", dict(op="multiply"), [IMG, IMG]),
    ("op-divide-broadcast", "Op", dict(op="divide"), [IMG, (2, 1, 4, 3)], POS),
    ("op-maximum-ties", "Op", dict(op="maximum"), [IMG, (2, 1, 1, 3)], {"integers": 1}),
    ("op-minimum-ties", "Op", dict(op="minimum"), [(2, 3, 4), (2, 3, 4)], {"integers": 1}),
    ("op-matmul", "Op", dict(op="matmul"), [(2, 3, 4), (2, 4, 5)]),
    ("op-matmul-4d", "Op", dict(op="matmul"), [(2, 3, 4, 2), (2, 3, 2, 4)]),
    # a tensor and a number
    ("op-power-2", "Op", dict(op="power", constant=2.0), IMG),
    ("op-power-half", "Op", dict(op="power", constant=0.5), IMG, POS),
    ("op-power-base", "Op", dict(op="power", constant=2.0, reverse=True), IMG),
    ("op-divide-reverse", "Op", dict(op="divide", constant=1.0, reverse=True), IMG, POS),
    ("op-maximum-constant", "Op", dict(op="maximum", constant=0.0), IMG, {"integers": 1}),
    ("op-minimum-constant-first", "Op", dict(op="minimum", constant=1.0, reverse=True), IMG, {"integers": 1}),
    ("op-subtract-constant", "Op", dict(op="subtract", constant=0.5, reverse=True), IMG),
    # reductions
    ("op-sum-last-keepdims", "Op", dict(op="sum", axis=-1, keepdims=True), IMG),
    ("op-mean-spatial", "Op", dict(op="mean", axis=[1, 2]), IMG),
    ("op-mean-all-but-batch", "Op", dict(op="mean", axis=[1, 2, 3], keepdims=True), IMG),
    ("op-max-ties", "Op", dict(op="max", axis=-1), IMG, {"integers": 1}),
    ("op-min-keepdims", "Op", dict(op="min", axis=[1, 3], keepdims=True), IMG, {"integers": 1}),
    ("op-clip", "Op", dict(op="clip", x_min=-1.0, x_max=1.0), IMG, {"integers": 2}),
    # moving values around
    ("op-reshape", "Op", dict(op="reshape", newshape=[-1, 12, 3]), IMG),
    ("op-transpose", "Op", dict(op="transpose", axes=[0, 3, 1, 2]), IMG),
    ("op-expand-dims", "Op", dict(op="expand_dims", axis=-1), (2, 3, 4)),
    ("op-squeeze", "Op", dict(op="squeeze", axis=2), (2, 3, 1, 4)),
    ("op-concatenate", "Op", dict(op="concatenate", axis=-1), [IMG, (2, 3, 4, 2)]),
    ("op-stack", "Op", dict(op="stack", axis=1), [(2, 3, 4)] * 3),
    ("op-getitem-channels", "Op", dict(op="getitem", key=[[None, None, None], [1, 3, None]]), (2, 4, 3)),
    ("op-getitem-ellipsis-step", "Op", dict(op="getitem", key=["...", [None, None, 2]]), IMG),
    ("op-getitem-int-newaxis", "Op", dict(op="getitem", key=[[None, None, None], 1, None, [None, None, -1]]), IMG),
]
