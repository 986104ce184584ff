"""Output sizes and padding, computed in one place.

Conv2D, the pooling layers, the Keras twin and the tests all use these helpers, so the
padding arithmetic exists exactly once.

Keras (``keras/src/ops/operation_utils.py``) computes, per spatial axis of length ``n``,
window ``k`` and stride ``s``::

    valid: out = floor((n - k) / s) + 1          (needs n >= k)
    same:  out = ceil(n / s)
           pad_total = max((out - 1) * s + k - n, 0)
           pad_before = pad_total // 2, pad_after = pad_total - pad_before

so when the total is odd the extra row/column goes at the bottom/right.

A dilated window (dilation ``d``: taps ``d`` apart) spans ``d*(k-1)+1`` cells; every formula
above uses that effective size in place of ``k`` (``effective_size``), as Keras does.
"""

PADDINGS = ("valid", "same")


def normalize_tuple(value, name, layer, n=2):
    """``3`` -> ``(3, 3)``; ``(3, 2)`` stays (``n`` entries: ``n=3`` for the 3-D layers, ``n=1`` for
    the 1-D ones, where ``(3,)`` and ``3`` are the same). Positive ints only, else ``ValueError``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    what = "a pair of ints" if n == 2 else f"a tuple of {n} ints"
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"{layer}: {name} must be an int or {what}, received {value!r}") from None
    if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        what = "a pair of positive ints" if n == 2 else f"a tuple of {n} positive ints"
        raise ValueError(f"{layer}: {name} must be a positive int or {what}, received {value!r}")
    return value


def normalize_padding(padding, layer):
    """Lower-case ``'valid'`` or ``'same'``, else ``ValueError`` quoting the value."""
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in PADDINGS:
        raise ValueError(f"{layer}: padding must be one of {PADDINGS}, received {padding!r}")
    return p


def effective_size(k, d=1):
    """Cells spanned by a window of ``k`` taps ``d`` apart: ``d*(k-1)+1``."""
    return d * (k - 1) + 1


def output_length(n, k, s, padding, d=1):
    """Length of one spatial output axis (``None`` stays ``None``); ``d`` the dilation."""
    k = effective_size(k, d)
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1 if n >= k else 0


def same_pads(n, k, s, d=1):
    """``(before, after)`` zero/-inf padding of one axis for Keras 'same'; ``d`` the dilation."""
    k = effective_size(k, d)
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pads(n, k, s, padding, d=1):
    """``(before, after)`` for one axis; ``(0, 0)`` for 'valid'."""
    return same_pads(n, k, s, d) if padding == "same" else (0, 0)
