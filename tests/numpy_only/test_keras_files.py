"""Keras model files in NumPy alone (``scratch.keras_io``): written and read back without Keras,
and every kind of bad input refused in one line naming the file, the layer and what is missing.

In CI this runs a second time in the environment without TensorFlow (``tests/numpy_only``). Files
Keras itself wrote, read in a process where TensorFlow cannot be imported, and files written here
read by Keras: ``parity_tests/test_keras_files.py``.
"""

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

import scratch
from scratch.keras_io import graph


def _graph(seed=0):
    x = scratch.Input((6, 6, 2), name="img")
    a = scratch.Conv2D(3, 3, padding="same", name="conv")(x)
    a = scratch.BatchNormalization(name="bn")(a)
    shared = scratch.Dense(3, name="shared")
    b = scratch.Add(name="sum")([shared(a), shared(scratch.ReLU(name="relu")(a))])
    b = scratch.ConstantOp("multiply", 0.5, name="half")(b)
    y = scratch.Dense(4, activation="softmax", name="out")(scratch.GlobalAveragePooling2D(name="gap")(b))
    model = scratch.Model(x, y, name="g", seed=seed)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("make", [lambda seed: scratch.build_model("blog", seed=seed), _graph], ids=["blog", "graph"])
def test_save_and_load_round_trip_in_numpy(tmp_path, make):
    model = make(0)
    x = np.random.default_rng(1).random((2,) + tuple(model.input_shape[1:])).astype("float32")
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.weights.h5")
    back = scratch.load_model(tmp_path / "m.keras")
    assert back.preprocess == model.preprocess
    assert all(np.array_equal(a, b) for a, b in zip(back.get_weights(), model.get_weights(), strict=True))
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    fresh = make(7)
    assert not np.array_equal(fresh.predict(x), model.predict(x))
    scratch.load_weights(fresh, tmp_path / "m.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True))


def test_save_is_atomic(tmp_path, monkeypatch):
    model = _graph()
    model.save(tmp_path / "m.keras")
    before = (tmp_path / "m.keras").read_bytes()
    monkeypatch.setattr(graph.ConfigWriter, "model", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_the_keras_layer_order_is_the_weight_files_order():
    """``keras_order``: deepest operations first (Keras's ``map_graph``), so a branch read later
    in a depth-first walk but deeper comes first; inputs first."""
    model = _graph()
    names = [getattr(op, "name", None) for op in graph.keras_order(model)]
    assert names == ["img", "conv", "bn", "relu", "shared", "sum", "half", "gap", "out"]


# -- bad input ----------------------------------------------------------------------------------
def _edited(tmp_path, edit, name="bad.keras"):
    """A copy of a written ``.keras`` file with its config.json changed by ``edit(config)``."""
    source = tmp_path / "good.keras"
    if not source.exists():
        _graph().save(source)
    with zipfile.ZipFile(source) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    target = tmp_path / name
    with zipfile.ZipFile(target, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    return target


def _layer(config, name):
    return next(entry for entry in config["config"]["layers"] if entry.get("name") == name)


def _refusal(path, *fragments):
    with pytest.raises(ValueError) as info:
        scratch.load_model(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text, text
    for f in fragments:
        assert f in text, text
    return text


def _set(name, key, value):
    def edit(config):
        _layer(config, name)["config"][key] = value
    return edit


def test_unknown_layer_class(tmp_path):
    def edit(config):
        _layer(config, "gap")["class_name"] = "GlobalSpiralPooling2D"
    _refusal(_edited(tmp_path, edit), "'gap'", "GlobalSpiralPooling2D", "does not have")


@pytest.mark.parametrize("policy, fragments", [
    ("mixed_float16", ["'conv'", "mixed_float16", "no mixed or half precision"]),
    ("bfloat16", ["'conv'", "bfloat16"]),
])
def test_dtype_policies_the_engine_does_not_compute(tmp_path, policy, fragments):
    edit = _set("conv", "dtype", {"module": "keras", "class_name": "DTypePolicy", "config": {"name": policy},
                                  "registered_name": None})
    _refusal(_edited(tmp_path, edit), *fragments)


def test_quantized_and_lora_layers(tmp_path):
    quantized = _set("out", "dtype", {"module": "keras", "class_name": "QuantizedDTypePolicy",
                                      "config": {"mode": "int8", "source_name": "float32"}, "registered_name": None})
    _refusal(_edited(tmp_path, quantized, "q.keras"), "'out'", "QuantizedDTypePolicy", "unquantized")
    _refusal(_edited(tmp_path, _set("out", "lora_rank", 4), "l.keras"), "'out'", "lora_rank=4", "no LoRA")


def test_custom_objects_and_lambdas_are_never_run(tmp_path):
    def custom(config):
        entry = _layer(config, "relu")
        entry.update(module="my_package.layers", registered_name="my_package>FancyReLU", class_name="FancyReLU")
    _refusal(_edited(tmp_path, custom, "c.keras"), "'relu'", "custom object", "my_package>FancyReLU")

    def custom_activation(config):
        _layer(config, "out")["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                                         "config": "my_package>swoosh", "registered_name": "function"}
    _refusal(_edited(tmp_path, custom_activation, "a.keras"), "'out'", "activation")

    def lamb(config):  # what Keras writes for Lambda(lambda x: x * 2): marshalled bytecode, never decoded here
        entry = _layer(config, "relu")
        entry.update(class_name="Lambda", module="keras.layers")
        entry["config"]["function"] = {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None,
                                                                             "closure": None}}
    _refusal(_edited(tmp_path, lamb, "lam.keras"), "'relu'", "Lambda", "never runs code")


def test_regularizers_are_read_and_what_the_engine_lacks_refused(tmp_path):
    l2 = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}
    model = scratch.load_model(_edited(tmp_path, _set("conv", "kernel_regularizer", l2), "r.keras"))
    assert model.get_layer("conv").get_config()["kernel_regularizer"]["class_name"] == "L2"
    model.save(tmp_path / "r2.keras")  # written back as Keras serializes it
    with zipfile.ZipFile(tmp_path / "r2.keras") as z:
        written = _layer(json.loads(z.read("config.json")), "conv")["config"]["kernel_regularizer"]
    assert written["class_name"] == "L2" and written["config"]["l2"] == 0.01
    ortho = {"module": "keras.regularizers", "class_name": "OrthogonalRegularizer", "config": {"factor": 0.01},
             "registered_name": None}
    _refusal(_edited(tmp_path, _set("conv", "kernel_regularizer", ortho), "o.keras"), "'conv'", "kernel_regularizer",
             "OrthogonalRegularizer")
    _refusal(_edited(tmp_path, _set("conv", "data_format", "channels_first"), "f.keras"), "'conv'", "channels_first")


def test_a_compiled_in_loss_is_ignored(tmp_path):
    def compiled(config):
        config["compile_config"] = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": None}
    model = scratch.load_model(_edited(tmp_path, compiled), preprocess="scale")
    assert model.loss_spec == {"class_name": "SparseCategoricalCrossentropy", "from_logits": True}


def test_truncated_and_incomplete_archives(tmp_path):
    _graph().save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    _refusal(tmp_path / "cut.keras", "not a complete .keras archive", "truncated")
    with zipfile.ZipFile(tmp_path / "noweights.keras", "w") as z:
        z.writestr("config.json", "{}")
    _refusal(tmp_path / "noweights.keras", "no model.weights.h5")


def test_weights_that_do_not_match_the_config(tmp_path):
    _refusal(_edited(tmp_path, _set("out", "units", 5), "u.keras"), "'out'", "'kernel'", "(3, 4)", "(3, 5)")

    def no_bias(config):
        _layer(config, "conv")["config"]["use_bias"] = False
    _refusal(_edited(tmp_path, no_bias, "b.keras"), "'conv'", "expects 1 weight arrays", "the file has 2")


def test_a_weights_file_of_another_model(tmp_path):
    _graph().save(tmp_path / "g.weights.h5")
    blog = scratch.build_model("blog", seed=0)
    with pytest.raises(ValueError) as info:
        scratch.load_weights(blog, tmp_path / "g.weights.h5")
    assert str(tmp_path / "g.weights.h5") in str(info.value) and "\n" not in str(info.value)


def test_weights_only_h5_and_unknown_suffixes(tmp_path):
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_group("dense")
    _refusal(tmp_path / "w.h5", "without a model_config", "scratch.load_weights")
    _graph().save(tmp_path / "g.weights.h5")
    _refusal(tmp_path / "g.weights.h5", "holds no architecture")
    (tmp_path / "m.onnx").write_bytes(b"")
    _refusal(tmp_path / "m.onnx", "unknown file type")


def test_the_weight_file_layout_is_keras_s(tmp_path):
    """``layers/<class in snake case, unique in order>/vars/<i>``: a Functional's inputs are members,
    operations are not, a layer shared by two calls is stored once."""
    _graph().save(tmp_path / "g.weights.h5")
    with h5py.File(tmp_path / "g.weights.h5") as f:
        groups = sorted(f["layers"])
        assert groups == ["add", "batch_normalization", "conv2d", "dense", "dense_1", "global_average_pooling2d",
                          "input_layer", "re_lu"]
        assert [f["layers/batch_normalization/vars"][str(i)].shape for i in range(4)] == [(3,)] * 4
        assert f["layers/dense/vars"].attrs["name"] == "shared"


def test_normalization_statistics_travel_as_keras_holds_adapted_ones(tmp_path):
    """A Normalization read from adapted statistics (Keras's weights ``mean``, ``variance``, ``count``;
    ``"mean": null`` in the config, as EfficientNet's) is written that way again; one given its
    statistics keeps them in its config (as ConvNeXt's)."""
    model = scratch.Sequential([scratch.Normalization(mean=[0.25, -1.0], variance=[4.0, 0.5], name="norm"),
                                scratch.Dense(3, name="d")], input_shape=(5, 2), seed=0)
    model.save(tmp_path / "given.keras")
    with zipfile.ZipFile(tmp_path / "given.keras") as z:
        assert json.loads(z.read("config.json"))["config"]["layers"][2]["config"]["mean"] == [0.25, -1.0]
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
            assert len(f["layers/normalization/vars"]) == 0
    model.get_layer("norm").keras_adapted = True  # as read from an adapted layer
    model.save(tmp_path / "n.keras")
    with zipfile.ZipFile(tmp_path / "n.keras") as z:
        config = json.loads(z.read("config.json"))
        with h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
            stored = [f["layers/normalization/vars"][str(i)][()] for i in range(3)]
    entry = config["config"]["layers"][2]
    assert entry["class_name"] == "Normalization" and entry["config"]["mean"] is None
    np.testing.assert_array_equal(stored[0], np.float32([0.25, -1.0]))
    np.testing.assert_array_equal(stored[1], np.float32([4.0, 0.5]))
    assert stored[2].dtype == np.int64
    back = scratch.load_model(tmp_path / "n.keras")
    assert back.get_layer("norm").keras_adapted
    x = np.random.default_rng(0).random((2, 5, 2)).astype("float32")
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    other = scratch.Sequential([scratch.Normalization(mean=0.0, variance=1.0, name="norm"), scratch.Dense(3, name="d")],
                               input_shape=(5, 2), seed=1)
    model.save(tmp_path / "n.weights.h5")
    scratch.load_weights(other, tmp_path / "n.weights.h5")  # the statistics come with the weights, as in Keras
    np.testing.assert_array_equal(other.predict(x), model.predict(x))


def _keras2_layer(class_name, config, inbound):
    return {"class_name": class_name, "name": config["name"], "config": config,
            "inbound_nodes": [[[ref, 0, 0, {}] for ref in call] for call in inbound]}


def test_a_keras_2_legacy_h5_file(tmp_path):
    """The layout Keras 2 (tf.keras) wrote, still the most common published one: ``model_config``
    with Keras 2's ``inbound_nodes`` lists and ``batch_input_shape``, weights in
    ``model_weights/<layer>/<layer>/<variable>:0`` named by each group's ``weight_names``."""
    rng = np.random.default_rng(0)
    kernel, bias = rng.standard_normal((3, 3, 2, 4)).astype("float32"), rng.standard_normal(4).astype("float32")
    gamma, beta, mean, var = (rng.uniform(0.5, 1.5, 4).astype("float32") for _ in range(4))
    dense_k, dense_b = rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal(3).astype("float32")
    layers = [
        {"class_name": "InputLayer", "name": "img", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 6, 6, 2], "dtype": "float32", "sparse": False, "name": "img"}},
        _keras2_layer("Conv2D", {"name": "conv", "trainable": True, "dtype": "float32", "filters": 4,
                                 "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                                 "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                                 "activation": "relu", "use_bias": True,
                                 "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                                 "bias_initializer": {"class_name": "Zeros", "config": {}},
                                 "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                                 "kernel_constraint": None, "bias_constraint": None}, [["img"]]),
        _keras2_layer("BatchNormalization", {"name": "bn", "trainable": True, "dtype": "float32", "axis": [3],
                                             "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True},
                      [["conv"]]),
        _keras2_layer("Add", {"name": "add", "trainable": True, "dtype": "float32"}, [["bn", "conv"]]),
        _keras2_layer("GlobalAveragePooling2D", {"name": "gap", "trainable": True, "dtype": "float32",
                                                 "data_format": "channels_last", "keepdims": False}, [["add"]]),
        _keras2_layer("Dense", {"name": "out", "trainable": True, "dtype": "float32", "units": 3,
                                "activation": "softmax", "use_bias": True}, [["gap"]]),
    ]
    config = {"class_name": "Functional", "config": {"name": "k2", "layers": layers, "input_layers": [["img", 0, 0]],
                                                     "output_layers": [["out", 0, 0]]}}
    weights = {"conv": {"kernel:0": kernel, "bias:0": bias},
               "bn": {"gamma:0": gamma, "beta:0": beta, "moving_mean:0": mean, "moving_variance:0": var},
               "out": {"kernel:0": dense_k, "bias:0": dense_b}}
    with h5py.File(tmp_path / "k2.h5", "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [la["name"].encode() for la in layers]
        for la in layers:
            group = root.create_group(la["name"])
            names = [f"{la['name']}/{k}" for k in weights.get(la["name"], {})]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n in names:
                group.create_dataset(n, data=weights[la["name"]][n.split("/")[1]])
    model = scratch.load_model(tmp_path / "k2.h5", preprocess="scale")
    assert [la.name for la in model.layers] == ["conv", "bn", "add", "gap", "out"]
    np.testing.assert_array_equal(model.get_layer("bn").get_weights()[3], var)
    x = rng.random((2, 6, 6, 2)).astype("float32")  # the same computation written out in NumPy
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.maximum(sum(np.einsum("nhwc,cf->nhwf", pad[:, i:i + 6, j:j + 6], kernel[i, j])
                          for i in range(3) for j in range(3)) + bias, 0)
    bn = (conv - mean) / np.sqrt(var + 0.001) * gamma + beta
    logits = (bn + conv).mean(axis=(1, 2)) @ dense_k + dense_b
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(model.predict(x), expected / expected.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
