"""One layer (or the optimizer) of two source trees, alternating in one process: before/after a kernel change.

    python -m benchmarks.layer_versions OLD_TREE NEW_TREE --case relu6 --rounds 30
    python -m benchmarks.layer_versions OLD_TREE NEW_TREE --case adam-ResNet50
    python -m benchmarks.layer_versions OLD_TREE NEW_TREE --case model-DenseNet121 [--inference]

The first tree's ``scratch`` package is copied into a temporary folder as ``scratch_before`` (its imports
are relative), so both engines live in one process and each round times the old and the new layer back to
back (the order alternating): a busy machine slows both alike, which separate processes cannot promise.
A layer case runs ``forward(x, training=True)`` and ``backward(dy)`` on the same input, weights and
``dy`` (``--inference``: ``forward(x, training=False)`` alone); an ``adam-MODEL`` case runs ``Adam.step`` over the trainable shapes of that keras.applications
model at 32x32x3 (Keras builds it once to read them); a ``model-MODEL`` case a whole training step of that
model (or ``predict`` with ``--inference``), both trees reading one ``.keras`` file. Printed: median ms of each pass, the ratio, and
whether outputs, input gradients, weight gradients (or updated parameters) are bit-identical.

``--clock cpu`` (the default) counts the process's CPU time (``time.process_time``) with BLAS and the
engine's batch threads limited to one: on cores shared with other jobs, the wall clock also counts the
time spent waiting for a core (it scattered by 3x between runs on a 2-core machine at load 8), the CPU
time much less. ``--clock wall`` keeps the threads and counts the wall clock (for a quiet machine).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

CASES = {  # id: (class, arguments, input shape)
    "relu6": ("ReLU", {"max_value": 6.0}, (32, 16, 16, 96)),
    "relu": ("ReLU", {}, (32, 16, 16, 96)),
    "swish": ("Activation", {"activation": "swish"}, (32, 16, 16, 96)),  # EfficientNetB0's activation
    "sigmoid": ("Activation", {"activation": "sigmoid"}, (32, 16, 16, 96)),
    "leaky-relu": ("LeakyReLU", {}, (32, 16, 16, 96)),
    "elu": ("ELU", {}, (32, 16, 16, 96)),
    "bn": ("BatchNormalization", {}, (32, 16, 16, 96)),
    "depthwise": ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, (32, 16, 16, 96)),
    "depthwise-stride2": ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2}, (32, 17, 17, 96)),
    "depthwise-5x5-2x2": ("DepthwiseConv2D", {"kernel_size": 5, "padding": "same"}, (32, 2, 2, 672)),  # EfficientNetB0
    "depthwise-5x5-1x1": ("DepthwiseConv2D", {"kernel_size": 5, "padding": "same"}, (32, 1, 1, 1152)),
    "maxpool": ("MaxPooling2D", {"pool_size": 2}, (128, 26, 26, 32)),
    "conv3x3": ("Conv2D", {"filters": 64, "kernel_size": 3}, (128, 13, 13, 32)),
    "conv3x3-same": ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}, (32, 8, 8, 64)),
    "conv-1-channel": ("Conv2D", {"filters": 32, "kernel_size": 3}, (128, 28, 28, 1)),
    "conv1x1-relu": ("Conv2D", {"filters": 256, "kernel_size": 1, "activation": "relu"}, (32, 8, 8, 64)),
    "lenet-conv2": ("Conv2D", {"filters": 64, "kernel_size": 3, "activation": "relu"}, (128, 13, 13, 32)),
    "densenet-conv3x3": ("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"}, (32, 8, 8, 128)),
    "resnet-conv3x3": ("Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same"}, (32, 4, 4, 128)),
}


def load_trees(first, second):
    """``(scratch_before, scratch)``: the first tree's package under another name, the second's as itself."""
    tmp = tempfile.mkdtemp(prefix="scratch-before-")
    shutil.copytree(os.path.join(first, "scratch"), os.path.join(tmp, "scratch_before"))
    sys.path.insert(0, os.path.abspath(second))
    sys.path.insert(0, tmp)
    import scratch_before

    import scratch

    if os.path.dirname(os.path.dirname(os.path.abspath(scratch.__file__))) != os.path.abspath(second):
        raise SystemExit(f"scratch was already imported from {scratch.__file__}, not from {second}")
    return scratch_before, scratch


CLOCK = time.process_time


def layer_case(pkgs, case, training=True):
    cls, kwargs, shape = CASES[case]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    layers = []
    for pkg in pkgs:
        layer = getattr(pkg.layers, cls)(**kwargs)
        layer.build((None,) + shape[1:])
        layers.append(layer)
    dy = rng.standard_normal(layers[0].forward(x, training=True).shape).astype(np.float32)
    for source, target in ((layers[0].params, layers[1].params), (layers[0].state, layers[1].state)):
        for k in source:  # after that forward pass (it moved BatchNormalization's statistics)
            target[k][...] = source[k]

    def run(layer):
        t = CLOCK()
        y = layer.forward(x, training=training)
        t1 = CLOCK()
        if not training:
            return {"inference": t1 - t}, [y]
        dx = layer.backward(dy)
        t2 = CLOCK()
        return {"forward": t1 - t, "backward": t2 - t1}, [y, dx] + [layer.grads[k].copy() for k in sorted(layer.grads)]

    mode = "" if training else ", inference"
    return [lambda layer=layer: run(layer) for layer in layers], f"{cls}{kwargs} on {'x'.join(map(str, shape))} float32{mode}"


def adam_case(pkgs, model):
    from .contenders import keras_application

    shapes = [tuple(w.shape) for w in keras_application(model).trainable_weights]
    rng = np.random.default_rng(0)
    params = {str(i): rng.standard_normal(s).astype(np.float32) for i, s in enumerate(shapes)}
    grads = {k: (rng.standard_normal(p.shape) * 1e-3).astype(np.float32) for k, p in params.items()}
    copies = [{k: v.copy() for k, v in params.items()} for _ in pkgs]
    opts = [pkg.Adam(0.001) for pkg in pkgs]

    def run(i):
        t = CLOCK()
        opts[i].step(copies[i], grads)
        return {"step": CLOCK() - t}, [copies[i][k] for k in sorted(copies[i])]

    size = sum(int(np.prod(s)) for s in shapes)
    return [lambda i=i: run(i) for i in range(2)], f"Adam.step over {model}'s {len(shapes)} arrays ({size / 1e6:.1f}M)"


def model_case(pkgs, name, training):
    """A keras.applications model at 32x32x3, batch 32, written once as ``.keras`` and read by each tree's
    ``load_model``, or an architecture of the registry (``lenet``, ``blog``) on MNIST at batch 128, built by
    each tree from seed 0: a training step (forward, loss, backward, Adam) or ``predict``."""
    from .contenders import ZOO_LOSS, batch_of_mnist, keras_application, random_batch

    if name in pkgs[0].architectures.REGISTRY:
        x, y = batch_of_mnist(name, 128)
        models = [pkg.build_model(name, seed=0) for pkg in pkgs]
        for pkg, model in zip(pkgs, models):
            model.compile(pkg.Adam(0.001))
        return _model_runs(models, x, y, training), f"{name} batch 128, {'a training step' if training else 'predict'}"
    path = os.path.join(tempfile.mkdtemp(prefix="model-versions-"), f"{name}.keras")
    keras_application(name).save(path)
    x, y = random_batch(32)
    models = []
    for pkg in pkgs:
        with warnings.catch_warnings():  # "does not start with a Rescaling layer": predict takes arrays as given
            warnings.simplefilter("ignore", UserWarning)
            model = pkg.load_model(path)
        model.compile(pkg.Adam(0.001), loss=ZOO_LOSS)
        models.append(model)
    return _model_runs(models, x, y, training), f"{name} 32x32x3 batch 32, {'a training step' if training else 'predict'}"


def _model_runs(models, x, y, training):
    """One timed training step (or ``predict``) per model, as ``main`` alternates them."""
    def run(model):
        t = CLOCK()
        out = model.train_step(x, y)[0] if training else model.predict(x, batch_size=len(x))
        return {"training step" if training else "predict": CLOCK() - t}, [np.asarray(out)]

    return [lambda model=model: run(model) for model in models]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.layer_versions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first", help="the source tree before the change (a checkout's root)")
    p.add_argument("second", help="the source tree after it")
    p.add_argument("--case", default="relu6", help=f"one of {', '.join(CASES)}, adam-MODEL (e.g. adam-ResNet50), "
                                                  f"or model-MODEL (a training step, or predict with --inference)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--inference", action="store_true",
                   help="a layer case's forward pass alone with training=False (as predict runs it)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: process CPU time, one thread (default); wall: wall clock, the usual threads")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    pkgs = load_trees(args.first, args.second)
    if args.clock == "cpu":
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)  # BLAS on the calling thread (kept for the process)
        for pkg in pkgs:
            pkg.parallel.THREADS = 1
    if args.case.startswith("adam-"):
        fns, title = adam_case(pkgs, args.case[5:])
    elif args.case.startswith("model-"):
        fns, title = model_case(pkgs, args.case[6:], not args.inference)
    else:
        fns, title = layer_case(pkgs, args.case, not args.inference)
    times, outs = [{}, {}], [None, None]
    for r in range(args.rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            t, outs[i] = fns[i]()
            for k, v in t.items():
                times[i].setdefault(k, []).append(v)
    same = all(np.array_equal(a, b) for a, b in zip(*outs))
    clock = "CPU time, one thread" if args.clock == "cpu" else "wall clock"
    print(f"{title}, {args.rounds} alternating rounds ({clock}), load average {os.getloadavg()[0]:.1f}:")
    total = [0.0, 0.0]
    for k in times[0]:
        a, b = (float(np.median(times[i][k][1:] or times[i][k])) * 1e3 for i in (0, 1))
        total = [total[0] + a, total[1] + b]
        print(f"  {k}: {args.first} {a:.2f} ms, {args.second} {b:.2f} ms, second/first {b / a:.2f}")
    if len(times[0]) > 1:
        print(f"  together: {total[0]:.2f} -> {total[1]:.2f} ms, second/first {total[1] / total[0]:.2f}")
    print(f"  bit-identical results: {same}")


if __name__ == "__main__":
    main()
