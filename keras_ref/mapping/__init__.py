"""Layer by layer, scratch <-> Keras: one module per Keras family, as ``scratch/layers/``.

Each module registers two kinds of functions:

- ``@to_keras("Conv2D")``: ``fn(layer, common) -> keras layer`` computing what the scratch
  layer computes; ``common`` holds the name, dtype and trainable flag.
- ``@from_keras("Conv2D")``: ``fn(klayer, common) -> scratch layer`` (without weights), or a
  ``ValueError`` (``refuse``) naming the layer and any setting the engine does not compute.

Weights are copied by the callers, in Keras order, unchanged.
"""

TO_KERAS = {}  # scratch class name -> function
FROM_KERAS = {}  # Keras class name -> function


def to_keras(*names):
    def register(fn):
        for name in names:
            TO_KERAS[name] = fn
        return fn
    return register


def from_keras(*names):
    def register(fn):
        for name in names:
            FROM_KERAS[name] = fn
        return fn
    return register


from . import (  # noqa: E402, F401
    core,
)
