"""graph + hardware -> SimResult: fusion plan, per-op costs, energy, schedule (no torch).

The pipeline is typed function calls (style rule 8):
``plan_fusion -> estimate_costs -> (analytical sum | event schedule) -> SimResult``.
``estimate_costs`` works unchanged on a spec whose knobs are arrays (sweeps).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from itertools import repeat

import numpy as np

from codesign.cost import registry
from codesign.cost.base import (  # noqa: F401
    ZERO, CostContext, OpCost, float_maximum, with_overhead, apply_launch_queue, conform, cost_key,
    float_bound, launch_queue_dispatch,
)
from codesign.cost.energy import Energy, op_energy
from codesign.errors import CodesignError, HardwareError
from codesign.ir.fusion import FusionPlan, plan_fusion
from codesign.ir.graph import OpGraph, OpKind
from codesign.results.records import OpRow, SimResult, op_row
from codesign.types import DType, Engine, Layout, Mode, parse_choice, values
from codesign.hardware.spec import HardwareSpec

ENGINES = values(Engine)


@dataclass(frozen=True)
class Estimate:
    """Per-op costs and energies for one (graph, hardware, context); arrays when vectorized.
    ``costs[i]`` is None for unsupported ops (no cost model): they stay visible as rows."""

    graph: OpGraph
    plan: FusionPlan
    costs: tuple
    energies: tuple
    ctx: CostContext

    @property
    def latency_s(self):
        return sum((c.latency_s for c in self.costs if c is not None), start=0.0)

    @property
    def energy_j(self):
        return sum((e.total_j for e in self.energies if e is not None), start=0.0)

    @property
    def dram_bytes(self):
        return sum((c.dram_bytes for c in self.costs if c is not None), start=0.0)


def make_context(hw: HardwareSpec, dtype: str, mode: str, layout: str) -> CostContext:
    """The run settings as enums (one error line naming a bad key and its choices), checked
    against what ``hw`` runs."""
    dtype = parse_choice(DType, "dtype", dtype)
    mode = parse_choice(Mode, "mode", mode)
    layout = parse_choice(Layout, "layout", layout)
    if dtype == DType.AMP:
        if hw.gpu is None or "fp16" not in hw.dtypes:
            raise HardwareError(f"{hw.name}: dtype 'amp' (CUDA autocast fp16) needs a GPU that "
                                f"runs fp16; supported: {', '.join(hw.dtypes)}")
    elif dtype not in hw.dtypes:
        raise HardwareError(f"{hw.name} does not run dtype {dtype.value!r}; supported: {', '.join(hw.dtypes)}")
    if layout not in hw.layouts:
        raise HardwareError(
            f"{hw.name} does not support layout {layout.value!r}; supported: {', '.join(hw.layouts)}")
    return CostContext(dtype=dtype, mode=mode, layout=layout)


def estimate_costs(graph: OpGraph, hw: HardwareSpec, ctx: CostContext, launch_queue: bool = True) -> Estimate:
    """Cost every op (fused groups as their merged op) on ``hw`` under ``ctx``.
    ``launch_queue=False`` keeps each op's raw dispatch overhead (the calibration's per-op
    model applies the asynchronous launch queue itself).
    ``dtype="amp"`` on a graph not traced under autocast is costed as ``"fp16"`` (every float
    at 2 bytes, conv/linear weight casts added): the old approximation."""
    if ctx.dtype == DType.AMP and not getattr(graph, "autocast", ""):
        ctx = replace(ctx, dtype=DType.FP16)
    reg = registry()
    ccp = ctx.layout == Layout.CCP or (ctx.mode == Mode.FUSED and Layout.CCP in hw.layouts)
    plan = plan_fusion(graph, ctx.mode, ccp)
    missing: set[str] = set()
    shape = hw.batch_shape
    # ops that compute the same thing (same cost_key) get one cost and energy: a cost is a pure
    # function of the op's work, so repeated blocks are costed once per call (issue 16 speed)
    keys = graph.work_ids   # per op, an int naming its cost_key (numbered once per graph)
    leader, fused = plan.leader, plan.merged
    op_keys: list = []      # per op, the key of what it is costed as (None: fused away)
    works: dict = {}        # key -> (op, the op or merged op costed), in order of first use
    for op, key in zip(graph.ops, keys):
        i = op.index
        if leader[i] != i:
            op_keys.append(None)
            continue
        target = fused.get(i) if fused else None
        if target is None:
            target = op
        else:
            key = cost_key(target)      # a merged op: its key itself, never an int
        op_keys.append(key)
        if key not in works:
            works[key] = (op, target)
    prepass = reg.prepass(hw.kind)     # e.g. the GPU's batched GEMM tile search
    if prepass is not None:
        prepass([t for op, t in works.values() if op.supported], hw, ctx)
    memo: dict = {}
    for key, (op, target) in works.items():
        fn = reg.lookup(op.kind, hw.kind) if op.supported else None
        if fn is None:
            if op.supported:
                missing.add(f"{op.kind.value} on {hw.kind}")
            memo[key] = (None, None)
        else:
            cost = conform(fn(target, hw, ctx), shape)
            memo[key] = (cost, op_energy(cost, hw, ctx.dtype))
    memo[None] = (ZERO, Energy(0.0, 0.0, 0.0, 0.0))     # a fused-away op
    costs = [memo[key][0] for key in op_keys]
    energies = [memo[key][1] for key in op_keys]
    merged = [fused.get(op.index, op) for op in graph.ops] if fused else list(graph.ops)
    for name, graph_pass in reg.graph_passes(hw.kind):   # e.g. gpu launch queue, hexagon launch
        if name == "launch_queue" and not launch_queue:
            continue
        costs = graph_pass(costs, hw, ctx, merged, graph)
    if missing:
        warnings.warn("no cost model for " + ", ".join(sorted(missing)) + "; those ops are "
                      "shown as unsupported rows", stacklevel=2)
    return Estimate(graph, plan, tuple(costs), tuple(energies), ctx)


def async_dispatch(hw_kind: str) -> bool:
    """Whether ``hw_kind``'s host enqueues kernels asynchronously (its cost module registers
    the ``launch_queue`` graph pass): dispatch overlaps earlier kernels instead of adding."""
    return any(name == "launch_queue" for name, _ in registry().graph_passes(hw_kind))


def _launch_queue_last(hw_kind: str) -> bool:
    """Whether ``hw_kind``'s last graph pass is the launch queue (the registered
    ``launch_queue`` pass applies :func:`apply_launch_queue`): its rows can then take the queue's
    dispatch per op (:func:`launch_queue_dispatch`) instead of queued copies of the costs."""
    passes = registry().graph_passes(hw_kind)
    return bool(passes) and passes[-1][0] == "launch_queue"


def _f(x) -> float:
    if type(x) is float:            # one configuration, already a Python float
        return x
    if isinstance(x, float):        # a numpy float scalar
        return float(x)
    if np.ndim(x) > 0:
        raise CodesignError("simulate() takes a spec with scalar knobs; for arrays of knob "
                            "values use codesign.sweeps.runner (or estimate_costs)")
    return float(np.asarray(x, dtype=float))


def _cost_figures(cost: OpCost) -> tuple:
    """(DRAM read, DRAM write, latency, compute, memory, overhead) of one configuration's
    cost as Python floats, its bound, its unit, and -- for a cost whose figures are floats --
    (DRAM read, DRAM write, busy = max(compute, memory), compute, memory), what its rows with
    another overhead take (:func:`_dispatched`)."""
    c, m, o = cost.compute_s, cost.memory_s, cost.overhead_s
    r, w = cost.dram_read_bytes, cost.dram_write_bytes
    base = None
    if type(c) is float and type(m) is float and type(r) is float and type(w) is float:
        base = (r, w, float_maximum(c, m), c, m)     # busy as OpCost.latency_s takes it
    if base is not None and type(o) is float:   # the common case (conform made them floats)
        figures = (r, w, cost.latency_s, c, m, o)
    else:
        figures = (_f(r), _f(w), _f(cost.latency_s), _f(c), _f(m), _f(o))
    return figures, cost.bound, cost.unit, base


def _dispatched(cost: OpCost, parts: tuple, dispatch) -> tuple:
    """(figures, bound) of ``cost`` (its :func:`_cost_figures` ``parts``) with ``dispatch``
    as its ``overhead_s`` (what the launch queue gives it): those of the copy
    :func:`apply_launch_queue` makes, without making it where every figure is a float."""
    base = parts[3]
    if base is not None and type(dispatch) is float:
        r, w, busy, c, m = base
        return (r, w, busy + dispatch, c, m, dispatch), float_bound(c, m, dispatch)
    figures, bound, _, _ = _cost_figures(with_overhead(cost, dispatch))
    return figures, bound


def _rows(est: Estimate, dispatch: list | None = None) -> tuple[OpRow, ...]:
    """The rows of ``est``; with ``dispatch`` (:func:`launch_queue_dispatch` of its costs,
    which are then the costs before the launch queue) each op's overhead is its exposed
    dispatch, as in the costs :func:`apply_launch_queue` returns."""
    g = est.graph
    ops = g.ops
    keys, work_sizes = g.work_ids, g.work_sizes     # derived once per graph
    leader = est.plan.leader
    zero_energy = Energy(0.0, 0.0, 0.0, 0.0)
    # what only depends on the op's work (its key), on a cost or on an energy object is derived
    # once: ops of equal work share them
    sizes: dict = {}
    parts: dict = {}
    joules: dict = {}
    rows = []
    for op, cost, en, key, d in zip(ops, est.costs, est.energies, keys,
                                    dispatch or repeat(None)):
        i = op.index
        lead = leader[i]
        fused_into = ops[lead].name if lead != i else ""
        bound = ""
        if cost is None:
            bound, unit = "unsupported", "none"
            cost, en = ZERO, zero_energy
        elif fused_into:
            bound, unit = "fused", "fused"
        p = parts.get(id(cost))
        if p is None:
            p = parts[id(cost)] = _cost_figures(cost)
        figures = p[0]
        if d is not None:
            figures, queued_bound = _dispatched(cost, p, d)
            if not bound:
                bound, unit = queued_bound, p[2]
        elif not bound:
            bound, unit = p[1], p[2]
        size = sizes.get(key)
        if size is None:
            size = sizes[key] = ((op.kind.value, op.variant, op.pattern, op.phase.value),
                                 op.supported, work_sizes[key])
        e = joules.get(id(en))
        if e is None:
            e = joules[id(en)] = (_f(en.total_j), _f(en.compute_j), _f(en.sram_j), _f(en.dram_j),
                                  _f(en.static_j))
        # in OpRow's field order (tests/test_simulate_pinned.py pins every field)
        rows.append(op_row(i, op.name, op.module, *size[0], unit, fused_into,
                           size[1] and bound != "unsupported", *size[2], *figures, bound, *e))
    return tuple(rows)


def simulate(graph: OpGraph, hw: HardwareSpec | str, dtype: str = "fp32", mode: str = "eager",
             engine: str = "analytical", layout: str = "nchw", policy=None) -> SimResult:
    """Estimate latency, DRAM traffic and energy of ``graph`` on ``hw`` (a HardwareSpec or a
    preset name / YAML path). ``engine="event"`` runs the simpy schedule with ``policy``."""
    if isinstance(hw, str):
        from codesign.hardware import load_hardware

        hw = load_hardware(hw)
    engine = parse_choice(Engine, "engine", engine).value
    if not isinstance(graph, OpGraph):
        raise CodesignError(f"simulate expects an OpGraph (from codesign.trace), got {type(graph).__name__}")
    ctx = make_context(hw, dtype, mode, layout)
    if engine == Engine.ANALYTICAL and _launch_queue_last(hw.kind):
        # the rows take each op's exposed dispatch beside its cost: no copy of ~3,000 costs
        # per training step (issue 16 speed); the event engine takes the queued costs
        est = estimate_costs(graph, hw, ctx, launch_queue=False)
        rows = _rows(est, launch_queue_dispatch(est.costs))
    else:
        est = estimate_costs(graph, hw, ctx)
        rows = _rows(est)
    batch = graph.inputs[0].shape[0] if graph.inputs and graph.inputs[0].shape else 1
    common = dict(workload=graph.name, hardware=hw.name, hardware_kind=hw.kind, dtype=dtype,
                  mode=mode, layout=layout, batch=int(batch), fused_ops=est.plan.fused_count)
    if engine == Engine.ANALYTICAL:
        if policy is not None:
            raise CodesignError("policy applies to engine='event' only")
        return SimResult(engine="analytical", rows=rows, **common)
    from codesign.schedule.event import run_event_schedule

    return run_event_schedule(est, hw, rows, policy=policy, common=common)


__all__ = ["simulate", "estimate_costs", "Estimate", "make_context", "async_dispatch",
           "apply_launch_queue", "ENGINES", "OpKind"]
