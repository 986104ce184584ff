"""Regenerate the pictures of docs/guide.md from the shipped data (data/mnist.npz).

    python docs/figures.py                 # writes docs/img/guide_*.png
    python docs/figures.py --out DIR       # somewhere else
    python docs/figures.py --quick         # small training runs (what the test suite does)
    python docs/figures.py --only augmentation,transfer   # just those; other numbers kept

``--only NAME[,NAME]`` regenerates only the named parts (``filters``, ``same_padding``,
``im2col``, ``backward_flow``, ``strided_backward``, ``receptive_field``, ``speed``, ``run``, ``augmentation``,
``transfer``) and rewrites only their keys of the existing ``guide_numbers.json``: use it to
redraw one picture without rerunning the section 8 training run and the section 2 speed table,
whose numbers the guide quotes.

It also measures every speed and time the guide quotes and writes them to
``guide_numbers.json`` next to the pictures (tests/test_guide.py checks the guide quotes the
committed file's numbers): the section 2 table (forward pass per image with every thread pool
at one: BLAS's and the engine's own, ``scratch.parallel``) and the training run below.

Colour convention of every picture: signed values (kernels, feature maps, gradients) in
``RdBu_r`` on a scale symmetric about zero, red positive, white zero, blue negative, with a
colour bar; images in grey; which window is which in ``tab10`` colours.

The pictures of section 8 are those ``train.py`` draws: the script runs
``python train.py scratch --no-convert --out TMP`` (the README's default run: blog, Adam 0.005,
batch 32, 3 epochs, seed 0; with ``--quick``, 1 epoch on 1,000 images, tested on 1,000) and copies
``curves.png``, ``filters.png``, ``feature_maps.png``, ``confusion.png`` and ``mistakes.png``
as ``guide_run_*.png``.

Section 3's ``guide_receptive_field.png`` measures one unit's receptive field in each of
``lenet``'s layers with one-pixel images, as the guide's block does. Section 9's picture
(``guide_augmentation.png``) draws ``train.py --augment``'s default
rotations, shifts and zooms (``cli.augment.Augmenter``) on the first training digits, and the
four fill modes on one digit rotated and shifted far. Section 10's (``guide_transfer.png``) runs
the transfer experiment of docs/cli.md with train.py (see ``TRANSFER_SOURCE``,
``TRANSFER_RUN``): ``lenet`` trained on digits 0-4, then its frozen base under a new head on 500
images of digits 5-9, against the same network trained from scratch (``--baseline``), test
accuracy per epoch from each run's ``metrics.json``; ``--quick`` shrinks every run.

Matplotlib with the Agg backend; deterministic data and seeds, so the pictures only change
when the code or the engine does.
"""

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import scratch  # noqa: E402
from scratch import geometry, parallel  # noqa: E402

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
PICTURES = (("guide_filters.png", "guide_same_padding.png", "guide_im2col.png", "guide_backward_flow.png",
             "guide_strided_backward.png", "guide_receptive_field.png") + tuple(f"guide_run_{p}" for p in RUN_PICTURES)
            + ("guide_augmentation.png", "guide_transfer.png"))
NUMBERS = "guide_numbers.json"
SIGNED = "RdBu_r"  # the one colour map of signed values
RUN_COMMAND = ["train.py", "scratch", "--no-convert"]
QUICK_RUN = ["--limit", "1000", "--test-limit", "1000", "--epochs", "1"]
# Section 10: docs/cli.md's transfer experiment ("Transfer learning results"), in the scratch engine.
TRANSFER_SOURCE_DIR = "runs/xfer-src-scratch"
TRANSFER_SOURCE = ["train.py", "scratch", "--arch", "lenet", "--digits", "0-4", "--epochs", "2", "--no-plots",
                   "--no-convert", "--out", TRANSFER_SOURCE_DIR]
TRANSFER_RUN = ["train.py", "transfer", "--source", f"{TRANSFER_SOURCE_DIR}/model.npz", "--digits", "5-9",
                "--limit", "500", "--epochs", "5", "--no-plots", "--no-convert"]
QUICK_TRANSFER = {"--limit": {"source": "500", "run": "100"}, "--epochs": {"source": "1", "run": "2"}}
PARTS = ("filters", "same_padding", "im2col", "backward_flow", "strided_backward", "receptive_field", "speed", "run",
         "augmentation", "transfer")


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
    axes[1, 0].text(0.5, 0.5, "kernel (top)\nresponse (bottom)\n\nred > 0, blue < 0,\nwhite 0",
                    ha="center", va="center", fontsize=9, transform=axes[1, 0].transAxes)
    for f, (name, k) in enumerate(FILTERS.items(), start=1):
        lim = np.abs(k).max()
        axes[0, f].imshow(k, cmap=SIGNED, vmin=-lim, vmax=lim)
        for (i, j), v in np.ndenumerate(k):
            axes[0, f].text(j, i, "1/9" if name == "box blur" else f"{v:g}", ha="center", va="center",
                            fontsize=9, color="white" if abs(v) > lim / 2 else "black")
        axes[0, f].set_title(name)
        m = maps[:, :, f - 1]
        lim = np.abs(m).max()
        im = axes[1, f].imshow(m, cmap=SIGNED, vmin=-lim, vmax=lim)
        axes[1, f].set_title(f"[{m.min():.1f}, {m.max():.1f}]", fontsize=9)
        fig.colorbar(im, ax=axes[1, f], fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
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


# -- section 2: the speed table -----------------------------------------------------------
def conv_loop(x, K, b):
    """One output pixel at a time: N * H_out * W_out Python iterations (stride 1, no padding)."""
    n, h, w, _ = x.shape
    kh, kw, _, f = K.shape
    y = np.empty((n, h - kh + 1, w - kw + 1, f), x.dtype)
    for s in range(n):
        for i in range(h - kh + 1):
            for j in range(w - kw + 1):
                y[s, i, j] = np.tensordot(x[s, i:i + kh, j:j + kw], K, axes=3) + b
    return y


def conv_windows(x, K, b):
    """A strided view (N, H_out, W_out, C, kh, kw) of every window, no copy; one einsum."""
    kh, kw = K.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return np.einsum("nhwcuv,uvcf->nhwf", windows, K) + b


@contextlib.contextmanager
def one_thread():
    """Every thread pool at one: BLAS's (threadpoolctl) and the engine's own (scratch.parallel)."""
    saved = parallel.THREADS
    parallel.THREADS = 1
    try:
        with threadpool_limits(1):
            yield
    finally:
        parallel.THREADS = saved


def per_image_ms(fn, images, repeat):
    """The best of ``repeat`` timed calls, in milliseconds per image."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn(images)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / len(images)


def speed_table(x_test, quick):
    """Forward pass of the seed network's convolution on 256 test digits, three ways, one thread."""
    x = scratch.preprocess(x_test[:256], "center")
    conv = scratch.Conv2D(8, 3)
    conv.build(x.shape)
    conv.set_weights(scratch.build_model("blog", seed=0).layers[0].get_weights())
    K, b = conv.get_weights()
    repeat = 2 if quick else 7
    with one_thread():
        table = {"per-pixel loop": per_image_ms(lambda im: conv_loop(im, K, b), x[:4 if quick else 16], 1),
                 "window view": per_image_ms(lambda im: conv_windows(im, K, b), x, repeat),
                 "im2col + GEMM": per_image_ms(conv, x, repeat)}
    for name, ms in table.items():
        print(f"{name:15s} {ms:8.3f} ms per image (one thread)")
    return table


# -- section 2 and 4: im2col and col2im ------------------------------------------------------
def _cell(ax, i, j, text, face="white", edge="#888888", lw=1.0, fontsize=9, color="black"):
    ax.add_patch(Rectangle((j, i), 1, 1, facecolor=face, edgecolor=edge, linewidth=lw))
    if text != "":
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=fontsize, color=color)


def _frame(ax, rows, cols, pad=0.2):
    ax.set_xlim(-pad, cols + pad)
    ax.set_ylim(rows + pad, -pad)
    ax.set_aspect("equal")
    ax.axis("off")


def im2col_picture():
    """A 4x4 one-channel input, a 3x3 kernel, stride 1: 4 windows -> 4 rows of 9; col2im adds back."""
    n, k = 4, 3
    out = n - k + 1
    colors = plt.cm.tab10.colors
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 2.3, 1]})
    ax = axes[0]
    for i in range(n):
        for j in range(n):
            _cell(ax, i, j, str(i * n + j), face="#eeeeee")
    for w, (oi, oj) in enumerate([(a, b) for a in range(out) for b in range(out)]):
        d = 0.07 * (w + 1)
        ax.add_patch(Rectangle((oj + d, oi + d), k - 2 * d, k - 2 * d, fill=False, edgecolor=colors[w], linewidth=2.5))
    _frame(ax, n, n)
    ax.set_title(f"input x: {n}x{n}, one channel (pixel numbers)\nthe {out * out} windows of a {k}x{k} kernel")
    ax = axes[1]
    for w, (oi, oj) in enumerate([(a, b) for a in range(out) for b in range(out)]):
        for c, (u, v) in enumerate([(a, b) for a in range(k) for b in range(k)]):
            _cell(ax, w, c, str((oi + u) * n + oj + v), face=colors[w], color="white")
        ax.text(-0.3, w + 0.5, f"output ({oi},{oj})", ha="right", va="center", fontsize=9, color=colors[w])
    for c, (u, v) in enumerate([(a, b) for a in range(k) for b in range(k)]):
        ax.text(c + 0.5, -0.15, f"({u},{v})", ha="center", va="bottom", fontsize=8)
    _frame(ax, out * out, k * k)
    ax.set_xlim(-2.6, k * k + 0.2)
    ax.set_title("im2col: X, one row per output pixel, columns in the kernel's (u, v, c) order\n"
                 f"k_h k_w C = {k * k} floats per output pixel; y = X @ K.reshape({k * k}, F) + b", pad=18)
    ax = axes[2]
    counts = np.zeros((n, n), int)
    for oi in range(out):
        for oj in range(out):
            counts[oi:oi + k, oj:oj + k] += 1
    for i in range(n):
        for j in range(n):
            _cell(ax, i, j, str(counts[i, j]), face=plt.cm.Greys(0.15 + 0.18 * counts[i, j]),
                  color="white" if counts[i, j] > 2 else "black")
    _frame(ax, n, n)
    ax.set_title("col2im: every row of dL/dX = G K^T is added\nback where it was copied from "
                 "(cell = rows adding into it)")
    per_image = 26 * 26 * 9
    fig.suptitle(f"im2col copies every window into a row; col2im scatters the rows back. Seed network: "
                 f"26 x 26 x 9 = {per_image:,} floats of X per image, {per_image / 784:.1f}x its 784 pixels")
    fig.tight_layout()
    return fig


# -- section 4: the backward pass through conv, ReLU and max-pool ------------------------------------
def _values(ax, a, title, lim=None, fmt="{:.1f}", hatch=None):
    """Signed values with the shared convention: RdBu_r, symmetric about 0, each value written."""
    lim = lim or (float(np.abs(a).max()) or 1.0)
    im = ax.imshow(a, cmap=SIGNED, vmin=-lim, vmax=lim)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, fmt.format(v) if v != 0 else "0", ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * lim else "black")
    if hatch is not None:
        for (i, j) in zip(*np.nonzero(hatch)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="#777777", lw=0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return im


def backward_flow():
    """x -> Conv2D(1, 2) -> ReLU -> MaxPooling2D(2) forward, and dL/dy back through each."""
    rng = np.random.default_rng(12)  # chosen so that one pooling window is all negative
    x = np.round(rng.standard_normal((1, 5, 5, 1)), 1)
    conv = scratch.Conv2D(1, 2, dtype="float64")
    conv.build(x.shape)
    conv.set_weights([np.array([1.0, -1.0, 0.5, 0.5]).reshape(2, 2, 1, 1), np.array([0.1])])
    relu, pool = scratch.ReLU(dtype="float64"), scratch.MaxPooling2D(2, dtype="float64")
    z = conv(x)
    a = relu(z)
    y = pool(a)
    dy = np.array([1.0, -2.0, 0.5, 3.0]).reshape(1, 2, 2, 1)
    da = pool.backward(dy)
    dz = relu.backward(da)
    dx = conv.backward(dz)
    fig, axes = plt.subplots(2, 4, figsize=(15, 8))
    fwd = [(x, "x (5x5)"), (z, "z = conv(x) + b, 2x2 kernel  ->"), (a, "a = relu(z)  ->"), (y, "y = maxpool(a), 2x2  ->")]
    bwd = [(dx, "dL/dx = col2im(G K^T)\n(overlapping windows add)  <-"),
           (dz, "dL/dz = dL/da * [z > 0]  <-\n(ReLU: the mask; hatched: z <= 0)"),
           (da, "dL/da: each window's dy to its\nfirst maximum (hatched: z <= 0)  <-"), (dy, "dL/dy (given)")]
    for col, ((f, ft), (b, bt)) in enumerate(zip(fwd, bwd)):
        _values(axes[0, col], f[0, :, :, 0], ft)
        _values(axes[1, col], b[0, :, :, 0], bt, hatch=(z[0, :, :, 0] <= 0) if col in (1, 2) else None)
    fig.text(0.005, 0.70, "forward", rotation=90, fontsize=13, va="center", weight="bold")
    fig.text(0.005, 0.27, "backward", rotation=90, fontsize=13, va="center", weight="bold")
    k = conv.grads["kernel"][:, :, 0, 0]
    fig.suptitle(f"One backward pass by the engine (float64; kernel [[1, -1], [0.5, 0.5]], b = 0.1). "
                 f"dL/dK = X^T G = {np.round(k, 2).tolist()}, dL/db = sum G = {conv.grads['bias'][0]:.2f}\n"
                 "The top-right window is all <= 0: its tie of zeros sends dy to a cell the ReLU mask then "
                 "zeroes, so masking dy before routing (the fusion) gives the same dL/dz",
                 y=0.99)
    fig.tight_layout(rect=(0.02, 0, 1, 0.93))
    fig.subplots_adjust(hspace=0.3)
    return fig


def strided_backward():
    """Conv2D(1, 3, strides=2, 'valid') on 6x6: the last row and column are in no window; dL/dx is
    the stride-1 full correlation of dL/dy dilated (zeros between its rows) with the flipped kernel."""
    n, k, s = 6, 3, 2
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, n, n, 1))
    kernel = np.round(rng.standard_normal((k, k, 1, 1)), 1)
    conv = scratch.Conv2D(1, k, strides=s, use_bias=False, dtype="float64")
    conv.build(x.shape)
    conv.set_weights([kernel])
    out = conv(x).shape[1]
    dy = np.array([1.0, -1.0, 2.0, 0.5]).reshape(1, out, out, 1)
    dx = conv.backward(dy)
    dil = np.zeros((1, (out - 1) * s + 1, (out - 1) * s + 1, 1))
    dil[:, ::s, ::s] = dy
    full = np.pad(dil, ((0, 0), (k - 1, k - 1), (k - 1, k - 1), (0, 0)))
    flipped = scratch.Conv2D(1, k, use_bias=False, dtype="float64")
    flipped.build(full.shape)
    flipped.set_weights([kernel[::-1, ::-1]])
    part = flipped(full)
    covered = part.shape[1]
    dropped = np.zeros((n, n), bool)
    dropped[covered:, :] = dropped[:, covered:] = True
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 0.45, 1.2, 1]})
    ax = axes[0]
    colors = plt.cm.tab10.colors
    for i in range(n):
        for j in range(n):
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="white" if dropped[i, j] else "#dddddd",
                                   edgecolor="#888888", hatch="//" if dropped[i, j] else None))
    for w, (oi, oj) in enumerate([(a, b) for a in range(out) for b in range(out)]):
        d = 0.08 * (w + 1)
        ax.add_patch(Rectangle((oj * s + d, oi * s + d), k - 2 * d, k - 2 * d, fill=False,
                               edgecolor=colors[w], linewidth=2.5))
    _frame(ax, n, n)
    ax.set_title(f"forward: n={n}, k={k}, s={s}, 'valid' -> {out}x{out}\nhatched: in no window (dropped)")
    lim = float(np.abs(np.concatenate([dy.ravel(), dx.ravel()])).max())
    _values(axes[1], dy[0, :, :, 0], "dL/dy", lim=lim)
    _values(axes[2], full[0, :, :, 0], f"dL/dy dilated (zeros between rows),\npadded by k-1 = {k - 1}: "
            f"{full.shape[1]}x{full.shape[1]}", lim=lim)
    _values(axes[3], dx[0, :, :, 0], f"dL/dx = that * flipped kernel ({covered}x{covered}),\n"
            "then zeros for the dropped row/column", lim=lim, hatch=dropped)
    same = np.abs(dx[:, :covered, :covered] - part).max() < 1e-12 and not dx[0][dropped].any()
    fig.suptitle(f"Strided backward: col2im's strided slices = dilate dL/dy, then full correlation with "
                 f"K = {np.round(kernel[:, :, 0, 0], 1).tolist()} flipped; equal: {same}")
    fig.tight_layout()
    return fig


def receptive_field_picture(x_train):
    """One unit of each of lenet's four layers (conv 3, pool 2, conv 3, pool 2), each inside the
    next, and the input pixels that can change it: measured with one-pixel images through the
    same stack made linear (kernels of ones, average pooling), as the guide's block does."""
    one_pixel = np.eye(28 * 28).reshape(784, 28, 28, 1)
    stack = [scratch.Conv2D(1, 3, use_bias=False, dtype="float64"), scratch.AveragePooling2D(2, dtype="float64"),
             scratch.Conv2D(1, 3, use_bias=False, dtype="float64"), scratch.AveragePooling2D(2, dtype="float64")]
    units = [(8, 8), (4, 4), (4, 4), (2, 2)]  # each feeds the next: conv (8,8) -> pool (4,4) -> conv (4,4) -> pool (2,2)
    names = ["conv2d (3x3)", "max_pooling2d (2x2)", "conv2d_1 (3x3)", "max_pooling2d_1 (2x2)"]
    fields = []
    h = one_pixel
    for layer, (i, j) in zip(stack, units):
        if isinstance(layer, scratch.Conv2D):
            layer.build(h.shape)
            layer.set_weights([np.ones((3, 3, 1, 1))])
        h = layer(h)
        rows, cols = np.nonzero((h[:, i, j, 0] != 0).reshape(28, 28))
        fields.append((rows.min(), rows.max(), cols.min(), cols.max()))
    digit = scratch.preprocess(x_train[:1], "scale")[0, :, :, 0]
    fig, ax = plt.subplots(figsize=(6.2, 5.6))
    ax.imshow(digit, cmap="gray", vmin=0, vmax=1)
    colors = plt.cm.tab10.colors
    for c, ((r0, r1, c0, c1), name) in enumerate(zip(fields, names)):
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor=colors[c],
                               linewidth=2.5, label=f"{name}: {r1 - r0 + 1}x{c1 - c0 + 1} pixels"))
    ax.set_xticks(range(0, 28, 4))
    ax.set_yticks(range(0, 28, 4))
    ax.tick_params(labelsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9, title="one unit of each layer sees",
              title_fontsize=9)
    ax.set_title("Receptive fields in lenet: each layer's unit sees more of the digit", fontsize=10)
    fig.tight_layout()
    return fig


def training_run(out, quick):
    """Run train.py as a user would and copy its pictures; returns what the guide quotes of it."""
    argv = RUN_COMMAND + (QUICK_RUN if quick else [])
    print("running: python " + " ".join(argv), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, *argv, "--out", tmp], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"figures: train.py failed (exit {result.returncode}):\n{result.stderr}{result.stdout}")
        for name in RUN_PICTURES:
            shutil.copyfile(Path(tmp) / name, Path(out) / f"guide_run_{name}")
            print(f"wrote {Path(out) / f'guide_run_{name}'}")
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
    summary = result.stdout.strip().splitlines()[-1].split(" - saved in ")[0]
    print(f"train.py: {summary}")
    h = metrics["history"]
    return {"command": "python " + " ".join(argv), "summary": summary,
            "test_accuracy": metrics["test_accuracy"], "test_loss": metrics["test_loss"],
            "images_per_s": metrics["train_images_per_s"], "wall_time_s": metrics["wall_time_s"],
            "train_loss": h["loss"], "epoch_test_loss": h.get("test_loss")}


def _python(argv, cwd):
    """Run ``python argv`` (train.py) from ``cwd``; stop with its output if it fails."""
    print("running: python " + " ".join(argv), flush=True)
    result = subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:]], cwd=cwd, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"figures: {argv[0]} failed (exit {result.returncode}):\n{result.stderr}{result.stdout}")
    return result


# -- section 9: augmentation ---------------------------------------------------------------------
def augmentation_picture(x_train, versions=6, count=5):
    """train.py --augment's default draws on the first training digits; the four fill modes."""
    from cli.augment import DEFAULT_FACTORS, Augmenter
    from scratch.image import FILL_MODES, affine_transform

    x = scratch.preprocess(x_train[:count], "scale")
    aug = Augmenter(**DEFAULT_FACTORS, seed=0)
    draws = [aug.draw(x, 0, v, stream=2) for v in range(versions)]
    shown = [aug.scratch(x, d) for d in draws]
    fig, axes = plt.subplots(count + 1, versions + 1, figsize=(1.55 * (versions + 1), 1.75 * (count + 1) + 0.5))
    for i in range(count):
        axes[i, 0].imshow(x[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title("original" if i == 0 else "", fontsize=9)
        for v, (image, (rot, shift, zoom)) in enumerate(zip(shown, draws), start=1):
            axes[i, v].imshow(image[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
            dx, dy = np.round(shift["translations"][i], 1) + 0  # + 0: no "-0.0"
            axes[i, v].set_title(f"{rot['angle'][i]:+.1f}\u00b0 ({dx:+.1f},{dy:+.1f})\nx{zoom['height_zoom'][i, 0]:.2f}",
                                 fontsize=7.5)
    # the fill modes: one digit turned 30 degrees and shifted 12 pixels right, 4 down, one matrix
    c = 13.5
    t = np.deg2rad(30)
    rot = np.array([[np.cos(t), -np.sin(t), c - c * np.cos(t) + c * np.sin(t)],
                    [np.sin(t), np.cos(t), c - c * np.sin(t) - c * np.cos(t)], [0, 0, 1]])
    shift = np.array([[1, 0, -12], [0, 1, -4], [0, 0, 1]])
    strong = (rot @ shift).ravel()[:8].astype(np.float32)
    row = axes[count]
    row[0].imshow(x[0, :, :, 0], cmap="gray", vmin=0, vmax=1)
    row[0].set_title("original", fontsize=9)
    for k, mode in enumerate(FILL_MODES, start=1):
        fill = 0.5 if mode == "constant" else 0.0
        row[k].imshow(affine_transform(x[:1], strong, "bilinear", mode, fill)[0, :, :, 0], cmap="gray", vmin=0, vmax=1)
        row[k].set_title(f"{mode}" + (" (fill 0.5)" if mode == "constant" else ""), fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in row[len(FILL_MODES) + 1:]:
        ax.axis("off")
    note = row[len(FILL_MODES) + 1].text(0, 0.5, "<- fill_mode: the first digit\nturned 30\u00b0, shifted 12 pixels\n"
                                  "right and 4 down (one\nmatrix, bilinear): what the\nedges bring in",
                                  ha="left", va="center", fontsize=9, transform=row[len(FILL_MODES) + 1].transAxes)
    note.set_in_layout(False)  # leave the image panels their size
    fig.suptitle("train.py --augment's defaults (rotation 0.03 of a turn, shift 0.1, zoom 0.1, fill 'nearest'):\n"
                 "each title is the draw: angle, (right, down) shift in pixels, zoom (> 1 shrinks); "
                 "three resamplings blur the strokes", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.subplots_adjust(hspace=0.55)
    return fig


# -- section 10: transfer learning -----------------------------------------------------------------
def _quick(argv, which):
    """``argv`` with --quick's small limits (QUICK_TRANSFER) and a small test set."""
    argv = list(argv)
    for option, values in QUICK_TRANSFER.items():
        if option in argv:
            argv[argv.index(option) + 1] = values[which]
        else:
            argv += [option, values[which]]
    return argv + ["--test-limit", "300"]


def transfer_experiment(out, quick):
    """docs/cli.md's transfer experiment, run with train.py; the picture and what the guide quotes."""
    source = _quick(TRANSFER_SOURCE, "source") if quick else TRANSFER_SOURCE
    run = _quick(TRANSFER_RUN, "run") if quick else TRANSFER_RUN
    histories, summaries = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        _python(source, tmp)  # relative paths (runs/...) land in the temporary folder
        src = json.loads((Path(tmp) / TRANSFER_SOURCE_DIR / "metrics.json").read_text())
        for label, extra in (("transfer", []), ("baseline", ["--baseline"])):
            folder = Path(tmp) / f"runs/xfer-{label}"
            result = _python(run + extra + ["--out", str(folder)], tmp)
            summaries[label] = result.stdout.strip().splitlines()[-1].split(" - saved in ")[0]
            metrics = json.loads((folder / "metrics.json").read_text())
            histories[label] = {"test_accuracy": metrics["history"]["test_accuracy"],
                                "train_seconds": metrics["train_seconds"], "test_images": metrics["test_images"],
                                "train_images": metrics["train_images"]}
    numbers = {"source_command": "python " + " ".join(source), "source_test_accuracy": src["test_accuracy"],
               "command": "python " + " ".join(run), **histories}
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    epochs = np.arange(1, len(histories["transfer"]["test_accuracy"]) + 1)
    for label, text, color in (("transfer", "transferred base (frozen), new head", "tab:blue"),
                               ("baseline", "the same network from scratch (--baseline)", "tab:orange")):
        acc = 100 * np.array(histories[label]["test_accuracy"])
        ax.plot(epochs, acc, "o-", color=color, label=f"{text}: {acc[-1]:.2f}%")
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"test accuracy on digits 5-9 (%), {histories['transfer']['test_images']:,} images")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    n = histories["transfer"]["train_images"]
    ax.set_title(f"lenet: base trained on digits 0-4 ({100 * src['test_accuracy']:.2f}%), "
                 f"then {n:,} training images of 5-9\npython " + " ".join(run[:10]) + " [--baseline]",
                 fontsize=9.5)
    fig.tight_layout()
    return fig, numbers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs" / "img"), help="folder for the PNGs (default docs/img)")
    p.add_argument("--quick", action="store_true", help="smaller training runs, for the tests")
    p.add_argument("--only", metavar="NAME[,NAME]",
                   help=f"regenerate only these parts ({', '.join(PARTS)}); the other numbers of "
                        f"{NUMBERS} are kept")
    args = p.parse_args(argv)
    only = PARTS if args.only is None else [name.strip() for name in args.only.split(",")]
    unknown = [name for name in only if name not in PARTS]
    if unknown:
        p.error(f"--only: unknown part(s) {', '.join(unknown)}; the parts: {', '.join(PARTS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    numbers_file = out / NUMBERS
    numbers = json.loads(numbers_file.read_text()) if args.only and numbers_file.is_file() else {}
    numbers["quick"] = bool(args.quick or numbers.get("quick", False))
    (x_train, _), (x_test, _) = scratch.load_mnist()
    digit = scratch.preprocess(x_test[:1], "scale")
    pictures = {"filters": ("guide_filters.png", lambda: hand_made_filters(digit)),
                "same_padding": ("guide_same_padding.png", same_padding),
                "im2col": ("guide_im2col.png", im2col_picture),
                "backward_flow": ("guide_backward_flow.png", backward_flow),
                "strided_backward": ("guide_strided_backward.png", strided_backward),
                "receptive_field": ("guide_receptive_field.png", lambda: receptive_field_picture(x_train)),
                "augmentation": ("guide_augmentation.png", lambda: augmentation_picture(x_train))}
    for name in only:
        if name in pictures:
            _save(pictures[name][1](), out, pictures[name][0])
        elif name == "speed":
            numbers["speed_ms_per_image"] = speed_table(x_test, args.quick)
        elif name == "run":
            numbers["training_run"] = training_run(out, args.quick)
        elif name == "transfer":
            fig, numbers["transfer"] = transfer_experiment(out, args.quick)
            _save(fig, out, "guide_transfer.png")
    numbers_file.write_text(json.dumps(numbers, indent=1) + "\n")
    print(f"wrote {numbers_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
