"""Operations written on tensors in a Functional model (``keras/src/ops``): one graph node per call.

Keras 3 records a ``keras.ops`` call or a tensor operator on symbolic tensors (``a - b``,
``ops.sqrt(ops.sum(ops.square(d), axis=-1, keepdims=True))``, ``x[:, 1:3]``) as an operation
node of the model. ``Op`` is that node here: ``Op("sum", axis=-1, keepdims=True)`` called on a
tensor, ``Op("subtract")`` called on a list of two, ``Op("power", constant=2.0)`` on one tensor
and a number (``reverse=True``: the number comes first, ``2.0 ** x``).

Each operation is one entry of ``OPS``: its forward and backward written as the equations,
over ``xs`` (the list of input arrays), ``y`` (the output) and ``o`` (the options). The
backward rules are TensorFlow's (the Keras twin computes with them): ties of ``maximum`` and
``minimum`` go to the first argument, ``max``/``min`` over axes share ``dy`` equally among the
tied maxima, ``sqrt``'s derivative is ``0.5 dy / y``.

The batch axis is never reduced, moved, sliced or merged: an op that would do so is refused in
one line naming the layer and the option. Binary operations on two tensors broadcast as NumPy
(equal ranks: a 1 stretches); their gradients are summed back over the stretched axes.
"""

import numpy as np

from .base import Layer

__all__ = ["Op"]


def _unbroadcast(g, shape):
    """Sum ``g`` back to ``shape`` over the axes that were stretched (1 in ``shape``)."""
    if g.shape == tuple(shape):
        return g
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _broadcast_shape(label, a, b):
    if len(a) != len(b):
        raise ValueError(f"{label}: inputs of ranks {len(a)} and {len(b)} ({a}, {b}); the scratch engine broadcasts "
                         f"tensors of one rank only (the batch axis first in both)")
    out = []
    for i, (p, q) in enumerate(zip(a, b)):
        if p == 1 or p is None and q not in (None, 1):
            out.append(q)
        elif q == 1 or q is None or p == q:
            out.append(p)
        else:
            raise ValueError(f"{label}: inputs of shapes {a} and {b} do not broadcast (axis {i}: {p} and {q})")
    return tuple(out)


def _axes(label, axis, rank, name="axis"):
    """``axis`` (an int, a list or ``None`` for all) as sorted non-negative axes; the batch axis refused."""
    axes = list(range(rank)) if axis is None else [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -rank <= a < rank:
            raise ValueError(f"{label}: {name}={axis!r} is not an axis of a rank-{rank} input")
        out.append(a % rank)
    if 0 in out:
        raise ValueError(f"{label}: {name}={axis!r} includes the batch axis; the scratch engine keeps the batch "
                         f"axis first and whole")
    return tuple(sorted(set(out)))


# -- the operations -------------------------------------------------------------------------
class _Operation:
    """One operation: ``inputs`` (1, 2 or ``"list"``), its options with their defaults, and
    ``shape``/``forward``/``backward``. ``backward`` returns one gradient per input."""

    inputs = 1
    options = {}

    def check(self, label, o):
        pass

    def shape(self, label, shapes, o):
        return shapes[0]


class _Elementwise(_Operation):
    """``y = f(x)``, ``dx = df(x, y, dy)``."""

    def __init__(self, f, df):
        self.f, self.df = f, df

    def forward(self, xs, o):
        return self.f(xs[0])

    def backward(self, dy, xs, y, o):
        return [self.df(xs[0], y, dy)]


class _Binary(_Operation):
    """``y = f(x1, x2)`` with broadcasting; ``df(x1, x2, y, dy) -> (dx1, dx2)`` before un-broadcasting."""

    inputs = 2

    def __init__(self, f, df):
        self.f, self.df = f, df

    def shape(self, label, shapes, o):
        return _broadcast_shape(label, *shapes)

    def forward(self, xs, o):
        return self.f(xs[0], xs[1])

    def backward(self, dy, xs, y, o):
        return [_unbroadcast(g, x.shape) for g, x in zip(self.df(xs[0], xs[1], y, dy), xs)]


class _Reduce(_Operation):
    """``y = reduce(x, axis, keepdims)`` over non-batch axes."""

    options = {"axis": None, "keepdims": False}

    def __init__(self, kind):
        self.kind = kind

    def shape(self, label, shapes, o):
        axes = _axes(label, o["axis"], len(shapes[0]))
        return tuple(1 if i in axes else d for i, d in enumerate(shapes[0])
                     if o["keepdims"] or i not in axes)

    def forward(self, xs, o):
        axes = _axes("", o["axis"], xs[0].ndim)
        return getattr(np, self.kind)(xs[0], axis=axes, keepdims=o["keepdims"])

    def backward(self, dy, xs, y, o):
        x = xs[0]
        axes = _axes("", o["axis"], x.ndim)
        kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        dy, y = dy.reshape(kept), y.reshape(kept)
        if self.kind == "sum":  # dx = dy, spread over the reduced axes
            return [np.broadcast_to(dy, x.shape).copy()]
        if self.kind == "mean":  # dx = dy / count
            count = np.prod([x.shape[i] for i in axes])
            return [np.broadcast_to(dy, x.shape) / x.dtype.type(count)]
        # max / min: dy shared equally among the entries equal to the result (TensorFlow's rule)
        hits = (x == y).astype(x.dtype)
        return [hits / hits.sum(axis=axes, keepdims=True) * dy]


class _Power(_Binary):
    """``y = x1 ** x2`` with one side a constant: ``dx1 = dy * x2 * x1 ** (x2 - 1)``,
    ``dx2 = dy * y * log(x1)`` (0 where ``x1 <= 0``, as TensorFlow)."""

    def __init__(self):
        super().__init__(np.power, None)

    def backward(self, dy, xs, y, o):
        x1, x2 = xs
        d1 = dy * (x2 * np.power(x1, x2 - 1))
        safe = np.where(x1 > 0, x1, 1)
        d2 = dy * (y * np.where(x1 > 0, np.log(safe), 0))
        return [_unbroadcast(d1, x1.shape), _unbroadcast(d2, x2.shape)]


class _Clip(_Operation):
    """``y = min(max(x, x_min), x_max)``; ``dx = dy`` where ``x_min <= x <= x_max`` (TensorFlow's
    clip_by_value: the bounds themselves pass the gradient), else 0."""

    options = {"x_min": None, "x_max": None}

    def check(self, label, o):
        for k in ("x_min", "x_max"):
            if not _is_number(o[k]):
                raise ValueError(f"{label}: {k} must be a number, received {o[k]!r}")

    def forward(self, xs, o):
        t = xs[0].dtype.type
        return np.minimum(np.maximum(xs[0], t(o["x_min"])), t(o["x_max"]))

    def backward(self, dy, xs, y, o):
        t = xs[0].dtype.type
        x = xs[0]
        return [np.where((x >= t(o["x_min"])) & (x <= t(o["x_max"])), dy, 0).astype(dy.dtype)]


class _Reshape(_Operation):
    """``y = x.reshape(newshape)``, batch kept (``newshape[0] == -1``); ``dx = dy.reshape(x.shape)``."""

    options = {"newshape": None}

    def check(self, label, o):
        shape = o["newshape"]
        if (not isinstance(shape, (list, tuple)) or len(shape) < 2 or shape[0] not in (-1, None)
                or not all(isinstance(d, int) and d > 0 for d in shape[1:])):
            raise ValueError(f"{label}: newshape={shape!r}; the scratch engine reshapes to (-1, d1, ...) with "
                             f"positive sizes after the batch axis")

    def shape(self, label, shapes, o):
        inner = shapes[0][1:]
        want = tuple(o["newshape"][1:])
        if None not in inner and int(np.prod(inner)) != int(np.prod(want)):
            raise ValueError(f"{label}: cannot reshape {shapes[0]} to {(None,) + want} (the batch axis kept)")
        return (None,) + want

    def forward(self, xs, o):
        x = xs[0]
        return x.reshape((x.shape[0],) + tuple(o["newshape"][1:]))

    def backward(self, dy, xs, y, o):
        return [dy.reshape(xs[0].shape)]


class _Transpose(_Operation):
    """``y = x.transpose(axes)`` (``axes[0] == 0``); ``dx = dy.transpose(argsort(axes))``."""

    options = {"axes": None}

    def shape(self, label, shapes, o):
        axes = o["axes"]
        rank = len(shapes[0])
        if axes is None or sorted(a % rank for a in axes) != list(range(rank)) or axes[0] % rank != 0:
            raise ValueError(f"{label}: axes={axes!r}; the scratch engine transposes with the batch axis first "
                             f"(axes = [0, ...], a permutation of the {rank} axes)")
        return tuple(shapes[0][a % rank] for a in axes)

    def forward(self, xs, o):
        return xs[0].transpose([a % xs[0].ndim for a in o["axes"]])

    def backward(self, dy, xs, y, o):
        return [dy.transpose(np.argsort([a % xs[0].ndim for a in o["axes"]]))]


class _ExpandDims(_Operation):
    """``y = x`` with a new axis of size 1 at ``axis`` (not before the batch axis); ``dx = dy.reshape(x.shape)``."""

    options = {"axis": None}

    def shape(self, label, shapes, o):
        rank = len(shapes[0]) + 1
        axis = _axes(label, o["axis"], rank)
        out = list(shapes[0])
        for a in axis:
            out.insert(a, 1)
        return tuple(out)

    def forward(self, xs, o):
        return np.expand_dims(xs[0], _axes("", o["axis"], xs[0].ndim + 1))

    def backward(self, dy, xs, y, o):
        return [dy.reshape(xs[0].shape)]


class _Squeeze(_Operation):
    """``y = x`` without the size-1 ``axis`` (given: not the batch axis); ``dx = dy.reshape(x.shape)``."""

    options = {"axis": None}

    def shape(self, label, shapes, o):
        if o["axis"] is None:
            raise ValueError(f"{label}: axis=None would squeeze the batch axis of a batch of 1; give the axis")
        axes = _axes(label, o["axis"], len(shapes[0]))
        for a in axes:
            if shapes[0][a] not in (1, None):
                raise ValueError(f"{label}: cannot squeeze axis {a} of size {shapes[0][a]} (input shape {shapes[0]})")
        return tuple(d for i, d in enumerate(shapes[0]) if i not in axes)

    def forward(self, xs, o):
        return np.squeeze(xs[0], _axes("", o["axis"], xs[0].ndim))

    def backward(self, dy, xs, y, o):
        return [dy.reshape(xs[0].shape)]


class _Join(_Operation):
    """``concatenate`` (``y = [x1 x2 ...]`` along ``axis``; ``dx_i`` = its slice of ``dy``) and
    ``stack`` (a new ``axis``; ``dx_i = dy[..., i, ...]``)."""

    inputs = "list"
    options = {"axis": 0}

    def __init__(self, kind):
        self.kind = kind

    def shape(self, label, shapes, o):
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"{label}: inputs of different ranks {shapes}")
        axis = _axes(label, o["axis"], rank + (self.kind == "stack"))[0]
        if self.kind == "stack":
            if len({s for s in shapes}) > 1:
                raise ValueError(f"{label}: stack needs inputs of one shape, received {shapes}")
            return shapes[0][:axis] + (len(shapes),) + shapes[0][axis:]
        for i in range(1, rank):
            if i != axis and len({s[i] for s in shapes} - {None}) > 1:
                raise ValueError(f"{label}: inputs {shapes} differ on axis {i} (concatenating on axis {axis})")
        sizes = [s[axis] for s in shapes]
        total = None if None in sizes else sum(sizes)
        return tuple(total if i == axis else next((s[i] for s in shapes if s[i] is not None), None)
                     for i in range(rank))

    def forward(self, xs, o):
        axis = _axes("", o["axis"], xs[0].ndim + (self.kind == "stack"))[0]
        return (np.stack if self.kind == "stack" else np.concatenate)(xs, axis=axis)

    def backward(self, dy, xs, y, o):
        axis = _axes("", o["axis"], xs[0].ndim + (self.kind == "stack"))[0]
        if self.kind == "stack":
            return [np.take(dy, i, axis=axis) for i in range(len(xs))]
        ends = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.split(dy, ends, axis=axis)


class _Matmul(_Operation):
    """``y = x1 @ x2`` over the last two axes (batch axis and any between broadcast);
    ``dx1 = dy @ x2^T``, ``dx2 = x1^T @ dy``."""

    inputs = 2

    def shape(self, label, shapes, o):
        a, b = shapes
        if len(a) < 3 or len(b) < 3:
            raise ValueError(f"{label}: matmul of shapes {a} and {b}; the scratch engine multiplies matrices of "
                             f"each sample (rank 3 or more, batch axis first)")
        if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
            raise ValueError(f"{label}: matmul of shapes {a} and {b}: inner sizes {a[-1]} and {b[-2]} differ")
        return _broadcast_shape(label, a[:-2], b[:-2]) + (a[-2], b[-1])

    def forward(self, xs, o):
        return np.matmul(xs[0], xs[1])

    def backward(self, dy, xs, y, o):
        x1, x2 = xs
        d1 = np.matmul(dy, np.swapaxes(x2, -1, -2))
        d2 = np.matmul(np.swapaxes(x1, -1, -2), dy)
        return [_unbroadcast(d1, x1.shape), _unbroadcast(d2, x2.shape)]


class _Cast(_Operation):
    """``y = x`` cast to the layer's own dtype, the model's (``dx = dy``): Keras's ``ops.cast(x, dtype)``
    to any other dtype is refused where it is read (``scratch.keras_io.mapping.ops``)."""

    def forward(self, xs, o):
        return xs[0].copy()

    def backward(self, dy, xs, y, o):
        return [dy]


class _GetItem(_Operation):
    """``y = x[key]`` (slices, integers, ``None``, ``...``; the batch axis taken whole);
    ``dx`` = zeros with ``dy`` written back where ``y`` was read."""

    options = {"key": None}

    def check(self, label, o):
        decode_key(label, o["key"])

    def shape(self, label, shapes, o):
        return indexed_shape(label, shapes[0], decode_key(label, o["key"]))

    def forward(self, xs, o):
        return xs[0][decode_key("", o["key"])].copy()

    def backward(self, dy, xs, y, o):
        dx = np.zeros_like(xs[0])
        dx[decode_key("", o["key"])] = dy
        return [dx]


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def decode_key(label, key):
    """The index of ``x[key]`` from its config form: a list of entries, each an int, ``None`` (a new
    axis), ``"..."`` or ``[start, stop, step]`` (a slice)."""
    if not isinstance(key, (list, tuple)):
        raise ValueError(f"{label}: key must be a list of index entries, received {key!r}")
    out = []
    for k in key:
        if k is None or k == "...":
            out.append(Ellipsis if k == "..." else None)
        elif isinstance(k, int) and not isinstance(k, bool):
            out.append(k)
        elif isinstance(k, (list, tuple)) and len(k) == 3 and all(v is None or isinstance(v, int) for v in k):
            if k[2] == 0:
                raise ValueError(f"{label}: slice step 0 in key {key!r}")
            out.append(slice(*k))
        else:
            raise ValueError(f"{label}: index entry {k!r} of key {key!r}; the scratch engine indexes with ints, "
                             f"slices of ints, None and ...")
    return tuple(out)


def encode_key(key):
    """``x[key]``'s index as config data (see ``decode_key``)."""
    key = key if isinstance(key, tuple) else (key,)
    return [k if k is None or isinstance(k, int) else "..." if k is Ellipsis else [k.start, k.stop, k.step]
            for k in key]


def indexed_shape(label, shape, key):
    """The shape of ``x[key]`` for ``x`` of ``shape`` (``None`` sizes stay unknown); refuses a key that
    touches the batch axis."""
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1 or used > len(shape):
        raise ValueError(f"{label}: index {key!r} does not fit an input of shape {shape}")
    out, axis = [], 0
    for k in key:
        if k is None:
            if axis == 0:
                raise ValueError(f"{label}: index {key!r} puts a new axis before the batch axis")
            out.append(1)
        elif k is Ellipsis:
            n = len(shape) - used
            out.extend(shape[axis:axis + n])
            axis += n
        else:
            d = shape[axis]
            if axis == 0 and k != slice(None):
                raise ValueError(f"{label}: index {key!r} indexes the batch axis; the scratch engine takes it whole")
            if isinstance(k, int):
                if d is not None and not -d <= k < d:
                    raise ValueError(f"{label}: index {k} out of range for axis {axis} of size {d}")
            else:
                out.append(None if d is None else len(range(*k.indices(d))))
            axis += 1
    out.extend(shape[axis:])
    return tuple(out)


def _route(dy, first_wins):
    """``maximum``/``minimum``: ``dy`` goes to ``x1`` where it was chosen (ties to ``x1``), else to ``x2``."""
    zero = np.zeros((), dy.dtype)
    return np.where(first_wins, dy, zero), np.where(first_wins, zero, dy)


OPS = {
    # elementwise on one tensor: y = f(x); dx from (x, y, dy)
    "negative": _Elementwise(lambda x: -x, lambda x, y, dy: -dy),
    "sqrt": _Elementwise(np.sqrt, lambda x, y, dy: 0.5 * dy / y),
    "square": _Elementwise(np.square, lambda x, y, dy: dy * (2 * x)),
    "abs": _Elementwise(np.abs, lambda x, y, dy: dy * np.sign(x)),
    "exp": _Elementwise(np.exp, lambda x, y, dy: dy * y),
    "log": _Elementwise(np.log, lambda x, y, dy: dy * (1 / x)),
    # two tensors (or a tensor and a constant), broadcast
    "add": _Binary(np.add, lambda a, b, y, dy: (dy, dy)),
    "subtract": _Binary(np.subtract, lambda a, b, y, dy: (dy, -dy)),
    "multiply": _Binary(np.multiply, lambda a, b, y, dy: (dy * b, dy * a)),
    "divide": _Binary(np.divide, lambda a, b, y, dy: (dy / b, dy * (-a / b / b))),
    "maximum": _Binary(np.maximum, lambda a, b, y, dy: _route(dy, a >= b)),
    "minimum": _Binary(np.minimum, lambda a, b, y, dy: _route(dy, a <= b)),
    "power": _Power(),
    # reductions over non-batch axes
    "sum": _Reduce("sum"), "mean": _Reduce("mean"), "max": _Reduce("max"), "min": _Reduce("min"),
    "clip": _Clip(),
    # moving values around
    "reshape": _Reshape(), "transpose": _Transpose(), "expand_dims": _ExpandDims(), "squeeze": _Squeeze(),
    "concatenate": _Join("concatenate"), "stack": _Join("stack"), "getitem": _GetItem(),
    "matmul": _Matmul(), "cast": _Cast(),
}


KERAS_NAMES = {"getitem": "get_item", "abs": "absolute"}  # where Keras's operation names differ


class Op(Layer):
    """One operation of ``OPS`` as a graph node (see the module docstring).

    ``op``: its name (``"add"``, ``"sum"``, ``"getitem"``...); ``constant``: a number standing in for
    the second argument of a binary operation (the first with ``reverse=True``), so the node takes
    one tensor; without it a binary operation takes a list of two tensors, ``concatenate`` and
    ``stack`` a list of any length, the others one tensor. ``**options``: the operation's own, by
    Keras's names (``axis``, ``keepdims``, ``x_min``/``x_max``, ``newshape``, ``axes``; ``key``, the index
    of ``getitem`` as data, see ``decode_key``); ``cast`` casts to the layer's ``dtype``.

    Shapes: whatever the operation makes of its inputs' (the batch axis stays first).
    """

    def __init__(self, op, constant=None, reverse=False, name=None, dtype="float32", trainable=True, **options):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if op not in OPS:
            raise ValueError(f"{self.label}: op must be one of {sorted(OPS)}, received {op!r}")
        self.op = op
        self.spec = OPS[op]
        unknown = sorted(set(options) - set(self.spec.options))
        if unknown:
            raise ValueError(f"{self.label}: operation {op!r} takes no option {unknown[0]!r} (its options: "
                             f"{sorted(self.spec.options) or 'none'})")
        # tuples as lists: the config is JSON, and reads back equal
        self.options = {**self.spec.options, **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}}
        if constant is not None and (self.spec.inputs != 2 or op == "matmul" or not _is_number(constant)):
            raise ValueError(f"{self.label}: constant={constant!r}; only a finite number, and only for the binary "
                             f"operations (add, subtract, multiply, divide, maximum, minimum, power)")
        if op == "power" and constant is None:
            raise ValueError(f"{self.label}: power takes a constant exponent or base (constant=...)")
        self.constant = None if constant is None else float(constant)
        self.reverse = bool(reverse)
        self.spec.check(self.label, self.options)

    @property
    def default_name(self):
        """Keras's default name of the operation (``sqrt``, ``get_item``, ``absolute``), for a model to number."""
        return KERAS_NAMES.get(self.op, self.op)

    @property
    def takes_list(self):
        """Whether the node is called on a list of tensors (two for a binary operation without a constant)."""
        return self.spec.inputs == "list" or (self.spec.inputs == 2 and self.constant is None)

    def get_config(self):
        config = {**super().get_config(), "op": self.op, **self.options}
        if self.constant is not None:
            config.update(constant=self.constant, reverse=self.reverse)
        return config

    # -- shapes --------------------------------------------------------------------------
    def _shapes(self, input_shape):
        as_list = isinstance(input_shape, list) or (isinstance(input_shape, tuple) and input_shape
                                                    and isinstance(input_shape[0], (list, tuple)))
        if as_list != self.takes_list:
            want = "a list of input shapes" if self.takes_list else "one input shape"
            raise ValueError(f"{self.label}: {self.op} expects {want}, received {input_shape!r}")
        shapes = [tuple(None if d is None else int(d) for d in s) for s in (input_shape if as_list else [input_shape])]
        if self.spec.inputs == 2 and len(shapes) != 2 and self.constant is None:
            raise ValueError(f"{self.label}: {self.op} expects 2 inputs, received {len(shapes)}")
        if self.constant is not None:  # the constant as a tensor of ones
            one = (1,) * len(shapes[0])
            shapes = [one, shapes[0]] if self.reverse else [shapes[0], one]
        return shapes

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        self.input_shape = list(input_shape) if self.takes_list else tuple(input_shape)
        self.output_shape = self.spec.shape(self.label, shapes, self.options)
        self.built = True

    def connect_check(self, shape, as_list):
        self.build(shape)

    def compute_output_shape(self, input_shape):
        return self.spec.shape(self.label, self._shapes(input_shape), self.options)

    # -- computing -------------------------------------------------------------------------
    def _arrays(self, x):
        xs = list(x) if self.takes_list and isinstance(x, (list, tuple)) else [x]
        for i, a in enumerate(xs):
            if not isinstance(a, np.ndarray):
                raise ValueError(f"{self.label}: input {i} is a {type(a).__name__}, expected a NumPy array")
            if a.dtype != self.dtype:
                raise ValueError(f"{self.label}: input {i} is {a.dtype}, expected {self.dtype.name}")
        if (self.takes_list and not isinstance(x, (list, tuple))) or len({a.shape[0] for a in xs}) > 1:
            want = "a list of arrays of one batch size" if self.takes_list else "one array"
            got = [a.shape for a in xs] if isinstance(x, (list, tuple)) else type(x).__name__
            raise ValueError(f"{self.label}: expected {want}, received {got}")
        shapes = [(None,) + a.shape[1:] for a in xs]
        self.compute_output_shape(shapes if self.takes_list else shapes[0])  # refuses what does not fit
        if self.constant is not None:
            c = np.full((1,) * xs[0].ndim, self.constant, dtype=self.dtype)
            xs = [c, xs[0]] if self.reverse else [xs[0], c]
        return xs

    def forward(self, x, training=False):
        xs = self._arrays(x)
        y = self.spec.forward(xs, self.options)
        y = np.asarray(y, dtype=self.dtype)
        self._cache = (xs, y)
        return y

    def backward(self, dy):
        xs, y = self._cache
        if not self.input_grad:
            return None
        grads = self.spec.backward(dy, xs, y, self.options)
        if self.constant is not None:  # the constant's gradient is dropped
            return grads[1] if self.reverse else grads[0]
        return list(grads) if self.takes_list else grads[0]
