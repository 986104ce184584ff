"""Model files carry their preprocessing (issue 13, item 1): a ``.keras`` file written here starts
with a ``Rescaling`` layer, so plain Keras and this project both compute the right outputs from
raw 0-255 pixels, in every format and through ``convert``."""

import os
import warnings

import keras  # noqa: E402
import numpy as np
import pytest

import keras_ref  # noqa: E402
import scratch  # noqa: E402
import train  # noqa: E402
from parity_tests import twins  # noqa: F401  (sets TF determinism first)

ARCHS = ("blog", "lenet")


def raw_pixels(n=16, seed=0):
    (_, _), (x_test, _) = scratch.load_mnist()
    return x_test[np.random.default_rng(seed).choice(len(x_test), n, replace=False)]


def trained_like(arch, dtype="float32"):
    """A model with random (seeded) non-zero biases, so no layer is trivially the identity."""
    model = scratch.build_model(arch, dtype=dtype, seed=3)
    rng = np.random.default_rng(4)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("arch", ARCHS)
def test_keras_file_runs_in_plain_keras_on_raw_pixels(arch, tmp_path):
    model = trained_like(arch)
    path = tmp_path / "m.keras"
    keras_ref.save_keras_weights(model, path)
    plain = keras.saving.load_model(path)
    assert type(plain.layers[0]).__name__ == "Rescaling"
    x = raw_pixels()
    expected = model.predict(scratch.preprocess(x, model.preprocess))
    for given in (x[..., None].astype("float32"), x[..., None]):  # float pixels and the uint8 file itself
        got = np.asarray(plain.predict(given, verbose=0))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        assert (got.argmax(-1) == expected.argmax(-1)).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_keras_file_reads_back_with_its_preprocessing_without_arch(arch, tmp_path):
    model = trained_like(arch)
    keras_ref.save_keras_weights(model, tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file written here needs no guess
        back = keras_ref.load_weights_file(tmp_path / "m.keras")
    assert back.preprocess == model.preprocess
    assert [type(la) for la in back.layers] == [type(la) for la in model.layers]
    assert all(np.array_equal(a, b) for a, b in zip(back.get_weights(), model.get_weights()))
    # through convert: .keras -> .npz -> .keras keeps it
    assert train.main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "m.npz")]) == 0
    assert scratch.load_checkpoint(tmp_path / "m.npz")[0].preprocess == model.preprocess
    assert train.main(["convert", str(tmp_path / "m.npz"), str(tmp_path / "again.keras")]) == 0
    assert keras_ref.load_weights_file(tmp_path / "again.keras").preprocess == model.preprocess


def test_eval_of_every_format_gives_the_same_accuracy(tmp_path, capsys):
    model = trained_like("blog")
    scratch.save_checkpoint(tmp_path / "m.npz", model)
    keras_ref.save_keras_weights(model, tmp_path / "m.keras")
    keras_ref.save_keras_weights(model, tmp_path / "m.weights.h5")
    capsys.readouterr()
    lines = []
    for argv in (["m.npz"], ["m.keras"], ["m.weights.h5", "--arch", "blog"]):
        assert train.main(["eval", str(tmp_path / argv[0]), *argv[1:], "--limit", "300"]) == 0
        lines.append(capsys.readouterr().out.split("test accuracy")[1].split("-")[0])
    assert lines[0] == lines[1] == lines[2], lines


def test_a_keras_file_without_rescaling_is_read_as_scale_with_a_warning(tmp_path):
    model = trained_like("blog")
    keras_ref.to_keras(model).save(tmp_path / "old.keras")  # how files were written before
    with pytest.warns(UserWarning, match="does not start with a Rescaling layer.*x / 255.*--arch"):
        back = keras_ref.load_weights_file(tmp_path / "old.keras")
    assert back.preprocess == "scale"
    # with the architecture, its preprocessing and no guess
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert keras_ref.load_weights_file(tmp_path / "old.keras", arch="blog").preprocess == "center"


def test_no_rescaling_warning_when_preprocess_says_how_pixels_are_scaled(tmp_path, capsys):
    """``--arch old.keras --preprocess center``: the warning's guess is not what the run uses, so it is not
    printed (it was, naming --arch, although --arch already was the file; issue 21)."""
    from tests.cli_run import run

    keras_ref.to_keras(trained_like("blog")).save(tmp_path / "old.keras")
    small = ["--arch", str(tmp_path / "old.keras"), "--limit", "64", "--test-limit", "32", "--epochs", "1",
             "--no-plots", "--no-convert"]
    rc, _, err = run(["scratch", *small, "--preprocess", "center", "--out", str(tmp_path / "given")], capsys)
    assert rc == 0 and "Rescaling" not in err, err
    rc, _, err = run(["scratch", *small, "--out", str(tmp_path / "guessed")], capsys)
    assert rc == 0 and "warning:" in err and "--preprocess center|scale|raw" in err, err


def test_another_rescaling_stays_a_layer_and_the_model_takes_raw_pixels(tmp_path):
    km = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 127.5, offset=-1.0),
                           keras.layers.Flatten(), keras.layers.Dense(10)])
    km.save(tmp_path / "other.keras")
    model = keras_ref.load_weights_file(tmp_path / "other.keras")
    assert model.preprocess == "raw" and isinstance(model.layers[0], scratch.Rescaling)
    x = raw_pixels(4)
    np.testing.assert_allclose(model.predict(scratch.preprocess(x, "raw")), km.predict(x[..., None], verbose=0),
                               rtol=1e-5, atol=1e-5)
    # written again, it reads back the same (an identity Rescaling in front marks "raw")
    keras_ref.save_keras_weights(model, tmp_path / "again.keras")
    back = keras_ref.load_weights_file(tmp_path / "again.keras")
    assert back.preprocess == "raw" and [type(la).__name__ for la in back.layers] == ["Rescaling", "Flatten", "Dense"]


def test_keras_run_writes_a_self_contained_keras_file(tmp_path, capsys):
    out = tmp_path / "k"
    assert train.main(["keras", "--epochs", "1", "--limit", "256", "--test-limit", "200", "--no-plots",
                       "--out", str(out)]) == 0
    capsys.readouterr()
    accuracies = []
    for name in ("model.npz", "model.keras"):
        assert train.main(["eval", str(out / name), "--limit", "200"]) == 0
        accuracies.append(capsys.readouterr().out.split("test accuracy")[1].split("-")[0])
    assert accuracies[0] == accuracies[1]
    for name in ("model.keras", "model.weights.h5"):
        assert os.stat(out / name).st_mode & 0o777 == os.stat(out / "model.npz").st_mode & 0o777


def test_an_architecture_starting_with_rescaling_is_not_scaled_twice():
    layers = [{"class_name": "Rescaling", "config": {"scale": 1 / 255}}, {"class_name": "Flatten"},
              {"class_name": "Dense", "config": {"units": 10}}]
    desc = scratch.get_architecture({"input_shape": [28, 28, 1], "layers": layers})
    assert desc["preprocess"] == "raw"
    with pytest.raises(ValueError, match="Rescaling and preprocess is 'scale'.*scaled twice"):
        scratch.get_architecture({"input_shape": [28, 28, 1], "layers": layers, "preprocess": "scale"})
