"""``Sequential``: a list of layers in front of the graph engine, as Keras builds it.

``build`` calls each layer on the output of the one before, starting from an ``Input`` of the
given shape, and hands the resulting graph to ``Model``: forward, backward, weights, summary and
checkpoints are the graph's. What is Sequential's own: ``add`` (naming and seeding the layers in
order), building late (from the first input's shape), and its config, the architecture
description that ``scratch.architectures``, the command line and JSON files use.
"""

import json

import numpy as np

from .. import architectures
from .. import layers as layers_mod
from ..checkpoint import CONTAINERS
from ..layers.base import Layer
from ..layers.node import Input, SymbolicTensor
from .functional import DEFAULT_LOSS, Model, derived_seed, unique_name


class Sequential(Model):
    """A linear stack of layers with Keras's model API.

    ``Sequential(layers, input_shape=(28, 28, 1), dtype="float32", seed=0)`` builds at once
    when ``input_shape`` (no batch axis, any rank) is given or the first element is a
    ``scratch.Input``, else on the first call. ``seed`` fixes the initial weights and the dropout
    masks: layer ``i`` draws from ``seed * 1000 + i``.
    """

    CONFIG_CLASS = "Sequential"

    def __init__(self, layers=(), input_shape=None, name="sequential", dtype="float32", seed=None,
                 preprocess="scale", loss=None):
        Layer.__init__(self, name=name, dtype=dtype)  # the graph (Model's part) comes with build
        self.seed = seed
        self.preprocess = preprocess
        self.loss_spec = loss or dict(DEFAULT_LOSS)
        self.layers = []
        self.optimizer = None
        self.loss = None
        self.built = False
        self.input_shape = None
        self._input = None
        for layer in layers:
            self.add(layer)
        if input_shape is not None:
            self.build((None,) + tuple(input_shape))
        elif self._input is not None:
            self.build(self._input.shape)

    @property
    def _kind(self):
        return "Sequential"

    # -- structure ---------------------------------------------------------------------
    def add(self, layer):
        """Append ``layer`` (named and seeded in order); a ``scratch.Input`` may come first, as in Keras."""
        if isinstance(layer, SymbolicTensor):
            if layer.node is not None or self.layers or self._input is not None:
                raise ValueError(f"Sequential: an Input may only be the first element, received {layer!r} after "
                                 f"{len(self.layers)} layer(s)")
            if layer.dtype != self.dtype and not np.issubdtype(layer.dtype, np.integer):
                raise ValueError(f"Sequential: the Input is {layer.dtype.name}, the model {self.dtype.name}")
            self._input = layer
            return
        if not isinstance(layer, layers_mod.Layer):
            raise ValueError(f"Sequential: can only add scratch layers (or a scratch.Input first), received "
                             f"{type(layer).__name__}")
        if layer.dtype != self.dtype:
            raise ValueError(f"Sequential: layer {layer.label} has dtype {layer.dtype.name}, the model {self.dtype.name}")
        if layer.name is None:
            layer.name = unique_name(layer, {existing.name for existing in self.layers})
        elif any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"Sequential: duplicate layer name {layer.name!r}")
        if self.seed is not None:
            seed = derived_seed(self.seed, len(self.layers))
            if layer.init_seed is None:
                layer.init_seed = seed
            if isinstance(layer, layers_mod.regularization.NoiseLayer) and layer.seed is None:  # draws too, unless seeded
                layer.rng = np.random.default_rng(seed)
        self.layers.append(layer)
        if self.built:  # a layer added to a built model: the graph grows with it
            self.build(self.input_shape)

    def build(self, input_shape):
        """Call every layer in turn on an ``Input`` of ``input_shape`` (batch axis first) and make
        the graph; a layer built before for another shape is built again (weights redrawn)."""
        shape = tuple(input_shape)
        if len(shape) < 2 or shape[0] is not None and not isinstance(shape[0], int):
            raise ValueError(f"Sequential: input_shape must be (batch, ...) with the batch axis first, received {shape}")
        if not self.layers:
            raise ValueError("Sequential: no layers to build; add() some first")
        x = Input(shape[1:], dtype=self._input_dtype(), name=self._input.name if self._input is not None else None)
        inputs = x
        for layer in self.layers:
            if layer.built and not isinstance(layer, Model) and tuple(layer.input_shape[1:]) != tuple(x.shape[1:]):
                layer.build(x.shape)  # as before: the model's input decides the layer's shapes
            x = layer(x)
        self._init_graph(inputs, x)
        self.input_shape = (None,) + tuple(shape[1:])

    def _input_dtype(self):
        """The given ``Input``'s dtype; else ``int32`` when the first layer reads integers (an
        Embedding), else the model's dtype."""
        if self._input is not None:
            return self._input.dtype
        return np.dtype("int32") if self.layers[0].INTEGER_INPUT else self.dtype

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"Sequential.{what}: the model is not built; give input_shape or call it once")

    def connect_check(self, shape, as_list):
        if not self.built and not as_list:
            self.build(shape)
        super().connect_check(shape, as_list)

    @property
    def output_shape(self):
        return self.outputs[0].shape if self.built else None

    @output_shape.setter
    def output_shape(self, value):  # the graph's output tensor holds it
        pass

    # -- computing: build on the first input ---------------------------------------------
    def _as_input(self, x, what):
        if not self.built:
            x = np.asarray(x)
            if x.ndim < 2:
                raise ValueError(f"Sequential.{what}: expected a batch of inputs (N, ...), received shape {x.shape}")
            self.build((None,) + x.shape[1:])
        return super()._as_input(x, what)

    def forward(self, x, training=False):
        """Run every layer's ``forward`` (building the model for ``x``'s shape on the first call)."""
        if not self.built:
            self.build((None,) + np.shape(x)[1:])
        return super().forward(x, training=training)

    def backward(self, dy, logits=False, trainable_only=False, inputs_needed=None, penalties=False):
        self._require_built("backward")
        return super().backward(dy, logits=logits, trainable_only=trainable_only, inputs_needed=inputs_needed,
                                penalties=penalties)

    def _summary_rows(self):
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        return ("Layer (type)", "Output Shape", "Param #"), rows

    # -- config --------------------------------------------------------------------------
    def get_config(self):
        """The architecture description (see ``scratch.architectures``) of this model."""
        self._require_built("get_config")
        return {"name": self.name, "dtype": self.dtype.name, "input_shape": list(self.input_shape[1:]),
                "preprocess": self.preprocess, "loss": dict(self.loss_spec),
                "layers": [layers_mod.serialize(layer) if not isinstance(layer, Model) else
                           {"class_name": layer.CONFIG_CLASS, "config": layer.get_config()} for layer in self.layers]}

    @classmethod
    def from_config(cls, config, dtype=None, seed=None):
        desc = architectures.validate(json.loads(json.dumps(config)), "model config")
        dtype = dtype or desc.get("dtype", "float32")
        layer_list = []
        for i, spec in enumerate(desc["layers"]):
            nested_seed = None if seed is None else derived_seed(seed, i)
            if spec["class_name"] in ("Model", "Sequential"):
                kind = "graph" if spec["class_name"] == "Model" else "sequential"
                layer_list.append(CONTAINERS[kind].from_config(spec["config"], dtype=dtype, seed=nested_seed))
                continue
            spec = {"class_name": spec["class_name"],
                    "config": {k: v for k, v in spec["config"].items() if k != "dtype"}}
            layer_list.append(layers_mod.deserialize(spec, dtype=dtype))
        return cls(layer_list, input_shape=desc["input_shape"], name=desc.get("name", "sequential"),
                   dtype=dtype, seed=seed, preprocess=desc["preprocess"], loss=desc["loss"])


CONTAINERS["sequential"] = Sequential
