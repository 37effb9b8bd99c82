"""Swept hardware knobs obey the same rules as the YAML keys they replace (issue 14, item 2)."""

from __future__ import annotations

import pytest

import codesign
from codesign.errors import HardwareError, SpecError
from codesign.sweeps.spec import load_sweep_spec


@pytest.mark.parametrize("knobs, message", [
    ({"sm_count": [108, -3]}, "knob 'sm_count' = -3; expected a positive integer"),
    ({"sm_count": 1.5}, "knob 'sm_count' = 1.5; expected a positive integer"),
    ({"efficiency.matmul": [0.5, 1.2]}, "knob 'efficiency.matmul' = 1.2; expected a number in (0, 1]"),
    ({"dram_bandwidth_bytes_per_s": 0}, "knob 'dram_bandwidth_bytes_per_s' = 0; expected a positive number"),
    ({"dram_latency_s": -1e-9}, "knob 'dram_latency_s' = -1e-09; expected a number >= 0"),
])
def test_bad_knob_values_are_refused(knobs, message):
    hw = codesign.load_hardware("a100-sxm4-40gb")
    with pytest.raises(HardwareError) as info:
        hw.with_knobs(knobs)
    assert str(info.value) == message


def test_good_knob_arrays_pass():
    hw = codesign.load_hardware("a100-sxm4-40gb")
    assert hw.with_knobs({"sm_count": [54.0, 108], "efficiency.matmul": 1.0}).batch_shape == (2,)


def test_sweep_spec_checks_every_value_not_only_the_first():
    spec = {"workloads": [{"workload": "nl_block"}],
            "hardware": [{"preset": "a100-sxm4-40gb", "knobs": {"sm_count": [108, -3]}}]}
    with pytest.raises(SpecError) as info:
        load_sweep_spec(spec)
    assert str(info.value) == ("<dict>: hardware[0].knobs.sm_count: knob 'sm_count' = -3; "
                               "expected a positive integer")
