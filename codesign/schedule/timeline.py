"""The outcome of an event schedule: when each op (and tile) ran where, how busy each engine
was, DRAM bandwidth over time and the critical path; exported as Chrome trace JSON.

Times are seconds from the start of the run. A ``Span`` is one op of the graph (fused members
carry their leader's times and engine, unsupported ops are zero-length spans on engine
``"none"``); a ``TileSpan`` is one stage (``dma_in``, ``compute``, ``dma_out``) of one tile of a
pipelined op, recorded when the policy asks for tiles. Everything here is plain data: the
simulation in :mod:`codesign.schedule.event` fills it, reports read it.

Chrome trace format: the "JSON Array/Object Format" of the Trace Event Format (Google,
"Trace Event Format" doc), ``ph: "X"`` complete events with ``ts``/``dur`` in microseconds,
``ph: "M"`` thread names, ``ph: "C"`` counters; opens in https://ui.perfetto.dev and
chrome://tracing.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass, field
from typing import Mapping

#: process ids of the trace: ops on their lanes, the hardware engines (tiles), counters
_PID_OPS, _PID_ENGINES = 1, 2
_US = 1e6  # trace timestamps are microseconds


@dataclass(frozen=True, slots=True)
class Span:
    """One op on the timeline. ``how``: ``kernel`` (one process: overhead, then compute and
    DRAM traffic side by side), ``tiles`` (DMA-in / compute / DMA-out pipeline), ``fused``
    (member of a fused group: leader's times), ``zero`` (no cost, e.g. unsupported)."""

    index: int
    name: str
    engine: str
    start_s: float
    end_s: float
    dram_bytes: float
    unit: str
    how: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class TileSpan:
    """One stage of one tile of a pipelined op."""

    op: int
    tile: int
    stage: str          # dma_in | compute | dma_out
    engine: str         # dma0.. | hvx | hmx | mac_array | ...
    start_s: float
    end_s: float
    bytes: float


@dataclass(frozen=True)
class Timeline:
    """Per-op spans, optional tile spans, engine utilisation, DRAM bandwidth series and the
    critical path of one event-driven run.

    ``dram_series`` is piecewise constant: ``(t_s, bytes_per_s)`` holds from ``t_s`` to the next
    point. ``utilisation`` maps an engine (``stream0``, ``thread1``, ``sm``, ``dram``, ``hvx``,
    ``dma0``, ...) to its busy fraction of the makespan. ``critical_path`` lists op indices
    (group leaders) from first to last: each one waited on the one before it, by a data
    dependency or for the lane it ran on. ``onchip_*`` describe VTCM/SRAM occupancy of tile
    buffers (capacity 0 where the hardware has none modelled)."""

    hardware: str
    hardware_kind: str
    policy: object
    makespan_s: float
    spans: tuple[Span, ...]
    tiles: tuple[TileSpan, ...] = ()
    utilisation: Mapping[str, float] = field(default_factory=dict)
    dram_series: tuple[tuple[float, float], ...] = ()
    dram_capacity_bytes_per_s: float = 0.0
    critical_path: tuple[int, ...] = ()
    onchip_name: str = ""
    onchip_capacity_bytes: float = 0.0
    onchip_peak_bytes: float = 0.0
    onchip_series: tuple[tuple[float, float], ...] = ()
    notes: tuple[str, ...] = ()
    counters: Mapping[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries

    def span(self, index: int) -> Span:
        return self.spans[index]

    def overlap_s(self, a: int, b: int) -> float:
        """Seconds during which ops ``a`` and ``b`` both ran (0 when disjoint)."""
        x, y = self.spans[a], self.spans[b]
        return max(0.0, min(x.end_s, y.end_s) - max(x.start_s, y.start_s))

    def concurrent(self, indices) -> bool:
        """True when every pair of the given ops overlaps in time for a positive duration."""
        idx = list(indices)
        return all(self.overlap_s(a, b) > 0.0 for i, a in enumerate(idx) for b in idx[i + 1:])

    def engines(self) -> tuple[str, ...]:
        """Lanes that ran ops, in first-use order."""
        seen: dict[str, None] = {}
        for s in self.spans:
            if s.how in ("kernel", "tiles"):
                seen.setdefault(s.engine, None)
        return tuple(seen)

    def dram_bandwidth_at(self, t_s: float) -> float:
        """DRAM bytes/s flowing at time ``t_s`` (0 before the first transfer)."""
        times = [p[0] for p in self.dram_series]
        i = bisect.bisect_right(times, t_s) - 1
        return self.dram_series[i][1] if i >= 0 else 0.0

    def dram_bytes_moved(self) -> float:
        """Integral of the DRAM series over the run."""
        total = 0.0
        pts = self.dram_series
        for (t0, bw), (t1, _) in zip(pts, pts[1:]):
            total += bw * (t1 - t0)
        if pts:
            total += pts[-1][1] * max(0.0, self.makespan_s - pts[-1][0])
        return total

    def to_frame(self):
        """One row per op: index, name, engine, start_s, end_s, duration_s, dram_bytes, unit, how,
        on_critical_path."""
        import pandas as pd

        crit = set(self.critical_path)
        return pd.DataFrame(
            [{"index": s.index, "name": s.name, "engine": s.engine, "start_s": s.start_s,
              "end_s": s.end_s, "duration_s": s.duration_s, "dram_bytes": s.dram_bytes,
              "unit": s.unit, "how": s.how, "on_critical_path": s.index in crit}
             for s in self.spans],
            columns=["index", "name", "engine", "start_s", "end_s", "duration_s", "dram_bytes",
                     "unit", "how", "on_critical_path"])

    def tiles_frame(self):
        import pandas as pd

        return pd.DataFrame([{"op": t.op, "tile": t.tile, "stage": t.stage, "engine": t.engine,
                              "start_s": t.start_s, "end_s": t.end_s, "bytes": t.bytes}
                             for t in self.tiles],
                            columns=["op", "tile", "stage", "engine", "start_s", "end_s", "bytes"])

    def summary(self) -> dict:
        return {"hardware": self.hardware, "makespan_s": self.makespan_s,
                "ops": len(self.spans), "tiles": len(self.tiles),
                "utilisation": dict(self.utilisation),
                "critical_path_ops": len(self.critical_path),
                "onchip_peak_bytes": self.onchip_peak_bytes,
                "onchip_capacity_bytes": self.onchip_capacity_bytes, "notes": list(self.notes)}

    # ------------------------------------------------------------------ Chrome trace

    def to_chrome_trace(self) -> dict:
        """Trace Event Format object: ops on one thread per lane (process "ops"), tile stages
        on one thread per engine (process "engines"), DRAM bandwidth and on-chip occupancy as
        counters. Zero-length spans (unsupported / fused ops) are instant events."""
        events: list[dict] = []
        tids: dict[tuple[int, str], int] = {}

        def tid(pid: int, engine: str) -> int:
            key = (pid, engine)
            if key not in tids:
                tids[key] = len([k for k in tids if k[0] == pid]) + 1
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tids[key],
                               "args": {"name": engine}})
                events.append({"ph": "M", "name": "thread_sort_index", "pid": pid,
                               "tid": tids[key], "args": {"sort_index": tids[key]}})
            return tids[key]

        title = f"{self.hardware} ({self.hardware_kind})"
        events.append({"ph": "M", "name": "process_name", "pid": _PID_OPS,
                       "args": {"name": f"ops on {title}"}})
        events.append({"ph": "M", "name": "process_name", "pid": _PID_ENGINES,
                       "args": {"name": f"engines of {title}"}})
        crit = set(self.critical_path)
        for s in self.spans:
            args = {"index": s.index, "dram_bytes": s.dram_bytes, "unit": s.unit, "how": s.how,
                    "critical": s.index in crit}
            ev = {"name": s.name, "cat": s.how, "pid": _PID_OPS,
                  "tid": tid(_PID_OPS, s.engine or "none"), "ts": s.start_s * _US, "args": args}
            if s.end_s > s.start_s:
                ev.update(ph="X", dur=(s.end_s - s.start_s) * _US)
            else:
                ev.update(ph="i", s="t")
            events.append(ev)
        for t in self.tiles:
            events.append({"name": f"{t.stage} #{t.tile} of op {t.op}", "cat": t.stage,
                           "ph": "X", "pid": _PID_ENGINES, "tid": tid(_PID_ENGINES, t.engine),
                           "ts": t.start_s * _US, "dur": (t.end_s - t.start_s) * _US,
                           "args": {"op": t.op, "tile": t.tile, "bytes": t.bytes}})
        for t, bw in self.dram_series:
            events.append({"name": "dram_bandwidth", "ph": "C", "pid": _PID_ENGINES,
                           "ts": t * _US, "args": {"GB/s": bw / 1e9}})
        for t, used in self.onchip_series:
            events.append({"name": f"{self.onchip_name or 'onchip'}_bytes", "ph": "C",
                           "pid": _PID_ENGINES, "ts": t * _US, "args": {"bytes": used}})
        return {
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": {"hardware": self.hardware, "makespan_s": self.makespan_s,
                          "critical_path": list(self.critical_path),
                          "utilisation": dict(self.utilisation), "notes": list(self.notes),
                          "policy": repr(self.policy)},
        }

    def write_chrome_trace(self, path: str | os.PathLike) -> str:
        """Write :meth:`to_chrome_trace` as JSON to ``path`` (folders created); returns the path."""
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_chrome_trace(), fh, separators=(",", ":"))
        return path
