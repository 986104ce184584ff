"""Fusions, planned once over a model's graph: two for the backward pass, one for the forward pass
(and ``predict``), one for ``predict``.

A fusion merges two elementwise passes of the backward pass into one, without changing a
single value. There is one today: a ``MaxPooling2D`` reading the output of a layer with
``activation="relu"`` (a ``Conv2D``, say). Plain backward applies the ReLU's mask to the
convolution's whole output gradient, then max pooling routes a four times smaller gradient
into it; fused, the pool applies the mask to what it routes (``relu_input=True``: its input
was the ReLU's output, so ``x > 0`` is the mask) and the convolution takes ``dL/dz`` as given
(``pre_activation=True``). Multiplying by 0 or 1 before or after the routing gives the same
numbers (tests/test_fusion.py).

``predict`` (``plan_inference``) folds a BatchNormalization into the convolution before it, and takes
the ReLU -> max-pool pair the other way round: max pooling commutes
with adding a per-channel bias and with a ReLU (both are non-decreasing, in floating point too:
``fl(z + b)`` never reverses an order), so ``relu(max(z) + b) == max(relu(z + b))`` bit for bit,
and the convolution's bias and ReLU run on the pooled map, a quarter of the size for 2x2 pools.

A convolution read by a max pooling alone whose windows tile its output (2x2 windows at
stride 2, 'valid': lenet's) computes its output in the pool's order (``plan_tiles``): one block per place
in the window, a pixel of every window each (``kernels.TiledMap``), so the pool's maximum and the routing
of its gradient are a few passes over whole blocks, and the pixels no window covers are not computed.
The same outputs and input gradients as the plain route where the windows cover the output (the products
have its rows; with fewer rows BLAS may round a product differently, 1e-7 in float32); the kernel's
gradient sums the same products in another order. ``forward`` takes the order in both modes and
``predict`` too, so ``predict`` gives ``forward(training=False)``'s bits; the convolution checks each call
(``BaseConv._tiles_fit``: an elementwise activation, at least one window). In a training step a tiled
convolution's ReLU runs after the pool's maximum, on a quarter of the values (``Model._relu_after_pool``):
``relu(max(v)) == max(relu(v))`` for ``v = z + b``, and the pool routes its gradient to the first maximum of
``v``, which is that of ``relu(v)`` wherever the ReLU's mask lets a gradient through: the same bits.

The rewrite is only valid where the pool is the activation's one reader: a second reader
(a residual branch) would add its gradient after the mask. Layers name the options they take
in ``BACKWARD_OPTIONS`` (see ``scratch.layers.base``). Nor where the activation's layer has an
``activity_regularizer``: its penalty's gradient joins the output's gradient before the mask.
"""


def _sole_readers(nodes, outputs):
    """``(node, below)`` for every node (in topological order) that reads one tensor, the output of the
    node ``below``, which no other node reads and the model does not return (``outputs``)."""
    readers = {}
    for node in nodes:
        for t in node.inbound:
            readers[id(t)] = readers.get(id(t), 0) + 1
    returned = {id(t) for t in outputs}
    for node in nodes:
        if node.as_list:
            continue
        t = node.inbound[0]
        if t.node is not None and readers[id(t)] == 1 and id(t) not in returned:
            yield node, t.node


def plan(nodes, outputs):
    """``{id(node): backward options}`` for the nodes of a graph (in topological order) whose
    backward call takes options; ``outputs``: the model's output tensors."""
    options = {}
    for node, below in _sole_readers(nodes, outputs):
        if "relu_input" not in node.layer.BACKWARD_OPTIONS:
            continue
        if below.layer.activity_regularizer is not None:  # its penalty's gradient joins dL/dy before the mask
            continue
        activation = getattr(below.layer, "activation", None)
        if "pre_activation" in below.layer.BACKWARD_OPTIONS and activation is not None and activation.name == "relu":
            options.setdefault(id(node), {})["relu_input"] = True
            options.setdefault(id(below), {})["pre_activation"] = True
    return options


def plan_tiles(nodes, outputs):
    """``{id(conv node): (th, tw)}`` for the forward pass (either mode) and ``predict``: a convolution that ``takes_tile``
    (2-D, ungrouped; with no ``activity_regularizer``, whose penalty reads the output) read only by a max
    pooling whose windows tile it (its ``tile``); ``Model.forward`` passes ``tile`` to the convolution."""
    tiles = {}
    for node, below in _sole_readers(nodes, outputs):
        tile, conv = getattr(node.layer, "tile", None), below.layer
        if (tile is not None and getattr(conv, "takes_tile", lambda: False)()
                and conv.activity_regularizer is None):
            tiles[id(below)] = tile
    return tiles


INFERENCE_ACTIVATIONS = ("relu", "linear")  # non-decreasing, and exactly so in floating point


def plan_inference(nodes, outputs):
    """``{id(conv node): (kind, id(the node after it))}`` for ``predict``, where the convolution's output is
    read by that node alone and is not a model output:

    - ``"pool"``: a max pooling after a convolution (``activate`` in its ``forward``) with a ReLU or no
      activation: the convolution stops before its bias and activation, the pool takes its maximum first,
      and the convolution's ``activate`` runs on the pooled map. The same bits.
    - ``"fold"``: a BatchNormalization after a convolution with no activation (``FOLDS_NORMALIZATION``):
      inference mode is ``z * inv + offset`` per channel, so the convolution runs with its kernel scaled by
      ``inv`` and the bias ``bias * inv + offset`` (``ConvBase.folded``), and the normalization passes its
      input on: two passes over the map fewer, the same sums rounded differently (as TensorFlow's graph
      optimizer folds Keras's; ``forward`` keeps the two layers apart)."""
    pairs = {}
    for node, below in _sole_readers(nodes, outputs):
        layer = node.layer
        if below.as_list or not (getattr(layer, "COMMUTES_WITH_NON_DECREASING", False)
                                 or getattr(layer, "FOLDS_INTO_CONVOLUTION", False)):
            continue
        activation = getattr(below.layer, "activation", None)
        if activation is None:
            continue
        if getattr(layer, "FOLDS_INTO_CONVOLUTION", False):
            if getattr(below.layer, "FOLDS_NORMALIZATION", False) and activation.name == "linear":
                pairs[id(below)] = ("fold", id(node))
        elif getattr(below.layer, "ACTIVATE_LATER", False) and activation.name in INFERENCE_ACTIVATIONS:
            pairs[id(below)] = ("pool", id(node))
    return pairs


def still_holds(kind, layer):
    """Whether a ``plan_inference`` pair still holds for the convolution ``layer``: its activation may have
    been reassigned since the model was built (``predict`` then runs the layers as they are)."""
    name = layer.activation.name
    return name == "linear" if kind == "fold" else name in INFERENCE_ACTIVATIONS
