"""Calibration: the fit recovers known coefficients; the YAML it writes is a valid spec."""

from __future__ import annotations

import math

import pytest

from codesign.calibration.host import Observation, _write_spec, fit, predict
from codesign.errors import CodesignError, HardwareError
from codesign.ir.graph import ConvAttrs, MatMulAttrs, Op, OpKind, TensorSpec
from codesign.hardware import load_hardware, load_spec_file


def _ew(n):
    return Op(0, "m/add", "aten::add.Tensor", OpKind.ELEMENTWISE, "m",
              (TensorSpec(1, (n,)), TensorSpec(2, (n,))), (TensorSpec(3, (n,)),))


def _conv(c, hw, r):
    a = ConvAttrs(c, c, (r, r), (1, 1), (r // 2, r // 2), (1, 1), 1)
    return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
              (TensorSpec(1, (1, c, hw, hw)), TensorSpec(2, (c, c, r, r), is_weight=True)),
              (TensorSpec(3, (1, c, hw, hw)),), a)


def _mm(m, n, k):
    return Op(0, "m/mm", "aten::mm", OpKind.MATMUL, "m",
              (TensorSpec(1, (m, k)), TensorSpec(2, (k, n), is_weight=True)),
              (TensorSpec(3, (m, n)),), MatMulAttrs(1, m, n, k))


def _synthetic():
    ops = {f"add_{e}": [_ew(2 ** e)] for e in (4, 6, 14, 16, 17, 18, 19, 21, 22, 24, 25)}
    ops.update({f"conv3_{c}_{h}": [_conv(c, h, 3)] for c, h in ((64, 56), (128, 28), (256, 14))})
    ops.update({f"conv1_{c}_{h}": [_conv(c, h, 1)] for c, h in ((64, 56), (256, 28), (512, 14))})
    ops.update({f"mm_{m}": [_mm(m, m, m)] for m in (128, 256, 512)})
    return ops


PARAMS = ["dispatch.eager_overhead_s", "cpu.l2_bandwidth_bytes_per_s",
          "cpu.l3_bandwidth_bytes_per_s", "efficiency.memory", "efficiency.conv.standard",
          "efficiency.conv.pointwise", "efficiency.matmul"]


def test_fit_recovers_known_coefficients():
    base = load_hardware("host-cpu").with_knobs({"dram_bandwidth_bytes_per_s": 1e11})
    truth = {"dispatch.eager_overhead_s": 7e-6, "cpu.l2_bandwidth_bytes_per_s": 150e9,
             "cpu.l3_bandwidth_bytes_per_s": 60e9, "efficiency.memory": 0.09,
             "efficiency.conv.standard": 0.42, "efficiency.conv.pointwise": 0.61,
             "efficiency.matmul": 0.77}
    ops = _synthetic()
    measured = predict(base, list(ops.values()), truth)
    obs = [Observation(name, "synthetic", float(t), tuple(o))
           for (name, o), t in zip(ops.items(), measured)]
    res = fit(base, obs, PARAMS, loss="linear")
    for k, v in truth.items():
        assert res.values[k] == pytest.approx(v, rel=0.02), k
    assert res.max_abs_error < 1e-3


def test_fit_is_robust_to_one_disturbed_timing():
    base = load_hardware("host-cpu").with_knobs({"dram_bandwidth_bytes_per_s": 1e11})
    truth = {"dispatch.eager_overhead_s": 5e-6, "cpu.l2_bandwidth_bytes_per_s": 100e9,
             "cpu.l3_bandwidth_bytes_per_s": 40e9, "efficiency.memory": 0.1,
             "efficiency.conv.standard": 0.5, "efficiency.conv.pointwise": 0.5,
             "efficiency.matmul": 0.6}
    ops = _synthetic()
    measured = predict(base, list(ops.values()), truth)
    obs = [Observation(name, "synthetic", float(t) * (3.0 if name == "conv3_128_28" else 1.0),
                       tuple(o)) for (name, o), t in zip(ops.items(), measured)]
    res = fit(base, obs, PARAMS)
    assert res.values["efficiency.conv.standard"] == pytest.approx(0.5, rel=0.1)
    assert res.values["efficiency.matmul"] == pytest.approx(0.6, rel=0.05)


def test_written_spec_loads_and_keeps_fitted_numbers(tmp_path):
    base = load_hardware("host-cpu")
    ops = _synthetic()
    obs = [Observation(n, "synthetic", 1e-3, tuple(o)) for n, o in ops.items()]
    from codesign.calibration.host import FitResult

    values = {"dispatch.eager_overhead_s": 4e-6, "efficiency.matmul": 0.5,
              "efficiency.memory": 0.2, "cpu.l2_bandwidth_bytes_per_s": 1e11}
    res = FitResult(values, {o.name: 0.01 for o in obs}, {o.name: 1.01e-3 for o in obs}, 0.0,
                    True, "ok")
    out = tmp_path / "host.yaml"
    spec = _write_spec(base, res, obs, "cpu", 2, True, 1.0, {"l2_bytes": 524288.0}, out)
    again = load_spec_file(out)
    assert again == spec
    assert again.dispatch.eager_overhead_s == 4e-6
    assert again.eff("matmul") == 0.5
    # achieved DRAM bandwidth = 1e11 x 0.2, stored as peak x fraction
    assert again.dram_bandwidth_bytes_per_s * again.eff("memory") == pytest.approx(2e10)
    prov = again.provenance
    for key in ("device_name", "torch_version", "threads", "date", "fit", "benchmarks"):
        assert key in prov
    assert prov["benchmarks"][0]["error"] == pytest.approx(math.expm1(0.01), abs=1e-4)


def test_calibrate_bad_input(tmp_path):
    from codesign.calibration.host import calibrate

    with pytest.raises(CodesignError, match="allowed: cpu, cuda"):
        calibrate(device="tpu", out=None)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(CodesignError, match="no CUDA GPU"):
            calibrate(device="cuda", out=None, base="t4")
    from codesign.hardware import PRESET_DIR

    with pytest.raises(HardwareError, match="never writes into codesign/hardware/presets"):
        calibrate(device="cpu", out=PRESET_DIR / "mine.yaml")


def test_fit_recovers_half_work_of_small_ops():
    """Size-dependent efficiency: the fit separates a class's large-op efficiency from the work
    at which it halves, given small and large ops of that class."""
    from codesign.cost.cpu import prepare_calibration

    params = PARAMS + ["cpu.half_work_macs.conv.standard", "cpu.half_work_macs.matmul"]
    base = prepare_calibration(
        load_hardware("host-cpu").with_knobs({"dram_bandwidth_bytes_per_s": 1e11}), params)
    truth = {"dispatch.eager_overhead_s": 7e-6, "cpu.l2_bandwidth_bytes_per_s": 150e9,
             "cpu.l3_bandwidth_bytes_per_s": 60e9, "efficiency.memory": 0.09,
             "efficiency.conv.standard": 0.6, "efficiency.conv.pointwise": 0.61,
             "efficiency.matmul": 0.8, "cpu.half_work_macs.conv.standard": 3e6,
             "cpu.half_work_macs.matmul": 5e5}
    ops = _synthetic()
    ops.update({f"conv3_{c}_{h}": [_conv(c, h, 3)] for c, h in ((512, 5), (256, 7), (32, 10))})
    ops.update({f"mm_{m}": [_mm(m, m, m)] for m in (16, 48, 96)})
    measured = predict(base, list(ops.values()), truth)
    obs = [Observation(name, "synthetic", float(t), tuple(o))
           for (name, o), t in zip(ops.items(), measured)]
    res = fit(base, obs, params, loss="linear")
    for k, v in truth.items():
        assert res.values[k] == pytest.approx(v, rel=0.03), k


def test_written_spec_keeps_half_work(tmp_path):
    from codesign.calibration.host import FitResult

    base = load_hardware("host-cpu")
    obs = [Observation("c", "synthetic", 1e-3, (_conv(64, 14, 3),))]
    res = FitResult({"cpu.half_work_macs.conv.standard": 2.5e6, "efficiency.conv.standard": 0.7},
                    {"c": 0.0}, {"c": 1e-3}, 0.0, True, "ok")
    spec = _write_spec(base, res, obs, "cpu", 2, True, 1.0, {}, tmp_path / "h.yaml")
    again = load_spec_file(tmp_path / "h.yaml")
    assert again == spec
    assert again.cpu.half_work_macs["conv.standard"] == pytest.approx(2.5e6)


def test_cold_benchmark_rotates_weight_copies():
    import torch

    from codesign.calibration.host import COLD_BYTES, _Fn

    w = torch.randn(512, 512, 3, 3)
    m = _Fn(lambda x, w: torch.nn.functional.conv2d(x, w), w, cold=True)
    copies = len(m.sets)
    assert copies * w.numel() * 4 >= min(COLD_BYTES, 16 * w.numel() * 4)
    x = torch.randn(1, 512, 3, 3)
    with torch.no_grad():
        a, b = m(x), m(x)
    assert not torch.equal(a, b)          # the second call used another weight copy
    assert len(_Fn(lambda x, w: x @ w, torch.randn(4, 4), cold=True).sets) == 1  # small: hot


def _conv1(cin, cout, hw, n=1):
    a = ConvAttrs(cin, cout, (1, 1), (1, 1), (0, 0), (1, 1), 1)
    return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
              (TensorSpec(1, (n, cin, hw, hw)), TensorSpec(2, (cout, cin, 1, 1), is_weight=True)),
              (TensorSpec(3, (n, cout, hw, hw)),), a)


def test_fit_recovers_reorder_weight_pack_and_short_reduction_terms():
    """The oneDNN activation-reorder rate, the weight-packing rate and half_reduction are
    identifiable from convs/GEMMs that stress each: few channels on large maps, large weights
    on tiny maps, large square problems."""
    base = load_hardware("host-cpu").with_knobs({"dram_bandwidth_bytes_per_s": 1e11})
    truth = {"dispatch.eager_overhead_s": 1e-5, "efficiency.conv.pointwise": 0.8,
             "efficiency.matmul": 0.9, "cpu.reorder_bytes_per_s": 12e9,
             "cpu.weight_pack_bytes_per_s": 4e9, "cpu.half_reduction": 24.0}
    ops = {f"pw_{ci}_{co}_{h}_{n}": [_conv1(ci, co, h, n)]
           for ci, co, h, n in ((8, 8, 224, 1), (16, 96, 112, 1), (32, 32, 56, 8),
                                (64, 256, 56, 1), (256, 64, 28, 8), (2048, 512, 5, 1),
                                (1024, 1024, 7, 1), (512, 512, 14, 8), (128, 128, 56, 4))}
    ops.update({f"mm_{m}_{n}_{k}": [_mm(m, n, k)] for m, n, k in
                ((8, 2048, 1024), (1024, 1024, 1024), (64, 64, 64), (256, 512, 16), (49, 512, 2048))})
    measured = predict(base, list(ops.values()), truth)
    obs = [Observation(name, "synthetic", float(t), tuple(o))
           for (name, o), t in zip(ops.items(), measured)]
    res = fit(base, obs, list(truth), loss="linear")
    for k, v in truth.items():
        assert res.values[k] == pytest.approx(v, rel=0.03), k


def test_boost_clock_folds_into_the_clock_without_changing_estimates(tmp_path):
    from codesign.calibration.host import FitResult

    base = load_hardware("host-cpu")
    ops = _synthetic()
    obs = [Observation(n, "synthetic", 1e-3, tuple(o)) for n, o in ops.items()]
    values = {"efficiency.matmul": 1.3, "efficiency.conv.standard": 0.65}
    res = FitResult(values, {o.name: 0.0 for o in obs}, {o.name: 1e-3 for o in obs}, 0.0, True, "ok")
    spec = _write_spec(base, res, obs, "cpu", base.cpu.cores, True, 1.0, {}, tmp_path / "h.yaml")
    assert spec.clock_hz == pytest.approx(base.clock_hz * 1.3)
    assert spec.eff("matmul") == pytest.approx(1.0) and spec.eff("conv.standard") == pytest.approx(0.5)
    assert spec.provenance["clock"]["reported_hz"] == pytest.approx(base.clock_hz)
    unfolded = predict(base, list(ops.values()), values)
    folded = predict(spec, list(ops.values()))
    assert folded == pytest.approx(unfolded, rel=1e-4)


def test_calibration_model_is_owned_by_the_kind_module():
    """The CPU's fit parameters and write-back live in codesign.cost.cpu (registered by kind);
    a kind without a model gets the generic efficiency fit, capped at 1 when written."""
    from codesign.cost import registry
    from codesign.cost.cpu import write_calibration

    reg = registry()
    gpu = reg.calibration("gpu")
    assert "efficiency.matmul" in gpu.parameters(load_hardware("t4"), [])
    d = {"efficiency": {"matmul": 0.5}}
    values = {"efficiency.matmul": 1.7, "dispatch.eager_overhead_s": 5e-6}
    assert gpu.write(d, values, 1) == {}
    assert d["efficiency"]["matmul"] == 1.0 and values == {"dispatch.eager_overhead_s": 5e-6}

    # CPU: achieved DRAM bandwidth 1e11 x 0.3 = 30 GB/s -> peak 30/0.9 GB/s at fraction 0.9;
    # matmul efficiency 1.5 folds into the clock (2 GHz -> 3 GHz), conv 0.6 -> 0.4
    d = {"dram_bandwidth_bytes_per_s": 20e9, "clock_hz": 2e9, "efficiency": {"memory": 0.5},
         "cpu": {"cores": 8}}
    values = {"efficiency.memory": 0.3, "efficiency.matmul": 1.5, "efficiency.conv.standard": 0.6,
              "cpu.half_work_macs.matmul": 12345.6, "dispatch.eager_overhead_s": 5e-6}
    clock = write_calibration(d, values, threads=2)
    assert values == {"dispatch.eager_overhead_s": 5e-6}
    assert math.isclose(d["dram_bandwidth_bytes_per_s"], 30e9 / 0.9)
    assert math.isclose(d["efficiency"]["memory"], 0.9)
    assert d["clock_hz"] == 3e9 and d["efficiency"]["matmul"] == 1.0
    assert d["efficiency"]["conv.standard"] == 0.4
    assert d["cpu"] == {"cores": 2, "half_work_macs": {"matmul": 12350.0}}
    assert clock["reported_hz"] == 2e9 and clock["effective_hz"] == 3e9
