"""Regenerate the pictures of docs/guide.md from the shipped data (data/mnist.npz).

    python docs/figures.py                 # writes docs/img/guide_*.png
    python docs/figures.py --out DIR       # somewhere else
    python docs/figures.py --quick         # a small training run (what the test suite does)

The pictures of section 8 are those ``train.py`` draws: the script runs
``python train.py scratch --no-convert --out TMP`` (the README's default run: blog, Adam 0.005,
batch 32, 3 epochs, seed 0; with ``--quick``, 1 epoch on 1,000 images, tested on 1,000) and copies
``curves.png``, ``filters.png``, ``feature_maps.png``, ``confusion.png`` and ``mistakes.png``
as ``guide_run_*.png``.

Matplotlib with the Agg backend; deterministic data and seeds, so the pictures only change
when the code or the engine does.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import scratch  # noqa: E402
from scratch import geometry  # noqa: E402

# The hand-made filters of section 1 (tests/test_guide.py checks the guide defines the same).
FILTERS = {
    "box blur": np.full((3, 3), 1 / 9),
    "vertical edge": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "horizontal edge": np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "diagonal edge": np.array([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]]),
    "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
}

RUN_PICTURES = ("curves.png", "filters.png", "feature_maps.png", "confusion.png", "mistakes.png")
PICTURES = ("guide_filters.png", "guide_same_padding.png") + tuple(f"guide_run_{p}" for p in RUN_PICTURES)
RUN_COMMAND = ["train.py", "scratch", "--no-convert"]
QUICK_RUN = ["--limit", "1000", "--test-limit", "1000", "--epochs", "1"]


def _save(fig, out, name):
    path = Path(out) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def hand_made_filters(digit):
    """The digit, each kernel of FILTERS and its response (Conv2D, 'same', no bias)."""
    bank = np.stack(list(FILTERS.values()), axis=-1)[:, :, None, :].astype("float32")
    conv = scratch.Conv2D(len(FILTERS), 3, padding="same", use_bias=False)
    conv.build(digit.shape)
    conv.set_weights([bank])
    maps = conv(digit)[0]
    fig, axes = plt.subplots(2, len(FILTERS) + 1, figsize=(2 * (len(FILTERS) + 1), 4.3))
    axes[0, 0].imshow(digit[0, :, :, 0], cmap="gray")
    axes[0, 0].set_title("input digit")
    axes[1, 0].axis("off")
    axes[1, 0].text(0.5, 0.5, "kernel (top)\nresponse (bottom)\n\nred > 0, blue < 0",
                    ha="center", va="center", fontsize=9, transform=axes[1, 0].transAxes)
    for f, (name, k) in enumerate(FILTERS.items(), start=1):
        lim = np.abs(k).max()
        axes[0, f].imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim)
        for (i, j), v in np.ndenumerate(k):
            axes[0, f].text(j, i, "1/9" if name == "box blur" else f"{v:g}", ha="center", va="center",
                            fontsize=9, color="white" if abs(v) > lim / 2 else "black")
        axes[0, f].set_title(name)
        m = maps[:, :, f - 1]
        lim = np.abs(m).max()
        axes[1, f].imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[1, f].set_title(f"[{m.min():.1f}, {m.max():.1f}]", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Hand-made 3x3 filters on the first MNIST test digit (x / 255, padding='same')")
    return fig


def same_padding():
    """Keras 'same' on two axes: n=5, k=2, s=2 (pad 0 before, 1 after) and n=6, k=4, s=1 (1, 2)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    for ax, (n, k, s) in zip(axes, [(5, 2, 2), (6, 4, 1)]):
        before, after = geometry.same_pads(n, k, s)
        size = n + before + after
        out_n = geometry.output_length(n, k, s, "same")
        for i in range(size):
            for j in range(size):
                real = before <= i < before + n and before <= j < before + n
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor="#dddddd" if real else "white",
                                       edgecolor="#888888", hatch=None if real else "//"))
        colors = plt.cm.tab10.colors
        corners = [(0, 0), (0, out_n - 1), (out_n - 1, 0), (out_n - 1, out_n - 1)]
        for c, (oi, oj) in enumerate(corners):
            d = 0.08 * (c + 1)
            ax.add_patch(Rectangle((oj * s + d, oi * s + d), k - 2 * d, k - 2 * d, fill=False,
                                   edgecolor=colors[c], linewidth=2.5))
        ax.set_xlim(-0.2, size + 0.2)
        ax.set_ylim(size + 0.2, -0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"n={n}, k={k}, s={s}: out = ceil(n/s) = {out_n}\n"
                     f"pad total {before + after}: {before} top/left, {after} bottom/right")
    fig.suptitle("Keras padding='same': grey = input, hatched = zero padding, "
                 "frames = the corner output windows")
    return fig


def training_run(out, quick):
    """Run train.py as a user would and copy its pictures; returns its last output line."""
    argv = RUN_COMMAND + (QUICK_RUN if quick else [])
    print("running: python " + " ".join(argv), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, *argv, "--out", tmp], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"figures: train.py failed (exit {result.returncode}):\n{result.stderr}{result.stdout}")
        for name in RUN_PICTURES:
            shutil.copyfile(Path(tmp) / name, Path(out) / f"guide_run_{name}")
            print(f"wrote {Path(out) / f'guide_run_{name}'}")
    summary = result.stdout.strip().splitlines()[-1]
    print(f"train.py: {summary.split(' - saved in ')[0]}")
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "img"), help="folder for the PNGs (default docs/img)")
    p.add_argument("--quick", action="store_true", help="a smaller training run, for the tests")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (_, _), (x_test, _) = scratch.load_mnist()
    digit = scratch.preprocess(x_test[:1], "scale")
    _save(hand_made_filters(digit), out, "guide_filters.png")
    _save(same_padding(), out, "guide_same_padding.png")
    training_run(out, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
