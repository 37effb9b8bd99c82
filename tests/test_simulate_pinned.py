"""Pinned simulation figures: speed-ups of ``simulate`` / ``estimate_costs`` (issue 16: one
traced model on one preset under 50 ms) must not move any number.

Every (workload, preset, dtype, mode, layout, engine) case below is pinned in
``tests/golden/simulate.json``: latency, energy and DRAM bytes, plus per-op digests (the sum and
the index-weighted sum of each numeric row field, the counts of each bound and unit), all at a
relative tolerance of 1e-12. A cost-model change that moves figures on purpose regenerates
them: ``pytest tests/test_simulate_pinned.py --update-golden``.

``estimate_costs`` costs the ops of equal ``cost_key`` once per call: the later tests check that
each op's memoized cost equals its own cost function's, that no cost model reads what the key
leaves out (an op's index, name, module path or tensor ids), and that ``simulate`` gives, bit
for bit, the rows of the plain per-op computation on the current cost models (so a cost-model
change that regenerates the golden file still checks the speed-up).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

import codesign
from codesign.zoo import build_workload

GOLDEN = Path(__file__).parent / "golden" / "simulate.json"
REL_TOL = 1e-12

#: name -> (zoo workload or None for :func:`_bn_net`, input shape, trace keyword arguments)
GRAPHS = {
    "mobilenetv2_lightnl": ("mobilenetv2_lightnl", (2, 3, 64, 64), {}),
    "tiny_yolov2_ccp": ("tiny_yolov2_ccp", (1, 3, 96, 96), {}),
    "sdpa_block": ("sdpa_block", (2, 50, 384), {}),
    "convnext_t_train_amp": ("convnext_t", (2, 3, 64, 64),
                             {"phase": "train", "optimizer": "adamw", "autocast": "fp16"}),
    "bn_net_train": (None, (4, 3, 32, 32), {"phase": "train", "optimizer": "sgd", "foreach": False}),
}

#: (graph, preset, dtype, mode, layout, engine)
CASES = [
    ("tiny_yolov2_ccp", "a100-sxm4-40gb", "fp16", "eager", "nchw", "analytical"),
    ("tiny_yolov2_ccp", "a100-sxm4-40gb", "fp16", "fused", "nhwc", "analytical"),
    ("tiny_yolov2_ccp", "t4", "fp32", "eager", "nchw", "analytical"),
    ("mobilenetv2_lightnl", "hexagon-v68", "int8", "eager", "nchw", "analytical"),
    ("mobilenetv2_lightnl", "host-cpu", "fp32", "eager", "nchw", "analytical"),
    ("mobilenetv2_lightnl", "rtx3090", "fp16", "eager", "nhwc", "analytical"),
    ("mobilenetv2_lightnl", "hexagon-v73", "fp16", "fused", "nchw", "analytical"),
    ("mobilenetv2_lightnl", "host-cpu", "fp32", "fused", "nchw", "event"),
    ("tiny_yolov2_ccp", "condensation-accelerator", "int8", "eager", "ccp", "analytical"),
    ("tiny_yolov2_ccp", "condensation-accelerator", "int8", "fused", "nchw", "event"),
    ("sdpa_block", "h100-sxm", "bf16", "eager", "nchw", "analytical"),
    ("sdpa_block", "jetson-agx-orin", "fp16", "fused", "nchw", "analytical"),
    ("convnext_t_train_amp", "rtx3090", "amp", "eager", "nchw", "analytical"),
    ("convnext_t_train_amp", "rtx4090", "amp", "eager", "nhwc", "analytical"),
    ("convnext_t_train_amp", "a100-sxm4-40gb", "tf32", "eager", "nchw", "analytical"),
    ("bn_net_train", "rtx3090", "amp", "eager", "nchw", "analytical"),
    ("bn_net_train", "v100-sxm2", "fp16", "eager", "nchw", "event"),
    ("bn_net_train", "host-cpu", "fp32", "eager", "nhwc", "analytical"),
]

NUMERIC = ("dram_read_bytes", "dram_write_bytes", "latency_s", "compute_s", "memory_s",
           "overhead_s", "energy_j", "energy_compute_j", "energy_sram_j", "energy_dram_j",
           "energy_static_j")


def case_id(case) -> str:
    return "/".join(case)


def figures(result) -> dict:
    """The pinned figures of one simulation."""
    out = {"latency_s": result.latency_s, "energy_j": result.energy_j,
           "dram_bytes": result.dram_bytes, "rows": float(len(result.rows))}
    for f in NUMERIC:
        out[f"sum.{f}"] = math.fsum(getattr(r, f) for r in result.rows)
        out[f"wsum.{f}"] = math.fsum((r.index + 1) * getattr(r, f) for r in result.rows)
    for r in result.rows:
        for key in (f"bound.{r.bound}", f"unit.{r.unit}"):
            out[key] = out.get(key, 0.0) + 1.0
    if result.engine == "event":
        out["sum.start_s"] = math.fsum(r.start_s for r in result.rows)
    return out


def _bn_net():
    """A MobileNet-style block with its training-mode batch norms, depthwise conv and head
    (quick to trace in training; the zoo nets take seconds)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
        nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


@pytest.fixture(scope="module")
def graphs():
    return {name: codesign.trace(build_workload(w) if w else _bn_net(), shape, **kw)
            for name, (w, shape, kw) in GRAPHS.items()}


@pytest.fixture(scope="module")
def measured(graphs, update_golden):
    out = {}
    for case in CASES:
        g, preset, dtype, mode, layout, engine = case
        r = codesign.simulate(graphs[g], preset, dtype=dtype, mode=mode, layout=layout, engine=engine)
        out[case_id(case)] = figures(r)
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps({"cases": out}, indent=1, sort_keys=True) + "\n")
    return out


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_simulated_figures_match_golden(case, measured):
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with: pytest {__file__} --update-golden")
    golden = json.loads(GOLDEN.read_text())["cases"]
    key = case_id(case)
    assert key in golden, f"{key} has no golden figures; run with --update-golden"
    got, want = measured[key], golden[key]
    assert set(got) == set(want), (
        f"{key}: figure keys changed (new {sorted(set(got) - set(want))}, gone "
        f"{sorted(set(want) - set(got))}); run with --update-golden if intended")
    moved = [f"{k}: {got[k]!r} (golden {v!r})" for k, v in sorted(want.items())
             if not math.isclose(got[k], v, rel_tol=REL_TOL, abs_tol=1e-300)]
    assert not moved, f"{key}: figures moved: " + "; ".join(moved)


def test_digest_sees_a_moved_op():
    """The digests catch one op's latency moving between rows (a sum alone would not)."""
    from dataclasses import replace

    from codesign.results.records import OpRow, SimResult

    def row(i, lat):
        return OpRow(index=i, name=f"op{i}", module="", kind="elementwise", variant="",
                     pattern="", phase="forward", unit="cuda_core", fused_into="", supported=True,
                     macs=0.0, flops=1.0, read_bytes=4.0, write_bytes=4.0, dram_read_bytes=4.0,
                     dram_write_bytes=4.0, latency_s=lat, compute_s=0.0, memory_s=lat,
                     overhead_s=0.0, bound="memory", energy_j=0.0, energy_compute_j=0.0,
                     energy_sram_j=0.0, energy_dram_j=0.0, energy_static_j=0.0)

    a = SimResult(workload="w", hardware="h", hardware_kind="gpu", dtype="fp32", mode="eager",
                  layout="nchw", engine="analytical", batch=1, rows=(row(0, 1.0), row(1, 2.0)))
    b = replace(a, rows=(row(0, 2.0), row(1, 1.0)))
    fa, fb = figures(a), figures(b)
    assert fa["sum.latency_s"] == fb["sum.latency_s"] == 3.0
    assert fa["wsum.latency_s"] == 5.0 and fb["wsum.latency_s"] == 4.0
    assert Counter(k for k in fa if k.startswith("bound.")) == Counter({"bound.memory": 1})


# --------------------------------------------------------------------------- the per-call memo

COST_FIELDS = ("compute_s", "memory_s", "overhead_s", "dram_read_bytes", "dram_write_bytes",
               "onchip_bytes", "l2_bytes", "macs", "vector_ops", "unit", "note")


@pytest.mark.parametrize("graph_name,preset,dtype,mode,knobs", [
    ("convnext_t_train_amp", "rtx3090", "amp", "eager", {}),
    ("convnext_t_train_amp", "rtx3090", "amp", "eager",
     {"sm_count": [40, 82, 128], "efficiency.matmul": [0.5, 0.7, 0.9]}),
    ("mobilenetv2_lightnl", "a100-sxm4-40gb", "fp16", "fused", {}),
    ("bn_net_train", "host-cpu", "fp32", "eager", {}),
    ("tiny_yolov2_ccp", "condensation-accelerator", "int8", "fused", {}),
])
def test_memoized_costs_equal_each_op_costed_alone(graphs, graph_name, preset, dtype, mode, knobs):
    """``estimate_costs`` costs ops of equal ``cost_key`` once: every op's cost (and energy)
    must equal its own cost function's result, op by op (scalar specs and a sweep)."""
    import numpy as np

    from codesign.cost.base import conform, cost_key
    from codesign.cost.energy import op_energy
    from codesign.cost.registry import REGISTRY
    from codesign.simulation import estimate_costs, make_context

    hw = codesign.load_hardware(preset)
    if knobs:
        hw = hw.with_knobs(knobs)
    g = graphs[graph_name]
    ctx = make_context(hw, dtype, mode, "nchw")
    est = estimate_costs(g, hw, ctx, launch_queue=False)   # no graph pass on these kinds then
    assert not [n for n, _ in REGISTRY.graph_passes(hw.kind) if n != "launch_queue"]
    keys = [cost_key(op) for op in g.ops]
    assert len(set(keys)) < len(keys), "the graph repeats no work: the memo is not exercised"
    checked = 0
    for op, cost, energy in zip(g.ops, est.costs, est.energies):
        if est.plan.leader[op.index] != op.index or cost is None:
            continue
        target = est.plan.merged.get(op.index, op)
        alone = conform(REGISTRY.lookup(op.kind, hw.kind)(target, hw, est.ctx), hw.batch_shape)
        for f in COST_FIELDS:
            np.testing.assert_array_equal(getattr(cost, f), getattr(alone, f), err_msg=f"{op.name}.{f}")
        np.testing.assert_array_equal(energy.total_j, op_energy(alone, hw, est.ctx.dtype).total_j)
        checked += 1
    assert checked > 10


def test_cost_models_do_not_read_op_identity():
    """The memo's contract (codesign/cost/base.py): a cost function sees what an op computes,
    never where it sits: no ``op.index``, ``op.name``, ``op.module`` or tensor ``tid``."""
    import re

    import codesign.cost as cost_pkg

    root = Path(cost_pkg.__file__).parent
    pattern = re.compile(r"(?<!`)\bop\.(index|name|module)\b|\.tid\b(?!`)")   # not ``quoted``
    found = [f"{path.name}:{i}: {line.strip()}" for path in sorted(root.glob("*.py"))
             for i, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line) and not line.lstrip().startswith("#")]
    assert not found, "cost models read op identity: " + "; ".join(found)


def test_op_row_builds_what_the_dataclass_builds():
    """``op_row`` (simulate's row builder) sets the slots the generated ``__init__`` sets."""
    from dataclasses import FrozenInstanceError, fields

    from codesign.results.records import OP_COLUMNS, OpRow, op_row

    assert tuple(f.name for f in fields(OpRow))[:len(OP_COLUMNS)] == OP_COLUMNS
    assert not hasattr(OpRow, "__post_init__")
    values = (3, "a.b/conv", "a.b", "conv", "standard", "", "forward", "tensor_core", "", True,
              1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, "compute", 11.0, 12.0, 13.0,
              14.0, 15.0)
    row = op_row(*values)
    want = OpRow(*values)
    assert type(row) is OpRow and repr(row) == repr(want)
    assert [getattr(row, f.name) for f in fields(OpRow)][:-2] == [getattr(want, f.name) for f in fields(OpRow)][:-2]
    with pytest.raises(FrozenInstanceError):
        row.latency_s = 0.0
    with pytest.raises(TypeError):
        op_row(*values[:-1])


def test_launch_queue_float_path_equals_numpy_path():
    """The launch queue's float fast path does the numpy path's IEEE operations: the same
    overheads bit for bit (ties, zero and fully exposed dispatch included)."""
    import numpy as np

    from codesign.cost.base import OpCost, apply_launch_queue

    rng = np.random.default_rng(16)
    busy = rng.choice([0.0, 1e-6, 5e-6, 2e-5, 1e-4], size=(400, 2)) * rng.uniform(0.5, 1.5, (400, 2))
    busy[::7] = 0.0                                     # fully exposed dispatch
    over = rng.choice([5e-6, 1e-5, 5e-5], size=400)

    def costs(num):
        return [OpCost(num(c), num(m), num(o), 0.0, 0.0) for (c, m), o in zip(busy, over)]

    fast = apply_launch_queue(costs(float))
    slow = apply_launch_queue(costs(np.float64))
    assert all(type(c.overhead_s) is float for c in fast)
    assert not any(type(c.overhead_s) is float for c in slow)
    assert [repr(float(c.overhead_s)) for c in fast] == [repr(float(c.overhead_s)) for c in slow]
    assert [repr(c.latency_s) for c in fast] == [repr(float(c.latency_s)) for c in slow]
    assert {c.bound for c in fast} == {"compute", "memory", "overhead"}
    assert [c.bound for c in fast] == [c.bound for c in slow]


def _plain_rows(graph, hw, dtype, mode, layout):
    """``simulate``'s rows computed the plain way (the code before the issue-16 speed-up): every
    op costed on its own, numpy for every scalar, ``dataclasses.replace`` in the launch queue,
    keyword-built rows."""
    from dataclasses import replace

    import numpy as np

    from codesign.cost.base import ZERO
    from codesign.cost.energy import Energy, op_energy
    from codesign.ir.fusion import plan_fusion
    from codesign.results.records import OpRow
    from codesign.simulation import conform, make_context, registry
    from codesign.types import DType

    def launch_queue(costs):
        host = end = 0.0
        out = []
        for c in costs:
            if c is None or c is ZERO:
                out.append(c)
                continue
            host = host + c.overhead_s
            exposed = np.maximum(host - end, 0.0)
            end = end + exposed + np.maximum(c.compute_s, c.memory_s)
            out.append(replace(c, overhead_s=exposed))
        return out

    def f(x):
        return float(np.asarray(x, dtype=float))

    ctx = make_context(hw, dtype, mode, layout)
    if ctx.dtype == "amp" and not graph.autocast:
        ctx = replace(ctx, dtype=DType.FP16)
    reg = registry()
    plan = plan_fusion(graph, ctx.mode, ctx.layout == "ccp" or (ctx.mode == "fused" and "ccp" in hw.layouts))
    costs, energies = [], []
    for op in graph.ops:
        fn = reg.lookup(op.kind, hw.kind) if op.supported else None
        if plan.leader[op.index] != op.index:
            costs.append(ZERO)
            energies.append(Energy(0.0, 0.0, 0.0, 0.0))
        elif fn is None:
            costs.append(None)
            energies.append(None)
        else:
            c = conform(fn(plan.merged.get(op.index, op), hw, ctx), hw.batch_shape)
            costs.append(c)
            energies.append(op_energy(c, hw, ctx.dtype))
    merged = [plan.merged.get(op.index, op) for op in graph.ops]
    for name, graph_pass in reg.graph_passes(hw.kind):
        costs = launch_queue(costs) if name == "launch_queue" else graph_pass(costs, hw, ctx, merged, graph)
    rows = []
    for op, c, en in zip(graph.ops, costs, energies):
        lead = plan.leader[op.index]
        fused_into = graph.ops[lead].name if lead != op.index else ""
        if c is None:
            bound, unit, c, en = "unsupported", "none", ZERO, Energy(0.0, 0.0, 0.0, 0.0)
        elif fused_into:
            bound, unit = "fused", "fused"
        else:
            busy = np.maximum(c.compute_s, c.memory_s)
            kind = np.where(c.compute_s >= c.memory_s, "compute", "memory")
            bound, unit = str(np.where(np.asarray(c.overhead_s) > busy, "overhead", kind)), c.unit
        rows.append(OpRow(
            index=op.index, name=op.name, module=op.module, kind=op.kind.value, variant=op.variant,
            pattern=op.pattern, phase=op.phase.value, unit=unit, fused_into=fused_into,
            supported=op.supported and bound != "unsupported", macs=float(op.macs),
            flops=float(op.flops), read_bytes=float(op.read_bytes), write_bytes=float(op.write_bytes),
            dram_read_bytes=f(c.dram_read_bytes), dram_write_bytes=f(c.dram_write_bytes),
            latency_s=f(np.maximum(c.compute_s, c.memory_s) + c.overhead_s),
            compute_s=f(c.compute_s), memory_s=f(c.memory_s), overhead_s=f(c.overhead_s),
            bound=bound, energy_j=f(en.total_j), energy_compute_j=f(en.compute_j),
            energy_sram_j=f(en.sram_j), energy_dram_j=f(en.dram_j), energy_static_j=f(en.static_j)))
    return tuple(rows)


PLAIN_CASES = [  # one per hardware kind and path: amp training + launch queue, fused, graph launch
    ("convnext_t_train_amp", "rtx3090", "amp", "eager", "nchw", "analytical"),
    ("tiny_yolov2_ccp", "a100-sxm4-40gb", "fp16", "fused", "nhwc", "analytical"),
    ("mobilenetv2_lightnl", "hexagon-v73", "fp16", "fused", "nchw", "analytical"),
    ("bn_net_train", "host-cpu", "fp32", "eager", "nhwc", "analytical"),
    ("tiny_yolov2_ccp", "condensation-accelerator", "int8", "eager", "ccp", "analytical"),
]


@pytest.mark.parametrize("case", PLAIN_CASES, ids=case_id)
def test_simulate_equals_the_plain_computation(case, graphs):
    """Bit for bit (repr of every row field) what the plain per-op computation gives, on the
    current cost models: the golden file pins figures, this pins the speed-up's equivalence."""
    g, preset, dtype, mode, layout, _ = case
    hw = codesign.load_hardware(preset)
    got = codesign.simulate(graphs[g], hw, dtype=dtype, mode=mode, layout=layout).rows
    assert repr(got) == repr(_plain_rows(graphs[g], hw, dtype, mode, layout))
