"""Turning a user's photo or drawing of a digit into an MNIST-style 28x28 image.

MNIST's own recipe (LeCun et al.): white ink on black, the digit's bounding box scaled to fit
20x20 keeping its aspect ratio (anti-aliased), then placed in a 28x28 field so that its centre
of mass is at the centre. ``load_digit`` does the same for a PNG or JPEG of any size, with
dark ink on a light background (inverted) or light ink on a dark one.
"""

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

BOX = 20        # the digit's longer side, in pixels
FIELD = 28      # the output image's side
INK_THRESHOLD = 0.15  # fraction of the darkest-to-brightest range that counts as ink for the box


WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # more than 8 bits per pixel


def _wide_to_255(a, mode):
    """A 16-bit, 32-bit integer or float image's values on 0..255, by the range its values show.

    ``I;16*``: 0..65535. ``I`` and ``F``: 0..1 (a float or 0/1 image), 0..255, 0..65535 (a
    16-bit image Pillow opened as 32-bit), else stretched from 0 (or from its minimum when
    negative) to its maximum. Pillow's own conversion to 8 bits clips instead of scaling.
    """
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("the image has NaN or infinite pixel values")
    if mode.startswith("I;16"):
        return (a * (255 / 65535)).astype(np.float32)
    low, high = float(a.min()), float(a.max())
    if low < 0:
        span = high - low
        return ((a - low) * (255 / span) if span > 0 else np.zeros_like(a)).astype(np.float32)
    for top in (1.0, 255.0, 65535.0):
        if high <= top:
            return (a * (255 / top)).astype(np.float32)
    return (a * (255 / high)).astype(np.float32)


def _to_gray(img):
    """``(H, W)`` float32 in 0..255, from any mode Pillow opens. Transparency is filled with the
    colour opposite the ink."""
    if img.mode in WIDE_MODES:
        return _wide_to_255(np.asarray(img), img.mode)
    if img.mode == "LAB":  # its first band is the lightness, 0..255
        return np.asarray(img.getchannel("L"), dtype=np.float32)
    if img.mode in ("La", "RGBa"):  # premultiplied alpha
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        gray = np.asarray(img.convert("RGBA").convert("RGB").convert("L"), dtype=np.float32)
        alpha = rgba[..., 3] / 255.0
        opaque = alpha > 0.5
        if opaque.any() and not opaque.all():
            ink_is_dark = gray[opaque].mean() < 128
            fill = 255.0 if ink_is_dark else 0.0
            return gray * alpha + fill * (1 - alpha)
        return gray
    if img.mode not in ("L", "1", "P"):  # CMYK, HSV, YCbCr, RGBX...: through RGB, which every one reaches
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float32)


def read_image(path):
    """A grayscale ``(H, W)`` float32 array (0..255) of an image file, or ``ValueError``."""
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_gray(img)
    except FileNotFoundError:
        raise ValueError(f"image {path}: file not found") from None
    except IsADirectoryError:
        raise ValueError(f"image {path}: is a folder, not an image file") from None
    except Image.DecompressionBombError as e:
        raise ValueError(f"image {path}: too large to open safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"image {path}: not a readable PNG/JPEG (or other Pillow) image ({e})") from None


def to_mnist(gray, where="image"):
    """``(H, W)`` grayscale (0..255, any background) -> ``(28, 28)`` uint8, white ink on black.

    1. The background is the median of the border pixels; a light one is inverted.
    2. Ink = brightness above the background, stretched to 0..1.
    3. Crop to the ink's bounding box, scale the longer side to 20 px (box filter when
       shrinking, so thin strokes stay grey rather than vanish).
    4. Paste into 28x28 with the centre of mass at the centre.
    """
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2 or min(g.shape) < 2:
        raise ValueError(f"{where}: expected a 2-D image of at least 2x2 pixels, received shape {g.shape}")
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))
    if background > 127.5:
        g, background = 255.0 - g, 255.0 - background
    ink = np.clip(g - background, 0, None)
    peak = float(ink.max())
    if peak < 16:
        raise ValueError(f"{where}: no digit found (the image is blank or has no contrast)")
    ink /= peak
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = ink.shape
    scale = BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    patch = np.asarray(Image.fromarray(ink, mode="F").resize((new_w, new_h), resample), dtype=np.float32)
    patch = np.clip(patch, 0, 1)
    total = patch.sum()
    ys, xs = np.indices(patch.shape)
    cy, cx = (ys * patch).sum() / total, (xs * patch).sum() / total
    centre = FIELD / 2  # MNIST's digits have their centre of mass at index (14, 14)
    top = int(np.clip(round(centre - cy), 0, FIELD - new_h))
    left = int(np.clip(round(centre - cx), 0, FIELD - new_w))
    out = np.zeros((FIELD, FIELD), dtype=np.float32)
    out[top:top + new_h, left:left + new_w] = patch
    return np.round(out * 255).astype(np.uint8)


def load_digit(path):
    """An image file -> ``(28, 28)`` uint8 in MNIST's style (see ``to_mnist``)."""
    return to_mnist(read_image(path), where=f"image {path}")
