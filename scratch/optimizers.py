"""Optimizers with Keras 3's update equations, operation for operation.

``step(params, grads)`` takes two dicts with the same keys (``"conv2d/kernel"``, ...) and
updates the parameter arrays in place. State (momentum, moments) is created lazily per
parameter, in the parameter's dtype; ``iterations`` counts steps as Keras's
``optimizer.iterations`` does. ``get_state()`` / ``set_state()`` save and restore it as a flat
dict of arrays (what a checkpoint stores).

Scalars (learning rate, betas, ...) are cast to the parameter's dtype before use, as Keras
does with ``ops.cast(..., variable.dtype)``, so float32 stays float32 throughout.
"""

import numpy as np


class Optimizer:
    slot_names = ()

    def __init__(self, learning_rate):
        if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a positive number, received {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.slots = {}  # param name -> {slot name: array}

    def get_config(self):
        return {"learning_rate": self.learning_rate}

    def _slots_for(self, name, p):
        if name not in self.slots:
            self.slots[name] = {s: np.zeros_like(p) for s in self.slot_names}
        return self.slots[name]

    def step(self, params, grads):
        """Update every ``params[k]`` in place from ``grads[k]``; then ``iterations += 1``."""
        if params.keys() != grads.keys():
            raise ValueError(f"{type(self).__name__}: params and grads have different keys: "
                             f"{sorted(params)} vs {sorted(grads)}")
        for name, p in params.items():
            g = grads[name]
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"{type(self).__name__}: gradient of {name!r} is {g.dtype}{g.shape}, "
                                 f"parameter is {p.dtype}{p.shape}")
            self._update(p, g, self._slots_for(name, p), p.dtype.type)
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
            raise ValueError(f"{type(self).__name__}: optimizer state has no 'iterations' entry")
        self.iterations = int(state["iterations"])
        self.slots = {}
        for key, arr in state.items():
            if key == "iterations":
                continue
            s, _, name = key.partition(":")
            if s not in self.slot_names:
                raise ValueError(f"{type(self).__name__}: unknown optimizer slot {s!r} in saved state")
            self.slots.setdefault(name, {})[s] = np.array(arr)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Keras 3 (``keras/src/optimizers/sgd.py``)::

        momentum == 0:  w = w - lr * g
        momentum > 0:   m = momentum * m - lr * g
                        nesterov: w = w + (momentum * m - lr * g)
                        else:     w = w + m
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"SGD: momentum must be a number in [0, 1], received {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, p, g, slots, cast):
        lr = cast(self.learning_rate)
        if not self.momentum:
            p -= g * lr
            return
        mu, m = cast(self.momentum), slots["momentum"]
        m[...] = m * mu - g * lr
        if self.nesterov:
            p += m * mu - g * lr
        else:
            p += m


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

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not isinstance(b, (int, float)) or not 0 <= b < 1:
                raise ValueError(f"Adam: {n} must be a number in [0, 1), received {b!r}")
        if not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"Adam: epsilon must be a positive number, received {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def _update(self, p, g, slots, cast):
        lr, t = cast(self.learning_rate), cast(self.iterations + 1)
        beta_1_power = cast(self.beta_1) ** t
        beta_2_power = cast(self.beta_2) ** t
        alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = slots["m"], slots["v"]
        m += (g - m) * cast(1 - self.beta_1)
        v += (np.square(g) - v) * cast(1 - self.beta_2)
        p -= (m * alpha) / (np.sqrt(v) + cast(self.epsilon))


class RMSprop(Optimizer):
    """RMSprop without momentum or centring, as Keras 3 (``keras/src/optimizers/rmsprop.py``)::

        v = rho * v + (1 - rho) * g**2
        w = w - lr * g / sqrt(v + epsilon)

    (Keras adds ``epsilon`` inside the square root.)
    """

    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        if not isinstance(rho, (int, float)) or not 0 <= rho < 1:
            raise ValueError(f"RMSprop: rho must be a number in [0, 1), received {rho!r}")
        self.rho, self.epsilon = float(rho), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

    def _update(self, p, g, slots, cast):
        v = slots["velocity"]
        v[...] = cast(self.rho) * v + cast(1 - self.rho) * np.square(g)
        p -= (cast(self.learning_rate) * g) / np.sqrt(v + cast(self.epsilon))


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(name, **kwargs):
    """An optimizer from its Keras name (``"sgd"``, ``"adam"``, ``"rmsprop"``)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; supported: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[key](**kwargs)


def from_config(name, config):
    return get(name, **config)
