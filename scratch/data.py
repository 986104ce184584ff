"""MNIST loading and preprocessing, offline first.

``load_mnist(path=None)`` looks, in order, at: the explicit ``path``; ``$MNIST_PATH``; the
repository's committed ``data/mnist.npz`` (checked against the SHA-256 sums in
``data/README.md``); Keras's cache ``~/.keras/datasets/mnist.npz``. It verifies keys, shapes
and dtypes and, when nothing is found, fails with one message listing every place it looked.
It never downloads (the machines have no network); a user online can fill Keras's cache
with ``keras.datasets.mnist.load_data()``. A source named explicitly (``path`` or
``$MNIST_PATH``) that does not exist is an error, never a silent fallback to another file.
Labels outside 0..9 are refused when the file loads, naming the file and the first bad one.

``epoch_order(seed, epoch, n)`` is the one shuffle of training: the model's ``fit`` and the
command line's epoch runner (``cli/runs.py``) both draw their batches from it.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

REPO_COPY = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"
KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")

EXPECTED = {
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}

# SHA-256 of each array's raw C-order bytes, as published in data/README.md.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}


def epoch_order(seed, epoch, n):
    """The order of the ``n`` training examples in epoch ``epoch``: a permutation drawn from
    ``np.random.default_rng([seed, epoch])`` (``seed`` None counts as 0). Each epoch's order
    depends on the seed and the epoch number alone, so a run resumed at any epoch shuffles as
    the uninterrupted run did."""
    return np.random.default_rng([0 if seed is None else seed, epoch]).permutation(n)


class DataError(ValueError):
    """The data file is missing, unreadable or not MNIST-shaped."""


def candidate_paths(path=None):
    """``[(where, Path)]`` in the order ``load_mnist`` tries them."""
    found = []
    if path is not None:
        found.append(("explicit path", Path(path)))
    if os.environ.get("MNIST_PATH"):
        found.append(("$MNIST_PATH", Path(os.environ["MNIST_PATH"])))
    found.append(("repository copy", REPO_COPY))
    found.append(("Keras cache", KERAS_CACHE.expanduser()))
    return found


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zip/npz/pickle errors all mean the same thing to the user
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    for key, (shape, dtype) in EXPECTED.items():
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r} (found {sorted(arrays)})")
        a = arrays[key]
        if a.shape != shape or a.dtype != dtype:
            raise DataError(f"{path}: array {key!r} should be {np.dtype(dtype).name}{shape}, "
                            f"found {a.dtype}{a.shape}")
    for key in ("y_train", "y_test"):
        bad = np.flatnonzero(arrays[key] > 9)
        if len(bad):
            raise DataError(f"{path}: array {key!r} has {len(bad)} label(s) outside 0..9, the first "
                            f"{int(arrays[key][bad[0]])} at index {int(bad[0])}")
    return arrays


def file_sha256(path):
    """SHA-256 of a file's bytes (what ``metrics.json`` records of the data file used)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(arrays, where="data"):
    """Raise ``DataError`` if any array's SHA-256 differs from the published one."""
    for key, digest in SHA256.items():
        got = hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        if got != digest:
            raise DataError(f"{where}: array {key!r} has SHA-256 {got[:16]}..., expected {digest[:16]}... "
                            f"(corrupt or modified file)")


def locate_mnist(path=None):
    """``(where, Path)`` of the file ``load_mnist(path)`` reads; ``DataError`` if none is found.

    An explicit ``path`` or ``$MNIST_PATH`` that does not exist is an error (no fallback).
    """
    looked = []
    for where, p in candidate_paths(path):
        if p.is_file():
            return where, p
        if where in ("explicit path", "$MNIST_PATH"):
            if p.is_dir():
                raise DataError(f"{p} ({where}) is a folder; give the MNIST .npz file itself")
            raise DataError(f"MNIST file not found at {p} ({where}); fix it"
                            + (" or unset MNIST_PATH" if where == "$MNIST_PATH" else ""))
        looked.append(f"{where}: {p}")
    raise DataError("MNIST not found; looked at " + "; ".join(looked) +
                    ". Pass a path, set MNIST_PATH, or restore data/mnist.npz.")


def load_mnist(path=None):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, Keras's layout.

    Shapes: ``x_train (60000, 28, 28)``, ``y_train (60000,)``, ``x_test (10000, 28, 28)``,
    ``y_test (10000,)``. An explicit ``path`` (or ``$MNIST_PATH``) that does not exist is an
    error (no fallback).
    """
    where, p = locate_mnist(path)
    arrays = _read(p)
    if where == "repository copy":
        verify_checksums(arrays, str(p))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def check_pixels(x, what="preprocess"):
    """Refuse pixel values that show a mistake: outside 0..255 (16-bit or unscaled data), NaN or
    inf, or a non-blank image whose largest value is 1 (already scaled to [0, 1], or a 0/1 mask)."""
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) or x.dtype == bool:
        raise ValueError(f"{what}: expected pixel values (integers or floats 0..255), received dtype {x.dtype}")
    if x.size == 0:
        return
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: the images contain NaN or inf")
    low, high = x.min(), x.max()
    if low < 0 or high > 255:
        raise ValueError(f"{what}: pixel values must lie in 0..255, received values from {low} to {high}"
                         + ("; 16-bit images: scale them to 0..255 first (x / 257)" if high <= 65535 and low >= 0
                            else ""))
    if 0 < high <= 1:
        raise ValueError(f"{what}: the largest pixel value is {high}: these images look already scaled to [0, 1] "
                         f"(or are a 0/1 mask); pass raw 0..255 pixels, the scaling is done here")


def preprocess(x, mode="scale", dtype="float32"):
    """Images of raw 0..255 pixels ``(N, 28, 28)`` or ``(N, 28, 28, 1)`` -> ``(N, 28, 28, 1)`` floats.

    ``mode="scale"``: ``x / 255``; ``mode="center"``: ``x / 255 - 0.5`` (the seed tutorial);
    ``mode="raw"``: ``x`` as floats (for a model that starts with its own ``Rescaling`` layer).
    Values that show a mistake are refused (see ``check_pixels``): already scaled to [0, 1],
    outside 0..255, NaN or inf.
    """
    if mode not in ("scale", "center", "raw"):
        raise ValueError(f"preprocess: mode must be 'scale', 'center' or 'raw', received {mode!r}")
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"preprocess: expected images (N, H, W) or (N, H, W, C), received shape {x.shape}")
    check_pixels(x)
    if mode == "raw":
        return x.astype(dtype)
    out = x.astype(dtype) / np.dtype(dtype).type(255)
    if mode == "center":
        out -= np.dtype(dtype).type(0.5)
    return out
