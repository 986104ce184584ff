"""The models of transfer learning, as a library: keep a trained model's base, put a new head on it.

``transfer_model(source, classes, ...)`` (any scratch model: a graph, or a ``Sequential``) returns
the transfer model and a record of what it kept, froze and added; a source that takes larger or
3-channel images gets an input adapter so that it trains on MNIST. ``transfer_description`` and
``initial_model`` do the same for a ``Sequential`` as an architecture description (what
``train.py transfer`` writes for a Sequential source). ``train.py transfer`` (``cli/transfer.py``)
is the command around them.
"""

import copy
from pathlib import Path

import numpy as np

import scratch
from cli.engines import load_scratch_model

POOLING_ENDS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D")

MNIST_SHAPE = (28, 28, 1)  # what the command line trains on



def load_source(path, arch=None, dtype="float32"):
    """The trained model to transfer from, as a scratch model (``Sequential``, or ``Model`` for a
    Functional ``.keras`` file), from either engine's file."""
    path = str(path)
    if not Path(path).is_file():
        raise ValueError(f"--source {path}: file not found")
    return load_scratch_model(path, arch=arch, dtype=dtype, what="--source")



def _cut(layers, base_until, what):
    """How many of ``layers`` the base keeps."""
    names = [layer.name for layer in layers]
    if base_until is not None:
        if base_until not in names:
            raise ValueError(f"--base-until {base_until!r}: {what} has no layer of that name; its layers: "
                             f"{', '.join(names)}")
        return names.index(base_until) + 1
    ends = [i for i, layer in enumerate(layers) if type(layer).__name__ in POOLING_ENDS]
    if not ends or ends[0] == 0:
        raise ValueError(f"{what} has no layer before a Flatten or global pooling layer to end the base at; name the "
                         f"last layer of the base with --base-until (its layers: {', '.join(names)})")
    return ends[0]



def _weighted(layers, keep_bn_frozen=False):
    """The layers with trainable weights (what ``--fine-tune K`` counts); with ``keep_bn_frozen``,
    not the ``BatchNormalization`` layers, which then stay frozen (``--fine-tune-bn frozen``)."""
    return [layer for layer in layers if layer.params
            and not (keep_bn_frozen and isinstance(layer, scratch.BatchNormalization))]



def _unique(name, taken):
    candidate, k = name, 0
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate



def head_specs(base_shape, classes, pooling=None, hidden=None, dropout=None, taken=(), default="flatten"):
    """The new head's layer specs: pooling or ``Flatten`` for an image-shaped base output
    (``pooling``, None: ``default``), an optional hidden ``Dense`` (relu), an optional
    ``Dropout``, then ``Dense(classes)`` logits. Pooling asked of a base that ends in vectors is
    an error (it would be ignored)."""
    taken = set(taken)
    specs = []
    if len(base_shape) == 4:
        pooling = pooling or default
        cls = {"flatten": "Flatten", "avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}[pooling]
        specs.append({"class_name": cls, "config": {"name": _unique("head_" + ("flatten" if pooling == "flatten"
                                                                                  else "pooling"), taken)}})
    elif len(base_shape) != 2:
        raise ValueError(f"--base-until: the base's output has shape {base_shape}; the head takes images "
                         f"(N, H, W, C) or vectors (N, D)")
    elif pooling is not None:
        raise ValueError(f"--head-pooling {pooling}: the base ends in vectors {tuple(base_shape)}, and pooling applies "
                         f"to images (N, H, W, C); leave it out, or end the base earlier with --base-until")
    if hidden:
        specs.append({"class_name": "Dense", "config": {"name": _unique("head_hidden", taken), "units": hidden,
                                                        "activation": "relu"}})
    if dropout:
        specs.append({"class_name": "Dropout", "config": {"name": _unique("head_dropout", taken), "rate": dropout}})
    specs.append({"class_name": "Dense", "config": {"name": _unique("head_output", taken), "units": classes}})
    return specs



def transfer_description(source, classes, base_until=None, fine_tune=0, baseline=False, pooling=None,
                         hidden=None, dropout=None, what="--source", keep_bn_frozen=False):
    """``(desc, info)``: the transfer architecture (a Sequential description, the frozen base
    layers ``"trainable": false``) and what the run records of it (kept, frozen, trainable
    layers). ``fine_tune``: unfreeze the last K base layers with weights; ``keep_bn_frozen``:
    the base's ``BatchNormalization`` layers are not counted and stay frozen, so they run in
    inference mode while the layers around them fine-tune (Keras's advice); ``baseline``: every
    layer trainable (the same network trained from scratch)."""
    if not isinstance(source, scratch.Sequential):
        raise ValueError(f"{what}: {source.name!r} is a Functional (graph) model; the command line transfers "
                         f"Sequential models, in Python use cli.transfer_models.transfer_model(source, classes)")
    layers = source.layers
    cut = _cut(layers, base_until, f"{what} ({source.name})")
    base = layers[:cut]
    weighted = _weighted(base, keep_bn_frozen)
    if fine_tune > len(weighted):
        raise ValueError(f"--fine-tune {fine_tune}: the base has only {len(weighted)} layer(s) with weights "
                         f"({', '.join(la.name for la in weighted) or 'none'})")
    unfrozen = {la.name for la in weighted[len(weighted) - fine_tune:]} if fine_tune else set()
    specs = []
    for layer in base:
        spec = copy.deepcopy(scratch.layers.serialize(layer))
        spec["config"].pop("dtype", None)
        spec["config"]["trainable"] = bool(baseline or layer.name in unfrozen)
        specs.append(spec)
    head = head_specs(base[-1].output_shape, classes, pooling, hidden, dropout, taken={la.name for la in base})
    desc = {"name": f"transfer-{source.name}", "input_shape": list(source.input_shape[1:]),
            "preprocess": source.preprocess,
            "loss": {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}, "layers": specs + head}
    info = {"source_model": source.name, "kept_layers": [la.name for la in base],
            "dropped_layers": [la.name for la in layers[cut:]],
            "frozen_layers": [s["config"]["name"] for s in specs if not s["config"]["trainable"]],
            "trainable_layers": [s["config"]["name"] for s in specs + head
                                 if s["config"].get("trainable", True)],
            "head_layers": [s["config"]["name"] for s in head], "classes": classes,
            "fine_tune": fine_tune, "baseline": baseline, "head_pooling": _pooling_of(head),
            "fine_tune_bn": ("frozen" if keep_bn_frozen else "trainable") if fine_tune else None}
    return desc, info



def initial_model(desc, info, source, dtype, seed):
    """The transfer model, built from ``desc`` with seeded weights, its base then given the
    source's weights (unless a baseline: random weights throughout)."""
    model = scratch.build_model(desc, dtype=dtype, seed=seed)
    if not info["baseline"]:
        for layer, src in zip(model.layers, source.layers[:len(info["kept_layers"])]):
            layer.set_weights([np.asarray(w, dtype=model.dtype) for w in src.get_weights()])
    return model



def transfer_model(source, classes, base_until=None, fine_tune=0, pooling=None, hidden=None, dropout=None,
                   seed=0, input_shape=None, baseline=False, what="--source", keep_bn_frozen=False):
    """``(model, info)``: transfer learning on a graph ``scratch.Model`` (a Functional ``.keras``
    file, a ``keras.applications`` network through ``keras_ref.from_keras``), Keras's recipe.

    The source is copied (its config and weights: the source itself is left as it is); the base
    is the graph from its inputs to the output of ``base_until`` (default: the tensor that enters
    the first ``Flatten`` or global pooling that every path to the output passes through, the
    top's, not a squeeze-and-excitation block's), frozen (``trainable=False``; the last ``fine_tune``
    base layers with weights stay trainable); the head is called on that tensor: ``pooling``
    (``"avg"``, ``"max"``, ``"flatten"``) when it is an image, an optional hidden ``Dense``
    (relu) and ``Dropout``, and ``Dense(classes)`` logits, its weights seeded from ``seed``
    (``pooling`` None: ``"avg"``, as ``keras.applications``' ``pooling="avg"``).
    The result trains like any model (``compile``/``fit``) and converts with ``keras_ref.to_keras``.

    ``input_shape`` (``(H, W, C)``): the new task's images, when they differ from the source's
    (MNIST's 28x28x1 into a ``keras.applications`` network of at least 32x32x3). The model then
    starts with an adapter in front of the base, a nested model called on the new input:
    ``ZeroPadding2D`` to the source's height and width (centred; zeros in the model's input
    space, after the preprocessing), and for one channel into three, ``Concatenate`` of three
    copies (a grey image as RGB). ``baseline``: every layer trainable, all weights drawn
    fresh from ``seed`` (the same network trained from scratch). ``keep_bn_frozen``: the base's
    ``BatchNormalization`` layers are not counted by ``fine_tune`` and stay frozen (inference mode).
    """
    if not isinstance(source, scratch.Model):
        raise ValueError(f"transfer_model: expected a scratch.Model (graph), received {type(source).__name__}; "
                         f"a Sequential source goes through transfer_description")
    if len(source.inputs) != 1:
        raise ValueError(f"{what}: model {source.name!r} has {len(source.inputs)} inputs; transfer takes a model of "
                         f"one image input")
    clone = scratch.Model.from_config(source.get_config(), dtype=source.dtype.name)
    clone.set_weights(source.get_weights())
    names = [layer.name for layer in clone.layers]
    leaves_of_source = [la.name for la in scratch.leaf_layers(clone)]  # nested models opened
    taken = set(names) | set(leaves_of_source)
    if base_until is not None:
        calls = [node for node in clone.nodes if node.layer.name == base_until]
        if not calls:
            raise ValueError(f"--base-until {base_until!r}: model {source.name!r} has no layer of that name; its "
                             f"layers: {', '.join(names)}")
        if len(calls) > 1:
            raise ValueError(f"--base-until {base_until!r}: that layer is called {len(calls)} times in "
                             f"{source.name!r}; its output is ambiguous")
        tip = calls[0].output
    else:
        ends = [node for node in clone.nodes
                if type(node.layer).__name__ in POOLING_ENDS and _every_path_passes(clone, node)]
        if not ends:
            raise ValueError(f"model {source.name!r} has no Flatten or global pooling layer that every path to its "
                             f"output passes through, to end the base at; name the last layer of the base with "
                             f"--base-until (its layers: {', '.join(names)})")
        tip = ends[0].inbound[0]
    base = scratch.Model(clone.inputs[0], tip, name=f"{source.name}_base")
    base_layers = list(scratch.leaf_layers(base))
    weighted = _weighted(base_layers, keep_bn_frozen)
    if fine_tune > len(weighted):
        raise ValueError(f"--fine-tune {fine_tune}: the base has only {len(weighted)} layer(s) with weights")
    unfrozen = weighted[len(weighted) - fine_tune:] if fine_tune else []
    for layer in base.layers:  # a nested model frozen as a whole: opened, its layers set one by one below
        if isinstance(layer, scratch.Model):
            layer.trainable = True
    for layer in base_layers:
        layer.trainable = any(layer is u for u in unfrozen)
    inp, x = clone.inputs[0], tip
    adapter = _input_adapter(clone.inputs[0].shape[1:], input_shape, what, source.name, source.dtype.name, taken,
                             _background(source.preprocess))
    if adapter:
        inp = scratch.Input(tuple(input_shape), dtype=source.dtype.name, name="transfer_input")
        a = inp
        for layer, copies in adapter:
            a = layer([a] * copies) if copies else layer(a)
        x = base(a)
    k = 0
    for spec in head_specs(tip.shape, classes, pooling, hidden, dropout, taken=taken, default="avg"):
        layer = scratch.layers.deserialize(spec, dtype=source.dtype.name)
        layer.init_seed = int(seed) * 1000 + k
        k += 1
        x = layer(x)
    model = scratch.Model(inp, x, name=f"transfer-{source.name}", preprocess=source.preprocess,
                          loss={"class_name": "SparseCategoricalCrossentropy", "from_logits": True})
    if baseline:  # the same graph, every layer trainable, fresh weights
        for layer in base_layers:
            layer.trainable = True
        model = scratch.Model.from_config(model.get_config(), dtype=source.dtype.name, seed=seed)
    leaves = list(scratch.leaf_layers(model))
    base_names, adapters = {la.name for la in base_layers}, [layer.name for layer, _ in adapter]
    base_layers = [la for la in leaves if la.name in base_names]
    head = [la for la in leaves if la.name not in base_names and la.name not in adapters]
    info = {"source_model": source.name, "kept_layers": [la.name for la in base_layers],
            "dropped_layers": [n for n in leaves_of_source if n not in base_names],
            "frozen_layers": [la.name for la in base_layers if not la.trainable],
            "trainable_layers": [la.name for la in leaves if la.trainable and la.name not in adapters],
            "head_layers": [la.name for la in head], "classes": classes, "fine_tune": fine_tune, "baseline": baseline,
            "input_adapter": adapters, "head_pooling": _pooling_of(head),
            "fine_tune_bn": ("frozen" if keep_bn_frozen else "trainable") if fine_tune else None}
    return model, info



def _pooling_of(head):
    """What the head does with the base's images: "flatten", "avg", "max", or None (vectors)."""
    names = {"Flatten": "flatten", "GlobalAveragePooling2D": "avg", "GlobalMaxPooling2D": "max"}
    first = head[0] if head else None
    cls = first["class_name"] if isinstance(first, dict) else type(first).__name__
    return names.get(cls)



def _every_path_passes(model, node):
    """Whether every path from the model's inputs to its outputs goes through ``node``: the
    top's pooling does, a squeeze-and-excitation block's does not (its block's input also
    reaches the output around it, through the ``Multiply``)."""
    seen, stack = set(), list(model.outputs)
    while stack:
        t = stack.pop()
        if t.node is None:
            return False  # reached an input without passing through node
        if t.node is node or id(t.node) in seen:
            continue
        seen.add(id(t.node))
        stack.extend(t.node.inbound)
    return True



def _background(preprocess):
    """What a black (0) pixel becomes under ``preprocess``: the value the adapter pads with."""
    return float(scratch.preprocess(np.zeros((1, 1, 1, 1), np.uint8), preprocess, "float64")[0, 0, 0, 0])



def _input_adapter(source_shape, input_shape, what, name, dtype, taken, background=0.0):
    """``[(layer, copies)]`` turning images of ``input_shape`` into the source's ``source_shape``
    (``copies``: the layer takes that many copies of its input), ``[]`` when they match. The
    padding is the preprocessed black of ``background`` (``ZeroPadding2D`` between two
    ``Rescaling`` shifts when it is not 0, as for ``center``)."""
    source_shape = tuple(source_shape)
    if input_shape is None or tuple(input_shape) == source_shape:
        return []
    (h, w, c), (sh, sw, sc) = tuple(input_shape), source_shape
    if h > sh or w > sw or c not in (sc, 1):
        channels = f"{sc} channel{'s' if sc > 1 else ''}" + (" (or 1, repeated)" if sc > 1 else "")
        raise ValueError(f"{what}: model {name!r} takes {sh}x{sw}x{sc} images; the task's are {h}x{w}x{c}, which "
                         f"cannot be padded into them: expected images of at most {sh}x{sw} with {channels}")
    taken = set(taken)
    adapter = []
    if (h, w) != (sh, sw):
        top, left = (sh - h) // 2, (sw - w) // 2
        pad = scratch.ZeroPadding2D(((top, sh - h - top), (left, sw - w - left)), dtype=dtype,
                                    name=_unique("transfer_padding", taken))
        if background:
            adapter.append((scratch.Rescaling(1.0, offset=-background, dtype=dtype,
                                              name=_unique("transfer_shift", taken)), 0))
        adapter.append((pad, 0))
        if background:
            adapter.append((scratch.Rescaling(1.0, offset=background, dtype=dtype,
                                              name=_unique("transfer_unshift", taken)), 0))
    if c != sc:
        adapter.append((scratch.Concatenate(axis=-1, dtype=dtype, name=_unique("transfer_channels", taken)), sc))
    return adapter
