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

``causal`` (Conv1D only): ``d*(k-1)`` zeros before the sequence, none after, then 'valid', so
output ``t`` sees inputs ``<= t`` only: ``out = ceil(n / s)``.

Transposed convolutions (``transpose_output_length``, Keras's
``backend/common/backend_utils.py::_get_output_shape_given_tf_padding``), with ``k`` the
effective size and ``p`` the ``output_padding`` (``None``: not given)::

    valid: out = (n - 1) * s + k + p                  (p None: max(k, s) - k)
    same:  out = n * s                                (p None)
           out = (n - 1) * s + k % 2 + p              (p given)

A transposed convolution is the adjoint (the input gradient) of the convolution of an input of
length ``out`` with the same ``k``, ``s`` and padding: its 'same' pads are that convolution's
(``pads(out, ...)``), and that convolution must give back ``n`` (TensorFlow refuses the few
``output_padding`` cases where it does not, e.g. 'same', stride 1, an even ``k``, ``p = 0``).
"""

PADDINGS = ("valid", "same")


def normalize_tuple(value, name, layer, rank=2):
    """``3`` -> ``(3, 3)`` (``rank`` values); ``(3, 2)`` stays. Positive ints only, else ``ValueError``."""
    many = "pair of" if rank == 2 else f"tuple of {rank}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * rank
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"{layer}: {name} must be an int or a {many} ints, received {value!r}") from None
    if len(value) != rank or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{layer}: {name} must be a positive int or a {many} positive ints, received {value!r}")
    return value


def normalize_padding(padding, layer, allowed=PADDINGS):
    """Lower-case ``'valid'`` or ``'same'`` (or another of ``allowed``), else ``ValueError`` quoting the value."""
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ValueError(f"{layer}: padding must be one of {allowed}, received {padding!r}")
    return p


def effective_size(k, d=1):
    """Cells spanned by a window of ``k`` taps ``d`` apart: ``d*(k-1)+1``."""
    return d * (k - 1) + 1


def output_length(n, k, s, padding, d=1):
    """Length of one spatial output axis (``None`` stays ``None``); ``d`` the dilation."""
    k = effective_size(k, d)
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // s)
    return (n - k) // s + 1 if n >= k else 0


def same_pads(n, k, s, d=1):
    """``(before, after)`` zero/-inf padding of one axis for Keras 'same'; ``d`` the dilation."""
    k = effective_size(k, d)
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pads(n, k, s, padding, d=1):
    """``(before, after)`` for one axis; ``(0, 0)`` for 'valid', ``(d*(k-1), 0)`` for 'causal'."""
    if padding == "causal":
        return effective_size(k, d) - 1, 0
    return same_pads(n, k, s, d) if padding == "same" else (0, 0)


def transpose_output_length(n, k, s, padding, output_padding=None, d=1):
    """Length of one spatial output axis of a transposed convolution (``None`` stays ``None``)."""
    if n is None:
        return None
    k = effective_size(k, d)
    if padding == "valid":
        return (n - 1) * s + k + (max(k, s) - k if output_padding is None else output_padding)
    if output_padding is None:
        return n * s
    return (n - 1) * s + k % 2 + output_padding


def live_taps(n, k, s, pad, d=1):
    """``(first, stop)``: the taps of one axis that read an input cell for at least one output, and the
    padding ``(before, after)`` of the window cropped to them; ``None`` when every tap is live.

    Output ``p`` reads cell ``p*s + i*d - before`` through tap ``i``. On a map smaller than the window's
    reach (a 'same' 3x3 on a 1x1 map: only the centre), the other taps meet padding zeros for every
    output: their products are exact zeros, so the convolution is the same sum over the live taps, with
    the padding cropped by what the dead ones spanned. ``None`` too when the cropped window would need
    negative padding (the hull of the live taps skipping the input's last cells, with strides)."""
    before, after = pad
    out = (n + before + after - effective_size(k, d)) // s + 1
    live = []
    for i in range(k):
        p0 = max(0, -(-(before - i * d) // s))  # the first output whose tap i is not before the input
        if p0 < out and p0 * s + i * d - before <= n - 1:
            live.append(i)
    if not live or (live[0], live[-1] + 1) == (0, k):
        return None
    first, stop = live[0], live[-1] + 1
    new_before = before - first * d
    new_after = (out - 1) * s + (stop - first - 1) * d - new_before - (n - 1)
    if new_before < 0 or new_after < 0:
        return None
    return (first, stop), (new_before, new_after)


def window(spatial, kernel_size, strides, padding, dilation):
    """``(pads, taps, live_pads)`` of a convolution's window over a map of ``spatial`` sizes (one entry per
    axis): the padding ``(before, after)``, the slice of live taps (``live_taps``; all of them unless the map
    is smaller than the window's reach) and the padding cropped to them."""
    all_pads, taps, live_pads = [], [], []
    for n, k, s, d in zip(spatial, kernel_size, strides, dilation):
        pad = pads(n, k, s, padding, d)
        live = live_taps(n, k, s, pad, d)
        all_pads.append(pad)
        taps.append(slice(0, k) if live is None else slice(*live[0]))
        live_pads.append(pad if live is None else live[1])
    return tuple(all_pads), tuple(taps), tuple(live_pads)
