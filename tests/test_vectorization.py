"""The vectorization contract: a spec with knob arrays costs every configuration at once, and
each configuration's cost equals the cost of the spec with that configuration's scalar knobs."""

from __future__ import annotations

import math

import numpy as np
import torch.nn as nn

import codesign
from codesign.errors import CodesignError
from codesign.simulation import estimate_costs, make_context


def _small_convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=1, groups=128), nn.Conv2d(128, 256, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def test_regression_efficiency_knob_sweeps_every_point():
    """Bug 2 of the architecture issue: a sweep over ``efficiency.conv.standard`` returned the
    first configuration's cost for every point (the GPU GEMM path decided 'vectorized' from six
    hard-coded fields). Each point must equal the pointwise cost, and the two must differ."""
    graph = codesign.trace(_small_convnet(), (32, 64, 56, 56))
    hw = codesign.load_hardware("a100-sxm4-40gb")
    ctx = make_context(hw, "fp16", "fused", "nchw")
    values = [0.2, 0.9]
    swept = estimate_costs(graph, hw.with_knobs({"efficiency.conv.standard": values}), ctx)
    vec = np.asarray(swept.latency_s)
    assert vec.shape == (2,)
    for i, v in enumerate(values):
        point = estimate_costs(graph, hw.with_knobs({"efficiency.conv.standard": v}), ctx)
        assert math.isclose(vec[i], float(point.latency_s), rel_tol=1e-12)
    assert vec[0] > 1.2 * vec[1]          # the slower efficiency is visibly slower


def test_batch_shape_computed_once_by_with_knobs():
    hw = codesign.load_hardware("a100-sxm4-40gb")
    assert hw.batch_shape == ()
    assert hw.with_knobs({"sm_count": [10, 20, 30]}).batch_shape == (3,)
    assert hw.with_knobs({"sm_count": 40}).batch_shape == ()


# --------------------------------------------------------------------------- registry-wide

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from codesign.cost.base import CostContext, conform  # noqa: E402
from codesign.cost.registry import REGISTRY  # noqa: E402
from codesign.ir.fusion import plan_fusion  # noqa: E402

_POOL: list = []


def _op_pool() -> list:
    """Ops drawn from the zoo: every op of a few small traced workloads (inference, a training
    step with its optimizer) plus the merged ops fusion builds from them (fused, ccp)."""
    if _POOL:
        return _POOL
    from codesign.capture.references import trace_workload

    graphs = [
        trace_workload("nl_block", input_shape=(2, 1024, 7, 7))[1],
        trace_workload("mobilenetv2_lightnl", input_shape=(1, 3, 64, 64))[1],
        trace_workload("convnext_t", input_shape=(1, 3, 64, 64))[1],
        trace_workload("tiny_yolov2_ccp", input_shape=(1, 3, 64, 64))[1],
        codesign.trace(_small_convnet(), (2, 64, 8, 8), phase="train", optimizer="adamw"),
    ]
    for g in graphs:
        _POOL.extend(op for op in g.ops if op.supported)
        for ccp in (False, True):
            _POOL.extend(plan_fusion(g, "fused", ccp).merged.values())
    return _POOL


def _three_values(hw, knob: str) -> list | None:
    """Three legal values around the preset's own (None when fewer than two are legal)."""
    v = hw.knob_value(knob)
    if isinstance(v, bool):
        cands = [True, False, True]
    elif isinstance(v, int):
        cands = [v, max(1, v // 2), v * 2, 512, 1024, 1, 2]
    else:   # an optional knob the preset leaves unset (None) is tried at set values
        v = float(v) if v is not None else 0.0
        cands = [v, 0.5 * v, 1.5 * v, 0.8 * v, 1e-6, 2e-6, 0.0] if v else [0.0, 1e-6, 2e-6, 0.5]
    legal = []
    for c in cands:
        try:
            hw.with_knobs({knob: c})
        except CodesignError:
            continue
        if c not in legal:
            legal.append(c)
    return (legal * 3)[:3] if len(legal) >= 2 else None


_FIELDS = ("compute_s", "memory_s", "overhead_s", "dram_read_bytes", "dram_write_bytes",
           "onchip_bytes", "l2_bytes")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_vectorized_cost_equals_pointwise_for_every_knob(data):
    """For every registered (op kind, hardware kind), every preset and every numeric knob it
    has: the cost under a 3-value knob array equals the three pointwise costs."""
    name = data.draw(st.sampled_from(codesign.list_hardware()), label="preset")
    hw = codesign.load_hardware(name)
    knob = data.draw(st.sampled_from(hw.knob_names()), label="knob")
    values = _three_values(hw, knob)
    if values is None:
        return
    ops = [op for op in _op_pool() if REGISTRY.lookup(op.kind, hw.kind) is not None]
    op = data.draw(st.sampled_from(ops), label="op")
    ctx = CostContext(dtype=data.draw(st.sampled_from(hw.dtypes)),
                      mode=data.draw(st.sampled_from(("eager", "fused"))),
                      layout=data.draw(st.sampled_from(hw.layouts)))
    fn = REGISTRY.lookup(op.kind, hw.kind)
    swept = hw.with_knobs({knob: values})
    vec = conform(fn(op, swept, ctx), swept.batch_shape)
    for i, v in enumerate(values):
        point = fn(op, hw.with_knobs({knob: v}), ctx)
        for f in _FIELDS:
            got, want = np.asarray(getattr(vec, f)), float(getattr(point, f))
            assert got.shape == (3,), (f, got.shape)
            assert math.isclose(got[i], want, rel_tol=1e-9, abs_tol=1e-18), \
                (name, knob, values, op.kind, op.aten, ctx, f, got, want)


def test_every_hardware_kind_has_its_cost_module_registered():
    """Each kind's module registers itself (a renamed module once went silently missing)."""
    from codesign.cost import registry

    kinds = {hw_kind for (_, hw_kind) in registry().covers()}
    assert kinds == {"gpu", "dsp", "cpu", "accelerator"}
