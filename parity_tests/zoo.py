"""The ``keras.applications`` CNN families, built offline (``weights=None``) at a small input size
with a 10-class top, and the harness that runs one of them in both engines.

Shared by the zoo tests, ``python -m parity_tests.report`` and the benchmarks. Nothing here
downloads anything: a user with ImageNet weights saved in a ``.keras`` file loads that file
with ``keras_ref.load_weights_file`` the same way.

Both engines see the same weights, the same inputs and, in training mode, the same dropout
masks (injected: the Keras Dropout layers of the model apply the given mask instead of drawing
one). Weights and gradients are keyed by path (``layer/variable``; nested models
``model/layer/variable``), moving statistics included.
"""

import contextlib

import keras
import numpy as np

import keras_ref
import scratch
from parity_tests import twins
from parity_tests.determinism import tf

A = keras.applications

# name: (builder, smallest input side it accepts here)
ZOO = {
    "VGG16": (A.VGG16, 32), "VGG19": (A.VGG19, 32),
    "ResNet50": (A.ResNet50, 32), "ResNet50V2": (A.ResNet50V2, 32),
    "MobileNet": (A.MobileNet, 32), "MobileNetV2": (A.MobileNetV2, 32), "MobileNetV3Small": (A.MobileNetV3Small, 32),
    "DenseNet121": (A.DenseNet121, 32), "Xception": (A.Xception, 71), "InceptionV3": (A.InceptionV3, 75),
    "InceptionResNetV2": (A.InceptionResNetV2, 75), "NASNetMobile": (A.NASNetMobile, 32),
    "EfficientNetB0": (A.EfficientNetB0, 32), "EfficientNetV2B0": (A.EfficientNetV2B0, 32),
    "ConvNeXtTiny": (A.ConvNeXtTiny, 32),
}


def build(name, dtype="float32", seed=0):
    """The Keras model ``name`` with fresh weights (seeded), in ``dtype``, and non-trivial BN statistics."""
    fn, side = ZOO[name]
    with twins.keras_floatx(dtype):
        keras.utils.set_random_seed(seed)
        km = fn(weights=None, input_shape=(side, side, 3), classes=10)
    randomize_statistics(km, seed)
    return km


def randomize_statistics(km, seed=0):
    """Moving means/variances and gammas/betas drawn at random (ones and zeros hide bugs)."""
    rng = np.random.default_rng(seed + 1)
    for layer in _leaves(km):
        if isinstance(layer, keras.layers.BatchNormalization):
            new = []
            for v in layer.weights:
                shape, dt = tuple(v.shape), v.dtype
                kind = twins.var_name(v)
                if kind in ("gamma", "moving_variance"):
                    new.append(rng.uniform(0.5, 1.5, shape).astype(dt))
                else:
                    new.append(rng.normal(0.0, 0.2, shape).astype(dt))
            layer.set_weights(new)


def _leaves(km, prefix=""):
    for la in km.layers:
        if isinstance(la, keras.Model):
            yield from _leaves(la, f"{prefix}{la.name}/")
        else:
            yield la


def keras_paths(km, prefix="", trainable_only=False):
    """``[(path, variable)]`` of every weight of a Keras model, nested models opened."""
    out = []
    for la in km.layers:
        if isinstance(la, keras.Model):
            out += keras_paths(la, f"{prefix}{la.name}/", trainable_only)
        else:
            vs = la.trainable_variables if trainable_only else la.weights
            out += [(f"{prefix}{la.name}/{twins.var_name(v)}", v) for v in vs]
    return out


def scratch_paths(model, prefix=""):
    """``{path: array}`` of every weight of a scratch graph (moving statistics included)."""
    out = {}
    for la in model.layers:
        if isinstance(la, scratch.Model):
            out.update(scratch_paths(la, f"{prefix}{la.name}/"))
        else:
            out.update({f"{prefix}{la.name}/{k}": v for k, v in la._weights().items()})
    return out


@contextlib.contextmanager
def injected_masks(model, km, masks):
    """Both engines' Dropout layers apply ``masks`` (by layer name) in training mode."""
    sl = {la.name: la for la in scratch.leaf_layers(model)}
    kl = {la.name: la for la in _leaves(km)}
    saved = {}
    for name, mask in masks.items():
        sl[name].fixed_mask = mask
        k = kl[name]
        scale = 1.0 / (1.0 - k.rate)

        def call(inputs, training=None, _mask=mask, _scale=scale):
            if not training:
                return inputs
            # tf.constant in the input's dtype: tf.cast of a Python float would round it to float32 first
            return tf.where(tf.constant(_mask), inputs * tf.constant(_scale, inputs.dtype), tf.zeros_like(inputs))

        saved[name] = k.__dict__.get("call")
        k.call = call
    try:
        yield
    finally:
        for name in masks:
            sl[name].fixed_mask = None
            if saved[name] is None:
                del kl[name].call
            else:
                kl[name].call = saved[name]


def loss_fns(dtype):
    """The same loss in both engines: the zoo models end in softmax, so from probabilities."""
    return (scratch.SparseCategoricalCrossentropy(from_logits=False),
            keras.losses.SparseCategoricalCrossentropy(from_logits=False, dtype=dtype))


def gradients(model, km, x, y, masks=None, training=False):
    """``(scratch, keras)`` of output, loss and every trainable weight's gradient (``training``:
    batch statistics and the injected dropout masks; else inference mode)."""
    s_loss, k_loss = loss_fns(x.dtype.name)
    with injected_masks(model, km, masks or {}):
        # a softmax output: the loss of its logits, as Keras
        loss, out = model.compute_gradients(x, y, loss=s_loss, trainable_only=False, training=training)
        ours = {("model", "output"): out, ("model", "loss"): np.asarray(loss, dtype=out.dtype)}
        ours.update({(p, "grad"): g.copy() for p, g in model.named_grads().items()})
        paths = keras_paths(km, trainable_only=True)
        with tf.GradientTape() as tape:
            kout = km(tf.constant(x), training=training)
            kl = k_loss(tf.constant(y), kout)
        grads = tape.gradient(kl, [v for _, v in paths])
    theirs = {("model", "output"): kout.numpy(), ("model", "loss"): kl.numpy()}
    theirs.update({(p, "grad"): g.numpy() for (p, _), g in zip(paths, grads)})
    return ours, theirs


def train_steps(model, km, batches, dtype, optimizer="adam"):
    """Steps of ``optimizer`` (a name of ``twins.OPTIMIZERS``) in both engines on the same batches;
    yields ``(step, scratch weights, keras weights)`` by path after every step (moving statistics included)."""
    s_loss, k_loss = loss_fns(dtype)
    opt = twins.scratch_optimizer(optimizer)
    kopt = twins.keras_optimizer(optimizer, dtype)
    paths = keras_paths(km, trainable_only=True)
    variables = [v for _, v in paths]
    # a Normalization whose statistics Keras holds as weights: the twin has them as arguments
    stats = {la.name for la in _leaves(km) if isinstance(la, keras.layers.Normalization)}
    for step, (x, y, masks) in enumerate(batches, start=1):
        with injected_masks(model, km, masks):
            model.compute_gradients(x, y, loss=s_loss, trainable_only=False)
            opt.step(model.named_params(), model.named_grads())
            with tf.GradientTape() as tape:
                kl = k_loss(tf.constant(y), km(tf.constant(x), training=True))
            kopt.apply_gradients(zip(tape.gradient(kl, variables), variables))
        ours = {(p, "weight"): np.array(v) for p, v in scratch_paths(model).items()}
        theirs = {(p, "weight"): np.array(v.numpy()) for p, v in keras_paths(km) if p.split("/")[-2] not in stats}
        yield step, ours, theirs


def convert(km):
    """The scratch twin of a zoo model (weights copied), its loss from probabilities (softmax top)."""
    return keras_ref.from_keras(km, loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": False})


# -- one model, every comparison (the tests assert them, the report tabulates them) -----------------
def _inputs(km, dtype, n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n,) + tuple(km.inputs[0].shape[1:])).astype(dtype), rng.integers(0, 10, n)


def model_wide(tolerance, scale, what):
    """``tolerance`` with an absolute floor ``rtol * scale`` (``scale``: the model's largest value).

    A bias just before a BatchNormalization has gradient exactly 0 in training mode (the batch
    mean removes it): both engines compute rounding noise there, which no tolerance relative to
    that tensor can compare; held relative to the largest gradient (or weight) of the whole model,
    a wrong value (of the model's scale, not 1e-11 of it) still fails.
    """
    from parity_tests.tolerances import Tolerance

    return Tolerance(f"{tolerance.name} (of the largest {what})", tolerance.rtol, tolerance.rtol * scale,
                     tolerance.why)


def parity_checks(name, steps=2, on_float32=None, train_batch=8):
    """``[(what, dtype, scratch, keras, tolerance)]`` for zoo model ``name``: float32 predictions;
    float64 output, loss and every gradient on a batch of 2 in inference mode; ``steps`` training
    steps on batches of ``train_batch`` (batch statistics, moving statistics updated, injected
    dropout masks) of plain SGD with a small learning rate in float64, every weight after each
    step. Measured on MobileNetV2: gradients 1e-14, weights 3e-13 after two steps. Why these
    choices: Adam would turn the noise gradients above into full steps of random sign, different
    in each engine; an untrained network with random moving statistics has training-mode
    gradients up to 1e4, so a large step throws the weights far; and batch statistics of 2 images
    (at the 1x1 end of a 32x32 network) make the step chaotic: two engines 1e-10 apart after one
    step were 7e-6 apart after the second, where batches of 8 stay at 3e-13. ``on_float32(km, model)``
    is called with the float32 pair (a test checks the round trip on it: one build fewer)."""
    from parity_tests import tolerances as tol

    checks = []
    km = build(name, "float32")
    model = convert(km)
    if on_float32 is not None:
        on_float32(km, model)
    x, _ = _inputs(km, "float32", 2, seed=0)
    checks.append(("predictions", "float32", {("model", "output"): model.predict(x)},
                   {("model", "output"): np.asarray(km(x, training=False))}, tol.MODEL_FLOAT32))
    km = build(name, "float64")
    model = convert(km)
    x, y = _inputs(km, "float64", 2, seed=1)
    ours, theirs = gradients(model, km, x, y)
    grads = sorted(k for k in theirs if k[1] == "grad")
    if {k for k in ours if k[1] == "grad"} != set(grads):
        raise AssertionError(f"{name}: gradients by path differ: only scratch "
                             f"{sorted({k for k in ours if k[1] == 'grad'} - set(grads))[:5]}, only keras "
                             f"{sorted(set(grads) - {k for k in ours if k[1] == 'grad'})[:5]}")
    scale = max(float(np.abs(theirs[k]).max()) for k in grads)
    checks.append(("gradients", "float64", {k: ours[k] for k in grads}, {k: theirs[k] for k in grads},
                   model_wide(tol.MODEL_FLOAT64, scale, "gradient")))
    outs = [k for k in theirs if k[1] != "grad"]
    checks.append(("output and loss", "float64", {k: ours[k] for k in outs}, {k: theirs[k] for k in outs},
                   tol.MODEL_FLOAT64))
    batches = []
    for step in range(steps):
        xb, yb = _inputs(km, "float64", train_batch, seed=10 + step)
        batches.append((xb, yb, twins.dropout_masks(model, train_batch, seed=20 + step)))
    for step, ours, theirs in train_steps(model, km, batches, "float64", optimizer="sgd-small"):
        scale = max(float(np.abs(v).max()) for v in theirs.values())
        checks.append((f"weights after step {step}", "float64", ours, theirs,
                       model_wide(tol.TRAIN_FLOAT64, scale, "weight")))
    return checks


def speed(km, batch=8, repeats=3):
    """``(training, inference)`` images/s of the scratch twin over Keras's (ratios, float32, best of
    ``repeats`` steps each after a warm-up; plain SGD; Keras's ``train_on_batch``/``predict_on_batch``)."""
    import time

    model = convert(km)
    x, y = _inputs(km, "float32", batch, seed=5)
    s_loss, _ = loss_fns("float32")
    opt = scratch.SGD(1e-4)

    def scratch_train():
        model.compute_gradients(x, y, loss=s_loss)
        opt.step(model.named_params(), model.named_grads())

    km.compile(optimizer=keras.optimizers.SGD(1e-4), loss=keras.losses.SparseCategoricalCrossentropy())

    def best(fn):
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    train = best(lambda: km.train_on_batch(x, y)) / best(scratch_train)
    infer = best(lambda: km.predict_on_batch(x)) / best(lambda: model.forward(x))
    return train, infer
