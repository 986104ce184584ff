"""The seed network on one image equals the seed tutorial's per-image computation.

The tutorial (Conv3x3 with 8 filters -> MaxPool2 -> Softmax(13*13*8, 10)) works on one
image at a time with Python loops over pixels. Its steps are rewritten below as loops and
fed the weights of the scratch ``blog`` model; the batched engine must agree.
"""

import numpy as np

import scratch


def tutorial_forward(image, filters, conv_bias, weights, biases):
    """One 28x28 uint8 image -> 10 probabilities, the tutorial's way.

    filters: (8, 3, 3) (the tutorial's layout); weights: (13*13*8, 10); biases: (10,).
    """
    x = image / 255 - 0.5                                   # the tutorial's input scaling
    h, w = x.shape
    conv = np.zeros((h - 2, w - 2, 8))                      # valid 3x3 cross-correlation
    for i in range(h - 2):
        for j in range(w - 2):
            region = x[i:i + 3, j:j + 3]
            for f in range(8):
                conv[i, j, f] = np.sum(region * filters[f]) + conv_bias[f]
    pooled = np.zeros((13, 13, 8))                          # 2x2 max pool, stride 2
    for i in range(13):
        for j in range(13):
            for f in range(8):
                pooled[i, j, f] = np.max(conv[2 * i:2 * i + 2, 2 * j:2 * j + 2, f])
    flat = []                                               # flatten in (h, w, c) order
    for i in range(13):
        for j in range(13):
            for f in range(8):
                flat.append(pooled[i, j, f])
    totals = np.array(flat) @ weights + biases
    exp = np.exp(totals - totals.max())
    return exp / exp.sum()


def test_blog_on_one_image_equals_the_tutorial_loops(mnist):
    (x_train, _), _ = mnist
    image = x_train[0]
    model = scratch.build_model("blog", dtype="float64", seed=0)
    kernel, conv_bias, weights, biases = model.get_weights()
    rng = np.random.default_rng(0)  # non-zero biases, so a dropped bias would show
    conv_bias, biases = 0.1 * rng.standard_normal(8), 0.1 * rng.standard_normal(10)
    model.set_weights([kernel, conv_bias, weights, biases])
    assert kernel.shape == (3, 3, 1, 8) and weights.shape == (13 * 13 * 8, 10)
    filters = np.stack([kernel[:, :, 0, f] for f in range(8)])  # HWIO -> the tutorial's (8, 3, 3)

    logits = model.predict(scratch.preprocess(image[None], "center", dtype="float64"))
    ours = np.exp(logits[0] - logits[0].max())
    ours /= ours.sum()
    expected = tutorial_forward(image.astype(np.float64), filters, conv_bias, weights, biases)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)
    # the same through a Softmax layer on the logits
    np.testing.assert_allclose(scratch.Softmax(dtype="float64")(logits)[0], expected, rtol=1e-12, atol=1e-15)


def test_blog_batch_equals_one_image_at_a_time():
    """Batching changes nothing: each image of a batch gives the tutorial's per-image answer."""
    (x_train, _), _ = scratch.load_mnist()
    model = scratch.build_model("blog", dtype="float64", seed=1)
    kernel, conv_bias, weights, biases = model.get_weights()
    filters = np.stack([kernel[:, :, 0, f] for f in range(8)])
    logits = model.predict(scratch.preprocess(x_train[:4], "center", dtype="float64"))
    for k in range(4):
        probs = np.exp(logits[k] - logits[k].max())
        probs /= probs.sum()
        expected = tutorial_forward(x_train[k].astype(np.float64), filters, conv_bias, weights, biases)
        np.testing.assert_allclose(probs, expected, rtol=1e-12, atol=1e-15)
