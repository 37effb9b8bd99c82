"""Measured runs: op matching, the CUDA path with an injected timer, bad input, CLI."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from codesign.errors import CodesignError, MeasureError
from codesign.measurement.runner import ProfEvent, match_ops, measure, quantile


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()


class FakeCudaTimer:
    """Stands in for CUDA events: tensors stay on the CPU, each pass 'takes' the next value."""

    device = "cpu"

    def __init__(self, times):
        self.times = list(times)
        self.synced = 0
        self.graphed = 0
        self.started = 0

    def synchronize(self):
        self.synced += 1

    def start(self):
        self.started += 1
        return self.started

    def stop(self, token):
        return self.times[(token - 1) % len(self.times)]

    def graph(self, fn):
        self.graphed += 1
        return fn

    def name(self):
        return "Fake GPU"


# --- matching ----------------------------------------------------------------------------

def test_match_ops_in_order_per_module_with_nesting():
    ev = [
        ProfEvent("conv2d", "0", 5.0),             # 0 composite parent
        ProfEvent("convolution", "0", 4.0, 0),     # 1
        ProfEvent("_convolution", "0", 3.0, 1),    # 2
        ProfEvent("native_batch_norm", "1", 2.0),  # 3
        ProfEvent("relu", "2", 1.0),               # 4
        ProfEvent("clamp_min", "2", 0.9, 4),       # 5 child of relu
        ProfEvent("view", "3", 0.1),               # 6 view: never listed
        ProfEvent("linear", "4", 2.0),             # 7
        ProfEvent("addmm", "4", 1.9, 7),           # 8
        ProfEvent("add", "", 0.5),                 # 9 not traced -> unmatched
    ]
    traced = [("0", "aten::convolution"), ("1", "aten::native_batch_norm"),
              ("2", "aten::relu"), ("4", "aten::addmm"), ("4", "aten::gelu")]
    match, unmatched = match_ops(traced, ev)
    assert match == [1, 3, 4, 8, -1]
    assert unmatched == ["<root>/add"]


def test_match_ops_same_name_twice_keeps_order():
    ev = [ProfEvent("add", "m", 1.0), ProfEvent("mul", "m", 2.0), ProfEvent("add", "m", 3.0)]
    match, unmatched = match_ops([("m", "aten::add.Tensor"), ("m", "aten::add.Tensor")], ev)
    assert match == [0, 2]
    assert unmatched == ["m/mul"]


def test_quantile():
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3
    assert quantile([1, 2, 3, 4, 5], 0.25) == 2
    assert quantile([1.0, 2.0], 0.1) == pytest.approx(1.1)


# --- measuring -----------------------------------------------------------------------------

@pytest.mark.slow
def test_measure_cpu_end_to_end_and_per_op():
    m = measure(tiny(), (1, 3, 8, 8), warmup=1, repeat=3, profile_runs=1)
    assert m.latency_s > 0 and len(m.times_s) == 3 and m.p10_s <= m.latency_s <= m.p90_s
    assert m.threads == torch.get_num_threads()
    assert m.device == "cpu" and m.torch_version == str(torch.__version__)
    frame = m.to_frame()
    assert list(frame.aten) == ["aten::convolution", "aten::native_batch_norm", "aten::relu",
                                "aten::addmm"] or frame.matched.all()
    assert frame.matched.all() and (frame.measured_s > 0).all()


def test_cuda_path_with_injected_timer():
    timer = FakeCudaTimer([0.004, 0.001, 0.003, 0.002, 0.005])
    m = measure(tiny(), torch.randn(1, 3, 8, 8), device="cuda", warmup=2, repeat=5,
                timer=timer, cuda_graphs=True, per_op=False)
    assert m.latency_s == pytest.approx(0.003)
    assert m.p10_s == pytest.approx(0.0014)
    assert m.iqr_s == pytest.approx(0.004 - 0.002)
    assert m.device == "cuda" and m.device_name == "Fake GPU" and m.cuda_graphs
    assert timer.graphed == 1 and timer.synced >= 1 and timer.started == 5


def test_cuda_path_fp16_autocast_with_injected_timer():
    timer = FakeCudaTimer([0.002])
    m = measure(tiny(), (1, 3, 8, 8), device="cuda", dtype="bf16", warmup=0, repeat=2,
                timer=timer, per_op=False)
    assert m.dtype == "bf16" and m.latency_s == pytest.approx(0.002)


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="checks the error device='cuda' gives without a CUDA GPU; this machine has one")
def test_cuda_without_gpu_is_one_line():
    with pytest.raises(MeasureError) as e:
        measure(tiny(), (1, 3, 8, 8), device="cuda")
    assert "no CUDA GPU" in str(e.value) and "\n" not in str(e.value)


def test_bad_input_errors_are_one_line():
    with pytest.raises(MeasureError, match=r"device = 'tpu'.*allowed: cpu, cuda"):
        measure(tiny(), (1, 3, 8, 8), device="tpu")
    with pytest.raises(MeasureError, match="dtype"):
        measure(tiny(), (1, 3, 8, 8), dtype="int4")

    class Broken(nn.Module):
        def forward(self, x):
            return x @ torch.randn(5, 5)   # shape mismatch at run time

    with pytest.raises(MeasureError) as e:
        measure(Broken(), (1, 3, 8, 8), per_op=False)
    assert str(e.value).startswith("model failed at run time on cpu: RuntimeError")
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_cli_measure(capsys, tmp_path):
    from codesign.cli import main

    f = tmp_path / "net.py"
    f.write_text("import torch.nn as nn\n"
                 "def make(ch: int = 4):\n"
                 "    return nn.Sequential(nn.Conv2d(3, ch, 3), nn.ReLU())\n")
    csv = tmp_path / "ops.csv"
    rc = main(["measure", f"{f}:make", "--input", "1,3,16,16", "--set", "ch=8", "--warmup", "1",
               "--repeat", "3", "--csv", str(csv)])
    out = capsys.readouterr().out
    assert rc == 0 and "latency: median" in out and "2/2 traced ops matched" in out
    assert csv.is_file()
    rc = main(["measure", f"{f}:make", "--input", "1,3,16,16", "--device", "tpu"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "allowed: cpu, cuda" in err
    assert isinstance(MeasureError("x"), CodesignError)
