"""The models: one graph engine (``Model``) and ``Sequential``, a list of layers in front of it.

    trainer.py     Trainer: compile, fit, train_step, compute_gradients, evaluate, predict, save, load
    functional.py  Model(inputs, outputs): forward, backward, weights, summary, config (the engine)
    sequential.py  Sequential(Model): add, late build, the architecture-description config
    fusion.py      the backward fusions, planned once over a graph
"""

from .. import architectures
from ..checkpoint import model_from_config
from .functional import Model
from .sequential import Sequential
from .trainer import NonFiniteLossError, Trainer

__all__ = ["Model", "Sequential", "Trainer", "NonFiniteLossError", "build_model"]


def build_model(arch="blog", dtype="float32", seed=None):
    """A built model from a registry name, a JSON file or a description dict: a ``Sequential``, or
    a graph ``Model`` for a graph description (``Model.get_config()``)."""
    return model_from_config(architectures.get_architecture(arch), dtype=dtype, seed=seed)
