"""Sweeps constrained on memory (issue 14): excluded points stay in the results but never reach
the Pareto front or the best configurations."""

from __future__ import annotations

import pytest

from codesign.errors import SpecError
from codesign.sweeps.runner import run_sweep
from codesign.sweeps.spec import load_sweep_spec

CCP = {"workload": "ccp_conv_block", "input": [1, 32, 16, 16], "knobs": {"in_ch": 32, "out_ch": [32, 64]}}


def spec(**constraints) -> dict:
    s = {"name": "c", "workloads": [CCP],
         "hardware": [{"preset": "a100-sxm4-40gb", "knobs": {"dram_bytes": [1.0e3, 4.0e10]}}],
         "dtype": ["fp16"], "objectives": ["latency_s", "energy_j"]}
    if constraints:
        s["constraints"] = constraints
    return s


def test_fits_memory_constraint_keeps_unfit_points_off_the_front(tmp_path):
    free = run_sweep(spec(), output=tmp_path / "free", progress=False)
    assert "feasible" not in free.frame
    assert (~free.frame["fits_memory"]).sum() == 2          # 1 kB of DRAM fits nothing
    run = run_sweep(spec(fits_memory=True), output=tmp_path / "c", progress=False)
    frame = run.frame
    assert frame["feasible"].tolist() == frame["fits_memory"].tolist()
    assert run.pareto["fits_memory"].all() and len(run.pareto) >= 1
    assert run.summary.infeasible_points == 2
    for row in run.summary.best.values():
        assert frame.loc[frame["config_id"] == row["config_id"], "feasible"].all()


def test_max_peak_memory_constraint(tmp_path):
    run = run_sweep(spec(max_peak_memory_bytes=1.0), output=tmp_path / "c", progress=False)
    assert not run.frame["feasible"].any() and len(run.pareto) == 0 and run.summary.best == {}


def test_bad_constraint_is_one_line():
    with pytest.raises(SpecError) as info:
        load_sweep_spec(spec(max_peak_memory_bytes=-1))
    assert str(info.value) == ("<dict>: constraints.max_peak_memory_bytes = -1; "
                               "expected a positive number")
