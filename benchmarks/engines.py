"""The two engines behind one small interface, plus FLOP counts and the per-layer profile.

``ScratchEngine`` and ``KerasEngine`` both offer ``train(steps)`` (full training steps on one
fixed batch: forward, loss, backward, Adam update) and ``infer(steps)`` (forward only), and
start from the same weights. Keras is measured the way Keras runs: a compiled model, Adam,
``train_on_batch`` / ``predict_on_batch``, with XLA ``jit_compile`` off or on.
"""

import contextlib
import time

import numpy as np
from threadpoolctl import threadpool_limits

import scratch
from scratch import layers as L

LEARNING_RATE = 0.001


def batch_of_mnist(arch, batch, dtype="float32"):
    """The first ``batch`` MNIST training images, preprocessed as ``arch`` says, and labels."""
    (x, y), _ = scratch.load_mnist()
    desc = scratch.get_architecture(arch)
    reps = -(-batch // len(x))
    x, y = np.concatenate([x] * reps)[:batch], np.concatenate([y] * reps)[:batch]
    return scratch.preprocess(x, desc["preprocess"], dtype=dtype), y.astype(np.int64)


class ScratchEngine:
    """The NumPy engine; ``blas_threads`` (an int) limits BLAS's threads while it runs."""

    def __init__(self, arch, batch, dtype="float32", seed=0, blas_threads=None):
        self.name = "scratch" if blas_threads is None else f"scratch_blas{blas_threads}"
        self.blas_threads = blas_threads
        self.model = scratch.build_model(arch, dtype=dtype, seed=seed)
        self.model.compile(scratch.Adam(LEARNING_RATE))
        self.x, self.y = batch_of_mnist(arch, batch, dtype)

    def _threads(self):
        return contextlib.nullcontext() if self.blas_threads is None else threadpool_limits(self.blas_threads, "blas")

    def train(self, steps):
        with self._threads():
            for _ in range(steps):
                self.model.train_step(self.x, self.y)

    def infer(self, steps):
        with self._threads():
            for _ in range(steps):
                self.model.predict(self.x, batch_size=len(self.x))


def import_keras():
    """Import ``keras_ref`` with TensorFlow's own defaults for speed (oneDNN on unless set).

    ``keras_ref`` turns oneDNN off for bit-level parity; a speed comparison should measure
    TensorFlow as it ships, as ``train.py keras`` runs it: ``cli.engines.import_keras``
    (``TF_ENABLE_ONEDNN_OPTS=1`` unless the environment already chose, no op determinism,
    start-up lines hidden). Must run before anything imports TensorFlow.
    """
    from cli.engines import import_keras as cli_import_keras

    return cli_import_keras()[1]


class KerasEngine:
    def __init__(self, arch, batch, dtype="float32", seed=0, jit_compile=False, weights=None):
        keras_ref = import_keras()
        import keras

        self.name = "keras_xla" if jit_compile else "keras"
        self.model = keras_ref.build_keras(arch, dtype=dtype)
        self.model.set_weights(weights if weights is not None else
                               scratch.build_model(arch, dtype=dtype, seed=seed).get_weights())
        self.model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           jit_compile=jit_compile)
        self.x, self.y = batch_of_mnist(arch, batch, dtype)

    def train(self, steps):
        for _ in range(steps):
            self.model.train_on_batch(self.x, self.y)

    def infer(self, steps):
        for _ in range(steps):
            self.model.predict_on_batch(self.x)


def make_engine(kind, arch, batch, dtype="float32", seed=0):
    if kind == "scratch":
        return ScratchEngine(arch, batch, dtype, seed)
    if kind == "scratch_blas1":
        return ScratchEngine(arch, batch, dtype, seed, blas_threads=1)
    if kind in ("keras", "keras_xla"):
        return KerasEngine(arch, batch, dtype, seed, jit_compile=kind == "keras_xla")
    raise ValueError(f"benchmarks: unknown engine {kind!r}; use scratch, scratch_blas1, keras or keras_xla")


# -- FLOPs ----------------------------------------------------------------------------------
def layer_flops(layer, batch):
    """Multiply-add FLOPs (2 per MAC) of one layer's forward GEMM for ``batch`` images; 0 if none."""
    if isinstance(layer, L.Conv2D):
        _, ho, wo, f = layer.output_shape
        kh, kw = layer.kernel_size
        return 2 * batch * ho * wo * kh * kw * layer.input_shape[3] * f
    if isinstance(layer, L.Dense):
        return 2 * batch * layer.input_shape[1] * layer.units
    return 0


def model_flops(model, batch):
    """``(inference, training)`` FLOPs of one batch: training adds dW and, past the first layer, dx."""
    infer = train = 0
    for i, layer in enumerate(model.layers):
        f = layer_flops(layer, batch)
        infer += f
        train += f * (3 if i > 0 else 2)
    return infer, train


def matmul_peak(n=2048, repeats=5, dtype=np.float32):
    """GFLOP/s of ``np.matmul`` on two ``(n, n)`` matrices: the BLAS peak the engines aim at."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return {"n": n, "dtype": np.dtype(dtype).name, "gflops": 2 * n ** 3 / float(np.median(times)) / 1e9,
            "gflops_max": 2 * n ** 3 / min(times) / 1e9}


# -- per-layer profile of the scratch engine ------------------------------------------------
def profile_layers(arch, batch, dtype="float32", repeats=10, seed=0, blas_threads=None):
    """Median milliseconds of each scratch layer's forward (training mode) and backward,
    plus the loss and the optimizer step, over ``repeats`` full training steps
    (``blas_threads``: as ``ScratchEngine``)."""
    eng = ScratchEngine(arch, batch, dtype, seed, blas_threads)
    with eng._threads():
        return _profile(eng, batch, repeats)


def _profile(eng, batch, repeats):
    model, x, y = eng.model, eng.x, eng.y
    eng.train(2)  # warm-up
    fwd = {layer.name: [] for layer in model.layers}
    bwd = {layer.name: [] for layer in model.layers}
    loss_t, opt_t = [], []
    clock = time.perf_counter
    for _ in range(repeats):
        h = x
        for layer in model.layers:
            t = clock()
            h = layer.forward(h, training=True)
            fwd[layer.name].append(clock() - t)
        t = clock()
        model.loss(y, h)
        d = model.loss.backward()
        loss_t.append(clock() - t)
        for layer, options in model.backward_calls():
            t = clock()
            d = layer.backward(d, **options)
            bwd[layer.name].append(clock() - t)
        t = clock()
        model.optimizer.step(model.named_params(), model.named_grads())
        opt_t.append(clock() - t)
    rows = []
    for i, layer in enumerate(model.layers):
        f, b = float(np.median(fwd[layer.name])) * 1e3, float(np.median(bwd[layer.name])) * 1e3
        flops = layer_flops(layer, batch)
        rows.append({"layer": layer.name, "type": type(layer).__name__, "forward_ms": f, "backward_ms": b,
                     "forward_gflops": flops / f / 1e6 if flops else None,
                     "backward_gflops": flops * (2 if i else 1) / b / 1e6 if flops else None})
    rows.append({"layer": "(loss)", "type": "loss", "forward_ms": float(np.median(loss_t)) * 1e3,
                 "backward_ms": 0.0, "forward_gflops": None, "backward_gflops": None})
    rows.append({"layer": "(adam)", "type": "optimizer", "forward_ms": 0.0,
                 "backward_ms": float(np.median(opt_t)) * 1e3, "forward_gflops": None, "backward_gflops": None})
    return rows
