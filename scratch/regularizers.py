"""Weight and activity penalties, as Keras 3's ``keras.regularizers`` (``keras/src/regularizers``).

A regularizer is a function of one array giving a scalar added to the training loss, and its
gradient::

    L1(l1):      R(w) = l1 * sum |w|                      dR/dw = l1 * sign(w)      (0 at w = 0, as TF)
    L2(l2):      R(w) = l2 * sum w**2                     dR/dw = 2 * l2 * w
    L1L2(l1, l2): R(w) = l1 * sum |w| + l2 * sum w**2     (each term only when its factor is not 0)

The factor is cast to the array's dtype before the product, as Keras's ``ops.cast(l, x.dtype)``,
which is ``tf.cast`` of a Python float: TensorFlow first makes it a float32 tensor, so a float64
penalty is computed with ``float64(float32(l))``, here too (``_factor_as``). ``L1`` even stores
its factor so (``ops.convert_to_tensor(l1)`` under the default floatx): ``L1(0.01)``'s config
says ``l1 = 0.009999999776482582``, as here.

Where they enter a model's loss (``scratch.models.trainer``, as Keras's ``Trainer.compute_loss``
and ``Layer.losses``):

- a weight regularizer (``kernel_regularizer``, ``bias_regularizer``...): ``R(w)`` of each
  trainable weight that has one, once per step, not divided by anything;
- an activity regularizer (``activity_regularizer``, the ``ActivityRegularization`` layer): ``R(y)``
  of the layer's output, **divided by the batch size** (``y.shape[0]``; Keras 3,
  ``Layer.__call__``), on every call of the layer.

Names Keras's ``regularizers.get`` takes: ``"l1"``/``"L1"`` (``L1(0.01)``), ``"l2"``/``"L2"``
(``L2(0.01)``), ``"l1l2"``/``"L1L2"`` (``L1L2(0.0, 0.0)``: both factors 0, whatever its
docstring says). Keras 3 refuses ``"l1_l2"`` (not a registered name); so does this module.
"""

import numpy as np

from . import keras_objects


def _factor(value, name, label):
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) \
            or not np.isfinite(value) or value < 0:
        raise ValueError(f"{label}: {name} must be a non-negative number, received {value!r}")
    return float(value)


def _factor_as(value, dtype):
    """``ops.cast(value, dtype)`` of a Python float under TensorFlow: through float32."""
    return dtype.type(np.float32(value))


class Regularizer:
    """``R(x)`` (``__call__``: a scalar of ``x``'s dtype) and ``dR/dx`` (``gradient``: ``x``'s shape)."""

    def __call__(self, x):
        raise NotImplementedError

    def gradient(self, x, scale=1.0):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum |x| + l2 * sum x**2``, a term only when its factor is not 0 (Keras adds them in
    that order to a 0 of ``x``'s dtype)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x):
        cast = x.dtype.type
        total = cast(0.0)
        if self.l1 != 0.0:
            total = total + _factor_as(self.l1, x.dtype) * np.sum(np.abs(x))
        if self.l2 != 0.0:
            total = total + _factor_as(self.l2, x.dtype) * np.sum(np.square(x))
        return cast(total)

    def gradient(self, x, scale=1.0):
        """``scale * dR/dx`` in TensorFlow's order: ``(scale * l1) * sign(x) + (scale * l2) * (x * 2)``."""
        cast = x.dtype.type
        g = np.zeros_like(x)
        if self.l1 != 0.0:
            g += (cast(scale) * _factor_as(self.l1, x.dtype)) * np.sign(x)
        if self.l2 != 0.0:
            g += (cast(scale) * _factor_as(self.l2, x.dtype)) * (x * cast(2.0))
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum |x|``; ``l1`` rounded to float32 as Keras stores it (see the module doc)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=float(np.float32(_factor(0.01 if l1 is None else l1, "l1", "L1"))))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum x**2``."""

    def __init__(self, l2=0.01):
        super().__init__(l2=_factor(0.01 if l2 is None else l2, "l2", "L2"))

    def get_config(self):
        return {"l2": self.l2}


CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
NAMES = {"l1": L1, "l2": L2, "l1l2": L1L2, **CLASSES}  # what Keras's ``regularizers.get`` takes by name


def get(identifier, label="regularizer"):
    """A ``Regularizer`` from ``None`` (None), an instance, a Keras name (``"l2"``) or a serialized dict
    (``{"class_name": "L2", "config": {"l2": 0.01}}``, Keras's form); anything else refused naming ``label``."""
    return keras_objects.get(identifier, label, "regularizer", Regularizer, NAMES, CLASSES)


def serialize(regularizer):
    """Keras's serialized form (``keras.regularizers.serialize``), or None."""
    return keras_objects.serialize(regularizer, "keras.regularizers")
