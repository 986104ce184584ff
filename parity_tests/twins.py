"""Run the same computation in both engines and collect named arrays for ``compare``.

Keys are ``(layer, tensor)``: ``"output"``, ``"grad input"`` (dL/dx), ``"grad kernel"``,
``"grad bias"``, ``"state moving_mean"`` (a non-trainable weight after a layer pass), ``"loss"``,
``"kernel"``/``"bias"`` (weights). Scratch first, Keras second,
always from the same inputs and weights.
"""

from parity_tests.determinism import tf  # noqa: I001  (TensorFlow deterministic before Keras loads)

import contextlib
import re

import keras
import numpy as np

import keras_ref
import scratch

# -- one layer ------------------------------------------------------------------------------
def scratch_layer_pass(layer, x, dy, training=False):
    """Forward ``x``, backward ``dy`` through a scratch layer: output, dL/dx, parameter gradients,
    and the non-trainable weights (``"state moving_mean"``...) as they are after the pass.

    A frozen layer's parameter gradients are included too (the mathematical dL/dgamma; its
    optimizer never sees them): ``keras_layer_pass`` computes the same for Keras's frozen layer.
    """
    y = layer.forward(x, training=training)
    dx = layer.backward(dy)
    out = {(layer.name, "output"): y}
    out.update({(layer.name, "grad input" + suffix): d for suffix, d in _named_inputs(dx) if d is not None})
    out.update({(layer.name, f"grad {k}"): g for k, g in layer.grads.items()})
    out.update({(layer.name, f"state {k}"): np.array(v) for k, v in layer.state.items()})
    return out


def _dense(g):
    """A gradient as an array (an Embedding's gradient comes as ``tf.IndexedSlices``: rows and their indices)."""
    return tf.convert_to_tensor(g).numpy()


def var_name(v):
    """A Keras variable's name; unnamed ones (``add_weight`` without a name, as LayerScale's) are
    numbered ``variable``, ``variable_1``... across the process, so they are all ``variable`` here."""
    return re.sub(r"^variable_\d+$", "variable", v.name)


def _named_inputs(dx):
    """``("", dx)`` for one input; ``(" 0", dx_0), (" 1", dx_1)...`` for a merge layer's list."""
    return [(f" {i}", d) for i, d in enumerate(dx)] if isinstance(dx, list) else [("", dx)]


def keras_twin(layer):
    """The built Keras layer with ``layer``'s configuration and weights."""
    klayer = keras_ref.convert.keras_layer(layer)
    klayer.build(layer.input_shape)
    klayer.set_weights(layer.get_weights())
    return klayer


def keras_layer_pass(klayer, x, dy, training=False, param_names=None):
    """The same through a Keras layer, with ``tf.GradientTape`` on ``sum(y * dy)`` (so dL/dy = dy).

    ``x`` is an array, or a list of arrays for a merge layer (then ``"grad input 0"``, ``1``...).
    ``param_names``: the variables to differentiate (the scratch layer's ``params`` keys; by
    default Keras's trainable ones). Named explicitly because a frozen Keras layer marks every
    variable non-trainable; the others are reported as ``"state <name>"`` after the call.
    """
    if param_names is None:
        param_names = [var_name(v) for v in klayer.trainable_variables]
    variables = [v for v in klayer.weights if var_name(v) in param_names]
    xts = [tf.constant(a) for a in x] if isinstance(x, list) else [tf.constant(x)]
    with tf.GradientTape() as tape:
        for xt in xts:
            tape.watch(xt)
        for v in variables:
            tape.watch(v.value)
        y = klayer(xts if isinstance(x, list) else xts[0], training=training)
        if y.dtype != xts[0].dtype and xts[0].dtype.is_floating:  # TF's bilinear/bicubic resize returns float32 for float64 images: the
            y = tf.cast(y, xts[0].dtype)  # next Keras layer casts it back (autocast), so compare after that cast
        s = tf.reduce_sum(y * tf.constant(dy))
    grads = tape.gradient(s, xts + [v.value for v in variables])
    dx = [None if g is None else g.numpy() for g in grads[:len(xts)]]  # None: integer input (indices)
    out = {(klayer.name, "output"): y.numpy()}
    out.update({(klayer.name, "grad input" + suffix): d for suffix, d in _named_inputs(dx if isinstance(x, list) else dx[0])
                if d is not None})
    out.update({(klayer.name, f"grad {var_name(v)}"): _dense(g) for v, g in zip(variables, grads[len(xts):])})
    out.update({(klayer.name, f"state {var_name(v)}"): v.numpy() for v in klayer.weights
                if var_name(v) not in param_names})
    return out


def layer_parity(layer, x, seed=0, training=False, keras_dtype=None):
    """``(scratch, keras)`` results of one layer on ``x`` with a random upstream gradient.

    ``keras_dtype="float32"`` for a float64 layer that Keras cannot compute in float64 (TensorFlow's
    3-D pooling ops have no float64 kernel): the Keras twin computes in float32 on the same input and
    upstream gradient rounded to float32, its results returned as float64 (compare them at float32's
    tolerance)."""
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    first = x[0] if isinstance(x, list) else x
    y_shape = (first.shape[0],) + layer.output_shape[1:]
    dy = np.random.default_rng(seed).standard_normal(y_shape).astype(layer.dtype)
    if keras_dtype is None or keras_dtype == layer.dtype.name:
        klayer = keras_twin(layer)
        draws = noise_draws([(layer, first.shape)], seed) if training else {}
        with injected_noise([layer], [klayer], draws):
            return (scratch_layer_pass(layer, x, dy, training),
                    keras_layer_pass(klayer, x, dy, training, param_names=list(layer.params)))
    ours = scratch_layer_pass(layer, x, dy, training)
    twin = scratch.layers.deserialize(scratch.layers.serialize(layer), dtype=keras_dtype)
    twin.build(layer.input_shape)
    twin.set_weights([w.astype(keras_dtype) for w in layer.get_weights()])
    xk = [a.astype(keras_dtype) for a in x] if isinstance(x, list) else x.astype(keras_dtype)
    theirs = keras_layer_pass(keras_twin(twin), xk, dy.astype(keras_dtype), training, param_names=list(layer.params))
    return ours, {k: v.astype(layer.dtype) for k, v in theirs.items()}


# -- the same random draws in both engines ---------------------------------------------------
def noise_draws(layers_and_shapes, seed=0):
    """``{layer name: draw}`` for the random layers (``scratch.layers.regularization.NoiseLayer``) among
    ``(scratch layer, input shape)`` pairs: a boolean keep mask (``u >= rate``) for the dropouts, standard
    normal draws in the layer's dtype for the Gaussian layers, shaped ``layer.noise_shape_of(shape)``."""
    rng = np.random.default_rng(seed)
    draws = {}
    for layer, shape in layers_and_shapes:
        if isinstance(layer, scratch.layers.regularization.NoiseLayer):
            noise_shape = layer.noise_shape_of(shape)
            draws[layer.name] = (rng.standard_normal(noise_shape).astype(layer.dtype)
                                 if layer.FIXED == "fixed_noise" else rng.random(noise_shape) >= layer.rate)
    return draws


@contextlib.contextmanager
def injected_noise(scratch_layers, keras_layers, draws):
    """Both engines' random layers use ``draws`` (by layer name, from ``noise_draws``) in training mode.

    The scratch layers get them as ``fixed_mask``/``fixed_noise``. Keras's layers run their own
    ``call`` unchanged; the random functions they call (``keras.src.backend.random.normal``,
    ``uniform`` and ``dropout``) are replaced, for the calls seeded by those layers' seed generators
    only, by ones returning the draws:

    - ``normal(shape, mean, stddev, dtype)`` -> ``z * stddev + mean``, as TensorFlow's
      ``stateless_normal`` scales its standard draws (GaussianNoise, GaussianDropout);
    - ``uniform(shape, dtype)`` -> ``(1 + rate) / 2`` where kept and ``rate / 2`` where dropped: on
      the same side of ``rate`` in any precision, so Keras's own ``u >= rate`` gives the keep mask
      (AlphaDropout);
    - ``dropout(x, rate, noise_shape)`` -> TensorFlow's own ``general_dropout`` with that uniform
      sampler (Dropout, SpatialDropout1D/2D/3D), after checking Keras asked for the mask's shape.
    """
    from keras.src import backend

    module = backend.random
    by_layer = {la.name: la for la in keras_layers}
    by_seed = {}
    for layer in scratch_layers:
        if layer.name in draws:
            setattr(layer, layer.FIXED, draws[layer.name])
            by_seed[id(by_layer[layer.name].seed_generator)] = (layer, draws[layer.name])
    saved = {name: getattr(module, name) for name in ("normal", "uniform", "dropout")}

    def uniform_of(layer, mask, shape, dtype):
        if tuple(int(d) for d in shape) != mask.shape:
            raise AssertionError(f"{layer.name}: Keras drew a uniform of shape {tuple(shape)}, the injected mask "
                                 f"is {mask.shape}")
        rate = layer.rate
        return tf.constant(np.where(mask, (1 + rate) / 2, rate / 2), dtype=dtype)

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        if id(seed) not in by_seed:
            return saved["normal"](shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
        layer, z = by_seed[id(seed)]
        assert tuple(int(d) for d in shape) == z.shape, (layer.name, shape, z.shape)
        dtype = dtype or keras.config.floatx()
        return tf.constant(z, dtype=dtype) * tf.constant(stddev, dtype) + tf.constant(mean, dtype)

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        if id(seed) not in by_seed:
            return saved["uniform"](shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)
        assert (minval, maxval) == (0.0, 1.0)
        layer, mask = by_seed[id(seed)]
        return uniform_of(layer, mask, shape, dtype or keras.config.floatx())

    def dropout(inputs, rate, noise_shape=None, seed=None):
        if id(seed) not in by_seed:
            return saved["dropout"](inputs, rate, noise_shape=noise_shape, seed=seed)
        layer, mask = by_seed[id(seed)]
        return tf.nn.experimental.general_dropout(
            inputs, rate, uniform_sampler=lambda shape, dtype: uniform_of(layer, mask, shape, dtype),
            noise_shape=noise_shape)

    module.normal, module.uniform, module.dropout = normal, uniform, dropout
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)
        for layer in scratch_layers:
            if layer.name in draws:
                setattr(layer, layer.FIXED, None)


# -- whole models ----------------------------------------------------------------------------
def keras_loss(model):
    """The Keras loss named by the scratch model's loss spec, computing in the model's dtype.

    A Keras loss casts its inputs to its own ``dtype``, which defaults to ``floatx()``
    (float32): without ``dtype=`` a float64 model's logits would be rounded to float32 before
    the loss and its gradient.
    """
    return keras_loss_from_spec(model.loss_spec, model.dtype.name)


def keras_loss_from_spec(spec, dtype):
    """The Keras loss of an architecture's ``"loss"`` dict (``class_name`` and its whole config)."""
    config = {k: v for k, v in spec.items() if k not in ("class_name", "config")}
    config.update(spec.get("config") or {})
    return getattr(keras.losses, spec["class_name"])(**config, dtype=dtype)


def set_masks(model, masks):
    """Inject ``{dropout layer name: boolean keep mask}`` into the scratch model (None clears)."""
    for layer in scratch.leaf_layers(model):
        if isinstance(layer, scratch.Dropout):
            layer.fixed_mask = None if masks is None else masks[layer.name]


def keras_forward(keras_model, x, training=False, masks=None):
    """Keras's layers one after another; a Dropout layer applies the injected mask when training.

    The mask is applied as Keras's dropout does, ``x * (1 / (1 - rate))`` where kept, 0 elsewhere.
    """
    for klayer in keras_model.layers:
        if isinstance(klayer, keras.layers.Dropout) and training and masks is not None:
            scale = tf.constant(1.0 / (1.0 - klayer.rate), dtype=x.dtype)
            x = tf.where(tf.constant(masks[klayer.name]), x * scale, tf.zeros_like(x))
        else:
            x = klayer(x, training=training)
    return x


def dropout_masks(model, batch, seed=0):
    """A reproducible keep mask (rate of each Dropout) for every Dropout layer of a scratch model, nested
    models opened, from its input shape (``noise_shape``: one draw per image where it says so)."""
    rng = np.random.default_rng(seed)
    masks = {}
    for layer in scratch.leaf_layers(model):
        if isinstance(layer, scratch.Dropout):
            shape = (batch,) + tuple(layer.input_shape[1:])
            if layer.noise_shape is not None:  # EfficientNet's drop connect: (N, 1, 1, 1)
                shape = tuple(s if d is None else d for s, d in zip(shape, layer.noise_shape))
            masks[layer.name] = rng.random(shape) >= layer.rate
    return masks


def scratch_model_pass(model, x, y, training=False, masks=None):
    """Output, loss and every parameter gradient of a scratch model on ``(x, y)``."""
    set_masks(model, masks)
    loss_fn = scratch.losses.deserialize(model.loss_spec)
    out = model.forward(x, training=training)
    loss = loss_fn(y, out)
    model.backward(loss_fn.backward())
    set_masks(model, None)
    result = {("model", "output"): out, ("model", "loss"): np.asarray(loss, dtype=out.dtype)}
    result.update({(layer.name, f"grad {k}"): g.copy() for layer in model.layers for k, g in layer.grads.items()})
    return result


def keras_model_pass(keras_model, loss_fn, x, y, training=False, masks=None):
    """The same for a Keras model, gradients by ``tf.GradientTape``."""
    with tf.GradientTape() as tape:
        out = keras_forward(keras_model, tf.constant(x), training=training, masks=masks)
        loss = loss_fn(tf.constant(y), out)
    grads = tape.gradient(loss, keras_model.trainable_variables)
    by_var = {id(v): g for v, g in zip(keras_model.trainable_variables, grads)}
    result = {("model", "output"): out.numpy(), ("model", "loss"): loss.numpy()}
    for klayer in keras_model.layers:
        result.update({(klayer.name, f"grad {var_name(v)}"): _dense(by_var[id(v)]) for v in klayer.trainable_variables})
    return result


def model_parity(model, x, y, training=False, masks=None):
    """``(scratch, keras)`` outputs, loss and gradients of ``model`` and its Keras twin."""
    keras_model = keras_ref.to_keras(model)
    return (scratch_model_pass(model, x, y, training, masks),
            keras_model_pass(keras_model, keras_loss(model), x, y, training, masks))


# -- training ---------------------------------------------------------------------------------
OPTIMIZERS = {  # name: (class in both engines, its hyperparameters; keras_optimizer gives Keras every one, defaults too)
    "sgd": ("SGD", {"learning_rate": 0.05}),
    "momentum": ("SGD", {"learning_rate": 0.02, "momentum": 0.9}),
    "nesterov": ("SGD", {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    # the keras.applications models' training steps (parity_tests/zoo.py): untrained, with random
    # moving statistics and batch statistics of 2 images, their training-mode gradients reach 1e4;
    # a small plain step keeps the weights near where the comparison means something
    "sgd-small": ("SGD", {"learning_rate": 1e-4}),
    # Keras's BaseOptimizer options. The clip thresholds sit among the blog gradients' sizes, so
    # clipping changes some gradients and leaves others (test_losses_optimizers checks both happen).
    "adamw": ("AdamW", {"learning_rate": 0.002, "weight_decay": 0.05}),
    "sgd-weight-decay": ("SGD", {"learning_rate": 0.05, "weight_decay": 0.1}),
    "sgd-clipnorm": ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "clipnorm": 0.5}),
    "adam-global-clipnorm": ("Adam", {"learning_rate": 0.002, "global_clipnorm": 2.0}),
    "adam-clipnorm": ("Adam", {"learning_rate": 0.002, "clipnorm": 0.5}),
    "rmsprop-clipvalue": ("RMSprop", {"learning_rate": 0.001, "clipvalue": 0.1}),
}


def scratch_optimizer(name):
    cls, kwargs = OPTIMIZERS[name]
    return getattr(scratch, cls)(**kwargs)


@contextlib.contextmanager
def keras_floatx(dtype):
    """Run Keras with ``keras.config.floatx() == dtype`` and the global dtype policy ``dtype`` (new
    layers and inputs compute and store in ``dtype``), restoring both after."""
    previous, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(str(dtype))
    keras.config.set_dtype_policy(str(dtype))  # layers take the global policy, cached once computed
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
        keras.config.set_dtype_policy(policy)


def keras_optimizer(name, dtype):
    """The Keras optimizer named ``name`` whose float64 arithmetic is really float64.

    Keras rounds two kinds of hyperparameters to float32 even for float64 weights
    (keras/src/optimizers/base_optimizer.py, sgd.py, adam.py):

    - the learning rate is a Variable created in ``keras.config.floatx()`` (float32 by
      default) and cast to the weight's dtype at each step: ``float64(float32(0.002))``;
    - ``momentum``, ``beta_1``, ``beta_2`` go through ``ops.cast(self.momentum, variable.dtype)``,
      i.e. ``tf.cast`` of a Python float, which TensorFlow first turns into a float32 tensor.

    Both put the float64 update ~1e-8 relative off the exact one (measured after 50 steps:
    ~4e-7 with momentum, ~3e-3 with Adam on lenet). So the optimizer is created under floatx
    float64 (a float64 learning-rate Variable) and its hyperparameters are given as
    ``np.float64`` (a ``float`` subclass Keras accepts), which ``tf.cast`` keeps exact
    (``weight_decay`` goes through the same ``tf.cast``). In float32 they stay plain Python
    floats, the same numbers once cast, and the only form Keras's ``global_clipnorm`` takes
    there: an ``np.float64`` one meets a float32 norm in ``clip_by_global_norm`` and TensorFlow
    refuses to add them. The scratch engine keeps exact
    hyperparameters (see ``test_traps.test_trap_keras_optimizer_rounds_hyperparameters_to_float32``).
    """
    cls, _ = OPTIMIZERS[name]
    kwargs = scratch_optimizer(name).get_config()  # every hyperparameter, defaults included: a Keras
    # default left out would be a Python float, rounded to float32 by tf.cast
    if str(dtype) == "float64":
        kwargs = {k: np.float64(v) if isinstance(v, float) else v for k, v in kwargs.items()}
    with keras_floatx(dtype):
        return getattr(keras.optimizers, cls)(**kwargs)


def weights_of(model_layers):
    """``{(layer, weight name): array}`` of every weight, trainable or not (BatchNormalization's
    moving statistics included), from scratch layers or Keras layers (named by their variables)."""
    out = {}
    for la in model_layers:
        if isinstance(la, scratch.Layer):
            out.update({(la.name, k): np.array(w) for k, w in la._weights().items()})
        else:
            out.update({(la.name, var_name(v)): np.array(v.numpy()) for v in la.weights})
    return out


def train_parity(arch, dtype, optimizer, batches, seed=0):
    """Train ``arch`` in both engines from the same weights on the same ``(x, y)`` batches.

    Yields ``(step, scratch_weights, keras_weights, scratch_loss, keras_loss)`` after every
    step. Dropout layers get the same random mask in both engines at each step.
    """
    model = scratch.build_model(arch, dtype=dtype, seed=seed)
    model.compile(scratch_optimizer(optimizer))
    keras_model = keras_ref.to_keras(model)
    opt = keras_optimizer(optimizer, dtype)
    loss_fn = keras_loss(model)
    variables = keras_model.trainable_variables
    for step, (x, y) in enumerate(batches, start=1):
        masks = dropout_masks(model, len(x), seed=[seed, step])
        set_masks(model, masks)
        s_loss, _ = model.train_step(x, y)
        set_masks(model, None)
        with tf.GradientTape() as tape:
            out = keras_forward(keras_model, tf.constant(x), training=True, masks=masks)
            k_loss = loss_fn(tf.constant(y), out)
        opt.apply_gradients(zip(tape.gradient(k_loss, variables), variables))
        yield step, weights_of(model.layers), weights_of(keras_model.layers), s_loss, float(k_loss)


def mnist_batches(dtype, steps, batch_size, preprocess, seed=0):
    """``steps`` real MNIST training batches, shuffled with ``seed``, preprocessed as the architecture says."""
    (x_train, y_train), _ = scratch.load_mnist()
    idx = np.random.default_rng(seed).permutation(len(x_train))[:steps * batch_size]
    x = scratch.preprocess(x_train[idx], preprocess, dtype=dtype)
    y = y_train[idx].astype(np.int64)
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, steps * batch_size, batch_size)]
