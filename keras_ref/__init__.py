"""The Keras 3 (TensorFlow backend) twin of the scratch engine, and weights moved both ways.

    import keras_ref
    keras_model = keras_ref.build_keras("blog", dtype="float64")   # same names as scratch.build_model
    keras_model = keras_ref.to_keras(scratch_model)                # same weights, bit for bit
    scratch_model = keras_ref.from_keras(keras_model)              # refuses what the engine lacks
    scratch_model = keras_ref.load_weights_file("blog.weights.h5", arch="blog")
    keras_ref.save_keras_weights(scratch_model, "blog.keras")

Importing this package imports Keras and TensorFlow; ``import scratch`` never does. Unless
the environment already says otherwise, it selects Keras's TensorFlow backend and turns
TensorFlow's oneDNN kernels off (``TF_ENABLE_ONEDNN_OPTS=0``), because they reorder sums and
change the last bits; this only works when TensorFlow has not been imported yet.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from .convert import build_keras, from_keras, to_keras  # noqa: E402
from .files import keras_with_preprocessing, load_keras_model, load_weights_file, save_keras_weights  # noqa: E402

__all__ = ["build_keras", "to_keras", "from_keras", "load_weights_file", "load_keras_model", "save_keras_weights",
           "keras_with_preprocessing"]
