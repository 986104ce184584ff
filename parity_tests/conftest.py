"""Parity suite setup: TensorFlow made deterministic before anything imports it."""

from parity_tests import determinism  # noqa: F401  (must come before keras / keras_ref)
