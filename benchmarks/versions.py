"""The scratch engine against itself: two source trees (before and after a change), or the same tree
with and without the backward fusions, timed in alternating child processes on the same machine.

    python -m benchmarks.versions OLD_TREE NEW_TREE --arch lenet --batch 128
    python -m benchmarks.versions . . --arch lenet --graph --no-fusion-first

Each round starts one fresh process per contender (its ``scratch`` imported from its tree), which
times ``--steps`` training steps (``train_step``, Adam) and as many inference passes on one fixed
batch of random images, after a warm-up; the rounds alternate the contenders so that a busy
machine slows both alike. Printed: each contender's median over the rounds of its per-process
median step time, and the ratio second / first (below 1: the second is faster). ``--graph``
builds the architecture's layers as a graph ``Model`` (in a tree that has one engine, the same
model), ``--no-fusion-first`` makes the first contender run without the planned fusions.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
tree, arch, batch, steps, graph, fusion = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5] == "1", sys.argv[6] == "1"
model_file, clock = sys.argv[7], time.process_time if sys.argv[8] == "cpu" else time.perf_counter
sys.path.insert(0, tree)
import numpy as np
import scratch
if model_file:
    from scratch.checkpoint import load_checkpoint
    model = load_checkpoint(model_file)[0]
    desc = {"input_shape": model.input_shape[1:]}
else:
    desc = scratch.get_architecture(arch)
if model_file:
    pass
elif graph:
    x = inp = scratch.Input(tuple(desc["input_shape"]))
    for spec in desc["layers"]:
        x = scratch.layers.deserialize(spec)(x)
    model = scratch.Model(inp, x, seed=0, loss=desc["loss"])
else:
    model = scratch.build_model(arch, seed=0)
if not fusion:
    model._fusions = {}
model.compile(scratch.Adam(0.001))
rng = np.random.default_rng(0)
x = rng.random((batch,) + tuple(desc["input_shape"]), dtype=np.float32)
y = rng.integers(0, 10, batch)
for _ in range(3):
    model.train_step(x, y)
train, infer = [], []
for _ in range(steps):
    t = clock(); model.train_step(x, y); train.append(clock() - t)
for _ in range(steps):
    t = clock(); model.predict(x, batch_size=batch); infer.append(clock() - t)
print(json.dumps({"train": sorted(train)[len(train) // 2], "infer": sorted(infer)[len(infer) // 2]}))
"""


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.versions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first", help="the first source tree (a checkout's root)")
    p.add_argument("second", help="the second source tree")
    p.add_argument("--arch", default="lenet")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--graph", action="store_true", help="build the architecture as a graph Model")
    p.add_argument("--no-fusion-first", action="store_true", help="the first contender without the fusions")
    p.add_argument("--zoo", metavar="MODEL", help="instead of --arch: the scratch twin of keras.applications.MODEL "
                                                 "at 32x32x3 (built once with Keras, saved, loaded by every child)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: CPU time with BLAS and the batch threads at one (steadier on shared cores)")
    args = p.parse_args(argv)
    model_file = ""
    if args.zoo:
        import tempfile

        from scratch.checkpoint import save_checkpoint

        from .contenders import keras_application, scratch_twin

        fd, model_file = tempfile.mkstemp(prefix=f"versions-{args.zoo}-", suffix=".npz")
        os.close(fd)
        save_checkpoint(model_file, scratch_twin(keras_application(args.zoo)))
        args.arch = args.zoo
    env = dict(os.environ)
    if args.clock == "cpu":
        env.update(OPENBLAS_NUM_THREADS="1", SCRATCH_THREADS="1")
    contenders = [(args.first, not args.no_fusion_first), (args.second, True)]
    times = {0: {"train": [], "infer": []}, 1: {"train": [], "infer": []}}
    for r in range(args.rounds):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            tree, fusion = contenders[i]
            out = subprocess.run([sys.executable, "-c", CHILD, tree, args.arch, str(args.batch), str(args.steps),
                                  "1" if args.graph else "0", "1" if fusion else "0", model_file, args.clock],
                                 capture_output=True, text=True, check=True, env=env)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            for k in ("train", "infer"):
                times[i][k].append(got[k])
    names = [f"{tree}{'' if fusion else ' (no fusion)'}" for tree, fusion in contenders]
    print(f"{args.arch} b{args.batch}{' as a graph' if args.graph else ''}, {args.rounds} rounds x {args.steps} steps"
          f"{', CPU time on one thread' if args.clock == 'cpu' else ''}")
    for k in ("train", "infer"):
        a, b = (statistics.median(times[i][k]) * 1e3 for i in (0, 1))
        print(f"  {k}: {names[0]} {a:.2f} ms, {names[1]} {b:.2f} ms, second/first {b / a:.3f}")
    if model_file:
        os.remove(model_file)


if __name__ == "__main__":
    main()
