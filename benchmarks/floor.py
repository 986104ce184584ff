"""The GEMM floor: each layer type's measured time beside the time of its matrix products alone.

    python -m benchmarks.floor                          # lenet b128 and the four zoo models at b32
    python -m benchmarks.floor --models lenet DenseNet121 --repeats 7 --out benchmarks/results/floor.json

The roofline (``benchmarks/roofline.py``) prices a product layer's FLOPs at the peak of a large square
``np.matmul``. NumPy has one way to multiply matrices, OpenBLAS's GEMM through ``np.matmul``, and on the thin
products of a small input it runs well below that peak. This tool runs every GEMM the engine makes in one
training step (forward; weight gradient; input gradient by the route the layer takes: col2im's one product
per kernel offset, the correlation's one product, or a 1x1 kernel's one product) on its own, at the exact
shapes and memory layouts, with the same BLAS threads as the profile of that model, and sums them per layer
type (``contenders.layer_kind``). Beside it: the measured forward + backward of that type in a training step
(``contenders.profile_graph``) and the roofline bound. What the GEMMs alone take no NumPy formulation that
keeps those products can undercut; the rest of the measured time (``rest``) is the copies, passes and
Python around them. A second profile of the same step on one image gives what does not shrink with the
batch: each call's Python and NumPy dispatch, and the writes of the weight gradients and the optimizer's
update (the parameters' size).

Depthwise convolutions (an einsum, no GEMM) and the memory-bound layers have no GEMM floor (0 here), nor,
not counted yet, grouped, separable and transposed convolutions; docs/benchmarks.md says what bounds them.
"""

import argparse
import contextlib
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from . import contenders, roofline

MODELS = ("lenet", "ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "floor.json")


def _numel(shape):
    return int(np.prod(shape, dtype=np.int64))


def node_gemms(node, batch, backward, input_grad, tile=None):
    """``[(phase, a_shape, a_transposed, b_shape, b_transposed, count)]``: the products one call of a layer
    makes in a training step (``phase``: forward or backward; ``backward``: whether the step runs the layer's
    backward pass, ``input_grad``: whether that computes the gradient of its input). ``a_transposed``: A is
    the transpose of a C-ordered array of the reversed shape (a view, as the engine's ``X.T``), likewise for
    B. A Dense layer on more than two axes counts as one product over all its rows. ``tile``: the convolution's
    ``Model._tiles`` entry (a training step's window matrix of the pixels a tiling max pooling reads)."""
    from scratch import layers as L
    from scratch.layers.convolutional import BaseConv

    layer = node.layer
    x_shape = (batch,) + tuple(node.inbound[0].shape[1:])
    y_shape = (batch,) + tuple(node.output.shape[1:])
    if isinstance(layer, BaseConv) and layer.groups == 1:  # Conv1D/2D/3D
        taps, _ = layer.live_window(x_shape)  # the taps that read the input (all, unless the map is small)
        ks = tuple(t.stop - t.start for t in taps)
        small = None if set(ks) == {1} else layer.small_map(x_shape)
        if small is not None:  # one product per run of the input (kernels.small_map_pairs), each way
            n, c, f, out = x_shape[0], x_shape[-1], layer.filters, []
            for *_, (c0, c1), _ in small[1]:
                k = (c1 - c0) * c
                out.append(("forward", (n, k), False, (k, f), False, 1))
                if backward:
                    out.append(("backward", (k, n), True, (n, f), False, 1))
                if backward and input_grad:
                    out.append(("backward", (n, f), False, (f, k), True, 1))
            return out
        rows, k, c, f = _numel(y_shape[:-1]), _numel(ks), x_shape[-1], layer.filters
        read = rows  # the rows of the window matrix (the pixels a tiling pool reads, on the tiled route)
        if layer.shifted_products(x_shape, ks, layer.live_window(x_shape)[1]):  # every pixel by every offset's kernel
            out = [("forward", (_numel(x_shape[:-1]), c), False, (c, k * f), False, 1)]
        else:
            if tile is not None:
                read = batch * _numel(tile) * _numel(tuple(o // t for o, t in zip(y_shape[1:-1], tile)))
            out = [("forward", (read, k * c), False, (k * c, f), False, 1)]
        if backward:
            out.append(("backward", (k * c, read), True, (read, f), False, 1))
        if backward and input_grad:
            if layer.input_grad_by_correlation(c, ks):
                out.append(("backward", (_numel(x_shape[:-1]), k * f), False, (k * f, c), False, 1))
            else:  # col2im: one product per kernel offset (a 1x1 kernel: one, G @ K.T)
                out.append(("backward", (rows, f), False, (f, c), True, k))
        return out
    if isinstance(layer, L.Dense):
        rows, n_in, units = _numel(x_shape[:-1]), x_shape[-1], layer.units
        out = [("forward", (rows, n_in), False, (n_in, units), False, 1)]
        if backward:
            out.append(("backward", (n_in, rows), True, (rows, units), False, 1))
        if backward and input_grad:
            out.append(("backward", (rows, units), False, (units, n_in), True, 1))
        return out
    return []


def training_calls(model, inputs_needed=None):
    """``(node, backward, input_grad)`` for every layer call of one training step, nested models opened, as
    ``Model.backward(..., trainable_only=True)`` runs it: a node outside ``Model._backward_nodes`` runs its
    forward pass only (a frozen layer with nothing trainable upstream), a nested model's nodes by its own
    ``_backward_nodes``, and an input gradient only where something upstream needs it."""
    import scratch

    if inputs_needed is None:
        inputs_needed = model._inputs_needed or model._input_grad_asked()
    live = model._backward_nodes(inputs_needed)
    for node in model.nodes:
        visited = id(node) in live
        if isinstance(node.layer, scratch.Model):
            if visited:
                yield from training_calls(node.layer, live[id(node)])
            else:
                yield from ((leaf, False, False) for leaf in roofline.leaf_nodes(node.layer))
        else:
            yield node, visited, visited and live[id(node)] and node.layer.input_grad


def _operand(shape, transposed, dtype, rng):
    a = rng.standard_normal(shape[::-1] if transposed else shape).astype(dtype)
    return a.T if transposed else a


def time_gemm(a_shape, a_t, b_shape, b_t, dtype, repeats, rng):
    """Median seconds of ``np.matmul`` on operands of these shapes and layouts (after one warm-up call)."""
    a, b = _operand(a_shape, a_t, dtype, rng), _operand(b_shape, b_t, dtype, rng)
    out = np.empty((a_shape[0], b_shape[1]), dtype=dtype)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def gemm_floor(model, batch, dtype="float32", repeats=7, blas_threads=None):
    """``{layer type: {"forward_ms", "backward_ms", "flops"}}``: the summed time of every GEMM of one training
    step (``training_calls``), each product timed alone (one timing per distinct shape and layout)."""
    rng = np.random.default_rng(0)
    cache, kinds = {}, {}
    limit = contextlib.nullcontext() if blas_threads is None else threadpool_limits(blas_threads, "blas")
    with limit:
        tiles = _tiles(model)
        for node, backward, input_grad in training_calls(model):
            entry = kinds.setdefault(contenders.layer_kind(node.layer), {"forward_ms": 0.0, "backward_ms": 0.0, "flops": 0})
            gemms = node_gemms(node, batch, backward, input_grad, tiles.get(id(node)))
            for phase, a_shape, a_t, b_shape, b_t, count in gemms:
                key = (a_shape, a_t, b_shape, b_t)
                if key not in cache:
                    cache[key] = time_gemm(a_shape, a_t, b_shape, b_t, dtype, repeats, rng)
                entry[f"{phase}_ms"] += count * cache[key] * 1e3
                entry["flops"] += count * 2 * a_shape[0] * a_shape[1] * b_shape[1]
    return kinds


def _tiles(model):
    """``Model._tiles`` of ``model`` and of the models nested in it, together (node ids are unique)."""
    import scratch

    tiles = dict(model._tiles)
    for node in model.nodes:
        if isinstance(node.layer, scratch.Model):
            tiles.update(_tiles(node.layer))
    return tiles


def _is_application(name):
    contenders.import_keras()
    import keras

    return callable(getattr(keras.applications, name, None)) and name[:1].isupper()


def engine_for(name, batch, dtype, blas_threads):
    if name in ("lenet", "blog"):
        return contenders.ScratchEngine.for_arch(name, batch, dtype, blas_threads=blas_threads)
    model = contenders.scratch_twin(contenders.keras_application(name))
    return contenders.ScratchEngine.for_graph(model, batch, dtype, blas_threads=blas_threads)


def measure(name, batch, dtype="float32", repeats=7, blas_threads=None, limits=None):
    """One model: its per-type profile (median of ``repeats`` training steps) with each type's GEMM floor, the
    same step on one image, and the roofline bound; ``limits``: ``(matmul peak GFLOP/s, copy GB/s)``, measured
    here when not given."""
    if limits is None:
        limits = (contenders.matmul_peak()["gflops"], roofline.copy_bandwidth()["gb_per_s"])
    eng = engine_for(name, batch, dtype, blas_threads)
    profile = contenders.profile_graph(eng, repeats)
    single = contenders.profile_graph(contenders.ScratchEngine(eng.model, eng.x[:1], eng.y[:1], blas_threads), repeats)
    one = {r["type"]: r["forward_ms"] + r["backward_ms"] for r in single["rows"]}  # what the batch does not scale
    floor = gemm_floor(eng.model, batch, dtype, repeats, blas_threads)
    bound = roofline.model_bound(eng.model, batch, *limits)["kinds"]
    rows = []
    for r in profile["rows"]:
        g = floor.get(r["type"], {"forward_ms": 0.0, "backward_ms": 0.0, "flops": 0})
        b = bound.get(r["type"])
        measured = r["forward_ms"] + r["backward_ms"]
        gemm = g["forward_ms"] + g["backward_ms"]
        rows.append({"type": r["type"], "calls": r["calls"], "measured_ms": measured, "gemm_ms": gemm,
                     "gemm_gflops": g["flops"] / gemm / 1e6 if gemm else None,
                     "gemm_share": gemm / measured if measured and gemm else None,
                     "rest_ms": measured - gemm if gemm else None, "one_image_ms": one.get(r["type"]),
                     "bound_ms": b["forward"]["bound_ms"] + b["backward"]["bound_ms"] if b else None})
    return {"model": name, "batch": batch, "engine": eng.name, "step_ms": profile["step_ms"],
            "one_image_step_ms": single["step_ms"],
            "gemm_ms": sum(r["gemm_ms"] for r in rows), "rows": rows}


def markdown(result):
    peak, bw = result["limits"]
    lines = [f"Measured by `python -m benchmarks.floor` ({result['when']}, {result['dtype']}; matmul peak "
             f"{peak:.0f} GFLOP/s, copy {bw:.1f} GB/s, load average {result['load'][0]:.1f} at the start and "
             f"{result['load'][1]:.1f} at the end). Per layer type: the measured forward + backward ms of one "
             "training step, the ms of its GEMMs alone (each product timed on its own at the same shapes, "
             "layouts and threads) and the GFLOP/s they reach, their share of the measured time, the rest, "
             "the same step on one image (what does not shrink with the batch: each call's Python and NumPy "
             "dispatch, the writes of the weight gradients and the optimizer's update, the parameters' size), "
             "and the roofline bound (FLOPs at the peak, bytes at the copy bandwidth).", ""]
    for m in result["models"]:
        lines += [f"**{m['model']}**, batch {m['batch']}, engine `{m['engine']}`: step {m['step_ms']:.1f} ms, of "
                  f"which its GEMMs alone {m['gemm_ms']:.1f} ms; on one image {m['one_image_step_ms']:.1f} ms", "",
                  "| layer type | calls | measured ms | GEMMs alone ms | GEMM GFLOP/s | GEMM share | rest ms "
                  "| one image ms | bound ms |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in m["rows"]:
            def f(v, spec=".1f"):
                return "-" if v is None else format(v, spec)
            lines.append(f"| {r['type']} | {r['calls']} | {r['measured_ms']:.2f} | {f(r['gemm_ms'] or None, '.2f')} | "
                         f"{f(r['gemm_gflops'], '.0f')} | {f(r['gemm_share'] and 100 * r['gemm_share'], '.0f')}"
                         f"{'%' if r['gemm_share'] else ''} | {f(r['rest_ms'], '.2f')} | {f(r['one_image_ms'], '.2f')} "
                         f"| {f(r['bound_ms'], '.2f')} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS), help="lenet (batch 128) and keras.applications "
                                                                      "names (batch 32)")
    p.add_argument("--repeats", type=int, default=7, help="training steps profiled, and timings of each product")
    p.add_argument("--blas1", nargs="*", default=["MobileNetV2", "EfficientNetB0"],
                   help="models profiled with BLAS on one thread (their faster training setting in the quiet runs)")
    p.add_argument("--out", default=RESULTS, help="result JSON")
    p.add_argument("--markdown", action="store_true", help="only print the tables of --out")
    args = p.parse_args(argv)
    if args.markdown:
        with open(args.out) as fh:
            print(markdown(json.load(fh)))
        return
    unknown = [m for m in args.models if m not in ("lenet", "blog") and not _is_application(m)]
    if unknown:
        p.error(f"--models: expected lenet, blog or keras.applications model names (e.g. {', '.join(MODELS[1:])}), "
                f"received {', '.join(unknown)}")
    load0 = os.getloadavg()[0]
    limits = (contenders.matmul_peak()["gflops"], roofline.copy_bandwidth()["gb_per_s"])
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "dtype": "float32", "limits": limits, "models": []}
    for name in args.models:
        batch = 128 if name == "lenet" else 32
        result["models"].append(measure(name, batch, repeats=args.repeats,
                                        blas_threads=1 if name in args.blas1 else None, limits=limits))
        print(f"  {name} done", flush=True)
    result["load"] = [load0, os.getloadavg()[0]]
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(markdown(result))


if __name__ == "__main__":
    main()
