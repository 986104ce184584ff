"""Normalization layers and frozen layers across the engines: training with frozen layers,
parameter counts as Keras counts them, conversions and weight files keeping the moving
statistics and the ``trainable`` flag, and what ``from_keras`` refuses."""

from parity_tests import twins  # noqa: I001  (TensorFlow deterministic before Keras loads)

import h5py
import keras
import numpy as np
import pytest

import keras_ref
import scratch
from parity_tests import cases
from parity_tests import tolerances as tol
from parity_tests.compare import assert_parity

FROZEN = ("conv2d", "batch_normalization")  # the frozen layers of cases.BN_FROZEN_NET


def _frozen_run(dtype, steps, optimizer="adam"):
    arch = cases.BN_FROZEN_NET
    start = twins.weights_of(scratch.build_model(arch, dtype=dtype, seed=0).layers)
    batches = twins.mnist_batches(dtype, steps, 16, arch["preprocess"], seed=0)
    return start, list(twins.train_parity(arch, dtype, optimizer, batches, seed=0))


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_frozen_layers_stay_bit_identical_and_the_rest_trains_as_keras(dtype):
    """A frozen Conv2D and a frozen BatchNormalization (run in inference mode under
    ``training=True``, moving statistics untouched) keep their exact initial weights in both
    engines, while the layers after them train in parity with Keras (gradients flow through)."""
    # float32 holds over all the steps here (measured 7e-6 of scale), unlike cases.BN_NET's: the
    # first BatchNormalization, frozen, divides by fixed statistics instead of the batch's
    start, run = _frozen_run(dtype, tol.TRAIN_STEPS)
    frozen_keys = [k for k in start if k[0] in FROZEN]
    assert {k[1] for k in frozen_keys} == {"kernel", "gamma", "beta", "moving_mean", "moving_variance"}
    for step, ours, theirs, _, _ in run:
        for key in frozen_keys:
            for side in (ours, theirs):
                assert side[key].tobytes() == start[key].tobytes(), f"step {step}: {key} changed"
        assert_parity(ours, theirs, tol.for_dtype("TRAIN", dtype), context=f"frozen net {dtype} step {step}",
                      dtype=dtype)
    last = run[-1][1]
    for key in start:  # everything else moved, the unfrozen moving statistics included
        if key[0] not in FROZEN:
            assert np.abs(last[key] - start[key]).max() > 1e-4, f"{key} did not train"


@pytest.mark.parametrize("arch", [cases.BN_NET, cases.BN_FROZEN_NET, "lenet"], ids=["bn", "bn-frozen", "lenet"])
def test_parameter_counts_are_keras_counts(arch):
    """Total, trainable and non-trainable counts, per layer and in ``summary()``, as Keras counts
    them: moving statistics and a frozen layer's weights are non-trainable."""
    model = scratch.build_model(arch)
    km = keras_ref.to_keras(model)
    trainable = sum(int(np.prod(v.shape)) for v in km.trainable_weights)
    non_trainable = sum(int(np.prod(v.shape)) for v in km.non_trainable_weights)
    assert model.count_params() == km.count_params() == trainable + non_trainable
    for layer, klayer in zip(model.layers, km.layers):
        assert layer.count_params() == klayer.count_params(), layer.name
        assert layer.count_trainable_params() == sum(int(np.prod(v.shape)) for v in klayer.trainable_weights)
    lines = []
    model.summary(print_fn=lines.append)
    ours = {line.split(":")[0].strip(): line.split(":")[1].split("(")[0].strip() for line in lines if "params:" in line}
    assert ours == {"Total params": f"{trainable + non_trainable:,}", "Trainable params": f"{trainable:,}",
                    "Non-trainable params": f"{non_trainable:,}"}
    theirs = []
    km.summary(print_fn=lambda s, line_break=False: theirs.append(s))
    text = "\n".join(theirs)
    for key, value in ours.items():
        assert f"{key}: {value} " in text, (key, value, text)  # Keras prints the same figures


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_conversions_keep_moving_statistics_and_the_frozen_flag(dtype):
    model = scratch.build_model(cases.BN_FROZEN_NET, dtype=dtype, seed=3)
    for layer in model.layers:
        cases.randomize_bias(layer, seed=5)  # moving statistics away from 0 / 1
    km = keras_ref.to_keras(model)
    assert [kl.trainable for kl in km.layers] == [la.trainable for la in model.layers]
    assert [kl.trainable for kl in km.layers][:2] == [False, False]
    back = keras_ref.from_keras(km, preprocess=model.preprocess)
    assert [la.trainable for la in back.layers] == [la.trainable for la in model.layers]
    assert back.get_config() == model.get_config()
    for a, b in zip(back.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    x = twins.mnist_batches(dtype, 1, 8, model.preprocess)[0][0]
    assert_parity({("model", "out"): model.predict(x)}, {("model", "out"): np.asarray(km(x, training=False))},
                  tol.for_dtype("MODEL", dtype), dtype=dtype)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".npz"])
def test_weight_files_keep_moving_statistics(tmp_path, suffix):
    model = scratch.build_model(cases.BN_FROZEN_NET, seed=1)
    model.compile(scratch.SGD(0.01))
    x, y = twins.mnist_batches("float32", 1, 16, model.preprocess)[0]
    model.train_step(x, y)  # the unfrozen BatchNormalization's moving statistics move
    moving = model.layers[5].state["moving_mean"]
    assert np.abs(moving).max() > 0
    path = tmp_path / f"bn{suffix}"
    if suffix == ".npz":
        model.save(path)
    else:
        keras_ref.save_keras_weights(model, path)
    loaded = keras_ref.load_weights_file(path, arch=cases.BN_FROZEN_NET)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert [la.trainable for la in loaded.layers] == [la.trainable for la in model.layers]
    keras_model = keras_ref.load_keras_model(path, arch=cases.BN_FROZEN_NET)
    for a, b in zip(keras_model.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_h5_file_missing_the_moving_statistics_is_refused(tmp_path):
    """A .weights.h5 whose BatchNormalization has only gamma and beta does not fit the architecture."""
    arch = {"input_shape": [6, 6, 2], "layers": [{"class_name": "BatchNormalization", "config": {}},
                                                  {"class_name": "Flatten", "config": {}}]}
    path = tmp_path / "bn.weights.h5"
    keras_ref.save_keras_weights(scratch.build_model(arch), path)
    assert keras_ref.load_weights_file(path, arch=arch).count_params() == 8
    with h5py.File(path, "r+") as f:
        del f["layers/batch_normalization/vars/3"], f["layers/batch_normalization/vars/2"]
    with pytest.raises(ValueError, match=r"layer 'batch_normalization' \(BatchNormalization\) expects 4 weight "
                                         r"arrays \['gamma', 'beta', 'moving_mean', 'moving_variance'\], the file has 2"):
        keras_ref.load_weights_file(path, arch=arch)


def _keras_model(layer, shape=(6, 6, 3)):
    return keras.Sequential([keras.Input(shape=shape), layer])


@pytest.mark.parametrize("make, fragments", [
    (lambda: keras.layers.BatchNormalization(axis=1), ["'bn'", "axis=1", "-1 or 3"]),
    (lambda: keras.layers.BatchNormalization(renorm=True), ["renorm=True", "no batch renormalization"]),
    (lambda: keras.layers.BatchNormalization(gamma_regularizer=keras.regularizers.OrthogonalRegularizer()),
     ["gamma_regularizer='OrthogonalRegularizer'", "['L1', 'L1L2', 'L2'] or None"]),
    (lambda: keras.layers.GroupNormalization(groups=3, axis=1), ["(GroupNormalization)", "axis=1", "-1 or 3"]),
    (lambda: keras.layers.LayerNormalization(rms_scaling=True), ["rms_scaling=True"]),
])
def test_from_keras_refuses_what_the_engine_does_not_compute(make, fragments):
    with pytest.warns(UserWarning) if "rms" in fragments[0] else _nothing():
        layer = make()
    layer.name = "bn"
    km = _keras_model(layer)
    with pytest.raises(ValueError) as e:
        keras_ref.from_keras(km)
    for f in ["from_keras"] + fragments:
        assert f in str(e.value), (f, str(e.value))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_from_keras_accepts_bn_on_axis_3_and_ln_on_its_last_axis():
    km = keras.Sequential([keras.Input(shape=(5, 5, 3)), keras.layers.BatchNormalization(axis=3, momentum=0.5),
                           keras.layers.LayerNormalization(axis=-1, epsilon=0.01, center=False)])
    model = keras_ref.from_keras(km)
    bn, ln = model.layers
    assert (bn.axis, bn.momentum, ln.axis, ln.epsilon, ln.center) == (3, 0.5, -1, 0.01, False)
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(np.float32)
    assert_parity({("m", "out"): model.predict(x)}, {("m", "out"): np.asarray(km(x))}, tol.MODEL_FLOAT32)
