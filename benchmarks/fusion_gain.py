"""What the planned backward fusions save: one model's backward pass with and without them, in one
process, alternating, on a fixed batch (the forward pass run once before; the same caches reused).

    python -m benchmarks.fusion_gain --arch lenet --batch 128          # a Sequential
    python -m benchmarks.fusion_gain --arch lenet --batch 128 --graph  # the same layers as a graph Model
"""

import argparse
import time

import numpy as np

import scratch


def model_of(arch, graph):
    if not graph:
        return scratch.build_model(arch, seed=0)
    desc = scratch.get_architecture(arch)
    x = inp = scratch.Input(tuple(desc["input_shape"]))
    for spec in desc["layers"]:
        x = scratch.layers.deserialize(spec)(x)
    return scratch.Model(inp, x, seed=0, loss=desc["loss"])


def measure(model, batch, repeats=200):
    """``(fused ms, unfused ms)``: medians of ``repeats`` backward passes each, alternating."""
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + tuple(model.input_shape[1:]), dtype=np.float32)
    model._tiles = {}  # the plain route: a training step's tiled one puts the ReLU after the pool, fused only
    out = model.forward(x, training=True)
    dy = rng.standard_normal(out.shape).astype(np.float32)
    plan = model._fusions

    def once(fused):
        model._fusions = plan if fused else {}
        t = time.perf_counter()
        model.backward(dy)
        return time.perf_counter() - t

    times = {True: [], False: []}
    for i in range(repeats + 10):
        for fused in ((True, False) if i % 2 else (False, True)):
            elapsed = once(fused)
            if i >= 10:  # warm-up
                times[fused].append(elapsed)
    model._fusions = plan
    return float(np.median(times[True])) * 1e3, float(np.median(times[False])) * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.fusion_gain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="lenet")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--graph", action="store_true", help="the architecture's layers as a graph Model")
    args = p.parse_args(argv)
    model = model_of(args.arch, args.graph)
    fused = [f"{layer.name} {options}" for layer, options in model.backward_calls() if options]
    on, off = measure(model, args.batch, args.repeats)
    print(f"{args.arch} b{args.batch}{' as a graph' if args.graph else ''}: fusions {', '.join(fused) or 'none'}")
    print(f"  backward pass: fused {on:.2f} ms, unfused {off:.2f} ms, fused/unfused {on / off:.3f}")


if __name__ == "__main__":
    main()
