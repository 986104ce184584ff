"""Central finite differences in float64, shared by the gradient tests.

The bound: for every array ``a`` (an input or a parameter) the analytic gradient ``g`` and the
central difference ``n_i = (L(a + eps e_i) - L(a - eps e_i)) / (2 eps)`` must satisfy::

    max_i |n_i - g_i| / max_i |g_i|  <  FD_RTOL = 1e-6

(the error relative to the largest gradient entry of that array, so near-zero entries do not
blow the ratio up). Directional derivatives along random ``d`` are held to the same bound
scaled by Cauchy-Schwarz: ``|n_d - <g, d>| / (|g| |d|) < FD_RTOL``.

The loss is a random projection ``L = sum(y * r)``, so ``dL/dy = r``.
"""

import numpy as np

FD_EPS = 1e-6
FD_RTOL = 1e-6


def numeric_partials(loss, arr, coords, eps=FD_EPS):
    """Central differences of ``loss()`` w.r.t. ``arr.flat[c]`` for each ``c`` (``arr`` is perturbed in place)."""
    flat = arr.reshape(-1)  # a view: arrays under test are contiguous
    assert np.shares_memory(flat, arr)
    out = np.empty(len(coords))
    for i, c in enumerate(coords):
        old = flat[c]
        flat[c] = old + eps
        up = loss()
        flat[c] = old - eps
        down = loss()
        flat[c] = old
        out[i] = (up - down) / (2 * eps)
    return out


def numeric_directional(loss, arr, d, eps=FD_EPS):
    """Central difference of ``loss()`` along direction ``d`` (``arr`` is perturbed in place)."""
    old = arr.copy()
    arr += eps * d
    up = loss()
    arr[...] = old - eps * d
    down = loss()
    arr[...] = old
    return (up - down) / (2 * eps)


def assert_gradient(name, loss, arr, analytic, rng, max_coords=None, directions=2):
    """Check ``analytic`` (``dL/darr``) against central differences; ``AssertionError`` naming ``name``.

    All coordinates when ``max_coords`` is None or the array is small, else a random sample of
    ``max_coords`` of them, plus ``directions`` random directional derivatives.
    """
    assert arr.dtype == np.float64, f"{name}: finite differences need float64, got {arr.dtype}"
    assert analytic is not None, f"{name}: no analytic gradient"
    assert analytic.shape == arr.shape, f"{name}: gradient shape {analytic.shape} != array shape {arr.shape}"
    assert analytic.dtype == np.float64, f"{name}: gradient dtype {analytic.dtype}"
    size = arr.size
    coords = (np.arange(size) if max_coords is None or size <= max_coords
              else rng.choice(size, size=max_coords, replace=False))
    num = numeric_partials(loss, arr, coords)
    ana = analytic.reshape(-1)[coords]
    scale = max(np.abs(analytic).max(), 1e-12)
    err = np.abs(num - ana).max() / scale
    worst = coords[np.abs(num - ana).argmax()]
    assert err < FD_RTOL, (f"{name}: finite-difference relative error {err:.3e} >= {FD_RTOL} "
                           f"(worst flat index {worst}: analytic {analytic.reshape(-1)[worst]!r}, "
                           f"numeric {num[np.abs(num - ana).argmax()]!r})")
    gnorm = np.linalg.norm(analytic)
    for _ in range(directions):
        d = rng.standard_normal(arr.shape)
        num_d = numeric_directional(loss, arr, d)
        ana_d = float((analytic * d).sum())
        derr = abs(num_d - ana_d) / max(gnorm * np.linalg.norm(d), 1e-12)
        assert derr < FD_RTOL, f"{name}: directional derivative error {derr:.3e} (analytic {ana_d}, numeric {num_d})"


def check_layer(layer, x, rng, training=False, max_coords=None):
    """Finite-difference check of ``layer``'s ``dx`` and every parameter gradient on input ``x``.

    Also checks that ``backward`` leaves ``dy`` and ``x`` untouched and fills ``grads`` for
    exactly the keys of ``params``.
    """
    y = layer.forward(x, training=training)
    r = rng.standard_normal(y.shape)
    r_copy, x_copy = r.copy(), x.copy()
    dx = layer.backward(r)
    np.testing.assert_array_equal(r, r_copy, err_msg=f"{layer.label}: backward modified dy")
    np.testing.assert_array_equal(x, x_copy, err_msg=f"{layer.label}: forward/backward modified x")
    assert set(layer.grads) == set(layer.params), f"{layer.label}: grads keys {sorted(layer.grads)}"
    grads = {k: np.array(v, copy=True) for k, v in layer.grads.items()}

    def loss():
        return float((layer.forward(x, training=training) * r).sum())

    assert_gradient(f"{layer.label} dx", loss, x, dx, rng, max_coords)
    for k, p in layer.params.items():
        assert_gradient(f"{layer.label} d{k}", loss, p, grads[k], rng, max_coords)


def randomize_weights(layer, rng, scale=0.5):
    """Give every parameter random normal values (biases too, so zero init hides nothing)."""
    layer.set_weights([scale * rng.standard_normal(w.shape) for w in layer.get_weights()])
