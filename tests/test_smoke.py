"""Smoke test: the seed network trains on a slice of MNIST and beats chance clearly."""

import numpy as np

import scratch


def test_blog_trains_on_a_slice():
    (x_train, y_train), (x_test, y_test) = scratch.load_mnist()
    model = scratch.build_model("blog", seed=0)
    model.compile(scratch.Adam(0.005))
    model.fit(scratch.preprocess(x_train[:3000], "center"), y_train[:3000], epochs=1, batch_size=32, verbose=0)
    loss, acc = model.evaluate(scratch.preprocess(x_test[:1000], "center"), y_test[:1000])
    assert acc > 0.8 and np.isfinite(loss)
