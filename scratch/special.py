"""Special functions NumPy lacks: ``erf`` and ``erfc`` (GELU's exact form needs ``erfc``).

Vectorized erf for float64, with the rational approximations of fdlibm's s_erf.c
(Sun Microsystems 1993, "permission to use, copy, modify, and distribute this software is
freely granted, provided that this notice is preserved"): the coefficients below are theirs,
each approximation's error below 2**-57 on its interval, so erf is within ~1 ulp.
  |x| < 0.84375:         erf(x) = x + x * P(x^2) / Q(x^2)
  0.84375 <= |x| < 1.25: erf(x) = sign(x) * (c + P(s) / Q(s)),  s = |x| - 1, c = erf(1) in 24 bits
  1.25 <= |x| < 6:       erfc(|x|) = exp(-z^2 - 0.5625) * exp((z - |x|)(z + |x|) + R(1/x^2) / S(1/x^2)) / |x|
                         with z = |x| with its low 32 mantissa bits cleared (z^2 is exact), and
                         erf(x) = sign(x) * (1 - erfc(|x|)); two (R, S) pairs split at 1/0.35
  |x| >= 6:              erf(x) = sign(x)  (1 - erfc rounds to 1)
"""

import numpy as np

_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)


def _poly(z, coeffs):
    """``c0 + c1 z + c2 z^2 + ...`` by Horner's rule."""
    out = np.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        out = out * z + c
    return out


def _erfc_tail(a):
    """``erfc(a)`` for ``a >= 1.25`` (float64); 0 from 28 on (it underflows)."""
    a = np.minimum(a, 28.0)
    w = 1.0 / (a * a)
    far = a >= 1 / 0.35
    ratio = np.where(far, _poly(w, _RB) / _poly(w, _SB), _poly(w, _RA) / _poly(w, _SA))
    zt = (a.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)  # z^2 exact
    out = np.exp(-zt * zt - 0.5625) * np.exp((zt - a) * (zt + a) + ratio) / a
    return np.where(a >= 28.0, 0.0, out)


def _erf_parts(x):
    """``(x64, |x|, masks small/mid/tail, erf(|x|) on small, P/Q on mid, erfc(|x|) on tail)``."""
    x64 = np.asarray(x, dtype=np.float64)
    ax = np.abs(x64)
    small, tail = ax < 0.84375, ax >= 1.25
    mid = ~small & ~tail & ~np.isnan(ax)
    z = ax[small] ** 2
    s = ax[mid] - 1.0
    return (x64, ax, small, mid, tail, ax[small] + ax[small] * (_poly(z, _PP) / _poly(z, _QQ)),
            _poly(s, _PA) / _poly(s, _QA), _erfc_tail(ax[tail]))


def erf(x):
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``, elementwise, to ~1 ulp in
    float64 (computed in float64, returned in ``x``'s dtype)."""
    x64, ax, small, mid, tail, e_small, pq, c_tail = _erf_parts(x)
    out = ax.copy()  # NaN stays NaN
    out[small] = e_small
    out[mid] = _ERX + pq
    out[tail] = 1.0 - c_tail
    return np.copysign(out, x64).astype(np.asarray(x).dtype, copy=False)


def erfc(x):
    """``1 - erf(x)``, elementwise, accurate relative to itself for large ``x`` (no cancellation):
    ``1 - erf(x)`` near 0, fdlibm's forms around 1, ``erfc(|x|)`` or ``2 - erfc(|x|)`` beyond 1.25."""
    x64, ax, small, mid, tail, e_small, pq, c_tail = _erf_parts(x)
    neg = x64 < 0
    out = x64.copy()  # NaN stays NaN
    out[small] = 1.0 - np.copysign(e_small, x64[small])
    out[mid] = np.where(neg[mid], 1.0 + (_ERX + pq), (1.0 - _ERX) - pq)
    out[tail] = np.where(neg[tail], 2.0 - c_tail, c_tail)
    return out.astype(np.asarray(x).dtype, copy=False)
