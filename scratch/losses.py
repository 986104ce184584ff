"""Cross-entropy losses, their reductions and their gradients, as Keras 3 computes them.

Every loss computes one value per sample, then reduces them (``reduction``, Keras's names):

    "sum_over_batch_size" (default), "mean", "mean_with_sample_weight":  sum(values) / N
    "sum":                                                               sum(values)
    None or "none":                                                      values, shape (N,)

(no sample weights here, so the three means are one). ``backward(dloss=None)`` returns
``dL/dy_pred`` for the last call, ``dloss`` being the upstream gradient of the returned value
(default 1, or ones(N) for per-sample values: the gradient of their sum, as
``tf.GradientTape`` gives for a vector target). Through the mean, each sample gets ``1/N``.

Categorical, from logits (the stable path), ``z`` the logits of one sample, ``y`` its target::

    log_softmax(z) = z - max(z) - log(sum(exp(z - max(z))))
    loss           = -sum(y * log_softmax(z))
    dloss/dz       = softmax(z) - y              (TensorFlow's kernel; exact when sum(y) = 1)

The shift by ``max(z)`` keeps every ``exp`` argument <= 0, so logits of +-1e4 give a finite,
exact loss where the naive ``log(exp(z) / sum(exp(z)))`` gives ``inf``/``nan``.

From probabilities (``from_logits=False``), as Keras 3's TensorFlow backend: probabilities are
clipped to ``[eps, 1 - eps]`` (``eps = 1e-7``, Keras's ``epsilon()``, cast to the dtype); the
categorical loss renormalises them first (``p / sum(p)``), the sparse one feeds ``log(clip(p))``
to a softmax cross-entropy. The gradient is zero where the clip is active (outside the
interval; at its ends it passes, as ``tf.clip_by_value``'s gradient does).

Label smoothing (``CategoricalCrossentropy``, ``BinaryCrossentropy``; Keras's
``SparseCategoricalCrossentropy`` has no such argument, so neither has ours)::

    categorical:  y = y * (1 - ls) + ls / K       (K classes)
    binary:       y = y * (1 - ls) + 0.5 * ls

Binary, elementwise over ``(N, K)`` then averaged over the last axis (``K`` outputs)::

    from logits:  l = max(z, 0) - z * y + log(1 + exp(-|z|))        dl/dz = sigmoid(z) - y
    from probs:   c = clip(p, eps, 1 - eps)
                  l = -(y * log(c) + (1 - y) * log(1 - c))          dl/dp = (c - y) / (c (1 - c)) inside, 0 outside
"""

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def log_softmax(z):
    """Stable ``log(softmax(z))`` over the last axis."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_fraction(label, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{label}: {name} must be a number in [0, 1], received {value!r}")
    return float(value)


class Loss:
    """Base class: ``_values(y_true, y_pred)`` gives one loss per sample (and caches what
    ``_backward`` needs); ``__call__`` reduces them; ``backward`` returns ``dL/dy_pred``."""

    default_name = "loss"

    def __init__(self, reduction="sum_over_batch_size", name=None):
        self.label = type(self).__name__
        if not (reduction is None or isinstance(reduction, str)) or reduction not in REDUCTIONS:
            raise ValueError(f"{self.label}: reduction must be one of {list(REDUCTIONS)}, received {reduction!r}")
        self.reduction = reduction
        self.name = name or self.default_name
        self._n = None

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, y_true, y_pred):
        """The reduced loss (a 0-d value of ``y_pred``'s dtype), or per-sample values ``(N,)``.

        Predictions of more axes, ``(N, ..., K)`` (a class per pixel: segmentation), give one value
        per position as Keras does, ``(N, ...)``; the means divide by their count (``N * positions``,
        Keras's ``sum_over_batch_size``)."""
        y_true, y_pred = self._positions_as_samples(y_true, y_pred)
        values = self._values(y_true, y_pred)
        self._n = len(values)
        if self.reduction in (None, "none") or values.shape == (0,):
            return values.reshape(self._pred_shape[:-1])  # Keras returns an empty batch's values unreduced too
        total = values.sum()
        if self.reduction == "sum":
            return total
        return total / values.dtype.type(len(values))

    def backward(self, dloss=None):
        """``dL/dy_pred`` for the last call; ``dloss``: upstream gradient of the returned value."""
        if self._n is None:
            raise ValueError(f"{self.label}: backward called before the loss was computed; call the loss on "
                             f"(y_true, y_pred) first")
        dtype = self._dtype
        n = self._n
        if self.reduction in (None, "none"):
            if dloss is None:
                dvalues = np.ones(n, dtype)
            else:  # one per value (per sample, or per position: flattened as the values were), or a scalar
                dloss = np.asarray(dloss, dtype)
                dvalues = dloss.reshape(-1) if dloss.size == n else np.broadcast_to(dloss, (n,))
        else:
            scale = dtype.type(1) if dloss is None else dtype.type(dloss)
            if self.reduction != "sum":  # d(sum / N)/d(sum) = 1/N
                scale = scale * (dtype.type(1) / dtype.type(n))
            dvalues = np.full(n, scale, dtype)
        return self._backward(dvalues).reshape(self._pred_shape)

    def _positions_as_samples(self, y_true, y_pred):
        """``(N, *P, K)`` predictions and their targets (``(N, *P)`` or ``(N, *P, 1)`` labels, ``(N, *P, K)``
        one-hot or binary targets) as ``N * P`` samples of ``(K,)``: every position is a sample of its own."""
        y_pred = np.asarray(y_pred)
        self._pred_shape = y_pred.shape
        if y_pred.ndim <= 2:
            return y_true, y_pred
        y_true = np.asarray(y_true)
        positions = y_pred.shape[:-1]
        if y_true.shape in (positions, positions + (1,)):
            return y_true.reshape(-1), y_pred.reshape(-1, y_pred.shape[-1])
        if y_true.shape == y_pred.shape:
            return y_true.reshape(-1, y_pred.shape[-1]), y_pred.reshape(-1, y_pred.shape[-1])
        raise ValueError(f"{self.label}: expected targets of shape {positions} (labels) or {y_pred.shape} for "
                         f"y_pred of shape {y_pred.shape}, received {y_true.shape}")

    # -- shared input checks -----------------------------------------------------------
    def _check_pred(self, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.ndim != 2 or not np.issubdtype(y_pred.dtype, np.floating):
            raise ValueError(f"{self.label}: expected y_pred of shape (batch, ..., classes) and a float dtype, "
                             f"received shape {y_pred.shape} and dtype {y_pred.dtype}")
        if not np.all(np.isfinite(y_pred)):
            raise ValueError(f"{self.label}: y_pred contains non-finite values (NaN or inf)")
        self._dtype = y_pred.dtype
        return y_pred

    def _check_axis(self, axis):
        if isinstance(axis, bool) or axis not in (-1, 1):
            raise ValueError(f"{self.label}: axis must be -1 (the class axis of (batch, classes) predictions), "
                             f"received {axis!r}")
        return int(axis)


class _Categorical(Loss):
    """Softmax cross-entropy over ``(N, K)`` predictions; subclasses turn ``y_true`` into targets."""

    def __init__(self, from_logits, reduction, name):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)

    def _targets(self, y_true, y_pred):
        raise NotImplementedError

    def _values(self, y_true, y_pred):
        p = self._check_pred(y_pred)
        y = self._targets(y_true, p)
        cast = p.dtype.type
        if self.from_logits:
            logp = log_softmax(p)
            self._cache = (y, np.exp(logp), None)
            return -(y * logp).sum(axis=-1)
        sparse = isinstance(self, SparseCategoricalCrossentropy)
        s = None if sparse else p.sum(axis=-1, keepdims=True)
        q = p if sparse else p / s
        lo, hi = cast(EPSILON), cast(1 - EPSILON)
        inside = (q >= lo) & (q <= hi)
        c = np.clip(q, lo, hi)
        if sparse:  # softmax cross-entropy of log(c): renormalises the clipped probabilities
            logq = log_softmax(np.log(c))
            self._cache = (y, np.exp(logq), (c, inside, p, s))
            return -(y * logq).sum(axis=-1)
        self._cache = (y, None, (c, inside, p, s))
        return -(y * np.log(c)).sum(axis=-1)

    def _backward(self, dvalues):
        y, q, clip = self._cache
        dv = dvalues[:, None]
        if self.from_logits:
            return (q - y) * dv
        c, inside, p, s = clip
        if s is None:
            # loss = -log_softmax(log c)[y]: d/dc = (softmax(log c) - y) / c
            return np.where(inside, (q - y) * dv / c, 0)
        # loss = -sum(y * log(c)), c = clip(p / s), s = sum(p)
        dq = np.where(inside, -y * dv / c, 0)
        return (dq - (dq * p).sum(axis=-1, keepdims=True) / s) / s


class SparseCategoricalCrossentropy(_Categorical):
    """Cross-entropy with integer labels ``(N,)`` (or ``(N, 1)``) against ``(N, classes)`` predictions.

    Keras's arguments; ``ignore_class`` must stay None and ``axis`` -1 (the only class axis
    of ``(N, K)`` predictions). No ``label_smoothing``: Keras's class has none (use
    ``CategoricalCrossentropy`` with one-hot labels).
    """

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy"):
        super().__init__(from_logits, reduction, name)
        if ignore_class is not None:
            raise ValueError(f"{self.label}: ignore_class is not supported, received {ignore_class!r} (use None)")
        self.ignore_class = None
        self.axis = self._check_axis(axis)

    def get_config(self):  # Keras's config has no "axis" for this class
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}

    def _targets(self, y_true, y_pred):
        n, k = y_pred.shape
        y_true = np.asarray(y_true)
        if y_true.ndim == 2 and y_true.shape[1] == 1:
            y_true = y_true[:, 0]
        if y_true.shape != (n,):
            raise ValueError(f"{self.label}: expected {n} integer labels for y_pred of shape {y_pred.shape}, "
                             f"received labels of shape {y_true.shape}")
        if not np.issubdtype(y_true.dtype, np.integer):
            if np.issubdtype(y_true.dtype, np.floating) and np.all(y_true == np.round(y_true)):
                y_true = y_true.astype(np.int64)
            else:
                raise ValueError(f"{self.label}: labels must be integers, received dtype {y_true.dtype}")
        if n and (y_true.min() < 0 or y_true.max() >= k):
            bad = y_true[(y_true < 0) | (y_true >= k)][0]
            raise ValueError(f"{self.label}: label {bad} is outside the {k} classes [0, {k - 1}]")
        onehot = np.zeros_like(y_pred)
        onehot[np.arange(n), y_true] = 1
        return onehot


class CategoricalCrossentropy(_Categorical):
    """Cross-entropy with one-hot (or soft) targets ``(N, classes)``, optionally smoothed."""

    default_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(from_logits, reduction, name)
        self.label_smoothing = _check_fraction(self.label, "label_smoothing", label_smoothing)
        self.axis = self._check_axis(axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}

    def _targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.label}: expected one-hot targets of shape {y_pred.shape}, "
                             f"received {y_true.shape}")
        y = y_true.astype(y_pred.dtype, copy=False)
        if self.label_smoothing:
            cast = y_pred.dtype.type
            y = y * cast(1 - self.label_smoothing) + cast(self.label_smoothing) / cast(y_pred.shape[-1])
        return y


class BinaryCrossentropy(Loss):
    """Sigmoid cross-entropy of ``(N, K)`` predictions (``K`` independent yes/no outputs, often 1)
    against targets of the same shape (``(N,)`` when ``K == 1``), averaged over the ``K`` outputs.

    ``from_logits=True``: ``y_pred`` are logits, the stable formula
    ``max(z, 0) - z * y + log(1 + exp(-|z|))``; else probabilities clipped to ``[1e-7, 1 - 1e-7]``.
    """

    default_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_fraction(self.label, "label_smoothing", label_smoothing)
        self.axis = self._check_axis(axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}

    def _values(self, y_true, y_pred):
        z = self._check_pred(y_pred)
        y = np.asarray(y_true)
        if y.ndim == 1 and z.shape[1] == 1:
            y = y[:, None]
        if y.shape != z.shape:
            raise ValueError(f"{self.label}: expected targets of shape {z.shape}, received {y.shape}")
        if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)
                or y.dtype == np.bool_) or not np.all(np.isfinite(y)):
            raise ValueError(f"{self.label}: targets must be finite numbers in [0, 1], received dtype {y.dtype}")
        cast = z.dtype.type
        y = y.astype(z.dtype)
        if self.label_smoothing:
            y = y * cast(1 - self.label_smoothing) + cast(0.5 * self.label_smoothing)
        k = cast(z.shape[1])
        if self.from_logits:
            e = np.exp(-np.abs(z))
            elementwise = np.maximum(z, 0) - z * y + np.log1p(e)
            sigmoid = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
            self._cache = (sigmoid - y, k)
        else:
            lo, hi = cast(EPSILON), cast(1 - EPSILON)
            inside = (z >= lo) & (z <= hi)
            c = np.clip(z, lo, hi)
            elementwise = -(y * np.log(c) + (1 - y) * np.log(1 - c))
            self._cache = (np.where(inside, -y / c + (1 - y) / (1 - c), 0), k)
        return elementwise.mean(axis=-1)

    def _backward(self, dvalues):
        d_elementwise, k = self._cache
        return d_elementwise * (dvalues[:, None] / k)


LOSSES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
          "categorical_crossentropy": CategoricalCrossentropy,
          "binary_crossentropy": BinaryCrossentropy}
CLASSES = {cls.__name__: cls for cls in LOSSES.values()}


def deserialize(spec):
    """A loss from an architecture's ``"loss"`` dict: ``{"class_name": ..., <config>...}`` (the
    config flat beside ``class_name``, or under ``"config"`` as Keras serialises it)."""
    if not isinstance(spec, dict) or spec.get("class_name") not in CLASSES:
        name = spec.get("class_name") if isinstance(spec, dict) else spec
        raise ValueError(f"unknown loss {name!r}; supported: {sorted(CLASSES)}")
    cls = CLASSES[spec["class_name"]]
    config = {k: v for k, v in spec.items() if k not in ("class_name", "config")}
    config.update(spec.get("config") or {})
    try:
        return cls.from_config(config)
    except TypeError:
        allowed = set(cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount])
        unknown = sorted(set(config) - allowed)
        raise ValueError(f"{cls.__name__}: unexpected argument(s) {unknown} (Keras's {cls.__name__} takes "
                         f"{sorted(allowed)})") from None


def serialize(loss):
    """The architecture-style dict of a loss: ``{"class_name": ..., **get_config()}``."""
    return {"class_name": type(loss).__name__, **loss.get_config()}


def get(loss, **kwargs):
    """A loss from itself, its Keras name (``"categorical_crossentropy"``) or class name, or a
    ``deserialize`` dict; ``kwargs`` (``from_logits=...``) configure a loss given by name."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, dict):
        return deserialize({**loss, **kwargs})
    cls = LOSSES.get(loss) or CLASSES.get(loss) if isinstance(loss, str) else None
    if cls is None:
        raise ValueError(f"unknown loss {loss!r}; supported: {sorted(LOSSES)}")
    return cls(**kwargs)
