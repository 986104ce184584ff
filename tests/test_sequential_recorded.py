"""``Sequential`` computes today what it computed before it became a graph ``Model`` (issue 19).

The numbers in ``tests/data/sequential_recorded.json`` were written by ``python -m
tests.record_sequential`` with the two-container engine (commit before "Sequential is a Model"):
weight digests and exact losses after two epochs of ``fit`` for blog, lenet (dropout, the ReLU ->
max-pool fusion) and a BatchNormalization model in both dtypes, and a ``train.py scratch`` lenet run
resumed after its first epoch. The container only reorders calls, so every bit must match.
"""

import json

import pytest

from tests import record_sequential

RECORDED = json.loads(record_sequential.OUT.read_text())


@pytest.mark.parametrize("key", sorted(RECORDED["fit"]))
def test_fit_is_bit_identical_to_the_recorded_run(key):
    name, dtype = key.rsplit("-", 1)
    assert record_sequential.fit_record(name, dtype) == RECORDED["fit"][key]


def test_a_resumed_command_line_run_is_bit_identical_to_the_recorded_one(capsys):
    assert record_sequential.cli_record() == RECORDED["cli"]
