"""The seed tutorial's trainer, one image at a time in Python loops: the speed baseline.

The classic "CNN from scratch" tutorial trains Conv 3x3 (8 filters, no bias) -> MaxPool 2 ->
Softmax(13*13*8 -> 10) on MNIST with SGD, one image per step, every convolution and pooling
window visited by a Python loop over pixels. This module rewrites that trainer (forward,
backprop, update) so the benchmark can time it on the same machine as the batched engine.

Shapes: image ``(28, 28)`` float in [-0.5, 0.5]; filters ``(8, 3, 3)``; weights
``(13*13*8, 10)``; biases ``(10,)``.
"""

import time

import numpy as np


class SeedLoopNet:
    """Conv3x3(8) -> MaxPool2 -> Softmax, trained image by image with plain SGD."""

    def __init__(self, seed=0, num_filters=8, classes=10):
        rng = np.random.default_rng(seed)
        self.num_filters = num_filters
        self.filters = rng.standard_normal((num_filters, 3, 3)) / 9
        self.weights = rng.standard_normal((13 * 13 * num_filters, classes)) / (13 * 13 * num_filters)
        self.biases = np.zeros(classes)

    # -- forward, caching what backprop needs ---------------------------------------------
    def _conv(self, image):
        h, w = image.shape
        out = np.zeros((h - 2, w - 2, self.num_filters))
        for i in range(h - 2):
            for j in range(w - 2):
                out[i, j] = np.sum(image[i:i + 3, j:j + 3] * self.filters, axis=(1, 2))
        return out

    @staticmethod
    def _pool(x):
        h, w, f = x.shape
        out = np.zeros((h // 2, w // 2, f))
        for i in range(h // 2):
            for j in range(w // 2):
                out[i, j] = np.amax(x[2 * i:2 * i + 2, 2 * j:2 * j + 2], axis=(0, 1))
        return out

    def train_one(self, image, label, lr=0.005):
        """Forward, cross-entropy, backprop and SGD update on one image; returns the loss."""
        conv = self._conv(image)
        pooled = self._pool(conv)
        flat = pooled.flatten()
        totals = flat @ self.weights + self.biases
        exp = np.exp(totals - totals.max())
        probs = exp / exp.sum()
        loss = -np.log(probs[label])

        # softmax + cross-entropy: dL/dtotals = probs - onehot
        d_totals = probs.copy()
        d_totals[label] -= 1
        d_flat = self.weights @ d_totals
        self.weights -= lr * np.outer(flat, d_totals)
        self.biases -= lr * d_totals

        # max pool: the gradient goes to the cell holding each window's max
        d_pooled = d_flat.reshape(pooled.shape)
        d_conv = np.zeros(conv.shape)
        for i in range(pooled.shape[0]):
            for j in range(pooled.shape[1]):
                window = conv[2 * i:2 * i + 2, 2 * j:2 * j + 2]
                for a in range(2):
                    for b in range(2):
                        for f in range(self.num_filters):
                            if window[a, b, f] == pooled[i, j, f]:
                                d_conv[2 * i + a, 2 * j + b, f] = d_pooled[i, j, f]

        # convolution: dL/dfilters accumulated region by region
        d_filters = np.zeros(self.filters.shape)
        for i in range(conv.shape[0]):
            for j in range(conv.shape[1]):
                region = image[i:i + 3, j:j + 3]
                for f in range(self.num_filters):
                    d_filters[f] += d_conv[i, j, f] * region
        self.filters -= lr * d_filters
        return float(loss)


def measure(images, labels, seed=0):
    """Train one pass over ``images`` (uint8 ``(N, 28, 28)``); returns images/s and mean loss."""
    net = SeedLoopNet(seed=seed)
    x = images.astype(np.float64) / 255 - 0.5
    start = time.perf_counter()
    losses = [net.train_one(img, int(lab)) for img, lab in zip(x, labels)]
    seconds = time.perf_counter() - start
    return {"images": len(x), "seconds": seconds, "images_per_s": len(x) / seconds,
            "mean_loss": float(np.mean(losses))}
