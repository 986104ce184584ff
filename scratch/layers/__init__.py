"""The layers, one module per Keras family, as in ``keras/src/layers/``.

    core.py            Dense, Embedding (integer inputs), ConstantOp
    convolutional.py   Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2D/3DTranspose (one N-d base each)
    pooling.py         Max/Average pooling and their Global forms in 1, 2 and 3 spatial dimensions
    activations.py     Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax  (functions: ``scratch.activations``)
    reshaping.py       Flatten, Reshape, ZeroPadding/Cropping/UpSampling in 1, 2 and 3 spatial dimensions
    regularization.py  Dropout, SpatialDropout1D/2D/3D, AlphaDropout, GaussianNoise, GaussianDropout
                       (active only in training)
    normalization.py   BatchNormalization, LayerNormalization
    preprocessing.py   Rescaling, Normalization
    merging.py         Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate
    augmentation.py    RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomContrast,
                       RandomBrightness, RandomCrop (active only in training)
    ops.py             Op (a keras.ops call or tensor operator in a Functional model)
    applications.py    LayerScale, CustomScaleLayer (defined by keras.applications itself)
    base.py            the protocol every layer follows (``Layer``)

``LAYERS`` maps each class name to its class (what an architecture's ``class_name`` names);
a module lists its layers in ``__all__``.
"""

from . import (  # noqa: F401
    activations,
    applications,
    augmentation,
    base,
    convolutional,
    core,
    merging,
    normalization,
    ops,
    pooling,
    preprocessing,
    regularization,
    reshaping,
)
from .activations import *  # noqa: F403
from .applications import *  # noqa: F403
from .augmentation import *  # noqa: F403
from .base import Layer
from .convolutional import *  # noqa: F403
from .core import *  # noqa: F403
from .merging import *  # noqa: F403
from .normalization import *  # noqa: F403
from .ops import *  # noqa: F403
from .pooling import *  # noqa: F403
from .preprocessing import *  # noqa: F403
from .regularization import *  # noqa: F403
from .reshaping import *  # noqa: F403

FAMILIES = (core, convolutional, pooling, activations, reshaping, regularization, normalization, preprocessing,
            merging, applications, augmentation, ops)
LAYERS = {name: getattr(module, name) for module in FAMILIES for name in module.__all__}


def deserialize(spec, dtype=None):
    """Build a layer from ``{"class_name": ..., "config": {...}}`` (Keras's own layout)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"layer spec must be a dict with 'class_name' and 'config', received {spec!r}")
    name = spec["class_name"]
    if name not in LAYERS:
        raise ValueError(f"unknown layer class {name!r}; supported: {sorted(LAYERS)}")
    config = dict(spec.get("config", {}))
    if dtype is not None:
        config["dtype"] = dtype
    try:
        return LAYERS[name].from_config(config)
    except TypeError as e:
        raise ValueError(f"{name}: bad config {config!r}: {e}") from None


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


__all__ = ["LAYERS", "Layer", *LAYERS]
