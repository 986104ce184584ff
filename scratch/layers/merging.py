"""Merge layers (``keras/src/layers/merging``): several inputs, one output.

A merge layer is called on a list of arrays; ``backward(dy)`` returns the list of their
gradients, in the same order. The elementwise ones broadcast as Keras does: shapes are
aligned on their last axes and a 1 stretches (a squeeze-and-excitation block multiplies
``(N, H, W, C)`` by ``(N, 1, 1, C)``); an input of fewer axes gets ones inserted after the
batch axis. Where an input was broadcast, its gradient is summed back over the stretched axes.
"""

import numpy as np

from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


def _unbroadcast(g, shape):
    """Sum ``g`` over the axes where an input of ``shape`` was stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


class _Merge(Layer):
    """Shared checks of the merge layers: a list of inputs of this layer's dtype and one batch size."""

    min_inputs = 2

    def build(self, input_shape):
        shapes = input_shape
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(f"{self.label}: expected a list of input shapes, received {input_shape!r}")
        shapes = [tuple(None if d is None else int(d) for d in s) for s in shapes]
        if len(shapes) < self.min_inputs:
            raise ValueError(f"{self.label}: expected at least {self.min_inputs} inputs, received {len(shapes)}")
        self._check_shapes(shapes)
        self.input_shape = shapes
        self.output_shape = self.compute_output_shape(shapes)
        self.built = True

    def _check_shapes(self, shapes):
        self.compute_output_shape(shapes)  # raises on incompatible shapes

    def compute_output_shape(self, input_shape):
        rank = max(len(s) for s in input_shape)
        out = []
        for axis in range(1, rank):
            sizes = {s[axis - rank + len(s)] if axis - rank + len(s) >= 1 else 1 for s in input_shape} - {1}
            if None in sizes:
                out.append(None)
            elif len(sizes) > 1:
                raise ValueError(f"{self.label}: inputs have incompatible shapes {input_shape} "
                                 f"(axis {axis} has sizes {sorted(sizes)})")
            else:
                out.append(sizes.pop() if sizes else 1)
        return (None,) + tuple(out)

    def _check_inputs(self, xs):
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"{self.label}: expected a list of arrays, received {type(xs).__name__}")
        for i, x in enumerate(xs):
            if not isinstance(x, np.ndarray):
                raise ValueError(f"{self.label}: input {i} is a {type(x).__name__}, expected a NumPy array")
            if x.dtype != self.dtype:
                raise ValueError(f"{self.label}: input {i} is {x.dtype}, expected {self.dtype.name}")
        if len({x.shape[0] for x in xs}) > 1:
            raise ValueError(f"{self.label}: inputs have different batch sizes {[x.shape for x in xs]}")
        self.build([(None,) + x.shape[1:] for x in xs])
        rank = max(x.ndim for x in xs)
        # fewer axes: ones inserted after the batch axis, as Keras's merge layers do
        return [x.reshape((x.shape[0],) + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]

    def forward(self, xs, training=False):
        shapes = [np.shape(x) for x in xs] if isinstance(xs, (list, tuple)) else None
        xs = self._check_inputs(xs)
        self._cache = (xs, shapes)
        return self._merge(xs)

    def backward(self, dy):
        xs, shapes = self._cache
        return [_unbroadcast(g, x.shape).reshape(shape) for g, x, shape in zip(self._partials(xs, dy), xs, shapes)]


class Add(_Merge):
    """``y = x_1 + x_2 + ...``; backward: every input receives ``dy``."""

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y

    def _partials(self, xs, dy):
        return [dy for _ in xs]


class Subtract(_Merge):
    """``y = x_1 - x_2`` (exactly two inputs); backward ``dy`` and ``-dy``."""

    def _check_shapes(self, shapes):
        if len(shapes) != 2:
            raise ValueError(f"{self.label}: expected exactly 2 inputs, received {len(shapes)}")
        super()._check_shapes(shapes)

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _partials(self, xs, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """``y = x_1 * x_2 * ...``; backward ``dx_i = dy * prod_{j != i} x_j`` (as products, no division)."""

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y

    def _partials(self, xs, dy):
        out = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            out.append(g)
        return out


class Average(_Merge):
    """``y = (x_1 + ... + x_n) / n``; backward ``dy / n`` to each."""

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / self.dtype.type(len(xs))

    def _partials(self, xs, dy):
        g = dy / self.dtype.type(len(xs))
        return [g for _ in xs]


class _Extremum(_Merge):
    """``y = op(op(x_1, x_2), x_3)...`` left to right, as Keras; each step's gradient goes to the
    running result where it wins or ties (TensorFlow's ``Maximum``/``Minimum`` gradient sends a
    tie to the first argument), else to the new input: the first extreme input takes ``dy``."""

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = self._op(y, x)
        return y

    def _partials(self, xs, dy):
        shape = np.broadcast_shapes(*[x.shape for x in xs])
        winner = np.zeros(shape, dtype=np.intp)  # index of the input each output came from
        y = np.broadcast_to(xs[0], shape)
        for i, x in enumerate(xs[1:], start=1):
            takes = ~self._keeps(y, x)
            winner[takes] = i
            y = self._op(y, x)
        return [dy * (winner == i) for i in range(len(xs))]


class Maximum(_Extremum):
    _op = staticmethod(np.maximum)

    @staticmethod
    def _keeps(y, x):
        return y >= x


class Minimum(_Extremum):
    _op = staticmethod(np.minimum)

    @staticmethod
    def _keeps(y, x):
        return y <= x


class Concatenate(Layer):
    """``y = concatenate([x_1, x_2, ...], axis)``; backward: ``dy`` split back along ``axis``.

    Every axis but ``axis`` must agree (no broadcasting), as Keras requires.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
            raise ValueError(f"{self.label}: axis must be a non-zero int (not the batch axis), received {axis!r}")
        self.axis = axis

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def build(self, input_shape):
        shapes = [tuple(None if d is None else int(d) for d in s) for s in input_shape]
        if len(shapes) < 1:
            raise ValueError(f"{self.label}: expected a list of at least 1 input shape, received {input_shape!r}")
        self.input_shape = shapes
        self.output_shape = self.compute_output_shape(shapes)
        self.built = True

    def compute_output_shape(self, input_shape):
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"{self.label}: inputs must have the same rank, received shapes {input_shape}")
        rank = ranks.pop()
        if not -rank <= self.axis < rank:  # Keras refuses it; taken modulo the rank it would be another axis
            raise ValueError(f"{self.label}: axis {self.axis} is out of range for inputs of rank {rank} (shapes "
                             f"{input_shape}); expected an axis in 1..{rank - 1} or -{rank - 1}..-1")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{self.label}: axis {self.axis} is the batch axis for inputs of rank {rank}")
        out = list(input_shape[0])
        for s in input_shape[1:]:
            for a in range(1, rank):
                if a != axis and None not in (s[a], out[a]) and s[a] != out[a]:
                    raise ValueError(f"{self.label}: inputs must match on every axis but {self.axis}, "
                                     f"received shapes {input_shape}")
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if None in sizes else sum(sizes)
        out[0] = None
        return tuple(out)

    def forward(self, xs, training=False):
        if not isinstance(xs, (list, tuple)) or not all(isinstance(x, np.ndarray) for x in xs):
            raise ValueError(f"{self.label}: expected a list of NumPy arrays, received {type(xs).__name__}")
        for i, x in enumerate(xs):
            if x.dtype != self.dtype:
                raise ValueError(f"{self.label}: input {i} is {x.dtype}, expected {self.dtype.name}")
        self.build([(None,) + x.shape[1:] for x in xs])
        axis = self.axis % xs[0].ndim
        self._cache = (axis, [x.shape[axis] for x in xs])
        return np.concatenate(xs, axis=axis)

    def backward(self, dy):
        axis, sizes = self._cache
        return np.split(dy, np.cumsum(sizes)[:-1], axis=axis)
