"""Instructions, not seconds: the scratch engine of two source trees counted by ``valgrind
--tool=callgrind`` (repeatable whatever else the machine does; timings of a 1 ms step on shared
cores scatter by tens of percent from one process to the next).

    python -m benchmarks.instructions OLD_TREE NEW_TREE --arch blog --batch 32 --steps 100

For each tree, three processes under callgrind (single-threaded: ``OPENBLAS_NUM_THREADS=1``,
``SCRATCH_THREADS=1``): the set-up alone (import, build, one batch), then ``--steps`` predictions,
then ``--steps`` training steps (``train_step``, Adam); the set-up's count is subtracted, and the
instructions per prediction and per step are printed with their ratio second / first. Needs
valgrind (Debian's package); takes a minute or two.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import scratch
model = scratch.build_model(sys.argv[2], seed=0).compile(scratch.Adam(0.001))
desc = scratch.get_architecture(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.random((int(sys.argv[3]),) + tuple(desc["input_shape"]), dtype=np.float32)
y = rng.integers(0, 10, len(x))
for _ in range(int(sys.argv[5])):
    if sys.argv[4] == "infer":
        model.predict(x, batch_size=len(x))
    elif sys.argv[4] == "train":
        model.train_step(x, y)
"""


def count(tree, arch, batch, mode, steps):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "SCRATCH_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable,
                              "-c", CHILD, tree, arch, str(batch), mode, str(steps)],
                             capture_output=True, text=True, env=env, check=True)
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--arch", default="blog")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args(argv)
    per = {}
    for tree in (args.first, args.second):
        base = count(tree, args.arch, args.batch, "none", args.steps)
        per[tree] = {mode: (count(tree, args.arch, args.batch, mode, args.steps) - base) / args.steps
                     for mode in ("infer", "train")}
    print(f"{args.arch} b{args.batch}, {args.steps} of each, instructions per call (callgrind)")
    for mode in ("infer", "train"):
        a, b = per[args.first][mode], per[args.second][mode]
        print(f"  {mode}: {args.first} {a / 1e6:.2f} M, {args.second} {b / 1e6:.2f} M, second/first {b / a:.3f}")


if __name__ == "__main__":
    main()
