"""The command line's argparse pieces: a parser whose usage errors are one line, and option types
that refuse a bad value naming what was expected."""

import argparse
import math


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def option_type(cast, accept, wanted):
    """An argparse ``type``: ``cast(text)`` that must satisfy ``accept``, else one clear line."""
    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, received {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, received {text!r}")
        return value
    return parse


positive_int = option_type(int, lambda v: v > 0, "a positive integer")
learning_rate = option_type(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
seed_int = option_type(int, lambda v: v >= 0, "a non-negative integer")
non_negative = option_type(float, lambda v: math.isfinite(v) and v >= 0, "a non-negative finite number")
fraction = option_type(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
open_fraction = option_type(float, lambda v: 0 < v < 1, "a number between 0 and 1 (both excluded)")
