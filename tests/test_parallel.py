"""``scratch.parallel``: batch slices on threads give bit-identical results, and errors surface."""

import numpy as np
import pytest

import scratch
from scratch import parallel


def _step(arch, dtype, threads, monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)  # split even these small arrays
    model = scratch.build_model(arch, dtype=dtype, seed=3)
    model.compile(scratch.SGD(0.1))
    rng = np.random.default_rng(0)
    x = rng.random((7, 28, 28, 1)).astype(dtype)  # odd batch: unequal slices
    y = rng.integers(0, 10, 7)
    out = model.forward(x, training=True)
    model.loss(y, out)
    model.backward(model.loss.backward())
    return out, model.named_grads()


@pytest.mark.parametrize("arch", ["blog", "lenet"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_threads_change_no_bit(arch, dtype, monkeypatch):
    out1, grads1 = _step(arch, dtype, 1, monkeypatch)
    for threads in (2, 3):
        out, grads = _step(arch, dtype, threads, monkeypatch)
        assert np.array_equal(out, out1)
        for k in grads1:
            assert np.array_equal(grads[k], grads1[k]), k


def test_slices_cover_the_batch_once_and_errors_surface(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 3)
    seen = np.zeros(10, dtype=int)

    def work(lo, hi):
        seen[lo:hi] += 1

    parallel.over_batch(10, work, nbytes=1 << 30)
    assert (seen == 1).all()

    def fails(lo, hi):
        if lo > 0:
            raise RuntimeError("slice failed")

    with pytest.raises(RuntimeError, match="slice failed"):
        parallel.over_batch(10, fails, nbytes=1 << 30)


def test_bad_environment_value(monkeypatch):
    monkeypatch.setenv("SCRATCH_THREADS", "zero")
    with pytest.raises(ValueError, match="SCRATCH_THREADS"):
        parallel._default_threads()


def test_a_forked_child_gets_its_own_threads(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(parallel, "THREADS", 2)
    parallel.over_batch(4, lambda lo, hi: None, nbytes=1 << 30)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(_child_sum) == 45


def _child_sum():
    out = np.zeros(10)
    parallel.over_batch(10, lambda lo, hi: out.__setitem__(slice(lo, hi), np.arange(lo, hi)), nbytes=1 << 30)
    return int(out.sum())
