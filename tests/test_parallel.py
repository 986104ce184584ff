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


def _operands(rng, dtype):
    """Products as the engine makes them, of 74M multiply-adds (4 slices at most): a window matrix by a kernel, its
    transpose by a gradient (the kernel's gradient), a gradient by a kernel's transposed view (col2im)."""
    cols = rng.standard_normal((4001, 288)).astype(dtype)
    g = rng.standard_normal((4001, 64)).astype(dtype)
    kernel = rng.standard_normal((288, 64)).astype(dtype)
    return [(cols, kernel), (cols.T, g), (g, kernel.T)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_products_give_the_whole_products_bits(dtype, monkeypatch):
    """Where BLAS runs one thread (as the tests run it, ``tests/conftest.py``) a large product's rows go to the
    threads in slices: the same bits as the whole product, for any number of threads, with or without ``out``."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(5)
    slices = []
    over_batch = parallel.over_batch
    monkeypatch.setattr(parallel, "over_batch", lambda n, work, *a: slices.append(a[-1]) or over_batch(n, work, *a))
    with threadpool_limits(1, "blas"):
        for threads in (2, 3, 4):
            monkeypatch.setattr(parallel, "THREADS", threads)
            for a, b in _operands(rng, dtype):
                want = np.matmul(a, b)
                got = parallel.matmul(a, b)
                assert got.dtype == want.dtype and np.array_equal(got, want)
                out = np.empty_like(want)
                assert parallel.matmul(a, b, out=out) is out and np.array_equal(out, want)
    assert slices == [2] * 6 + [3] * 6 + [4] * 6  # every product, in as many slices as threads


def test_products_stay_whole_where_blas_has_threads_or_cannot_be_asked(monkeypatch):
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(parallel, "THREADS", 2)
    calls = []
    monkeypatch.setattr(parallel, "over_batch", lambda *a: calls.append(a))
    a, b = _operands(np.random.default_rng(6), "float64")[0]
    with threadpool_limits(2, "blas"):
        np.testing.assert_array_equal(parallel.matmul(a, b), a @ b)
    monkeypatch.setattr(parallel, "_blas", ())  # no threadpoolctl (the NumPy-only installation)
    with threadpool_limits(1, "blas"):
        np.testing.assert_array_equal(parallel.matmul(a, b), a @ b)
    assert calls == []


def test_work_a_helper_thread_hands_to_over_batch_runs_there(monkeypatch):
    """A slice's own ``over_batch`` (a split product inside a batch slice) runs in its thread: waiting on the
    pool from one of its helpers could hang."""
    monkeypatch.setattr(parallel, "THREADS", 2)
    out = np.zeros((2, 8))

    def outer(lo, hi):
        for row in range(lo, hi):
            parallel.over_batch(8, lambda a, b, r=row: out[r].__setitem__(slice(a, b), r + 1), nbytes=1 << 30)

    parallel.over_batch(2, outer, nbytes=1 << 30)
    np.testing.assert_array_equal(out, [[1] * 8, [2] * 8])
