"""Normalization layers (``keras/src/layers/normalization``)."""

__all__ = []
