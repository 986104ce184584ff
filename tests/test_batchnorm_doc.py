"""The guide's batch normalization section quotes the formula the layer computes (its blocks run
with the rest of the guide, tests/test_guide.py)."""

from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"


def test_the_guide_quotes_the_formula_the_code_computes():
    import scratch.layers.normalization as norm

    text = GUIDE.read_text()
    assert "### Batch normalization's backward pass" in text
    assert "gamma * s * (dy_j - mean(dy) - xhat_j * mean(dy * xhat))" in text
    assert "dx = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))" in norm.BatchNormalization.__doc__
    assert "_normalize_backward" in text and hasattr(norm, "_normalize_backward")
