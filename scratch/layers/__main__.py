"""``python -m scratch.layers``: what the engine computes, family by family, from ``scratch.LAYERS``.

Prints the Markdown list README.md shows between its ``<!-- layers -->`` markers (a test keeps
them equal); ``--check README.md`` exits 1 if the file's list differs from it.
"""

import argparse
import sys

from .. import activations
from . import FAMILIES, LAYERS

BEGIN, END = "<!-- layers: python -m scratch.layers -->", "<!-- /layers -->"


def family_list():
    """One Markdown bullet per family module: its name and its layer classes, in the module's order."""
    lines = []
    for module in FAMILIES:
        family = module.__name__.rsplit(".", 1)[-1]
        names = [name for name in module.__all__ if name in LAYERS]
        if names:
            lines.append(f"- **{family}**: " + ", ".join(f"`{name}`" for name in names))
    lines.append("- **activation functions** (`activation=...`, `Activation(...)`): "
                 + ", ".join(f"`{name}`" for name in sorted(activations.REGISTRY)))
    lines.append(f"\n{len(LAYERS)} layer classes, {len(activations.REGISTRY)} activation functions.")
    return "\n".join(lines)


def block_in(text):
    """The list between the markers of ``text`` (``None`` if it has none)."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratch.layers", description=__doc__.split("\n")[0])
    parser.add_argument("--check", metavar="FILE", help="exit 1 if FILE's list (between the markers) differs")
    args = parser.parse_args(argv)
    listing = family_list()
    if args.check is None:
        print(listing)
        return 0
    with open(args.check, encoding="utf-8") as f:
        found = block_in(f.read())
    if found is None:
        print(f"{args.check}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    if found != listing:
        print(f"{args.check}: the layer list differs from `python -m scratch.layers`; paste its output between "
              f"the markers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
