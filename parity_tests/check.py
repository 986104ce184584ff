"""``python -m parity_tests.check MODEL.keras``: is the scratch engine equal to Keras on *your* model?

    python -m parity_tests.check my_model.keras                     # float32, batch 4, seed 0
    python -m parity_tests.check my_model.keras --dtype float64 --batch 2 --seed 3
    python -m parity_tests.check siamese.keras --no-safe-mode      # a file holding a Lambda layer
    python -m parity_tests.check fcn.keras --size 24               # keras.Input((None, None, 3)) at 24x24
    python -m parity_tests.check mine.keras --import my_layers.py  # your own layers and their twins

Loads the file with Keras (``keras.saving.load_model(path, compile=False)``), converts it with
``keras_ref.from_keras`` (which refuses, naming the layer and the setting, anything the scratch
engine does not compute) and compares the two engines on random input of the model's shape:

- **one row per layer call**, in the graph's order (a nested model's layers as ``model/layer``,
  a second call of a shared layer as ``layer (call 2)``). Each layer is checked *in isolation*:
  both engines' layer gets the same input array (the one the scratch graph feeds that call) and
  the same random upstream gradient ``dy``; the row holds the largest absolute and relative
  (to the tensor's scale) differences of the layer's output, of ``dL/d(input)`` and of the
  gradients of its weights, for ``L = sum(output * dy)``. Isolated, a layer's differences are its
  own rounding, not that of every layer before it, so the row is held to a per-layer tolerance
  (``CHECK_LAYER_FLOAT32``/``CHECK_LAYER_FLOAT64``: every tensor against its own scale, no
  absolute floor, because a user's tensors can be of any scale) and a wrong layer shows up in
  its own row however deep it sits;
- **one whole-model row**: the model output, ``dL/d(input)`` and the gradient of every trainable
  weight for ``L = sum(output * r)``, ``r`` random, each engine computing the whole graph itself,
  held to ``CHECK_MODEL_FLOAT32``/``CHECK_MODEL_FLOAT64`` (float32 rounding chained through
  hundreds of layers reaches 6e-5 of scale; the float64 bound is the model suite's 1e-11).
  A weight gradient that is 0 in theory (a conv bias before ``Softmax(axis=1)``, or before a
  training-mode BatchNormalization) is rounding noise in both engines, meaningless relative to
  itself: when it is out of tolerance on its own scale while every value on both sides is within
  ``rtol`` x the model's largest weight gradient, it is judged against that scale instead; the
  row's tolerance is then marked ``*`` and a line below the table names those gradients.

An adapted ``Normalization`` (EfficientNet's) holds its mean and variance as Keras weights and as
configuration in the scratch layer: they are compared as the layer's state; its ``count`` (of the
samples ``adapt()`` saw, an int64 used in no computation) is not compared, and never cast.

A file whose ``keras.Input`` is float32 while its layers compute in float64 (a model built under a
``float64`` policy) rounds its input to float32; the scratch twin does not. The Keras model is then
compared with a float64 input (rebuilt as ``--dtype float64`` does), and a ``note:`` line says so.

All tolerances, with their measurements, are in ``parity_tests/tolerances.py``.

Exit status: 0 when every row is within its tolerance, 1 when a row is not (the rows out of
tolerance are then described one by one below the table), 2 when the model cannot be taken (no
such file, Keras cannot load it, or ``from_keras`` refuses a layer or setting: one line naming it).

``--dtype float64`` recomputes the Keras model in float64: a float32 file is rebuilt from its
configuration with every float32 dtype (layers' policies, inputs) replaced by float64, and its
float weights are copied in, cast (an int64 count is copied as it is).

Both engines run in inference mode (``training=False``: BatchNormalization uses its moving
statistics, Dropout passes its input through), the mode a model file is used in. Training mode
is covered by ``parity_tests/test_functional_parity.py`` and the ``parity_tests/zoo.py`` harness;
``check(..., training=True)`` (Python only) runs it here, the zero-in-theory bias gradients before
a BatchNormalization judged as above.
"""

from parity_tests.determinism import tf  # noqa: I001  (TensorFlow deterministic before Keras loads)

import argparse
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field

import keras
import numpy as np

import keras_ref
import scratch
from parity_tests import twins, zoo
from parity_tests import tolerances as tol
from parity_tests.compare import compare

DTYPES = ("float32", "float64")
EXIT_OK, EXIT_OUT_OF_TOLERANCE, EXIT_CANNOT_TAKE = 0, 1, 2
DEFAULT_SIZE = 16  # an input size the model leaves open (None) is checked at this size (--size)


class CannotTake(Exception):
    """The model cannot be taken (file, Keras loading or a refusal of ``from_keras``): exit 2."""


# -- loading ---------------------------------------------------------------------------------
def _one_line(e):
    return re.sub(r"\s+", " ", str(e)).strip()


def load(path, dtype=None, notes=None, safe_mode=True):
    """``(keras model in dtype, scratch twin)`` of the ``.keras`` file ``path``; ``CannotTake`` if not possible.

    A file whose ``Input`` has a narrower float dtype than its layers compute in (a model built under
    a ``float64`` policy keeps ``keras.Input``'s float32) rounds its input before the first layer;
    the scratch twin computes in the layers' dtype and does not. That rounding is the file's, not the
    conversion's: the Keras model is compared with its inputs in the layers' dtype, and a line saying
    so is appended to ``notes`` (a list, when given).

    ``safe_mode=False`` is Keras's own option (``--no-safe-mode``): a ``Lambda`` layer's function is
    Python code stored in the file, which Keras deserializes only when told to (trust the file first)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CannotTake(f"{path}: no such file")
    if not path.endswith(".keras"):
        raise CannotTake(f"{path}: expected a Keras model file (.keras)")
    try:
        km = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as e:  # Keras raises ValueError, TypeError... for files it cannot read
        if safe_mode and "safe_mode" in str(e) and "Lambda" in str(e):
            raise CannotTake(f"{path}: holds a Lambda layer, whose Python code Keras loads only with safe_mode=False; "
                             f"if you trust the file, rerun with --no-safe-mode") from None
        raise CannotTake(f"{path}: Keras cannot load it: {type(e).__name__}: {_one_line(e)}") from None
    if not isinstance(km, keras.Model):
        raise CannotTake(f"{path}: holds a {type(km).__name__}, not a Keras model")
    try:
        model = keras_ref.from_keras(km)  # refusals are the same in any dtype: ask the file as it is first
        if dtype is not None and model.dtype != dtype:
            km = retyped(km, dtype, safe_mode)
            model = keras_ref.from_keras(km)
        narrow = _narrow_inputs(km, model.dtype.name)
        if narrow:
            km = retyped(km, model.dtype.name, safe_mode)
            if notes is not None:
                notes.append(f"note: the file's input{'s' if len(narrow) > 1 else ''} {', '.join(narrow)} "
                             f"(its layers compute in {model.dtype.name}) would round the input before the first "
                             f"layer; both engines take the same {model.dtype.name} input here")
    except ValueError as e:
        raise CannotTake(f"{path}: {_one_line(e)}") from None
    except Exception as e:  # not a refusal of from_keras: name what in the graph it could not take
        op = next(_operations_not_layers(km), None)
        if op is None:
            raise
        raise CannotTake(f"{path}: from_keras: {op.name!r} is a {type(op).__module__}.{type(op).__name__} operation "
                         f"on tensors (e.g. `x + y` in the model's code), not a layer; the scratch engine takes "
                         f"layers ({type(e).__name__}: {_one_line(e)})") from None
    return km, model


def _narrow_inputs(km, dtype):
    """``["'name' float32"]`` for each float input of ``km`` narrower than ``dtype``."""
    return [f"{t.name!r} {t.dtype}" for t in km.inputs
            if np.dtype(t.dtype).kind == "f" and np.dtype(t.dtype).itemsize < np.dtype(dtype).itemsize]


def _operations_not_layers(km):
    """The operations of a Functional graph (nested ones included) that are not layers, in graph order."""
    for op in getattr(km, "operations", km.layers):
        if isinstance(op, keras.Model):
            yield from _operations_not_layers(op)
        elif not isinstance(op, keras.layers.Layer):
            yield op


def _retype_config(obj, dtype):
    """A copy of a serialized Keras object with every float dtype (policies and plain names) set to ``dtype``."""
    if isinstance(obj, list):
        return [_retype_config(v, dtype) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if k == "dtype" and v in DTYPES:
            out[k] = dtype
        elif k == "dtype" and isinstance(v, dict) and v.get("class_name") == "DTypePolicy":
            out[k] = {**v, "config": {**v["config"], "name": dtype}} if v["config"].get("name") in DTYPES else v
        else:
            out[k] = _retype_config(v, dtype)
    return out


def retyped(km, dtype, safe_mode=True):
    """``km`` rebuilt computing in ``dtype`` (every layer's policy and every input), its float weights
    cast in; weights that are not floats (``Normalization``'s ``count`` of adapted samples, an int64)
    are counts, copied as they are.

    Raises ``ValueError`` if a layer of the copy does not compute in ``dtype`` or keeps a float
    weight of another dtype (it would then be no ``dtype`` comparison at all)."""
    with twins.keras_floatx(dtype):
        twin = keras.saving.deserialize_keras_object(_retype_config(keras.saving.serialize_keras_object(km), dtype),
                                                     safe_mode=safe_mode)
    twin.set_weights([np.asarray(w).astype(dtype) if _is_float(w.dtype) else np.asarray(w) for w in km.get_weights()])
    for path, klayer in _keras_leaves(twin):
        if hasattr(klayer, "finalize_state"):  # an adapted Normalization computes with constants made from
            klayer.finalize_state()            # its weights when they are loaded; set_weights does not remake them
        if klayer.dtype_policy.compute_dtype != dtype:
            raise ValueError(f"check: layer {path!r} ({type(klayer).__name__}) computes in "
                             f"{klayer.dtype_policy.compute_dtype} after the conversion to {dtype}")
        other = next((v for v in klayer.weights if _is_float(v.dtype) and v.dtype != dtype), None)
        if other is not None:
            raise ValueError(f"check: layer {path!r} ({type(klayer).__name__}) keeps its weight "
                             f"{twins.var_name(other)!r} in {other.dtype} after the conversion to {dtype}")
    return twin


def _is_float(dtype):
    return np.dtype(getattr(dtype, "name", dtype)).kind == "f"


def _keras_leaves(km, prefix=""):
    for la in km.layers:
        if isinstance(la, keras.Model):
            yield from _keras_leaves(la, f"{prefix}{la.name}/")
        elif not isinstance(la, keras.layers.InputLayer):
            yield f"{prefix}{la.name}", la


# -- the rows ----------------------------------------------------------------------------------
@dataclass
class Row:
    """One layer call (or the whole model) and its differences, ``{aspect: [Diff]}``."""

    path: str
    kind: str
    tolerance: tol.Tolerance
    diffs: dict = field(default_factory=dict)
    model_wide: dict = field(default_factory=dict)  # {tensor: Tolerance}: gradients judged at the model's scale
    gradient_scale: float = 0.0  # the largest weight-gradient magnitude (whole-model row)

    def tolerance_of(self, tensor):
        return self.model_wide.get(tensor, self.tolerance)

    @property
    def ok(self):
        return all(d.ok for ds in self.diffs.values() for d in ds)

    def worst(self, aspect):
        """``(max abs, max rel)`` over the aspect's tensors, or None when the layer has none."""
        ds = self.diffs.get(aspect, [])
        return (max(d.max_abs for d in ds), max(d.max_rel for d in ds)) if ds else None


def _aspect(tensor):
    if tensor == "output" or tensor.startswith("output "):  # "output 0", "output 1": a model's several outputs
        return "output"
    if tensor.startswith("grad input"):
        return "input gradient"
    if tensor.startswith("grad "):
        return "weight gradients"
    return "state"  # moving statistics after a training-mode call


def _row(path, kind, ours, theirs, tolerance, dtype):
    row = Row(path, kind, tolerance)
    for d in compare(ours, theirs, tolerance, dtype):
        row.diffs.setdefault(_aspect(d.tensor), []).append(d)
    return row


def _graph(model):
    """``[(layer, inbound keys, as_list, output key)]`` of a scratch model (graph or Sequential), in order."""
    return [(n.layer, [id(t) for t in n.inbound], n.as_list, id(n.output)) for n in model.nodes], \
        [id(t) for t in model.inputs], [id(t) for t in model.outputs]


def layer_rows(model, klayers, xs, rng, dtype, training, prefix="", calls=None):
    """Check every layer call of ``model`` in isolation on the arrays the scratch graph feeds it;
    returns ``(rows, outputs)``. ``klayers``: Keras layers by path."""
    calls = {} if calls is None else calls
    nodes, inputs, outputs = _graph(model)
    values = dict(zip(inputs, xs))
    rows = []
    tolerance = tol.for_dtype("CHECK_LAYER", dtype)
    for layer, inbound, as_list, out in nodes:
        args = [values[k] for k in inbound]
        path = f"{prefix}{layer.name}"
        if isinstance(layer, scratch.Model):
            inner, ys = layer_rows(layer, klayers, args, rng, dtype, training, f"{path}/", calls)
            rows += inner
            values[out] = ys[0]
            continue
        calls[path] = calls.get(path, 0) + 1
        x = args if as_list else args[0]
        dy = rng.standard_normal((len(args[0]),) + tuple(layer.compute_output_shape(
            [a.shape for a in args] if as_list else args[0].shape)[1:])).astype(dtype)
        wanted, layer.input_grad = layer.input_grad, True  # the graph may skip dL/dx where nobody needs it
        try:
            ours = twins.scratch_layer_pass(layer, x, dy, training)
        finally:
            layer.input_grad = wanted
        # an operation written on tensors (x + y, x * 0.5) has no Keras layer: its scratch layer's Keras twin
        klayer = klayers[path] if path in klayers else twins.keras_twin(layer)
        theirs = twins.keras_layer_pass(klayer, x, dy, training, param_names=list(layer.params))
        _statistics_as_state(layer, klayer, ours, theirs, dtype)
        label = path if calls[path] == 1 else f"{path} (call {calls[path]})"
        rows.append(_row(label, type(layer).__name__, ours, theirs, tolerance, dtype))
        values[out] = ours[(layer.name, "output")]
    return rows, [values[k] for k in outputs]


def _statistics_as_state(layer, klayer, ours, theirs, dtype):
    """An adapted Keras ``Normalization`` holds its statistics as weights (``mean``, ``variance`` and
    ``count``, the number of samples ``adapt()`` saw); the scratch layer holds the mean and variance
    as configuration. Those two are compared as the layer's state (the values the conversion copied);
    ``count`` is adapt()'s bookkeeping, used in no computation, and has no scratch counterpart."""
    if not isinstance(layer, scratch.Normalization):
        return
    theirs.pop((klayer.name, "state count"), None)
    for name in ("mean", "variance"):
        if (klayer.name, f"state {name}") in theirs:
            ours[(layer.name, f"state {name}")] = np.asarray(getattr(layer, name), dtype=dtype)


def _near_zero_gradients(ours, theirs, tolerance):
    """``(scale, {tensor: model-wide Tolerance})`` for the whole-model row's weight gradients that are
    zero at the model's scale: every value on both sides within ``rtol * scale``, ``scale`` the
    largest weight-gradient magnitude of the model (Keras's). A gradient that is exactly 0 in theory
    (a conv bias before ``Softmax(axis=1)`` or before a training-mode BatchNormalization: the
    normalization removes it) is rounding noise in both engines, which no tolerance relative to that
    tensor itself can judge; such a tensor may be held to ``rtol * scale`` instead, where a wrong value
    (of the model's scale) still fails."""
    grads = [k for k in theirs if k[1].startswith("grad ") and not k[1].startswith("grad input")]
    scale = max((float(np.abs(theirs[k]).max()) for k in grads if np.size(theirs[k])), default=0.0)
    floor = tolerance.rtol * scale
    wide = tol.Tolerance(f"{tolerance.name} of the model's largest weight gradient", tolerance.rtol, floor,
                         tolerance.why)
    judged = {}
    for k in grads:
        a, b = np.asarray(ours.get(k, np.inf)), np.asarray(theirs[k])
        if scale > 0 and a.shape == b.shape and a.size and np.all(np.isfinite(a)) \
                and max(float(np.abs(a).max()), float(np.abs(b).max())) <= floor:
            judged[k[1]] = wide
    return scale, judged


def model_row(model, km, xs, rs, dtype, training):
    """The whole model in each engine: output(s), dL/d(input(s)) and every trainable weight's gradient,
    for ``L = sum(output * r)`` (summed over the outputs)."""
    multi_in, multi_out = len(xs) > 1, len(rs) > 1
    out_names = [f"output {i}" if multi_out else "output" for i in range(len(rs))]
    in_names = [f"grad input {i}" if multi_in else "grad input" for i in range(len(xs))]
    model._set_input_grads(True)  # a model normally skips dL/d(its input images)
    try:
        out = model.forward(xs if multi_in else xs[0], training=training)
        dx = model.backward(rs if multi_out else rs[0])
    finally:
        model._set_input_grads(False)
    ours = dict(zip((("model", n) for n in out_names), out if multi_out else [out]))
    ours.update((("model", n), d) for n, d in zip(in_names, dx if multi_in else [dx]) if d is not None)  # None: indices
    ours.update({("model", f"grad {p}"): g.copy() for p, g in model.named_grads().items()})
    paths = zoo.keras_paths(km, trainable_only=True)
    xts = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        for xt in xts:
            tape.watch(xt)
        kout = km(xts if multi_in else xts[0], training=training)
        kouts = list(kout) if multi_out else [kout]
        loss = tf.add_n([tf.reduce_sum(o * tf.constant(r)) for o, r in zip(kouts, rs)])
    grads = tape.gradient(loss, xts + [v for _, v in paths])
    theirs = {("model", n): o.numpy() for n, o in zip(out_names, kouts)}
    theirs.update({("model", n): g.numpy() for n, g in zip(in_names, grads[:len(xts)]) if g is not None})
    theirs.update({("model", f"grad {p}"): tf.convert_to_tensor(g).numpy() for (p, _), g in zip(paths, grads[len(xts):])})
    tolerance = tol.for_dtype("CHECK_MODEL", dtype)
    row = _row("(whole model)", type(model).__name__, ours, theirs, tolerance, dtype)
    # a gradient out of tolerance on its own scale but zero at the model's: judged at the model's scale
    row.gradient_scale, near_zero = _near_zero_gradients(ours, theirs, tolerance)
    diffs = row.diffs.get("weight gradients", [])
    for i, d in enumerate(diffs):
        if not d.ok and d.tensor in near_zero:
            key = ("model", d.tensor)
            diffs[i] = compare({key: ours[key]}, {key: theirs[key]}, near_zero[d.tensor], dtype)[0]
            row.model_wide[d.tensor] = near_zero[d.tensor]
    return row


def _index_range(model, i):
    """Integer input ``i`` of ``model`` holds indices (an Embedding's): draw them below the smallest
    ``input_dim`` of the layers reading it, so every layer sees valid indices."""
    t = model.inputs[i]
    dims = [n.layer.input_dim for n in model.nodes if any(u is t for u in n.inbound) and hasattr(n.layer, "input_dim")]
    return min(dims, default=2)


def input_shapes(km, size=DEFAULT_SIZE):
    """The shapes (no batch axis) of ``km``'s inputs, each size Keras leaves open (``None``: any) as ``size``."""
    return [tuple(size if d is None else d for d in t.shape[1:]) for t in km.inputs]


def check(km, model, batch=4, seed=0, training=False, size=DEFAULT_SIZE):
    """Every row (layer calls in the graph's order, then the whole model) of ``km`` against ``model``.

    ``training=True`` (not offered on the command line, see the module doc) runs both in training
    mode, each Dropout layer applying the same random keep mask in both engines. ``size``: the size
    of the input axes the model leaves open (``keras.Input((None, None, 3))``)."""
    dtype = model.dtype.name
    rng = np.random.default_rng(seed)
    shapes = input_shapes(km, size)
    xs = [rng.integers(0, _index_range(model, i), (batch,) + s).astype(t.dtype.name)
          if np.issubdtype(t.dtype, np.integer) else rng.standard_normal((batch,) + s).astype(dtype)
          for i, (s, t) in enumerate(zip(shapes, model.inputs))]
    klayers = dict(_keras_leaves(km))
    masks = twins.dropout_masks(model, batch, seed) if training else {}
    with zoo.injected_masks(model, km, masks):
        rows, outs = layer_rows(model, klayers, xs, rng, dtype, training)
        rs = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
        rows.append(model_row(model, km, xs, rs, dtype, training))
    return rows


# -- the table ---------------------------------------------------------------------------------
def _cell(worst):
    return ("-", "-") if worst is None else (f"{worst[0]:.2e}", f"{worst[1]:.2e}")


def render(rows):
    head = ["layer", "class", "out abs", "out rel", "dx abs", "dx rel", "dW abs", "dW rel", "tolerance", "ok"]
    table = []
    for r in rows:
        cells = [r.path, r.kind]
        for aspect in ("output", "input gradient", "weight gradients"):
            cells += _cell(r.worst(aspect))
        table.append(cells + [r.tolerance.name + (" *" if r.model_wide else ""), "ok" if r.ok else "FAIL"])
    widths = [max(len(h), *(len(c[i]) for c in table)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*c) for c in table]


def report(rows, print_fn=print):
    """Print the table and the rows out of tolerance; returns the exit status."""
    for line in render(rows):
        print_fn(line)
    bad = [r for r in rows if not r.ok]
    used = dict.fromkeys(r.tolerance for r in rows)
    print_fn("tolerances: " + "; ".join(f"{t.name} rtol {t.rtol:g} atol {t.atol:g}" for t in used)
             + " (max|scratch - keras| <= atol + rtol * max|keras|, per tensor; rel = abs / max|keras|)")
    for r in rows:
        if r.model_wide:
            worst = {d.tensor: d.max_abs for ds in r.diffs.values() for d in ds if d.tensor in r.model_wide}
            print_fn(f"* {r.path}: {len(worst)} weight gradient{'s' if len(worst) != 1 else ''} out of tolerance "
                     f"on {'their' if len(worst) != 1 else 'its'} own scale but zero at the model's (every value "
                     f"on both sides within rtol x {r.gradient_scale:.2e}, the model's largest weight gradient; "
                     f"0 in theory, e.g. a bias before Softmax(axis=1) or before a training-mode "
                     f"BatchNormalization), judged against rtol x that scale instead: "
                     + ", ".join(f"{t} (max abs {a:.2e}, {a / r.gradient_scale:.1e} of the scale)"
                                 for t, a in worst.items()))
    if not bad:
        calls = f"{len(rows) - 1} layer call{'s' if len(rows) != 2 else ''}"
        print_fn(f"OK: {len(rows)} rows ({calls} and the whole model), all within tolerance")
        return EXIT_OK
    for r in bad:
        for ds in r.diffs.values():
            for d in ds:
                if not d.ok:
                    print_fn(d.message(r.tolerance_of(d.tensor), r.path))
    print_fn(f"FAIL: {len(bad)} of {len(rows)} rows out of tolerance, the first: {bad[0].path!r} ({bad[0].kind})")
    return EXIT_OUT_OF_TOLERANCE


def _import(name):
    """Import a module by name, or a ``.py`` file by path (``--import``)."""
    if name.endswith(".py"):
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(name))[0], name)
        if spec is None or not os.path.isfile(name):
            raise FileNotFoundError(f"no such file {name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(name)


def main(argv=None, print_fn=print):
    parser = argparse.ArgumentParser(prog="python -m parity_tests.check", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a Keras model file (.keras), Sequential or Functional")
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="compute both engines in this dtype (default: the file's own)")
    parser.add_argument("--batch", type=int, default=4, help="random input batch size (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input and gradients (default 0)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help=f"the size of input axes the model leaves open, keras.Input((None, None, 3)) "
                             f"(default {DEFAULT_SIZE})")
    parser.add_argument("--no-safe-mode", dest="safe_mode", action="store_false",
                        help="load with Keras's safe_mode=False, which a file holding a Lambda layer needs (its "
                             "function is Python code from the file: only for a file you trust)")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE (a module name, or a .py file) first: where your own Keras layer classes "
                             "and their registered NumPy twins are defined (scratch.register_layer, "
                             "docs/custom_layers.md); may be repeated")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be at least 1, received {args.batch}")
    if args.size < 1:
        parser.error(f"--size must be at least 1, received {args.size}")
    if args.seed < 0:  # NumPy's generators take a non-negative seed
        parser.error(f"--seed must be a non-negative integer, received {args.seed}")
    for name in args.imports:
        try:
            _import(name)
        except Exception as e:
            print_fn(f"cannot take the model: --import {name}: {type(e).__name__}: {_one_line(e)}")
            return EXIT_CANNOT_TAKE
    notes = []
    try:
        km, model = load(args.model, args.dtype, notes, safe_mode=args.safe_mode)
    except CannotTake as e:
        print_fn(f"cannot take the model: {e}")
        return EXIT_CANNOT_TAKE
    dtype = model.dtype.name
    shapes = ", ".join(str((args.batch,) + s) for s in input_shapes(km, args.size))
    print_fn(f"{args.model}: {type(km).__name__} {km.name!r}, random input {shapes} (seed {args.seed}), {dtype}, "
             f"inference mode")
    for line in notes:
        print_fn(line)
    return report(check(km, model, args.batch, args.seed, size=args.size), print_fn)


if __name__ == "__main__":
    sys.exit(main())
