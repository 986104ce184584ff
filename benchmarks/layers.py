"""One layer at a time, scratch beside the same Keras layer: forward and forward + backward.

Each case builds the scratch layer and the Keras layer of the same class and arguments with
the same weights, and times, interleaved, in training mode (``training=True``: batch
statistics for BatchNormalization):

- forward: ``layer.forward(x, training=True)`` / the Keras layer called in a ``tf.function``;
- forward + backward: scratch's ``forward`` then ``backward(dy)`` (input and weight gradients) /
  a ``tf.function`` with a ``GradientTape`` returning the gradients of ``x`` and every trainable
  weight for the same ``dy``.

TensorFlow runs as it ships (oneDNN on, see ``contenders.import_keras``).
"""

import time

import numpy as np

import scratch

# (row id, class name, arguments, input shape); the shapes are what a MobileNetV2 / ResNet block sees
CASES = [
    ("BatchNormalization", "BatchNormalization", {}, (32, 16, 16, 64)),
    ("DepthwiseConv2D 3x3 same, m=1", "DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, (32, 16, 16, 96)),
    ("DepthwiseConv2D 3x3 same, m=2", "DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2},
     (32, 16, 16, 96)),
    ("DepthwiseConv2D 3x3 stride 2, m=1", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same"},
     (32, 16, 16, 96)),
    ("Conv2D 1x1, 96 -> 24", "Conv2D", {"filters": 24, "kernel_size": 1}, (32, 16, 16, 96)),
]


def _median_ms(fn, steps, repeats_out, clock=time.perf_counter):
    t = clock()
    for _ in range(steps):
        fn()
    repeats_out.append((clock() - t) / steps * 1e3)


def pair(cls, kwargs, shape, dtype="float32", seed=0):
    """``(scratch_fns, keras_fns)``: each a dict ``forward`` / ``forward_backward`` of no-argument callables."""
    from .contenders import import_keras

    import_keras()
    import keras
    import tensorflow as tf

    ours = getattr(scratch, cls)(**kwargs, dtype=dtype)
    ours.build(shape)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(ours.output_shape).astype(dtype)
    theirs = getattr(keras.layers, cls)(**kwargs, dtype=dtype)
    theirs.build(shape)
    theirs.set_weights(ours.get_weights())
    tx, tdy = tf.constant(x), tf.constant(dy)

    @tf.function
    def keras_forward(x):
        return theirs(x, training=True)

    @tf.function
    def keras_forward_backward(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = theirs(x, training=True)
        return tape.gradient(y, [x] + theirs.trainable_weights, output_gradients=dy)

    def scratch_forward_backward():
        ours.forward(x, training=True)
        ours.backward(dy)

    return ({"forward": lambda: ours.forward(x, training=True), "forward_backward": scratch_forward_backward},
            {"forward": lambda: keras_forward(tx), "forward_backward": lambda: keras_forward_backward(tx, tdy)})


def measure(cases=CASES, repeats=5, sample_s=0.1, scale=1, log=print):
    """Rows per case and pass: median ms per call of scratch and Keras, and Keras / scratch time
    (> 1: scratch is faster). ``scale`` divides the batch (the smoke run uses tiny batches)."""
    rows = []
    for case_id, cls, kwargs, shape in cases:
        shape = (max(1, shape[0] // scale),) + tuple(shape[1:])
        ours, theirs = pair(cls, kwargs, shape)
        for phase in ("forward", "forward_backward"):
            fns = {"scratch": ours[phase], "keras": theirs[phase]}
            steps = {}
            for name, fn in fns.items():
                for _ in range(3):  # warm-up: tracing, first allocations
                    fn()
                t = time.perf_counter()
                fn()
                steps[name] = max(1, int(sample_s / max(time.perf_counter() - t, 1e-6)))
            times = {name: [] for name in fns}
            for _ in range(repeats):  # interleaved samples
                for name, fn in fns.items():
                    _median_ms(fn, steps[name], times[name])
            s, k = float(np.median(times["scratch"])), float(np.median(times["keras"]))
            rows.append({"case": case_id, "class": cls, "kwargs": kwargs, "input_shape": list(shape), "pass": phase,
                         "scratch_ms": s, "keras_ms": k, "keras_over_scratch": k / s})
        log(f"  layer: {case_id}")
    return rows
