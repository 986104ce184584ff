"""Regularization layers (``keras/src/layers/regularization``)."""

import numpy as np

from .. import regularizers
from .base import Layer

__all__ = ["Dropout", "ActivityRegularization"]


class Dropout(Layer):
    """Inverted dropout: when training, ``y = x * keep / (1 - rate)``; identity otherwise.

    ``keep`` is drawn from this layer's own generator (seeded by ``seed``), so the same seed
    gives the same masks. ``fixed_mask`` (a boolean array shaped like the input, or
    broadcastable to it) replaces the random draw: the parity tests inject the same mask in
    both engines that way. Backward: ``dx = dy * keep / (1 - rate)``.

    ``noise_shape`` (as Keras): the shape of ``keep``, ``None`` entries taking the input's size,
    1s broadcasting: ``(None, 1, 1, 1)`` keeps or drops whole images (EfficientNet's drop connect).
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"{self.label}: rate must be a number in [0, 1), received {rate!r}")
        if noise_shape is not None:
            try:
                noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
            except (TypeError, ValueError):
                raise ValueError(f"{self.label}: noise_shape must be a tuple of ints or None, received "
                                 f"{noise_shape!r}") from None
        self.noise_shape = noise_shape
        self.rate = float(rate)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.fixed_mask = None

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}

    def forward(self, x, training=False):
        self._check_input(x)
        if not training or self.rate == 0:
            self._cache = None
            return x
        if self.fixed_mask is not None:
            keep = np.asarray(self.fixed_mask, dtype=bool)
            if np.broadcast_shapes(keep.shape, x.shape) != x.shape:
                raise ValueError(f"{self.label}: fixed_mask shape {keep.shape} does not fit input {x.shape}")
        else:
            shape = x.shape if self.noise_shape is None else tuple(
                n if d is None else d for n, d in zip(x.shape, self.noise_shape))
            if len(shape) != x.ndim or any(d not in (1, n) for d, n in zip(shape, x.shape)):
                raise ValueError(f"{self.label}: noise_shape {self.noise_shape} does not fit input {x.shape}")
            keep = self.rng.random(shape) >= self.rate
        scale = keep * self.dtype.type(1.0 / (1.0 - self.rate))
        self._cache = scale.astype(self.dtype, copy=False)
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
