"""Roofline: how close the scratch engine comes to what this machine allows, per model, pass and layer type.

The bound of one pass is the time its arithmetic and its memory traffic need at the machine's two
limits, both measured in the same run as the timings they are set against:

- every matrix-product layer's (Conv2D, SeparableConv2D, Dense) multiply-add FLOPs
  (``contenders.layer_flops``; training adds dW and, where the input gradient is needed, dX) at the
  matmul peak (``contenders.matmul_peak``: ``np.matmul`` of two large float32 matrices);
- plus the bytes every other layer's elementwise pass must move at the memory bandwidth (``copy_bandwidth``:
  a large ``np.copyto``, bytes read plus bytes written per second). A layer's forward pass reads its
  inputs and writes its output; its backward pass reads ``dy`` and the one tensor it saved (its input)
  and writes ``dx`` (unless no input gradient is needed). Views move nothing (``Flatten``, ``Reshape``,
  the input), nor does ``Dropout`` in inference. ``DepthwiseConv2D`` counts as such a pass, not as
  FLOPs: 9 multiply-adds per value of a 3x3 kernel make 2.25 FLOPs per byte, far below the machine's
  balance (peak / bandwidth, about 15 FLOPs per byte here), so no engine runs it near the matmul peak;
  its bound is its traffic. A product layer's bias and activation are counted as
  fused into its product (what oneDNN does), so they add no bytes. Training adds the optimizer: Adam
  reads the parameters, gradients and both moments and writes the parameters and moments, 7 x the
  parameter bytes.

So ``bound = FLOPs / peak + bytes / bandwidth``: what the work would take with every product at the
BLAS peak and every other pass at copy speed, one after another. ``share = bound / measured`` (1.0:
at the bound; 0.25: four times slower than the bound). The bound is not an upper limit for Keras
either: its fused kernels skip passes that are counted here.
"""

import time

import numpy as np

import scratch

from . import contenders

VIEWS = ("Flatten", "Reshape", "InputLayer")  # no data moves
IDENTITY_IN_INFERENCE = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
ADAM_PASSES = 7  # Adam reads p, g, m, v and writes p, m, v


def copy_bandwidth(mb=256, repeats=5):
    """Bytes per second that ``np.copyto`` moves between two ``mb`` MiB float32 arrays (read + write;
    median of ``repeats`` copies after one warm-up copy that also faults the pages in)."""
    n = mb * (1 << 20) // 4
    src, dst = np.ones(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    np.copyto(dst, src)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t)
    moved = 2 * src.nbytes
    return {"mib": mb, "gb_per_s": moved / float(np.median(times)) / 1e9, "gb_per_s_max": moved / min(times) / 1e9}


def leaf_nodes(model):
    """Every layer call (a graph node) of a model, nested models opened, in topological order."""
    for node in model.nodes:
        if isinstance(node.layer, scratch.Model):
            yield from leaf_nodes(node.layer)
        else:
            yield node


def _bytes(shape, batch, itemsize):
    return batch * int(np.prod([d for d in shape[1:]], dtype=np.int64)) * itemsize


def node_work(node, batch, itemsize, training=True):
    """``{"kind", "forward_flops", "backward_flops", "forward_bytes", "backward_bytes"}`` of one layer call."""
    layer = node.layer
    name = type(layer).__name__
    f = contenders.layer_flops(layer, batch)
    inputs = sum(_bytes(t.shape, batch, itemsize) for t in node.inbound)
    output = _bytes(node.output.shape, batch, itemsize) if node.output is not None else 0
    work = {"kind": contenders.layer_kind(layer), "forward_flops": 0, "backward_flops": 0,
            "forward_bytes": 0, "backward_bytes": 0}
    if f and name != "DepthwiseConv2D":
        work["forward_flops"] = f
        work["backward_flops"] = f * (2 if layer.input_grad else 1)
    elif name in VIEWS or (name in IDENTITY_IN_INFERENCE and not training):
        pass
    else:
        work["forward_bytes"] = inputs + output
        work["backward_bytes"] = output + inputs + (inputs if layer.input_grad else 0)
    return work


def model_bound(model, batch, peak_gflops, gb_per_s, itemsize=4):
    """The bound of ``model`` at ``batch``: ``{"train": {...}, "infer": {...}, "kinds": {...}, "layers": {...}}``,
    each entry with ``flops``, ``bytes``, ``gemm_ms``, ``memory_ms`` and ``bound_ms``; ``kinds`` splits the
    training step's bound by layer type (``contenders.layer_kind``, forward and backward) plus ``(adam)``,
    ``layers`` by layer name (a shared layer's calls summed)."""
    peak, bw = peak_gflops * 1e9, gb_per_s * 1e9

    def entry(flops, nbytes):
        gemm, mem = flops / peak * 1e3, nbytes / bw * 1e3
        return {"flops": int(flops), "bytes": int(nbytes), "gemm_ms": gemm, "memory_ms": mem, "bound_ms": gemm + mem}

    kinds, names, infer = {}, {}, [0, 0]
    for node in leaf_nodes(model):
        w = node_work(node, batch, itemsize, training=True)
        wi = node_work(node, batch, itemsize, training=False)
        infer[0] += wi["forward_flops"]
        infer[1] += wi["forward_bytes"]
        for key, table in ((w["kind"], kinds), (node.layer.name, names)):
            k = table.setdefault(key, {"calls": 0, "forward": [0, 0], "backward": [0, 0]})
            k["calls"] += 1
            for phase in ("forward", "backward"):
                k[phase][0] += w[f"{phase}_flops"]
                k[phase][1] += w[f"{phase}_bytes"]
    params = sum(int(np.prod(p.shape)) for p in model.named_params().values())
    kinds["(adam)"] = {"calls": 0, "forward": [0, 0], "backward": [0, ADAM_PASSES * params * itemsize]}
    train = [sum(k[p][i] for k in kinds.values() for p in ("forward", "backward")) for i in (0, 1)]
    names["(adam)"] = kinds["(adam)"]

    def split(table):
        return {key: {"calls": k["calls"], "forward": entry(*k["forward"]), "backward": entry(*k["backward"])}
                for key, k in table.items()}

    return {"train": entry(*train), "infer": entry(*infer), "kinds": split(kinds), "layers": split(names)}


def limits(result):
    """``(peak GFLOP/s, GB/s)`` of a run: the higher of its measurements before and after the timings
    (other processes only lower them)."""
    peak = max(result[k]["gflops"] for k in ("matmul_peak_before", "matmul_peak_after") if k in result)
    bw = max(result[k]["gb_per_s"] for k in ("copy_bandwidth_before", "copy_bandwidth_after") if k in result)
    return peak, bw


def shares(bound, measured_ms):
    """``bound`` (a ``model_bound`` entry) with the measured ms and the share of the bound reached."""
    return {**bound, "measured_ms": measured_ms, "share": bound["bound_ms"] / measured_ms if measured_ms else None}
