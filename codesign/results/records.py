"""Simulation results: frozen rows that turn into tidy DataFrames (style rule 9)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from codesign.types import Engine

OP_COLUMNS = (
    "index", "name", "module", "kind", "variant", "pattern", "phase", "unit", "fused_into",
    "supported", "macs", "flops", "read_bytes", "write_bytes", "dram_read_bytes",
    "dram_write_bytes", "latency_s", "compute_s", "memory_s", "overhead_s", "bound", "energy_j",
    "energy_compute_j", "energy_sram_j", "energy_dram_j", "energy_static_j",
)
EVENT_COLUMNS = ("engine", "start_s", "end_s")


@dataclass(frozen=True, slots=True)
class OpRow:
    index: int
    name: str
    module: str
    kind: str
    variant: str
    pattern: str
    phase: str
    unit: str
    fused_into: str
    supported: bool
    macs: float
    flops: float
    read_bytes: float
    write_bytes: float
    dram_read_bytes: float
    dram_write_bytes: float
    latency_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    bound: str
    energy_j: float
    energy_compute_j: float
    energy_sram_j: float
    energy_dram_j: float
    energy_static_j: float
    engine: str = ""
    start_s: float = float("nan")
    end_s: float = float("nan")


def op_row(*values) -> OpRow:
    """An analytical row: ``values`` are the :data:`OP_COLUMNS` fields in order (the event
    fields keep their defaults)."""
    if len(values) != len(OP_COLUMNS):
        raise TypeError(f"op_row takes the {len(OP_COLUMNS)} OP_COLUMNS values, got {len(values)}")
    return OpRow(*values)


@dataclass(frozen=True)
class SimResult:
    """Per-op rows and run settings. ``makespan_s`` is set by the event engine (overlap);
    the analytical engine's latency is the sum over ops."""

    workload: str
    hardware: str
    hardware_kind: str
    dtype: str
    mode: str
    layout: str
    engine: str
    batch: int
    rows: tuple[OpRow, ...]
    makespan_s: float | None = None
    fused_ops: int = 0
    timeline: object = field(default=None, compare=False, repr=False)

    @property
    def latency_s(self) -> float:
        if self.makespan_s is not None:
            return self.makespan_s
        return float(sum(r.latency_s for r in self.rows))

    @property
    def throughput_per_s(self) -> float:
        return self.batch / self.latency_s if self.latency_s > 0 else float("inf")

    @property
    def energy_j(self) -> float:
        e = sum(r.energy_j - r.energy_static_j for r in self.rows)
        return float(e + self.static_energy_j)

    @property
    def static_energy_j(self) -> float:
        static = sum(r.energy_static_j for r in self.rows)
        if self.makespan_s is not None:
            busy = sum(r.latency_s for r in self.rows)
            return float(static * self.makespan_s / busy) if busy > 0 else 0.0
        return float(static)

    @property
    def dram_bytes(self) -> float:
        return float(sum(r.dram_read_bytes + r.dram_write_bytes for r in self.rows))

    @property
    def dram_bandwidth_bytes_per_s(self) -> float:
        return self.dram_bytes / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def power_w(self) -> float:
        return self.energy_j / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def macs(self) -> float:
        return float(sum(r.macs for r in self.rows))

    @property
    def unsupported(self) -> tuple[OpRow, ...]:
        return tuple(r for r in self.rows if not r.supported)

    def bound_breakdown(self) -> dict[str, float]:
        """Share of latency by bound (compute / memory / overhead / unsupported)."""
        total = sum(r.latency_s for r in self.rows) or 1.0
        out: dict[str, float] = {}
        for r in self.rows:
            out[r.bound] = out.get(r.bound, 0.0) + r.latency_s / total
        return out

    def energy_breakdown(self) -> dict[str, float]:
        return {
            "compute": float(sum(r.energy_compute_j for r in self.rows)),
            "sram": float(sum(r.energy_sram_j for r in self.rows)),
            "dram": float(sum(r.energy_dram_j for r in self.rows)),
            "static": self.static_energy_j,
        }

    def summary(self) -> dict:
        return {
            "workload": self.workload, "hardware": self.hardware, "dtype": self.dtype,
            "mode": self.mode, "layout": self.layout, "engine": self.engine,
            "batch": self.batch, "latency_s": self.latency_s,
            "throughput_per_s": self.throughput_per_s, "energy_j": self.energy_j,
            "power_w": self.power_w, "dram_bytes": self.dram_bytes,
            "dram_bandwidth_bytes_per_s": self.dram_bandwidth_bytes_per_s, "macs": self.macs,
            "ops": len(self.rows), "fused_ops": self.fused_ops,
            "unsupported_ops": len(self.unsupported),
            "bound_breakdown": self.bound_breakdown(),
            "energy_breakdown_j": self.energy_breakdown(),
        }

    def to_frame(self):
        import pandas as pd

        cols = list(OP_COLUMNS) + (list(EVENT_COLUMNS) if self.engine == Engine.EVENT else [])
        frame = pd.DataFrame([asdict(r) for r in self.rows], columns=[f.name for f in fields(OpRow)])
        frame = frame[cols]
        for k in ("workload", "hardware", "dtype", "mode", "layout", "batch"):
            frame[k] = getattr(self, k)
        return frame
