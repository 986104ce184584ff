"""Reshaping layers (``keras/src/layers/reshaping``): Flatten, Reshape, and in 1, 2 and 3 spatial
dimensions ZeroPadding, Cropping and UpSampling (one implementation each over a tuple of spatial
axes; the ``1D``/``2D``/``3D`` classes fix the rank and Keras's defaults). None has weights; each
backward only moves ``dy`` back to where the forward took its values from."""

import numpy as np

from .. import geometry, resize
from .base import Layer, check_spatial_rank

__all__ = ["Flatten", "Reshape", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
           "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D"]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


MARGIN_FORMS = {
    1: "an int or a pair of ints (left, right) of non-negative ints",
    2: "an int, a pair of ints or a pair of pairs ((top, bottom), (left, right)) of non-negative ints",
    3: "an int, a tuple of 3 ints or 3 pairs ((front, back), (top, bottom), (left, right)) of non-negative ints",
}


def normalize_margins(value, name, layer, rank=2):
    """Keras's forms of a margin (padding or cropping), as one ``(before, after)`` pair per spatial axis.

    ``rank`` 2 and 3: ``p`` -> ``((p, p),) * rank``; ``(a, b[, c])`` -> ``((a, a), (b, b)[, (c, c)])``;
    pairs stay. ``rank`` 1: ``p`` -> ``((p, p),)``; ``(a, b)`` is ``(left, right)`` -> ``((a, b),)``.
    Non-negative ints only, else ``ValueError`` naming the layer, the argument and the value.
    """
    expected = f"{name} must be {MARGIN_FORMS[rank]}"
    given = value
    if isinstance(value, str):
        value = None
    elif _is_int(value):
        value = ((value, value),) * rank
    try:
        value = tuple(value)
        if rank == 1 and len(value) == 2 and all(_is_int(v) for v in value):
            value = (value,)
        elif len(value) == rank and all(_is_int(v) for v in value):
            value = tuple((v, v) for v in value)
        value = tuple(tuple(pair) for pair in value)
    except TypeError:
        value = None
    if value is None or len(value) != rank or any(len(pair) != 2 for pair in value) or \
            not all(_is_int(v) and v >= 0 for pair in value for v in pair):
        raise ValueError(f"{layer}: {expected}, received {given!r}")
    return tuple(tuple(int(v) for v in pair) for pair in value)


def _inner(margins, shape):
    """The index ``(:, before:n - after per spatial axis, :)`` of the cells inside ``margins``."""
    return (slice(None),) + tuple(slice(b, n - a) for (b, a), n in zip(margins, shape[1:-1])) + (slice(None),)


def repeat_nearest(x, size):
    """Nearest-neighbour upsampling: ``(N, *spatial, C)`` -> each cell repeated ``size[k]`` times along
    spatial axis ``k`` (a broadcast view of ``x`` with a new axis after each spatial one, reshaped)."""
    n, *spatial, c = x.shape
    spread = (slice(None),) + (slice(None), None) * len(spatial) + (slice(None),)
    blocks = (n,) + tuple(v for d, s in zip(spatial, size) for v in (d, s)) + (c,)
    return np.broadcast_to(x[spread], blocks).reshape((n,) + tuple(d * s for d, s in zip(spatial, size)) + (c,))


def repeat_nearest_backward(dy, size):
    """``dL/dx`` of ``repeat_nearest``: the sum of ``dy`` over each block of copies of a cell."""
    n, *spatial, c = dy.shape
    blocks = (n,) + tuple(v for d, s in zip(spatial, size) for v in (d // s, s)) + (c,)
    return dy.reshape(blocks).sum(axis=tuple(range(2, 2 * len(spatial) + 1, 2)))


class Flatten(Layer):
    """``(N, H, W, C)`` -> ``(N, H*W*C)``, row-major over (H, W, C) as Keras on channels-last.

    Backward reshapes ``dy`` back to the input shape.
    """

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, received shape {shape}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._cache)


class Reshape(Layer):
    """``(N, *in_shape)`` -> ``(N, *target_shape)``, row-major (C order) as Keras.

    ``target_shape`` excludes the batch axis; one entry may be ``-1``, then inferred from the
    input's size. A target whose size differs from the input's is refused at build.
    Backward reshapes ``dy`` back to the input shape.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(target_shape)
        except TypeError:
            target = None
        if not target or not all(_is_int(d) and (d > 0 or d == -1) for d in target) or target.count(-1) > 1:
            raise ValueError(f"{self.label}: target_shape must be a non-empty tuple of positive ints with at most "
                             f"one -1 (no batch axis), received {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}

    def _resolved(self, in_shape):
        """The target with its ``-1`` filled from ``in_shape`` (no batch axis), size checked."""
        if None in in_shape:
            return self.target_shape if -1 not in self.target_shape else tuple(
                None if d == -1 else d for d in self.target_shape)
        size = int(np.prod(in_shape))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if size % known:
                self._refuse(in_shape)
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size != known:
            self._refuse(in_shape)
        return self.target_shape

    def _refuse(self, in_shape):
        raise ValueError(f"{self.label}: cannot reshape input of shape {(None,) + tuple(in_shape)} "
                         f"({int(np.prod(in_shape))} values per sample) to target_shape {self.target_shape}")

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, received shape {shape}")
        self._resolved(shape[1:])

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolved(input_shape[1:])

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x.reshape((x.shape[0],) + self._resolved(x.shape[1:]))

    def backward(self, dy):
        return dy.reshape(self._cache)


class _ZeroPadding(Layer):
    """Zeros around the sample, along each spatial axis.

    Shapes: ``x: (N, *spatial, C)`` -> ``(N, *(before + n + after), C)`` for ``padding``, one
    ``(before, after)`` pair per spatial axis (Keras's forms, see ``normalize_margins``).
    Backward: ``dx = dy`` inside the margins (the zeros depend on nothing).
    """

    rank = 2

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_margins(padding, "padding", self.label, self.rank)

    def get_config(self):
        value = list(self.padding[0]) if self.rank == 1 else [list(p) for p in self.padding]
        return {**super().get_config(), "padding": value}

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(None if n is None else b + n + a for n, (b, a) in zip(
            input_shape[1:-1], self.padding)) + (input_shape[-1],)

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return np.pad(x, ((0, 0),) + self.padding + ((0, 0),))

    def backward(self, dy):
        return dy[_inner(self.padding, dy.shape)].copy()


class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps: ``(N, steps, C)`` -> ``(N, left + steps + right, C)``."""

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zeros around the image.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, t + H + b, l + W + r, C)`` for
    ``padding = ((t, b), (l, r))`` (or ``p``, or ``(ph, pw)``: Keras's forms).
    Backward: ``dx = dy[:, t:t+H, l:l+W, :]`` (the zeros depend on nothing).
    """

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(padding, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around the volume: ``(N, D, H, W, C)`` -> each spatial axis grown by its ``(before, after)``."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), **kwargs):
        super().__init__(padding, **kwargs)


class _Cropping(Layer):
    """Cells cut from the edges of each spatial axis.

    Shapes: ``x: (N, *spatial, C)`` -> ``(N, *(n - before - after), C)`` for ``cropping``, one
    ``(before, after)`` pair per spatial axis. Cropping that leaves nothing along an axis is
    refused at build, as Keras does.
    Backward: ``dx`` is zero on the cropped margins and ``dy`` inside.
    """

    rank = 2
    AXIS_WORDS = {1: ("steps",), 2: ("rows", "columns"), 3: ("depth slices", "rows", "columns")}

    def __init__(self, cropping, **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_margins(cropping, "cropping", self.label, self.rank)

    def get_config(self):
        value = list(self.cropping[0]) if self.rank == 1 else [list(p) for p in self.cropping]
        return {**super().get_config(), "cropping": value}

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)
        for n, crop, axis in zip(shape[1:-1], self.cropping, self.AXIS_WORDS[self.rank]):
            if n is not None and sum(crop) >= n:
                raise ValueError(f"{self.label}: cropping {self.cropping} removes {sum(crop)} of the input's {n} "
                                 f"{axis}, leaving none (input shape {shape})")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(None if n is None else n - b - a for n, (b, a) in zip(
            input_shape[1:-1], self.cropping)) + (input_shape[-1],)

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return x[_inner(self.cropping, x.shape)]

    def backward(self, dy):
        return np.pad(dy, ((0, 0),) + self.cropping + ((0, 0),))


class Cropping1D(_Cropping):
    """Steps cut from both ends: ``(N, steps, C)`` -> ``(N, steps - left - right, C)``."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Rows and columns cut from the image's edges.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, H - t - b, W - l - r, C)`` for
    ``cropping = ((t, b), (l, r))`` (or ``p``, or ``(ph, pw)``). Cropping that leaves no row or
    no column is refused at build, as Keras does.
    Backward: ``dx`` is zero on the cropped margins and ``dy`` inside.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(cropping, **kwargs)


class Cropping3D(_Cropping):
    """Cells cut from the volume's edges: ``(N, D, H, W, C)`` -> each spatial axis less its margins."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), **kwargs):
        super().__init__(cropping, **kwargs)


class _UpSampling(Layer):
    """Nearest-neighbour upsampling by integer factors: each cell repeated ``size[k]`` times along
    spatial axis ``k``.

    Shapes: ``x: (N, *spatial, C)`` -> ``(N, *(n * s), C)``; ``y[n, i, ..., c] = x[n, i // s, ..., c]``.
    Backward: ``dx`` at a cell is the sum of ``dy`` over the block that copies it.
    """

    rank = 2

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = geometry.normalize_tuple(size, "size", self.label, self.rank)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(None if n is None else n * s for n, s in zip(
            input_shape[1:-1], self.size)) + (input_shape[-1],)

    def forward(self, x, training=False):
        self._check_input(x)
        return repeat_nearest(x, self.size)

    def backward(self, dy):
        return repeat_nearest_backward(dy, self.size)


class UpSampling1D(_UpSampling):
    """Each step repeated ``size`` times: ``(N, steps, C)`` -> ``(N, steps * size, C)``."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)

    def get_config(self):
        return {**super().get_config(), "size": self.size[0]}


class UpSampling2D(_UpSampling):
    """Upsampling by integer factors.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, H*sh, W*sw, C)``. ``interpolation="nearest"``: each pixel
    repeated ``sh x sw`` times, ``y[n, i, j, c] = x[n, i // sh, j // sw, c]``; backward:
    ``dx[n, i, j, c] = sum of dy over the sh x sw block that copies x[n, i, j, c]``.
    ``"bilinear"``, ``"bicubic"``: Keras resizes to ``(H*sh, W*sw)`` with
    ``keras.ops.image.resize`` (``scratch.resize``: TensorFlow's pixels and gradient).
    """

    INTERPOLATIONS = resize.INTERPOLATIONS
    KERAS_INTERPOLATIONS = resize.KERAS_INTERPOLATIONS

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(size, **kwargs)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        self.interpolation = resize.check_interpolation(mode, self.label)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}

    def forward(self, x, training=False):
        self._check_input(x)
        if self.interpolation != "nearest":
            n, h, w, c = x.shape
            sh, sw = self.size
            y, self._cache = resize.resize(x, (h * sh, w * sw), self.interpolation)
            return y
        self._cache = None
        return repeat_nearest(x, self.size)

    def backward(self, dy):
        if self.interpolation != "nearest":
            return resize.resize_backward(dy, self._cache)
        return repeat_nearest_backward(dy, self.size)


class UpSampling3D(_UpSampling):
    """Each voxel repeated ``sd x sh x sw`` times: ``(N, D, H, W, C)`` -> ``(N, D*sd, H*sh, W*sw, C)``."""

    rank = 3

    def __init__(self, size=(2, 2, 2), **kwargs):
        super().__init__(size, **kwargs)
