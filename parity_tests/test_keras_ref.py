"""keras_ref: building, converting both ways, weight files across the engines, refusals."""

import json

import h5py
import keras
import numpy as np
import pytest

import keras_ref
import scratch


def _same_arrays(a, b):
    return len(a) == len(b) and all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("arch", ["blog", "lenet"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_build_keras_names_shapes_and_dtypes(arch, dtype):
    model = scratch.build_model(arch, dtype=dtype)
    km = keras_ref.build_keras(arch, dtype=dtype)
    assert isinstance(km, keras.Sequential) and km.built and not km.compiled
    assert [la.name for la in km.layers] == [la.name for la in model.layers]
    assert [w.shape for w in km.get_weights()] == [w.shape for w in model.get_weights()]
    assert km.inputs[0].dtype == dtype
    for layer in km.layers:  # every layer computes and stores in the requested dtype
        assert (layer.compute_dtype, layer.variable_dtype) == (dtype, dtype), layer.name
    assert np.asarray(km(np.zeros((1, 28, 28, 1), dtype))).dtype == dtype


def test_build_keras_from_a_json_file_with_names_and_initializers(tmp_path):
    desc = {"input_shape": [12, 10, 2], "layers": [
        {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same",
                                            "name": "first", "dtype": "float32", "kernel_initializer": "zeros"}},
        {"class_name": "AveragePooling2D", "config": {"pool_size": 2, "strides": 1}},
        {"class_name": "ReLU", "config": {}}, {"class_name": "Flatten", "config": {}},
        {"class_name": "Dropout", "config": {"rate": 0.25, "seed": 7}},
        {"class_name": "Dense", "config": {"units": 4, "activation": "softmax", "use_bias": False}},
        {"class_name": "Softmax", "config": {}}]}
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(desc))
    km = keras_ref.build_keras(str(path), dtype="float64")
    assert [la.name for la in km.layers] == [la.name for la in scratch.build_model(str(path)).layers]
    conv = km.layers[0]
    assert conv.name == "first" and conv.padding == "same" and tuple(conv.strides) == (2, 1)
    assert not np.any(conv.get_weights()[0])  # the zeros initializer was passed on
    assert km.layers[4].seed == 7 and len(km.layers[5].get_weights()) == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_keras_and_back_is_bit_identical(dtype):
    model = scratch.build_model("lenet", dtype=dtype, seed=3)
    km = keras_ref.to_keras(model)
    assert _same_arrays(km.get_weights(), model.get_weights())
    back = keras_ref.from_keras(km)
    assert _same_arrays(back.get_weights(), model.get_weights())
    assert back.get_config()["layers"] == model.get_config()["layers"]


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras", ".npz"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weight_files_round_trip_bit_identical(tmp_path, suffix, dtype):
    model = scratch.build_model("blog", dtype=dtype, seed=5)
    path = tmp_path / f"blog{suffix}"
    if suffix == ".npz":
        model.save(path)
    else:
        keras_ref.save_keras_weights(model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left behind
    loaded = keras_ref.load_weights_file(path, arch="blog", dtype=dtype)
    assert isinstance(loaded, scratch.Sequential) and _same_arrays(loaded.get_weights(), model.get_weights())
    km = keras_ref.load_keras_model(path, arch="blog", dtype=dtype)
    assert _same_arrays(km.get_weights(), model.get_weights())
    if suffix != ".weights.h5":  # these files carry their own structure
        assert _same_arrays(keras_ref.load_weights_file(path, dtype=dtype).get_weights(), model.get_weights())


def test_keras_trained_weights_load_into_scratch(tmp_path):
    km = keras_ref.build_keras("blog")
    km.save_weights(tmp_path / "k.weights.h5")
    km.save(tmp_path / "k.keras")
    for name in ("k.weights.h5", "k.keras"):
        assert _same_arrays(keras_ref.load_weights_file(tmp_path / name, arch="blog").get_weights(), km.get_weights())


def test_weights_file_that_does_not_fit_is_refused(tmp_path):
    lenet = scratch.build_model("lenet", seed=0)
    keras_ref.save_keras_weights(lenet, tmp_path / "lenet.weights.h5")
    keras_ref.save_keras_weights(lenet, tmp_path / "lenet.keras")
    with pytest.raises(ValueError, match=r"lenet\.weights\.h5.*not in the architecture"):
        keras_ref.load_weights_file(tmp_path / "lenet.weights.h5", arch="blog")
    with pytest.raises(ValueError, match=r"lenet\.keras.*layers"):
        keras_ref.load_weights_file(tmp_path / "lenet.keras", arch="blog")
    wide = scratch.get_architecture("blog")
    wide["layers"][0]["config"]["filters"] = 16
    keras_ref.save_keras_weights(scratch.build_model(wide), tmp_path / "wide.weights.h5")
    keras_ref.save_keras_weights(scratch.build_model(wide), tmp_path / "wide.keras")
    with pytest.raises(ValueError, match=r"layer 'conv2d' weight 'kernel' expects shape \(3, 3, 1, 8\), the file has \(3, 3, 1, 16\)"):
        keras_ref.load_weights_file(tmp_path / "wide.weights.h5", arch="blog")
    with pytest.raises(ValueError, match=r"layer 'conv2d' has filters=16 in the file, 8 in the architecture"):
        keras_ref.load_keras_model(tmp_path / "wide.keras", arch="blog")
    with h5py.File(tmp_path / "wide.weights.h5", "a") as f:
        del f["layers"]["dense"]
    with pytest.raises(ValueError, match=r"layer 'dense' \(Dense\) is missing"):
        keras_ref.load_weights_file(tmp_path / "wide.weights.h5", arch=wide)
    with pytest.raises(ValueError, match="give arch="):
        keras_ref.load_weights_file(tmp_path / "wide.weights.h5")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.keras: not a readable \.keras file"):
        keras_ref.load_weights_file(tmp_path / "junk.keras")
    with pytest.raises(ValueError, match="unknown file type"):
        keras_ref.load_weights_file(tmp_path / "x.h5", arch="blog")


_ORTHO = keras.regularizers.OrthogonalRegularizer  # not computed here (L1, L2, L1L2 are)


def _keras_seq(*layers, shape=(8, 8, 1)):
    return keras.Sequential([keras.Input(shape)] + list(layers))


@pytest.mark.parametrize("make, setting", [
    (lambda: _keras_seq(keras.layers.Conv2D(2, 3, data_format="channels_first", name="c"), shape=(1, 8, 8)), "data_format"),
    (lambda: _keras_seq(keras.layers.DepthwiseConv2D(3, depthwise_regularizer=_ORTHO(), name="c")),
     "depthwise_regularizer='OrthogonalRegularizer'"),
    (lambda: _keras_seq(keras.layers.Conv2D(2, 3, groups=1, name="c"), keras.layers.Conv2D(4, 3, groups=2, activation="glu", name="g")), "activation"),
    (lambda: _keras_seq(keras.layers.Conv2D(2, 3, activation="glu", name="c")), "activation"),
    (lambda: _keras_seq(keras.layers.Conv2D(2, 3, kernel_regularizer=_ORTHO(), name="c")), "kernel_regularizer"),
    (lambda: _keras_seq(keras.layers.Flatten(), keras.layers.Dense(2, kernel_constraint=keras.constraints.Constraint(),
                                                                   name="c")), "kernel_constraint='Constraint'"),
    (lambda: _keras_seq(keras.layers.Flatten(), keras.layers.Dense(2, activity_regularizer=_ORTHO(), name="c")),
     "activity_regularizer"),
    (lambda: _keras_seq(keras.layers.BatchNormalization(renorm=True, name="c")), "renorm"),
    (lambda: _keras_seq(keras.layers.PReLU(alpha_constraint=keras.constraints.Constraint(), name="c")),
     "alpha_constraint"),
    (lambda: _keras_seq(keras.layers.Masking(name="c")), "Masking"),
    (lambda: _keras_seq(keras.layers.Flatten(data_format="channels_first", name="c")), "data_format"),
    (lambda: _keras_seq(keras.layers.MaxPooling2D(name="c", dtype="mixed_float16")), "dtype"),
])  # an input of any size, (None, None, 1), is taken (parity_tests/test_vocabulary_ops.py)
def test_from_keras_refuses_what_the_engine_lacks(make, setting):
    with pytest.raises(ValueError, match=setting) as info:
        keras_ref.from_keras(make())
    assert "'c'" in str(info.value) or "'g'" in str(info.value)


def test_from_keras_ignores_initializers_but_copies_weights():
    km = _keras_seq(keras.layers.Conv2D(2, 3, kernel_initializer="he_normal", bias_initializer="ones", name="c"))
    model = keras_ref.from_keras(km)
    # an initializer the engine has is kept (Ones -> "ones"), one it lacks becomes the default (he_normal)
    assert model.layers[0].kernel_initializer == "glorot_uniform" and model.layers[0].bias_initializer == "ones"
    assert _same_arrays(model.get_weights(), km.get_weights()) and np.all(model.get_weights()[1] == 1)


def test_import_scratch_does_not_import_tensorflow():
    import subprocess
    import sys
    code = "import sys, scratch; scratch.build_model('lenet'); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("arch", ["blog", "lenet"])
def test_weights_h5_file_loads_the_saved_weights(arch, tmp_path):
    """A .weights.h5 written from a model loads back bit for bit (not the architecture's fresh weights)."""
    model = scratch.build_model(arch, seed=5)
    path = tmp_path / "w.weights.h5"
    keras_ref.save_keras_weights(model, path)
    loaded = keras_ref.load_weights_file(str(path), arch=arch)
    fresh = scratch.build_model(arch)
    assert _same_arrays(loaded.get_weights(), model.get_weights())
    assert not _same_arrays(loaded.get_weights(), fresh.get_weights())


def test_to_keras_of_a_model_keras_cannot_express_is_one_value_error_naming_the_layer():
    """Keras's own exception (an ``IndexError`` for a Concatenate axis out of range) became one ``ValueError``
    naming the scratch layer, the input shape and Keras's reason (issue 21). The scratch layers refuse such
    settings themselves now; here they are changed after the scratch model was built, as a user's code might."""
    x = scratch.Input((4, 4, 2))
    cat = scratch.Concatenate(axis=-1, name="cat")
    graph = scratch.Model(x, scratch.Flatten()(cat([x, x])))
    cat.axis = 5
    with pytest.raises(ValueError, match=r"^to_keras: layer Concatenate 'cat': Keras cannot express it on input shape "
                                         r"\[\(None, 4, 4, 2\), \(None, 4, 4, 2\)\] \(IndexError: "):
        keras_ref.to_keras(graph)
    reshape = scratch.Reshape((32,), name="rs")
    sequential = scratch.Sequential([reshape, scratch.Dense(3)], input_shape=(4, 4, 2))
    reshape.target_shape = (5,)
    with pytest.raises(ValueError, match=r"^to_keras: layer Reshape 'rs': Keras cannot express it on input shape "
                                         r"\(None, 4, 4, 2\) \(ValueError: The total size of the tensor must be "
                                         r"unchanged"):
        keras_ref.to_keras(sequential)
