"""Shared fixtures of the engine tests."""

import pytest

import scratch


@pytest.fixture(scope="session")
def mnist():
    """``(x_train, y_train), (x_test, y_test)``, loaded (and checksummed) once per session."""
    return scratch.load_mnist()
