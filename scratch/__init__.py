"""A convolutional network written by hand in NumPy, numerically twinned with Keras 3.

NumPy only: importing this package never imports TensorFlow.

    import scratch
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist()
    model = scratch.build_model("blog", seed=0)
    model.compile(scratch.Adam(0.005))
    model.fit(scratch.preprocess(x_train, "center"), y_train, epochs=3, batch_size=32)
"""

import os

# OpenBLAS's idle worker threads busy-wait for 2**28 cycles (about 0.1 s) after each matrix
# product, holding a core while the engine's elementwise passes (ReLU, pooling, col2im) want
# it: lenet trains about 20% faster on 2 cores with 2**18 cycles (about 0.1 ms), which still
# keeps them awake between back-to-back products. OpenBLAS reads this once, when NumPy loads
# it, so it only applies where scratch is imported before NumPy; a value already set wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

from . import activations  # noqa: F401  (scratch.activations)
from .architectures import REGISTRY, get_architecture
from .checkpoint import load_checkpoint, model_from_config, save_checkpoint
from .data import DataError, load_mnist, preprocess
from .keras_io import load_model, load_weights
from .keras_io.custom import register_layer
from .layers import *  # noqa: F403  (every layer class, by its Keras name)
from .layers import LAYERS, Layer
from .layers.node import Input, leaf_layers
from .losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, SparseCategoricalCrossentropy
from .models import Model, NonFiniteLossError, Sequential, build_model
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "REGISTRY", "get_architecture", "DataError", "load_mnist", "preprocess", "LAYERS", "Layer", *LAYERS, "Input", "Model",
    "Loss", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "NonFiniteLossError",
    "Sequential", "build_model", "model_from_config", "leaf_layers", "load_checkpoint", "save_checkpoint", "load_model",
    "load_weights", "register_layer", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
]
