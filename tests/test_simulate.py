"""simulate(): invariants over every preset kind on real traced graphs."""

import numpy as np
import pytest

import codesign
from codesign.errors import CodesignError
from codesign.zoo import build_workload

KINDS = [("a100-sxm4-40gb", "fp16"), ("t4", "fp32"), ("hexagon-v68", "int8"),
         ("host-cpu", "fp32"), ("condensation-accelerator", "int8")]


@pytest.fixture(scope="module")
def graphs():
    return {
        "resnet50_nl": codesign.trace(build_workload("resnet50_nl"), (1, 3, 96, 96)),
        "mobilenetv2_lightnl": codesign.trace(build_workload("mobilenetv2_lightnl"), (1, 3, 96, 96)),
        "tiny_yolov2_ccp": codesign.trace(build_workload("tiny_yolov2_ccp"), (1, 3, 128, 128)),
    }


@pytest.mark.parametrize("preset,dtype", KINDS)
def test_totals_and_energy_components(graphs, preset, dtype):
    hw = codesign.load_hardware(preset)
    for g in graphs.values():
        r = codesign.simulate(g, hw, dtype=dtype)
        f = r.to_frame()
        assert len(f) == len(g.ops)
        assert r.latency_s == pytest.approx(f["latency_s"].sum(), rel=1e-12)
        parts = f[["energy_compute_j", "energy_sram_j", "energy_dram_j", "energy_static_j"]].sum(axis=1)
        np.testing.assert_allclose(parts, f["energy_j"], rtol=1e-9)
        assert r.energy_j == pytest.approx(sum(r.energy_breakdown().values()), rel=1e-9)
        assert (f["latency_s"] >= 0).all() and r.latency_s > 0
        lat = np.maximum(f["compute_s"], f["memory_s"]) + f["overhead_s"]
        np.testing.assert_allclose(lat, f["latency_s"], rtol=1e-9)
        assert set(f["bound"]) <= {"compute", "memory", "overhead", "fused", "unsupported"}
        assert r.unsupported == ()


@pytest.mark.parametrize("preset,dtype", KINDS)
def test_fused_never_moves_more_dram_than_eager(graphs, preset, dtype):
    hw = codesign.load_hardware(preset)
    for g in graphs.values():
        eager = codesign.simulate(g, hw, dtype=dtype, mode="eager")
        fused = codesign.simulate(g, hw, dtype=dtype, mode="fused")
        assert fused.dram_bytes <= eager.dram_bytes * (1 + 1e-12)
        assert fused.fused_ops > 0
        f = fused.to_frame()
        assert (f.loc[f["fused_into"] != "", "latency_s"] == 0).all()


def test_cross_channel_pooling_before_store_saves_dram(graphs):
    hw = codesign.load_hardware("condensation-accelerator")
    g = graphs["tiny_yolov2_ccp"]
    stored = codesign.simulate(g, hw, dtype="int8", layout="nchw")
    fused = codesign.simulate(g, hw, dtype="int8", layout="ccp")
    assert fused.dram_bytes < stored.dram_bytes
    f = fused.to_frame()
    assert (f.loc[f["kind"] == "cross_channel_pool", "fused_into"] != "").all()
    with pytest.raises(CodesignError, match="ccp"):
        codesign.simulate(g, codesign.load_hardware("a100-sxm4-40gb"), layout="ccp")


def test_bad_settings_are_codesign_errors(graphs):
    g = graphs["resnet50_nl"]
    hw = codesign.load_hardware("a100-sxm4-40gb")
    for kw in ({"dtype": "fp8"}, {"mode": "jit"}, {"engine": "magic"}, {"layout": "nc"}):
        with pytest.raises(CodesignError):
            codesign.simulate(g, hw, **kw)
    with pytest.raises(CodesignError, match="tf32"):
        codesign.simulate(g, codesign.load_hardware("hexagon-v68"), dtype="tf32")


def test_dtype_changes_bytes(graphs):
    g = graphs["resnet50_nl"]
    hw = codesign.load_hardware("a100-sxm4-40gb")
    # fused: no per-call autocast weight casts (eager fp16 on a GPU reads fp32 weights)
    r32 = codesign.simulate(g, hw, dtype="fp32", mode="fused")
    r16 = codesign.simulate(g, hw, dtype="fp16", mode="fused")
    assert r16.dram_bytes < r32.dram_bytes
