"""Preprocessing layers (``keras/src/layers/preprocessing``)."""

import numbers

import numpy as np

from .. import resize
from .base import Layer, check_rank4, positive_int

__all__ = ["Rescaling", "Normalization", "Resizing", "CenterCrop"]


def _factor(value, name, label):
    """A finite number, or a non-empty list of them (one per channel), as Keras's config keeps it."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
                             for v in values):
        raise ValueError(f"{label}: {name} must be a finite number or a list of them (one per channel), "
                         f"received {value!r}")
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


class Rescaling(Layer):
    """``y = x * scale + offset``, elementwise, in training and inference alike.

    Shapes: ``x: (N, ...)`` -> ``y: (N, ...)``. ``scale`` and ``offset`` are numbers, or
    lists broadcast over the last (channel) axis. No weights.

    Backward: ``dx = dy * scale`` (the offset has no gradient and nothing to learn).

    As Keras, ``scale`` and ``offset`` become float32 numbers before the cast to the layer's
    dtype (Keras converts Python numbers to float32 tensors first), so a float64 layer
    multiplies by ``float64(float32(scale))``.

    ``Rescaling(1 / 255)`` turns raw 0-255 pixels into ``[0, 1]``; ``Rescaling(1 / 255,
    offset=-0.5)`` into ``[-0.5, 0.5]``: a model that starts with one takes raw pixels.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _factor(scale, "scale", self.label)
        self.offset = _factor(offset, "offset", self.label)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input with a batch axis and at least one more, "
                             f"received shape {shape}")
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            if isinstance(value, list) and len(value) not in (1, shape[-1]):
                raise ValueError(f"{self.label}: {name} has {len(value)} values, the input has {shape[-1]} "
                                 f"channels (last axis of {shape})")

    def forward(self, x, training=False):
        self._check_input(x)
        scale, offset = (np.asarray(v, dtype=np.float32).astype(self.dtype) for v in (self.scale, self.offset))
        self._cache = scale
        return x * scale + offset

    def backward(self, dy):
        scale = self._cache
        return dy * scale if self.input_grad else None


# -- Normalization --
class Normalization(Layer):
    """Feature-wise standardization with a given mean and variance (Keras's ``Normalization``).

    Shapes: any ``x: (N, ...)`` -> the same shape.

    Forward: ``y = (x - mean) / max(sqrt(variance), eps)`` with ``eps = 1e-7`` (Keras's
    ``backend.epsilon()``); with ``invert=True``, ``y = mean + x * max(sqrt(variance), eps)``.
    Backward: ``dx = dy / max(sqrt(variance), eps)`` (``invert``: ``dx = dy * max(...)``).

    ``axis`` (int, tuple of ints, or None = one scalar mean/variance) names the axes that keep a
    separate mean and variance; ``mean`` and ``variance`` (scalars or arrays of the same shape)
    are broadcast over the kept axes, their dimensions matched to the kept axes from the right,
    as Keras does. They are configuration, not weights (Keras's layer built from given values
    has no weights). Keras's other way of setting them, ``adapt()`` on data (which stores them
    as non-trainable weights), is not implemented: ``mean`` and ``variance`` must be given.
    """

    EPSILON = 1e-7

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axis = (axis,)
        try:
            axis = tuple(axis)
        except TypeError:
            axis = None
        if axis is None or not all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"{self.label}: axis must be an int, a tuple of ints or None, received {axis!r}")
        self.axis = axis
        if mean is None or variance is None:
            raise ValueError(f"{self.label}: mean and variance must both be given (adapt() is not implemented in "
                             f"the scratch engine), received mean={mean!r} and variance={variance!r}")
        m, v = np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64)
        if m.shape != v.shape:
            raise ValueError(f"{self.label}: mean and variance must have the same shape, received mean shape "
                             f"{m.shape} and variance shape {v.shape}")
        if m.ndim > len(axis):
            raise ValueError(f"{self.label}: the rank of mean must be at most the number of axes ({len(axis)}), "
                             f"received mean shape {m.shape} for axis {axis}")
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))) or np.any(v < 0):
            raise ValueError(f"{self.label}: mean must be finite and variance finite and >= 0, received "
                             f"mean={mean!r}, variance={variance!r}")
        self.invert = bool(invert)
        self.mean, self.variance = m, v  # exact, as given; cast to the layer's dtype at build

    def get_config(self):
        return {**super().get_config(), "axis": list(self.axis), "mean": self.mean.tolist(),
                "variance": self.variance.tolist(), "invert": self.invert}

    def _check_shape(self, shape):
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(f"{self.label}: axis values must be in [-{ndim}, {ndim}) for {ndim}-D input, received "
                             f"axis={self.axis} (input shape {shape})")
        keep = sorted({a % ndim for a in self.axis})
        for d in keep:
            if shape[d] is None:
                raise ValueError(f"{self.label}: axis {d} keeps a mean per index but its size is unknown "
                                 f"(axis={self.axis}, input shape {shape})")

    def _build(self, input_shape, rng):
        ndim = len(input_shape)
        keep = sorted({a % ndim for a in self.axis})
        target = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        expanded = [1] * ndim  # the given dimensions go to the kept axes, matched from the right
        for i in range(1, self.mean.ndim + 1):
            expanded[keep[-i]] = self.mean.shape[-i]
        try:
            mean = np.broadcast_to(self.mean.reshape(expanded), target)
            variance = np.broadcast_to(self.variance.reshape(expanded), target)
        except ValueError:
            raise ValueError(f"{self.label}: mean/variance of shape {self.mean.shape} do not broadcast to the kept "
                             f"axes {tuple(keep)} of input shape {input_shape} (expected {target})") from None
        self._mean = mean.astype(self.dtype)
        self._std = np.maximum(np.sqrt(variance.astype(self.dtype)), self.dtype.type(self.EPSILON))

    def forward(self, x, training=False):
        self._check_input(x)
        if any(m != 1 and m != d for m, d in zip(self._mean.shape[1:], x.shape[1:])):
            raise ValueError(f"{self.label}: built for input shape {self.input_shape} with a mean per index of axis "
                             f"{self.axis}, received shape {x.shape}")
        if self.invert:
            return self._mean + x * self._std
        return (x - self._mean) / self._std

    def backward(self, dy):
        return dy * self._std if self.invert else dy / self._std


def _crop_box(height, width, target_height, target_width, divide):
    """Keras's crop to the target's aspect ratio: ``(top, left, crop_height, crop_width)``, centred.
    ``divide(a, b)``: the division Keras computes it with (float32 in ``ops.image.resize``, a
    Python float in ``smart_resize`` on static shapes), truncated to an int."""
    crop_height = max(min(height, int(divide(width * target_height, target_width))), 1)
    crop_width = max(min(width, int(divide(height * target_width, target_height))), 1)
    return (int(divide(height - crop_height, 2)), int(divide(width - crop_width, 2)), crop_height, crop_width)


def _divide_f32(a, b):
    return np.float32(a) / np.float32(b)


def _divide_float(a, b):
    return float(a) / b


class Resizing(Layer):
    """Resize images to ``(height, width)``, as Keras's ``Resizing`` (``keras.ops.image.resize``;
    the resampling and its gradient: ``scratch.resize``), in training and inference alike.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, height, width, C)``. ``interpolation``: ``"bilinear"``
    (default), ``"nearest"``, ``"bicubic"``. Before resizing, as Keras:

    - ``crop_to_aspect_ratio=True``: the largest centred window of the target's aspect ratio,
      ``crop_h = max(min(H, int(float32(W * height) / width)), 1)`` (``crop_w`` alike), starting at
      ``int(float32(H - crop_h) / 2)``;
    - ``pad_to_aspect_ratio=True``: ``fill_value`` rows (or columns) added on both sides,
      ``int(float32(pad_h - H) / 2)`` each, ``pad_h = max(H, int(float32(W * height) / width))``.

    Backward: the resampling's gradient, then the crop's (zeros around) or the padding's (the
    image's part). Refused: ``antialias=True``, ``fill_mode`` other than ``"constant"``,
    ``channels_first``, ``"area"``/``"lanczos3"``/``"lanczos5"``.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = positive_int(height, "height", self.label)
        self.width = positive_int(width, "width", self.label)
        self.interpolation = resize.check_interpolation(interpolation, self.label)
        for name, value in (("crop_to_aspect_ratio", crop_to_aspect_ratio),
                            ("pad_to_aspect_ratio", pad_to_aspect_ratio), ("antialias", antialias)):
            if not isinstance(value, bool):
                raise ValueError(f"{self.label}: {name} must be True or False, received {value!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{self.label}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
        if antialias:
            raise ValueError(f"{self.label}: antialias=True is not computed by the scratch engine (only False)")
        if fill_mode != "constant":
            raise ValueError(f"{self.label}: fill_mode must be 'constant' (Keras's only one), received {fill_mode!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{self.label}: data_format must be 'channels_last', received {data_format!r}")
        if not isinstance(fill_value, numbers.Real) or isinstance(fill_value, bool) or not np.isfinite(fill_value):
            raise ValueError(f"{self.label}: fill_value must be a finite number, received {fill_value!r}")
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.fill_mode, self.fill_value, self.antialias = fill_mode, float(fill_value), antialias

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": "channels_last"}

    def _check_shape(self, shape):
        check_rank4(self, shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, x, training=False):
        self._check_input(x)
        n, h, w, c = x.shape
        frame = None  # (top, left) of the resampled part in x, or of x in the padded image
        if self.crop_to_aspect_ratio:
            top, left, ch, cw = _crop_box(h, w, self.height, self.width, _divide_f32)
            frame = ("crop", top, left)
            x = x[:, top:top + ch, left:left + cw]
        elif self.pad_to_aspect_ratio:
            pad_h = max(h, int(_divide_f32(w * self.height, self.width)))
            pad_w = max(w, int(_divide_f32(h * self.width, self.height)))
            top, left = int(_divide_f32(pad_h - h, 2)), int(_divide_f32(pad_w - w, 2))
            padded = np.full((n, h + 2 * top, w + 2 * left, c), self.fill_value, dtype=self.dtype)
            padded[:, top:top + h, left:left + w] = x
            frame, x = ("pad", top, left), padded
        y, plan = resize.resize(x, (self.height, self.width), self.interpolation)
        self._cache = (plan, frame, (n, h, w, c))
        return y

    def backward(self, dy):
        plan, frame, shape = self._cache
        d = resize.resize_backward(dy, plan, self.dtype)
        if frame is None:
            return d
        kind, top, left = frame
        if kind == "pad":
            return d[:, top:top + shape[1], left:left + shape[2]]
        dx = np.zeros(shape, self.dtype)
        dx[:, top:top + d.shape[1], left:left + d.shape[2]] = d
        return dx


class CenterCrop(Layer):
    """The centred ``(height, width)`` window of each image, as Keras's ``CenterCrop``.

    Shapes: ``x: (N, H, W, C)`` -> ``(N, height, width, C)``. When ``H >= height`` and
    ``W >= width``: ``y = x[:, (H - height) // 2 :, (W - width) // 2 :][:, :height, :width]``;
    backward puts ``dy`` back in that window, zeros elsewhere. Otherwise (an image smaller than
    the window on some axis) Keras's ``smart_resize``: the largest centred window of the target's
    aspect ratio (computed with Python floats), resized to ``(height, width)`` with bilinear
    interpolation (``scratch.resize``: TensorFlow's pixels and gradient).
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = positive_int(height, "height", self.label)
        self.width = positive_int(width, "width", self.label)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{self.label}: data_format must be 'channels_last', received {data_format!r}")

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": "channels_last"}

    def _check_shape(self, shape):
        check_rank4(self, shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def forward(self, x, training=False):
        self._check_input(x)
        n, h, w, c = x.shape
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            self._cache = (None, top, left, x.shape)
            return x[:, top:top + self.height, left:left + self.width]
        top, left, ch, cw = _crop_box(h, w, self.height, self.width, _divide_float)
        y, plan = resize.resize(x[:, top:top + ch, left:left + cw], (self.height, self.width), "bilinear")
        self._cache = (plan, top, left, x.shape)
        return y

    def backward(self, dy):
        plan, top, left, shape = self._cache
        d = dy if plan is None else resize.resize_backward(dy, plan, self.dtype)
        dx = np.zeros(shape, self.dtype)
        dx[:, top:top + d.shape[1], left:left + d.shape[2]] = d
        return dx
