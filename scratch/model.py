"""``Sequential``: a stack of layers, its training loop, and its checkpoints.

Shapes: ``x: (N, H, W, C)`` images, ``y: (N,)`` integer labels (or one-hot ``(N, K)`` with
a categorical loss), outputs ``(N, K)``.
"""

import contextlib
import json
import math
import os
import re
import tempfile
import time
import warnings

import numpy as np

from . import architectures
from . import layers as layers_mod
from . import losses as losses_mod
from . import optimizers as optimizers_mod

CHECKPOINT_FORMAT = "scratch-cnn-checkpoint"
CHECKPOINT_VERSION = 1


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the weights are those of the last good step."""


def _snake(name):
    """Keras's default layer names: ``MaxPooling2D`` -> ``max_pooling2d``, ``ReLU`` -> ``re_lu``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class Trainer:
    """What a model does with data, shared by ``Sequential`` and the graph ``Model``: predict,
    compile, train (``train_step``, ``fit``), evaluate, save and load.

    The model provides ``forward(x, training)``, ``backward(dy, logits=False)``,
    ``named_params()``/``named_grads()``, ``_as_input(x, what)``, ``_output_layer()``, ``layers``,
    ``output_shape``, ``seed``, ``loss_spec`` and ``dtype``.
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
        outs = [self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
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

    def _step(self, x, y):
        """One training step on one batch: forward, loss, backward, update."""
        step = self.optimizer.iterations + 1
        with _state_kept_if_diverged(self.layers):
            out = _finite_output(self.forward(x, training=True), step)
            loss_fn, pred = self._loss_input(out, self.loss)
            loss = _finite_loss(loss_fn(y, pred), step)
        self.backward(loss_fn.backward(), logits=pred is not out, trainable_only=True)
        self.optimizer.step(self.named_params(), self.named_grads())
        labels = y if y.ndim == 1 else y.argmax(axis=-1)
        return float(loss), int((out.argmax(axis=-1) == labels).sum())

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
            order = (np.random.default_rng([0 if seed is None else seed, epoch]).permutation(n)
                     if shuffle else np.arange(n))
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
            total_loss += float(loss_fn(yb, pred)) * len(yb)
            labels = yb if yb.ndim == 1 else yb.argmax(axis=-1)
            correct += int((out.argmax(axis=-1) == labels).sum())
        return total_loss / len(x), correct / len(x)

    # -- checkpoints ---------------------------------------------------------------------
    def save(self, path, meta=None):
        """Write weights, config, optimizer state and ``meta`` to a versioned ``.npz``, atomically."""
        save_checkpoint(path, self, meta=meta)

    @classmethod
    def load(cls, path, dtype=None):
        """Rebuild a model (and its optimizer, if saved) from ``save``'s file."""
        return load_checkpoint(path, dtype=dtype)[0]


class Sequential(Trainer):
    """A linear stack of layers with Keras's model API.

    ``Sequential(layers, input_shape=(28, 28, 1), dtype="float32", seed=0)`` builds at once
    when ``input_shape`` (no batch axis) is given, else on the first call. ``seed`` fixes the
    initial weights and the dropout masks.
    """

    def __init__(self, layers=(), input_shape=None, name="sequential", dtype="float32", seed=None,
                 preprocess="scale", loss=None):
        self.name = name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Sequential: dtype must be float32 or float64, received {dtype!r}")
        self.seed = seed
        self.preprocess = preprocess
        self.loss_spec = loss or {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}
        self.layers = []
        self.optimizer = None
        self.loss = None
        self.built = False
        self.input_shape = None
        for layer in layers:
            self.add(layer)
        if input_shape is not None:
            self.build((None,) + tuple(input_shape))

    # -- structure ---------------------------------------------------------------------
    def add(self, layer):
        if not isinstance(layer, layers_mod.Layer):
            raise ValueError(f"Sequential: can only add scratch layers, received {type(layer).__name__}")
        if layer.dtype != self.dtype:
            raise ValueError(f"Sequential: layer {layer.label} has dtype {layer.dtype.name}, the model {self.dtype.name}")
        if layer.name is None:
            base = _snake(type(layer).__name__)
            taken = {existing.name for existing in self.layers}
            layer.name, k = base, 0
            while layer.name in taken:
                k += 1
                layer.name = f"{base}_{k}"
        elif any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"Sequential: duplicate layer name {layer.name!r}")
        i = len(self.layers)
        if self.seed is not None:
            derived = int(self.seed) * 1000 + i
            if isinstance(layer, layers_mod.Dropout):
                if layer.seed is None:  # keep the config's seed as the user gave it
                    layer.rng = np.random.default_rng(derived)
            elif layer.seed is None:
                layer.seed = derived
        self.layers.append(layer)
        self.built = False

    def build(self, input_shape):
        """Build every layer in turn from ``input_shape`` (batch axis first)."""
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"Sequential: input_shape must be (batch, height, width, channels), received {shape}")
        self.input_shape = shape
        for i, layer in enumerate(self.layers):
            layer.input_grad = i > 0  # nobody needs dL/d(image)
            if not layer.built or layer.input_shape[1:] != shape[1:]:
                layer.build(shape)
            shape = layer.output_shape
        self.built = True

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.built else None

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print):
        """Print layers, output shapes and parameter counts, in Keras's columns."""
        if not self.built:
            raise ValueError("Sequential.summary: the model is not built; give input_shape or call it once")
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        w = [max(len(h), *(len(r[c]) for r in rows)) for c, h in enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "+-" + "-+-".join("-" * n for n in w) + "-+"
        out = [f'Model: "{self.name}"', line,
               "| " + " | ".join(h.ljust(n) if c < 2 else h.rjust(n) for c, (h, n) in
                                 enumerate(zip(("Layer (type)", "Output Shape", "Param #"), w))) + " |", line]
        out += ["| " + r[0].ljust(w[0]) + " | " + r[1].ljust(w[1]) + " | " + r[2].rjust(w[2]) + " |" for r in rows]
        total = self.count_params()
        trainable = sum(layer.count_trainable_params() for layer in self.layers)

        def human(count):
            size = count * self.dtype.itemsize
            return f"{size:.2f} B" if size < 1024 else (f"{size / 1024:.2f} KB" if size < 1024 ** 2
                                                       else f"{size / 1024 ** 2:.2f} MB")

        out += [line, f" Total params: {total:,} ({human(total)})",
                f" Trainable params: {trainable:,} ({human(trainable)})",
                f" Non-trainable params: {total - trainable:,} ({human(total - trainable)})"]
        for s in out:
            print_fn(s)

    # -- weights and config --------------------------------------------------------------
    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"Sequential.{what}: the model is not built; give input_shape or call it once")

    def get_weights(self):
        """All weights in Keras order (layer by layer, ``kernel`` then ``bias``)."""
        self._require_built("get_weights")
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        """Set all weights from a flat list in Keras order; counts and shapes are checked."""
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(layer.get_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Sequential.set_weights: expected {expected} arrays "
                             f"({', '.join(f'{la.name}: {len(la.get_weights())}' for la in self.layers)}), "
                             f"received {len(weights)}")
        i = 0
        for layer in self.layers:
            n = len(layer.get_weights())
            layer.set_weights(weights[i:i + n])
            i += n

    def named_params(self):
        """``{"layer/key": array}`` of every trainable parameter (live references); a frozen
        layer's (``trainable=False``) are left out, so no optimizer ever changes them, creates
        slots for them or saves slots of them in a checkpoint. Non-trainable ``state``
        (BatchNormalization's moving statistics) is never here: the layer updates it itself in
        training mode, unless frozen; it is saved and loaded with the weights (``get_weights``)."""
        return {f"{layer.name}/{k}": v for layer in self.layers if layer.trainable for k, v in layer.params.items()}

    def named_grads(self):
        return {f"{layer.name}/{k}": v for layer in self.layers if layer.trainable for k, v in layer.grads.items()}

    def get_config(self):
        """The architecture description (see ``scratch.architectures``) of this model."""
        self._require_built("get_config")
        return {"name": self.name, "dtype": self.dtype.name, "input_shape": list(self.input_shape[1:]),
                "preprocess": self.preprocess, "loss": dict(self.loss_spec),
                "layers": [layers_mod.serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config, dtype=None, seed=None):
        desc = architectures.validate(json.loads(json.dumps(config)), "model config")
        dtype = dtype or desc.get("dtype", "float32")
        layer_list = []
        for spec in desc["layers"]:
            spec = {"class_name": spec["class_name"],
                    "config": {k: v for k, v in spec["config"].items() if k != "dtype"}}
            layer_list.append(layers_mod.deserialize(spec, dtype=dtype))
        return cls(layer_list, input_shape=desc["input_shape"], name=desc.get("name", "sequential"),
                   dtype=dtype, seed=seed, preprocess=desc["preprocess"], loss=desc["loss"])

    # -- computing -----------------------------------------------------------------------
    def _as_input(self, x, what):
        """Images as this model's dtype. Floats are cast like Keras's autocast; ints refused."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"Sequential.{what}: expected float images (N, H, W, C), received dtype {x.dtype}; "
                             f"use scratch.preprocess() on raw uint8 images")
        if self.input_shape is not None and x.shape == self.input_shape[1:]:
            raise ValueError(f"Sequential.{what}: received one image of shape {x.shape} without the batch axis; "
                             f"pass x[None] (shape {(1,) + x.shape})")
        if x.ndim == 3 and self.input_shape is not None and self.input_shape[3] == 1:
            if x.shape[1:] != self.input_shape[1:3]:
                raise ValueError(f"Sequential.{what}: expected images (N, H, W, C) of shape "
                                 f"{self.input_shape[1:]} each, received shape {x.shape}")
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(f"Sequential.{what}: expected images (N, H, W, C), received shape {x.shape}")
        if not self.built:
            self.build((None,) + x.shape[1:])
        elif x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"Sequential.{what}: expected images of shape {self.input_shape[1:]}, received {x.shape[1:]}")
        return x.astype(self.dtype, copy=False)

    def forward(self, x, training=False):
        """Run every layer's ``forward``; ``x`` must already be of the model's dtype."""
        for layer in self.layers:
            self._last_input = x  # a Softmax output layer's input: the logits (see softmax_output)
            x = layer.forward(x, training=training)
        return x

    __call__ = forward

    def backward(self, dy, logits=False, trainable_only=False):
        """Backpropagate ``dL/d(output)`` through every layer; fills each layer's ``grads``.

        ``logits=True``: ``dy`` is the gradient w.r.t. the logits of a softmax output (see
        ``softmax_output``): a last ``Softmax`` layer is skipped, a last ``Dense`` takes it as
        its ``dL/dz``. ``trainable_only`` (what a training step asks for): below the lowest layer
        with trainable weights nothing needs a gradient (a frozen base in transfer learning), so
        the pass stops there and that layer computes no dL/d(its input), unless dL/d(image) is
        asked for (the first layer's ``input_grad``, off by default); returns None then.
        """
        calls = self.backward_calls()
        lowest = 0
        if trainable_only and not (self.layers and self.layers[0].input_grad):
            lowest = next((i for i, layer in enumerate(self.layers) if layer.trainable and layer.params),
                          len(self.layers))
        calls = calls[:len(self.layers) - lowest]
        if not calls:
            return None
        if logits:
            if isinstance(calls[0][0], layers_mod.Softmax):
                calls = calls[1:]
            else:
                calls[0] = (calls[0][0], {**calls[0][1], "pre_activation": True})
        if lowest > 0:
            self.layers[lowest].input_grad = False  # for this pass only
        try:
            for layer, options in calls:
                dy = layer.backward(dy, **options)
        finally:
            if lowest > 0:
                self.layers[lowest].input_grad = True  # as build() set it
        return None if lowest > 0 else dy

    def backward_calls(self):
        """``(layer, backward options)`` in backward order. One fusion: a ``MaxPooling2D``
        after a ``Conv2D(activation="relu")`` applies the ReLU mask to its own (smaller)
        gradient, ``relu_input=True``, and the convolution skips its full-size mask pass,
        ``pre_activation=True``; the gradients are the same values (tests/test_fusion.py)."""
        calls = []
        fused = False
        for i in range(len(self.layers) - 1, -1, -1):
            layer, options = self.layers[i], {}
            if fused:
                options["pre_activation"] = True
            below = self.layers[i - 1] if i > 0 else None
            fused = (isinstance(layer, layers_mod.MaxPooling2D) and isinstance(below, layers_mod.Conv2D)
                     and below.activation.name == "relu")
            if fused:
                options["relu_input"] = True
            calls.append((layer, options))
        return calls

    def _output_layer(self):
        return self.layers[-1] if self.layers else None


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
        raise NonFiniteLossError(f"non-finite model output (NaN or inf) at training step {step}")
    return out


def _finite_loss(loss, step):
    if not np.isfinite(loss):
        raise NonFiniteLossError(f"non-finite loss ({loss}) at training step {step}")
    return loss


def build_model(arch="blog", dtype="float32", seed=None):
    """A built model from a registry name, a JSON file or a description dict: a ``Sequential``, or
    a graph ``Model`` for a graph description (``Model.get_config()``)."""
    return model_from_config(architectures.get_architecture(arch), dtype=dtype, seed=seed)


def leaf_layers(model):
    """Every layer of ``model`` that computes, nested models opened (a graph's sub-models)."""
    for layer in model.layers:
        if hasattr(layer, "nodes"):
            yield from leaf_layers(layer)
        else:
            yield layer


def _dropout_states(model):
    return {layer.name: layer.rng.bit_generator.state for layer in leaf_layers(model)
            if isinstance(layer, layers_mod.Dropout)}


def model_from_config(config, dtype=None, seed=None):
    """A ``Sequential`` from an architecture description, or a graph ``Model`` from its config
    (one with ``inputs``); checkpoints hold either."""
    if isinstance(config, dict) and "inputs" in config and "input_shape" not in config:
        from .functional import Model

        return Model.from_config(config, dtype=dtype, seed=seed)
    return Sequential.from_config(config, dtype=dtype, seed=seed)


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash or Ctrl-C mid-write leaves the previous file intact.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_checkpoint(path, model, meta=None):
    """Save ``model`` (weights in Keras order, config, optimizer state, RNG states, ``meta``).

    Layout of the ``.npz``: ``format``, ``format_version``, ``config`` (JSON), ``weight_000``...,
    ``optimizer`` (JSON: class and config, or null), ``optimizer/<key>`` state arrays,
    ``meta`` (JSON, with the dropout generators' states).
    """
    arrays = {"format": np.array(CHECKPOINT_FORMAT), "format_version": np.array(CHECKPOINT_VERSION),
              "config": np.array(json.dumps(model.get_config()))}
    for i, w in enumerate(model.get_weights()):
        arrays[f"weight_{i:03d}"] = w
    opt = model.optimizer
    arrays["optimizer"] = np.array(json.dumps(None if opt is None else
                                              {"class_name": type(opt).__name__, "config": opt.get_config()}))
    if opt is not None:
        for k, v in opt.get_state().items():
            arrays[f"optimizer/{k}"] = v
    arrays["meta"] = np.array(json.dumps({**(meta or {}), "model_seed": model.seed,
                                          "dropout_rng": _dropout_states(model)}))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path, dtype=None):
    """``(model, meta)`` from ``save_checkpoint``'s file; the model has its optimizer restored.

    Raises ``ValueError`` naming the file for anything wrong: missing, not an ``.npz``, not
    a checkpoint of this format, a newer version, weights that do not fit the config.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as e:
        raise ValueError(f"checkpoint {path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if data.get("format", np.array("")).item() != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path}: not a scratch checkpoint (no format tag {CHECKPOINT_FORMAT!r})")
    if "format_version" not in data:
        raise ValueError(f"checkpoint {path}: no 'format_version' entry")
    try:
        version = int(data["format_version"].item())
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint {path}: format_version must be an integer, found "
                         f"{data['format_version'].item()!r}") from None
    if version > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path}: format version {version} is newer than this code's {CHECKPOINT_VERSION}")
    try:
        config = json.loads(data["config"].item())
        meta = json.loads(data["meta"].item())
        opt_spec = json.loads(data["optimizer"].item())
    except (KeyError, ValueError) as e:
        raise ValueError(f"checkpoint {path}: corrupt config or metadata ({e})") from None
    try:
        model = model_from_config(config, dtype=dtype, seed=meta.get("model_seed"))
    except ValueError as e:
        raise ValueError(f"checkpoint {path}: {e}") from None
    weights = [data[k] for k in sorted(k for k in data if k.startswith("weight_"))]
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"checkpoint {path}: {e}") from None
    if opt_spec is not None:
        try:
            opt = optimizers_mod.OPTIMIZERS[str(opt_spec["class_name"]).lower()](**opt_spec["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"checkpoint {path}: unusable optimizer {opt_spec!r} ({type(e).__name__}: {e}); "
                             f"known: {sorted(optimizers_mod.OPTIMIZERS)}") from None
        opt.set_state({k[len("optimizer/"):]: v for k, v in data.items() if k.startswith("optimizer/")})
        params = model.named_params()
        for name, slots in opt.slots.items():
            for slot, arr in slots.items():
                if name not in params or arr.shape != params[name].shape:
                    want = params[name].shape if name in params else "no such parameter"
                    raise ValueError(f"checkpoint {path}: optimizer slot {slot!r} of {name!r} has shape "
                                     f"{arr.shape}, expected {want}")
                slots[slot] = arr.astype(params[name].dtype, copy=False)
        model.compile(opt)
    for layer in leaf_layers(model):
        state = meta.get("dropout_rng", {}).get(layer.name)
        if state is not None:
            layer.rng.bit_generator.state = state
    return model, meta
