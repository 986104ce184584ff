"""The two training engines behind one small interface, so one loop drives either (or both).

``ScratchEngine`` wraps a scratch model (a ``scratch.Sequential`` or a graph ``scratch.Model``);
``KerasEngine`` wraps its Keras twin. Both
offer ``train_batch(x, y) -> (loss, correct)``, ``evaluate``, ``predict``, ``weights()``,
``scratch_model()`` (for pictures) and atomic checkpoints with the optimizer state, so a run
resumed from a checkpoint continues exactly where it stopped. ``KerasEngine`` also offers
``train_epoch``: a whole epoch through Keras's ``fit`` on the same batches, at ``fit``'s speed.

TensorFlow is imported only by ``import_keras`` (called by the Keras paths), which decides its
settings first: TensorFlow as it ships (oneDNN on, no op determinism) by default, the parity
suite's settings (oneDNN off, op determinism on) with ``deterministic=True``.
"""

import contextlib
import json
import os
import sys
import tempfile
import time

import numpy as np

import scratch
from scratch.files import atomic_write
from scratch.keras_io import weights_files

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adamw")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 0.005, "rmsprop": 0.001, "adamw": 0.005}
MOMENTUM = 0.9
# Keras's optimizer options the command line offers (--weight-decay, --clipnorm, ...); None = off
# (AdamW's weight decay then keeps its Keras default, 0.004)
OPTIMIZER_OPTIONS = ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue")
KERAS_CHECKPOINT_FORMAT = "scratch-cnn-keras-checkpoint"


def scratch_optimizer(name, lr, options=None):
    """The scratch optimizer ``name`` (a command-line choice) with ``options`` (``OPTIMIZER_OPTIONS``)."""
    kwargs = {k: v for k, v in (options or {}).items() if v is not None}
    if name in ("adam", "rmsprop", "adamw"):
        return {"adam": scratch.Adam, "rmsprop": scratch.RMSprop, "adamw": scratch.AdamW}[name](lr, **kwargs)
    return scratch.SGD(lr, momentum=MOMENTUM if name in ("momentum", "nesterov") else 0.0,
                       nesterov=name == "nesterov", **kwargs)


def keras_optimizer(keras, name, lr, options, dtype):
    """The Keras twin of ``scratch_optimizer``: the same class and every hyperparameter, defaults
    included, as ``np.float64`` in float64 (a Python float would be rounded to float32 by Keras's
    ``ops.cast``); call it under ``floatx == dtype`` (the learning-rate variable's dtype)."""
    ours = scratch_optimizer(name, lr, options)
    config = ours.get_config()
    if dtype == "float64":
        config = {k: np.float64(v) if isinstance(v, float) else v for k, v in config.items()}
    return getattr(keras.optimizers, type(ours).__name__)(**config)


def with_label_smoothing(desc, label_smoothing):
    """``desc`` whose loss smooths its targets by ``label_smoothing`` (None or 0: ``desc`` as is).

    Keras's ``SparseCategoricalCrossentropy`` has no label smoothing, so a sparse loss becomes
    ``CategoricalCrossentropy`` (same ``from_logits``), and the engines feed it one-hot labels.
    """
    if not label_smoothing:
        return desc
    spec = dict(desc["loss"])
    if spec["class_name"] == "SparseCategoricalCrossentropy":
        spec = {"class_name": "CategoricalCrossentropy", "from_logits": spec.get("from_logits", False)}
    if spec["class_name"] not in ("CategoricalCrossentropy", "BinaryCrossentropy"):
        raise ValueError(f"--label-smoothing: the architecture's loss {spec['class_name']} has no label smoothing")
    return {**desc, "loss": {**spec, "label_smoothing": label_smoothing}}


def targets(y, loss_spec, classes, dtype):
    """Integer labels as the loss wants them: one-hot rows for ``CategoricalCrossentropy``."""
    if loss_spec["class_name"] == "CategoricalCrossentropy" and np.ndim(y) == 1:
        return np.eye(classes, dtype=dtype)[y]
    return y


@contextlib.contextmanager
def _native_stderr_hidden():
    """Hide what native code writes to file descriptor 2 inside the block; replay it if the block fails.

    TensorFlow's shared libraries log a few lines while they load (absl's "All log messages
    before absl::InitializeLog() ...", oneDNN's and cudart's notices), before
    ``TF_CPP_MIN_LOG_LEVEL`` is read, so no setting silences them; only the import is wrapped.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            except BaseException:
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def tensorflow_settings():
    """What this process's TensorFlow runs with: ``{"onednn": bool, "op_determinism": bool}``."""
    from tensorflow.python.framework import config
    from tensorflow.python.util import _pywrap_util_port

    return {"onednn": bool(_pywrap_util_port.IsMklEnabled()), "op_determinism": bool(config.is_op_determinism_enabled())}


def import_keras(seed=None, deterministic=False):
    """``(keras, keras_ref)``; seeds Keras when ``seed`` is given.

    By default TensorFlow runs as it ships: oneDNN on (unless ``TF_ENABLE_ONEDNN_OPTS`` says
    otherwise), op determinism off. ``deterministic=True`` sets what the parity suite uses:
    oneDNN off (its kernels reorder sums, changing the last bits) and op determinism on, so
    the same run gives the same bits every time. oneDNN is read when TensorFlow loads: asking
    for determinism after TensorFlow was loaded with oneDNN on is an error. C++ logging is
    quiet (``TF_CPP_MIN_LOG_LEVEL=3``) and the lines TensorFlow's libraries print while
    loading are hidden, unless ``TF_CPP_MIN_LOG_LEVEL`` is already set.
    """
    if "tensorflow" not in sys.modules:
        if deterministic:
            os.environ.update({"TF_ENABLE_ONEDNN_OPTS": "0", "TF_DETERMINISTIC_OPS": "1"})
        else:
            os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _native_stderr_hidden() if quiet else contextlib.nullcontext():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    import tensorflow as tf

    if deterministic:
        if tensorflow_settings()["onednn"]:
            raise ValueError("--deterministic needs TensorFlow's oneDNN kernels off, but TensorFlow was already "
                             "loaded with them on in this process (set TF_ENABLE_ONEDNN_OPTS=0 before it loads)")
        tf.config.experimental.enable_op_determinism()
    import keras

    import keras_ref

    if seed is not None:
        keras.utils.set_random_seed(seed)
    return keras, keras_ref


class ScratchEngine:
    name = "scratch"

    def __init__(self, model):
        self.model = model

    @classmethod
    def create(cls, desc, dtype, seed, optimizer, lr, init_weights=None, options=None):
        model = scratch.build_model(desc, dtype=dtype, seed=seed)
        if init_weights is not None:
            model.set_weights(init_weights)
        model.compile(scratch_optimizer(optimizer, lr, options))
        return cls(model)

    def _targets(self, y):
        return targets(y, self.model.loss_spec, self.model.output_shape[-1], self.model.dtype)

    def train_batch(self, x, y):
        loss, acc = self.model.train_step(x, self._targets(y))
        return loss, int(round(acc * len(x)))

    def evaluate(self, x, y):
        return self.model.evaluate(x, self._targets(y))

    def predict(self, x):
        return self.model.predict(x, batch_size=256)

    def weights(self):
        return self.model.get_weights()

    @property
    def step(self):
        return self.model.optimizer.iterations

    def scratch_model(self):
        return self.model

    def save_checkpoint(self, path, meta):
        scratch.save_checkpoint(path, self.model, meta=meta)


class KerasEngine:
    name = "keras"

    def __init__(self, model, keras, keras_ref, loss_spec=None, classes=None, desc=None):
        self.model, self.keras, self.keras_ref = model, keras, keras_ref
        self.loss_spec, self.classes = loss_spec or {"class_name": "SparseCategoricalCrossentropy"}, classes
        self.desc = desc or {}

    def _targets(self, y):
        return targets(y, self.loss_spec, self.classes, self.model.dtype)

    @property
    def settings(self):
        """TensorFlow's settings in this process (``tensorflow_settings``), for the run's record."""
        return tensorflow_settings()

    @classmethod
    def create(cls, desc, dtype, seed, optimizer, lr, init_weights=None, options=None, deterministic=False):
        """The Keras twin of ``scratch.build_model(desc, seed=seed)``: the same initial weights
        (``deterministic``: as ``import_keras``)."""
        keras, keras_ref = import_keras(seed, deterministic)
        init = scratch.build_model(desc, dtype=dtype, seed=seed)
        if init_weights is not None:
            init.set_weights(init_weights)
        model = keras_ref.to_keras(init)
        # Keras makes the optimizer's learning rate and compile()'s total loss in floatx (float32
        # by default); a float64 model would then get float32-rounded gradients and steps.
        previous = keras.config.floatx()
        keras.config.set_floatx(dtype)
        try:
            opt = keras_optimizer(keras, optimizer, lr, options, dtype)
            spec = desc["loss"]  # the whole config: from_logits, label_smoothing, reduction...
            loss = getattr(keras.losses, spec["class_name"])(**{k: v for k, v in spec.items() if k != "class_name"})
            model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        finally:
            keras.config.set_floatx(previous)
        return cls(model, keras, keras_ref, spec, init.output_shape[-1], desc=init.get_config())

    def train_batch(self, x, y):
        loss, acc = self.model.train_on_batch(x, self._targets(y))
        if not np.isfinite(loss):
            raise scratch.NonFiniteLossError(f"non-finite loss ({loss}) at training step {self.step}")
        return float(loss), int(round(acc * len(x)))

    def train_epoch(self, x, y, order, batch_size, before_batch=None, after_batch=None):
        """One epoch as Keras users train: ``model.fit`` on ``x[order]`` in that order, ``batch_size``
        at a time (the last batch holds the rest), so the batches are ``train_batch``'s over the
        same ``order``, at ``fit``'s speed (``train_on_batch`` pays a per-call cost: it resets the
        metrics and feeds one batch through a new iterator).

        ``before_batch(step)`` and ``after_batch(step, running_loss)`` are called around each
        batch (``step`` counts from 0 in the epoch; ``running_loss`` is Keras's mean loss of
        the epoch so far). Returns ``(loss, correct, seconds)``: the epoch's mean loss per image
        as ``fit`` reports it (summed in the model's dtype), the number of correctly classified
        training images and the seconds ``fit`` spent in the epoch (``on_epoch_begin`` to
        ``on_epoch_end``, as a Keras callback times it). A non-finite loss stops ``fit`` right
        after that step and raises ``NonFiniteLossError`` naming it.
        """
        keras, engine = self.keras, self
        seen = {}

        class Hooks(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                seen["start"] = time.perf_counter()

            def on_train_batch_begin(self, batch, logs=None):
                if before_batch is not None:
                    before_batch(batch)

            def on_train_batch_end(self, batch, logs=None):
                loss = float(logs["loss"])
                if not np.isfinite(loss):  # the mean is finite as long as every batch's loss is
                    seen["non_finite"] = (loss, engine.step)
                    self.model.stop_training = True
                elif after_batch is not None:
                    after_batch(batch, loss)

            def on_epoch_end(self, epoch, logs=None):
                seen["seconds"] = time.perf_counter() - seen["start"]
                seen["logs"] = dict(logs or {})

        data = {"x": x[order], "y": self._targets(y[order]), "batch_size": batch_size}
        floats = [a.dtype for a in (data["x"], data["y"]) if np.issubdtype(a.dtype, np.floating)]
        if any(dt != np.dtype(keras.config.floatx()) for dt in floats):
            # fit casts floating-point arrays to floatx (float32); a tf.data dataset reaches the
            # model as it is, so a float64 model trains on float64 batches, as train_on_batch does
            import tensorflow as tf

            data = {"x": tf.data.Dataset.from_tensor_slices((data["x"], data["y"])).batch(batch_size)}
        self.model.fit(**data, epochs=1, shuffle=False, verbose=0, callbacks=[Hooks()])
        if "non_finite" in seen:
            loss, step = seen["non_finite"]
            raise scratch.NonFiniteLossError(f"non-finite loss ({loss}) at training step {step}")
        logs = seen["logs"]
        return float(logs["loss"]), int(round(float(logs["accuracy"]) * len(order))), seen["seconds"]

    def evaluate(self, x, y):
        loss, acc = self.model.evaluate(x, self._targets(y), batch_size=256, verbose=0)
        return float(loss), round(float(acc) * len(x)) / len(x)  # Keras's float32 ratio, made exact

    def predict(self, x):
        return np.asarray(self.model.predict(x, batch_size=256, verbose=0))

    def weights(self):
        return [np.asarray(w) for w in self.model.get_weights()]

    @property
    def step(self):
        return int(self.model.optimizer.iterations.numpy())

    def scratch_model(self):
        """A scratch model with the Keras model's weights and the architecture's preprocessing and loss."""
        return self.keras_ref.from_keras(self.model, preprocess=self.desc.get("preprocess", "scale"),
                                         loss=self.desc.get("loss"))

    def _seed_generators(self):
        return {layer.name: layer.seed_generator for layer in self.model.layers
                if getattr(layer, "seed_generator", None) is not None}

    def save_checkpoint(self, path, meta):
        """One ``.npz``: weights, optimizer variables (Keras order) and dropout seed states.

        Keras's own ``.keras`` file does not keep the dropout generators' state, which a
        bit-identical resume needs.
        """
        opt = self.model.optimizer
        if not opt.built:
            opt.build(self.model.trainable_variables)
        arrays = {"format": np.array(KERAS_CHECKPOINT_FORMAT), "meta": np.array(json.dumps(meta))}
        for i, w in enumerate(self.weights()):
            arrays[f"weight_{i:03d}"] = w
        for i, v in enumerate(opt.variables):
            arrays[f"optimizer_{i:03d}"] = np.asarray(v)
        for name, gen in self._seed_generators().items():
            arrays[f"seed/{name}"] = np.asarray(gen.state)
        atomic_write(path, lambda f: np.savez(f, **arrays))

    @staticmethod
    def read_checkpoint(path):
        """``(arrays, meta)`` of a Keras run checkpoint, or a ``ValueError`` naming the file."""
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
            if data["format"].item() != KERAS_CHECKPOINT_FORMAT:
                raise ValueError("wrong format tag")
            meta = json.loads(data["meta"].item())
        except Exception as e:
            raise ValueError(f"checkpoint {path}: not a Keras run checkpoint of this program ({e})") from None
        return data, meta

    @classmethod
    def load_checkpoint(cls, path, desc, dtype, optimizer, lr, options=None, deterministic=False):
        data, meta = cls.read_checkpoint(path)
        engine = cls.create(desc, dtype, None, optimizer, lr, options=options, deterministic=deterministic)
        model, opt = engine.model, engine.model.optimizer
        weights = [data[k] for k in sorted(k for k in data if k.startswith("weight_"))]
        model.set_weights(weights)
        opt.build(model.trainable_variables)
        saved = [data[k] for k in sorted(k for k in data if k.startswith("optimizer_"))]
        if len(saved) != len(opt.variables):
            raise ValueError(f"checkpoint {path}: {len(saved)} optimizer arrays, the optimizer has {len(opt.variables)}")
        for v, a in zip(opt.variables, saved):
            v.assign(a)
        for name, gen in engine._seed_generators().items():
            gen.state.assign(data[f"seed/{name}"])
        return engine, meta


def load_scratch_model(path, arch=None, dtype="float32", what="weights"):
    """A scratch ``Sequential`` from weights saved by either engine.

    Every format is read without TensorFlow (``scratch.keras_io``): ``.npz`` checkpoints,
    ``.weights.h5`` (needs ``arch``), ``.keras`` and legacy ``.h5``. With ``arch``, the weights must fit it.
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        model = scratch.load_checkpoint(path, dtype=dtype)[0]
        if arch is None:
            return model
        target = scratch.build_model(arch, dtype=dtype)
        try:
            target.set_weights(model.get_weights())
        except ValueError as e:
            raise ValueError(f"{what} {path}: do not fit architecture {target.name!r}: {e}") from None
        return target
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path}: file not found")
    if not path.endswith((".weights.h5", ".keras", ".h5")):
        raise ValueError(f"{what} {path}: unknown file type; expected .npz, .weights.h5, .keras or .h5")
    if path.endswith(".weights.h5") and arch is None:
        raise ValueError(f"{what} {path}: a .weights.h5 file holds no architecture; give --arch")
    return weights_files.load_weights_file(path, arch=arch, dtype=dtype)
