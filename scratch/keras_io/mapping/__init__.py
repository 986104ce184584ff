"""Layer by layer, Keras config <-> scratch layer: one module per Keras family, as ``scratch/layers/``.

Each module registers ``@from_config(...)`` and ``@to_config(...)`` functions (see
``scratch.keras_io.config``). Importing this package registers them all.
"""

from . import (  # noqa: F401
    activations,
    applications,
    augmentation,
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
