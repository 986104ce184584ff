"""scratch.resize (UpSampling2D's bilinear/bicubic, Resizing, CenterCrop) against per-pixel loops
written from TensorFlow's kernels' formulas (issue 20), and the gradients: the backward pass is
the exact transpose of the forward map (checked as <dy, J dx> = <J^T dy, dx> in float64), and, away
from float32 rounding, finite differences."""

import numpy as np
import pytest

import scratch
from scratch import resize

from .finite_diff import assert_gradient


def f32(v):
    return np.float32(v)


def naive_bilinear(x, oh, ow):
    """TF's ResizeBilinear, half-pixel centres, one pixel at a time, in float32."""
    n, h, w, c = x.shape
    xs = x.astype(np.float32)
    out = np.zeros((n, oh, ow, c), np.float32)
    sy, sx = f32(h) / f32(oh), f32(w) / f32(ow)
    for i in range(oh):
        fy = (f32(i) + f32(0.5)) * sy - f32(0.5)
        y0, y1, ty = max(int(np.floor(fy)), 0), min(int(np.ceil(fy)), h - 1), f32(fy - np.floor(fy))
        for j in range(ow):
            fx = (f32(j) + f32(0.5)) * sx - f32(0.5)
            x0, x1, tx = max(int(np.floor(fx)), 0), min(int(np.ceil(fx)), w - 1), f32(fx - np.floor(fx))
            for b in range(n):
                for k in range(c):
                    top = xs[b, y0, x0, k] + (xs[b, y0, x1, k] - xs[b, y0, x0, k]) * tx
                    bottom = xs[b, y1, x0, k] + (xs[b, y1, x1, k] - xs[b, y1, x0, k]) * tx
                    out[b, i, j, k] = top + (bottom - top) * ty
    return out


def keys(t, a=-0.5):
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def naive_bicubic(x, oh, ow):
    """Keys' cubic (a = -0.5) at half-pixel centres, taps outside the image dropped and the weights
    renormalized; exact kernel values (TF reads a 1024-step table: agreement to ~1e-3 of a weight)."""
    n, h, w, c = x.shape

    def taps(o, n_in, n_out):
        s = (o + 0.5) * n_in / n_out - 0.5
        base = int(np.floor(s))
        idx = [base + k for k in range(-1, 3)]
        wts = [keys(s - i) if 0 <= i < n_in else 0.0 for i in idx]
        total = sum(wts)
        return [min(max(i, 0), n_in - 1) for i in idx], [v / total for v in wts]

    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        iy, wy = taps(i, h, oh)
        for j in range(ow):
            ix, wx = taps(j, w, ow)
            for a in range(4):
                for b in range(4):
                    out[:, i, j] += wy[a] * wx[b] * x[:, iy[a], ix[b]]
    return out


def naive_nearest(x, oh, ow):
    n, h, w, c = x.shape
    out = np.zeros((n, oh, ow, c), x.dtype)
    for i in range(oh):
        for j in range(ow):
            si = min(int(np.floor((f32(i) + f32(0.5)) * (f32(h) / f32(oh)))), h - 1)
            sj = min(int(np.floor((f32(j) + f32(0.5)) * (f32(w) / f32(ow)))), w - 1)
            out[:, i, j] = x[:, si, sj]
    return out


SIZES = [((3, 4), (7, 5)), ((5, 6), (2, 3)), ((4, 4), (4, 4)), ((1, 3), (3, 6))]


@pytest.mark.parametrize("src, dst", SIZES)
def test_resize_matches_per_pixel_loops(src, dst):
    x = np.random.default_rng(0).standard_normal((2, *src, 2))
    y, _ = resize.resize(x, dst, "bilinear")
    np.testing.assert_array_equal(y, naive_bilinear(x, *dst).astype(np.float64))  # the same float32 operations
    assert y.dtype == np.float64
    np.testing.assert_array_equal(resize.resize(x, dst, "nearest")[0], naive_nearest(x, *dst))
    np.testing.assert_allclose(resize.resize(x, dst, "bicubic")[0], naive_bicubic(x, *dst), atol=5e-3)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("src, dst", SIZES)
def test_backward_is_the_transpose_of_the_forward(interpolation, src, dst):
    """Forward is linear in the image: <dy, resize(e)> = <resize_backward(dy), e> on every basis image
    (the float32 rounding of the weights included in both)."""
    rng = np.random.default_rng(1)
    dy = rng.standard_normal((1, *dst, 1)).astype(np.float32).astype(np.float64)
    _, plan = resize.resize(np.zeros((1, *src, 1)), dst, interpolation)
    dx = resize.resize_backward(dy, plan)
    for k in range(src[0] * src[1]):
        e = np.zeros((1, *src, 1))
        e.flat[k] = 1.0
        np.testing.assert_allclose(dx.flat[k], (resize.resize(e, dst, interpolation)[0] * dy).sum(), rtol=1e-6,
                                   atol=1e-12)


@pytest.mark.parametrize("layer", [
    scratch.UpSampling2D((2, 3), interpolation="nearest", dtype="float64"),
    scratch.Resizing(5, 4, interpolation="nearest", dtype="float64"),
    scratch.CenterCrop(3, 2, dtype="float64"),
], ids=["upsample-nearest", "resizing-nearest", "center-crop"])
def test_exact_layers_finite_differences(layer):
    """Layers computing in the image's dtype (no float32 inside): finite differences hold exactly."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 5, 2))
    y = layer.forward(x)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)
    assert_gradient(layer.label, lambda: float((layer.forward(x) * r).sum()), x, dx, rng)


@pytest.mark.parametrize("layer, shape", [
    (scratch.Resizing(4, 4, crop_to_aspect_ratio=True, dtype="float64"), (1, 5, 8, 1)),
    (scratch.Resizing(4, 6, pad_to_aspect_ratio=True, fill_value=0.5, dtype="float64"), (1, 5, 3, 1)),
    (scratch.CenterCrop(5, 4, dtype="float64"), (1, 4, 6, 1)),
    (scratch.UpSampling2D(interpolation="bicubic", dtype="float64"), (1, 3, 3, 1)),
], ids=["crop-aspect", "pad-aspect", "center-crop-resize", "upsample-bicubic"])
def test_float32_resampling_layers_gradient_is_the_transpose(layer, shape):
    """The bilinear/bicubic layers compute in float32 (as TensorFlow): their gradient is checked as
    the transpose of the linear map they compute, basis image by basis image (plus the constant the
    padding adds)."""
    rng = np.random.default_rng(3)
    zero = layer.forward(np.zeros(shape))
    dy = rng.standard_normal(zero.shape).astype(np.float32).astype(np.float64)
    dx = layer.backward(dy)
    for k in range(int(np.prod(shape))):
        e = np.zeros(shape)
        e.flat[k] = 1.0
        np.testing.assert_allclose(dx.flat[k], ((layer.forward(e) - zero) * dy).sum(), rtol=1e-5, atol=1e-6)


def test_refusals_name_the_layer_and_option():
    with pytest.raises(ValueError, match=r"UpSampling2D 'u'.*'area'.*does not compute"):
        scratch.UpSampling2D(interpolation="area", name="u")
    with pytest.raises(ValueError, match=r"Resizing 'r'.*'lanczos3'"):
        scratch.Resizing(2, 2, interpolation="lanczos3", name="r")
    with pytest.raises(ValueError, match=r"Resizing 'r'.*antialias=True"):
        scratch.Resizing(2, 2, antialias=True, name="r")
    with pytest.raises(ValueError, match=r"Resizing 'r'.*only one of"):
        scratch.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True, name="r")
    with pytest.raises(ValueError, match=r"CenterCrop 'c'.*height"):
        scratch.CenterCrop(0, 2, name="c")
