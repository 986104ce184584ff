"""``load_mnist``: where it looks, in which order, what it verifies, and how it fails."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

import scratch
from scratch import data

ROOT = Path(__file__).resolve().parent.parent
SMALL = {  # fake files keep these shapes; EXPECTED is patched to match, so they stay tiny
    "x_train": ((6, 28, 28), np.uint8),
    "y_train": ((6,), np.uint8),
    "x_test": ((3, 28, 28), np.uint8),
    "y_test": ((3,), np.uint8),
}


def write_fake(path, fill=0, drop=None, **override):
    arrays = {k: np.full(shape, fill, dtype) for k, (shape, dtype) in SMALL.items()}
    arrays.update(override)
    if drop:
        arrays.pop(drop)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $MNIST_PATH, no repository copy, an empty home: only what a test puts there exists."""
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(data, "REPO_COPY", tmp_path / "repo" / "data" / "mnist.npz")
    monkeypatch.setattr(data, "EXPECTED", SMALL)
    return tmp_path


def test_repository_copy_loads_and_matches_the_published_checksums(mnist, monkeypatch):
    monkeypatch.delenv("MNIST_PATH", raising=False)
    (x_train, y_train), (x_test, y_test) = mnist
    for key, a in {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}.items():
        shape, dtype = data.EXPECTED[key]
        assert a.shape == shape and a.dtype == dtype
        assert hashlib.sha256(a.tobytes()).hexdigest() == data.SHA256[key]
    assert set(np.unique(y_train)) == set(range(10)) and x_train.max() == 255
    # the sums in the code are the ones published in data/README.md
    readme = (ROOT / "data" / "README.md").read_text()
    published = dict(re.findall(r"\|\s*(x_train|y_train|x_test|y_test)\s*\|\s*([0-9a-f]{64})\s*\|", readme))
    assert published == data.SHA256


def test_checksum_catches_a_single_changed_pixel(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test.copy(), "y_test": y_test}
    data.verify_checksums(arrays)
    arrays["x_test"][5000, 14, 14] ^= 1
    with pytest.raises(scratch.DataError, match="array 'x_test' has SHA-256 .*corrupt or modified"):
        data.verify_checksums(arrays, "where")


def test_repository_copy_is_checksummed_on_load(isolated):
    write_fake(data.REPO_COPY)  # right keys and shapes, wrong content
    with pytest.raises(scratch.DataError, match=re.escape(str(data.REPO_COPY)) + ".*SHA-256"):
        scratch.load_mnist()


def test_explicit_path_comes_first(isolated, monkeypatch):
    explicit = write_fake(isolated / "mine.npz", fill=1)
    monkeypatch.setenv("MNIST_PATH", str(write_fake(isolated / "env.npz", fill=2)))
    (x_train, _), (_, y_test) = scratch.load_mnist(explicit)
    assert x_train.shape == (6, 28, 28) and np.all(x_train == 1) and np.all(y_test == 1)
    (x_train, _), _ = scratch.load_mnist(str(explicit))  # a string works as well as a Path
    assert np.all(x_train == 1)


def test_explicit_path_that_does_not_exist_is_an_error_not_a_fallback(isolated, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(write_fake(isolated / "env.npz", fill=2)))
    with pytest.raises(scratch.DataError, match="not found at .*absent.npz"):
        scratch.load_mnist(isolated / "absent.npz")


def test_mnist_path_variable_comes_before_the_repository_copy(isolated, monkeypatch):
    write_fake(data.REPO_COPY, fill=3)
    monkeypatch.setenv("MNIST_PATH", str(write_fake(isolated / "env.npz", fill=2)))
    (x_train, _), _ = scratch.load_mnist()
    assert np.all(x_train == 2)


def test_keras_cache_is_the_last_resort(isolated):
    write_fake(isolated / "home" / ".keras" / "datasets" / "mnist.npz", fill=4)
    (x_train, y_train), _ = scratch.load_mnist()
    assert np.all(x_train == 4) and np.all(y_train == 4)


def test_keras_cache_via_the_module_setting(isolated, monkeypatch):
    monkeypatch.setattr(data, "KERAS_CACHE", write_fake(isolated / "cache" / "mnist.npz", fill=5))
    (x_train, _), _ = scratch.load_mnist()
    assert np.all(x_train == 5)


def test_nothing_found_gives_one_message_listing_every_place(isolated, monkeypatch):
    with pytest.raises(scratch.DataError) as info:
        scratch.load_mnist()
    message = str(info.value)
    cache = isolated / "home" / ".keras" / "datasets" / "mnist.npz"
    for where, path in (("repository copy", data.REPO_COPY), ("Keras cache", cache)):
        assert f"{where}: {path}" in message
    assert message.index("repository copy") < message.index("Keras cache")
    assert "\n" not in message


def test_a_missing_mnist_path_is_an_error_not_a_fallback(isolated, monkeypatch):
    """Issue 13, item 4: a named source that is missing is never silently replaced by another file."""
    write_fake(isolated / "cache" / "mnist.npz", fill=5)
    monkeypatch.setattr(data, "KERAS_CACHE", isolated / "cache" / "mnist.npz")
    monkeypatch.setenv("MNIST_PATH", str(isolated / "env-missing.npz"))
    with pytest.raises(scratch.DataError, match=r"MNIST file not found at .*env-missing.npz \(\$MNIST_PATH\)"):
        scratch.load_mnist()


def test_labels_outside_0_to_9_are_refused_when_the_file_loads(isolated):
    """Issue 13: found at load time, naming the file (not a traceback, nor a late error in one engine)."""
    labels = np.zeros(SMALL["y_test"][0], np.uint8)
    labels[2] = 12
    path = write_fake(isolated / "bad-labels.npz", y_test=labels)
    with pytest.raises(scratch.DataError, match=r"bad-labels.npz: array 'y_test' has 1 label\(s\) outside 0..9, "
                                               r"the first 12 at index 2"):
        scratch.load_mnist(path)


def test_corrupt_file(isolated):
    bad = isolated / "bad.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(scratch.DataError, match=re.escape(str(bad)) + ": not a readable .npz"):
        scratch.load_mnist(bad)
    good = write_fake(isolated / "half.npz").read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(scratch.DataError, match="not a readable .npz"):
        scratch.load_mnist(bad)


@pytest.mark.parametrize("key, array, fragments", [
    ("x_train", np.zeros((6, 28, 27), np.uint8), ("'x_train'", "uint8(6, 28, 28)", "found uint8(6, 28, 27)")),
    ("x_test", np.zeros((3, 28, 28), np.float32), ("'x_test'", "uint8(3, 28, 28)", "found float32(3, 28, 28)")),
    ("y_train", np.zeros((6, 1), np.uint8), ("'y_train'", "uint8(6,)", "found uint8(6, 1)")),
    ("y_test", np.zeros(3, np.int64), ("'y_test'", "found int64(3,)")),
])
def test_wrong_shapes_and_dtypes(isolated, key, array, fragments):
    path = write_fake(isolated / "wrong.npz", **{key: array})
    with pytest.raises(scratch.DataError, match=".*".join(re.escape(f) for f in (str(path),) + fragments)):
        scratch.load_mnist(path)


def test_missing_keys(isolated):
    path = write_fake(isolated / "partial.npz", drop="y_test")
    with pytest.raises(scratch.DataError, match=re.escape(f"{path}: missing array 'y_test'") + ".*x_test"):
        scratch.load_mnist(path)


def test_real_shapes_are_checked_without_the_patch(tmp_path):
    path = write_fake(tmp_path / "small.npz")  # EXPECTED not patched: the real 60000/10000 shapes
    with pytest.raises(scratch.DataError, match=r"'x_train' should be uint8\(60000, 28, 28\)"):
        scratch.load_mnist(path)


def test_preprocess_center_and_scale():
    raw = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(scratch.preprocess(raw, "scale")[..., 0], [[[0, 0.2, 1]]], rtol=1e-7)
    np.testing.assert_allclose(scratch.preprocess(raw, "center")[..., 0], [[[-0.5, -0.3, 0.5]]], rtol=1e-6)
    assert scratch.preprocess(raw).shape == (1, 1, 3, 1)
    assert scratch.preprocess(raw[..., None]).shape == (1, 1, 3, 1)
