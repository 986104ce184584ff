"""Image augmentation layers (``keras/src/layers/preprocessing/image_preprocessing``).

Each layer draws its random parameters from its own generator (``seed``: the same seed gives the
same draws) with ``get_random_transformation(x)`` and applies them with ``transform_images(x, t)``,
Keras's two steps with Keras's names for the parameters (``angle`` in degrees, ``translations``
in pixels, ``height_zoom``/``width_zoom``, ``flips``, ``contrast_factor``, ``rgb_delta``, crop
starts), so a test can feed both engines the same parameters. ``forward(x, training=True)`` is the
two steps (``fixed_transformation``, when set, replaces the draw); with ``training=False`` every layer is the identity, as in Keras (RandomCrop included:
Keras returns the input uncropped at inference).

Shapes: ``x: (N, H, W, C)`` -> ``(N, H, W, C)`` (RandomCrop in training: ``(N, height, width, C)``).

The geometric layers (rotation, translation, zoom) resample through ``scratch.image.affine_transform``
(TensorFlow's conventions: the matrix maps output pixels to input points). Their backward is
TensorFlow's registered gradient, which Keras uses: ``dy`` resampled through the inverse transform
(``scratch.image.affine_transform_backward``), an approximation of the exact adjoint that equals
it for pixel-to-pixel moves. The other layers' backwards are exact.

Factor ranges, as Keras 3.15 draws them (uniform, one draw per image):

- RandomRotation(factor): angle in ``[lower * 360, upper * 360]`` degrees (a number ``f``: ``[-f, f]``);
- RandomTranslation(height_factor, width_factor): shift ``[lower, upper] * H`` rows, ``* W`` columns;
- RandomZoom(height_factor, width_factor=None): zoom ``1 + [lower, upper]`` (> 1 zooms out; no
  ``width_factor``: the same zoom for both axes);
- RandomContrast(factor): ``y = (x - mean) * c + mean`` clipped to ``value_range``, ``c`` in
  ``[1 - lower, 1 + upper]`` where a number ``f`` gives ``(lower, upper) = (0, f)`` (Keras 3.15 maps a
  number to ``(max(-f, 0), f)``, so ``RandomContrast(0.2)`` draws ``c`` in ``[1, 1.2]``: it only raises contrast);
- RandomBrightness(factor): ``y = x + d`` clipped to ``value_range``, ``d`` in ``[lower, upper] * (range width)``;
- RandomFlip(mode): each image flipped with probability 1/2 (``horizontal_and_vertical``: one draw flips both axes);
- RandomCrop(height, width): one window for the batch, its top-left corner uniform over the valid positions.
"""

import numbers

import numpy as np

from ..image import FILL_MODES, INTERPOLATIONS, affine_transform, affine_transform_backward
from .base import Layer, positive_int

__all__ = ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
           "RandomBrightness", "RandomCrop"]


def _number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _factor_pair(label, name, factor, inside, bounds_text):
    """``factor`` as Keras reads it: a number ``f`` -> ``(-|f|, |f|)``, a pair -> sorted; every value
    must satisfy ``inside``; anything else is a ``ValueError`` naming the layer and the argument."""
    values = list(factor) if isinstance(factor, (list, tuple)) else [factor]
    if (isinstance(factor, (list, tuple)) and len(values) != 2) or not all(_number(v) and inside(v) for v in values):
        raise ValueError(f"{label}: {name} must be a number or a list of two numbers in {bounds_text}, "
                         f"received {factor!r}")
    if len(values) == 1:
        return -abs(float(factor)), abs(float(factor))
    lower, upper = sorted(float(v) for v in values)
    return lower, upper


def _check_geometry(layer, fill_mode, interpolation, data_format):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{layer.label}: fill_mode must be one of {FILL_MODES}, received {fill_mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{layer.label}: interpolation must be one of {INTERPOLATIONS}, received {interpolation!r}")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer.label}: data_format must be 'channels_last' (the engine is NHWC), "
                         f"received {data_format!r}")


class _Augmentation(Layer):
    """Shared plumbing: a seeded generator, identity in inference, the drawn parameters cached."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"{self.label}: seed must be an int or None, received {seed!r}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.fixed_transformation = None  # given parameters instead of a draw (tests feed both engines these)

    def _check_shape(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.label}: expected 4-D input (batch, height, width, channels), "
                             f"received shape {shape}")

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    def forward(self, x, training=False):
        self._check_input(x)
        if not training:
            self._cache = None
            return x
        transformation = self.fixed_transformation
        if transformation is None:
            transformation = self.get_random_transformation(x)
        self._cache = (x.shape, transformation)
        return self.transform_images(x, transformation)

    def backward(self, dy):
        if self._cache is None:
            return dy
        shape, transformation = self._cache
        return self._backward(dy, shape, transformation)


class RandomFlip(_Augmentation):
    """Flip each image left-right (``"horizontal"``), upside down (``"vertical"``) or both
    (``"horizontal_and_vertical"``, one coin for both axes), each with probability 1/2.

    Forward: ``y[n] = flip(x[n])`` where ``flips[n]``. Backward: ``dx[n] = flip(dy[n])`` there.
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"{self.label}: mode must be one of {self.MODES}, received {mode!r}")
        _check_geometry(self, "constant", "nearest", data_format)
        self.mode = mode

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}

    def get_random_transformation(self, x):
        return {"flips": self.rng.uniform(size=(x.shape[0], 1, 1, 1)) <= 0.5}

    def transform_images(self, x, transformation):
        flips = np.asarray(transformation["flips"], dtype=bool)
        y = x
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            y = np.where(flips, y[:, :, ::-1], y)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            y = np.where(flips, y[:, ::-1], y)
        return y

    def _backward(self, dy, shape, transformation):
        return self.transform_images(dy, transformation)  # a flip is its own inverse and adjoint


class _AffineAugmentation(_Augmentation):
    """A layer that resamples every image through one affine matrix per image."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_geometry(self, fill_mode, interpolation, data_format)
        if not _number(fill_value):
            raise ValueError(f"{self.label}: fill_value must be a number, received {fill_value!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}

    def transform_images(self, x, transformation):
        return affine_transform(x, self.matrix(x.shape, transformation), self.interpolation, self.fill_mode,
                                self.fill_value)

    def _backward(self, dy, shape, transformation):
        return affine_transform_backward(dy, self.matrix(shape, transformation), self.interpolation,
                                         self.fill_mode).astype(dy.dtype, copy=False)


class RandomRotation(_AffineAugmentation):
    """Rotate each image about its centre by an angle drawn in ``[lower, upper] * 360`` degrees.

    ``matrix``: with ``(cx, cy) = ((W - 1) / 2, (H - 1) / 2)`` and ``t`` the angle in radians,
    output ``(x, y)`` reads input ``(cx + cos t (x - cx) - sin t (y - cy), cy + sin t (x - cx) + cos t (y - cy))``
    (computed in float32, as Keras). Backward: TensorFlow's rule (module docstring).
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_pair(self.label, "factor", factor, lambda v: -1 <= v <= 1, "[-1, 1]")

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}

    def get_random_transformation(self, x):
        lower, upper = self.factor
        return {"angle": self.rng.uniform(lower * 360.0, upper * 360.0, size=x.shape[0]).astype(np.float32)}

    @staticmethod
    def matrix(shape, transformation):
        f32 = np.float32
        angle = np.asarray(transformation["angle"], dtype=f32) * f32(np.pi / 180.0)
        cx, cy = f32(0.5) * f32(shape[2] - 1), f32(0.5) * f32(shape[1] - 1)
        cos, sin = np.cos(angle), np.sin(angle)
        zeros = np.zeros_like(angle)
        a0, a1, b0, b1 = cos, -sin, sin, cos
        a2 = cx - cx * a0 - cy * a1
        b2 = cy - cx * b0 - cy * b1
        return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


class RandomTranslation(_AffineAugmentation):
    """Shift each image by ``dy = [lower, upper] * H`` rows and ``dx = [lower, upper] * W`` columns
    (positive: down and right). ``matrix = [1, 0, -dx, 0, 1, -dy, 0, 0]``. Backward: TensorFlow's rule.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        inside = lambda v: -1 <= v <= 1  # noqa: E731
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_pair(self.label, "height_factor", height_factor, inside, "[-1, 1]")
        self.width_range = _factor_pair(self.label, "width_factor", width_factor, inside, "[-1, 1]")

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}

    def get_random_transformation(self, x):
        n, h, w = x.shape[:3]
        dy = self.rng.uniform(*self.height_range, size=(n, 1)) * h
        dx = self.rng.uniform(*self.width_range, size=(n, 1)) * w
        return {"translations": np.concatenate([dx, dy], axis=1).astype(np.float32)}

    @staticmethod
    def matrix(shape, transformation):
        t = np.asarray(transformation["translations"], dtype=np.float32)
        ones, zeros = np.ones(len(t), np.float32), np.zeros(len(t), np.float32)
        return np.stack([ones, zeros, -t[:, 0], zeros, ones, -t[:, 1], zeros, zeros], axis=1)


class RandomZoom(_AffineAugmentation):
    """Zoom each image about its centre by ``zy = 1 + [lower, upper]`` (rows) and ``zx`` (columns;
    ``width_factor=None``: ``zx = zy``). ``z > 1`` zooms out. ``matrix = [zx, 0, (W - 1)/2 (1 - zx),
    0, zy, (H - 1)/2 (1 - zy), 0, 0]``. Backward: TensorFlow's rule.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        inside = lambda v: -1 < v <= 1  # noqa: E731
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_pair(self.label, "height_factor", height_factor, inside, "(-1, 1]")
        self.width_range = (None if width_factor is None else
                            _factor_pair(self.label, "width_factor", width_factor, inside, "(-1, 1]"))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}

    def get_random_transformation(self, x):
        n = x.shape[0]
        height_zoom = 1.0 + self.rng.uniform(*self.height_range, size=(n, 1))
        width_zoom = height_zoom if self.width_range is None else 1.0 + self.rng.uniform(*self.width_range, size=(n, 1))
        return {"height_zoom": height_zoom.astype(np.float32), "width_zoom": width_zoom.astype(np.float32)}

    @staticmethod
    def matrix(shape, transformation):
        f32 = np.float32
        zx = np.asarray(transformation["width_zoom"], dtype=f32).reshape(-1)
        zy = np.asarray(transformation["height_zoom"], dtype=f32).reshape(-1)
        zeros = np.zeros_like(zx)
        x_offset = (f32(shape[2]) - f32(1)) / f32(2) * (f32(1) - zx)
        y_offset = (f32(shape[1]) - f32(1)) / f32(2) * (f32(1) - zy)
        return np.stack([zx, zeros, x_offset, zeros, zy, y_offset, zeros, zeros], axis=1)


def _value_range(layer, value_range):
    if (not isinstance(value_range, (list, tuple)) or len(value_range) != 2
            or not all(_number(v) for v in value_range)):
        raise ValueError(f"{layer.label}: value_range must be a list of two numbers, received {value_range!r}")
    return sorted(float(v) for v in value_range)


class RandomContrast(_Augmentation):
    """``y = clip((x - m) * c + m, *value_range)``, ``m`` the mean of each image's channel over
    height and width, ``c`` drawn per image in ``[1 - lower, 1 + upper]`` (see the module docstring).

    Backward (``g = dy`` where the clip let the value through, else 0):
    ``dx = c * g + (1 - c) * mean_hw(g)``.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        values = list(factor) if isinstance(factor, (list, tuple)) else [factor]
        if (isinstance(factor, (list, tuple)) and (len(values) != 2 or not all(_number(v) for v in values)
                                                    or values[0] > 1 or values[1] < 0)) or \
                (not isinstance(factor, (list, tuple)) and not (_number(factor) and 0 <= factor <= 1)):
            raise ValueError(f"{self.label}: factor must be a number or a list of two numbers in [0, 1], "
                             f"received {factor!r}")
        self.factor = (max(-float(factor), 0.0), float(factor)) if len(values) == 1 else \
            tuple(sorted(float(v) for v in values))
        self.value_range = _value_range(self, value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}

    def get_random_transformation(self, x):
        lower, upper = self.factor
        c = self.rng.uniform(1.0 - lower, 1.0 + upper, size=(x.shape[0], 1, 1, 1))
        return {"contrast_factor": c.astype(self.dtype)}

    def _unclipped(self, x, transformation):
        c = np.asarray(transformation["contrast_factor"]).astype(x.dtype)
        mean = x.mean(axis=(1, 2), keepdims=True)
        return (x - mean) * c + mean, c

    def transform_images(self, x, transformation):
        z, _ = self._unclipped(x, transformation)
        return np.clip(z, *self.value_range).astype(x.dtype, copy=False)

    def _backward(self, dy, shape, transformation):
        z, c = self._unclipped(self._input, transformation)
        g = np.where((z >= self.value_range[0]) & (z <= self.value_range[1]), dy, 0).astype(dy.dtype)
        return c * g + (1 - c) * g.mean(axis=(1, 2), keepdims=True)

    def forward(self, x, training=False):
        self._input = x  # the clip mask and the mean need the input
        return super().forward(x, training)


class RandomBrightness(_Augmentation):
    """``y = clip(x + d, *value_range)``, ``d`` drawn per image in ``[lower, upper] * (high - low)``.

    Backward: ``dx = dy`` where the clip let the value through, else 0.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(self.label, "factor", factor, lambda v: -1 <= v <= 1, "[-1, 1]")
        self.value_range = _value_range(self, value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}

    def get_random_transformation(self, x):
        d = self.rng.uniform(*self.factor, size=(x.shape[0], 1, 1, 1)).astype(np.float32)
        return {"rgb_delta": d * np.float32(self.value_range[1] - self.value_range[0])}

    def transform_images(self, x, transformation):
        z = x + np.asarray(transformation["rgb_delta"]).astype(x.dtype)
        return np.clip(z, *self.value_range).astype(x.dtype, copy=False)

    def _backward(self, dy, shape, transformation):
        z = self._input + np.asarray(transformation["rgb_delta"]).astype(dy.dtype)
        return np.where((z >= self.value_range[0]) & (z <= self.value_range[1]), dy, 0).astype(dy.dtype)

    def forward(self, x, training=False):
        self._input = x
        return super().forward(x, training)


class RandomCrop(_Augmentation):
    """In training, cut one ``height x width`` window from the batch at a random top-left corner
    ``(h0, w0)``, uniform over ``0..H - height`` and ``0..W - width``; identity in inference (as Keras).

    An input of exactly the target size passes unchanged. Keras resizes a smaller input (its
    centred aspect-ratio crop resized to the target): the engine refuses it instead.
    Backward: ``dx`` zero everywhere but the window, where it is ``dy``.
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height = positive_int(height, "height", self.label)
        self.width = positive_int(width, "width", self.label)
        _check_geometry(self, "constant", "nearest", data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_random_transformation(self, x):
        h, w = x.shape[1:3]
        if h < self.height or w < self.width:
            raise ValueError(f"{self.label}: input {h}x{w} is smaller than the crop {self.height}x{self.width} "
                             f"(Keras resizes it; the engine does not), input shape {x.shape}")
        if h > self.height and w > self.width:
            return int(self.rng.integers(0, h - self.height + 1)), int(self.rng.integers(0, w - self.width + 1))
        # as Keras: not larger in both axes -> the centred window of the target's aspect ratio
        crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
        crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
        if (crop_h, crop_w) != (self.height, self.width):
            raise ValueError(f"{self.label}: input {h}x{w} needs Keras's resize to reach {self.height}x{self.width} "
                             f"(not implemented), input shape {x.shape}")
        return int((h - crop_h) / 2), int((w - crop_w) / 2)

    def transform_images(self, x, transformation):
        h0, w0 = (int(v) for v in transformation)
        return x[:, h0:h0 + self.height, w0:w0 + self.width]

    def _backward(self, dy, shape, transformation):
        h0, w0 = (int(v) for v in transformation)
        dx = np.zeros(shape, dy.dtype)
        dx[:, h0:h0 + self.height, w0:w0 + self.width] = dy
        return dx
