"""Elementwise work split over the batch and run on a few threads.

NumPy releases the GIL inside its loops, so independent slices of a batch can be processed
at the same time: ``over_batch(n, work)`` calls ``work(start, stop)`` on contiguous slices
of ``range(n)``, the calling thread taking the first slice and helper threads the others,
and returns once every slice is done (exceptions are re-raised). Each slice writes only its
own rows, so the result is bit-for-bit the same whatever the number of threads.

``THREADS`` (default: the usable cores, at most 4; ``SCRATCH_THREADS`` in the environment
overrides it) sets how many slices; work smaller than ``MIN_BYTES`` runs on the calling
thread alone, where handing it over would cost more than it saves.
"""

import os
from concurrent.futures import ThreadPoolExecutor


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


def _forget_pool():
    global _pool
    _pool = None  # a forked child has none of the parent's threads: start a new pool on demand


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def over_batch(n, work, nbytes, min_bytes=MIN_BYTES):
    """Run ``work(start, stop)`` over ``range(n)`` in ``THREADS`` slices when ``nbytes`` is at least
    ``min_bytes`` (higher for one cheap pass over memory, where the hand-over costs more)."""
    global _pool
    parts = min(THREADS, n)
    if parts < 2 or nbytes < min_bytes:
        work(0, n)
        return
    if _pool is None or _pool._max_workers < parts - 1:
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="scratch")
    bounds = [n * k // parts for k in range(parts + 1)]
    futures = [_pool.submit(work, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    try:
        work(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()
