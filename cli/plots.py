"""The pictures a run leaves behind, drawn with matplotlib's Agg backend (no display needed).

Each function takes plain arrays and a path and writes one PNG.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scratch.files import atomic_write  # noqa: E402

DPI = 100


def _save(fig, path):
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    plt.close(fig)


def curves(histories, path, title):
    """Loss and accuracy per epoch; ``histories`` is ``{label: history}`` (one line per engine).

    A history has ``epoch``, ``loss``, ``accuracy`` and, when measured, ``test_loss`` and
    ``test_accuracy`` lists.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for label, h in histories.items():
        prefix = f"{label} " if len(histories) > 1 else ""
        line = ax_loss.plot(h["epoch"], h["loss"], "o-", label=f"{prefix}train")[0]
        ax_acc.plot(h["epoch"], h["accuracy"], "o-", color=line.get_color(), label=f"{prefix}train")
        if h.get("test_loss"):
            ax_loss.plot(h["epoch"], h["test_loss"], "s--", color=line.get_color(), label=f"{prefix}test")
            ax_acc.plot(h["epoch"], h["test_accuracy"], "s--", color=line.get_color(), label=f"{prefix}test")
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def filters(kernel, path, title):
    """The first conv layer's filters, ``kernel: (kh, kw, in, out)``; one panel per filter
    (channels averaged when there are several), on one shared colour scale centred on zero
    (red positive, white zero, blue negative, as every signed picture of the project), with
    its colour bar."""
    k = np.asarray(kernel, dtype=np.float64).mean(axis=2)
    n = k.shape[-1]
    cols = min(n, 8)
    rows = -(-n // cols)
    lim = float(np.abs(k).max()) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 0.8, 1.4 * rows + 0.6), squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            im = ax.imshow(k[:, :, i], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(str(i), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), shrink=0.8, label="weight")
    _save(fig, path)


def feature_maps(image, maps, path, title):
    """A test digit ``(H, W)`` (grey) and the first conv layer's outputs for it ``(H', W', F)``.

    The maps are signed: each is drawn red positive, blue negative, white at exactly zero, on
    its own scale symmetric about zero, with its own colour bar."""
    n = maps.shape[-1]
    cols = min(n + 1, 5)
    rows = -(-(n + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.3 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image, cmap="gray")
    axes.flat[0].set_title("input", fontsize=9)
    for i in range(n):
        ax = axes.flat[i + 1]
        m = np.asarray(maps[:, :, i], dtype=np.float64)
        lim = float(np.abs(m).max()) or 1.0
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"filter {i}", fontsize=9)
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, ticks=[-lim, 0, lim])  # 3 ticks: large labels
        cbar.ax.set_yticklabels([f"{-lim:.2g}", "0", f"{lim:.2g}"])
        cbar.ax.tick_params(labelsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def confusion(matrix, path, title):
    """A ``(K, K)`` confusion matrix (rows: true digit, columns: predicted) with counts."""
    m = np.asarray(matrix)
    k = m.shape[0]
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(m, cmap="Blues", norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(m.max(), 2)))
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() / 10 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="count (log scale; blank cells are 0)")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def mistakes(images, true, pred, prob, path, title, cols=8):
    """A grid of misclassified digits ``(N, H, W)``, each titled ``true -> predicted (p)``."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        ax = axes.flat[i]
        ax.imshow(images[i], cmap="gray")
        ax.set_title(f"{true[i]} -> {pred[i]} ({prob[i]:.2f})", fontsize=8, color="firebrick")
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def comparison(histories, weight_diff, path, title):
    """``compare``'s picture: both engines' loss and accuracy per epoch, and the largest
    absolute weight difference between them (log scale)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for (label, h), marker, color in zip(histories.items(), ("o", "x"), ("tab:blue", "tab:orange")):
        axes[0].plot(h["epoch"], h["loss"], marker + "-", color=color, label=f"{label} train")
        axes[1].plot(h["epoch"], h["accuracy"], marker + "-", color=color, label=f"{label} train")
        if h.get("test_accuracy"):
            axes[1].plot(h["epoch"], h["test_accuracy"], marker + ":", color=color, label=f"{label} test")
    epochs = list(histories.values())[0]["epoch"]
    diffs = np.maximum(np.asarray(weight_diff, dtype=np.float64), np.finfo(np.float64).tiny)
    axes[2].semilogy(epochs, diffs, "o-", color="black")
    for ax, name in zip(axes, ("loss", "accuracy", "max |w_scratch - w_keras|")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend()
    axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def augmented(images, versions, path, title):
    """A grid: each row one training image (left column) and augmented versions of it.

    ``images: (N, H, W, 1)``, ``versions: (V, N, H, W, 1)``.
    """
    n, v = len(images), len(versions)
    fig, axes = plt.subplots(n, v + 1, figsize=(1.2 * (v + 1), 1.2 * n), squeeze=False)
    lo, hi = float(np.min(images)), float(np.max(images))
    for i in range(n):
        for j, img in enumerate([images[i], *(versions[k][i] for k in range(v))]):
            ax = axes[i, j]
            ax.imshow(np.asarray(img)[..., 0], cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("original" if j == 0 else f"draw {j}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)
