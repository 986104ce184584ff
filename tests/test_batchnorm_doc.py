"""docs/batchnorm.md (a section draft for the guide) still holds: its ```python blocks run in
order in one namespace and print exactly what the ```text block right after each says (the
guide's conventions, tests/test_guide.py; trailing spaces ignored, no other latitude)."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "batchnorm.md"
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(text):
    """``[(line, code, expected output)]``: each python block and the text block right after it."""
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    out = []
    for i, (lang, body, start, end) in enumerate(found):
        if lang == "python":
            nxt = found[i + 1] if i + 1 < len(found) else None
            expected = nxt[1] if nxt and nxt[0] == "text" and not text[end:nxt[2]].strip() else ""
            out.append((text.count("\n", 0, start) + 2, body, expected))
    return out


def test_every_block_runs_and_prints_what_the_doc_says():
    found = blocks(DOC.read_text())
    assert len(found) == 3 and all(expected for _, _, expected in found)
    namespace = {"__name__": "__batchnorm_doc__"}
    for line, code, expected in found:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{DOC.name}:{line}", "exec"), namespace)
        got = [s.rstrip() for s in out.getvalue().rstrip().splitlines()]
        assert got == [s.rstrip() for s in expected.rstrip().splitlines()], f"docs/batchnorm.md line {line}:\n" + \
            "\n".join(got)


def test_the_doc_quotes_the_formula_the_code_computes():
    """The compact formula of the doc is the one in the layer's docstring and code."""
    import scratch.layers.normalization as norm

    text = DOC.read_text()
    assert "gamma * s * (dy_j - mean(dy) - xhat_j * mean(dy * xhat))" in text
    assert "dx = gamma * s * (dy - mean(dy) - xhat * mean(dy * xhat))" in norm.BatchNormalization.__doc__
    assert "_normalize_backward" in text and hasattr(norm, "_normalize_backward")
