"""Shared fixtures of the engine tests."""

import pytest
from threadpoolctl import threadpool_limits

import scratch


@pytest.fixture(scope="session", autouse=True)
def single_threaded_blas():
    """One BLAS thread: the tests multiply tiny matrices, where a thread pool fighting for two
    busy cores costs 20x (measured: a float64 lenet forward on 2 images, 20 ms vs 1 ms).
    Results within one process are compared, so the thread count changes no assertion."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def mnist():
    """``(x_train, y_train), (x_test, y_test)``, loaded (and checksummed) once per session."""
    return scratch.load_mnist()
