"""docs/custom_layers.md runs: its ```python blocks, in order, in one namespace, each printing what the
```text block after it says (the matching rules of ``tests/test_guide.py``: ``...`` matches any text on a
line). They use Keras and register a layer, so they run in a separate Python process: this test process
keeps its ``scratch.LAYERS`` as they are."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_guide import output_matches, parse_blocks

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "custom_layers.md"
BLOCKS = parse_blocks(DOC.read_text())


def _run_doc():
    """``[(output, error or None)]`` of every block, run in this file's ``--run`` process."""
    result = subprocess.run([sys.executable, "-m", "tests.test_custom_layers_doc", "--run"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def doc_run():
    return _run_doc()


def test_every_block_has_checked_output():
    assert len(BLOCKS) >= 6
    assert all(expected is not None or "register_layer(" in code for _, code, expected in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"line{b[0]}" for b in BLOCKS])
def test_block(doc_run, index):
    line, code, expected = BLOCKS[index]
    out, error = doc_run[index]
    assert error is None, f"docs/custom_layers.md:{line} raised:\n{error}"
    assert output_matches(expected or "", out), f"docs/custom_layers.md:{line} printed:\n{out}\nexpected:\n{expected}"


if __name__ == "__main__" and sys.argv[1:] == ["--run"]:
    from tests.test_guide import run_block

    namespace = {"__name__": "__custom_layers__"}
    answers = []
    for line, code, _ in BLOCKS:
        if answers and answers[-1][1] is not None:
            answers.append(("", "not run: an earlier block failed"))
            continue
        answers.append(run_block(code, namespace, f"custom_layers.md:{line}"))
    print(json.dumps(answers))
