"""A convolutional network written by hand in NumPy, numerically twinned with Keras 3.

NumPy only: importing this package never imports TensorFlow.

    import scratch
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist()
    model = scratch.build_model("blog", seed=0)
    model.compile(scratch.Adam(0.005))
    model.fit(scratch.preprocess(x_train, "center"), y_train, epochs=3, batch_size=32)
"""

from .architectures import REGISTRY, get_architecture
from .data import DataError, load_mnist, preprocess
from .layers import AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D, ReLU, Softmax
from .losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from .model import NonFiniteLossError, Sequential, build_model, load_checkpoint, save_checkpoint
from .optimizers import SGD, Adam, RMSprop

__all__ = [
    "REGISTRY", "get_architecture", "DataError", "load_mnist", "preprocess", "AveragePooling2D",
    "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "MaxPooling2D", "ReLU", "Softmax",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "NonFiniteLossError",
    "Sequential", "build_model", "load_checkpoint", "save_checkpoint", "SGD", "Adam", "RMSprop",
]
