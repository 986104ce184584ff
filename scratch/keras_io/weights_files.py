"""Weights in any of the engines' files, read into a given architecture, without TensorFlow.

    model = load_weights_file("blog.weights.h5", arch="blog")     # -> scratch model
    model = load_weights_file("model.keras")                      # its own architecture
    save_weights_file(model, "model.keras")                       # or .weights.h5 / .npz, atomically

As ``keras_ref.load_weights_file`` (which shares ``conform`` with this module): with ``arch``
given, the file must fit it, layer by layer (class, settings, weight shapes); a missing, extra
or differently shaped weight is refused naming the file, the layer, the weight and both shapes.
"""

import os

from .. import checkpoint
from ..models import build_model
from . import archive, preprocessing

SUFFIXES = (".npz", ".weights.h5", ".keras", ".h5")
IGNORED_SETTINGS = ("name", "dtype", "seed", "kernel_initializer", "bias_initializer")


def _kind(path, what):
    path = os.fspath(path)
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return suffix
    raise ValueError(f"{what}: {path}: unknown file type; expected one of {SUFFIXES}")


def check_shapes(path, layer, shapes):
    """Refuse ``shapes`` (a file's arrays for scratch ``layer``) unless they fit its weights."""
    weights = layer._weights()  # every weight in Keras order, BatchNormalization's moving statistics included
    names = list(weights)
    if len(shapes) != len(names):
        raise ValueError(f"{path}: layer {layer.name!r} ({type(layer).__name__}) expects {len(names)} weight arrays "
                         f"{names}, the file has {len(shapes)}")
    for k, shape in zip(names, shapes):
        if tuple(shape) != weights[k].shape:
            raise ValueError(f"{path}: layer {layer.name!r} weight {k!r} expects shape {weights[k].shape}, "
                             f"the file has {tuple(shape)}")


def conform(model, arch, dtype, path):
    """``model`` rebuilt in ``dtype`` and, with ``arch``, checked against it layer by layer."""
    target = build_model(arch if arch is not None else model.get_config(), dtype=dtype)
    if arch is not None:
        if model.input_shape[1:] != target.input_shape[1:]:
            raise ValueError(f"{path}: input shape {model.input_shape[1:]} does not fit the architecture's "
                             f"{target.input_shape[1:]}")
        if len(model.layers) != len(target.layers):
            raise ValueError(f"{path}: {len(model.layers)} layers ({[la.name for la in model.layers]}) where the "
                             f"architecture has {len(target.layers)} ({[la.name for la in target.layers]})")
        for got, want in zip(model.layers, target.layers):
            if type(got) is not type(want):
                raise ValueError(f"{path}: layer {want.name!r} should be a {type(want).__name__}, the file has "
                                 f"{type(got).__name__} {got.name!r}")
            a, b = (
                {k: v for k, v in la.get_config().items() if k not in IGNORED_SETTINGS} for la in (got, want)
            )
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    raise ValueError(f"{path}: layer {want.name!r} has {key}={a.get(key)!r} in the file, "
                                     f"{b.get(key)!r} in the architecture")
            check_shapes(path, want, [w.shape for w in got.get_weights()])
    else:
        target.preprocess, target.loss_spec = model.preprocess, model.loss_spec
    for got, want in zip(model.layers, target.layers):
        want.set_weights(got.get_weights())
    return target


def load_weights_file(path, arch=None, dtype="float32"):
    """A scratch model from a ``.npz`` checkpoint, a ``.weights.h5`` (needs ``arch``), a ``.keras``
    file or a legacy ``.h5``. ``arch`` (registry name, .json path, dict, or a ``.keras`` file whose
    architecture it is) fixes the structure, preprocessing and loss; the file must fit it."""
    path = os.fspath(path)
    kind = _kind(path, "load_weights_file")
    if isinstance(arch, str) and arch.endswith(".keras"):
        arch = preprocessing.take_preprocessing(archive.read_model(arch), arch, warn=False).get_config()
    if not os.path.isfile(path):
        raise ValueError(f"load_weights_file: {path}: file not found")
    if kind == ".npz":
        if arch is None:
            return checkpoint.load_checkpoint(path, dtype=dtype)[0]
        return conform(checkpoint.load_checkpoint(path)[0], arch, dtype, path)
    if kind == ".weights.h5":
        if arch is None:
            raise ValueError(f"load_weights_file: {path}: a .weights.h5 file holds no architecture; give arch=")
        return archive.load_weights(build_model(arch, dtype=dtype), path)
    model = preprocessing.take_preprocessing(archive.read_model(path), path, warn=arch is None)
    return conform(model, arch, dtype, path)


def save_weights_file(model, path):
    """``model`` as a ``.npz`` checkpoint, a Keras ``.weights.h5`` or a ``.keras`` file, atomically."""
    path = os.fspath(path)
    kind = _kind(path, "save_weights_file")
    if kind == ".npz":
        return checkpoint.save_checkpoint(path, model)
    if kind == ".h5":
        raise ValueError(f"save_weights_file: {path}: legacy .h5 files are read, not written; use .keras")
    return archive.save(model, path)
