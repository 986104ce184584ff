"""Preprocessing layers (``keras/src/layers/preprocessing``)."""

__all__ = []
