"""The two training engines behind one small interface, so one loop drives either (or both).

``ScratchEngine`` wraps a ``scratch.Sequential``; ``KerasEngine`` wraps its Keras twin. Both
offer ``train_batch(x, y) -> (loss, correct)``, ``evaluate``, ``predict``, ``weights()``,
``scratch_model()`` (for pictures) and atomic checkpoints with the optimizer state, so a run
resumed from a checkpoint continues exactly where it stopped.

TensorFlow is imported only by ``import_keras`` (called by the Keras paths), which decides its
settings first: TensorFlow as it ships (oneDNN on, no op determinism) by default, the parity
suite's settings (oneDNN off, op determinism on) with ``deterministic=True``.
"""

import contextlib
import json
import os
import sys
import tempfile

import numpy as np

import scratch
from scratch.model import atomic_write

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 0.005}
MOMENTUM = 0.9
KERAS_CHECKPOINT_FORMAT = "scratch-cnn-keras-checkpoint"


def scratch_optimizer(name, lr):
    if name == "adam":
        return scratch.Adam(lr)
    return scratch.SGD(lr, momentum=MOMENTUM if name in ("momentum", "nesterov") else 0.0,
                       nesterov=name == "nesterov")


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
    def create(cls, desc, dtype, seed, optimizer, lr, init_weights=None):
        model = scratch.build_model(desc, dtype=dtype, seed=seed)
        if init_weights is not None:
            model.set_weights(init_weights)
        model.compile(scratch_optimizer(optimizer, lr))
        return cls(model)

    def train_batch(self, x, y):
        loss, acc = self.model.train_step(x, y)
        return loss, int(round(acc * len(x)))

    def evaluate(self, x, y):
        return self.model.evaluate(x, y)

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

    @classmethod
    def load_checkpoint(cls, path, dtype):
        model, meta = scratch.load_checkpoint(path, dtype=dtype)
        if model.optimizer is None:
            raise ValueError(f"checkpoint {path}: holds no optimizer state, cannot resume from it")
        return cls(model), meta


class KerasEngine:
    name = "keras"

    def __init__(self, model, keras, keras_ref):
        self.model, self.keras, self.keras_ref = model, keras, keras_ref

    @property
    def settings(self):
        """TensorFlow's settings in this process (``tensorflow_settings``), for the run's record."""
        return tensorflow_settings()

    @classmethod
    def create(cls, desc, dtype, seed, optimizer, lr, init_weights=None, deterministic=False):
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
            if optimizer == "adam":
                opt = keras.optimizers.Adam(learning_rate=lr)
            else:
                opt = keras.optimizers.SGD(learning_rate=lr, momentum=MOMENTUM if optimizer != "sgd" else 0.0,
                                           nesterov=optimizer == "nesterov")
            spec = desc["loss"]
            loss = getattr(keras.losses, spec["class_name"])(from_logits=spec.get("from_logits", False))
            model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        finally:
            keras.config.set_floatx(previous)
        return cls(model, keras, keras_ref)

    def train_batch(self, x, y):
        loss, acc = self.model.train_on_batch(x, y)
        if not np.isfinite(loss):
            raise scratch.NonFiniteLossError(f"non-finite loss ({loss}) at training step {self.step}")
        return float(loss), int(round(acc * len(x)))

    def evaluate(self, x, y):
        loss, acc = self.model.evaluate(x, y, batch_size=256, verbose=0)
        return float(loss), round(float(acc) * len(x)) / len(x)  # Keras's float32 ratio, made exact

    def predict(self, x):
        return np.asarray(self.model.predict(x, batch_size=256, verbose=0))

    def weights(self):
        return [np.asarray(w) for w in self.model.get_weights()]

    @property
    def step(self):
        return int(self.model.optimizer.iterations.numpy())

    def scratch_model(self):
        return self.keras_ref.from_keras(self.model)

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

    @classmethod
    def load_checkpoint(cls, path, desc, dtype, optimizer, lr, deterministic=False):
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
            if data["format"].item() != KERAS_CHECKPOINT_FORMAT:
                raise ValueError("wrong format tag")
            meta = json.loads(data["meta"].item())
        except Exception as e:
            raise ValueError(f"checkpoint {path}: not a Keras run checkpoint of this program ({e})") from None
        engine = cls.create(desc, dtype, None, optimizer, lr, deterministic=deterministic)
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

    ``.npz`` checkpoints are read without TensorFlow; ``.weights.h5`` (needs ``arch``) and
    ``.keras`` go through ``keras_ref``. With ``arch``, the weights must fit it.
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
    if not path.endswith((".weights.h5", ".keras")):
        raise ValueError(f"{what} {path}: unknown file type; expected .npz, .weights.h5 or .keras")
    if path.endswith(".weights.h5") and arch is None:
        raise ValueError(f"{what} {path}: a .weights.h5 file holds no architecture; give --arch")
    _, keras_ref = import_keras()
    return keras_ref.load_weights_file(path, arch=arch, dtype=dtype)
