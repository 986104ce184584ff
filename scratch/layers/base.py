"""The layer protocol every layer follows, and the checks layers share.

- ``build(input_shape)`` with the batch axis first, as in Keras (``(None, 28, 28, 1)``), or
  lazily on the first call; it creates ``params`` (trainable weights: ``kernel``, ``bias``,
  ``gamma``...), ``state`` (non-trainable weights: BatchNormalization's moving statistics)
  and ``grads`` with the same keys as ``params``.
- ``forward(x, training=False)`` returns the output and caches what ``backward`` needs.
- ``backward(dy)`` returns ``dx`` (``dL/dx``), fills ``grads`` and never modifies ``dy``
  or the cache. ``dx`` is ``None`` when ``input_grad`` is off (a model turns it off where no
  one needs ``dL/dx``: the layers reading the model's input images).
- Backward options: a layer may accept keyword options in ``backward`` that a model's
  backward plan passes to fuse two passes into one (``scratch/models/fusion.py``); it names
  them in ``BACKWARD_OPTIONS``, and a model passes no other. There are two:
  ``pre_activation=True`` (a layer with an ``activation``): ``dy`` is already ``dL/dz``, the
  gradient before the activation (the caller applied the activation's derivative, or the loss
  was computed from the logits); ``relu_input=True`` (``MaxPooling2D``): the input was a ReLU's
  output, so apply the ReLU's mask to ``dx`` here, on the smaller pooled gradient.
- ``get_weights()`` / ``set_weights()`` in Keras order (``weight_names``, trainable and
  non-trainable together, as Keras's ``layer.weights``), with shape checks;
  ``get_config()`` / ``from_config()`` with Keras's argument names.
- ``trainable``: ``False`` freezes the layer (a model's optimizer never sees its
  parameters); gradients still flow through it to earlier layers.

A layer knows nothing of the model it is in: it sees arrays in and arrays out.

Arrays are channels-last (NHWC). Kernels are HWIO ``(kh, kw, in, out)``, dense kernels
``(in, out)``: Keras's own layouts, so weights move over unchanged. A layer computes in its
``dtype`` (float32 unless asked for float64) and refuses input of another dtype rather than
silently changing precision.
"""

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .node import connect, is_symbolic


def positive_int(value, name, layer):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, received {value!r}")
    return value


def check_rank(layer, shape, rank, what="(batch, height, width, channels)"):
    if len(shape) != rank:
        raise ValueError(f"{layer.label}: expected {rank}-D input {what}, received shape {shape}")


def check_rank4(layer, shape):
    check_rank(layer, shape, 4)


SPATIAL_AXES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def check_spatial_rank(layer, shape, rank):
    """``shape`` must be ``(batch, *rank spatial axes, channels)``."""
    check_rank(layer, shape, rank + 2, f"(batch, {', '.join(SPATIAL_AXES[rank])}, channels)")


def check_window_fits(layer, shape, name, window):
    """With 'valid' padding a window larger than the input leaves no output: refuse it."""
    if layer.padding != "valid":
        return
    for n, k, axis in zip(shape[1:-1], window, SPATIAL_AXES[len(window)]):
        if n is not None and n < k:
            raise ValueError(
                f"{layer.label}: {name} {window} is larger than the input "
                f"{axis} {n} with padding='valid' (input shape {shape})"
            )


class BackwardBeforeForwardError(ValueError, AttributeError):
    """``backward`` called on a layer that has not run ``forward`` (a ``ValueError``; an
    ``AttributeError`` too, so ``hasattr(layer, "_cache")`` stays ``False``)."""


class Layer:
    """Base class: naming, dtype, trainable flag, lazy build, input checks, weights and config."""

    def __getattr__(self, name):
        # only reached when normal lookup fails: the forward cache before any forward
        if name == "_cache":
            raise BackwardBeforeForwardError(f"{self.label}: backward called before forward (nothing cached to "
                                             f"differentiate); run forward(x) first")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    weight_names = ()  # Keras order of ``get_weights()`` (keys of ``params`` or ``state``)
    INTEGER_INPUT = False  # reads integer arrays (Embedding): a model it starts takes int32 input
    # ``{Keras option prefix: weight key}`` of the weights that take ``<prefix>_regularizer`` and
    # ``<prefix>_constraint`` (None: every weight of ``weight_names`` but the moving statistics, a
    # ``*_kernel`` weight by the name without ``_kernel``, as Keras's ``depthwise_regularizer``)
    REGULARIZED = None
    BACKWARD_OPTIONS = ()  # keyword options ``backward`` accepts from a model's plan (see the module docstring)

    def __init__(self, name=None, dtype="float32", trainable=True, activity_regularizer=None, **penalties):
        self.name = name
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.label}: dtype must be float32 or float64, received {dtype!r}")
        if not isinstance(trainable, bool):
            raise ValueError(f"{self.label}: trainable must be True or False, received {trainable!r}")
        self.trainable = trainable
        self.params = {}  # trainable weights
        self.state = {}  # non-trainable weights (saved, loaded and converted like the others)
        self.grads = {}
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.init_seed = None  # the initializers' seed; a model sets it from its own (a random layer's draws
        # have their own seed, Keras's ``seed`` argument: ``Dropout(0.5, seed=1)``)
        self.input_grad = True  # a model turns it off for its first layer (dx unused)
        self._set_penalties(activity_regularizer, penalties)

    # -- regularizers and constraints (scratch.regularizers, scratch.constraints) ---------
    @classmethod
    def regularized_weights(cls):
        """``{Keras option prefix: weight key}``: ``{"kernel": "kernel", "bias": "bias"}`` for Dense."""
        if cls.REGULARIZED is not None:
            return dict(cls.REGULARIZED)
        return {(w[:-len("_kernel")] if w.endswith("_kernel") else w): w
                for w in cls.weight_names if not w.startswith("moving_")}

    def _set_penalties(self, activity_regularizer, penalties):
        """Keep ``activity_regularizer`` (any layer, as Keras) and the ``<prefix>_regularizer`` /
        ``<prefix>_constraint`` options of this layer's weights: ``regularizers`` and ``constraints``
        map weight keys (``"kernel"``) to them."""
        self.activity_regularizer = regularizers.get(activity_regularizer, f"{self.label}: activity_regularizer")
        self.regularizers, self.constraints = {}, {}
        self._penalty_options = {}  # Keras option name -> object, for get_config
        allowed = self.regularized_weights()
        for option, value in penalties.items():
            prefix, _, kind = option.rpartition("_")
            if kind not in ("regularizer", "constraint") or not prefix:
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument {option!r}")
            if prefix not in allowed:
                names = [f"{p}_{kind}" for p in allowed]
                raise ValueError(f"{self.label}: has no option {option!r}; its weights take {names or 'none'}")
            module = regularizers if kind == "regularizer" else constraints
            obj = module.get(value, f"{self.label}: {option}")
            if obj is not None:
                (self.regularizers if kind == "regularizer" else self.constraints)[allowed[prefix]] = obj
                self._penalty_options[option] = obj

    def _penalties_config(self):
        config = {k: (regularizers if k.endswith("regularizer") else constraints).serialize(v)
                  for k, v in self._penalty_options.items()}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    def regularization_loss(self):
        """``sum R(w)`` over this layer's trainable weights that have a regularizer (0 if frozen), in
        ``weight_names`` order, as Keras's ``Layer._get_regularization_losses`` (a list of terms)."""
        if not self.trainable:
            return []
        return [self.regularizers[k](self.params[k]) for k in self.weight_names
                if k in self.regularizers and k in self.params]

    def add_regularization_gradients(self):
        """``grads[k] += dR/dw`` for every regularized trainable weight (after ``backward``)."""
        if not self.trainable:
            return
        for k, reg in self.regularizers.items():
            if k in self.params and k in self.grads:
                self.grads[k] = self.grads[k] + reg.gradient(self.params[k])

    def activity_loss(self, y):
        """Keras's activity penalty of output ``y``: ``R(y) / batch size``."""
        return self.activity_regularizer(y) / y.dtype.type(y.shape[0]) if y.ndim else self.activity_regularizer(y)

    def activity_gradient(self, y):
        """``d activity_loss / dy = dR/dy / batch size`` (TF's order: ``(1/batch) * factor``, then the penalty's rule)."""
        if not y.ndim:
            return self.activity_regularizer.gradient(y)
        return self.activity_regularizer.gradient(y, scale=y.dtype.type(1) / y.dtype.type(y.shape[0]))

    # -- naming and config -------------------------------------------------------------
    @property
    def label(self):
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def get_config(self):
        """Name, dtype, trainable flag, and the regularizers/constraints set (Keras's serialized dicts)."""
        return {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable, **self._penalties_config()}

    def _set_weight_options(self, activation, use_bias, kernel_initializer, bias_initializer):
        """Validate and keep the options Conv2D and Dense share (Keras's names)."""
        self.activation = activations.get(activation, self.label)
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer, self.label)
        initializers.get(bias_initializer, self.label)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def _weight_options_config(self):
        return {"activation": self.activation.name, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- build -------------------------------------------------------------------------
    def build(self, input_shape):
        """Check ``input_shape`` (batch axis first), create parameters, set ``output_shape``."""
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        self._check_shape(input_shape)
        self.input_shape = input_shape
        rng = np.random.default_rng(self.init_seed)
        self._build(input_shape, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.output_shape = self.compute_output_shape(input_shape)
        self.built = True

    def _build(self, input_shape, rng):
        pass

    def _check_shape(self, shape):
        pass

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def count_params(self):
        return int(sum(p.size for p in self.params.values()) + sum(s.size for s in self.state.values()))

    def count_trainable_params(self):
        return int(sum(p.size for p in self.params.values())) if self.trainable else 0

    # -- calling -------------------------------------------------------------------------
    def __call__(self, x, training=False):
        """``forward(x)`` on arrays; on symbolic tensors (``scratch.Input``) it records the call in a
        graph instead (see ``scratch.layers.node``)."""
        if is_symbolic(x):
            return connect(self, x)
        return self.forward(x, training=training)

    def connect_check(self, shape, as_list):
        """A symbolic call on ``shape``: build for it the first time, else check the layer accepts it."""
        if not self.built or as_list:  # merge layers check their inputs' shapes in build
            self.build(shape)
        else:  # a shared layer called again: the new shape must be one it accepts
            self._check_shape(shape)

    def accepts_dtype(self, dtype):
        """Whether the layer takes input tensors of ``dtype`` (its own dtype; Embedding also integers)."""
        return dtype == self.dtype

    def _check_input(self, x):
        """Validate at the door: an ndarray of this layer's dtype and a compatible shape."""
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self.label}: expected a NumPy array, received {type(x).__name__}")
        if x.dtype != self.dtype:
            raise ValueError(
                f"{self.label}: expected {self.dtype.name} input, received {x.dtype}; cast it "
                f"explicitly or build the layer with dtype={x.dtype.name!r}"
            )
        if not self.built:
            try:
                self.build((None,) + x.shape[1:])
            except ValueError as e:  # report the array's real shape, batch included
                raise ValueError(str(e).replace(str((None,) + x.shape[1:]), str(x.shape))) from None
            return
        expected = self.input_shape
        if x.ndim != len(expected) or any(e is not None and e != d for e, d in zip(expected[1:], x.shape[1:])):
            if x.ndim == len(expected) >= 3 and expected[-1] == x.shape[-1]:  # 1-D, 2-D or 3-D maps, same channels
                self._check_shape((None,) + x.shape[1:])  # new spatial size: still valid?
                return
            raise ValueError(
                f"{self.label}: expected input shape {expected} (batch first), received {x.shape}"
            )
        if None in expected[1:]:  # built for any size: is this one valid (a window that fits)?
            try:
                self._check_shape((None,) + x.shape[1:])
            except ValueError as e:
                raise ValueError(str(e).replace(str((None,) + x.shape[1:]), str(x.shape))) from None

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    # -- weights -----------------------------------------------------------------------
    def _weights(self):
        """``{name: live array}`` of every weight present, in Keras order."""
        return {k: self.params[k] if k in self.params else self.state[k]
                for k in self.weight_names if k in self.params or k in self.state}

    def get_weights(self):
        """Copies of the weights in Keras order (``[kernel, bias]``; BatchNormalization's
        ``[gamma, beta, moving_mean, moving_variance]``)."""
        return [w.copy() for w in self._weights().values()]

    def set_weights(self, weights):
        """Set weights from a list in Keras order; count, shape and finiteness checked."""
        weights = list(weights)
        if self.weight_names and not self.built:
            raise ValueError(f"{self.label}: not built yet, so its weight shapes are unknown; call "
                             f"build(input_shape) or run it once before set_weights ({len(weights)} arrays given)")
        current = self._weights()
        names = list(current)
        if len(weights) != len(names):
            raise ValueError(
                f"{self.label}: expected {len(names)} weight arrays {names}, received {len(weights)}"
            )
        for k, w in zip(names, weights):
            w = np.asarray(w)
            if w.shape != current[k].shape:
                raise ValueError(
                    f"{self.label}: weight {k!r} expected shape {current[k].shape}, received {w.shape}"
                )
            if not np.issubdtype(w.dtype, np.floating):
                raise ValueError(f"{self.label}: weight {k!r} must be floating point, received {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{self.label}: weight {k!r} contains NaN or inf")
            current[k][...] = w  # in place: the optimizer and the model keep their references
