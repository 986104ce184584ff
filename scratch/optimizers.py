"""Optimizers with Keras 3's update equations, operation for operation.

``step(params, grads)`` takes two dicts with the same keys (``"conv2d/kernel"``, ...) and
updates the parameter arrays in place. State (momentum, moments) is created lazily per
parameter, in the parameter's dtype; ``iterations`` counts steps as Keras's
``optimizer.iterations`` does. ``get_state()`` / ``set_state()`` save and restore it as a flat
dict of arrays (what a checkpoint stores).

Scalars (learning rate, betas, ...) are cast to the parameter's dtype before use, as Keras
does with ``ops.cast(..., variable.dtype)``, so float32 stays float32 throughout.

Every optimizer also takes Keras's ``weight_decay``, ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` (see ``Optimizer``); ``AdamW`` is ``Adam`` with weight decay on.
"""

import numpy as np

from . import kernels


class Optimizer:
    """Base class: validation, the options every Keras optimizer has, state, and ``step``.

    Options shared by every optimizer (Keras's ``BaseOptimizer`` arguments, default None = off):

    - ``weight_decay`` (``wd``): decoupled decay of every trained weight, before its update::

          w = w - w * wd * lr

    - gradient clipping, at most one of (applied first, to the raw gradients):
      ``clipnorm`` (``c``), each gradient alone, as ``tf.clip_by_norm``::

          g = g * c / max(||g||, c)                         (||g||: the L2 norm of that gradient)

      ``global_clipnorm`` (``c``), all gradients by one factor, as Keras's ``clip_by_global_norm``::

          n = sqrt(sum over gradients of sum(g**2))
          g = g * (c * min(1 / n, 1 / c))                  (unchanged when n <= c)

      ``clipvalue`` (``v``): ``g = clip(g, -v, v)`` elementwise.

    Keras's order in one step (``base_optimizer._backend_apply_gradients``): clip the gradients,
    decay the weights, then the optimizer's own update with the clipped gradients, then the
    weights' constraints (``step``'s ``constraints``; ``BaseOptimizer.apply``), then
    ``iterations += 1``. Keras silently ignores clip values <= 0; we refuse them (pass None to
    turn clipping off), and, as Keras, refuse two clip options together.
    """

    slot_names = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.label = type(self).__name__
        self.learning_rate = self._positive("learning_rate", learning_rate)
        if weight_decay is not None:
            if not self._is_number(weight_decay) or not weight_decay >= 0 or not np.isfinite(weight_decay):
                raise ValueError(f"{self.label}: weight_decay must be a non-negative number or None, "
                                 f"received {weight_decay!r}")
            weight_decay = float(weight_decay)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else self._positive(k, v, note=" or None (Keras silently ignores values <= 0)")
            for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)))
        given = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                   ("global_clipnorm", global_clipnorm)) if v is not None}
        if len(given) > 1:
            raise ValueError(f"{self.label}: only one of clipnorm, clipvalue and global_clipnorm can be set, "
                             f"received " + ", ".join(f"{k}={v!r}" for k, v in given.items()))
        self.iterations = 0
        self.slots = {}  # param name -> {slot name: array}

    @staticmethod
    def _is_number(value):
        return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)

    def _positive(self, name, value, note=""):
        if not self._is_number(value) or not value > 0 or not np.isfinite(value):
            raise ValueError(f"{self.label}: {name} must be a positive number{note}, received {value!r}")
        return float(value)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _slots_for(self, name, p):
        if name not in self.slots:
            self.slots[name] = {s: np.zeros_like(p) for s in self.slot_names}
        return self.slots[name]

    def clip_gradients(self, grads, sparse=None):
        """The clipped gradients (new arrays where clipping applies; ``grads`` is not modified);
        ``sparse`` as ``_clipped``."""
        return self._clipped(grads, sparse)[0]

    def _clipped(self, grads, sparse=None):
        """``clip_gradients``, and the squares Adam and RMSprop need.

        ``sparse``: ``{name: (rows, values)}`` of the gradients Keras holds as ``tf.IndexedSlices`` (an Embedding's: ``values[i]`` added into row ``rows[i]``, one slice per occurrence of a token).
        Keras squares and clips those slice by slice: a norm (``clipnorm``, ``global_clipnorm``) sums
        each slice's squares, ``clipvalue`` clips each slice before they are added. Returns ``(grads,
        squares)``: ``squares[name]`` the sum of the (clipped) slices' squares per row, what Adam and
        RMSprop take for ``g**2`` where Keras still holds the slices (``global_clipnorm``'s ``v * scale``
        adds them first: there Adam squares the sum, as for a dense gradient)."""
        sparse = sparse or {}

        def squares_of(scale=None):
            out = {}
            for name, (rows, values) in sparse.items():
                out[name] = np.zeros_like(grads[name])
                np.add.at(out[name], rows, np.square(values if scale is None else values * scale[name]))
            return out

        def l2sum(name, g):
            return np.sum(np.square(sparse[name][1])) if name in sparse else np.sum(g * g)

        if self.clipnorm is not None:
            out, scale = {}, {}
            for name, g in grads.items():
                c = g.dtype.type(self.clipnorm)
                scale[name] = c / np.maximum(np.sqrt(l2sum(name, g)), c)
                out[name] = g * c / np.maximum(np.sqrt(l2sum(name, g)), c)
            return out, squares_of(scale)  # Keras scales the slices and keeps them
        if self.global_clipnorm is not None and grads:
            cast = next(iter(grads.values())).dtype.type
            norm = np.sqrt(np.sum([l2sum(name, g) for name, g in grads.items()], dtype=cast))
            with np.errstate(divide="ignore", invalid="ignore"):  # n = 0: 1/n = inf, min picks 1/c: scale 1
                scale = cast(self.global_clipnorm) * np.minimum(cast(1) / norm, cast(1.0 / self.global_clipnorm))
                scale = scale + (norm - norm)  # NaN for an infinite or NaN norm, as Keras
            return {name: g * scale for name, g in grads.items()}, {}  # Keras's v * scale adds the slices first
        if self.clipvalue is not None:
            out = {}
            for name, g in grads.items():
                c = g.dtype.type(self.clipvalue)
                if name in sparse:  # each slice clipped, then added
                    rows, values = sparse[name]
                    sparse = {**sparse, name: (rows, np.clip(values, -c, c))}
                    out[name] = np.zeros_like(g)
                    np.add.at(out[name], rows, sparse[name][1])
                else:
                    out[name] = np.clip(g, -c, c)
            return out, squares_of()
        return grads, squares_of()

    def step(self, params, grads, constraints=None, sparse=None):
        """Update every ``params[k]`` in place from ``grads[k]``; then project each ``params[k]``
        that has a ``constraints[k]`` (``scratch.constraints``: ``w = c(w)``, after every update, as
        Keras's ``BaseOptimizer.apply``); then ``iterations += 1``. ``sparse``: the slices of the
        gradients Keras holds as ``tf.IndexedSlices`` (see ``clip_gradients``)."""
        if params.keys() != grads.keys():
            raise ValueError(f"{self.label}: params and grads have different keys: "
                             f"{sorted(params)} vs {sorted(grads)}")
        for name, p in params.items():
            g = grads[name]
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"{self.label}: gradient of {name!r} is {g.dtype}{g.shape}, "
                                 f"parameter is {p.dtype}{p.shape}")
        grads, squares = self._clipped(grads, sparse)
        for name, p in params.items():
            cast = p.dtype.type
            if self.weight_decay is not None:  # p -= p * wd * lr, in place (kernels: cache-sized chunks)
                kernels.decay_weights(p, cast(self.weight_decay), cast(self.learning_rate))
            self._update(p, grads[name], self._slots_for(name, p), cast, squares.get(name))
        for name, constraint in (constraints or {}).items():
            if name not in params:
                raise ValueError(f"{self.label}: constraint for {name!r}, which is not among the parameters")
            constraint.apply(params[name])
        self.iterations += 1

    def _update(self, p, g, slots, cast):
        raise NotImplementedError

    def get_state(self):
        """Flat ``{key: array}``: ``iterations`` and one entry per slot, ``slot:param``."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, slots in self.slots.items():
            for s, arr in slots.items():
                state[f"{s}:{name}"] = arr.copy()
        return state

    def set_state(self, state):
        """Restore what ``get_state()`` returned (shapes are checked at the next step)."""
        if "iterations" not in state:
            raise ValueError(f"{self.label}: optimizer state has no 'iterations' entry")
        self.iterations = int(state["iterations"])
        self.slots = {}
        for key, arr in state.items():
            if key == "iterations":
                continue
            s, _, name = key.partition(":")
            if s not in self.slot_names:
                raise ValueError(f"{self.label}: unknown optimizer slot {s!r} in saved state")
            self.slots.setdefault(name, {})[s] = np.array(arr)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Keras 3 (``keras/src/optimizers/sgd.py``)::

        momentum == 0:  w = w - lr * g
        momentum > 0:   m = momentum * m - lr * g
                        nesterov: w = w + (momentum * m - lr * g)
                        else:     w = w + m
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **options):
        super().__init__(learning_rate, **options)
        if not self._is_number(momentum) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a number in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, p, g, slots, cast, g2=None):
        # the formulas above, in place, operation for operation (scratch.kernels.sgd_update); linear in g,
        # so a sparse gradient's slices need nothing of their own (g2 unused)
        kernels.sgd_update(p, g, slots["momentum"] if self.momentum else None, cast(self.learning_rate),
                           cast(self.momentum), self.nesterov)


class Adam(Optimizer):
    """Adam, as Keras 3 writes it (``keras/src/optimizers/adam.py``)::

        t     = iterations + 1
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m     = m + (g - m) * (1 - beta_1)
        v     = v + (g**2 - v) * (1 - beta_2)
        w     = w - (m * alpha) / (sqrt(v) + epsilon)

    Note ``epsilon`` (default 1e-7) is added to ``sqrt(v)`` after the bias correction has
    been folded into ``alpha``: the "epsilon hat" form of the Adam paper.
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **options):
        super().__init__(learning_rate, **options)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not self._is_number(b) or not 0 <= b < 1:
                raise ValueError(f"{self.label}: {n} must be a number in [0, 1), received {b!r}")
        self._positive("epsilon", epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def _constants(self, cast):
        """``alpha`` and the cast constants of this step (computed once per step and dtype, not per array)."""
        key = (self.iterations, cast, self.learning_rate, self.beta_1, self.beta_2, self.epsilon)
        if getattr(self, "_step_constants", (None,))[0] != key:
            lr, t = cast(self.learning_rate), cast(self.iterations + 1)
            beta_1_power = cast(self.beta_1) ** t
            beta_2_power = cast(self.beta_2) ** t
            alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            self._step_constants = (key, (alpha, cast(1 - self.beta_1), cast(1 - self.beta_2), cast(self.epsilon)))
        return self._step_constants[1]

    def _update(self, p, g, slots, cast, g2=None):
        # m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2);  p -= (m * alpha) / (sqrt(v) + epsilon)
        # in place, operation for operation, over cache-sized chunks (scratch.kernels.adam_update); g2 for g**2
        # of a sparse gradient
        kernels.adam_update(p, g, slots["m"], slots["v"], *self._constants(cast), g2=g2)


class RMSprop(Optimizer):
    """RMSprop without momentum or centring, as Keras 3 (``keras/src/optimizers/rmsprop.py``)::

        v = rho * v + (1 - rho) * g**2
        w = w - lr * g / sqrt(v + epsilon)

    (Keras adds ``epsilon`` inside the square root.)
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **options):
        super().__init__(learning_rate, **options)
        if not self._is_number(rho) or not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be a number in [0, 1), received {rho!r}")
        self._positive("epsilon", epsilon)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

    def _update(self, p, g, slots, cast, g2=None):
        # v = rho * v + (1 - rho) * g**2;  p -= (lr * g) / sqrt(v + epsilon), in place (scratch.kernels.rmsprop_update)
        kernels.rmsprop_update(p, g, slots["velocity"], cast(self.learning_rate), cast(self.rho), cast(1 - self.rho),
                               cast(self.epsilon), g2=g2)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as Keras 3's ``AdamW``:
    exactly ``Adam`` with ``weight_decay`` on by default (0.004) and required (None is refused,
    as Keras refuses it). One step, in Keras's order::

        g = clip(g)                                  (if a clip option is set)
        w = w - w * weight_decay * lr                (every trained weight, biases included)
        w = Adam's update of w with g                (see ``Adam``)
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **options):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a non-negative number, received None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay,
                         **options)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adamw": AdamW}


def get(name, **kwargs):
    """An optimizer from its Keras name (``"sgd"``, ``"adam"``, ``"rmsprop"``, ``"adamw"``)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; supported: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[key](**kwargs)


def from_config(name, config):
    return get(name, **config)
