"""Every image mode Pillow opens reaches ``predict`` scaled to 0..255 (issue 13, item 5): a digit
saved as 16-bit, 32-bit integer, float, palette, CMYK... gives the same 28x28 input as its 8-bit
greyscale original, dark ink on light paper and light ink on dark alike."""

import numpy as np
import pytest
from PIL import Image

import scratch
from cli import images


@pytest.fixture(scope="module")
def digit():
    """An MNIST test digit, enlarged to 56x56 (white ink on black, 0..255, max 255)."""
    (_, _), (x_test, _) = scratch.load_mnist()
    big = np.asarray(Image.fromarray(x_test[0]).resize((56, 56), Image.Resampling.BILINEAR))
    return (big.astype(np.float64) * (255 / big.max())).round().astype(np.uint8)


def save(gray, mode, path):
    """``gray`` (uint8) written as an image of ``mode``; returns the path."""
    g = gray.astype(np.float64)
    makers = {
        "L": lambda: Image.fromarray(gray),
        "I;16": lambda: Image.fromarray((g * 257).astype(np.uint16)),
        "I": lambda: Image.fromarray((g * 257).astype(np.int32)),
        "I-full": lambda: Image.fromarray((g * 8421504).astype(np.int32)),  # up to 2^31 - 1 - ...
        "F-unit": lambda: Image.fromarray((g / 255).astype(np.float32)),
        "F-255": lambda: Image.fromarray(g.astype(np.float32)),
        "P": lambda: Image.fromarray(gray).convert("P"),
        "CMYK": lambda: Image.fromarray(gray).convert("RGB").convert("CMYK"),
        "RGB": lambda: Image.fromarray(gray).convert("RGB"),
        "1": lambda: Image.fromarray(np.where(gray > 127, 255, 0).astype(np.uint8)).convert("1"),
        "LAB": lambda: Image.fromarray(np.stack([gray, np.full_like(gray, 128), np.full_like(gray, 128)], -1),
                                       mode="LAB"),
    }
    img = makers[mode]()
    img.save(path)
    return path


WIDE = ("I;16", "I", "I-full", "F-unit", "F-255")
OTHER = ("P", "CMYK", "RGB", "LAB")


@pytest.mark.parametrize("mode", WIDE + OTHER)
@pytest.mark.parametrize("ink", ["light-on-dark", "dark-on-light"])
def test_every_mode_gives_the_8_bit_result(digit, mode, ink, tmp_path):
    gray = digit if ink == "light-on-dark" else 255 - digit
    suffix = ".png" if mode in ("I;16", "P", "RGB") else ".tif"
    path = save(gray, mode, tmp_path / f"digit{suffix}")
    with Image.open(path) as img:
        opened = img.mode
    expected = images.load_digit(save(gray, "L", tmp_path / "reference.png"))
    got = images.load_digit(path)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2, (mode, opened)
    assert images.read_image(path).max() <= 255.0001 and images.read_image(path).min() >= 0


def test_a_0_1_mode_image_and_a_blank_16_bit_image(digit, tmp_path):
    path = save(digit, "1", tmp_path / "bw.png")
    assert images.load_digit(path).max() == 255
    Image.fromarray(np.full((30, 30), 40000, np.uint16)).save(tmp_path / "blank16.png")
    with pytest.raises(ValueError, match="no digit found"):
        images.load_digit(tmp_path / "blank16.png")


def test_a_decompression_bomb_is_one_error_naming_the_file(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 > 2x the limit: Pillow's DecompressionBombError
    with pytest.raises(ValueError, match=r"image .*big.png: too large to open safely"):
        images.read_image(tmp_path / "big.png")
