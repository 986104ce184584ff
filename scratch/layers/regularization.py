"""Regularization layers (``keras/src/layers/regularization``): Dropout and its variants, and the
noise layers. Each is active only in training (identity otherwise).

Every one of them draws its noise from its own generator (``rng``, seeded by Keras's ``seed``
argument, or by the model's seed when ``seed`` is None), so the same seed gives the same draws.
The draw can also be injected, replacing the random one: ``fixed_mask`` (a boolean keep mask, for
Dropout, SpatialDropout1D/2D/3D and AlphaDropout) or ``fixed_noise`` (standard normal draws, for
GaussianNoise and GaussianDropout), shaped as ``noise_shape_of(x.shape)`` (or broadcastable to
it): the parity suite injects the same draws into both engines that way
(``parity_tests.twins.injected_noise``).
"""

import math

import numpy as np

from .. import regularizers
from .base import Layer, check_spatial_rank

__all__ = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout", "GaussianNoise",
           "GaussianDropout", "ActivityRegularization"]


def _rate(value, layer, name="rate"):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"{layer}: {name} must be a number in [0, 1), received {value!r}")
    return float(value)


class NoiseLayer(Layer):
    """What the random layers share: the seed and generator, the injected draw, its shape."""

    FIXED = "fixed_mask"  # the attribute holding an injected draw

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"{self.label}: seed must be an int or None, received {seed!r}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        setattr(self, self.FIXED, None)

    def noise_shape_of(self, x_shape):
        """The shape of one draw for an input of ``x_shape`` (1s broadcast)."""
        return tuple(x_shape)

    def _draw(self, shape):
        raise NotImplementedError

    def _noise(self, x):
        """The injected draw if there is one (checked against ``x``), else a fresh one."""
        fixed = getattr(self, self.FIXED)
        if fixed is None:
            return self._draw(self.noise_shape_of(x.shape))
        fixed = np.asarray(fixed)
        try:
            fits = np.broadcast_shapes(fixed.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{self.label}: {self.FIXED} shape {fixed.shape} does not fit input {x.shape}")
        return fixed


class _RateNoise(NoiseLayer):
    """A keep mask ``u >= rate`` (``u`` uniform in [0, 1)) of shape ``noise_shape`` (Keras's: ``None``
    entries take the input's size, 1s broadcast)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, self.label)
        if noise_shape is not None:
            try:
                noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
            except (TypeError, ValueError):
                raise ValueError(f"{self.label}: noise_shape must be a tuple of ints or None, received "
                                 f"{noise_shape!r}") from None
        self.noise_shape = noise_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}

    def noise_shape_of(self, x_shape):
        if self.noise_shape is None:
            return tuple(x_shape)
        shape = tuple(n if d is None else d for n, d in zip(x_shape, self.noise_shape))
        if len(self.noise_shape) != len(x_shape) or any(d not in (1, n) for d, n in zip(shape, x_shape)):
            raise ValueError(f"{self.label}: noise_shape {self.noise_shape} does not fit input {tuple(x_shape)}")
        return shape

    def _draw(self, shape):
        return self.rng.random(shape) >= self.rate


class Dropout(_RateNoise):
    """Inverted dropout: when training, ``y = x * keep / (1 - rate)``; identity otherwise.

    ``keep = u >= rate`` for ``u`` uniform in [0, 1), drawn from this layer's own generator
    (seeded by ``seed``), so the same seed gives the same masks. ``fixed_mask`` (a boolean array
    shaped like the input, or broadcastable to it) replaces the random draw: the parity tests
    inject the same mask in both engines that way. Backward: ``dx = dy * keep / (1 - rate)``.

    ``noise_shape`` (as Keras): the shape of ``keep``, ``None`` entries taking the input's size,
    1s broadcasting: ``(None, 1, 1, 1)`` keeps or drops whole images (EfficientNet's drop connect).
    """

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.rate == 0:
            self._cache = None
            return x
        keep = np.asarray(self._noise(x), dtype=bool)
        scale = keep * self.dtype.type(1.0 / (1.0 - self.rate))
        self._cache = scale.astype(self.dtype, copy=False)
        return x * self._cache

    def backward(self, dy):
        return dy if self._cache is None else dy * self._cache


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep draw per sample and channel, shared by every
    position, ``noise_shape = (N, 1, ..., 1, C)`` (Keras's ``SpatialDropout``); otherwise Dropout.

    Shapes: ``x: (N, *spatial, C)`` -> the same.
    """

    rank = 2

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None,) + (1,) * self.rank + (None,), seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config

    def _check_shape(self, shape):
        check_spatial_rank(self, shape, self.rank)


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of ``(N, steps, C)``: the keep mask is ``(N, 1, C)``."""

    rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps of ``(N, H, W, C)``: the keep mask is ``(N, 1, 1, C)``."""


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole feature volumes of ``(N, D, H, W, C)``: the keep mask is ``(N, 1, 1, 1, C)``."""

    rank = 3


class AlphaDropout(_RateNoise):
    """Dropout that keeps a SELU network's mean and variance: dropped units are set to SELU's
    negative saturation ``alpha' = -scale * alpha``, then an affine map restores the statistics.

    Training (Keras's formula), with ``keep = u >= rate`` as Dropout::

        a = ((1 - rate) * (1 + rate * alpha'**2)) ** -0.5,   b = -a * alpha' * rate
        y = a * (x * keep + alpha' * (1 - keep)) + b
        dx = dy * a * keep

    ``alpha``, ``scale``: SELU's constants (1.6732632..., 1.0507009...). ``noise_shape`` as Dropout.
    Shapes: any ``x`` -> the same.
    """

    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def _affine(self):
        """``(alpha', a, b)`` in this layer's dtype, computed in float64 as Keras's Python floats."""
        alpha_p = -self.ALPHA * self.SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return tuple(self.dtype.type(v) for v in (alpha_p, a, b))

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.rate == 0:
            self._cache = None
            return x
        kept = np.asarray(self._noise(x), dtype=bool).astype(self.dtype)
        alpha_p, a, b = self._affine()
        self._cache = a * kept
        return a * (x * kept + alpha_p * (1 - kept)) + b

    def backward(self, dy):
        return dy if self._cache is None else dy * self._cache


class GaussianNoise(NoiseLayer):
    """Additive zero-centred Gaussian noise: when training ``y = x + stddev * z``, ``z`` standard
    normal, one per input value; identity otherwise. Backward: ``dx = dy``.

    ``fixed_noise`` (standard normal draws shaped like the input) replaces the random ``z``.
    Shapes: any ``x`` -> the same.
    """

    FIXED = "fixed_noise"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not isinstance(stddev, (int, float)) or isinstance(stddev, bool) or not 0 <= stddev <= 1:
            raise ValueError(f"{self.label}: stddev must be a number in [0, 1] (as Keras), received {stddev!r}")
        self.stddev = float(stddev)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}

    def _draw(self, shape):
        return self.rng.standard_normal(shape).astype(self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.stddev == 0:
            return x
        return x + np.asarray(self._noise(x), dtype=self.dtype) * self.dtype.type(self.stddev)

    def backward(self, dy):
        return dy


class GaussianDropout(NoiseLayer):
    """Multiplicative one-centred Gaussian noise: when training ``y = x * (1 + s * z)``, ``z`` standard
    normal, ``s = sqrt(rate / (1 - rate))`` (Keras's formula); identity otherwise.
    Backward: ``dx = dy * (1 + s * z)``.

    ``fixed_noise`` (standard normal draws shaped like the input) replaces the random ``z``.
    Shapes: any ``x`` -> the same.
    """

    FIXED = "fixed_noise"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, self.label)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def _draw(self, shape):
        return self.rng.standard_normal(shape).astype(self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.rate == 0:
            self._cache = None
            return x
        s = self.dtype.type(math.sqrt(self.rate / (1.0 - self.rate)))
        self._cache = np.asarray(self._noise(x), dtype=self.dtype) * s + self.dtype.type(1.0)
        return x * self._cache

    def backward(self, dy):
        return dy if self._cache is None else dy * self._cache
class ActivityRegularization(Layer):
    """The identity, whose output carries an activity penalty (Keras's ``ActivityRegularization``):
    ``y = x``, and ``L1L2(l1, l2)(y) / batch`` joins the training loss (see ``scratch.regularizers``).

    Shapes: any ``x`` -> the same shape. Backward: ``dx = dy`` (the model adds the penalty's
    gradient ``(l1 * sign(y) + 2 * l2 * y) / batch`` to ``dy`` first, as for any layer's
    ``activity_regularizer``).
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        if "activity_regularizer" in kwargs:
            raise ValueError(f"ActivityRegularization {kwargs.get('name')!r}: takes l1 and l2, not an "
                             f"activity_regularizer (received {kwargs['activity_regularizer']!r})")
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = None
        return x

    def backward(self, dy):
        return dy
