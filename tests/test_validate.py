"""Validation: error metrics on hand-made numbers, the CUDA path with a fake timer, reports,
and one end-to-end CLI run of calibrate --quick + validate on a tiny model."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from codesign.errors import CodesignError
from codesign.validation.host import ape, error_metrics, spearman, validate


def test_error_metrics_hand_made():
    est = [1.1, 2.0, 2.7, 5.0]
    meas = [1.0, 2.5, 3.0, 4.0]
    m = error_metrics(est, meas)
    errs = [0.1, 0.2, 0.1, 0.25]
    assert m["mape"] == pytest.approx(sum(errs) / 4)
    assert m["median_ape"] == pytest.approx(0.15)
    assert m["max_ape"] == pytest.approx(0.25)
    assert m["spearman"] == pytest.approx(1.0)
    assert ape(0.5, 1.0) == 0.5 and ape(1.0, 0.0) != ape(1.0, 0.0)  # NaN for 0 measured
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) != spearman([1, 2], [1, 2])      # NaN below 3 points


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()


class FakeCudaTimer:
    device = "cpu"

    def __init__(self):
        self.n = 0

    def synchronize(self):
        pass

    def start(self):
        return None

    def stop(self, token):
        self.n += 1
        return 0.002 if self.n % 2 else 0.0021     # two passes 5% apart at most

    def graph(self, fn):
        return fn

    def name(self):
        return "Fake GPU"


@pytest.mark.slow
def test_validate_cuda_path_with_fake_timer(tmp_path):
    res = validate(tiny(), torch.randn(2, 3, 16, 16), hardware="t4", device="cuda",
                   rounds=2, repeat=2, timer=FakeCudaTimer(), out=tmp_path, profile_runs=1)
    w = res.workloads.iloc[0]
    assert w.measured_s == pytest.approx(0.002) and w.batch == 2
    assert w.ape == pytest.approx(abs(w.estimated_s - 0.002) / 0.002)
    assert res.device == "cuda" and res.device_name == "Fake GPU"
    assert res.mape == pytest.approx(w.ape)
    assert set(res.ops.kind) >= {"conv", "norm", "elementwise", "matmul"}
    for f in ("validation.json", "validation.md", "ops.csv", "scatter.png"):
        assert (tmp_path / f).is_file()
    data = json.loads((tmp_path / "validation.json").read_text())
    assert data["summary"]["workloads"] == 1 and "by_kind" in data
    assert "noise floor" in (tmp_path / "validation.md").read_text()


def test_validate_bad_input():
    with pytest.raises(CodesignError, match="rounds"):
        validate(tiny(), (1, 3, 8, 8), hardware="host-cpu", rounds=1)
    with pytest.raises(CodesignError, match="needs the model's inputs"):
        validate(tiny(), hardware="host-cpu")
    with pytest.raises(CodesignError):
        validate(["no_such_workload"], hardware="host-cpu")


@pytest.mark.slow
def test_cli_calibrate_quick_then_validate(tmp_path, capsys):
    from codesign.cli import main

    f = tmp_path / "net.py"
    f.write_text("import torch.nn as nn\n"
                 "def make(ch: int = 16):\n"
                 "    return nn.Sequential(nn.Conv2d(3, ch, 3, padding=1), nn.BatchNorm2d(ch),\n"
                 "                         nn.ReLU(), nn.Conv2d(ch, ch, 1), nn.ReLU())\n")
    hw = tmp_path / "host.yaml"
    assert main(["calibrate", "--device", "cpu", "--out", str(hw), "--quick"]) == 0
    out = capsys.readouterr().out
    assert hw.is_file() and "microbenchmarks" in out
    from codesign.hardware import load_hardware

    spec = load_hardware(str(hw))
    assert spec.provenance["quick"] is True and spec.kind == "cpu"
    rc = main(["validate", f"{f}:make", "--input", "1,3,32,32", "--device", "cpu", "--hw",
               str(hw), "--batch", "1", "2", "--rounds", "2", "--repeat", "3", "--out",
               str(tmp_path / "val")])
    out = capsys.readouterr().out
    assert rc == 0 and "MAPE" in out
    assert (tmp_path / "val" / "validation.md").is_file()
    rc = main(["validate", f"{f}:make", "--device", "cuda" if not torch.cuda.is_available()
               else "tpu", "--hw", str(hw)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1


@pytest.mark.slow
def test_validate_interleaves_calibration_rounds_and_fits_after(tmp_path):
    """between_rounds runs after every measurement round; a callable hardware is resolved
    once, after them (benchmarks/accuracy.py fits the spec from the interleaved rounds)."""
    from codesign.calibration.host import Calibration

    cal = Calibration(device="cpu", quick=True)
    cal.run_round()
    seen = []

    def between(r):
        seen.append(r)
        cal.run_round()

    def hw():
        assert seen == [0, 1]                  # only after the last measurement round
        return cal.finish(tmp_path / "host.yaml")

    res = validate(["nl_block"], hardware=hw, rounds=2, repeat=1, warmup=1, profile_runs=1,
                   input_shape={"nl_block": (1, 1024, 4, 4), "other": (1, 3, 4, 4)},
                   between_rounds=between)
    assert cal.runner.rounds == 3 and all(len(v) == 3 for v in cal.runner.samples.values())
    assert res.hardware == "host-cpu-calibrated" and (tmp_path / "host.yaml").is_file()
    w = res.workloads.iloc[0]
    assert w.workload == "nl_block" and w.measured_s > 0 and w.estimated_s > 0
    assert any("allocator" in n for n in res.notes)
