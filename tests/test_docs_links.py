"""Every relative link in the README and in ``docs/`` reaches a file that exists and, when it
names a section (``page.md#section``), a heading of that page: the README is short because its
long sections moved to ``docs/``, and each must stay reachable from it.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "data" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a '#' in a code block is no heading
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_slug_follows_github():
    assert slug("Every `keras.applications` family") == "every-kerasapplications-family"
    assert slug("Checking your own model: `python -m parity_tests.check`") == \
        "checking-your-own-model-python--m-parity_testscheck"
    assert slug("Results in detail") == "results-in-detail"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_a_heading(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_layer_list_is_the_engines():
    """README's "what the engine computes" list is ``python -m scratch.layers``'s output (scratch.LAYERS)."""
    from scratch.layers.__main__ import block_in, family_list
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert block_in(text) == family_list(), "README.md's layer list is stale: paste `python -m scratch.layers`"
