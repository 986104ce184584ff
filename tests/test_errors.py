"""Bad input gets a ValueError naming the layer (or file), what was expected and what came."""

import json
import re

import numpy as np
import pytest

import scratch
from tests.matchers import raises

F64 = "float64"


# -- wrong rank ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: scratch.Conv2D(2, 3, name="c1"),
    lambda: scratch.MaxPooling2D(2, name="c1"),
    lambda: scratch.AveragePooling2D(2, name="c1"),
])
def test_spatial_layers_refuse_wrong_rank(make):
    layer = make()
    with raises("'c1'", "expected 4-D input", "received shape", "(2, 6, 6)"):
        layer(np.zeros((2, 6, 6), np.float32))


def test_built_layer_refuses_wrong_rank():
    conv = scratch.Conv2D(2, 3, name="c1")
    conv(np.zeros((1, 6, 6, 1), np.float32))
    with raises("Conv2D 'c1'", "expected input shape (None, 6, 6, 1)", "received (6, 6, 1)"):
        conv(np.zeros((6, 6, 1), np.float32))


def test_dense_applies_to_the_last_axis_and_refuses_a_batch_alone():
    """As Keras's Dense: on (N, H, W, C) it maps C to units at every pixel; a 1-D input is refused."""
    y = scratch.Dense(3, name="d")(np.zeros((2, 4, 4, 1), np.float32))
    assert y.shape == (2, 4, 4, 3)
    with raises("Dense 'd'", "expected input (batch, ..., features)", "received shape (5,)"):
        scratch.Dense(3, name="d")(np.zeros((5,), np.float32))


def test_model_refuses_wrong_rank_and_wrong_image_shape():
    model = scratch.build_model("blog", seed=0)
    with raises("Sequential.predict", "expected images (N, H, W, C)", "received shape (5, 784)"):
        model.predict(np.zeros((5, 784), np.float32))
    with raises("Sequential.predict", "expected images of shape (28, 28, 1)", "received (32, 32, 1)"):
        model.predict(np.zeros((5, 32, 32, 1), np.float32))


# -- wrong channel count -----------------------------------------------------------------------

def test_conv_refuses_a_different_channel_count():
    conv = scratch.Conv2D(2, 3, name="c1")
    conv.build((None, 8, 8, 3))
    with raises("Conv2D 'c1'", "(None, 8, 8, 3)", "received (1, 8, 8, 2)"):
        conv(np.zeros((1, 8, 8, 2), np.float32))


def test_dense_refuses_a_different_feature_count():
    dense = scratch.Dense(3, name="d")
    dense.build((None, 5))
    with raises("Dense 'd'", "(None, 5)", "received (2, 4)"):
        dense(np.zeros((2, 4), np.float32))


def test_model_refuses_a_different_channel_count():
    model = scratch.build_model("lenet", seed=0)
    with raises("Sequential.fit", "(28, 28, 1)", "(28, 28, 3)"):
        model.compile("adam").fit(np.zeros((2, 28, 28, 3), np.float32), np.array([0, 1]), verbose=0)


# -- kernel or pool larger than a 'valid' input -----------------------------------------------------

def test_kernel_larger_than_valid_input():
    with raises("Conv2D 'c1'", "kernel_size (5, 2)", "larger than the input height 4", "padding='valid'"):
        scratch.Conv2D(2, (5, 2), name="c1")(np.zeros((1, 4, 9, 1), np.float32))
    with raises("Conv2D 'c1'", "kernel_size (2, 5)", "larger than the input width 4"):
        scratch.Conv2D(2, (2, 5), name="c1").build((None, 9, 4, 1))
    scratch.Conv2D(2, (5, 5), padding="same")(np.zeros((1, 4, 4, 1), np.float32))  # fine with 'same'


@pytest.mark.parametrize("cls", [scratch.MaxPooling2D, scratch.AveragePooling2D])
def test_pool_larger_than_valid_input(cls):
    with raises(f"{cls.__name__} 'p'", "pool_size (3, 3)", "larger than the input height 2"):
        cls(3, name="p")(np.zeros((1, 2, 5, 1), np.float32))


def test_model_whose_input_is_too_small_for_its_kernels():
    desc = scratch.get_architecture("lenet")
    desc["input_shape"] = [8, 8, 1]  # 8 -> conv 6 -> pool 3 -> conv 1 -> pool: 1 < 2
    with raises("MaxPooling2D 'max_pooling2d_1'", "pool_size (2, 2)", "input height 1"):
        scratch.build_model(desc)


# -- unknown names, bad arguments -------------------------------------------------------------------

@pytest.mark.parametrize("make, fragments", [
    (lambda: scratch.Conv2D(2, 3, padding="full", name="c"), ("Conv2D 'c'", "padding", "'full'")),
    (lambda: scratch.MaxPooling2D(padding="causal", name="c"), ("MaxPooling2D 'c'", "padding", "'causal'")),
    (lambda: scratch.AveragePooling2D(padding=3, name="c"), ("AveragePooling2D 'c'", "padding", "received 3")),
    (lambda: scratch.Conv2D(2, 3, activation="tahn", name="c"), ("Conv2D 'c'", "unknown activation 'tahn'", "relu")),
    (lambda: scratch.Dense(2, activation="glu", name="c"), ("Dense 'c'", "unknown activation 'glu'")),
    (lambda: scratch.Conv2D(0, 3, name="c"), ("Conv2D 'c'", "filters must be a positive int", "received 0")),
    (lambda: scratch.Conv2D(2.5, 3, name="c"), ("Conv2D 'c'", "filters", "received 2.5")),
    (lambda: scratch.Conv2D(True, 3, name="c"), ("Conv2D 'c'", "filters", "received True")),
    (lambda: scratch.Conv2D("8", 3, name="c"), ("Conv2D 'c'", "filters", "received '8'")),
    (lambda: scratch.Conv2D(2, 0, name="c"), ("Conv2D 'c'", "kernel_size", "received (0, 0)")),
    (lambda: scratch.Conv2D(2, (3,), name="c"), ("Conv2D 'c'", "kernel_size", "received (3,)")),
    (lambda: scratch.Conv2D(2, (3, -1), name="c"), ("Conv2D 'c'", "kernel_size", "received (3, -1)")),
    (lambda: scratch.Conv2D(2, 2.5, name="c"), ("Conv2D 'c'", "kernel_size", "received 2.5")),
    (lambda: scratch.Conv2D(2, 3, strides=0, name="c"), ("Conv2D 'c'", "strides", "received (0, 0)")),
    (lambda: scratch.Conv2D(2, 3, strides=(1, 2, 3), name="c"), ("Conv2D 'c'", "strides", "received (1, 2, 3)")),
    (lambda: scratch.MaxPooling2D((2, 0), name="c"), ("MaxPooling2D 'c'", "pool_size", "received (2, 0)")),
    (lambda: scratch.AveragePooling2D(2, strides=-1, name="c"), ("AveragePooling2D 'c'", "strides", "(-1, -1)")),
    (lambda: scratch.Dense(0, name="c"), ("Dense 'c'", "units must be a positive int", "received 0")),
    (lambda: scratch.Dropout(1.0, name="c"), ("Dropout 'c'", "rate", "[0, 1)", "received 1.0")),
    (lambda: scratch.Dropout(-0.1, name="c"), ("Dropout 'c'", "rate", "received -0.1")),
    (lambda: scratch.Conv2D(2, 3, kernel_initializer="he", name="c"), ("Conv2D 'c'", "unknown initializer 'he'")),
    (lambda: scratch.Dense(2, dtype="float16", name="c"), ("Dense 'c'", "dtype", "float16")),
    (lambda: scratch.Adam(-1.0), ("Adam", "learning_rate", "received -1.0")),
    (lambda: scratch.SGD(0.1, momentum=2), ("SGD", "momentum", "received 2")),
    (lambda: scratch.Adam(beta_1=1.0), ("Adam", "beta_1", "received 1.0")),
    (lambda: scratch.preprocess(np.zeros((2, 28, 28), np.uint8), "standardize"), ("preprocess", "'standardize'")),
])
def test_bad_arguments_are_refused_at_construction(make, fragments):
    with raises(*fragments):
        make()


# -- weights of the wrong count or shape -----------------------------------------------------------

def test_layer_set_weights_wrong_count_and_shape():
    conv = scratch.Conv2D(8, 3, name="c1")
    conv.build((None, 28, 28, 1))
    kernel, bias = conv.get_weights()
    with raises("Conv2D 'c1'", "expected 2 weight arrays ['kernel', 'bias']", "received 1"):
        conv.set_weights([kernel])
    with raises("Conv2D 'c1'", "weight 'kernel'", "expected shape (3, 3, 1, 8)", "received (3, 3, 8, 1)"):
        conv.set_weights([kernel.reshape(3, 3, 8, 1), bias])
    with raises("Conv2D 'c1'", "weight 'bias'", "expected shape (8,)", "received (9,)"):
        conv.set_weights([kernel, np.zeros(9)])
    with raises("Conv2D 'c1'", "weight 'bias'", "NaN or inf"):
        conv.set_weights([kernel, np.full(8, np.nan)])
    with raises("Conv2D 'c1'", "weight 'kernel'", "floating point", "int64"):
        conv.set_weights([kernel.astype(np.int64), bias])
    np.testing.assert_array_equal(conv.get_weights()[0], kernel)  # nothing was half-set


def test_model_set_weights_wrong_count_and_shape():
    model = scratch.build_model("blog", seed=0)
    weights = model.get_weights()
    with raises("Sequential.set_weights", "expected 4 arrays", "conv2d: 2", "dense: 2", "received 3"):
        model.set_weights(weights[:3])
    with raises("Dense 'dense'", "weight 'kernel'", "expected shape (1352, 10)", "received (10, 1352)"):
        model.set_weights(weights[:2] + [weights[2].T, weights[3]])


# -- labels ---------------------------------------------------------------------------------------

def compiled_blog():
    return scratch.build_model("blog", seed=0).compile(scratch.Adam(0.001))


@pytest.mark.parametrize("labels, fragments", [
    (np.array([0, 10]), ("Sequential.fit", "labels must be in [0, 9]", "from 0 to 10")),
    (np.array([-1, 3]), ("Sequential.fit", "labels must be in [0, 9]", "from -1 to 3")),
    (np.array([0.0, 1.5]), ("Sequential.fit", "labels must be integers", "float64")),
    (np.array(["1", "2"]), ("Sequential.fit", "labels must be integers", "<U1")),
    (np.array([0, 1, 2]), ("Sequential.fit", "2 images but 3 labels")),
])
def test_fit_refuses_bad_labels(labels, fragments):
    with raises(*fragments):
        compiled_blog().fit(np.zeros((2, 28, 28, 1), np.float32), labels, verbose=0)


def test_evaluate_and_train_step_refuse_bad_labels():
    x = np.zeros((2, 28, 28, 1), np.float32)
    with raises("Sequential.evaluate", "labels must be in [0, 9]", "to 12"):
        compiled_blog().evaluate(x, np.array([12, 0]))
    with raises("Sequential.train_step", "labels must be integers"):
        compiled_blog().train_step(x, np.array([0.5, 1.0]))


@pytest.mark.parametrize("labels, fragments", [
    (np.array([0, 3]), ("SparseCategoricalCrossentropy", "label 3 is outside the 3 classes [0, 2]")),
    (np.array([-1, 0]), ("SparseCategoricalCrossentropy", "label -1 is outside the 3 classes")),
    (np.array([0.5, 1.0]), ("SparseCategoricalCrossentropy", "labels must be integers", "float64")),
    (np.array([0, 1, 2]), ("SparseCategoricalCrossentropy", "expected 2 integer labels", "received labels of shape (3,)")),
])
def test_sparse_loss_refuses_bad_labels(labels, fragments):
    with raises(*fragments):
        scratch.SparseCategoricalCrossentropy(from_logits=True)(labels, np.zeros((2, 3)))


def test_categorical_loss_refuses_wrong_target_shape_and_non_finite_predictions():
    loss = scratch.CategoricalCrossentropy(from_logits=True)
    with raises("CategoricalCrossentropy", "one-hot targets of shape (2, 3)", "received (2, 4)"):
        loss(np.zeros((2, 4)), np.zeros((2, 3)))
    with raises("CategoricalCrossentropy", "non-finite"):
        loss(np.eye(3)[:2], np.array([[0.0, np.inf, 0.0], [0.0, 0.0, 0.0]]))


# -- non-finite inputs to training ------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_training_refuses_non_finite_inputs(bad):
    x = np.zeros((4, 28, 28, 1), np.float32)
    x[2, 5, 7, 0] = bad
    y = np.array([0, 1, 2, 3])
    model = compiled_blog()
    before = model.get_weights()
    with raises("Sequential.fit", "NaN or inf"):
        model.fit(x, y, verbose=0)
    with raises("Sequential.train_step", "NaN or inf"):
        model.train_step(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- wrong dtype into a layer or a model ------------------------------------------------------------

def test_layer_refuses_a_different_float_dtype():
    with raises("Conv2D 'c'", "expected float64 input", "received float32"):
        scratch.Conv2D(2, 3, name="c", dtype=F64)(np.zeros((1, 5, 5, 1), np.float32))
    with raises("Dense 'd'", "expected float32 input", "received float64"):
        scratch.Dense(2, name="d")(np.zeros((1, 5)))
    with raises("MaxPooling2D 'p'", "expected float32 input", "received int64"):
        scratch.MaxPooling2D(name="p")(np.zeros((1, 4, 4, 1), np.int64))
    with raises("ReLU", "expected a NumPy array", "received list"):
        scratch.ReLU()([[1.0, 2.0]])


def test_model_refuses_integer_images_and_a_layer_of_another_dtype():
    with raises("Sequential.predict", "expected float images", "uint8", "preprocess"):
        scratch.build_model("blog", seed=0).predict(np.zeros((1, 28, 28, 1), np.uint8))
    with raises("Sequential", "Dense 'd'", "float64", "float32"):
        scratch.Sequential([scratch.Dense(2, name="d", dtype=F64)], dtype="float32")


# -- architectures ---------------------------------------------------------------------------------

def test_unknown_architecture_name():
    with raises("unknown architecture 'resnet50'", "['blog', 'lenet']"):
        scratch.build_model("resnet50")


@pytest.mark.parametrize("text, fragments", [
    ("{not json", ("architecture file", "not valid JSON")),
    ("[1, 2]", ("architecture file", "expected a JSON object", "received list")),
    ('{"layers": []}', ("architecture file", "missing key 'input_shape'")),
    ('{"input_shape": [28, 28, 1]}', ("architecture file", "missing key 'layers'")),
    ('{"input_shape": [28, 0], "layers": [{"class_name": "Flatten"}]}',
     ("architecture file", "input_shape must be a list of positive ints", "[28, 0]")),
    ('{"input_shape": [28, 28, 1], "layers": []}', ("architecture file", "'layers' must be a non-empty list")),
    ('{"input_shape": [28, 28, 1], "layers": [{"config": {}}]}', ("architecture file", "layer 0", "class_name")),
    ('{"input_shape": [28, 28, 1], "layers": [{"class_name": "Conv4D", "config": {}}]}',
     ("unknown layer class 'Conv4D'",)),
    ('{"input_shape": [28, 28, 1], "layers": [{"class_name": "Conv2D", "config": {"filters": 2, "kernal_size": 3}}]}',
     ("Conv2D", "bad config", "kernal_size")),
    ('{"input_shape": [28, 28, 1], "preprocess": "whiten", "layers": [{"class_name": "Flatten"}]}',
     ("architecture file", "preprocess", "'whiten'")),
])
def test_bad_architecture_json(tmp_path, text, fragments):
    path = tmp_path / "arch.json"
    path.write_text(text)
    with raises(*fragments):
        scratch.build_model(str(path))


def test_missing_architecture_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    with raises(f"architecture file {missing}", "cannot read it"):
        scratch.build_model(missing)


# -- checkpoints -----------------------------------------------------------------------------------

@pytest.fixture
def checkpoint(tmp_path):
    model = compiled_blog()
    model.train_step(np.zeros((2, 28, 28, 1), np.float32), np.array([1, 2]))
    path = tmp_path / "model.npz"
    model.save(path)
    return path


def rewrite(path, change):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(path, **arrays)


def test_missing_checkpoint(tmp_path):
    with raises(f"checkpoint {tmp_path / 'absent.npz'}", "file not found"):
        scratch.Sequential.load(tmp_path / "absent.npz")


def test_corrupt_checkpoint(checkpoint):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])  # truncated mid-write (what atomic_write prevents)
    with raises(f"checkpoint {checkpoint}", "not a readable .npz"):
        scratch.Sequential.load(checkpoint)
    checkpoint.write_bytes(b"garbage" * 100)
    with raises(f"checkpoint {checkpoint}", "not a readable .npz"):
        scratch.Sequential.load(checkpoint)


def test_checkpoint_of_another_format_or_version(checkpoint):
    rewrite(checkpoint, lambda a: a.pop("format"))
    with raises(f"checkpoint {checkpoint}", "not a scratch checkpoint"):
        scratch.Sequential.load(checkpoint)
    rewrite(checkpoint, lambda a: a.update(format=np.array("scratch-cnn-checkpoint"), format_version=np.array(99)))
    with raises(f"checkpoint {checkpoint}", "format version 99 is newer"):
        scratch.Sequential.load(checkpoint)
    rewrite(checkpoint, lambda a: a.pop("format_version"))
    with raises(f"checkpoint {checkpoint}", "no 'format_version'"):
        scratch.Sequential.load(checkpoint)


def test_checkpoint_with_mismatched_weights(checkpoint):
    rewrite(checkpoint, lambda a: a.update(weight_002=np.zeros((10, 1352), np.float32)))
    with raises(f"checkpoint {checkpoint}", "Dense 'dense'", "expected shape (1352, 10)", "received (10, 1352)"):
        scratch.Sequential.load(checkpoint)
    rewrite(checkpoint, lambda a: a.pop("weight_003"))
    with raises(f"checkpoint {checkpoint}", "expected 4 arrays", "received 3"):
        scratch.Sequential.load(checkpoint)


def test_checkpoint_with_corrupt_config(checkpoint):
    rewrite(checkpoint, lambda a: a.update(config=np.array("{broken")))
    with raises(f"checkpoint {checkpoint}", "corrupt config"):
        scratch.Sequential.load(checkpoint)
    rewrite(checkpoint, lambda a: a.update(config=np.array(json.dumps({"layers": []}))))
    with raises(f"checkpoint {checkpoint}", "missing key 'input_shape'"):
        scratch.Sequential.load(checkpoint)


# -- data files ------------------------------------------------------------------------------------

def test_missing_data_file(tmp_path):
    missing = tmp_path / "mnist.npz"
    with pytest.raises(scratch.DataError, match=re.escape(f"MNIST file not found at {missing} (explicit path)")):
        scratch.load_mnist(missing)
    assert issubclass(scratch.DataError, ValueError)


def test_set_weights_on_an_unbuilt_layer_says_to_build_it():
    with pytest.raises(ValueError, match=r"Conv2D: not built yet.*call build\(input_shape\).*\(2 arrays given\)"):
        scratch.Conv2D(4, 3).set_weights([np.zeros((3, 3, 1, 4)), np.zeros(4)])


def test_wrong_rank_into_an_unbuilt_layer_shows_the_real_shape():
    with pytest.raises(ValueError, match=r"Conv2D: expected 4-D input .* received shape \(5, 6, 6\)"):
        scratch.Conv2D(4, 3)(np.zeros((5, 6, 6), np.float32))
