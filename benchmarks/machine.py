"""What the figures were measured on: CPU, cores, versions, BLAS and its threads."""

import os
import platform
import sys

import numpy as np

ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe(with_keras=True):
    """A JSON-ready dict: machine, Python and library versions, BLAS (threadpoolctl), env."""
    from threadpoolctl import threadpool_info

    info = {"cpu": cpu_model(), "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(), "python": sys.version.split()[0], "numpy": np.__version__,
            "blas": [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture",
                                            "threading_layer", "filepath")}
                     for p in threadpool_info()],
            "env": {k: os.environ.get(k) for k in ENV_KEYS}}
    if with_keras:
        import keras
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["keras"] = keras.__version__
        info["tf_threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                              "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    return info
