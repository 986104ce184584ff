"""Speed of the scratch engine against Keras on the same machine, run as ``python -m benchmarks``.

Modules: ``engines`` (both engines behind ``train(steps)`` / ``infer(steps)``, FLOP counts, the
per-layer profile, the matmul peak), ``run`` (the interleaved measurement and the targets),
``memory`` (peak memory, one child process per engine), ``seed_loop`` (the seed tutorial's
per-image trainer, the baseline), ``machine`` (CPU, versions, BLAS), ``report`` (markdown).
"""

import scratch  # noqa: F401,E402  before NumPy loads: scratch sets OpenBLAS's idle-thread spin (see there)
