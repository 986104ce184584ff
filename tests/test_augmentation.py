"""Augmentation: ``scratch.image.affine_transform`` against an obviously-correct per-pixel loop,
the layers' ranges, seeding, inference identity, refusals and backwards, the ``--augment`` plumbing."""

import math
import re

import numpy as np
import pytest

import scratch
from scratch.image import FILL_MODES, INTERPOLATIONS, affine_transform, affine_transform_backward, inverse_transform
from tests.finite_diff import check_layer
from tests.matchers import raises

F32 = np.float32


# -- the naive reference: TensorFlow's ImageProjectiveTransformV3 kernel, one pixel at a time ---------
def naive_map(c, n, fill_mode):
    """One coordinate, as TensorFlow's ``MapCoordinate`` (scalar float32)."""
    c = F32(c)
    if fill_mode == "constant":
        return c
    if fill_mode == "nearest":
        return F32(min(max(c, 0), n - 1))
    if n <= 1:
        return F32(0)
    if fill_mode == "reflect":  # dcba|abcd|dcba
        if c < 0:
            c = F32(c + 2 * n * int(-c / (2 * n)))
            c = F32(c + 2 * n) if c < -n else F32(-c - 1)
        elif c > n - 1:
            c = F32(c - 2 * n * int(c / (2 * n)))
            if c >= n:
                c = F32(2 * n - c - 1)
    else:  # wrap
        if c < 0:
            c = F32(c + n * (int(-c / (n - 1)) + 1))
        elif c > n - 1:
            c = F32(c - n * int(c / (n - 1)))
    return F32(min(max(c, 0), n - 1))


def naive_affine(images, transform, interpolation, fill_mode, fill_value):
    n, h, w, ch = images.shape
    out = np.empty_like(images)
    t = np.broadcast_to(np.asarray(transform, F32), (n, 8))

    def pixel(b, yy, xx, c):
        return images[b, yy, xx, c] if 0 <= yy < h and 0 <= xx < w else fill_value

    for b in range(n):
        a0, a1, a2, b0, b1, b2, c0, c1 = t[b]
        for y in range(h):
            for x in range(w):
                k = F32(c0 * F32(x) + c1 * F32(y) + F32(1))
                for c in range(ch):
                    if k == 0:
                        out[b, y, x, c] = fill_value
                        continue
                    xi = naive_map(F32(a0 * F32(x) + a1 * F32(y) + a2) / k, w, fill_mode)
                    yi = naive_map(F32(b0 * F32(x) + b1 * F32(y) + b2) / k, h, fill_mode)
                    if interpolation == "nearest":
                        rx, ry = math.copysign(math.floor(abs(xi) + 0.5), xi), math.copysign(math.floor(abs(yi) + 0.5), yi)
                        out[b, y, x, c] = pixel(b, int(ry), int(rx), c)
                    else:
                        x0, y0 = math.floor(xi), math.floor(yi)
                        fx, fy = float(F32(xi - x0)), float(F32(yi - y0))
                        top = (1 - fx) * pixel(b, y0, x0, c) + fx * pixel(b, y0, x0 + 1, c)
                        bottom = (1 - fx) * pixel(b, y0 + 1, x0, c) + fx * pixel(b, y0 + 1, x0 + 1, c)
                        out[b, y, x, c] = (1 - fy) * top + fy * bottom
    return out


def transforms():
    """Translations (integer and fractional, far outside), a rotation with a shift, a zoom, a projective one."""
    out = [[1, 0, tx, 0, 1, ty, 0, 0] for tx, ty in ((0, 0), (-1, 2), (2.5, -1.25), (-9.75, 7.5), (13, -11.5))]
    a = 0.7
    out.append([math.cos(a), -math.sin(a), 1.3, math.sin(a), math.cos(a), -0.7, 0, 0])
    out.append([1.6, 0.1, -2.2, -0.2, 0.6, 1.1, 0, 0])
    out.append([0.9, 0.2, 0.5, -0.1, 1.1, -0.3, 0.02, -0.03])
    return np.array(out, F32)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("hw", [(5, 6), (1, 4), (3, 1)])
def test_affine_transform_matches_the_per_pixel_loop(interpolation, fill_mode, hw):
    t = transforms()
    x = np.random.default_rng(0).standard_normal((len(t), *hw, 2))
    ours = affine_transform(x, t, interpolation, fill_mode, fill_value=0.25)
    ref = naive_affine(x, t, interpolation, fill_mode, 0.25)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    assert ours.dtype == np.float64


def test_affine_transform_conventions_on_tiny_images():
    """The conventions written out: a2 = -1 moves the picture one pixel right; reflect repeats the
    edge pixel, wrap continues from the other side, nearest clamps, constant fills; one (H, W, C)
    image and one (8,) transform are accepted."""
    row = np.arange(1.0, 5.0).reshape(1, 4, 1)  # [1 2 3 4]
    shift = np.array([1, 0, -1, 0, 1, 0, 0, 0], F32)  # output x reads input x - 1
    got = {m: affine_transform(row, shift, "nearest", m, fill_value=9)[0, :, 0].tolist() for m in FILL_MODES}
    assert got == {"constant": [9, 1, 2, 3], "nearest": [1, 1, 2, 3], "reflect": [1, 1, 2, 3], "wrap": [4, 1, 2, 3]}
    shift2 = np.array([1, 0, -2, 0, 1, 0, 0, 0], F32)
    assert affine_transform(row, shift2, "nearest", "reflect")[0, :, 0].tolist() == [2, 1, 1, 2]
    half = np.array([1, 0, 0.5, 0, 1, 0, 0, 0], F32)  # reads between pixels: the average
    assert affine_transform(row, half, "bilinear", "constant")[0, :, 0].tolist() == [1.5, 2.5, 3.5, 2.0]
    assert affine_transform(row, half, "nearest", "nearest")[0, :, 0].tolist() == [2, 3, 4, 4]  # 0.5 rounds up


def test_affine_transform_keeps_float32_and_refuses_bad_arguments():
    x = np.ones((2, 3, 3, 1), F32)
    assert affine_transform(x, transforms()[:2]).dtype == F32
    with pytest.raises(ValueError, match="interpolation must be one of"):
        affine_transform(x, transforms()[0], interpolation="cubic")
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        affine_transform(x, transforms()[0], fill_mode="mirror")
    with pytest.raises(ValueError, match=re.escape("transform must be (8,) or (N, 8)")):
        affine_transform(x, np.zeros(6))


def test_backward_is_tensorflows_rule_exact_for_pixel_moves_approximate_otherwise():
    """``affine_transform_backward`` = the output gradient resampled through the inverse: the exact
    adjoint (<A x, r> = <x, A' r>) for an integer shift with constant fill, not for a rotation."""
    rng = np.random.default_rng(0)
    x, r = rng.standard_normal((1, 6, 7, 1)), rng.standard_normal((1, 6, 7, 1))
    shift = np.array([[1, 0, -2, 0, 1, 1, 0, 0]], F32)
    np.testing.assert_allclose(np.vdot(affine_transform(x, shift), r),
                               np.vdot(x, affine_transform_backward(r, shift)), rtol=1e-12)
    a = 0.4
    rot = np.array([[math.cos(a), -math.sin(a), 1.0, math.sin(a), math.cos(a), -1.5, 0, 0]], F32)
    gap = abs(np.vdot(affine_transform(x, rot), r) - np.vdot(x, affine_transform_backward(r, rot)))
    assert gap > 1e-3
    np.testing.assert_allclose(inverse_transform(inverse_transform(rot)), rot, rtol=1e-5, atol=1e-6)


# -- the layers ---------------------------------------------------------------------------------------
LAYERS = [
    ("RandomFlip", dict()),
    ("RandomRotation", dict(factor=0.2)),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=0.3)),
    ("RandomZoom", dict(height_factor=0.3)),
    ("RandomContrast", dict(factor=0.5, value_range=(-3, 3))),
    ("RandomBrightness", dict(factor=0.3, value_range=(-3, 3))),
    ("RandomCrop", dict(height=4, width=3)),
]


@pytest.mark.parametrize("cls,kwargs", LAYERS, ids=[c for c, _ in LAYERS])
def test_identity_in_inference_and_seeded_in_training(cls, kwargs):
    x = np.random.default_rng(0).standard_normal((6, 7, 6, 2))
    make = lambda seed: getattr(scratch, cls)(**kwargs, seed=seed, dtype="float64")  # noqa: E731
    layer = make(1)
    assert layer.forward(x) is x and layer.forward(x, training=False) is x
    dy = np.ones_like(x)
    assert layer.backward(dy) is dy
    first, again, other = make(1).forward(x, training=True), make(1).forward(x, training=True), make(2).forward(x, True)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(layer.forward(x, training=True), layer.forward(x, training=True))  # fresh draws
    spec = scratch.layers.serialize(layer)
    assert scratch.layers.deserialize(spec).get_config() == layer.get_config()


def test_drawn_ranges():
    """Every draw inside the documented range (module docstring of ``scratch.layers.augmentation``)."""
    x = np.zeros((3000, 4, 5, 1), F32)
    angle = scratch.RandomRotation((-0.1, 0.05), seed=0).get_random_transformation(x)["angle"]
    assert -36 <= angle.min() < -35 and 17 < angle.max() <= 18
    t = scratch.RandomTranslation(0.5, (0.0, 0.2), seed=0).get_random_transformation(x)["translations"]
    assert -2 <= t[:, 1].min() < -1.9 and 1.9 < t[:, 1].max() <= 2  # rows: 0.5 * H = 2
    assert 0 <= t[:, 0].min() < 0.02 and 0.98 < t[:, 0].max() <= 1  # columns: 0.2 * W = 1
    z = scratch.RandomZoom(0.25, seed=0).get_random_transformation(x)
    assert np.array_equal(z["height_zoom"], z["width_zoom"]) and 0.75 <= z["height_zoom"].min() < 0.76
    c = scratch.RandomContrast(0.3, seed=0).get_random_transformation(x)["contrast_factor"]
    assert 1 <= c.min() < 1.01 and 1.29 < c.max() <= 1.3  # Keras 3.15: a number f draws in [1, 1 + f]
    d = scratch.RandomBrightness(0.1, value_range=(0, 255), seed=0).get_random_transformation(x)["rgb_delta"]
    assert -25.5 <= d.min() < -25 and 25 < d.max() <= 25.5
    flips = scratch.RandomFlip(seed=0).get_random_transformation(x)["flips"]
    assert 0.45 < flips.mean() < 0.55


@pytest.mark.parametrize("cls,kwargs", [c for c in LAYERS if c[0] in ("RandomFlip", "RandomContrast",
                                                                      "RandomBrightness", "RandomCrop")],
                         ids=["RandomFlip", "RandomContrast", "RandomBrightness", "RandomCrop"])
def test_exact_backwards_by_finite_differences(cls, kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 6, 2)) * 1.5  # some values beyond the (-3, 3) clip
    layer = getattr(scratch, cls)(**kwargs, seed=4, dtype="float64")
    layer.build(x.shape)
    layer.fixed_transformation = layer.get_random_transformation(x)
    check_layer(layer, x, rng, training=True)


@pytest.mark.parametrize("cls,kwargs", [c for c in LAYERS if c[0] in ("RandomRotation", "RandomTranslation",
                                                                      "RandomZoom")],
                         ids=["RandomRotation", "RandomTranslation", "RandomZoom"])
def test_resampling_backward_is_the_inverse_resampling(cls, kwargs):
    x = np.random.default_rng(0).standard_normal((3, 7, 6, 2))
    layer = getattr(scratch, cls)(**kwargs, seed=4, dtype="float64")
    y = layer.forward(x, training=True)
    t = layer._cache[1]
    dy = np.random.default_rng(1).standard_normal(y.shape)
    expected = affine_transform(dy, inverse_transform(layer.matrix(x.shape, t)), layer.interpolation,
                                layer.fill_mode, 0.0)
    np.testing.assert_array_equal(layer.backward(dy), expected)


@pytest.mark.parametrize("make,fragments", [
    (lambda: scratch.RandomRotation(1.5, name="r"), ("r", "factor", "[-1, 1]", "1.5")),
    (lambda: scratch.RandomRotation((0.1, 0.2, 0.3), name="r"), ("r", "factor", "(0.1, 0.2, 0.3)")),
    (lambda: scratch.RandomRotation("big", name="r"), ("r", "factor", "'big'")),
    (lambda: scratch.RandomTranslation(0.1, 2, name="t"), ("t", "width_factor", "[-1, 1]", "2")),
    (lambda: scratch.RandomTranslation(-1.5, 0.1, name="t"), ("t", "height_factor", "-1.5")),
    (lambda: scratch.RandomZoom(-1.0, name="z"), ("z", "height_factor", "(-1, 1]", "-1.0")),
    (lambda: scratch.RandomZoom(0.1, (0.2, -1), name="z"), ("z", "width_factor", "(0.2, -1)")),
    (lambda: scratch.RandomContrast(1.5, name="c"), ("c", "factor", "[0, 1]", "1.5")),
    (lambda: scratch.RandomContrast(-0.1, name="c"), ("c", "factor", "-0.1")),
    (lambda: scratch.RandomBrightness(2, name="b"), ("b", "factor", "[-1, 1]", "2")),
    (lambda: scratch.RandomBrightness(0.1, value_range=5, name="b"), ("b", "value_range", "5")),
    (lambda: scratch.RandomRotation(0.1, fill_mode="mirror", name="r"), ("r", "fill_mode", "'mirror'")),
    (lambda: scratch.RandomZoom(0.1, interpolation="bicubic", name="z"), ("z", "interpolation", "'bicubic'")),
    (lambda: scratch.RandomFlip("diagonal", name="f"), ("f", "mode", "'diagonal'")),
    (lambda: scratch.RandomFlip(data_format="channels_first", name="f"), ("f", "data_format", "channels_first")),
    (lambda: scratch.RandomCrop(0, 3, name="k"), ("k", "height", "0")),
    (lambda: scratch.RandomFlip(seed=1.5, name="f"), ("f", "seed", "1.5")),
])
def test_bad_arguments_are_refused(make, fragments):
    with raises(*fragments):
        make()


def test_crop_refuses_what_needs_a_resize_and_input_of_the_wrong_rank():
    layer = scratch.RandomCrop(5, 5, name="k")
    with raises("k", "smaller than the crop 5x5"):
        layer.forward(np.zeros((1, 4, 6, 1), F32), training=True)
    with raises("k", "expected 4-D input"):
        scratch.RandomFlip(name="k").forward(np.zeros((4, 6, 1), F32))


# -- train.py --augment ---------------------------------------------------------------------------------
def test_augmenter_draws_depend_on_seed_epoch_and_step_only():
    from cli.augment import Augmenter

    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(F32)
    a, b = Augmenter(0.03, 0.1, 0.1, seed=0), Augmenter(0.03, 0.1, 0.1, seed=0)
    np.testing.assert_array_equal(a.scratch(x, a.draw(x, 2, 5)), b.scratch(x, b.draw(x, 2, 5)))
    assert not np.array_equal(a.scratch(x, a.draw(x, 2, 5)), a.scratch(x, a.draw(x, 2, 6)))
    assert [type(layer).__name__ for layer in Augmenter(0.03, 0, 0.1, seed=0).layers] == ["RandomRotation",
                                                                                        "RandomZoom"]
    assert a.examples(x, versions=3).shape == (3, *x.shape)


def test_augment_options():
    import train

    parse = lambda *argv: train.resolve_options(train.build_parser().parse_args(["scratch", *argv]))  # noqa: E731
    assert parse()["augment"] is False
    opts = parse("--augment", "--zoom", "0.2")
    assert (opts["augment"], opts["rotation"], opts["shift"], opts["zoom"]) == (True, 0.03, 0.1, 0.2)
    with raises("--rotation without --augment"):
        parse("--rotation", "0.1")


@pytest.mark.slow
def test_scratch_run_with_augment_records_it_and_draws_the_picture(tmp_path):
    """``train.py scratch --augment``: the factors in metrics.json, ``augmented.png`` written, and the
    same seed gives the same trained weights (the same draws)."""
    import json

    import train

    def run(out):
        assert train.main(["scratch", "--augment", "--rotation", "0.05", "--epochs", "1", "--limit", "64",
                           "--test-limit", "50", "--no-convert", "--out", str(out)]) == 0
        return scratch.load_checkpoint(out / "model.npz")[0].get_weights()

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["options"]["augment"] is True and m["options"]["rotation"] == 0.05 and m["options"]["zoom"] == 0.1
    assert [spec["class_name"] for spec in m["augmentation"]["layers"]] == ["RandomRotation", "RandomTranslation",
                                                                         "RandomZoom"]
    assert (tmp_path / "a" / "augmented.png").stat().st_size > 1000
