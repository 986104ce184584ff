"""What a model does with data, written once for every container: compile, train (``fit``,
``train_step``, ``compute_gradients``), evaluate, predict, save and load.

Shapes: ``x: (N, ...)`` inputs of the model's input shape (images ``(N, H, W, C)``), ``y: (N,)``
integer labels (or one-hot ``(N, K)`` with a categorical loss), outputs ``(N, K)``.
"""

import contextlib
import math
import time
import warnings

import numpy as np

from .. import layers as layers_mod
from .. import losses as losses_mod
from .. import optimizers as optimizers_mod
from ..checkpoint import SAVERS, load_checkpoint, save_checkpoint
from ..data import epoch_order


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the weights are those of the last good step."""


class Trainer:
    """What a model does with data: predict, compile, train, evaluate, save and load.

    ``scratch.Model`` (and so ``Sequential``) provides ``forward(x, training)``,
    ``backward(dy, logits, trainable_only)``, ``named_params()``/``named_grads()``,
    ``_as_input(x, what)``, ``_output_layer()`` and ``_last_input`` (the output layer's input
    after ``forward``), ``layers``, ``output_shape``, ``seed``, ``loss_spec`` and ``dtype``.
    """

    optimizer = None
    loss = None

    @property
    def _kind(self):
        return type(self).__name__

    # -- a softmax output and the cross-entropy (as Keras) ---------------------------------
    @property
    def softmax_output(self):
        """True when the last layer ends in a softmax (``Softmax``, or ``Dense(activation="softmax")``).

        Keras then computes a cross-entropy from the softmax's input (the logits) whatever the
        loss's ``from_logits`` says, and warns when it says ``True``; this engine does the same.
        """
        last = self._output_layer()
        return isinstance(last, layers_mod.Softmax) or (
            isinstance(last, layers_mod.Dense) and last.activation.name == "softmax")

    @property
    def outputs_are_logits(self):
        """Whether ``predict`` gives logits (else probabilities), for turning outputs into probabilities."""
        return bool(self.loss_spec.get("from_logits", False)) and not self.softmax_output

    def _loss_input(self, out, loss):
        """``(loss, y_pred)`` to compute the loss of output ``out`` (after ``forward``) with.

        With a softmax output, Keras's cross-entropy takes the softmax's logits (exact and
        stable) and warns if ``from_logits=True``; so here (keras/src/backend/tensorflow/nn.py).
        """
        if not self.softmax_output or not isinstance(loss, losses_mod._Categorical):
            return loss, out
        if loss.from_logits:
            sparse = isinstance(loss, losses_mod.SparseCategoricalCrossentropy)
            fn = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
            warnings.warn(f'"`{fn}` received `from_logits=True`, but the `output` argument was produced by a Softmax '
                          f'activation and thus does not represent logits. Was this intended?', UserWarning,
                          stacklevel=3)
        last = self._output_layer()
        logits = self._last_input if isinstance(last, layers_mod.Softmax) else last.pre_activation_output()
        return type(loss).from_config({**loss.get_config(), "from_logits": True}), logits

    # -- computing and training -----------------------------------------------------------
    def predict(self, x, batch_size=128):
        """Outputs ``(N, K)`` (logits for the registry architectures), in batches."""
        x = self._as_input(x, "predict")
        outs = [self.infer(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,) + self.output_shape[1:], self.dtype)

    def compile(self, optimizer="adam", loss=None):
        """Attach an optimizer (object or name) and a loss (object, name or None = the model's)."""
        self.optimizer = optimizers_mod.get(optimizer) if isinstance(optimizer, str) else optimizer
        if loss is None:  # the architecture's "loss": {"class_name": ..., <its config>}
            loss = losses_mod.deserialize(self.loss_spec)
        self.loss = losses_mod.get(loss) if isinstance(loss, (str, dict)) else loss
        return self

    def _check_training_data(self, x, y, what):
        x = self._as_input(x, what)
        if len(x) == 0:
            raise ValueError(f"{self._kind}.{what}: received 0 images (shape {x.shape}); there is nothing to "
                             f"{'train on' if what in ('fit', 'train_step') else 'evaluate'}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{self._kind}.{what}: input images contain NaN or inf")
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"{self._kind}.{what}: {len(x)} images but {len(y)} labels")
        k = self.output_shape[-1]
        if y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"{self._kind}.{what}: labels must be integers, received dtype {y.dtype}")
            if len(y) and (y.min() < 0 or y.max() >= k):
                raise ValueError(f"{self._kind}.{what}: labels must be in [0, {k - 1}], "
                                 f"received values from {y.min()} to {y.max()}")
        return x, y

    def _require_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise ValueError(f"{self._kind}.{what}: call compile(optimizer, loss) first")

    def compute_gradients(self, x, y, loss=None, trainable_only=True, training=True):
        """One forward pass, the loss, one backward pass; no update.

        Fills every layer's ``grads`` (``named_grads()``) and returns ``(loss, outputs)``; an
        optimizer step is then ``optimizer.step(model.named_params(), model.named_grads(),
        model.named_constraints())``. The loss includes the regularizers' penalties (``losses``).
        ``loss``: a loss object or name (default: the compiled one, else the model's ``loss_spec``).
        ``trainable_only`` (what a training step asks for) skips the backward pass below the
        lowest trainable weights (a frozen base); ``False`` runs it through every layer.
        ``training=False``: the forward pass in inference mode (no dropout, moving statistics).
        A NaN or infinite output or loss raises ``NonFiniteLossError`` before anything changes.
        """
        if loss is None:
            loss = self.loss if self.loss is not None else losses_mod.deserialize(self.loss_spec)
        elif isinstance(loss, (str, dict)):
            loss = losses_mod.get(loss)
        x, y = self._check_training_data(x, y, "compute_gradients")
        return self._gradients(x, y, loss, trainable_only, training)

    def _gradients(self, x, y, loss, trainable_only=True, training=True):
        step = self.optimizer.iterations + 1 if self.optimizer is not None else None
        with _state_kept_if_diverged(self.layers):
            out = _finite_output(self.forward(x, training=training), step)
            loss_fn, pred = self._loss_input(out, loss)
            value = _finite_loss(self._total_loss(loss_fn(y, pred)), step)
        self.backward(loss_fn.backward(), logits=pred is not out, trainable_only=trainable_only, penalties=True)
        self.add_regularization_gradients()
        return value, out

    def _step(self, x, y):
        """One training step on one batch: forward, loss, backward, update."""
        loss, out = self._gradients(x, y, self.loss)
        self.optimizer.step(self.named_params(), self.named_grads(), self.named_constraints(),
                            sparse=self.named_sparse_grads())
        return float(loss), _correct(out, y)

    def _total_loss(self, value):
        """The loss plus ``self.losses`` (the regularizers' penalties), as Keras's ``compute_loss``:
        ``sum([loss, *model.losses])`` in the loss's dtype (Keras: ``ops.sum`` of the list); the
        gradients of the penalties are added to the weights' (``add_regularization_gradients``) and
        to the regularized outputs' (``Model.backward``)."""
        terms = self.losses
        if not terms:
            return value
        return np.sum(np.array([value, *terms], dtype=np.asarray(value).dtype))

    def train_step(self, x, y):
        """One step on one batch: forward, loss, backward, update. Returns ``(loss, accuracy)``."""
        self._require_compiled("train_step")
        x, y = self._check_training_data(x, y, "train_step")
        loss, correct = self._step(x, y)
        return loss, correct / len(x)

    def fit(self, x, y, epochs=1, batch_size=32, shuffle=True, seed=None, validation_data=None,
            verbose=1, initial_epoch=0, on_batch_end=None, on_epoch_end=None):
        """Train; returns ``history`` (``{"loss": [...], "accuracy": [...], "val_loss": ...}``).

        Epoch ``e`` shuffles with ``default_rng([seed, e])``, so a run resumed at any epoch
        sees the same batches as an uninterrupted one. ``on_batch_end(epoch, step, steps,
        loss)`` and ``on_epoch_end(epoch, logs)`` are optional callbacks (progress bars,
        checkpoints). A non-finite loss raises ``NonFiniteLossError`` before the update.
        """
        self._require_compiled("fit")
        x, y = self._check_training_data(x, y, "fit")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"{self._kind}.fit: batch_size must be a positive int, received {batch_size!r}")
        seed = self.seed if seed is None else seed
        n = len(x)
        steps = math.ceil(n / batch_size)
        history = {"loss": [], "accuracy": []}
        for epoch in range(initial_epoch, epochs):
            order = epoch_order(seed, epoch, n) if shuffle else np.arange(n)
            start, total_loss, total_correct = time.perf_counter(), 0.0, 0
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                xb, yb = (x[idx], y[idx]) if shuffle else (x[s * batch_size:(s + 1) * batch_size],
                                                           y[s * batch_size:(s + 1) * batch_size])
                loss, correct = self._step(xb, yb)
                total_loss += loss * len(idx)
                total_correct += correct
                if on_batch_end is not None:
                    on_batch_end(epoch, s, steps, loss)
            seconds = time.perf_counter() - start
            logs = {"loss": total_loss / n, "accuracy": total_correct / n,
                    "seconds": seconds, "images_per_s": n / seconds}
            if validation_data is not None:
                logs["val_loss"], logs["val_accuracy"] = self.evaluate(*validation_data)
            for k, v in logs.items():
                history.setdefault(k, []).append(v)
            if verbose:
                extra = "".join(f" - {k}: {logs[k]:.4f}" for k in ("val_loss", "val_accuracy") if k in logs)
                print(f"Epoch {epoch + 1}/{epochs} - loss: {logs['loss']:.4f} - accuracy: {logs['accuracy']:.4f}"
                      f"{extra} - {logs['images_per_s']:.0f} images/s", flush=True)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
        return history

    def evaluate(self, x, y, batch_size=256):
        """``(loss, accuracy)`` over the whole set, the loss averaged per sample."""
        if self.loss is None:
            self.compile(optimizer=self.optimizer or "sgd")
        x, y = self._check_training_data(x, y, "evaluate")
        total_loss, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            out = self.forward(x[i:i + batch_size])
            yb = y[i:i + batch_size]
            loss_fn, pred = self._loss_input(out, self.loss)
            total_loss += float(self._total_loss(loss_fn(yb, pred))) * len(yb)  # penalties too, as Keras
            correct += _correct(out, yb)
        return total_loss / len(x), correct / len(x)

    # -- checkpoints ---------------------------------------------------------------------
    def save(self, path, meta=None):
        """Write weights, config, optimizer state and ``meta`` to a versioned ``.npz``, atomically; a
        path ending ``.keras`` or ``.weights.h5`` gets Keras's format (``scratch.keras_io``)."""
        for suffix, save in SAVERS.items():
            if str(path).endswith(suffix):
                return save(self, path)
        save_checkpoint(path, self, meta=meta)

    @classmethod
    def load(cls, path, dtype=None):
        """Rebuild a model (and its optimizer, if saved) from ``save``'s file."""
        return load_checkpoint(path, dtype=dtype)[0]


@contextlib.contextmanager
def _state_kept_if_diverged(layers):
    """A training-mode forward updates non-trainable state (BatchNormalization's moving
    statistics): on a ``NonFiniteLossError`` it is put back, so a failed step leaves the model
    exactly as the last good one."""
    saved = [(layer.state, {k: v.copy() for k, v in layer.state.items()}) for layer in layers if layer.state]
    try:
        yield
    except NonFiniteLossError:
        for state, copies in saved:
            for k, v in copies.items():
                state[k][...] = v
        raise


def _finite_output(out, step):
    """``out``, or a ``NonFiniteLossError`` naming the step (diverged weights, not bad input)."""
    if not np.all(np.isfinite(out)):
        raise NonFiniteLossError(f"non-finite model output (NaN or inf){_at(step)}")
    return out


def _finite_loss(loss, step):
    if not np.isfinite(loss):
        raise NonFiniteLossError(f"non-finite loss ({loss}){_at(step)}")
    return loss


def _at(step):
    return "" if step is None else f" at training step {step}"


def _correct(out, y):
    """How many samples of a batch are classified right: ``y`` labels or one-hot rows. With a class per
    position (``out`` ``(N, ..., K)``, a segmentation), each sample counts the share of its positions
    that are right, so ``correct / N`` is the pixel accuracy."""
    guess = out.argmax(axis=-1)
    labels = y.reshape(guess.shape) if y.size == guess.size else y.argmax(axis=-1)
    hits = guess == labels
    if hits.ndim == 1:
        return int(hits.sum())
    return float(hits.reshape(len(hits), -1).mean(axis=1).sum())
