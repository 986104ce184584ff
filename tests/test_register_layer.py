"""``scratch.register_layer``'s checks, and how a serialized Keras layer is matched: Keras's own class by
its class name, a class of one's own only by its registered ``package>Class`` name (the whole example,
both engines and in parity, is docs/custom_layers.md, run by tests/test_custom_layers_doc.py)."""

import pytest

import scratch
from scratch.keras_io.custom import keras_class_key


@pytest.mark.parametrize("module, class_name, registered, key", [
    ("keras.layers", "Dense", None, "Dense"),  # Keras's own layer, as a .keras file writes it
    ("keras.src.applications.convnext", "LayerScale", "LayerScale", "LayerScale"),  # defined by keras.applications
    (None, "Dense", "Dense", None),  # a class of one's own named Dense, unregistered: not keras.layers.Dense
    ("mymodels", "Dense", "Custom>Dense", "Custom>Dense"),  # registered: by its registered name only
    (None, "ScaledTanh", "mypkg>ScaledTanh", "mypkg>ScaledTanh"),
])
def test_serialized_layers_are_matched_by_class_not_name(module, class_name, registered, key):
    assert keras_class_key(module, class_name, registered) == key


class Twin(scratch.Layer):
    def forward(self, x, training=False):
        self._cache = None
        return x


@pytest.mark.parametrize("args, message", [
    ((object, "mypkg>X"), "expected a scratch.Layer subclass"),
    ((Twin, "Twin"), "registered name 'package>ClassName'"),
    ((Twin, "a>b>c"), "registered name"),
    ((type("Dense", (scratch.Layer,), {}), "mypkg>Dense"), "already has a class named 'Dense'"),
])
def test_register_layer_refuses(args, message):
    before = dict(scratch.LAYERS)
    with pytest.raises(ValueError, match=message):
        scratch.register_layer(*args)
    assert scratch.LAYERS == before
