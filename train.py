"""Command line: train the scratch engine on MNIST (the Keras and comparison commands follow).

    python train.py scratch [--arch blog] [--epochs 3] [--batch-size 32] [--lr 0.005] [--seed 0]
"""

import argparse
import sys
import time

import scratch


def cmd_scratch(args):
    desc = scratch.get_architecture(args.arch)
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist(args.data)
    x_train = scratch.preprocess(x_train, desc["preprocess"], args.dtype)
    x_test = scratch.preprocess(x_test, desc["preprocess"], args.dtype)
    model = scratch.build_model(desc, dtype=args.dtype, seed=args.seed)
    model.summary()
    model.compile(scratch.Adam(args.lr))
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    loss, acc = model.evaluate(x_test, y_test)
    print(f"test loss {loss:.4f} - test accuracy {acc:.4f} ({acc * 100:.2f}%) - "
          f"wall time {time.perf_counter() - start:.1f} s")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scratch", help="train with the NumPy engine")
    s.add_argument("--arch", default="blog")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--lr", type=float, default=0.005)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    s.add_argument("--data", default=None)
    args = p.parse_args(argv)
    try:
        return cmd_scratch(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
