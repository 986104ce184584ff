"""Weight initializers, as Keras defaults them: Glorot-uniform kernels, zero biases, ones for
normalization scales and moving variances, uniform on [-0.05, 0.05] for embeddings.

Keras draws from its own random generator, so the same seed does not give Keras's numbers;
it gives the same distribution, and the same numbers on every run of this engine. Weights
move between the engines with ``get_weights`` / ``set_weights``, not through seeds.
"""

import numpy as np


def compute_fans(shape):
    """``(fan_in, fan_out)`` as Keras computes them.

    Dense kernel ``(in, out)``: ``(in, out)``.
    Conv kernel ``(kh, kw, in, out)``: ``(kh*kw*in, kh*kw*out)`` (the receptive field
    multiplies both fans).
    """
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return receptive * shape[-2], receptive * shape[-1]


def glorot_uniform(shape, rng, dtype="float32"):
    """Uniform on ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, rng=None, dtype="float32"):
    """All zeros (the Keras default for biases)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng=None, dtype="float32"):
    """All ones (the Keras default for normalization scales ``gamma`` and moving variances)."""
    return np.ones(shape, dtype=dtype)


def uniform(shape, rng, dtype="float32"):
    """Uniform on ``[-0.05, 0.05]`` (Keras's ``"uniform"``, ``RandomUniform()``: Embedding's default)."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "zeros": zeros, "ones": ones, "uniform": uniform}


def get(name, layer):
    """The initializer function called ``name``; ``ValueError`` naming the layer otherwise."""
    if name not in INITIALIZERS:
        raise ValueError(f"{layer}: unknown initializer {name!r}; supported: {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
