"""Make TensorFlow deterministic before it is imported; every parity module imports this first.

- ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's oneDNN CPU kernels block and reorder sums
  (and may use other instruction paths), which moves results by a few ulps from run to run of
  configuration; off, the plain Eigen kernels run.
- ``TF_DETERMINISTIC_OPS=1`` and ``tf.config.experimental.enable_op_determinism()``: ops
  with a nondeterministic implementation (atomics, parallel reductions in unspecified
  order) use a deterministic one or raise, so the same inputs give the same bits every run.
- ``TF_CPP_MIN_LOG_LEVEL=2``: silence TensorFlow's info/warning logs.
- ``KERAS_BACKEND=tensorflow``: the twin is written against the TensorFlow backend.

The first two are read when TensorFlow loads, so they must be set before anything imports it;
``setup()`` refuses to run late rather than silently comparing against oneDNN.
"""

import os
import sys

SETTINGS = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "TF_DETERMINISTIC_OPS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_BACKEND": "tensorflow",
}


def setup():
    """Set ``SETTINGS``, import TensorFlow, turn op determinism on; returns the ``tf`` module."""
    if "tensorflow" in sys.modules:
        late = {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND") if os.environ.get(k) != SETTINGS[k]}
        if late:
            raise RuntimeError(f"TensorFlow was imported before parity_tests.determinism with {late}; "
                               f"import parity_tests.determinism (or keras_ref) first")
    os.environ.update(SETTINGS)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    return tf


def onednn_enabled():
    """Whether this process's TensorFlow runs its oneDNN kernels (TensorFlow's own flag)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


tf = setup()
