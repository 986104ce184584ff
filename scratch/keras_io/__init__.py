"""Keras's own formats, read and written in NumPy: no TensorFlow.

    config.py    Keras's serialized layer configs <-> scratch layers (the one mapping; the
                 family modules in ``mapping/`` register each class both ways)

``keras_ref`` uses the same mapping for live Keras models (it reads their ``get_config()``).
"""

from . import config, mapping  # noqa: F401
