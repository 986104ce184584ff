"""The guide's examples still hold: every ```python block of docs/guide.md runs, in order, in
one namespace, and prints exactly what the ```text block right after it says.

Matching rules (doctest's ELLIPSIS, nothing more): trailing spaces are ignored, and ``...``
inside an expected line matches any text on that line (used only for timings, which the
guide marks as not compared). A python block with no text block after it must print nothing.

TensorFlow is never imported in the test process (the engine's tests run without it). A block
whose first line starts with ``# Keras side`` runs in a separate Python process instead, with
a copy of the names it uses (those that pickle: arrays, numbers, strings) as they are at
that point of the guide; its own names do not flow back, so later blocks must not use them.
All Keras blocks run in one such process, each in its own namespace.

Quoted source (```py blocks headed ``# path``) must be whole, runnable code that is still in that
file: the block's lines, indentation included, are consecutive lines of the file (up to one
common indent) and parse as Python. Also checked:
docs/figures.py regenerates every picture the guide shows (``--quick`` into a
temporary folder), the pictures the guide links exist, the guide quotes the speeds and times and the
transfer experiment's accuracies and commands of the committed ``docs/img/guide_numbers.json`` (written by
the same script), the README links the guide, section 7's parity table holds docs/parity.md's
report numbers, and the accuracies the guide shares with README.md and docs/cli.md agree.

``python tests/test_guide.py`` runs the guide and prints each block's real output (what to
paste into the guide after changing an example, and where the quoted timings come from).
"""

import ast
import contextlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide.md"
FENCE = re.compile(r"^([ \t]*)```(\w*)[ \t]*\n(.*?)^\1```[ \t]*$", re.S | re.M)  # indented in lists too


def fences(text):
    """``[(language, body with the fence's indent removed, start, end)]`` of every fenced block."""
    found = []
    for m in FENCE.finditer(text):
        indent, lang, body = m.groups()
        body = "".join(line[len(indent):] if line.startswith(indent) else line.lstrip(" \t")
                       for line in body.splitlines(keepends=True))
        found.append((lang, body, m.start(), m.end()))
    return found


def parse_blocks(text):
    """``[(line, code, expected or None)]`` for each python block, in order."""
    found = fences(text)
    blocks = []
    for i, (lang, body, start, end) in enumerate(found):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "text" and not text[end:found[i + 1][2]].strip():
            expected = found[i + 1][1]
        blocks.append((text.count("\n", 0, start) + 2, body, expected))
    return blocks


def line_matches(expected, actual):
    if "..." not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def output_matches(expected, actual):
    exp = [s.rstrip() for s in (expected or "").rstrip().splitlines()]
    act = [s.rstrip() for s in actual.rstrip().splitlines()]
    return len(exp) == len(act) and all(line_matches(e, a) for e, a in zip(exp, act))


KERAS_MARK = "# Keras side"


def is_keras_block(code):
    return code.lstrip().startswith(KERAS_MARK)


def snapshot(namespace, code):
    """The picklable values of the names ``code`` uses, as a pickle."""
    used = {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}
    kept = {}
    for name in sorted(used & set(namespace)):
        try:
            data = pickle.dumps(namespace[name])
            pickle.loads(data)
        except Exception:
            continue
        kept[name] = namespace[name]
    return kept


def run_block(code, namespace, label):
    """``(printed output, traceback or None)`` of one block executed in ``namespace``."""
    out, error = io.StringIO(), None
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, label, "exec"), namespace)
    except Exception:
        error = traceback.format_exc()
    return out.getvalue(), error


def run_keras_blocks(jobs):
    """Run ``[(label, code, names)]`` in one separate process; ``[(output, error)]``."""
    if not jobs:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.pkl"
        path.write_bytes(pickle.dumps(jobs))
        result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--keras-jobs", str(path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=600)
        answers = Path(tmp) / "jobs.pkl.out"
        if result.returncode != 0 or not answers.is_file():
            failure = f"the Keras process failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
            return [("", failure)] * len(jobs)
        return pickle.loads(answers.read_bytes())


def _keras_process(path):
    """The separate process: run each job in its own namespace, write the answers next to ``path``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    jobs = pickle.loads(Path(path).read_bytes())
    answers = [run_block(code, {"__name__": "__guide__", **names}, label) for label, code, names in jobs]
    Path(path + ".out").write_bytes(pickle.dumps(answers))


def run_guide(path=GUIDE):
    """Execute the blocks in order in one namespace, from the repository root.

    Returns ``(namespace, [(line, code, expected, actual output, error or None)])``; after
    the first error the remaining blocks are not run (their output is ``None``). Keras blocks
    run afterwards in one separate process (see the module docstring).
    """
    blocks = parse_blocks(path.read_text())
    namespace = {"__name__": "__guide__"}
    results, failed, keras_jobs = [], False, []
    cwd = os.getcwd()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    try:
        for line, code, expected in blocks:
            if failed:
                results.append((line, code, expected, None, None))
            elif is_keras_block(code):
                keras_jobs.append((len(results), (f"{path.name}:{line}", code, snapshot(namespace, code))))
                results.append((line, code, expected, None, None))
            else:
                out, error = run_block(code, namespace, f"{path.name}:{line}")
                failed = error is not None
                results.append((line, code, expected, out, error))
    finally:
        os.chdir(cwd)
    answers = run_keras_blocks([job for _, job in keras_jobs])
    for (i, _), (out, error) in zip(keras_jobs, answers):
        line, code, expected, _, _ = results[i]
        results[i] = (line, code, expected, out, error)
    return namespace, results


BLOCKS = parse_blocks(GUIDE.read_text())


@pytest.fixture(scope="module")
def guide_run():
    return run_guide()


def test_guide_has_blocks_and_every_block_has_checked_output():
    assert len(BLOCKS) >= 15
    silent = [line for line, _, expected in BLOCKS if expected is None]
    assert len(silent) <= len(BLOCKS) // 3, f"too many blocks without expected output at lines {silent}"


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"line{b[0]}" for b in BLOCKS])
def test_block(guide_run, index):
    _, results = guide_run
    line, code, expected, actual, error = results[index]
    if actual is None:
        pytest.fail(f"docs/guide.md line {line}: not run, an earlier block failed")
    assert error is None, f"docs/guide.md line {line} raised:\n{error}"
    assert output_matches(expected, actual), (
        f"docs/guide.md line {line}: printed output differs\n--- expected ---\n{expected or ''}"
        f"--- actual ---\n{actual}")


TENSORFLOW_MODULES = ("tensorflow", "keras", "keras_ref", "parity_tests.twins", "parity_tests.report",
                      "parity_tests.determinism", "parity_tests.cases")


def imported_modules(code):
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_keras_blocks_import_tensorflow():
    """Blocks run in this process must not load TensorFlow; those that do are marked and run apart."""
    keras_blocks = [line for line, code, _ in BLOCKS if is_keras_block(code)]
    assert keras_blocks, "the guide compares nothing with Keras"
    for line, code, _ in BLOCKS:
        if not is_keras_block(code):
            heavy = {m for m in imported_modules(code) if m.split(".")[0] in ("tensorflow", "keras", "keras_ref")
                     or m in TENSORFLOW_MODULES}
            assert not heavy, f"docs/guide.md line {line} imports {sorted(heavy)}: start it with {KERAS_MARK!r}"


def test_indented_blocks_are_found():
    text = "- item\n\n  ```python\n  print(1)\n  ```\n\n  ```text\n  1\n  ```\n"
    assert parse_blocks(text) == [(4, "print(1)\n", "1\n")]


def test_matching_rules():
    assert output_matches("a: ... ms\nb\n", "a: 3.2 ms\nb  \n")
    assert not output_matches("a: ... ms\n", "a: 3.2 s\n")
    assert not output_matches("1.0\n", "1.00\n")
    assert not output_matches("x\n", "x\ny\n")
    assert output_matches(None, "")
    assert not output_matches(None, "something\n")


def test_guide_filters_are_the_figures_filters(guide_run):
    from docs import figures

    namespace, _ = guide_run
    assert list(namespace["FILTERS"]) == list(figures.FILTERS)
    for name, k in figures.FILTERS.items():
        assert (namespace["FILTERS"][name] == k).all(), name


def excerpt_is_in(lines, source_lines):
    """Are ``lines`` consecutive lines of ``source_lines``, up to one common indent?"""
    n = len(lines)
    for start in range(len(source_lines) - n + 1):
        window = source_lines[start:start + n]
        if textwrap.dedent("\n".join(window)) == textwrap.dedent("\n".join(lines)):
            return True
    return False


def test_excerpt_check_rejects_disjoint_and_reindented_lines():
    source = ["def f(x):", "    for i in range(3):", "        x += i", "    return x"]
    assert excerpt_is_in(source[1:3], source)
    assert not excerpt_is_in([source[1], source[3]], source)   # disjoint
    assert not excerpt_is_in(["for i in range(3):", "x += i"], source)   # indentation stripped


def test_quoted_excerpts_are_whole_code_still_in_the_file():
    """A ```py block starting with ``# path`` quotes that file: consecutive lines, whole code."""
    excerpts = [body for lang, body, _, _ in fences(GUIDE.read_text()) if lang == "py"]
    assert excerpts
    for body in excerpts:
        header, *lines = body.rstrip("\n").splitlines()
        source = (ROOT / header.lstrip("# ").strip()).read_text().splitlines()
        assert excerpt_is_in(lines, source), f"docs/guide.md quotes {header[2:]}: not consecutive lines of it"
        ast.parse(textwrap.dedent("\n".join(lines)))  # whole statements, not fragments


def test_guide_quotes_the_measured_speeds_and_times():
    """Every speed or time the guide quotes is the committed run's (``python docs/figures.py``)."""
    numbers = json.loads((ROOT / "docs" / "img" / "guide_numbers.json").read_text())
    text = GUIDE.read_text()
    assert numbers["quick"] is False, "docs/img was made with --quick: rerun python docs/figures.py"
    for name, ms in numbers["speed_ms_per_image"].items():
        assert f"{ms:.3f}" in text, f"section 2 does not quote the measured {name}: {ms:.3f} ms"
    run = numbers["training_run"]
    assert run["summary"].split(" - ")[0] in text
    assert f"{run['images_per_s']:,.0f} training images per second" in text
    assert f"{run['wall_time_s']:.0f} s of wall time" in text


def test_guide_quotes_the_transfer_experiment():
    """Section 10 quotes the committed transfer runs (``python docs/figures.py --only transfer``):
    the commands, the source's accuracy, and both runs' test accuracy after every epoch."""
    numbers = json.loads((ROOT / "docs" / "img" / "guide_numbers.json").read_text())
    text = GUIDE.read_text()
    xfer = numbers["transfer"]
    for key in ("source_command", "command"):
        assert f"`{xfer[key]}`" in text, f"section 10 does not quote the {key}: {xfer[key]}"
    assert f"{100 * xfer['source_test_accuracy']:.2f}% on the 0-4 test digits" in text
    for label in ("transfer", "baseline"):
        row = " | ".join(f"{100 * a:.2f}%" for a in xfer[label]["test_accuracy"])
        assert f"| {row} |" in text, f"section 10's table does not quote the {label} run: {row}"
        assert f"{xfer[label]['test_images']:,} test images" in text


def _parity_report_rows():
    """``{(what, dtype): {column: relative difference}}`` of docs/parity.md's report table."""
    text = (ROOT / "docs" / "parity.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[1] in ("float32", "float64"):
            rows[(cells[0], cells[1])] = {"outputs": cells[3], "gradients": cells[5], "weights@50": cells[7]}
    return rows


def test_guide_parity_table_is_docs_parity_reports():
    """Section 7's table holds, per precision and column, the largest relative difference of
    docs/parity.md's report (layers: outputs and gradients; models: gradients and weights@50),
    and the row it comes from; the report's last line is the one README and docs/parity.md print."""
    rows = _parity_report_rows()
    assert rows, "docs/parity.md has no report table"
    models = {"blog", "lenet"}
    text = GUIDE.read_text()
    for dtype in ("float32", "float64"):
        cells = []
        for column, kind in (("outputs", "layer"), ("gradients", "layer"), ("gradients", "model"),
                             ("weights@50", "model")):
            found = [(float(r[column]), what, r[column]) for (what, dt), r in rows.items()
                     if dt == dtype and (what in models) == (kind == "model") and r[column] != "-"]
            value, what, shown = max(found)
            cells.append(f"{float(shown):.1e} ({what})")
        row = f"| {dtype} | " + " | ".join(cells) + " |"
        assert row in text, f"section 7's parity table disagrees with docs/parity.md: expected the row\n{row}"
    last = next(line for line in (ROOT / "docs" / "parity.md").read_text().splitlines()
                if line.startswith("worst relative difference:"))
    assert last in (ROOT / "README.md").read_text(), "README's parity line differs from docs/parity.md's"
    worst = dict(re.findall(r"(float32|float64) ([0-9.e+-]+)", last.split(";")[0]))
    assert f"{float(worst['float32']):.1e} (blog)" in text and f"{float(worst['float64']):.1e} (blog)" in text


SHARED_NUMBERS = {
    # what the guide quotes -> the files that must quote the same text
    "98.87% (98.76, 98.85, 99.01) | 98.66% (98.65, 98.60, 98.73)": ("docs/cli.md",),
    "99.14%": ("README.md", "docs/cli.md"),
    "98.85%": ("README.md", "docs/cli.md"),
    "99.28%": ("README.md", "docs/cli.md"),
    "99.16%": ("README.md", "docs/cli.md"),
    "97.10%": ("README.md", "docs/cli.md"),
    "96.77%": ("docs/cli.md",),
    "93.93%": ("docs/cli.md",),
}


def test_numbers_the_guide_shares_with_readme_and_docs_agree():
    """The accuracies the guide quotes from other runs (section 9's augmentation table, section
    11's full-data transfer, section 8's run) are the ones README.md and docs/cli.md give."""
    text = GUIDE.read_text()
    for quoted, files in SHARED_NUMBERS.items():
        assert quoted in text, f"the guide no longer quotes {quoted!r}: update SHARED_NUMBERS"
        for name in files:
            assert quoted in (ROOT / name).read_text(), f"{name} does not give the guide's {quoted!r}"
    rows = re.findall(r"^\| (keras|scratch), ([^|]*)\| ([0-9.]+%)[^|]*\| ([0-9.]+%)", text, re.M)
    assert len(rows) >= 4, "section 9's augmentation table was not found"
    cli = (ROOT / "docs" / "cli.md").read_text()
    for engine, budget, plain, augmented in rows:
        row = next((line for line in cli.splitlines() if line.startswith(f"| {engine}, {budget.strip()} |")), None)
        assert row is not None and plain in row and augmented in row, (
            f"docs/cli.md's augmentation row for {engine}, {budget.strip()} does not give {plain} and {augmented}")


def test_linked_pictures_exist():
    text = GUIDE.read_text()
    linked = re.findall(r"\]\((img/[^)]+\.png)\)", text)
    assert linked, "the guide shows no picture"
    missing = [p for p in linked if not (GUIDE.parent / p).is_file()]
    assert not missing, f"pictures linked from the guide but absent: {missing}"


def test_figures_script_regenerates_the_pictures(tmp_path):
    from docs import figures

    result = subprocess.run([sys.executable, "docs/figures.py", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    made = sorted(p.name for p in tmp_path.glob("*.png"))
    assert made == sorted(figures.PICTURES), result.stdout
    for name in made:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name
    shown = set(re.findall(r"\]\(img/([^)]+\.png)\)", GUIDE.read_text()))
    assert shown <= set(figures.PICTURES), f"guide shows pictures the script does not make: {shown - set(figures.PICTURES)}"


def test_readme_links_the_guide():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- BEGIN guide -->")[1].split("<!-- END guide -->")[0]
    assert "docs/guide.md" in section and "docs/figures.py" in section


if __name__ == "__main__":
    if sys.argv[1:2] == ["--keras-jobs"]:
        _keras_process(sys.argv[2])
        sys.exit(0)
    _, results = run_guide()
    for line, _code, expected, actual, error in results:
        status = "ok" if actual is not None and error is None and output_matches(expected, actual) else "DIFFERS"
        print(f"=== docs/guide.md line {line}: {status}")
        print(actual if error is None else f"{actual}\n{error}", end="")
