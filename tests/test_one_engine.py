"""One engine (issue 19): ``Sequential`` is a graph ``Model``; what that gives users, and the house rules.

- a ``Sequential`` may start with ``scratch.Input`` (the Keras idiom) and take inputs of any rank:
  vectors (a DCGAN-style stack: ``Dense -> Reshape -> Conv2D``), ``(28, 28)`` images then ``Reshape``;
- graph models get the ReLU -> max-pool backward fusion, planned over the graph, and only where
  it is valid (the activation read by the pool alone);
- ``compute_gradients`` is the public training step without the update;
- ``scratch/`` imports without a circle and without function-level imports.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import scratch

ROOT = Path(__file__).resolve().parent.parent


def _loss_grads(model, x, y):
    loss, _ = model.compute_gradients(x, y, loss=scratch.SparseCategoricalCrossentropy(from_logits=True),
                                      trainable_only=False)
    return loss, {k: v.copy() for k, v in model.named_grads().items()}


def _numeric(model, x, y, key, index, eps=1e-6):
    """Central difference of the loss in one weight entry (float64)."""
    w = model.named_params()[key]
    old = w[index]
    loss = scratch.SparseCategoricalCrossentropy(from_logits=True)
    w[index] = old + eps
    up = loss(y, model.forward(x, training=True))
    w[index] = old - eps
    down = loss(y, model.forward(x, training=True))
    w[index] = old
    return (up - down) / (2 * eps)


# -- Sequential as Keras writes it ------------------------------------------------------------------

def test_sequential_takes_an_input_first_as_keras_does():
    model = scratch.Sequential([scratch.Input((28, 28, 1)), scratch.Conv2D(4, 3, activation="relu"),
                                scratch.MaxPooling2D(2), scratch.Flatten(), scratch.Dense(10)], seed=0)
    assert model.built and model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    same = scratch.Sequential([scratch.Conv2D(4, 3, activation="relu"), scratch.MaxPooling2D(2), scratch.Flatten(),
                               scratch.Dense(10)], input_shape=(28, 28, 1), seed=0)
    for a, b in zip(model.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="an Input may only be the first element"):
        scratch.Sequential([scratch.Dense(3), scratch.Input((4,))])


def test_a_dcgan_style_generator_runs_forward_and_backward_exactly():
    """Vector in, ``Dense -> Reshape -> UpSampling2D -> Conv2D``: gradients against central differences."""
    model = scratch.Sequential([
        scratch.Input((6,), dtype="float64"),
        scratch.Dense(4 * 4 * 3, activation="relu", dtype="float64"),
        scratch.Reshape((4, 4, 3), dtype="float64"),
        scratch.UpSampling2D(2, dtype="float64"),
        scratch.Conv2D(2, 3, padding="same", activation="tanh", dtype="float64"),
        scratch.Flatten(dtype="float64"),
        scratch.Dense(3, dtype="float64"),
    ], dtype="float64", seed=1)
    assert model.input_shape == (None, 6) and model.layers[2].output_shape == (None, 8, 8, 3)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    _, grads = _loss_grads(model, x, y)
    for key in ("dense/kernel", "conv2d/kernel", "dense_1/bias"):
        index = tuple(rng.integers(0, s) for s in model.named_params()[key].shape)
        np.testing.assert_allclose(grads[key][index], _numeric(model, x, y, key, index), rtol=1e-6, atol=1e-9)


def test_grey_images_without_a_channel_axis_then_reshape():
    model = scratch.Sequential([scratch.Input((28, 28)), scratch.Reshape((28, 28, 1)), scratch.Conv2D(2, 3),
                                scratch.Flatten(), scratch.Dense(10)], seed=0)
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    out = model.predict(x)
    np.testing.assert_array_equal(model.predict(x[..., None]), out)  # MNIST as the command line loads it
    assert out.shape == (3, 10)
    with pytest.raises(ValueError, match=r"expected inputs \(N, \?, \?\) of shape \(28, 28\) each"):
        model.predict(np.zeros((3, 28), np.float32))


def test_a_sequential_nested_in_a_graph_round_trips_through_its_config():
    inner = scratch.Sequential([scratch.Conv2D(3, 3, activation="relu"), scratch.MaxPooling2D(2)], name="features")
    x = scratch.Input((10, 10, 1))
    y = scratch.Dense(4)(scratch.Flatten()(inner(x)))
    model = scratch.Model(x, y, seed=2)
    assert inner.built and inner.input_shape == (None, 10, 10, 1)
    again = scratch.model_from_config(model.get_config())
    again.set_weights(model.get_weights())
    xs = np.random.default_rng(1).random((2, 10, 10, 1), dtype=np.float32)
    np.testing.assert_array_equal(again.predict(xs), model.predict(xs))
    assert isinstance(again.get_layer("features"), scratch.Sequential)


# -- the fusion, planned over the graph ------------------------------------------------------------

def _graph(fan_out):
    x = scratch.Input((8, 8, 2), dtype="float64")
    h = scratch.Conv2D(4, 3, padding="same", activation="relu", dtype="float64")(x)
    p = scratch.MaxPooling2D(2, dtype="float64")(h)
    if fan_out:  # the activation is also read by a second branch: the fusion would be wrong
        p = scratch.Add(dtype="float64")([p, scratch.AveragePooling2D(2, dtype="float64")(h)])
    y = scratch.Dense(3, dtype="float64")(scratch.Flatten(dtype="float64")(p))
    return scratch.Model(x, y, seed=0)


@pytest.mark.parametrize("fan_out", [False, True])
def test_graph_models_fuse_relu_into_max_pooling_only_where_valid(fan_out):
    model = _graph(fan_out)
    options = {layer.name: opts for layer, opts in model.backward_calls()}
    fused = {"max_pooling2d": {"relu_input": True}, "conv2d": {"pre_activation": True}}
    assert ({k: options[k] for k in fused} == fused) is (not fan_out)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 8, 8, 2)), rng.integers(0, 3, 4)
    _, grads = _loss_grads(model, x, y)
    for key in ("conv2d/kernel", "conv2d/bias"):
        index = tuple(rng.integers(0, s) for s in grads[key].shape)
        np.testing.assert_allclose(grads[key][index], _numeric(model, x, y, key, index), rtol=1e-6, atol=1e-9)


def test_the_fused_graph_equals_its_layer_by_layer_chain_bit_for_bit():
    model = _graph(fan_out=False)
    model._tiles = {}  # the plain route (a training step's tiled one adds the bias after the pool: test_tiles.py)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 8, 8, 2))
    x[:, :3] = 0  # ReLU zeros and ties in the pool windows
    out = model.forward(x, training=True)
    dy = rng.standard_normal(out.shape)
    model.backward(dy)
    fused = {k: v.copy() for k, v in model.named_grads().items()}
    d = dy
    for node in reversed(model.nodes):
        d = node.layer.backward(d)
    for k, g in model.named_grads().items():
        np.testing.assert_array_equal(fused[k], g, err_msg=k)


# -- one training step, public ---------------------------------------------------------------------

def test_compute_gradients_is_train_step_without_the_update():
    rng = np.random.default_rng(5)
    x = rng.random((8, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    a = scratch.build_model("lenet", seed=0).compile(scratch.SGD(0.1))
    b = scratch.build_model("lenet", seed=0).compile(scratch.SGD(0.1))
    loss, out = a.compute_gradients(x, y)
    assert out.shape == (8, 10) and np.isfinite(loss)
    a.optimizer.step(a.named_params(), a.named_grads())
    b.train_step(x, y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_compute_gradients_refuses_bad_labels_by_name():
    model = scratch.build_model("blog", seed=0)
    with pytest.raises(ValueError, match=r"Sequential.compute_gradients: labels must be in \[0, 9\]"):
        model.compute_gradients(np.zeros((2, 28, 28, 1), np.float32), np.array([0, 10]))


# -- the house -------------------------------------------------------------------------------------

def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """``(module-level imports, function-level imports)`` of ``scratch`` names in one file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    top, inner = set(), []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        names = [n for n in names if n.startswith("scratch")]
        if node.col_offset == 0:
            top.update(names)
        elif names:
            inner.append((node.lineno, names))
    return top, inner


def _module_graph():
    files = {_module_name(p): p for p in (ROOT / "scratch").rglob("*.py")}
    graph = {}
    for mod, path in files.items():
        top, _ = _imports(path)
        graph[mod] = {t for t in (n if n in files else n.rsplit(".", 1)[0] for n in top) if t in files and t != mod}
    return graph, files


def test_scratch_has_no_function_level_imports_of_its_own_modules():
    _, files = _module_graph()
    inner = {mod: _imports(path)[1] for mod, path in files.items()}
    assert {mod: lines for mod, lines in inner.items() if lines} == {}


def test_the_import_graph_of_scratch_has_no_circle_below_the_package():
    """Packages import their modules (``scratch.layers`` its families), so edges into a package's own
    ``__init__`` from its modules would be the circles; every other edge must point downwards."""
    graph, _ = _module_graph()
    state, path = {}, []

    def visit(mod):
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph[mod]):
            if mod.startswith(dep + "."):  # a module importing its own package's __init__ (siblings via it)
                continue
            if state.get(dep) == 1:
                raise AssertionError(f"import circle: {' -> '.join(path[path.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep)
        path.pop()
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)


# -- the command line takes such Sequentials -------------------------------------------------------

GREY = {"name": "grey", "layers": [{"class_name": "InputLayer", "config": {"batch_shape": [None, 28, 28]}},
                                   {"class_name": "Reshape", "config": {"target_shape": [28, 28, 1]}},
                                   {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3}},
                                   {"class_name": "Flatten", "config": {}},
                                   {"class_name": "Dense", "config": {"units": 10}}]}
DCGAN_STYLE = {"name": "dcgan-style", "input_shape": [28, 28, 1], "layers": [
    {"class_name": "Flatten", "config": {}},
    {"class_name": "Dense", "config": {"units": 98, "activation": "relu"}},
    {"class_name": "Reshape", "config": {"target_shape": [7, 7, 2]}},
    {"class_name": "UpSampling2D", "config": {"size": 2}},
    {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 10}}]}
VECTOR = {"name": "vector", "input_shape": [100], "layers": [
    {"class_name": "Dense", "config": {"units": 98}}, {"class_name": "Reshape", "config": {"target_shape": [7, 7, 2]}},
    {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 10}}]}


@pytest.mark.parametrize("desc", [GREY, DCGAN_STYLE], ids=["grey-input-reshape", "dcgan-style"])
def test_train_py_scratch_takes_any_input_rank_and_a_dense_reshape_stack(desc, tmp_path, capsys):
    import json

    from tests.cli_run import run

    path = tmp_path / "arch.json"
    path.write_text(json.dumps(desc))
    rc, out, err = run(["scratch", "--arch", str(path), "--limit", "64", "--test-limit", "32", "--epochs", "1",
                        "--no-plots", "--no-convert", "--out", str(tmp_path / "run")], capsys)
    assert rc == 0, err
    again = scratch.load_checkpoint(tmp_path / "run" / "model.npz")[0]
    assert isinstance(again, scratch.Sequential) and again.get_config()["input_shape"] == desc.get(
        "input_shape", [28, 28])


def test_train_py_scratch_refuses_a_vector_input_in_one_line(tmp_path, capsys):
    import json

    from tests.cli_run import run

    path = tmp_path / "arch.json"
    path.write_text(json.dumps(VECTOR))
    rc, _, err = run(["scratch", "--arch", str(path), "--limit", "64", "--test-limit", "32", "--epochs", "1",
                      "--no-plots", "--no-convert", "--out", str(tmp_path / "run")], capsys)
    assert rc != 0 and err.count("\n") == 1 and "of shape (100,)" in err and "(32, 28, 28, 1)" in err


# -- backward refuses what it cannot differentiate -------------------------------------------------

def test_backward_before_forward_or_with_a_wrong_dy_names_the_model():
    x = scratch.Input((4,))
    model = scratch.Model(x, scratch.Dense(3)(scratch.Dense(5)(x)), name="tiny")
    with pytest.raises(ValueError, match=r"Model 'tiny': backward called before forward"):
        model.backward(np.zeros((2, 3), np.float32))
    model.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Model 'tiny'.backward: dy must be an array of the last forward's output "
                                         r"shape \(2, 3\), received shape \(2, 4\)"):
        model.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"received list"):
        model.backward([np.zeros((2, 3), np.float32)])
    seq = scratch.Sequential([scratch.Dense(3)], input_shape=(4,))
    with pytest.raises(ValueError, match=r"Sequential: backward called before forward"):
        seq.backward(np.zeros((2, 3), np.float32))
