"""Keras's own formats, read and written in NumPy: no TensorFlow.

    config.py         Keras's serialized layer configs <-> scratch layers (the one mapping; the
                      family modules in ``mapping/`` register each class both ways)
    graph.py          a Keras model's config (Sequential, Functional, nested) <-> a scratch model,
                      and where each layer's weights live in Keras's weight files
    archive.py        ``.keras`` archives, ``.weights.h5`` and legacy ``.h5`` files: ``load_model``,
                      ``load_weights``, ``save_model``, ``save_weights`` (``model.save("x.keras")``)
    preprocessing.py  a model's ``preprocess`` <-> the first ``Rescaling`` layer a file carries
    weights_files.py  weights of any format read into a given architecture (the command line)
    custom.py         ``scratch.register_layer``: the twin of a Keras layer class of one's own

``keras_ref`` uses the same mapping for live Keras models (it reads their ``get_config()``).
"""

from . import config, mapping  # noqa: F401
from .archive import load_model, load_weights, save_model, save_weights  # noqa: F401
