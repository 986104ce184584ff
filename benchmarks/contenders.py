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
    """The NumPy engine on one fixed batch: ``train`` runs ``model.train_step`` (forward, loss,
    backward, Adam), ``infer`` the forward pass; ``blas_threads`` (an int) limits BLAS's threads.
    ``for_arch`` makes one for an architecture on MNIST, ``for_graph`` for a built model on random
    images of its input shape."""

    def __init__(self, model, x, y, blas_threads=None):
        self.name = "scratch" if blas_threads is None else f"scratch_blas{blas_threads}"
        self.blas_threads = blas_threads
        self.model = model
        self.model.compile(scratch.Adam(LEARNING_RATE))  # the loss: the model's own (loss_spec)
        self.x, self.y = x, y

    @classmethod
    def for_arch(cls, arch, batch, dtype="float32", seed=0, blas_threads=None):
        model = scratch.build_model(arch, dtype=dtype, seed=seed)
        return cls(model, *batch_of_mnist(arch, batch, dtype), blas_threads=blas_threads)

    @classmethod
    def for_graph(cls, model, batch, dtype="float32", blas_threads=None, seed=0):
        return cls(model, *random_batch(batch, model.inputs[0].shape[1:], dtype=dtype, seed=seed),
                   blas_threads=blas_threads)

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
        return ScratchEngine.for_arch(arch, batch, dtype, seed)
    if kind == "scratch_blas1":
        return ScratchEngine.for_arch(arch, batch, dtype, seed, blas_threads=1)
    if kind in ("keras", "keras_xla"):
        return KerasEngine(arch, batch, dtype, seed, jit_compile=kind == "keras_xla")
    raise ValueError(f"benchmarks: unknown engine {kind!r}; use scratch, scratch_blas1, keras or keras_xla")


# -- FLOPs ----------------------------------------------------------------------------------
def layer_flops(layer, batch):
    """Multiply-add FLOPs (2 per MAC) of one layer's forward products for ``batch`` images; 0 if none.

    Conv2D: each output value sums ``kh*kw*C/groups`` products, over the taps that read the input
    (``live_window``: on a map smaller than the window's reach the others meet only padding; the depthwise
    ones too; the small-map route's fewer products are not counted, nor the pixels that a training step's
    tiled route leaves out, those no tiling max pooling reads: the whole output); DepthwiseConv2D: ``kh*kw`` per
    output channel (``C*depth_multiplier`` of them); SeparableConv2D: its depthwise part plus the
    pointwise ``C*m -> F`` product at every output pixel; Dense: ``units`` sums of the last axis at
    every position of the other axes.
    """
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)):
        _, ho, wo, f = layer.output_shape
        taps, _ = layer.live_window((batch,) + tuple(layer.input_shape[1:]))
        kh, kw = (t.stop - t.start for t in taps)
        c = layer.input_shape[3]
        if isinstance(layer, L.Conv2D):
            return 2 * batch * ho * wo * kh * kw * (c // layer.groups) * f
        m = layer.depth_multiplier
        depthwise = 2 * batch * ho * wo * kh * kw * c * m
        return depthwise if isinstance(layer, L.DepthwiseConv2D) else depthwise + 2 * batch * ho * wo * c * m * f
    if isinstance(layer, L.Dense):
        positions = int(np.prod(layer.input_shape[1:-1], dtype=np.int64))
        return 2 * batch * positions * layer.input_shape[-1] * layer.units
    return 0


def leaf_calls(model):
    """Every layer call of a model (graph or Sequential), nested models opened, in topological
    order (a shared layer once per call)."""
    for layer in (node.layer for node in model.nodes):
        if isinstance(layer, scratch.Model):
            yield from leaf_calls(layer)
        else:
            yield layer


def model_flops(model, batch):
    """``(inference, training)`` FLOPs of one batch: training adds dW and, where the layer's input
    gradient is needed (``layer.input_grad``; a model turns it off for the layers that read its input), dx."""
    infer = train = 0
    for layer in leaf_calls(model):
        f = layer_flops(layer, batch)
        infer += f
        train += f * (3 if getattr(layer, "input_grad", True) else 2)
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
    eng = ScratchEngine.for_arch(arch, batch, dtype, seed, blas_threads)
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


# -- keras.applications models (ResNet50, MobileNetV2) in both engines -----------------------
ZOO_MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121")
ZOO_INPUT = (32, 32, 3)
ZOO_LOSS = {"class_name": "SparseCategoricalCrossentropy", "from_logits": False}  # the models end in softmax


def random_batch(batch, shape=ZOO_INPUT, classes=10, dtype="float32", seed=0):
    """``batch`` random images in [0, 1) and labels (speed does not depend on the pixel values)."""
    rng = np.random.default_rng(seed)
    return rng.random((batch,) + tuple(shape)).astype(dtype), rng.integers(0, classes, batch).astype(np.int64)


def keras_application(name, seed=0):
    """``keras.applications.<name>`` at 32x32x3 with fresh weights (``weights=None``) and a 10-class top."""
    import_keras()
    import keras

    keras.utils.set_random_seed(seed)
    return getattr(keras.applications, name)(weights=None, input_shape=ZOO_INPUT, classes=10)


def scratch_twin(km):
    """The ``scratch.Model`` of a Keras Functional model, weights copied (``keras_ref.from_keras``)."""
    return import_keras().from_keras(km, loss=ZOO_LOSS)


class GraphKerasEngine:
    """The Keras model as Keras runs it: compiled with Adam, ``train_on_batch`` / ``predict_on_batch``."""

    def __init__(self, km, batch, dtype="float32", seed=0):
        import keras

        self.name = "keras"
        self.model = km
        km.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False))
        self.x, self.y = random_batch(batch, km.input_shape[1:], dtype=dtype, seed=seed)

    train, infer = KerasEngine.train, KerasEngine.infer


def layer_kind(layer):
    """The row a layer's time goes to: its class, Conv2D split by kernel size and stride."""
    kind = type(layer).__name__
    if isinstance(layer, L.Conv2D):
        kh, kw = layer.kernel_size
        kind += f" {kh}x{kw}" + ("" if layer.strides == (1, 1) else f" stride {layer.strides[0]}")
    return kind


@contextlib.contextmanager
def _timed(calls, totals):
    """Wrap each layer's ``forward`` / ``backward`` (instance attributes) and the im2col helpers the
    convolutions call with timers adding into ``totals[(row, "forward" | "backward")]``; undone on exit."""
    from scratch.layers import convolutional

    clock = time.perf_counter

    def timer(fn, key):
        def timed(*args, **kwargs):
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[key] = totals.get(key, 0.0) + clock() - t
        return timed

    layers = {id(layer): layer for layer in calls}.values()
    for layer in layers:
        kind = layer_kind(layer)
        layer.forward = timer(type(layer).forward.__get__(layer), (kind, "forward"))
        layer.backward = timer(type(layer).backward.__get__(layer), (kind, "backward"))
    helpers = {"im2col_nd": (convolutional.im2col_nd, "forward", "im2col"),
               "im2col_tiles": (convolutional.im2col_tiles, "forward", "im2col"),  # the tiled route's (plan_tiles)
               "col2im_nd": (convolutional.col2im_nd, "backward", "col2im")}
    for name, (fn, phase, row) in helpers.items():
        setattr(convolutional, name, timer(fn, (f"({row}, inside Conv2D)", phase)))
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward, layer.backward
        for name, (fn, _, _) in helpers.items():
            setattr(convolutional, name, fn)


def profile_graph(eng, repeats):
    """Per layer type (``layer_kind``): calls, median ms of one training step's forward and backward
    (all calls of that type summed), FLOP count and GFLOP/s; plus the loss and Adam rows and the
    im2col / col2im copies (already inside the Conv2D rows). ``eng``: a ``ScratchEngine``."""
    model = eng.model
    calls = list(leaf_calls(model))
    eng.train(1)  # warm-up
    samples = []
    clock = time.perf_counter
    with eng._threads():
        for _ in range(repeats):
            totals = {}
            t0 = clock()
            with _timed(calls, totals):
                out = model.forward(eng.x, training=True)
                t = clock()
                loss_fn, pred = model._loss_input(out, model.loss)  # as train_step: from the logits
                loss_fn(eng.y, pred)
                d = loss_fn.backward()
                totals[("(loss)", "forward")] = clock() - t
                model.backward(d, logits=pred is not out, trainable_only=True)  # as train_step
                t = clock()
                model.optimizer.step(model.named_params(), model.named_grads())
                totals[("(adam)", "backward")] = clock() - t
            totals[("(step)", "total")] = clock() - t0
            samples.append(totals)
    batch = len(eng.x)
    count, flops = {}, {}
    for layer in calls:
        kind = layer_kind(layer)
        count[kind] = count.get(kind, 0) + 1
        f = layer_flops(layer, batch)
        flops[kind] = [a + b for a, b in zip(flops.get(kind, [0, 0]), (f, f * (2 if layer.input_grad else 1)))]
    kinds = sorted({k for k, _ in samples[0]} - {"(step)"}, key=lambda k: k.startswith("("))

    def ms(kind, phase):
        return float(np.median([s.get((kind, phase), 0.0) for s in samples])) * 1e3

    rows = []
    for kind in kinds:
        f, b = ms(kind, "forward"), ms(kind, "backward")
        ff, fb = flops.get(kind, [0, 0])
        rows.append({"type": kind, "calls": count.get(kind, 0), "forward_ms": f, "backward_ms": b,
                     "forward_gflops": ff / f / 1e6 if ff and f else None,
                     "backward_gflops": fb / b / 1e6 if fb and b else None})
    rows.sort(key=lambda r: (r["type"].startswith("("), -(r["forward_ms"] + r["backward_ms"])))
    return {"step_ms": ms("(step)", "total"), "rows": rows}
