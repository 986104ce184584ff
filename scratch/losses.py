"""Cross-entropy losses with batch-mean reduction and their gradients.

From logits (the stable path), with ``z`` the logits of one sample and ``y`` its one-hot
target::

    log_softmax(z) = z - max(z) - log(sum(exp(z - max(z))))
    loss           = -sum(y * log_softmax(z))
    dloss/dz       = (softmax(z) - y) / N        (N: batch size, from the mean reduction)

The shift by ``max(z)`` keeps every ``exp`` argument <= 0, so logits of +-1e4 give a finite,
exact loss where the naive ``log(exp(z) / sum(exp(z)))`` gives ``inf``/``nan``.

From probabilities (``from_logits=False``), as Keras 3 computes it: probabilities are
clipped to ``[1e-7, 1 - 1e-7]`` (Keras's ``epsilon``); the categorical loss renormalises
them first, the sparse one feeds ``log(p)`` to a softmax cross-entropy. The gradient is zero
where the clip is active, as in TensorFlow.

Usage: ``value = loss(y_true, y_pred)`` caches what ``loss.backward()`` needs; ``backward``
returns ``dL/dy_pred`` with the ``1/N`` of the mean.
"""

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon()


def log_softmax(z):
    """Stable ``log(softmax(z))`` over the last axis."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class _CrossEntropy:
    sparse = False

    def __init__(self, from_logits=False, name=None):
        self.from_logits = bool(from_logits)
        self.name = name or type(self).__name__

    def get_config(self):
        return {"from_logits": self.from_logits}

    def _check(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.ndim != 2 or not np.issubdtype(y_pred.dtype, np.floating):
            raise ValueError(f"{self.name}: expected y_pred of shape (batch, classes) and a float dtype, "
                             f"received shape {y_pred.shape} and dtype {y_pred.dtype}")
        if not np.all(np.isfinite(y_pred)):
            raise ValueError(f"{self.name}: y_pred contains non-finite values (NaN or inf)")
        n, k = y_pred.shape
        y_true = np.asarray(y_true)
        if self.sparse:
            if y_true.ndim == 2 and y_true.shape[1] == 1:
                y_true = y_true[:, 0]
            if y_true.shape != (n,):
                raise ValueError(f"{self.name}: expected {n} integer labels for y_pred of shape {y_pred.shape}, "
                                 f"received labels of shape {y_true.shape}")
            if not np.issubdtype(y_true.dtype, np.integer):
                if np.issubdtype(y_true.dtype, np.floating) and np.all(y_true == np.round(y_true)):
                    y_true = y_true.astype(np.int64)
                else:
                    raise ValueError(f"{self.name}: labels must be integers, received dtype {y_true.dtype}")
            if n and (y_true.min() < 0 or y_true.max() >= k):
                bad = y_true[(y_true < 0) | (y_true >= k)][0]
                raise ValueError(f"{self.name}: label {bad} is outside the {k} classes [0, {k - 1}]")
            onehot = np.zeros_like(y_pred)
            onehot[np.arange(n), y_true] = 1
            return onehot, y_pred
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: expected one-hot targets of shape {y_pred.shape}, received {y_true.shape}")
        return y_true.astype(y_pred.dtype, copy=False), y_pred

    def __call__(self, y_true, y_pred):
        """Batch-mean loss (a Python float of ``y_pred``'s dtype precision)."""
        y, p = self._check(y_true, y_pred)
        n = p.shape[0]
        if self.from_logits:
            logp = log_softmax(p)
            self._cache = (y, np.exp(logp), None, n)
            per_sample = -(y * logp).sum(axis=-1)
        else:
            if not self.sparse:
                p = p / p.sum(axis=-1, keepdims=True)
            inside = (p >= EPSILON) & (p <= 1 - EPSILON)
            c = np.clip(p, EPSILON, 1 - EPSILON)
            if self.sparse:
                logq = log_softmax(np.log(c))
                self._cache = (y, np.exp(logq), (c, inside, y_pred), n)
                per_sample = -(y * logq).sum(axis=-1)
            else:
                self._cache = (y, None, (c, inside, y_pred), n)
                per_sample = -(y * np.log(c)).sum(axis=-1)
        return per_sample.mean()

    def backward(self):
        """``dL/dy_pred`` for the last call, including the ``1/N`` of the mean."""
        if not hasattr(self, "_cache"):
            raise ValueError(f"{self.name}: backward called before the loss was computed; call loss(y_true, y_pred) "
                             f"first")
        y, q, clip, n = self._cache
        if self.from_logits:
            return (q - y) / q.dtype.type(n)
        c, inside, p_in = clip
        if self.sparse:
            # loss = -log_softmax(log c)[y]: d/dc = (softmax(log c) - y) / c
            dc = (q - y) / c
            return np.where(inside, dc, 0) / c.dtype.type(n)
        # loss = -sum(y * log(c)), c = clip(p / s), s = sum(p)
        dq = np.where(inside, -y / c, 0)
        s = p_in.sum(axis=-1, keepdims=True)
        dp = (dq - (dq * p_in).sum(axis=-1, keepdims=True) / s) / s
        return dp / c.dtype.type(n)


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer labels ``(N,)`` against ``(N, classes)`` predictions."""

    sparse = True


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with one-hot (or soft) targets ``(N, classes)``."""


LOSSES = {"sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
          "categorical_crossentropy": CategoricalCrossentropy}


def get(loss, from_logits=True):
    """A loss object from itself or its Keras name."""
    if isinstance(loss, _CrossEntropy):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; supported: {sorted(LOSSES)}")
    return LOSSES[loss](from_logits=from_logits)
