"""Elementwise work split over the batch and run on a few threads.

NumPy releases the GIL inside its loops, so independent slices of a batch can be processed
at the same time: ``over_batch(n, work)`` calls ``work(start, stop)`` on contiguous slices
of ``range(n)``, the calling thread taking the first slice and helper threads the others,
and returns once every slice is done (exceptions are re-raised). Each slice writes only its
own rows, so the result is bit-for-bit the same whatever the number of threads.

``THREADS`` (default: the usable cores, at most 4; ``SCRATCH_THREADS`` in the environment
overrides it) sets how many slices; work smaller than ``MIN_BYTES`` runs on the calling
thread alone, where handing it over would cost more than it saves.

``matmul(a, b)`` is ``a @ b``; where NumPy's BLAS runs on one thread (``OPENBLAS_NUM_THREADS=1``, or
``threadpoolctl.threadpool_limits(1)`` around the engine's calls), a large product's rows go to these threads
in slices, each slice multiplied on one core: every core multiplies, and no BLAS thread is left spinning
between products on a core the engine's passes need (OpenBLAS's idle threads spin for about 0.1 s).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def _default_threads():
    env = os.environ.get("SCRATCH_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"SCRATCH_THREADS must be a positive integer, received {env!r}") from None
        if value < 1:
            raise ValueError(f"SCRATCH_THREADS must be a positive integer, received {env!r}")
        return value
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


THREADS = _default_threads()
MIN_BYTES = 1 << 21  # below this much data (2 MiB), one thread: handing over costs more
_pool = None


_blas = None  # NumPy's BLAS libraries (threadpoolctl's controllers), looked up on first use


def _blas_on_one_thread():
    """Whether every BLAS library the process loaded (NumPy's) runs one thread now; False without threadpoolctl
    (the engine's NumPy-only installation), which then leaves every product to BLAS."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = ()
        else:
            _blas = tuple(ThreadpoolController().select(user_api="blas").lib_controllers)
    return bool(_blas) and all(c.get_num_threads() == 1 for c in _blas)


SLICE_MACS = 1 << 24  # multiply-adds per slice at least (16M). Splitting from 4M made MobileNetV2's predict 0.9x
# (BLAS on one thread, its products of 7-13M); from 32M its time is unchanged, lenet's training (118-472M) 1.1x. It
# also keeps every slice on OpenBLAS's blocked kernels: its small-matrix ones (up to 1M on SkylakeX) sum in
# another order, so a slice that small could round a row differently from the whole product.


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` for 2-D ``a`` and ``b``; where BLAS runs one thread, ``a``'s rows in slices
    on this module's threads, at most ``THREADS``, each of at least ``SLICE_MACS`` multiply-adds (smaller
    products whole). Each output row is the same dot products as in the whole product, on the same blocked
    kernels, so the bits are the same for any number of threads."""
    m, (k, n) = len(a), b.shape
    parts = min(THREADS, m, m * k * n // SLICE_MACS)
    if parts < 2 or not _blas_on_one_thread():
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((m, n), dtype=np.result_type(a, b))
    over_batch(m, lambda lo, hi: np.matmul(a[lo:hi], b, out=out[lo:hi]), 0, 0, parts)
    return out


def _forget_pool():
    global _pool
    _pool = None  # a forked child has none of the parent's threads: start a new pool on demand


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


_worker = threading.local()


def _in_helper(work, lo, hi):
    _worker.busy = True  # a helper thread's own over_batch runs inline: waiting on the pool from it could hang
    work(lo, hi)


def over_batch(n, work, nbytes, min_bytes=MIN_BYTES, parts=None):
    """Run ``work(start, stop)`` over ``range(n)`` in ``THREADS`` slices (``parts``, if given: at most that many)
    when ``nbytes`` is at least ``min_bytes`` (higher for one cheap pass over memory, where the hand-over costs
    more)."""
    global _pool
    parts = min(THREADS, n) if parts is None else min(THREADS, n, parts)
    if parts < 2 or nbytes < min_bytes or getattr(_worker, "busy", False):  # in a helper: no pool inside the pool
        work(0, n)
        return
    if _pool is None or _pool._max_workers < parts - 1:
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="scratch")
    bounds = [n * k // parts for k in range(parts + 1)]
    futures = [_pool.submit(_in_helper, work, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    try:
        work(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()
