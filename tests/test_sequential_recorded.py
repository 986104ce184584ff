"""``Sequential`` computes today what it computed before it became a graph ``Model`` (issue 19).

The numbers in ``tests/data/sequential_recorded.json`` were written by ``python -m
tests.record_sequential`` with the two-container engine (commit before "Sequential is a Model"):
weight digests and exact losses after two epochs of ``fit`` for blog, lenet (dropout, the ReLU ->
max-pool fusion) and a BatchNormalization model in both dtypes, and a ``train.py scratch`` lenet run
resumed after its first epoch. The container only reorders calls, so every bit must match.

Since issue 22 a training step computes a convolution read by a tiling max pooling in the pool's order,
which sums the kernel's gradient in another order: the records above are recomputed with that route off
(``record_sequential.without_tiles``: the rest of the engine still computes the recorded bits), and the
route itself is pinned by ``fit_tiled`` (recorded with it) and checked against the plain records to rounding.
"""

import json

import numpy as np
import pytest

from tests import record_sequential

RECORDED = json.loads(record_sequential.OUT.read_text())


@pytest.mark.parametrize("key", sorted(RECORDED["fit"]))
def test_fit_is_bit_identical_to_the_recorded_run(key):
    name, dtype = key.rsplit("-", 1)
    with record_sequential.without_tiles():
        assert record_sequential.fit_record(name, dtype) == RECORDED["fit"][key]


@pytest.mark.parametrize("key", sorted(RECORDED["fit_tiled"]))
def test_fit_on_the_tiled_route_is_bit_identical_to_its_record_and_the_plain_one_to_rounding(key):
    name, dtype = key.rsplit("-", 1)
    got = record_sequential.fit_record(name, dtype)
    assert got == RECORDED["fit_tiled"][key]
    tol = 1e-12 if dtype == "float64" else 1e-5
    for what in ("loss", "evaluate"):
        tiled, plain = ([float.fromhex(v) for v in r[key][what]] for r in (RECORDED["fit_tiled"], RECORDED["fit"]))
        np.testing.assert_allclose(tiled, plain, rtol=tol, err_msg=what)


def test_a_resumed_command_line_run_is_bit_identical_to_the_recorded_one(capsys):
    with record_sequential.without_tiles():
        assert record_sequential.cli_record() == RECORDED["cli"]
