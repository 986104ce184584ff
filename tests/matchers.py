"""Assertion helpers shared by the engine's tests."""

import re

import pytest


def raises(*fragments):
    """``pytest.raises(ValueError)`` whose message contains every fragment (literally, in order)."""
    return pytest.raises(ValueError, match=".*".join(re.escape(str(f)) for f in fragments))
