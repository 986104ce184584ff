"""Reshaping layers (``keras/src/layers/reshaping``): Flatten, Reshape, ZeroPadding2D,
Cropping2D, UpSampling2D. None has weights; each backward only moves ``dy`` back to where
the forward took its values from."""

import numpy as np

from .. import geometry, resize
from .base import Layer, check_rank4

__all__ = ["Flatten", "Reshape", "ZeroPadding2D", "Cropping2D", "UpSampling2D"]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def normalize_margins(value, name, layer):
    """Keras's three forms of a 2-D margin (padding or cropping), as ``((top, bottom), (left, right))``:

    ``p`` -> ``((p, p), (p, p))``; ``(a, b)`` -> ``((a, a), (b, b))``; ``((t, b), (l, r))`` stays.
    Non-negative ints only, else ``ValueError`` naming the layer, the argument and the value.
    """
    expected = f"{name} must be an int, a pair of ints or a pair of pairs ((top, bottom), (left, right)) of " \
               f"non-negative ints"
    given = value
    if isinstance(value, str):
        value = None
    elif _is_int(value):
        value = ((value, value), (value, value))
    try:
        value = tuple(value)
        if len(value) == 2 and all(_is_int(v) for v in value):
            value = ((value[0], value[0]), (value[1], value[1]))
        value = tuple(tuple(pair) for pair in value)
    except TypeError:
        value = None
    if value is None or len(value) != 2 or any(len(pair) != 2 for pair in value) or \
            not all(_is_int(v) and v >= 0 for pair in value for v in pair):
        raise ValueError(f"{layer}: {expected}, received {given!r}")
    return tuple(tuple(int(v) for v in pair) for pair in value)


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


class ZeroPadding2D(Layer):
    """Zeros around the image.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, t + H + b, l + W + r, C)`` for
    ``padding = ((t, b), (l, r))`` (or ``p``, or ``(ph, pw)``: Keras's forms).
    Backward: ``dx = dy[:, t:t+H, l:l+W, :]`` (the zeros depend on nothing).
    """

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_margins(padding, "padding", self.label)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}

    def _check_shape(self, shape):
        check_rank4(self, shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (left, r) = self.padding
        return (n, None if h is None else t + h + b, None if w is None else left + w + r, c)

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        return np.pad(x, ((0, 0),) + self.padding + ((0, 0),))

    def backward(self, dy):
        _, h, w, _ = self._cache
        (t, _), (left, _) = self.padding
        return dy[:, t:t + h, left:left + w, :].copy()


class Cropping2D(Layer):
    """Rows and columns cut from the image's edges.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, H - t - b, W - l - r, C)`` for
    ``cropping = ((t, b), (l, r))`` (or ``p``, or ``(ph, pw)``). Cropping that leaves no row or
    no column is refused at build, as Keras does.
    Backward: ``dx`` is zero on the cropped margins and ``dy`` inside.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_margins(cropping, "cropping", self.label)

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}

    def _check_shape(self, shape):
        check_rank4(self, shape)
        for n, crop, axis in zip(shape[1:3], self.cropping, ("rows", "columns")):
            if n is not None and sum(crop) >= n:
                raise ValueError(f"{self.label}: cropping {self.cropping} removes {sum(crop)} of the input's {n} "
                                 f"{axis}, leaving none (input shape {shape})")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (left, r) = self.cropping
        return (n, None if h is None else h - t - b, None if w is None else w - left - r, c)

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x.shape
        (t, b), (left, r) = self.cropping
        return x[:, t:x.shape[1] - b, left:x.shape[2] - r, :]

    def backward(self, dy):
        (t, b), (left, r) = self.cropping
        return np.pad(dy, ((0, 0), (t, b), (left, r), (0, 0)))


class UpSampling2D(Layer):
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
        super().__init__(**kwargs)
        self.size = geometry.normalize_tuple(size, "size", self.label)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        self.interpolation = resize.check_interpolation(mode, self.label)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}

    def _check_shape(self, shape):
        check_rank4(self, shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        sh, sw = self.size
        return (n, None if h is None else h * sh, None if w is None else w * sw, c)

    def forward(self, x, training=False):
        self._check_input(x)
        n, h, w, c = x.shape
        sh, sw = self.size
        if self.interpolation != "nearest":
            y, self._cache = resize.resize(x, (h * sh, w * sw), self.interpolation)
            return y
        self._cache = None
        y = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        return y.reshape(n, h * sh, w * sw, c)

    def backward(self, dy):
        if self.interpolation != "nearest":
            return resize.resize_backward(dy, self._cache)
        n, hs, ws, c = dy.shape
        sh, sw = self.size
        return dy.reshape(n, hs // sh, sh, ws // sw, sw, c).sum(axis=(2, 4))
