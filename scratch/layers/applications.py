"""Layers that ``keras.applications`` defines itself (not in ``keras.layers``).

- ``LayerScale`` (ConvNeXt): ``y = x * gamma``, one trainable scale per channel.
- ``CustomScaleLayer`` (InceptionResNetV2): ``y = x_0 + scale * x_1``, a residual added with a
  fixed scale.
"""

import numpy as np

from .base import Layer

__all__ = ["LayerScale", "CustomScaleLayer"]


class LayerScale(Layer):
    """``y = x * gamma`` over the last axis; ``gamma: (projection_dim,)`` starts at ``init_values``.

    Shapes: ``x: (N, ..., projection_dim)`` -> same. Backward: ``dx = dy * gamma``,
    ``dgamma = sum of dy * x`` over every axis but the last. Keras names the weight ``variable``
    (it is created without a name), so that is its name here too.
    """

    weight_names = ("variable",)

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(projection_dim, int) or isinstance(projection_dim, bool) or projection_dim <= 0:
            raise ValueError(f"{self.label}: projection_dim must be a positive int, received {projection_dim!r}")
        self.init_values = float(init_values)
        self.projection_dim = projection_dim

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}

    def _check_shape(self, shape):
        if shape[-1] != self.projection_dim:
            raise ValueError(f"{self.label}: expected {self.projection_dim} channels on the last axis, received "
                             f"shape {shape}")

    def _build(self, input_shape, rng):
        self.params["variable"] = np.full((self.projection_dim,), self.init_values, dtype=self.dtype)

    def forward(self, x, training=False):
        self._check_input(x)
        self._cache = x
        return x * self.params["variable"]

    def backward(self, dy):
        x = self._cache
        self.grads["variable"] = (dy * x).reshape(-1, self.projection_dim).sum(axis=0)
        return dy * self.params["variable"]


class CustomScaleLayer(Layer):
    """``y = x_0 + x_1 * scale`` on a list of two arrays of one shape; backward ``[dy, dy * scale]``."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) and input_shape and \
            isinstance(input_shape[0], (list, tuple)) else None
        if shapes is None or len(shapes) != 2 or shapes[0][1:] != shapes[1][1:]:
            raise ValueError(f"{self.label}: expected two inputs of the same shape, received {input_shape!r}")
        self.input_shape, self.output_shape, self.built = shapes, shapes[0], True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, xs, training=False):
        if not isinstance(xs, (list, tuple)) or len(xs) != 2 or not all(isinstance(x, np.ndarray) for x in xs):
            raise ValueError(f"{self.label}: expected a list of two NumPy arrays")
        if any(x.dtype != self.dtype for x in xs):
            raise ValueError(f"{self.label}: expected {self.dtype.name} inputs, received {[x.dtype for x in xs]}")
        self.build([(None,) + x.shape[1:] for x in xs])
        return xs[0] + xs[1] * self.dtype.type(self.scale)

    def backward(self, dy):
        return [dy, dy * self.dtype.type(self.scale)]
