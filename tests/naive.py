"""Naive references: the obviously-correct versions of the layers' maths, as explicit loops over
images, output pixels, window cells and channels, with padding handled by index checks instead of
padded arrays (float64). Geometry (output size, 'same' pads) comes from ``scratch.geometry``, the
one place it is computed; ``test_traps.py`` checks those numbers by hand.

``tests/test_naive_reference.py`` checks the layers against them; other test modules use them as
their reference too (``tests/test_fusion.py``: ``naive_pool``).
"""

import itertools

import numpy as np

from scratch import geometry


def out_and_pads(n, k, s, padding):
    return geometry.output_length(n, k, s, padding), geometry.pads(n, k, s, padding)[0]


def naive_conv(x, kernel, bias, strides, padding):
    """y[b, i, j, f] = bias[f] + sum_{di, dj, c} x[b, i*sh + di - top, j*sw + dj - left, c] * kernel[di, dj, c, f]."""
    nb, h, w, c = x.shape
    kh, kw, _, nf = kernel.shape
    (sh, sw) = strides
    ho, top = out_and_pads(h, kh, sh, padding)
    wo, left = out_and_pads(w, kw, sw, padding)
    y = np.zeros((nb, ho, wo, nf))
    for b in range(nb):
        for i in range(ho):
            for j in range(wo):
                for f in range(nf):
                    acc = bias[f]
                    for di in range(kh):
                        for dj in range(kw):
                            r, q = i * sh + di - top, j * sw + dj - left
                            if 0 <= r < h and 0 <= q < w:
                                for ch in range(c):
                                    acc += x[b, r, q, ch] * kernel[di, dj, ch, f]
                    y[b, i, j, f] = acc
    return y


def naive_conv_backward(x, kernel, dy, strides, padding):
    """(dx, dkernel, dbias): every term of the forward sum sends dy back to its two factors."""
    nb, h, w, c = x.shape
    kh, kw, _, nf = kernel.shape
    (sh, sw) = strides
    _, top = out_and_pads(h, kh, sh, padding)
    _, left = out_and_pads(w, kw, sw, padding)
    dx, dk, db = np.zeros_like(x), np.zeros_like(kernel), np.zeros(nf)
    for b in range(nb):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                for f in range(nf):
                    g = dy[b, i, j, f]
                    db[f] += g
                    for di in range(kh):
                        for dj in range(kw):
                            r, q = i * sh + di - top, j * sw + dj - left
                            if 0 <= r < h and 0 <= q < w:
                                for ch in range(c):
                                    dx[b, r, q, ch] += g * kernel[di, dj, ch, f]
                                    dk[di, dj, ch, f] += g * x[b, r, q, ch]
    return dx, dk, db


def naive_window(x, b, i, j, ch, pool, strides, padding):
    """The real (non-padding) cells of one pooling window, in row-major order: [(r, q), ...]."""
    (kh, kw), (sh, sw) = pool, strides
    _, top = out_and_pads(x.shape[1], kh, sh, padding)
    _, left = out_and_pads(x.shape[2], kw, sw, padding)
    cells = []
    for di in range(kh):
        for dj in range(kw):
            r, q = i * sh + di - top, j * sw + dj - left
            if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]:
                cells.append((r, q))
    return cells


def naive_pool(x, dy, pool, strides, padding, kind):
    """Forward and backward of max/average pooling, one window at a time.

    Max: the first maximum in row-major order wins the whole dy. Average: the window's real
    cells share dy equally (the count excludes padding).
    """
    nb, h, w, c = x.shape
    ho, _ = out_and_pads(h, pool[0], strides[0], padding)
    wo, _ = out_and_pads(w, pool[1], strides[1], padding)
    y = np.zeros((nb, ho, wo, c))
    dx = np.zeros_like(x)
    for b, i, j, ch in itertools.product(range(nb), range(ho), range(wo), range(c)):
        cells = naive_window(x, b, i, j, ch, pool, strides, padding)
        if kind == "max":
            best = cells[0]
            for cell in cells[1:]:
                if x[b, cell[0], cell[1], ch] > x[b, best[0], best[1], ch]:  # strict: first max stays
                    best = cell
            y[b, i, j, ch] = x[b, best[0], best[1], ch]
            dx[b, best[0], best[1], ch] += dy[b, i, j, ch]
        else:
            y[b, i, j, ch] = sum(x[b, r, q, ch] for r, q in cells) / len(cells)
            for r, q in cells:
                dx[b, r, q, ch] += dy[b, i, j, ch] / len(cells)
    return y, dx


# -- any number of spatial axes: convolution and transposed convolution -------------------------

def _cells(shape):
    return itertools.product(*(range(n) for n in shape))


def naive_conv_nd(x, kernel, strides, padding, dilation, groups=1):
    """y[b, *o, f] = sum_{*a, c'} x[b, *(o*s + a*d - before), g*Cg + c'] * kernel[*a, c', f] for any number
    of spatial axes (``x`` ``(N, *S, C)``, ``kernel`` ``(*k, C/groups, F)``, ``g = f // (F/groups)``,
    ``Cg = C/groups``); cells outside the input ('same'/'causal' padding) are skipped. Returns ``(y, taps)``,
    ``taps`` the list of ``(b, o, a, src)`` products the sum ran over (``naive_conv_nd_backward`` reuses it)."""
    r = x.ndim - 2
    spatial, ks = x.shape[1:-1], kernel.shape[:r]
    cg, nf = kernel.shape[r:]
    out = [geometry.output_length(n, k, s, padding, d) for n, k, s, d in zip(spatial, ks, strides, dilation)]
    before = [geometry.pads(n, k, s, padding, d)[0] for n, k, s, d in zip(spatial, ks, strides, dilation)]
    y = np.zeros((x.shape[0], *out, nf))
    taps = []
    for b in range(x.shape[0]):
        for o in _cells(out):
            for a in _cells(ks):
                src = tuple(oi * s + ai * d - bf for oi, ai, s, d, bf in zip(o, a, strides, dilation, before))
                if all(0 <= p < n for p, n in zip(src, spatial)):
                    taps.append((b, o, a, src))
                    for f in range(nf):
                        g = f // (nf // groups)
                        for ch in range(cg):
                            y[(b, *o, f)] += x[(b, *src, g * cg + ch)] * kernel[(*a, ch, f)]
    return y, taps


def naive_conv_nd_backward(x, kernel, dz, strides, padding, dilation, groups=1):
    """``(dx, dkernel)`` of ``naive_conv_nd``: every product of the forward sum sends ``dz`` to its two factors."""
    r = x.ndim - 2
    cg, nf = kernel.shape[r:]
    _, taps = naive_conv_nd(x, kernel, strides, padding, dilation, groups)
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    for b, o, a, src in taps:
        for f in range(nf):
            g = f // (nf // groups)
            for ch in range(cg):
                dx[(b, *src, g * cg + ch)] += dz[(b, *o, f)] * kernel[(*a, ch, f)]
                dk[(*a, ch, f)] += dz[(b, *o, f)] * x[(b, *src, g * cg + ch)]
    return dx, dk


def naive_conv_transpose(x, kernel, strides, padding, output_padding, dilation):
    """Keras's transposed convolution: ``x`` ``(N, *S, C)``, ``kernel`` ``(*k, F, C)``; output sizes ``O`` from
    ``geometry.transpose_output_length``, and ``before`` the pad a ``padding`` convolution of an ``O``-sized input
    would put first. Every input cell ``p`` and kernel tap ``a`` adds ``x[b, *p, c] * kernel[*a, f, c]`` to output
    cell ``p*s + a*d - before`` when that cell is inside the output. Returns ``(y, taps)`` as ``naive_conv_nd``."""
    r = x.ndim - 2
    spatial, ks = x.shape[1:-1], kernel.shape[:r]
    nf, c = kernel.shape[r:]
    ops = output_padding or (None,) * r
    out = [geometry.transpose_output_length(n, k, s, padding, p, d)
           for n, k, s, p, d in zip(spatial, ks, strides, ops, dilation)]
    before = [geometry.pads(o, k, s, padding, d)[0] for o, k, s, d in zip(out, ks, strides, dilation)]
    y = np.zeros((x.shape[0], *out, nf))
    taps = []
    for b in range(x.shape[0]):
        for p in _cells(spatial):
            for a in _cells(ks):
                dst = tuple(pi * s + ai * d - bf for pi, ai, s, d, bf in zip(p, a, strides, dilation, before))
                if all(0 <= q < o for q, o in zip(dst, out)):
                    taps.append((b, p, a, dst))
                    for f in range(nf):
                        for ch in range(c):
                            y[(b, *dst, f)] += x[(b, *p, ch)] * kernel[(*a, f, ch)]
    return y, taps


def naive_conv_transpose_backward(x, kernel, dz, strides, padding, output_padding, dilation):
    """``(dx, dkernel)`` of ``naive_conv_transpose``, product by product."""
    r = x.ndim - 2
    nf, c = kernel.shape[r:]
    _, taps = naive_conv_transpose(x, kernel, strides, padding, output_padding, dilation)
    dx, dk = np.zeros_like(x), np.zeros_like(kernel)
    for b, p, a, dst in taps:
        for f in range(nf):
            for ch in range(c):
                dx[(b, *p, ch)] += dz[(b, *dst, f)] * kernel[(*a, f, ch)]
                dk[(*a, f, ch)] += dz[(b, *dst, f)] * x[(b, *p, ch)]
    return dx, dk


def naive_pool_nd(x, dy, pool, strides, padding, kind, ties="first"):
    """``naive_pool`` over any number of spatial axes: ``x`` ``(N, *spatial, C)``, one window at a time.

    Max: ``ties="first"``: the first maximum in row-major order over the window wins the whole dy;
    ``ties="all"``: every cell equal to the maximum receives the whole dy (TensorFlow's 3-D rule).
    Average: the window's real cells share dy equally (the count excludes padding).
    """
    nb, *spatial, c = x.shape
    geo = [out_and_pads(n, k, s, padding) for n, k, s in zip(spatial, pool, strides)]
    out = [o for o, _ in geo]
    y = np.zeros([nb] + out + [c])
    dx = np.zeros_like(x)
    for b, ch in itertools.product(range(nb), range(c)):
        for o in itertools.product(*(range(n) for n in out)):
            cells = []
            for off in itertools.product(*(range(k) for k in pool)):
                cell = tuple(oi * s + d - before for oi, s, d, (_, before) in zip(o, strides, off, geo))
                if all(0 <= r < n for r, n in zip(cell, spatial)):
                    cells.append(cell)
            values = [x[(b,) + cell + (ch,)] for cell in cells]
            g = dy[(b,) + o + (ch,)]
            if kind == "max":
                m = max(values)
                y[(b,) + o + (ch,)] = m
                winners = [cell for cell, v in zip(cells, values) if v == m]
                for cell in winners[:1] if ties == "first" else winners:
                    dx[(b,) + cell + (ch,)] += g
            else:
                y[(b,) + o + (ch,)] = sum(values) / len(cells)
                for cell in cells:
                    dx[(b,) + cell + (ch,)] += g / len(cells)
    return y, dx
