"""Tests of the event engine (``engine="event"``): closed-form oracles (one stream equals the
analytical sum on the zoo, tile pipelines), invariants (dependencies, DRAM sharing, VTCM
capacity), concurrency of non-local / ASPP branches with two streams, Chrome trace export and
policy errors."""

from __future__ import annotations

import functools
import json
import math
import warnings
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import codesign
from codesign.cost.base import CostContext, OpCost, Tile
from codesign.errors import CodesignError
from codesign.ir.fusion import FusionPlan
from codesign.ir.graph import Op, OpGraph, OpKind, TensorSpec
from codesign.schedule import EventPolicy, EventSimulation, Timeline, parse_policy
from codesign.simulation import Estimate, estimate_costs, make_context, simulate
from codesign.hardware import load_hardware
from codesign.zoo import WORKLOADS, build_workload

PRESETS = ("a100-sxm4-40gb", "hexagon-v68", "host-cpu", "condensation-accelerator")
#: small inputs for the equality test: it is about equality, not about the numbers
SMALL_INPUT = {
    (1, 3, 224, 224): (1, 3, 64, 64), (1, 1024, 14, 14): (1, 1024, 7, 7),
    (1, 1024, 4, 14, 14): (1, 1024, 2, 7, 7), (1, 3, 8, 112, 112): (1, 3, 4, 32, 32),
    (1, 3, 416, 416): (1, 3, 64, 64), (1, 128, 26, 26): (1, 128, 8, 8),
    (1, 1, 224, 224): (1, 1, 32, 32), (1, 197, 384): (1, 17, 384),
}
REL = 1e-9


@functools.lru_cache(maxsize=None)
def hardware(name: str):
    return load_hardware(name)


@functools.lru_cache(maxsize=None)
def zoo_graph(name: str, small: bool = True) -> OpGraph:
    entry = WORKLOADS[name]
    shape = entry.default_input
    if small:
        shape = SMALL_INPUT.get(shape, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return codesign.trace(build_workload(name), shape)


def run_dtype(hw) -> str:
    for dt in ("int8", "fp32") if hw.kind in ("dsp", "accelerator") else ("fp32", "fp16", "int8"):
        if dt in hw.dtypes:
            return dt
    return hw.dtypes[0]


def sim(graph, hw_name, mode="eager", engine="event", policy=None):
    hw = hardware(hw_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(graph, hw, dtype=run_dtype(hw), mode=mode, engine=engine, policy=policy)


def assert_dependencies_respected(graph: OpGraph, tl: Timeline) -> None:
    tol = 1e-12 * max(tl.makespan_s, 1e-30)
    for p, c in graph.edges:
        a, b = tl.spans[p], tl.spans[c]
        if a.how == "fused" or b.how == "fused":
            continue  # members share their leader's times
        assert b.start_s >= a.end_s - tol, (
            f"op {c} {b.name} starts at {b.start_s} before its input from op {p} {a.name} "
            f"ends at {a.end_s}")


# --------------------------------------------------------------------------- synthetic graphs


def t(tid: int, n: int = 1024) -> TensorSpec:
    return TensorSpec(tid, (n,), "float32")


def make_op(i: int, ins: tuple[int, ...], out: int, kind=OpKind.ELEMENTWISE, n: int = 1024) -> Op:
    return Op(index=i, name=f"op{i}", aten="synthetic", kind=kind, module=f"m{i}",
              inputs=tuple(t(x, n) for x in ins), outputs=(t(out, n),))


def make_est(ops: list[Op], costs: list) -> Estimate:
    g = OpGraph(tuple(ops))
    n = len(ops)
    return Estimate(g, FusionPlan(tuple(range(n)), {}), tuple(costs), (None,) * n, CostContext())


def kernel_cost(compute_s=0.0, memory_s=0.0, overhead_s=0.0, dram_bytes=0.0, unit="cuda_core"):
    return OpCost(compute_s, memory_s, overhead_s, dram_bytes / 2, dram_bytes / 2, unit=unit)


def tiled_cost(n: int, t_in: float, t_out: float, c: float, rate: float, onchip: float = 4096.0,
               overhead_s: float = 0.0, unit: str = "hvx", closed_form: bool = True) -> OpCost:
    """A uniform tiled op moving its bytes at ``rate``. ``closed_form``: the columns of
    codesign.cost.hexagon (C = n c, M = n (in + out), the exposed min(C, M) / n added to the larger
    one); else the bare totals C and M (what ``per_tile`` tests need: the engine derives the
    per-tile DMA rate as dram_bytes / memory_s)."""
    compute, memory = n * c, n * (t_in + t_out)
    exposed = min(compute, memory) / n if closed_form else 0.0
    return OpCost(compute + (exposed if compute >= memory else 0.0),
                  memory + (0.0 if compute >= memory else exposed), overhead_s,
                  n * t_in * rate, n * t_out * rate, unit=unit,
                  tiles=Tile(n, t_in * rate, t_out * rate, c, onchip))


def dsp_spec(**dsp_knobs):
    hw = hardware("hexagon-v68")
    return replace(hw, dsp=replace(hw.dsp, **dsp_knobs)) if dsp_knobs else hw


# --------------------------------------------------------------------------- policy


def test_policy_parses_none_mapping_and_instances():
    assert parse_policy(None) == EventPolicy()
    p = parse_policy({"streams": 2, "double_buffering": False, "issue_order": "critical_path"})
    assert (p.streams, p.double_buffering, p.issue_order) == (2, False, "critical_path")
    assert parse_policy(p) is p


@pytest.mark.parametrize("policy, words", [
    ({"streams": 0}, ("policy.streams", "0", "positive integer")),
    ({"threads": -2}, ("policy.threads", "-2", "positive integer")),
    ({"streams": 1.5}, ("policy.streams", "1.5", "positive integer")),
    ({"streams": True}, ("policy.streams", "True", "positive integer")),
    ({"tile_policy": "tiles"}, ("policy.tile_policy", "'tiles'", "auto, per_op, per_tile")),
    ({"issue_order": "critical-path"}, ("policy.issue_order", "program, critical_path",
                                        "did you mean 'critical_path'")),
    ({"double_buffering": "yes"}, ("policy.double_buffering", "'yes'", "true or false")),
    ({"stream": 2}, ("unknown key 'stream'", "did you mean 'streams'", "allowed: streams")),
    ("streams=2", ("policy must be",)),
])
def test_bad_policy_values_raise_one_line(policy, words):
    with pytest.raises(CodesignError) as err:
        parse_policy(policy)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_bad_policy_through_simulate_and_analytical_rejects_policy():
    g = zoo_graph("espcn")
    with pytest.raises(CodesignError, match="policy.streams = 0"):
        sim(g, "a100-sxm4-40gb", policy={"streams": 0})
    with pytest.raises(CodesignError, match="engine='event' only"):
        sim(g, "a100-sxm4-40gb", engine="analytical", policy={"streams": 2})


def test_swept_hardware_is_rejected_with_one_line():
    hw = hardware("a100-sxm4-40gb").with_knobs({"sm_count": [54, 108]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = estimate_costs(zoo_graph("espcn"), hw, make_context(hw, "fp32", "eager", "nchw"))
    with pytest.raises(CodesignError, match="one hardware configuration"):
        EventSimulation(est, hw)


# --------------------------------------------------------------------------- equality with the sum


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_one_stream_equals_analytical_sum_on_zoo(name):
    g = zoo_graph(name)
    for hw_name in PRESETS:
        for mode in ("eager", "fused"):
            a = sim(g, hw_name, mode=mode, engine="analytical")
            e = sim(g, hw_name, mode=mode)
            assert e.engine == "event" and e.makespan_s is not None
            assert abs(e.latency_s - a.latency_s) <= REL * a.latency_s, (
                f"{name} on {hw_name} ({mode}): event {e.latency_s!r} vs sum {a.latency_s!r}")
            assert all(r.engine and not math.isnan(r.start_s) for r in e.rows)
            if mode == "eager":
                assert_dependencies_respected(g, e.timeline)


def test_event_rows_and_frame_carry_engine_start_end():
    g = zoo_graph("nl_block")
    r = sim(g, "a100-sxm4-40gb", policy={"streams": 2})
    frame = r.to_frame()
    for col in ("engine", "start_s", "end_s"):
        assert col in frame.columns
    assert set(frame["engine"]) <= {"stream0", "stream1", "none"}
    assert (frame["end_s"] >= frame["start_s"]).all()
    assert math.isclose(frame["end_s"].max(), r.makespan_s)


def test_fused_members_follow_their_leader():
    g = zoo_graph("resnet50")
    r = sim(g, "a100-sxm4-40gb", mode="fused", policy={"streams": 2})
    by_name = {row.name: row for row in r.rows}
    members = [row for row in r.rows if row.fused_into]
    assert members
    for m in members:
        lead = by_name[m.fused_into]
        assert (m.start_s, m.end_s, m.engine) == (lead.start_s, lead.end_s, lead.engine)


def test_unsupported_ops_take_no_time_but_keep_dependencies():
    ops = [make_op(0, (100,), 1), make_op(1, (1,), 2), make_op(2, (2,), 3)]
    costs = [kernel_cost(compute_s=1e-3), None, kernel_cost(compute_s=2e-3)]
    tl = EventSimulation(make_est(ops, costs), hardware("a100-sxm4-40gb")).run()
    assert tl.spans[1].start_s == tl.spans[1].end_s == tl.spans[0].end_s == 1e-3
    assert tl.spans[1].engine == "none" and tl.spans[1].how == "zero"
    assert tl.spans[2].start_s == 1e-3 and math.isclose(tl.makespan_s, 3e-3)


# --------------------------------------------------------------------------- dependencies


@pytest.mark.parametrize("hw_name, policy", [
    ("a100-sxm4-40gb", {"streams": 4}),
    ("a100-sxm4-40gb", {"streams": 3, "issue_order": "critical_path"}),
    ("hexagon-v68", {"threads": 4, "tile_policy": "per_tile"}),
    ("condensation-accelerator", {"threads": 2, "tile_policy": "per_tile",
                                  "double_buffering": False}),
    ("host-cpu", {"threads": 2}),
])
def test_no_op_starts_before_its_inputs_end(hw_name, policy):
    g = zoo_graph("inceptionnext_t")
    r = sim(g, hw_name, policy=policy)
    assert_dependencies_respected(g, r.timeline)
    assert len({s.engine for s in r.timeline.spans if s.how != "zero"}) > 1


# --------------------------------------------------------------------------- tile pipelines


def pipeline_run(cost: OpCost, hw=None, **policy) -> Timeline:
    est = make_est([make_op(0, (100,), 1)], [cost])
    return EventSimulation(est, hw or dsp_spec(), policy).run()


@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_double_buffered_compute_bound_pipeline_matches_closed_form(n):
    t_in, t_out, c, rate = 3e-6, 1e-6, 5e-6, 2e9
    tl = pipeline_run(tiled_cost(n, t_in, t_out, c, rate, closed_form=False),
                      tile_policy="per_tile", record_tiles=True)
    closed = t_in + n * max(c, t_in + t_out) + t_out  # first DMA + n x max + last write-back
    assert abs(tl.makespan_s - closed) <= REL * closed
    assert tl.spans[0].how == "tiles"
    stages = [s for s in tl.tiles if s.op == 0]
    assert len(stages) == 3 * n
    # DMA of tile i+1 overlaps compute of tile i
    if n > 1:
        comp0 = next(s for s in stages if s.stage == "compute" and s.tile == 0)
        in1 = next(s for s in stages if s.stage == "dma_in" and s.tile == 1)
        assert in1.start_s < comp0.end_s and in1.end_s > comp0.start_s


@pytest.mark.parametrize("c", [5e-6, 1e-6, 0.2e-6])
def test_pipeline_without_double_buffering_is_the_serial_sum(c):
    n, t_in, t_out, rate = 6, 3e-6, 1e-6, 2e9
    tl = pipeline_run(tiled_cost(n, t_in, t_out, c, rate, closed_form=False),
                      tile_policy="per_tile", double_buffering=False)
    serial = n * (t_in + c + t_out)
    assert abs(tl.makespan_s - serial) <= REL * serial


@pytest.mark.parametrize("dma_engines", [1, 2])
def test_dma_bound_pipeline_is_bounded_by_dma_work_and_closed_form(dma_engines):
    hw = dsp_spec(dma_engines=dma_engines)
    rate = min(hw.dsp.dma_bandwidth_bytes_per_s, hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))
    n, t_in, t_out, c = 10, 3e-6, 2e-6, 1e-6
    tl = pipeline_run(tiled_cost(n, t_in, t_out, c, rate, closed_form=False), hw=hw,
                      tile_policy="per_tile")
    dma_work = n * (t_in + t_out)  # DMA and DRAM are shared: in and out cannot go faster
    cost_closed = t_in + c + t_out + (n - 1) * max(c, t_in + t_out)  # codesign.cost.hexagon
    assert dma_work * (1 - REL) <= tl.makespan_s <= cost_closed * (1 + REL)
    # the simulation may overlap a write-back with the last compute: never by more than that
    assert tl.makespan_s >= (cost_closed - min(t_out, c)) * (1 - REL)


def test_auto_pipelines_only_where_it_reproduces_the_cost():
    rate = 2e9
    compute_bound = tiled_cost(8, 3e-6, 1e-6, 5e-6, rate, overhead_s=2e-6)
    dma_bound = tiled_cost(8, 3e-6, 2e-6, 1e-6, rate, overhead_s=2e-6)
    ops = [make_op(0, (100,), 1), make_op(1, (1,), 2)]
    tl = EventSimulation(make_est(ops, [compute_bound, dma_bound]), dsp_spec()).run()
    assert [s.how for s in tl.spans] == ["tiles", "kernel"]
    total = float(compute_bound.latency_s + dma_bound.latency_s)
    assert abs(tl.makespan_s - total) <= REL * total
    assert any("run as one kernel" in note for note in tl.notes)
    tl_off = EventSimulation(make_est(ops, [compute_bound, dma_bound]), dsp_spec(),
                             {"double_buffering": False}).run()
    assert [s.how for s in tl_off.spans] == ["tiles", "tiles"]
    assert tl_off.makespan_s > tl.makespan_s


def test_vtcm_occupancy_never_exceeds_capacity():
    onchip = 100_000.0
    hw = dsp_spec(vtcm_bytes=2.5 * onchip, threads=4)
    ops = [make_op(i, (100 + i,), i) for i in range(4)]
    costs = [tiled_cost(6, 2e-6, 1e-6, 4e-6, 2e9, onchip=onchip) for _ in ops]
    tl = EventSimulation(make_est(ops, costs), hw,
                         {"threads": 4, "tile_policy": "per_tile", "record_tiles": True}).run()
    assert tl.onchip_capacity_bytes == 250_000.0
    assert max(u for _, u in tl.onchip_series) <= tl.onchip_capacity_bytes
    assert tl.onchip_peak_bytes == 2 * onchip  # the capacity, not the demand, limited it
    assert tl.concurrent([0, 1])  # two threads pipelined side by side
    # and on a zoo graph with the real DSP cost model, four threads, every op tiled
    r = sim(zoo_graph("mobilenetv2"), "hexagon-v68",
            policy={"threads": 4, "tile_policy": "per_tile", "record_tiles": True})
    tl = r.timeline
    assert tl.onchip_series and tl.onchip_peak_bytes <= tl.onchip_capacity_bytes
    assert max(u for _, u in tl.onchip_series) <= tl.onchip_capacity_bytes


# --------------------------------------------------------------------------- DRAM sharing


def test_two_memory_bound_kernels_share_dram_bandwidth():
    hw = hardware("a100-sxm4-40gb")
    bw = hw.dram_bandwidth_bytes_per_s
    achievable = bw * hw.eff("memory")
    nbytes = (4e8, 2e8)
    ops = [make_op(0, (100,), 1), make_op(1, (101,), 2)]  # independent, small grids
    costs = [kernel_cost(compute_s=1e-6, memory_s=b / achievable, dram_bytes=b) for b in nbytes]
    tl = EventSimulation(make_est(ops, costs), hw, {"streams": 2}).run()
    assert tl.spans[0].start_s == tl.spans[1].start_s == 0.0  # they did run concurrently
    assert tl.makespan_s >= sum(nbytes) / bw
    # processor sharing: both at half rate until the small one ends, then the big one alone
    assert math.isclose(tl.spans[1].end_s, 2 * nbytes[1] / achievable, rel_tol=REL)
    assert math.isclose(tl.makespan_s, sum(nbytes) / achievable, rel_tol=REL)
    assert max(b for _, b in tl.dram_series) <= achievable * (1 + REL)
    assert math.isclose(tl.dram_bytes_moved(), sum(nbytes), rel_tol=1e-6)


def test_two_dma_bound_pipelines_share_dram_on_the_dsp():
    hw = dsp_spec(threads=2, dma_engines=2)
    rate = min(hw.dsp.dma_bandwidth_bytes_per_s, hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))
    ops = [make_op(0, (100,), 1), make_op(1, (101,), 2)]
    costs = [tiled_cost(8, 4e-6, 2e-6, 0.5e-6, rate, closed_form=False) for _ in ops]
    total_bytes = sum(float(c.dram_bytes) for c in costs)
    tl = EventSimulation(make_est(ops, costs), hw, {"threads": 2, "tile_policy": "per_tile"}).run()
    assert tl.concurrent([0, 1])
    assert tl.makespan_s >= total_bytes / hw.dram_bandwidth_bytes_per_s
    assert tl.makespan_s >= total_bytes / rate * (1 - REL)


# --------------------------------------------------------------------------- concurrency


def projections(graph: OpGraph) -> list[int]:
    return [op.index for op in graph.ops
            if op.kind == OpKind.CONV and op.module.split(".")[-1] in ("theta", "phi", "g")]


def test_nonlocal_projections_run_concurrently_with_two_streams(tmp_path):
    g = zoo_graph("nl_block", small=False)
    idx = projections(g)
    assert len(idx) == 3
    one = sim(g, "a100-sxm4-40gb", mode="fused")
    two = sim(g, "a100-sxm4-40gb", mode="fused", policy={"streams": 2})
    tl = two.timeline
    assert two.latency_s < one.latency_s
    assert all(any(tl.overlap_s(a, b) > 0 for b in idx if b != a) for a in idx)
    assert len({tl.spans[i].engine for i in idx}) == 2
    assert not any(one.timeline.overlap_s(a, b) > 0 for a in idx for b in idx if a < b)
    # the Chrome trace shows it: two projection slices on different tracks that overlap
    path = tl.write_chrome_trace(tmp_path / "nl.json")
    events = json.loads(open(path).read())["traceEvents"]
    slices = [e for e in events if e.get("ph") == "X" and e.get("args", {}).get("index") in idx]
    assert len(slices) == 3
    overlapping = [(a, b) for a in slices for b in slices if a["tid"] != b["tid"]
                   and a["ts"] < b["ts"] + b["dur"] and b["ts"] < a["ts"] + a["dur"]]
    assert overlapping
    # three streams: all three projections at once
    three = sim(g, "a100-sxm4-40gb", mode="fused", policy={"streams": 3}).timeline
    assert three.concurrent(idx)


class TinyASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabv3, arXiv:1706.05587 section 3.3), scaled down:
    a 1x1 and two dilated 3x3 branches plus image pooling, concatenated and projected."""

    def __init__(self, c: int = 256, r: int = 64) -> None:
        super().__init__()
        self.b0 = nn.Conv2d(c, r, 1)
        self.b1 = nn.Conv2d(c, r, 3, padding=6, dilation=6)
        self.b2 = nn.Conv2d(c, r, 3, padding=12, dilation=12)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.b3 = nn.Conv2d(c, r, 1)
        self.project = nn.Conv2d(4 * r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W]
        p = F.interpolate(self.b3(self.pool(x)), size=x.shape[-2:])  # [B, r, H, W]
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), p], 1))


def test_aspp_branches_run_concurrently_with_two_streams():
    g = codesign.trace(TinyASPP().eval(), (1, 256, 33, 33))
    branches = [op.index for op in g.ops if op.module in ("b0", "b1", "b2", "b3")]
    assert len(branches) == 4
    one = sim(g, "a100-sxm4-40gb", mode="fused")
    two = sim(g, "a100-sxm4-40gb", mode="fused", policy={"streams": 2})
    tl = two.timeline
    assert two.latency_s < one.latency_s
    assert all(any(tl.overlap_s(a, b) > 0 for b in branches if b != a) for a in branches)
    assert_dependencies_respected(g, tl)


def test_critical_path_issue_order_beats_program_order():
    # ops 0, 1: short and independent; 2 -> 3: a long chain issued last in program order
    ops = [make_op(0, (100,), 1), make_op(1, (101,), 2), make_op(2, (102,), 3),
           make_op(3, (3,), 4)]
    costs = [kernel_cost(compute_s=s) for s in (1e-3, 1e-3, 5e-3, 5e-3)]
    est = make_est(ops, costs)
    hw = hardware("a100-sxm4-40gb")
    prog = EventSimulation(est, hw, {"streams": 2}).run()
    crit = EventSimulation(est, hw, {"streams": 2, "issue_order": "critical_path"}).run()
    assert math.isclose(prog.makespan_s, 11e-3) and math.isclose(crit.makespan_s, 10e-3)
    assert crit.critical_path == (2, 3)
    assert prog.critical_path[-2:] == (2, 3)


def test_critical_path_of_one_stream_is_every_op_in_order():
    g = zoo_graph("nl_block")
    tl = sim(g, "a100-sxm4-40gb").timeline
    assert tl.critical_path == tuple(range(len(g.ops)))
    assert math.isclose(sum(tl.spans[i].duration_s for i in tl.critical_path), tl.makespan_s)


# --------------------------------------------------------------------------- timeline export


def test_chrome_trace_is_valid_trace_event_json(tmp_path):
    r = sim(zoo_graph("nl_block"), "hexagon-v68",
            policy={"threads": 2, "tile_policy": "per_tile", "record_tiles": True})
    tl = r.timeline
    path = tl.write_chrome_trace(tmp_path / "sub" / "timeline.json")
    doc = json.loads(open(path).read())
    events = doc["traceEvents"]
    assert doc["displayTimeUnit"] == "ns"
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"thread0", "thread1", "dma0", "hmx"} <= names
    ops = [e for e in events if e["ph"] == "X" and e["pid"] == 1]
    assert len(ops) == sum(1 for s in tl.spans if s.end_s > s.start_s)
    first = min(ops, key=lambda e: e["ts"])
    assert first["ts"] == 0.0 and first["dur"] > 0
    for e in ops:
        s = tl.spans[e["args"]["index"]]
        assert math.isclose(e["ts"], s.start_s * 1e6, abs_tol=1e-9)
        assert math.isclose(e["dur"], s.duration_s * 1e6, rel_tol=1e-9, abs_tol=1e-9)
    assert any(e["ph"] == "C" and e["name"] == "dram_bandwidth" for e in events)
    assert any(e["ph"] == "C" and e["name"] == "vtcm_bytes" for e in events)
    assert sum(1 for e in events if e["ph"] == "X" and e["pid"] == 2) == len(tl.tiles)
    assert doc["otherData"]["critical_path"] == list(tl.critical_path)
    util = tl.utilisation
    assert {"thread0", "thread1", "host", "dram", "dma0"} <= set(util)
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in util.values())
