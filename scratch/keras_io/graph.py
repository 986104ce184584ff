"""A Keras model's serialized config <-> a scratch model, and where each layer's weights live in
Keras's weight files. No TensorFlow: plain dicts and lists, as ``config.json`` holds them.

Reading (``ConfigReader``): a ``Sequential`` or ``Functional`` config (nested models included)
becomes a scratch ``Sequential`` or graph ``Model``; each Keras layer goes through the one
mapping (``scratch.keras_io.config.layer_from_config``); a Functional graph is replayed from
each layer's ``inbound_nodes`` (``keras_history = [layer, node index, tensor index]``), a
layer called twice is one layer called twice. ``ops`` Keras recorded from arithmetic on
symbolic tensors (``x + 3.0``, ``a * b``) become ``ConstantOp`` / merge layers.

Writing (``model_to_config``): the config Keras's ``keras.saving.load_model`` rebuilds, the
Functional's layers in the order Keras itself will compute for the rebuilt model
(``keras_order``: the weight file addresses layers by that order).

Weight addresses (``layers/<name>/vars/<i>``, Keras's ``saving_lib``): a model's layers are a
container whose members are named by their class in snake case, made unique in order
(``dense``, ``dense_1``...); a Functional's ``InputLayer`` s are members, a Sequential's are
not, operations are not; a nested model is a member whose own layers are under
``<its path>/layers/``. A shared layer is stored once.
"""

import numpy as np

from .. import layers as layers_mod
from ..layers.node import Input
from ..models import Model, Sequential
from ..models.functional import snake_case
from .config import (
    FILE_FORMS,
    FROM_CONFIG,
    OP_FROM_CONFIG,
    WEIGHTS_IN_CONFIG,
    KerasConfig,
    decode_args,
    layer_from_config,
    operation_from_config,
    serialize_layer,
    tensor_args,
)
from .custom import keras_class_key

MODEL_CLASSES = ("Functional", "Sequential", "Model")
DTYPES = ("float32", "float64")
OPS_MODULE = "keras.src.ops.numpy"
OP_CLASSES = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "divide": "Divide"}
class Container:
    """The names Keras gives the members of one container of a weight file (``dense``, ``dense_1``...)."""

    def __init__(self, base):
        self.base = base
        self.used = {}

    def path(self, class_name):
        name = snake_case(class_name)
        if name in self.used:
            self.used[name] += 1
            name = f"{name}_{self.used[name]}"
        else:
            self.used[name] = 0
        return f"{self.base}layers/{name}"


def policy_name(value):
    """The dtype policy's name of a serialized ``dtype`` (a string, or Keras's ``DTypePolicy`` dict)."""
    if isinstance(value, dict):
        inner = value.get("config")
        return inner.get("name") if isinstance(inner, dict) else inner, value.get("class_name")
    return value, None


def check_common(cfg):
    """What any layer may carry that the engine does not compute: refused in one line."""
    name, policy_class = policy_name(cfg.get("dtype", "float32"))
    if policy_class is not None and "Quantized" in policy_class:
        cfg.refuse("dtype", f"{policy_class}({name})", "unquantized float32 or float64 layers")
    if name is not None and name not in DTYPES:
        cfg.refuse("dtype", name, "'float32' or 'float64' (no mixed or half precision)")
    cfg.expect("data_format", ("channels_last", None), "channels_last")
    if cfg.get("lora_rank") is not None:
        cfg.refuse("lora_rank", cfg.get("lora_rank"), "None (no LoRA adapter)")
    if cfg.get("quantization_config") is not None:
        cfg.refuse("quantization_config", cfg.get("quantization_config"), "None (no quantization)")


def _refs(value):
    """``[layer, node, tensor]`` references (Keras 3: ``[a, b]`` or ``[[a, b]]``; Keras 2: ``[[a, 0, 0]]``)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [tuple(value)], False
    refs = [tuple(v[:3]) for v in value]
    return refs, len(refs) > 1  # Keras 2 wrote one input as a list of one


class ConfigReader:
    """Builds scratch models from Keras model configs; ``slots`` lists ``(path, names, layer, class)``
    of every layer holding weights, for the weight reader. ``vars_at(path, names)`` returns a
    layer's stored arrays (for the layers that keep configuration in weights)."""

    def __init__(self, where, vars_at=None, dtype=None, safe_mode=True):
        self.where = where
        self.vars_at = vars_at
        self.dtype = dtype
        self.safe_mode = safe_mode
        self.slots = []

    # -- the whole model ---------------------------------------------------------------------------
    def model(self, spec):
        """The scratch model of a serialized model (``{"class_name": "Functional", "config": ...}``)."""
        if self.dtype is None:
            self.dtype = self._model_dtype(spec)
        return self._model(spec, "", ())

    def _fail(self, text):
        raise ValueError(f"{self.where}: {text}")

    def _model_dtype(self, spec):
        found = {}

        def walk(entries):
            for entry in entries:
                if entry.get("class_name") in MODEL_CLASSES:
                    walk(entry["config"].get("layers", []))
                    continue
                config = entry.get("config") or {}
                if entry.get("class_name") == "InputLayer":
                    continue
                if isinstance(config, dict) and "dtype" in config:
                    name, _ = policy_name(config["dtype"])
                    if name in DTYPES:
                        found.setdefault(name, config.get("name"))

        walk(spec["config"].get("layers", []))
        if len(found) > 1:
            self._fail(f"layers of different dtypes ({', '.join(f'{k} in {v!r}' for k, v in found.items())}); the "
                       f"scratch engine computes a whole model in one dtype")
        return next(iter(found), "float32")

    def _model(self, spec, base, names):
        kind = spec.get("class_name")
        if kind not in MODEL_CLASSES:
            self._fail(f"the model is a {kind!r}; expected a Sequential or Functional model")
        config = spec["config"]
        if kind == "Sequential":
            model = self._sequential(config, base, names)
        else:
            model = self._functional(config, base, names)
        if config.get("trainable") is False:
            model.trainable = False
        return model

    # -- layers ------------------------------------------------------------------------------------
    def _class_key(self, entry):
        """The mapping's key of a serialized layer (``keras_class_key``): Keras's own class by its
        name, a class of one's own by its registered name if registered here (``scratch.register_layer``),
        else a refusal; a ``Lambda`` is refused (nothing in a file is run)."""
        module, registered = entry.get("module"), entry.get("registered_name")
        kind, name = entry.get("class_name"), (entry.get("config") or {}).get("name")
        if kind == "Lambda":
            self._fail(f"layer {name!r} (Lambda) holds Python code; the scratch engine never runs code from a "
                       f"file (and cannot compute a Keras-ops function without Keras, even with safe_mode=False)")
        key = keras_class_key(module, kind, registered) if module is not None or registered else kind
        if key is None or (">" in key and key not in FROM_CONFIG):
            self._fail(f"layer {name!r} is a custom object ({registered or kind!r} from module {module!r}); the "
                       f"scratch engine reads Keras's own layers and those registered with scratch.register_layer")
        return key

    def _layer(self, entry, path, names, input_shape=None):
        """The scratch twin (without weights) of one serialized Keras layer (or nested model);
        ``input_shape``: the shape it is first called on, for a file that has no ``build_config``
        (Keras 2's), where a mapping needs the rank (``axis=3`` of a BatchNormalization)."""
        if entry["class_name"] in MODEL_CLASSES:
            return self._model(entry, path + "/", names)
        kind = self._class_key(entry)
        vars_at = self.vars_at
        build = entry.get("build_config") or (None if input_shape is None else {"input_shape": input_shape})
        cfg = KerasConfig(kind, entry.get("config") or {}, build, where=self.where,
                          weights=None if vars_at is None else (lambda: vars_at(path, names)))
        check_common(cfg)
        layer = layer_from_config(cfg, self.dtype)
        if layer is None:
            self._fail(f"layer {cfg.name!r} is a {kind}, which the scratch engine does not have; supported: "
                       f"{sorted(FROM_CONFIG)}")
        self.slots.append((path, names, layer, kind))
        return layer

    def _input_shape(self, config, what):
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if shape is None or len(shape) < 2:
            self._fail(f"{what} has input shape {None if shape is None else tuple(shape)}; expected (batch, ...)")
        return tuple(None if d is None else int(d) for d in shape[1:])

    def _input_dtype(self, config):
        """An integer input (token ids for an Embedding) keeps its dtype; any other is the model's."""
        dtype = config.get("dtype")
        dtype = dtype if isinstance(dtype, str) else None
        return dtype if dtype is not None and dtype.startswith(("int", "uint")) else self.dtype

    def _sequential(self, config, base, names):
        entries = list(config.get("layers", []))
        shape = None
        if entries and entries[0].get("class_name") == "InputLayer":
            shape = self._input_shape(entries.pop(0)["config"], f"Sequential {config.get('name')!r}")
        elif entries and (entries[0].get("config") or {}).get("batch_input_shape"):
            shape = self._input_shape(entries[0]["config"], f"Sequential {config.get('name')!r}")
        elif config.get("build_input_shape"):
            shape = self._input_shape({"batch_shape": config["build_input_shape"]},
                                      f"Sequential {config.get('name')!r}")
        if shape is None:
            self._fail(f"Sequential {config.get('name')!r} has no input shape (not built)")
        if not entries:
            self._fail(f"Sequential {config.get('name')!r} has no layers")
        container = Container(base)
        made = []
        x = Input(shape, dtype=self.dtype)  # the shapes each layer is called on (for files without build_config)
        for entry in entries:
            name = (entry.get("config") or {}).get("name")
            made.append(self._layer(entry, container.path(entry["class_name"]), names + (name,),
                                    [None, *x.shape[1:]]))
            x = made[-1](x)
        return Sequential(made, input_shape=shape, name=config.get("name", "sequential"), dtype=self.dtype)

    def _functional(self, config, base, names):
        container = Container(base)
        tensors, made, calls = {}, {}, []
        for entry in config.get("layers", []):
            kind = entry.get("class_name")
            name = entry.get("name") or (entry.get("config") or {}).get("name")
            if kind == "InputLayer":
                container.path(kind)
                t = Input(self._input_shape(entry["config"], f"input {name!r}"), name=name,
                          dtype=self._input_dtype(entry["config"]))
                tensors[(name, 0, 0)] = t
                continue
            module = entry.get("module")
            if (isinstance(module, str) and module.startswith("keras.src.ops")) or \
                    (module is None and _looks_like_op(entry)):
                made[name] = ("op", entry)
            else:  # made at its first call (its input shape known), or after all calls if it has none
                made[name] = ("layer", entry, container.path(kind), names + (name,))
            for k, node in enumerate(entry.get("inbound_nodes", [])):
                calls.append((name, k, node))
        pending = list(calls)
        while pending:  # replay the calls in any order their inputs allow
            progressed = False
            for item in list(pending):
                name, k, node = item
                args, as_list, constants = self._node_arguments(name, node)
                if all(r in tensors for r in args):
                    inputs = [tensors[r] for r in args]
                    layer = made[name]
                    if isinstance(layer, tuple) and layer[0] == "op":
                        layer = made[name] = self._operation(layer[1], node)
                    elif isinstance(layer, tuple):
                        shape = [[None, *t.shape[1:]] for t in inputs] if as_list else [None, *inputs[0].shape[1:]]
                        layer = made[name] = self._layer(*layer[1:], input_shape=shape)
                    if isinstance(layer, (layers_mod.merging._Merge, layers_mod.Op)) and not isinstance(
                            layer, layers_mod.ConstantOp):
                        as_list = isinstance(layer, layers_mod.merging._Merge) or layer.takes_list
                    tensors[(name, k, 0)] = layer(inputs if as_list else inputs[0])
                    pending.remove(item)
                    progressed = True
            if not progressed:
                missing = sorted({r[0] for n, _, node in pending for r in self._node_arguments(n, node)[0]
                                  if r not in tensors})
                self._fail(f"model {config.get('name')!r}: layer calls need tensors of {missing}, which no input or "
                           f"layer call makes")
        for layer in made.values():  # layers no call reaches: made, so their weights are read
            if isinstance(layer, tuple) and layer[0] == "layer":
                self._layer(*layer[1:])
        ins, multi_in = _refs(config["input_layers"])
        outs, multi_out = _refs(config["output_layers"])
        try:
            inputs = [tensors[r] for r in ins]
            outputs = [tensors[r] for r in outs]
        except KeyError as e:
            self._fail(f"model {config.get('name')!r}: tensor {e.args[0]} is not made by any layer")
        return Model(inputs if multi_in else inputs[0], outputs if multi_out else outputs[0],
                     name=config.get("name", "functional"), dtype=self.dtype)

    def _node_arguments(self, name, node):
        """``(tensor refs, as_list, constants)`` of one call (Keras 3's ``{"args", "kwargs"}`` or Keras 2's list)."""
        if isinstance(node, dict):
            args, kwargs = node.get("args", []), node.get("kwargs") or {}
            for key, value in kwargs.items():
                if value is not None and key != "training":
                    self._fail(f"layer {name!r} is called with {key}={value!r}; the scratch engine takes only the "
                               f"input tensors")
            refs = [tuple(t.ref) for t in tensor_args(decode_args(args))]
            return refs, len(args) == 1 and isinstance(args[0], list), []
        refs = [tuple(r[:3]) for r in node]
        for r in node:
            if len(r) > 3 and r[3]:
                self._fail(f"layer {name!r} is called with {r[3]!r}; the scratch engine takes only the input tensors")
        return refs, len(refs) > 1, []

    def _operation(self, entry, node):
        """An operation Keras recorded on symbolic tensors (``x + 3.0``, ``ops.sum(x, axis=-1)``), through
        the mapping's operation registry (``mapping/ops.py``)."""
        config = dict(entry.get("config") or {})
        config.setdefault("name", entry.get("name"))
        cfg = KerasConfig(entry["class_name"], config, where=self.where)
        if isinstance(node, dict):
            args, kwargs = decode_args(node.get("args", [])), node.get("kwargs") or {}
        else:  # Keras 2: [[layer, node, tensor, kwargs], ...]
            self._fail(f"operation {cfg.name!r} ({cfg.class_name}) in a Keras 2 call list; not read here")
        layer, _ = operation_from_config(cfg, args, {k: v for k, v in kwargs.items() if v is not None}, self.dtype)
        return layer


def _looks_like_op(entry):
    """In a legacy ``.h5`` config (no ``module``), an operation is told from a layer of the same class
    name (the ``Add`` of ``a + b`` from the ``Add`` layer) by its config: a layer's has ``trainable``."""
    config = entry.get("config") or {}
    return entry.get("class_name") in OP_FROM_CONFIG and "trainable" not in config


# -- writing -----------------------------------------------------------------------------------------
def _policy(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}


def _tensor(t, ref, dtype):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *t.shape[1:]], "dtype": dtype, "keras_history": list(ref)}}


def keras_order(model):
    """The graph's operations (layers, input tensors) in the order Keras's ``map_graph`` gives the
    rebuilt Functional (deepest first; within a depth, by first visit of a depth-first walk from
    the outputs): the order of its ``layers`` and so of its weight file."""
    def node_key(t):
        return ("input", id(t)) if t.node is None else ("node", id(t.node))

    def op_key(t):
        return ("input", id(t)) if t.node is None else ("layer", id(t.node.layer))

    objects = {("input", id(t)): t for t in model.inputs}
    objects.update({("layer", id(layer)): layer for layer in model.layers})
    index, post, done = {}, [], set()
    for out in model.outputs:  # Keras's _build_map: operations indexed in pre-order, nodes listed in post-order
        stack = [(out, False)]
        while stack:
            t, expanded = stack.pop()
            if expanded:
                done.add(node_key(t))
                post.append(t)
                continue
            if node_key(t) in done:
                continue
            index.setdefault(op_key(t), len(index))
            stack.append((t, True))
            if t.node is not None:
                stack.extend((u, False) for u in reversed(t.node.inbound))
    depth, op_depth = {}, {}
    for t in reversed(post):
        d = max(depth.setdefault(node_key(t), 0), op_depth.get(op_key(t), 0))
        op_depth[op_key(t)] = depth[node_key(t)] = d
        if t.node is not None:
            for u in t.node.inbound:
                depth[node_key(u)] = max(d + 1, depth.get(node_key(u), 0))
    for t in model.inputs:  # an input no output needs: depth 0, first
        if op_key(t) not in op_depth:
            op_depth[op_key(t)], index[op_key(t)] = 0, -1
    return [objects[k] for k in sorted(op_depth, key=lambda k: (-op_depth[k], index[k]))]


def _keras_class(layer):
    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return "Functional"
    found = serialize_layer(layer)
    return found["class_name"] if found else type(layer).__name__


class ConfigWriter:
    """Writes scratch models as Keras serializes them; ``slots`` lists ``(path, layer, weights)`` of every
    layer (``weights``: what the file holds when not ``layer.get_weights()``, else None)."""

    def __init__(self):
        self.slots = []

    def model(self, model, base="", prefix=None):
        """The serialized model; ``prefix``: a scratch layer (a ``Rescaling``) written first, on the input."""
        if isinstance(model, Sequential):
            return self._sequential(model, base, prefix)
        return self._functional(model, base, prefix)

    def _layer_entry(self, layer, path):
        if isinstance(layer, Model):
            return self.model(layer, path + "/")
        found = serialize_layer(layer)
        if found is None:
            raise ValueError(f"save: layer {layer.label} has no Keras twin here")
        found["config"]["dtype"] = _policy(layer.dtype.name)
        shape = getattr(layer, "input_shape", None)
        if isinstance(shape, tuple) and not isinstance(layer, layers_mod.merging._Merge):
            found["build_config"] = {"input_shape": [None, *shape[1:]]}
        weights = None
        if found["class_name"] in FILE_FORMS:
            found["config"], weights = FILE_FORMS[found["class_name"]](layer, found["config"])
        self.slots.append((path, layer, weights))
        return found

    def _sequential(self, model, base, prefix):
        dtype = model.dtype.name
        shape = [None, *model.input_shape[1:]]
        entries = [{"module": "keras.layers", "class_name": "InputLayer",
                    "config": {"batch_shape": shape, "dtype": dtype, "sparse": False, "ragged": False,
                               "name": "input_layer", "optional": False}, "registered_name": None}]
        container = Container(base)
        for layer in ([prefix] if prefix is not None else []) + list(model.layers):
            entries.append(self._layer_entry(layer, container.path(_keras_class(layer))))
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": model.name, "trainable": model.trainable, "dtype": _policy(dtype),
                           "layers": entries, "build_input_shape": shape},
                "registered_name": None, "build_config": {"input_shape": shape}}

    def _functional(self, model, base, prefix):
        dtype = model.dtype.name
        model._name_inputs()
        if prefix is not None and len(model.inputs) != 1:
            raise ValueError(f"save: model {model.name!r} has {len(model.inputs)} inputs; the preprocessing layer "
                             f"needs one")
        calls, index = {}, {}
        for node in model.nodes:
            index[id(node)] = calls.get(node.layer, 0)
            calls[node.layer] = index[id(node)] + 1

        def ref(t):
            if t.node is None:
                if prefix is not None:
                    return (prefix.name, 0, 0)
                return (t.name, 0, 0)
            return (t.node.layer.name, index[id(t.node)], 0)

        container = Container(base)
        entries = []
        for op in keras_order(model):
            if not isinstance(op, layers_mod.Layer):  # an input tensor
                container.path("InputLayer")
                entries.append({"module": "keras.layers", "class_name": "InputLayer",
                                "config": {"batch_shape": [None, *op.shape[1:]], "dtype": dtype, "sparse": False,
                                           "ragged": False, "name": op.name, "optional": False},
                                "registered_name": None, "name": op.name, "inbound_nodes": []})
                if prefix is not None:
                    entry = self._layer_entry(prefix, container.path("Rescaling"))
                    entries.append({**entry, "name": prefix.name,
                                    "inbound_nodes": [{"args": [_tensor(op, (op.name, 0, 0), dtype)], "kwargs": {}}]})
                continue
            nodes = [node for node in model.nodes if node.layer is op]
            if isinstance(op, layers_mod.ConstantOp):
                t = nodes[0].inbound[0]
                tensor = _tensor(t, ref(t), dtype)
                args = [op.value, tensor] if op.reverse else [tensor, op.value]
                entries.append({"module": OPS_MODULE, "class_name": OP_CLASSES[op.op], "config": {"name": op.name},
                                "registered_name": OP_CLASSES[op.op], "name": op.name,
                                "inbound_nodes": [{"args": args, "kwargs": {}}]})
                continue
            entry = self._layer_entry(op, container.path(_keras_class(op)))
            inbound = []
            for node in nodes:
                tensors = [_tensor(t, ref(t), dtype) for t in node.inbound]
                inbound.append({"args": [tensors] if node.as_list else tensors, "kwargs": {}})
            entries.append({**entry, "name": op.name, "inbound_nodes": inbound})

        def refs(ts, multi):
            out = [list(ref(t)) if t.node is not None else [t.name, 0, 0] for t in ts]
            return out if multi else out[0]

        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": {"name": model.name, "trainable": model.trainable, "layers": entries,
                           "input_layers": refs(model.inputs, model._multi_in),
                           "output_layers": refs(model.outputs, model._multi_out)},
                "registered_name": "Functional", "build_config": {"input_shape": None}}


def expected_weights(layer):
    """``{name: array}`` a scratch layer holds, in Keras order."""
    return layer._weights()


def load_slots(slots, vars_at, where):
    """Set every layer's weights from ``vars_at(path, names)``, refusing any mismatch in one line."""
    for path, names, layer, kind in slots:
        expected = expected_weights(layer)
        stored = vars_at(path, names)
        if not expected and kind in WEIGHTS_IN_CONFIG:  # its stored weights are its configuration
            if stored:
                try:
                    WEIGHTS_IN_CONFIG[kind](layer, stored)
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
            continue
        if stored is None:
            if expected:
                raise ValueError(f"{where}: layer {layer.name!r} ({kind}) has no weights in the file (expected "
                                 f"{list(expected)} at {path!r})")
            continue
        if len(stored) != len(expected):
            raise ValueError(f"{where}: layer {layer.name!r} ({kind}) expects {len(expected)} weight arrays "
                             f"{list(expected)}, the file has {len(stored)}")
        for (key, want), got in zip(expected.items(), stored):
            if tuple(got.shape) != want.shape:
                raise ValueError(f"{where}: layer {layer.name!r} ({kind}) weight {key!r} expects shape {want.shape}, "
                                 f"the file has {tuple(got.shape)}")
        layer.set_weights([np.asarray(a).astype(layer.dtype, copy=False) for a in stored])
