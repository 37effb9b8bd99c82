"""``engine="event"``: a discrete-event simulation of an op graph on one hardware spec (simpy).

The model (what runs where, what is shared):

* **Lanes.** Ops are issued to ``lanes``: GPU streams (``policy.streams``), DSP HVX contexts,
  CPU threads or accelerator command queues (``policy.threads``, capped by ``dsp.threads`` /
  ``cpu.cores``). An op is issued when every producer of its inputs has ended (graph edges,
  by tensor identity) and a lane is free; among ready ops the lowest ``issue_order`` key wins
  (``program``: trace order; ``critical_path``: longest remaining path first). With one lane
  the ops run back to back in program order.
* **One op (a "kernel").** ``overhead_s`` first (dispatch), then compute and DRAM traffic side
  by side: the op ends when both are done. Alone on the machine that is exactly
  ``max(compute_s, memory_s) + overhead_s`` = the cost model's ``latency_s``. Dispatch runs on
  one host thread shared by all lanes on GPU, DSP and accelerator (PyTorch eager / FastRPC /
  driver submission is serial; a CPU thread dispatches its own ops), so extra streams overlap
  kernel bodies, not dispatch; the lane is held from dispatch to the end of the op.
* **DRAM is shared by processor sharing** (a fluid model, exact between events): a transfer
  is its solo duration ``memory_s`` and the fraction ``f`` of the achievable bandwidth it draws
  alone (``dram_bytes / memory_s / capacity``, capacity = ``dram_bandwidth x eff("memory")``,
  and ``min(that, dma_bandwidth)`` where DMA moves the data). While the fractions of the active
  transfers sum to ``F > 1`` each progresses at ``1/F`` of its solo speed, so k full-rate
  transfers get BW/k each and bytes never flow faster than the capacity. Transfers with
  ``f = 0`` (L2- or latency-bound time) are not slowed.
* **GPU:** a kernel holds ``min(sm_count, CTAs)`` SMs of a ``simpy.Container`` for its duration
  (CTAs estimated as output elements over a ``cta_tile_m x cta_tile_n`` tile for MAC ops and
  over 1024 elements (256 threads x 4) for vector kernels, assumption). Small kernels on
  different streams run side by side; a kernel that fills the GPU waits for free SMs (FIFO).
  Copy engines are not modelled (graphs have no host<->device copies).
* **DSP / CPU / accelerator compute units** (HVX, HMX, MAC array, output stage, CPU cores)
  are shared by processor sharing too, each op drawing the whole unit (the cost models give
  each op all HVX units / all cores), so two ops computing at once each run at half speed.
* **Tile pipelines (DSP, accelerator)** from ``OpCost.tiles``: per tile, reserve a buffer of
  ``onchip_bytes`` in VTCM/SRAM (a ``simpy.Container``: occupancy never exceeds capacity), DMA
  it in on a DMA engine (through the shared DRAM), compute it (tiles of an op in order), DMA
  the result out, free the buffer. Double buffering lets ``2`` tiles of an op be in flight
  (DMA of tile i+1 overlaps compute of tile i), off it is ``1`` (serial: ``n (in + c + out)``).
  Per-tile DMA times use the rate the op's cost implies (``dram_bytes / memory_s``).
  For a compute-bound pipeline (``c >= in + out``) an op alone takes exactly the closed form
  ``in + n max(c, in + out) + out``. For a DMA-bound one the simulation can overlap a
  write-back with the last compute, which the closed form ``in + c + out + (n-1) max(c, in +
  out)`` of :mod:`codesign.cost.hexagon` does not, so it comes out shorter by up to
  ``min(out, c)``; ``tile_policy="auto"`` therefore pipelines an op only where the
  pipeline reproduces the op's cost alone (double buffering on), else it runs the op as one
  kernel with its cost (noted in ``Timeline.notes``). ``per_tile`` always pipelines (with the
  op's ``overhead_s`` before it), ``per_op`` never does.
* **Fused members** start and end with their leader (zero duration); **unsupported ops**
  (no cost) take no time and no lane but keep their dependencies.

Known limits: the host does not run ahead of a lane here; on GPUs ``estimate_costs`` has
already replaced each op's dispatch by the part the asynchronous launch queue exposes in
program order, and that exposed part is what the host thread serializes (exact for one
stream, an approximation for several); CTA counts are estimates; DMA
descriptors, bank conflicts and cache interference between
concurrent kernels are not modelled.
"""

from __future__ import annotations

import heapq
import math
import numbers
import random
from collections import Counter
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Mapping

import numpy as np
import simpy

from codesign.errors import CodesignError, did_you_mean
from codesign.ir.graph import OpKind
from codesign.results.records import SimResult
from codesign.schedule.timeline import Span, TileSpan, Timeline
from codesign.hardware.spec import HardwareSpec

TILE_POLICIES = ("auto", "per_op", "per_tile")
ISSUE_ORDERS = ("program", "critical_path")
#: elements per CTA of a bandwidth-bound GPU kernel: 256 threads x 4 elements (assumption)
VECTOR_CTA_ELEMENTS = 1024
#: relative tolerance of "the pipeline reproduces the op's cost" and of fluid completions
REL_TOL = 1e-9
_MAC_KINDS = (OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION)


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class EventPolicy:
    """Knobs of the event engine.

    streams: GPU streams (lanes ops are issued to); threads: DSP HVX contexts / CPU threads /
    accelerator queues; double_buffering: two tile buffers per pipelined op (else one);
    tile_policy: ``auto`` | ``per_op`` | ``per_tile`` (see module docstring); issue_order:
    ``program`` | ``critical_path``; record_tiles: keep one TileSpan per tile stage."""

    streams: int = 1
    threads: int = 1
    double_buffering: bool = True
    tile_policy: str = "auto"
    issue_order: str = "program"
    record_tiles: bool = False

    def __post_init__(self) -> None:
        for key in ("streams", "threads"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise _bad(key, v, "expected a positive integer")
        for key in ("double_buffering", "record_tiles"):
            v = getattr(self, key)
            if not isinstance(v, (bool, np.bool_)):
                raise _bad(key, v, "expected true or false")
        for key, allowed in (("tile_policy", TILE_POLICIES), ("issue_order", ISSUE_ORDERS)):
            v = getattr(self, key)
            if v not in allowed:
                raise _bad(key, v, "allowed: " + ", ".join(allowed)
                           + (did_you_mean(v, allowed) if isinstance(v, str) else ""))


POLICY_KEYS = tuple(f.name for f in fields(EventPolicy))


def _bad(key: str, value, expected: str) -> CodesignError:
    return CodesignError(f"policy.{key} = {value!r}; {expected}")


def parse_policy(obj) -> EventPolicy:
    """An :class:`EventPolicy` from None (defaults), an EventPolicy or a mapping of its fields.
    Bad values and unknown keys raise :class:`CodesignError` naming key, value and allowed."""
    if obj is None:
        return EventPolicy()
    if isinstance(obj, EventPolicy):
        return obj
    if isinstance(obj, Mapping):
        for key in obj:
            if key not in POLICY_KEYS:
                hint = did_you_mean(str(key), POLICY_KEYS)
                raise CodesignError(f"policy: unknown key {key!r}{hint}; "
                                    f"allowed: {', '.join(POLICY_KEYS)}")
        return EventPolicy(**dict(obj))
    raise CodesignError(f"policy must be a mapping of {', '.join(POLICY_KEYS)} or an EventPolicy, "
                        f"not {type(obj).__name__}")


# --------------------------------------------------------------------------- shared resources


class FluidShare:
    """Processor sharing of one resource (DRAM bandwidth, a compute unit), exact between events.

    A job is its solo duration and the fraction ``f`` of the resource it draws alone. With
    ``F = sum(f)`` over active jobs, each job with ``f > 0`` progresses at ``min(1, 1/F)`` of its
    solo speed. One pending timeout is kept for the earliest completion; a change of the job
    set supersedes it (generation counter)."""

    def __init__(self, env: simpy.Environment, name: str, capacity: float,
                 record_series: bool = False) -> None:
        self.env, self.name, self.capacity = env, name, capacity
        self.jobs: dict[int, list] = {}  # key -> [remaining_s, f, event, solo_s]
        self._key = 0
        self._t = 0.0
        self._gen = 0
        self._load = 0.0
        self.busy_integral = 0.0          # integral of min(1, F) dt
        self.series: list[list[float]] | None = [] if record_series else None

    def submit(self, solo_s: float, f: float) -> simpy.Event:
        ev = self.env.event()
        self._advance()
        self._key += 1
        self.jobs[self._key] = [solo_s, f, ev, solo_s]
        self._reschedule()
        return ev

    def _speed(self) -> float:
        return 1.0 if self._load <= 1.0 else 1.0 / self._load

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t
        if dt > 0.0:
            if self.jobs:
                s = self._speed()
                for j in self.jobs.values():
                    j[0] -= dt * (s if j[1] > 0.0 else 1.0)
                self.busy_integral += dt * min(1.0, self._load)
            self._t = now

    def _reschedule(self) -> None:
        self._gen += 1
        self._load = sum(j[1] for j in self.jobs.values())
        if self.series is not None:
            level = self.capacity * min(1.0, self._load)
            now = self.env.now
            if self.series and self.series[-1][0] == now:
                self.series[-1][1] = level
                if len(self.series) > 1 and self.series[-2][1] == level:
                    self.series.pop()
            elif not self.series or self.series[-1][1] != level:
                self.series.append([now, level])
        if not self.jobs:
            return
        s = self._speed()
        best_key, best_dt = 0, math.inf
        for key, j in self.jobs.items():
            dt = j[0] / (s if j[1] > 0.0 else 1.0)
            if dt < best_dt:
                best_key, best_dt = key, dt
        tmo = self.env.timeout(max(best_dt, 0.0))
        tmo.callbacks.append(partial(self._fire, self._gen, best_key))

    def _fire(self, gen: int, key: int, _event) -> None:
        if gen != self._gen:
            return
        self._advance()
        done = [key] + [k for k, j in self.jobs.items()
                        if k != key and j[0] <= REL_TOL * j[3]]
        for k in done:
            self.jobs.pop(k)[2].succeed()
        self._reschedule()


class _Ids:
    """Lowest-free-id bookkeeping for the servers of a simpy resource (lane 0, 1, ...)."""

    def __init__(self, n: int) -> None:
        self.free = list(range(n))

    def take(self) -> int:
        return heapq.heappop(self.free)

    def give(self, i: int) -> None:
        heapq.heappush(self.free, i)


# --------------------------------------------------------------------------- per-op work


@dataclass(frozen=True, slots=True)
class _Pipe:
    """A tile pipeline: n tiles, per-tile DMA-in / compute / DMA-out seconds (solo)."""

    n: int
    t_in: float
    t_out: float
    c: float
    in_bytes: float
    out_bytes: float
    onchip: float
    f_dma: float


@dataclass(frozen=True, slots=True)
class _Work:
    name: str
    overhead: float
    compute: float
    memory: float
    f_mem: float
    dram_bytes: float
    unit: str
    pool: str           # compute pool name ("" = a private timer)
    sms: int            # GPU SMs held (0 elsewhere)
    latency: float
    pipe: _Pipe | None


def _scalar(x, what: str) -> float:
    a = np.asarray(x, dtype=float)
    if a.ndim != 0:
        raise CodesignError(f"engine='event' simulates one hardware configuration; {what} is an "
                            f"array of shape {a.shape} (swept knobs: use engine='analytical')")
    return float(a)


def _pipeline_closed_form(p: _Pipe) -> float:
    """Double-buffered pipeline alone, compute-bound: first DMA-in + n x compute + last DMA-out."""
    return p.t_in + p.n * max(p.c, p.t_in + p.t_out) + p.t_out


# --------------------------------------------------------------------------- the simulation


class EventSimulation:
    """One run of an op graph on one hardware spec. Owns its simpy Environment, RNG and
    counters; build it, call :meth:`run` once."""

    def __init__(self, est, hw: HardwareSpec, policy=None, seed: int = 0) -> None:
        self.policy = parse_policy(policy)
        self.est, self.hw = est, hw
        self.kind = hw.kind
        self.env = simpy.Environment()
        # No stochastic service times yet: the RNG is drawn from by nothing, kept so that
        # jittered runs can be added without global state.
        self.rng = random.Random(seed)
        self.counters: Counter = Counter()
        self.notes: list[str] = []
        self._ran = False
        self._setup_resources()
        self._build_nodes()

    # ------------------------------------------------------------------ setup

    def _setup_resources(self) -> None:
        hw, pol, env = self.hw, self.policy, self.env
        bw = _scalar(hw.dram_bandwidth_bytes_per_s, "dram_bandwidth_bytes_per_s")
        cap = bw * _scalar(hw.eff("memory"), "efficiency.memory")
        self.dma_rate = cap
        self.onchip = None
        self.onchip_name = ""
        self.onchip_capacity = 0.0
        n_dma = 0
        res = self.res = hw.unit.event_resources()      # what this hardware kind provides
        if res.lanes == "streams":
            lanes, self.lane_prefix = pol.streams, "stream"
        else:
            lanes, self.lane_prefix = pol.threads, "thread"
        self.sm_count = int(_scalar(res.sm_count, f"{self.kind}.sm_count"))
        self.sm = (simpy.Container(env, capacity=self.sm_count, init=self.sm_count)
                   if self.sm_count else None)
        if res.dma_bandwidth_bytes_per_s is not None:
            self.dma_rate = min(cap, _scalar(res.dma_bandwidth_bytes_per_s,
                                             f"{self.kind}.dma_bandwidth"))
            n_dma = int(_scalar(res.dma_engines, f"{self.kind}.dma_engines"))
        if res.onchip_name:
            self.onchip_name = res.onchip_name
            self.onchip_capacity = float(math.floor(_scalar(res.onchip_bytes,
                                                            f"{self.kind}.{res.onchip_name}_bytes")))
        if res.lane_limit is not None:
            limit = int(_scalar(res.lane_limit, res.lane_limit_key))
            if lanes > limit:
                self.notes.append(f"threads = {lanes} capped at {res.lane_limit_key} = {limit}")
                lanes = limit
        self.n_lanes = lanes
        # Host dispatch (framework / FastRPC / driver per op) is one host thread for GPU, DSP
        # and accelerator, so with several lanes kernels overlap but dispatches do not. A CPU
        # thread dispatches its own ops.
        self.host = simpy.PriorityResource(env, capacity=1) if res.host_dispatch else None
        self.host_busy = 0.0
        # lanes are handed out by a dispatcher that runs once per instant, so that ops made
        # ready at the same time are issued by priority, not by the order they were released
        self.free_lanes = list(range(lanes))
        self.ready: list[tuple] = []
        self._dispatch_pending = False
        self.lane_busy = [0.0] * lanes
        self.lane_last = [-1] * lanes
        # the memory pool: DRAM behind the DMA on DSP / accelerator
        self.mem_capacity = self.dma_rate if n_dma else cap
        self.dram = FluidShare(env, "dram", self.mem_capacity, record_series=True)
        self.pools: dict[str, FluidShare] = {}
        self.n_dma = n_dma
        if n_dma:
            self.dma = simpy.Resource(env, capacity=n_dma)
            self.dma_ids = _Ids(n_dma)
            self.dma_busy = [0.0] * n_dma
        self.slots = 2 if pol.double_buffering else 1
        self.onchip_used = 0.0
        self.onchip_peak = 0.0
        self.onchip_series: list[tuple[float, float]] = []
        self.sm_seconds = 0.0
        self.tile_spans: list[TileSpan] = []

    def _pool_for(self, unit: str) -> str:
        """Compute pool an op's unit draws from ("" = none shared: a private timer)."""
        if self.res.pool is None or unit in ("none", "dma", "memory", "fused"):
            return ""
        name = self.res.pool or unit
        if name not in self.pools:
            self.pools[name] = FluidShare(self.env, name, 1.0)
        return name

    def _gpu_sms(self, op) -> int:
        g = self.hw.gpu
        elements = max(1, op.elements)
        if op.kind in _MAC_KINDS:
            per_cta = (int(_scalar(g.cta_tile_m, "gpu.cta_tile_m"))
                       * int(_scalar(g.cta_tile_n, "gpu.cta_tile_n")))
        else:
            per_cta = VECTOR_CTA_ELEMENTS
        return int(min(self.sm_count, max(1, math.ceil(elements / per_cta))))

    def _work(self, i: int, cost) -> _Work | None:
        est = self.est
        op = est.plan.merged.get(i, est.graph.ops[i])
        overhead = _scalar(cost.overhead_s, f"op {i} overhead_s")
        compute = _scalar(cost.compute_s, f"op {i} compute_s")
        memory = _scalar(cost.memory_s, f"op {i} memory_s")
        dram_bytes = _scalar(cost.dram_read_bytes, "dram_read_bytes") + \
            _scalar(cost.dram_write_bytes, "dram_write_bytes")
        latency = max(compute, memory) + overhead
        if latency <= 0.0 and cost.tiles is None:
            return None
        f_mem = 0.0
        if memory > 0.0 and dram_bytes > 0.0:
            f_mem = min(1.0, dram_bytes / memory / self.mem_capacity)
        pipe = self._pipe(i, cost, compute, memory, overhead, dram_bytes)
        sms = self._gpu_sms(op) if self.sm_count else 0
        return _Work(op.name, overhead, compute, memory, f_mem, dram_bytes, cost.unit,
                     self._pool_for(cost.unit), sms, latency, pipe)

    def _pipe(self, i, cost, compute, memory, overhead, dram_bytes) -> _Pipe | None:
        pol = self.policy
        t = cost.tiles
        if t is None or not self.res.tile_pipeline or pol.tile_policy == "per_op":
            return None
        n = int(_scalar(t.count, f"op {i} tiles.count"))
        if n < 1:
            return None
        in_b = _scalar(t.dma_in_bytes, "tiles.dma_in_bytes")
        out_b = _scalar(t.dma_out_bytes, "tiles.dma_out_bytes")
        c = _scalar(t.compute_s, "tiles.compute_s")
        onchip = _scalar(t.onchip_bytes, "tiles.onchip_bytes")
        # the DMA rate the op's cost implies, so that n tiles move its DRAM bytes in memory_s
        rate = dram_bytes / memory if (dram_bytes > 0.0 and memory > 0.0) else self.dma_rate
        f = min(1.0, rate / self.mem_capacity)
        # whole bytes, so that the buffer container's level never drifts in floating point
        onchip = float(math.ceil(onchip))
        if onchip > self.onchip_capacity > 0:
            self.counters["tiles_clamped_to_onchip_capacity"] += 1
            onchip = self.onchip_capacity
        p = _Pipe(n, in_b / rate, out_b / rate, c, in_b, out_b, onchip, f)
        if pol.tile_policy == "per_tile":
            return p
        if not pol.double_buffering:
            return p  # auto + no double buffering: the serial pipeline is the point
        # auto: pipeline only where the event pipeline alone reproduces the op's cost
        busy = max(compute, memory)
        fits = self.onchip_capacity <= 0 or 2 * onchip <= self.onchip_capacity
        reproduces = (p.c >= p.t_in + p.t_out and fits
                      and abs(_pipeline_closed_form(p) - busy) <= REL_TOL * max(busy, 1e-30))
        if reproduces:
            return p
        self.counters["tiled_ops_run_as_kernel"] += 1
        return None

    def _build_nodes(self) -> None:
        est = self.est
        g = est.graph
        n = len(g.ops)
        leader = est.plan.leader
        self.leader = leader
        self.work: list[_Work | None] = [None] * n
        self.is_node = [leader[i] == i for i in range(n)]
        for i in range(n):
            if self.is_node[i] and est.costs[i] is not None:
                self.work[i] = self._work(i, est.costs[i])
        preds: list[set] = [set() for _ in range(n)]
        for p, c in g.edges:
            lp, lc = leader[p], leader[c]
            if lp != lc:
                preds[lc].add(lp)
        self.preds = [tuple(sorted(s)) for s in preds]
        succ: list[list[int]] = [[] for _ in range(n)]
        for c in range(n):
            for p in self.preds[c]:
                succ[p].append(c)
        self.succ = succ
        self.waiting = [len(p) for p in self.preds]
        order = self._topological_order()
        weight = [w.latency if w is not None else 0.0 for w in self.work]
        blevel = [0.0] * n
        for i in reversed(order):
            blevel[i] = weight[i] + max((blevel[s] for s in succ[i]), default=0.0)
        self.blevel = blevel
        if self.policy.issue_order == "critical_path":
            self.prio = [(-blevel[i], i) for i in range(n)]
        else:
            self.prio = [(i,) for i in range(n)]
        # VTCM/SRAM as a container only where concurrent tile buffers could overflow it (at
        # most lanes x slots tiles are in flight); otherwise a counter records occupancy
        biggest = max((w.pipe.onchip for w in self.work if w is not None and w.pipe is not None),
                      default=0.0)
        if self.onchip_capacity > 0 and self.n_lanes * self.slots * biggest > self.onchip_capacity:
            self.onchip = simpy.Container(self.env, capacity=self.onchip_capacity,
                                          init=self.onchip_capacity)
        self.start = [math.nan] * n
        self.end = [math.nan] * n
        self.lane_of = [-1] * n
        self.lane_pred = [-1] * n
        self.how = ["zero"] * n
        if self.counters["tiled_ops_run_as_kernel"]:
            self.notes.append(
                f"{self.counters['tiled_ops_run_as_kernel']} tiled op(s) run as one kernel with "
                "their cost (tile_policy=auto): their pipeline alone would not reproduce the "
                "cost's closed form (DMA-bound tiles, or buffers that do not fit twice)")

    def _topological_order(self) -> list[int]:
        n = len(self.preds)
        indeg = [len(p) if self.is_node[i] else 0 for i, p in enumerate(self.preds)]
        ready = [i for i in range(n) if self.is_node[i] and indeg[i] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for s in self.succ[i]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(ready, s)
        if len(order) != sum(self.is_node):
            raise CodesignError("event schedule: the fused graph has a dependency cycle "
                                "(fusion plan inconsistent with the graph edges)")
        return order

    # ------------------------------------------------------------------ processes

    def _release(self, i: int) -> None:
        """Op ``i`` ended: count down its successors; zero-time ones end on the spot."""
        stack = [i]
        now = self.env.now
        while stack:
            j = stack.pop()
            for s in self.succ[j]:
                self.waiting[s] -= 1
                if self.waiting[s] == 0:
                    self._launch(s, now, stack)

    def _launch(self, i: int, now: float, stack: list) -> None:
        if self.work[i] is None:
            self.start[i] = self.end[i] = now
            stack.append(i)
        else:
            heapq.heappush(self.ready, (self.prio[i], i))
            self._request_dispatch()

    def _request_dispatch(self) -> None:
        if not self._dispatch_pending:
            self._dispatch_pending = True
            self.env.timeout(0.0).callbacks.append(self._dispatch)

    def _dispatch(self, _event) -> None:
        self._dispatch_pending = False
        while self.ready and self.free_lanes:
            _, i = heapq.heappop(self.ready)
            self.env.process(self._op(i, heapq.heappop(self.free_lanes)))

    def _op(self, i: int, lane: int):
        env, w = self.env, self.work[i]
        self.lane_pred[i] = self.lane_last[lane]
        t0 = env.now  # the lane is ours from here
        self.start[i] = t0
        if w.overhead > 0.0:
            if self.host is None:
                yield env.timeout(w.overhead)
            else:  # one host thread dispatches every op, one after the other
                hreq = self.host.request(priority=self.prio[i])
                yield hreq
                self.start[i] = env.now  # the op starts when its dispatch does
                yield env.timeout(w.overhead)
                self.host_busy += env.now - self.start[i]
                self.host.release(hreq)
        if w.pipe is not None:
            self.how[i] = "tiles"
            yield from self._pipeline(i, w, w.pipe)
        else:
            self.how[i] = "kernel"
            yield from self._kernel(w)
        self.end[i] = env.now
        self.lane_busy[lane] += env.now - t0
        self.lane_of[i] = lane
        self.lane_last[lane] = i
        self.counters["ops"] += 1
        self._release(i)
        heapq.heappush(self.free_lanes, lane)
        self._request_dispatch()

    def _compute(self, w: _Work, seconds: float) -> simpy.Event:
        if w.pool:
            return self.pools[w.pool].submit(seconds, 1.0)
        return self.env.timeout(seconds)

    def _kernel(self, w: _Work):
        env = self.env
        if w.sms:
            yield self.sm.get(w.sms)
        t = env.now
        evs = []
        if w.compute > 0.0:
            evs.append(self._compute(w, w.compute))
        if w.memory > 0.0:
            evs.append(self.dram.submit(w.memory, w.f_mem))
        if len(evs) == 2:
            yield env.all_of(evs)
        elif evs:
            yield evs[0]
        if w.sms:
            self.sm_seconds += w.sms * (env.now - t)
            yield self.sm.put(w.sms)

    def _note_onchip(self, delta: float) -> None:
        self.onchip_used += delta
        self.onchip_peak = max(self.onchip_peak, self.onchip_used)
        if self.policy.record_tiles:
            self.onchip_series.append((self.env.now, self.onchip_used))

    def _dma(self, i: int, k: int, stage: str, seconds: float, nbytes: float, p: _Pipe):
        env = self.env
        req = self.dma.request()
        yield req
        eid = self.dma_ids.take()
        t = env.now
        yield self.dram.submit(seconds, p.f_dma)
        self.dma_busy[eid] += env.now - t
        self.counters["dma_transfers"] += 1
        if self.policy.record_tiles:
            self.tile_spans.append(TileSpan(i, k, stage, f"dma{eid}", t, env.now, nbytes))
        self.dma_ids.give(eid)
        self.dma.release(req)

    def _pipeline(self, i: int, w: _Work, p: _Pipe):
        env = self.env
        # the op's tile buffers: [free slots, event the issuing loop waits on, tiles left, done]
        state = [self.slots, None, p.n, env.event()]
        prev = None
        for k in range(p.n):
            if state[0] == 0:
                state[1] = env.event()
                yield state[1]
            state[0] -= 1
            if p.onchip > 0.0 and self.onchip_name:
                if self.onchip is not None:  # buffers of concurrent ops may not all fit
                    yield self.onchip.get(p.onchip)
                self._note_onchip(p.onchip)
            if p.t_in > 0.0:
                yield from self._dma(i, k, "dma_in", p.t_in, p.in_bytes, p)
            cdone = env.event()
            env.process(self._tile_tail(i, k, w, p, prev, cdone, state))
            prev = cdone
        yield state[3]

    def _tile_tail(self, i, k, w, p, prev, cdone, state):
        env = self.env
        if prev is not None:
            yield prev  # tiles of one op compute in order
        t = env.now
        if p.c > 0.0:
            yield self._compute(w, p.c)
        self.counters["tiles"] += 1
        if self.policy.record_tiles:
            self.tile_spans.append(TileSpan(i, k, "compute", w.pool or w.unit, t, env.now, 0.0))
        cdone.succeed()
        if p.t_out > 0.0:
            yield from self._dma(i, k, "dma_out", p.t_out, p.out_bytes, p)
        if p.onchip > 0.0 and self.onchip_name:
            if self.onchip is not None:
                yield self.onchip.put(p.onchip)
            self._note_onchip(-p.onchip)
        state[0] += 1
        if state[1] is not None:
            state[1].succeed()
            state[1] = None
        state[2] -= 1
        if state[2] == 0:
            state[3].succeed()

    # ------------------------------------------------------------------ run

    def run(self) -> Timeline:
        if self._ran:
            raise RuntimeError("an EventSimulation runs once; build a new one")
        self._ran = True
        n = len(self.work)
        stack: list[int] = []
        for i in range(n):
            if self.is_node[i] and self.waiting[i] == 0:
                self._launch(i, 0.0, stack)
        while stack:  # zero-time roots release their successors
            j = stack.pop()
            for s in self.succ[j]:
                self.waiting[s] -= 1
                if self.waiting[s] == 0:
                    self._launch(s, 0.0, stack)
        self.env.run()
        unfinished = [i for i in range(n) if self.is_node[i] and math.isnan(self.end[i])]
        assert not unfinished, f"event schedule stalled with {len(unfinished)} ops unfinished"
        return self._timeline()

    def _critical_path(self) -> tuple[int, ...]:
        nodes = [i for i in range(len(self.work)) if self.is_node[i]]
        if not nodes:
            return ()
        cur = max(nodes, key=lambda i: (self.end[i], i))
        path = [cur]
        while True:
            cands = list(self.preds[cur])
            if self.lane_pred[cur] >= 0:
                cands.append(self.lane_pred[cur])
            if not cands:
                break
            cur = max(cands, key=lambda j: (self.end[j], j))
            path.append(cur)
        return tuple(reversed(path))

    def _timeline(self) -> Timeline:
        g, n = self.est.graph, len(self.work)
        ends = [self.end[i] for i in range(n) if self.is_node[i]]
        makespan = max(ends, default=0.0)
        self.dram._advance()
        for pool in self.pools.values():
            pool._advance()
        spans = []
        for i, op in enumerate(g.ops):
            lead = self.leader[i]
            w = self.work[lead]
            lane = self.lane_of[lead]
            engine = f"{self.lane_prefix}{lane}" if lane >= 0 else "none"
            how = "fused" if lead != i else self.how[i]
            unit = "fused" if lead != i else (w.unit if w is not None else "none")
            dram = w.dram_bytes if (w is not None and lead == i) else 0.0
            spans.append(Span(i, op.name, engine, self.start[lead], self.end[lead], dram, unit,
                              how))
        util: dict[str, float] = {}
        if makespan > 0.0:
            for k, busy in enumerate(self.lane_busy):
                util[f"{self.lane_prefix}{k}"] = busy / makespan
            if self.host is not None:
                util["host"] = self.host_busy / makespan
            if self.sm is not None:
                util["sm"] = self.sm_seconds / (self.sm_count * makespan)
            util["dram"] = self.dram.busy_integral / makespan
            for name, pool in self.pools.items():
                util[name] = pool.busy_integral / makespan
            for k in range(self.n_dma):
                util[f"dma{k}"] = self.dma_busy[k] / makespan
        series = tuple((t, bw) for t, bw in (self.dram.series or ()))
        if series and series[-1][1] != 0.0:
            series += ((makespan, 0.0),)
        return Timeline(
            hardware=self.hw.name, hardware_kind=self.kind, policy=self.policy,
            makespan_s=makespan, spans=tuple(spans), tiles=tuple(self.tile_spans),
            utilisation=util, dram_series=series, dram_capacity_bytes_per_s=self.mem_capacity,
            critical_path=self._critical_path(), onchip_name=self.onchip_name,
            onchip_capacity_bytes=self.onchip_capacity, onchip_peak_bytes=self.onchip_peak,
            onchip_series=tuple(self.onchip_series), notes=tuple(self.notes),
            counters=dict(self.counters))


def run_event_schedule(est, hw: HardwareSpec, rows, policy=None, common: Mapping | None = None) -> SimResult:
    """Simulate ``est`` (from :func:`codesign.simulation.estimate_costs`) on ``hw`` and return a
    SimResult with ``engine="event"``, ``makespan_s``, rows carrying ``engine, start_s, end_s``
    and ``timeline`` (a :class:`Timeline`)."""
    sim = EventSimulation(est, hw, policy)
    tl = sim.run()
    new_rows = tuple(replace(r, engine=s.engine, start_s=s.start_s, end_s=s.end_s)
                     for r, s in zip(rows, tl.spans))
    return SimResult(engine="event", rows=new_rows, makespan_s=tl.makespan_s, timeline=tl,
                     **dict(common or {}))
