"""Core layers (``keras/src/layers/core``)."""

import numpy as np

from .. import initializers
from .base import Layer, positive_int

__all__ = ["Dense", "Embedding", "ConstantOp"]


class Dense(Layer):
    """Fully connected layer on the last axis.

    Shapes: ``x: (N, ..., in)`` -> ``y: (N, ..., units)``; kernel ``(in, units)``, bias
    ``(units,)``. On more than two axes it applies to the last one at every position (as Keras).

    Forward ``z = x @ W + b, y = act(z)``. Backward ``dW = x.T @ dz``, ``db = sum_n dz``,
    ``dx = dz @ W.T``.
    """

    weight_names = ("kernel", "bias")
    BACKWARD_OPTIONS = ("pre_activation",)

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", self.label)
        self._set_weight_options(activation, use_bias, kernel_initializer, bias_initializer)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._weight_options_config()}

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ..., features), received shape {shape}")
        if self.built and shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{self.label}: expected {self.input_shape[-1]} input features, received {shape[-1]}")
        if shape[-1] is None:
            raise ValueError(f"{self.label}: the last axis of the input must have a known size, received shape {shape}")

    def _build(self, input_shape, rng):
        self.params["kernel"] = initializers.get(self.kernel_initializer, self.label)(
            (input_shape[-1], self.units), rng, self.dtype)
        if self.use_bias:
            self.params["bias"] = initializers.get(self.bias_initializer, self.label)((self.units,), rng, self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        self._check_input(x)
        z = x @ self.params["kernel"]
        if self.use_bias:
            z += self.params["bias"]
        y = self.activation(z)
        self._cache = (x, z, y)
        return y

    def pre_activation_output(self):
        """``z`` of the last ``forward`` (the logits, when the activation is a softmax)."""
        return self._cache[1]

    def backward(self, dy, pre_activation=False):
        """``dy``: dL/dy; with ``pre_activation=True``, already dL/dz (a model whose softmax output's
        loss is computed from the logits, as Keras)."""
        x, z, y = self._cache
        dz = dy if pre_activation else self.activation.backward(z, y, dy)
        rows = dz.reshape(-1, self.units)  # every leading axis is a batch of rows
        self.grads["kernel"] = x.reshape(-1, x.shape[-1]).T @ rows
        if self.use_bias:
            self.grads["bias"] = rows.sum(axis=0)
        return dz @ self.params["kernel"].T if self.input_grad else None


class Embedding(Layer):
    """A lookup table: each integer index becomes its row of ``embeddings``.

    Shapes: ``x: (N, ...)`` integers in ``[0, input_dim)`` -> ``y: (N, ..., output_dim)``;
    ``embeddings: (input_dim, output_dim)``.

    Forward ``y[n, ..., :] = embeddings[x[n, ...], :]``. Backward: a scatter-add,
    ``dembeddings[i, :] = sum of dy[n, ..., :] over the positions where x[n, ...] == i`` (an index
    seen twice receives both rows); no input gradient (``backward`` returns ``None``: integers have
    none, as in Keras, whose gradient stops at the lookup).

    The input is integer (any integer dtype; a model whose first layer is an Embedding takes
    ``int32`` input). Floats holding whole numbers are taken as those integers, which is what
    Keras's cast to ``int32`` makes of them; other floats, and indices outside ``[0, input_dim)``,
    are refused (Keras's lookup would truncate the first and fail on, or wrap, the others).

    ``mask_zero=True`` is refused: Keras would then carry a mask to the layers after it (which
    change what they compute where index 0 appears), and the scratch engine has no masks.
    ``input_length`` (Keras 2's argument, which Keras 3 takes and ignores with a warning) is
    accepted and ignored. ``embeddings_regularizer``/``embeddings_constraint`` and LoRA are not
    arguments here (``from_keras`` refuses them).
    """

    weight_names = ("embeddings",)
    INTEGER_INPUT = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, input_length=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "input_dim", self.label)
        self.output_dim = positive_int(output_dim, "output_dim", self.label)
        initializers.get(embeddings_initializer, self.label)
        self.embeddings_initializer = embeddings_initializer
        if mask_zero is not False:
            raise ValueError(f"{self.label}: mask_zero={mask_zero!r} is not computed by the scratch engine (it has "
                             f"no masks for the layers after it); expected mask_zero=False")
        self.mask_zero = False

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer}

    def accepts_dtype(self, dtype):
        return np.issubdtype(dtype, np.integer) or dtype == self.dtype

    def _check_shape(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{self.label}: expected input (batch, ...) of indices, received shape {shape}")

    def _build(self, input_shape, rng):
        self.params["embeddings"] = initializers.get(self.embeddings_initializer, self.label)(
            (self.input_dim, self.output_dim), rng, self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _check_input(self, x):
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self.label}: expected a NumPy array of indices, received {type(x).__name__}")
        if not np.issubdtype(x.dtype, np.integer):
            if not np.issubdtype(x.dtype, np.floating) or not np.array_equal(x, np.trunc(x)):
                raise ValueError(f"{self.label}: expected integer indices, received {x.dtype} values that are not "
                                 f"whole numbers")
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            raise ValueError(f"{self.label}: indices must be in [0, {self.input_dim}) (input_dim), received values "
                             f"from {x.min()} to {x.max()}")
        if not self.built:
            self.build((None,) + x.shape[1:])
        elif x.ndim != len(self.input_shape) or any(
                e is not None and e != d for e, d in zip(self.input_shape[1:], x.shape[1:])):
            raise ValueError(f"{self.label}: expected input shape {self.input_shape} (batch first), received {x.shape}")
        return x.astype(np.intp, copy=False)

    def forward(self, x, training=False):
        index = self._check_input(x)
        self._cache = index
        return self.params["embeddings"][index]

    def backward(self, dy):
        index = self._cache
        grad = np.zeros_like(self.params["embeddings"])
        rows, values = index.reshape(-1), dy.reshape(-1, self.output_dim)
        np.add.at(grad, rows, values)
        self.grads["embeddings"] = grad
        # Keras (TensorFlow) holds this gradient as slices, one per occurrence of a token: its optimizers
        # square and clip them one by one (Optimizer.step's ``sparse``), so the model hands them on
        self.sparse_grads = {"embeddings": (rows, values)}
        return None


class ConstantOp(Layer):
    """An arithmetic operation with a constant, as Keras records ``x + 3.0`` or ``x * (1 / 6)`` written
    on a symbolic tensor (a ``keras.ops`` call in a Functional graph, e.g. MobileNetV3's hard sigmoid).

    ``op``: ``"add"``, ``"subtract"``, ``"multiply"`` or ``"divide"``; ``value``: the constant (a
    number, cast to the layer's dtype as Keras casts a Python number to the tensor's dtype);
    ``reverse``: the constant comes first (``3.0 - x``, ``1.0 / x``).

    Shapes: any ``x`` -> the same shape. Backward: ``dy``, ``±dy``, ``dy * value``, ``dy / value``
    or, for ``value / x``, ``-dy * value / x**2``.
    """

    OPS = ("add", "subtract", "multiply", "divide")

    def __init__(self, op, value, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if op not in self.OPS:
            raise ValueError(f"{self.label}: op must be one of {self.OPS}, received {op!r}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
            raise ValueError(f"{self.label}: value must be a finite number, received {value!r}")
        if op == "divide" and not reverse and value == 0:
            raise ValueError(f"{self.label}: dividing by the constant 0")
        self.op, self.value, self.reverse = op, float(value), bool(reverse)

    def get_config(self):
        return {**super().get_config(), "op": self.op, "value": self.value, "reverse": self.reverse}

    def forward(self, x, training=False):
        self._check_input(x)
        c = self.dtype.type(self.value)
        self._cache = x
        if self.op == "add":
            return x + c if not self.reverse else c + x
        if self.op == "multiply":
            return x * c if not self.reverse else c * x
        if self.op == "subtract":
            return c - x if self.reverse else x - c
        return c / x if self.reverse else x / c

    def backward(self, dy):
        c = self.dtype.type(self.value)
        if self.op == "add":
            return dy
        if self.op == "multiply":
            return dy * c
        if self.op == "subtract":
            return -dy if self.reverse else dy
        x = self._cache
        return -dy * c / (x * x) if self.reverse else dy / c
