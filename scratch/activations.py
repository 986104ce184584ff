"""Activation functions, forward and backward, by their ``keras.activations`` names.

Each activation is a pair of functions on NumPy arrays of any shape::

    forward(x)           -> y
    backward(x, y, dy)   -> dx = dy * f'(x)       (or the Jacobian product over an axis)

``backward`` gets both the input ``x`` and the output ``y`` so each rule can use whichever
is cheaper or the one TensorFlow uses (ReLU masks with ``y > 0``, sigmoid uses
``y * (1 - y)``); it never modifies ``dy``, ``x`` or ``y``.

Every backward function here has that signature: ``_name_backward(x, y, dy)`` for the
activations without options (reached through ``REGISTRY``), and a public
``name_backward(x, y, dy, **options)`` with the forward's options for the five that have some
(``relu``, ``leaky_relu``, ``elu``, ``softmax``, ``log_softmax``; the layers call them, and
``leaky_relu_fn(negative_slope)`` and the other ``*_fn`` factories bind the options into an
``ActivationFn``).

The layers use them through ``get(name, layer)``: ``Conv2D(..., activation="relu")``,
``Dense``, ``Activation("gelu")``. ``None`` and ``"linear"`` are the identity.

Keras (TensorFlow backend) is the specification, formula by formula:

- the forward computes the same expression TensorFlow does (e.g. ``softplus`` switches to
  ``x`` and ``exp(x)`` at TensorFlow's thresholds ``±(log(eps) + 2)``; ``hard_sigmoid`` is
  ``relu6(x + 3) / 6``), in the input's dtype;
- the backward is the gradient TensorFlow's autodiff gives, kinks included: ``relu`` 0 at 0,
  ``relu6`` 0 at 0 and 6, ``leaky_relu`` the slope at 0, ``hard_sigmoid`` 0 at -3 and 3,
  ``hard_tanh`` 1 at ±1, ``celu`` 2 at 0 (both ``max`` and ``min`` pass the gradient at a tie).

Names: every elementwise function of ``keras.activations`` plus ``softmax`` and
``log_softmax`` (over the last axis by name; any axis through ``softmax_fn(axis)`` /
``log_softmax_fn(axis)``), and the aliases ``swish`` (= ``silu``) and ``hard_swish``
(= ``hard_silu``). ``"gelu"`` is Keras's ``activations.gelu``, whose default is the exact erf
form (``approximate=False``); the tanh approximation ``gelu(x, approximate=True)`` has no
Keras name, so it is ``"gelu_approximate"`` here (``keras_ref`` maps it to a registered
Keras function that calls ``gelu(x, approximate=True)``). Not here: ``glu`` (halves an axis,
so it is not shape-preserving), ``threshold`` (no defaults for its arguments, so not usable by
name) and ``sparsemax`` (Keras 3's TensorFlow version computes its threshold from the sum of
the cumulative sums over the support, so its outputs do not sum to 1: [1, 0.5, -1] gives
[0.25, 0, 0], not sparsemax's [0.75, 0.25, 0]; nothing sound to match).
"""

from dataclasses import dataclass
from functools import partial

import numpy as np

from .kernels import channelwise, select  # a broadcast ufunc and np.where, bit for bit, faster
from .special import erfc


@dataclass(frozen=True)
class ActivationFn:
    """One activation: ``name`` (Keras's), ``forward(x)`` and ``backward(x, y, dy)``."""

    name: str
    forward: object
    backward: object

    def __call__(self, x):
        return self.forward(x)


def _c(x, value):
    """A constant in ``x``'s dtype (TensorFlow casts Python constants to the tensor's dtype)."""
    return x.dtype.type(value)


# -- the functions, forward next to backward -----------------------------------------------
def linear(x):
    """``x``."""
    return x


def _linear_backward(x, y, dy):
    return dy


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ``relu`` with its options (the ``ReLU`` layer), computed as Keras's TensorFlow
    backend does::

        slope > 0, no max, threshold 0:  leaky_relu(x, slope)
        else:  p = where(x > t, x, 0) if t != 0 else relu6(x) if max == 6 else max(x, 0)
               p = clip(p, 0, max)                    (when max is set and not the relu6 case)
               y = p - slope * max(t - x, 0)          (when slope > 0)

    With the defaults: ``max(x, 0)``.
    """
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return leaky_relu(x, negative_slope)
        negative_part = np.maximum(_c(x, threshold) - x, 0)
    clip_max = max_value is not None
    if threshold != 0:
        p = select(x > _c(x, threshold), x, _c(x, 0))
    elif max_value == 6:
        p, clip_max = relu6(x), False
    else:
        p = channelwise(np.maximum, x, 0)
    if clip_max:
        p = np.minimum(p, _c(x, max_value))  # p >= 0 already
    if negative_slope != 0.0:
        p = p - _c(x, negative_slope) * negative_part
    return p


def relu_backward(x, y, dy, negative_slope=0.0, max_value=None, threshold=0.0):
    """TensorFlow's gradient of ``relu`` above: ``dy`` where the positive part passes it
    (``x > t``, or ``0 < x < 6`` for relu6, and ``p <= max`` when clipped: ``clip`` passes the
    gradient at its bounds), ``slope * dy`` where ``x < t`` (the negative part), 0 elsewhere
    (so 0 at ``x = t`` unless the leaky case, which gives ``slope`` there). With the defaults,
    ``dy * (y > 0)`` from the output (gradient 0 at exactly 0, as Keras); the other cases read
    only ``x`` (``y`` may be None)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return dy * (y > 0)
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return leaky_relu_backward(x, y, dy, negative_slope)
    dx = select(relu_gate(x, max_value, threshold), dy, _c(x, 0))
    if negative_slope != 0.0:
        dx = select(x < _c(x, threshold), dy * _c(x, negative_slope), dx)
    return dx


def relu_gate(x, max_value=None, threshold=0.0):
    """Where ``relu``'s positive part passes the gradient (a boolean array of ``x``'s shape): ``x > t``,
    or ``0 < x < 6`` for relu6 (``t = 0, max = 6``: 0 at both kinks), and ``x <= max`` when clipped
    (``clip`` passes the gradient at its bounds)."""
    if threshold != 0:
        passes = x > _c(x, threshold)
    elif max_value == 6:
        passes = np.greater(x, 0)
        passes &= x < 6
    else:
        passes = x > 0
    if max_value is not None and not (threshold == 0 and max_value == 6):
        passes &= x <= _c(x, max_value)
    return passes


def relu6(x):
    """``min(max(x, 0), 6)``."""
    y = channelwise(np.maximum, x, 0)
    return channelwise(np.minimum, y, _c(x, 6), out=y)


def _relu6_backward(x, y, dy):
    return select((x > 0) & (x < 6), dy, _c(x, 0))  # 0 at both kinks (TensorFlow's Relu6Grad)


def _slope32(x, negative_slope):
    """TensorFlow's LeakyRelu op keeps its slope in a float32 attribute, also for float64 input."""
    return _c(x, np.float32(negative_slope))


def leaky_relu(x, negative_slope=0.2):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (Keras's function default 0.2; the slope
    rounded to float32, as TensorFlow's op holds it)."""
    return select(x > 0, x, x * _slope32(x, negative_slope))


def leaky_relu_backward(x, y, dy, negative_slope=0.2):
    """``dy`` if ``x > 0`` else ``negative_slope * dy`` (the slope at exactly 0, as TensorFlow's LeakyReluGrad)."""
    return select(x > 0, dy, dy * _slope32(x, negative_slope))  # the slope at exactly 0 (LeakyReluGrad)


def _exp_minus_1(x):
    """``exp(x) - 1`` for ``x <= 0`` as TensorFlow's Elu/Selu kernels compute it (not ``expm1``:
    near 0 it keeps exp's rounding, e.g. -1.19e-7 for x = -1e-7 in float32)."""
    return np.exp(np.minimum(x, 0)) - 1


def elu(x, alpha=1.0):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    r = select(x < 0, _exp_minus_1(x), x)
    return r if alpha == 1 else select(x > 0, r, _c(x, alpha) * r)


def elu_backward(x, y, dy, alpha=1.0):
    """TensorFlow's: ``r = elu_1(x)``, ``g = dy`` (``x > 0``) or ``alpha * dy``;
    ``dx = g * (r + 1)`` where ``r < 0`` else ``g`` (so 1 at 0 for alpha 1, ``alpha`` else)."""
    r = select(x < 0, _exp_minus_1(x), x)
    g = dy if alpha == 1 else select(x > 0, dy, dy * _c(x, alpha))
    return select(r < 0, g * (r + 1), g)


SELU_SCALE = 1.0507009873554804934193349852946
SELU_SCALE_ALPHA = 1.7580993408473768599402175208123  # scale * alpha, alpha = 1.6732632423543772848170429916717


def selu(x):
    """``scale * x`` if ``x >= 0`` else ``scale * alpha * (exp(x) - 1)``, TensorFlow's constants."""
    return select(x < 0, _c(x, SELU_SCALE_ALPHA) * _exp_minus_1(x), _c(x, SELU_SCALE) * x)


def _selu_backward(x, y, dy):
    return select(y < 0, dy * (y + _c(x, SELU_SCALE_ALPHA)), dy * _c(x, SELU_SCALE))  # SeluGrad


# TensorFlow's tf.nn.gelu casts two of its constants with ``math_ops.cast(0.7071067811865476, dtype)``,
# which goes through a float32 tensor: in float64 they are the float32-rounded values. Keras's
# float64 gelu is therefore 0.5 x erfc(-x * float32(1/sqrt 2)) (2.5e-9 away from the true GELU).
INV_SQRT_2_F32 = float(np.float32(0.7071067811865476))
SQRT_2_OVER_PI = 0.7978845608028654  # multiplied in directly: exact in float64
GELU_COEFF_F32 = float(np.float32(0.044715))
TWO_OVER_SQRT_PI = 1.1283791670955126


def gelu(x):
    """Exact GELU ``0.5 * x * (1 + erf(x / sqrt(2)))``, as TensorFlow: ``0.5 * x * erfc(-x c)``,
    ``c = 1/sqrt(2)`` rounded to float32 (Keras's ``"gelu"``)."""
    return _c(x, 0.5) * x * erfc(-x * _c(x, INV_SQRT_2_F32))


def _gelu_backward(x, y, dy):
    # d/dx [0.5 x erfc(-c x)] = 0.5 erfc(-c x) + 0.5 x c (2/sqrt(pi)) exp(-c^2 x^2)
    c = _c(x, INV_SQRT_2_F32)
    u = x * c
    return dy * (_c(x, 0.5) * erfc(-u) + _c(x, 0.5) * x * c * _c(x, TWO_OVER_SQRT_PI) * np.exp(-u * u))


def gelu_approximate(x):
    """Keras's ``gelu(x, approximate=True)``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``
    (0.044715 rounded to float32, as TensorFlow casts it)."""
    return _c(x, 0.5) * x * (1 + np.tanh(_c(x, SQRT_2_OVER_PI) * (x + _c(x, GELU_COEFF_F32) * x ** 3)))


def _gelu_approximate_backward(x, y, dy):
    # t = tanh(u), u = sqrt(2/pi) (x + c x^3):  d/dx = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 c x^2)
    t = np.tanh(_c(x, SQRT_2_OVER_PI) * (x + _c(x, GELU_COEFF_F32) * x ** 3))
    du = _c(x, SQRT_2_OVER_PI) * (1 + _c(x, 3 * GELU_COEFF_F32) * x * x)
    return dy * (_c(x, 0.5) * (1 + t) + _c(x, 0.5) * x * (1 - t * t) * du)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, four passes over one buffer. Where ``exp(-x)`` overflows (``x < -88`` in
    float32, ``-709`` in float64) that is ``1 / inf = 0``, the limit: the true value is below the
    dtype's smallest normal number there."""
    s = np.empty_like(x)
    np.negative(x, out=s)
    with np.errstate(over="ignore"):
        np.exp(s, out=s)
    s += _c(x, 1)
    return np.divide(_c(x, 1), s, out=s)


def _sigmoid_backward(x, y, dy):
    return dy * (y * (1 - y))  # SigmoidGrad


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``: 0 for ``x <= -3``, 1 for ``x >= 3``, ``x/6 + 1/2`` between."""
    return relu6(x + _c(x, 3)) / _c(x, 6)


def _hard_sigmoid_backward(x, y, dy):
    x3 = x + _c(x, 3)
    return select((x3 > 0) & (x3 < 6), dy / _c(x, 6), _c(x, 0))  # 0 at -3 and 3 (relu6's kinks)


def tanh(x):
    """``tanh(x)``."""
    return np.tanh(x)


def _tanh_backward(x, y, dy):
    return dy * (1 - y * y)  # TanhGrad


def _softplus_threshold(x):
    return np.log(np.finfo(x.dtype).eps).astype(x.dtype) + _c(x, 2)


def softplus(x):
    """``log(1 + exp(x))``, as TensorFlow computes it: ``x`` above ``-(log(eps) + 2)``
    (~13.9 in float32, ~34 in float64), ``exp(x)`` below ``log(eps) + 2``, ``log1p(exp(x))``
    between; never overflows."""
    th = _softplus_threshold(x)
    e = np.exp(np.minimum(x, -th))
    return select(x > -th, x, select(x < th, e, np.log1p(e)))


def _sigmoid_of(x):
    """``1 / (exp(-x) + 1)`` (SoftplusGrad's form; 0 where ``exp(-x)`` overflows)."""
    with np.errstate(over="ignore"):
        return 1 / (np.exp(-x) + 1)


def _softplus_backward(x, y, dy):
    with np.errstate(over="ignore"):
        return dy / (np.exp(-x) + 1)  # SoftplusGrad: dy * sigmoid(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return x / (1 + np.abs(x))


def _softsign_backward(x, y, dy):
    return dy / (1 + np.abs(x)) ** 2  # SoftsignGrad


def silu(x):
    """``x * sigmoid(x)`` (alias ``swish``)."""
    s = sigmoid(x)
    return np.multiply(x, s, out=s)


def _silu_backward(x, y, dy):
    # tf.nn.silu's custom gradient dy * (s * (1 + x * (1 - s))), in that order, on one buffer
    s = sigmoid(x)
    g = np.subtract(_c(x, 1), s)
    g *= x
    g += _c(x, 1)
    g *= s
    return np.multiply(dy, g, out=g) if dy.dtype == g.dtype else dy * g


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (alias ``hard_swish``)."""
    return x * hard_sigmoid(x)


def _hard_silu_backward(x, y, dy):
    # product rule through hard_sigmoid: dy * hs(x) + (dy * x) * hs'(x); 0 at -3, 1 at 3
    return dy * hard_sigmoid(x) + _hard_sigmoid_backward(x, None, dy * x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return x * np.tanh(softplus(x))


def _mish_backward(x, y, dy):
    t = np.tanh(softplus(x))
    return dy * t + (dy * x) * (1 - t * t) * _sigmoid_of(x)


def exponential(x):
    """``exp(x)``."""
    return np.exp(x)


def _exponential_backward(x, y, dy):
    return dy * y


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    a = _c(x, alpha)
    return np.maximum(x, 0) + a * np.expm1(np.minimum(x, 0) / a)


def _celu_backward(x, y, dy):
    # alpha = 1 (the name's default). TensorFlow's max/min pass the gradient to x at a tie, so
    # both terms count at 0: gradient 2 there
    return select(x >= 0, dy, _c(x, 0)) + select(x <= 0, dy * np.exp(np.minimum(x, 0)), _c(x, 0))


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return np.clip(x, _c(x, -1), _c(x, 1))


def _hard_tanh_backward(x, y, dy):
    return select((x >= -1) & (x <= 1), dy, _c(x, 0))  # clip passes the gradient at its bounds


def hard_shrink(x, threshold=0.5):
    """``x`` if ``|x| > 0.5`` else 0."""
    return select(np.abs(x) > _c(x, threshold), x, _c(x, 0))


def _hard_shrink_backward(x, y, dy):
    return select(np.abs(x) > _c(x, 0.5), dy, _c(x, 0))


def soft_shrink(x, threshold=0.5):
    """``x - 0.5`` if ``x > 0.5``, ``x + 0.5`` if ``x < -0.5``, else 0."""
    t = _c(x, threshold)
    return select(x > t, x - t, select(x < -t, x + t, _c(x, 0)))


def _soft_shrink_backward(x, y, dy):
    return select((x > _c(x, 0.5)) | (x < _c(x, -0.5)), dy, _c(x, 0))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-x)


def _log_sigmoid_backward(x, y, dy):
    with np.errstate(over="ignore"):
        return dy / (np.exp(x) + 1)  # dy * sigmoid(-x), through softplus's gradient


def sparse_plus(x):
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` for ``-1 < x < 1``, ``x`` for ``x >= 1``."""
    return select(x <= -1, _c(x, 0), select(x < 1, _c(x, 0.25) * (x + 1) ** 2, x))


def _sparse_plus_backward(x, y, dy):
    return select(x <= -1, _c(x, 0), select(x < 1, dy * _c(x, 0.25) * 2 * (x + 1), dy))


def sparse_sigmoid(x):
    """0 for ``x <= -1``, 1 for ``x >= 1``, ``(x + 1) / 2`` between."""
    return select(x <= -1, _c(x, 0), select(x >= 1, _c(x, 1), _c(x, 0.5) * (x + 1)))


def _sparse_sigmoid_backward(x, y, dy):
    return select((x > -1) & (x < 1), dy * _c(x, 0.5), _c(x, 0))  # 0 at both kinks


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2`` with ``b = 4``."""
    return (x + np.sqrt(x * x + _c(x, b))) / 2


def _squareplus_backward(x, y, dy):
    h = dy / 2
    return h + h * _c(x, 0.5) / np.sqrt(x * x + _c(x, 4)) * (2 * x)


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return x - np.tanh(x)


def _tanh_shrink_backward(x, y, dy):
    t = np.tanh(x)
    return dy - dy * (1 - t * t)


def softmax(x, axis=-1):
    """``exp(x - max) / sum(exp(x - max))`` over ``axis`` (an int or a tuple of ints), shifted
    so ``exp`` never overflows."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax_backward(x, y, dy, axis=-1):
    """``dx = y * (dy - sum(dy * y))`` over ``axis`` (the softmax Jacobian applied to ``dy``)."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """``(x - max) - log(sum(exp(x - max)))`` over ``axis``."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_backward(x, y, dy, axis=-1):
    """``dx = dy - exp(y) * sum(dy)`` over ``axis`` (TensorFlow's LogSoftmaxGrad)."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return dy - np.exp(y) * dy.sum(axis=axis, keepdims=True)


# -- parameterized versions (the activation layers) ------------------------------------------
def softmax_fn(axis=-1):
    return ActivationFn("softmax", partial(softmax, axis=axis), partial(softmax_backward, axis=axis))


def log_softmax_fn(axis=-1):
    return ActivationFn("log_softmax", partial(log_softmax, axis=axis), partial(log_softmax_backward, axis=axis))


def leaky_relu_fn(negative_slope=0.2):
    return ActivationFn("leaky_relu", partial(leaky_relu, negative_slope=negative_slope),
                        partial(leaky_relu_backward, negative_slope=negative_slope))


def elu_fn(alpha=1.0):
    return ActivationFn("elu", partial(elu, alpha=alpha), partial(elu_backward, alpha=alpha))


_SILU = ActivationFn("silu", silu, _silu_backward)
_HARD_SILU = ActivationFn("hard_silu", hard_silu, _hard_silu_backward)

REGISTRY = {
    "linear": ActivationFn("linear", linear, _linear_backward),
    "relu": ActivationFn("relu", relu, relu_backward),
    "relu6": ActivationFn("relu6", relu6, _relu6_backward),
    "leaky_relu": leaky_relu_fn(0.2),
    "elu": elu_fn(1.0),
    "selu": ActivationFn("selu", selu, _selu_backward),
    "celu": ActivationFn("celu", celu, _celu_backward),
    "gelu": ActivationFn("gelu", gelu, _gelu_backward),
    "gelu_approximate": ActivationFn("gelu_approximate", gelu_approximate, _gelu_approximate_backward),
    "sigmoid": ActivationFn("sigmoid", sigmoid, _sigmoid_backward),
    "hard_sigmoid": ActivationFn("hard_sigmoid", hard_sigmoid, _hard_sigmoid_backward),
    "sparse_sigmoid": ActivationFn("sparse_sigmoid", sparse_sigmoid, _sparse_sigmoid_backward),
    "log_sigmoid": ActivationFn("log_sigmoid", log_sigmoid, _log_sigmoid_backward),
    "tanh": ActivationFn("tanh", tanh, _tanh_backward),
    "hard_tanh": ActivationFn("hard_tanh", hard_tanh, _hard_tanh_backward),
    "tanh_shrink": ActivationFn("tanh_shrink", tanh_shrink, _tanh_shrink_backward),
    "hard_shrink": ActivationFn("hard_shrink", hard_shrink, _hard_shrink_backward),
    "soft_shrink": ActivationFn("soft_shrink", soft_shrink, _soft_shrink_backward),
    "softplus": ActivationFn("softplus", softplus, _softplus_backward),
    "sparse_plus": ActivationFn("sparse_plus", sparse_plus, _sparse_plus_backward),
    "squareplus": ActivationFn("squareplus", squareplus, _squareplus_backward),
    "softsign": ActivationFn("softsign", softsign, _softsign_backward),
    "silu": _SILU,
    "swish": _SILU,  # Keras's alias: serializes as "silu"
    "hard_silu": _HARD_SILU,
    "hard_swish": _HARD_SILU,  # Keras's alias: serializes as "hard_silu"
    "mish": ActivationFn("mish", mish, _mish_backward),
    "exponential": ActivationFn("exponential", exponential, _exponential_backward),
    "softmax": softmax_fn(-1),
    "log_softmax": log_softmax_fn(-1),
}


ELEMENTWISE = frozenset(REGISTRY) - {"softmax", "log_softmax"}  # each output value from its input value alone


def is_elementwise(fn):
    """Whether ``fn`` (an ``ActivationFn``) maps each value on its own, so any layout of the values gives the
    same results (``kernels.TiledMap``): the registry's names but ``softmax`` and ``log_softmax``."""
    return fn.name in ELEMENTWISE


def get(identifier, layer="activation"):
    """The ``ActivationFn`` named ``identifier`` (``None`` is ``linear``); ``ValueError`` naming ``layer`` else."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, ActivationFn):
        return identifier
    if not isinstance(identifier, str) or identifier not in REGISTRY:
        raise ValueError(f"{layer}: unknown activation {identifier!r}; supported: {sorted(REGISTRY)}")
    return REGISTRY[identifier]
