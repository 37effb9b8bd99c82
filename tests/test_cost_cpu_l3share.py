"""CPU cost model: the part of a shared L3 one process keeps (codesign/cost/cpu.py:
l3_hit_fraction, cache_bandwidth with cpu.l3_share), against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.cost.cpu import cache_bandwidth, l3_hit_fraction
from codesign.hardware import load_hardware

MIB = 2 ** 20


@pytest.fixture(scope="module")
def host():
    # one core, 1 MiB L2, 32 MiB L3; L2 100, L3 80 GB/s, DRAM 40 GB/s x eff(memory)
    return load_hardware("host-cpu").with_knobs({
        "cores": 1, "l2_bytes": MIB, "l3_bytes": 32 * MIB, "l2_bandwidth_bytes_per_s": 1e11,
        "l3_bandwidth_bytes_per_s": 8e10, "dram_bandwidth_bytes_per_s": 4e10})


def test_share_one_is_the_step_at_the_l3_size(host):
    dram = 4e10 * host.eff("memory")
    assert float(cache_bandwidth(host, 0.5 * MIB)) == 1e11
    assert float(cache_bandwidth(host, 33 * MIB)) == pytest.approx(8e10)
    assert float(cache_bandwidth(host, 33 * MIB + 2)) == pytest.approx(dram)


def test_hit_fraction_by_hand(host):
    half = host.with_knobs({"l3_share": 0.5})
    # kept: 16 MiB past the 1 MiB L2; ramp over the other 16 MiB
    assert float(l3_hit_fraction(half, 17 * MIB)) == 1.0
    assert float(l3_hit_fraction(half, 25 * MIB)) == pytest.approx(0.5)
    assert float(l3_hit_fraction(half, 33 * MIB)) == 0.0
    assert float(l3_hit_fraction(half, 100 * MIB)) == 0.0
    dram = 4e10 * half.eff("memory")
    # 25 MiB: half the bytes at the L3 rate, half at DRAM (time per byte)
    assert float(cache_bandwidth(half, 25 * MIB)) == pytest.approx(1 / (0.5 / 8e10 + 0.5 / dram))
    # the L2 level is untouched
    assert float(cache_bandwidth(half, 0.5 * MIB)) == 1e11


def test_vectorises_over_shares(host):
    h = l3_hit_fraction(host.with_knobs({"l3_share": np.array([0.25, 0.5, 1.0])}), 25 * MIB)
    assert np.allclose(h, [1 - 16 / 24, 0.5, 1.0])
