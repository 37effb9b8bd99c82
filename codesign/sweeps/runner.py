"""Co-design sweeps: a YAML spec -> one row per (workload variant x hardware config x dtype x
mode) point, resumable, in-process, on local processes or on a Dask cluster.

Pipeline (each step a typed function call):

``load_sweep_spec -> plan_points -> (skip finished chunks) -> trace variants ->
evaluate_chunk per chunk (any backend) -> Parquet part per chunk -> results + Pareto front``

* **Points.** ``workloads[i]`` x ``hardware[j]`` x dtype x mode x layout blocks; inside a
  block the workload-knob grid, then batch, then the hardware-knob grid (last knob fastest).
  Grid search takes every point; random search draws ``samples`` points without replacement
  from the valid points (seeded). Combinations a preset cannot run (dtype / layout not in its
  spec) are skipped and counted in the summary.
* **Evaluation.** Each workload variant (knobs + batch) is traced once. The analytical engine
  is evaluated vectorized: one :func:`estimate_costs` call per run of points that share
  (variant, preset, dtype, mode, layout), with every swept hardware knob an array
  (:meth:`HardwareSpec.with_knobs`); this equals point-by-point :func:`simulate` (tested).
  ``engine: event`` runs :func:`simulate` per point.
* **Chunks and resume.** Points are packed in order into chunks of at most ``chunk_size``
  points and ``PIECES_PER_CHUNK`` runs (a function of the spec only). A chunk's id
  is the hash of its points' ``config_id`` s, the engine and :func:`model_fingerprint` (the
  cost-model code, so a model change recomputes instead of mixing results); its results go
  to ``<out>/parts/<chunk_id>.parquet``, written to a temporary file, fsynced and renamed, so a
  part file exists only when complete. The set of part files *is* the done-list: a rerun skips
  chunks whose part exists (and reads back), traces only the variants still needed, and an
  interrupted sweep loses at most the chunks in flight. ``<out>/manifest.json`` records the
  spec, the chunks and the last summary; ``<out>/.lock`` keeps two sweeps out of one folder.
* **Backends.** In-process (default), ``workers=N`` (a process pool) or ``scheduler=ADDRESS``
  (an existing Dask cluster: graphs are scattered once, chunks submitted as tasks). Workers
  only compute and return frames; the caller writes every part, so the output folder need
  not be shared with the cluster. The returned table is always read back from the part files
  and sorted by ``point``: identical whatever the backend and however often it was resumed.

Result columns: ``point, config_id, workload, <workload knobs>, batch, preset, <hardware
knobs>, dtype, mode, layout, engine``, metrics ``latency_s, throughput_per_s, energy_j,
power_w, dram_bytes, energy_compute_j, energy_sram_j, energy_dram_j, energy_static_j``, graph
facts ``macs, params, ops, unsupported_ops`` and provenance ``preset_hash, codesign_version``.
A knob whose name is taken by another column (``mode`` of nl_block, ``dram_bytes`` capacity of
a preset) is named ``wl.<knob>`` / ``hw.<knob>``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shlex
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional, Union

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from codesign.hardware.spec import HardwareSpec

from codesign.capture.cache import TraceCache
from codesign.errors import CodesignError
from codesign.results.manifest import ResultKind, stamp
from codesign.results.paths import check_output_dir
from codesign.sweeps.spec import METRICS, SweepPlan, load_sweep_spec
from codesign.sweeps.workers import SweepBackendError

METRIC_COLUMNS = ("latency_s", "throughput_per_s", "energy_j", "power_w", "dram_bytes",
                  "energy_compute_j", "energy_sram_j", "energy_dram_j", "energy_static_j")
GRAPH_COLUMNS = ("macs", "params", "ops", "unsupported_ops")
#: peak memory of the point (codesign/results/memory.py) and whether it fits the device's DRAM
MEMORY_COLUMNS = ("peak_memory_bytes", "fits_memory")
PROVENANCE_COLUMNS = ("preset_hash", "codesign_version")
FIXED_COLUMNS = ("point", "config_id", "workload", "batch", "preset", "dtype", "mode", "layout",
                 "engine")
#: a chunk closes at chunk_size points or this many pieces: each piece is one estimate_costs
#: call whose fixed cost (Python over every op) dominates small pieces, so many small pieces
#: spread over several chunks (and workers) instead of one
PIECES_PER_CHUNK = 8
RESERVED = frozenset(FIXED_COLUMNS + METRIC_COLUMNS + GRAPH_COLUMNS + MEMORY_COLUMNS
                     + PROVENANCE_COLUMNS)


def _version() -> str:
    from codesign import __version__

    return __version__


def model_fingerprint() -> str:
    """Hash of the code that turns a graph into numbers (cost models, fusion, energy,
    schedules): part of every chunk id, so a rerun after a model change recomputes instead of
    mixing old and new results."""
    here = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(_version().encode())
    files = [here / f for f in ("simulation.py", "ir/fusion.py", "ir/graph.py", "results/records.py",
                                "results/memory.py")]
    files += sorted((here / "cost").glob("*.py")) + sorted((here / "schedule").glob("*.py"))
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _sha(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _canon(v: Any) -> Any:
    """JSON-stable form of a knob value (numbers as floats so 108 and 108.0 hash alike)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, (tuple, list)):
        return [_canon(x) for x in v]
    return v


def _cell(v: Any) -> Any:
    """A knob value as a result cell: tuples (e.g. NL insertion stages) as "2,3"."""
    return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else v


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Variant:
    """A workload variant: what is traced once (knob values and the input shape with batch)."""

    key: str
    workload: str
    knobs: tuple[tuple[str, Any], ...]
    input_shape: tuple[int, ...]


@dataclass(frozen=True)
class Piece:
    """A run of points sharing (variant, preset, dtype, mode, layout); hardware knob values are
    per point. ``columns`` are the scalar result columns of the run."""

    variant: str
    hardware: int                                # index into plan.hardware
    dtype: str
    mode: str
    layout: str
    knob_columns: tuple[str, ...]                # result column of each hardware knob
    knob_names: tuple[str, ...]                  # knob as with_knobs() takes it
    knob_values: tuple[np.ndarray, ...]          # one array per knob, len = points
    points: np.ndarray                           # global point index, int64
    config_ids: tuple[str, ...]
    columns: tuple[tuple[str, Any], ...]

    def __len__(self) -> int:
        return len(self.points)

    def slice(self, a: int, b: int) -> "Piece":
        return Piece(self.variant, self.hardware, self.dtype, self.mode, self.layout,
                     self.knob_columns, self.knob_names,
                     tuple(v[a:b] for v in self.knob_values), self.points[a:b],
                     self.config_ids[a:b], self.columns)


@dataclass(frozen=True)
class ChunkTask:
    """What a worker needs besides the traced graphs: the pieces and the base presets."""

    chunk_id: str
    engine: str
    pieces: tuple[Piece, ...]
    hardware: Mapping[int, Any]                  # hardware index -> base HardwareSpec

    @property
    def points(self) -> int:
        return sum(len(p) for p in self.pieces)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.variant for p in self.pieces))


@dataclass(frozen=True)
class PointPlan:
    chunks: tuple[ChunkTask, ...]
    variants: Mapping[str, Variant]
    points: int
    skipped: tuple[tuple[str, int], ...]         # (reason, points)
    space: int                                   # valid points before random sampling
    workload_columns: Mapping[tuple[int, str], str]
    hardware_columns: Mapping[tuple[int, str], str]
    column_types: Mapping[str, frozenset]        # knob column -> Python types of its values


def _column_names(plan: SweepPlan) -> tuple[dict, dict]:
    wl_names = {k for w in plan.workloads for k in w.knob_names}
    hw_names = {k for h in plan.hardware for k in h.knob_names}
    wl_cols = {(w.index, k): (f"wl.{k}" if k in RESERVED or k in hw_names else k)
               for w in plan.workloads for k in w.knob_names}
    hw_cols = {(h.index, k): (f"hw.{k}" if k in RESERVED or k in wl_names else k)
               for h in plan.hardware for k in h.knob_names}
    return wl_cols, hw_cols


def plan_points(plan: SweepPlan, chunk_size: Optional[int] = None) -> PointPlan:
    """Enumerate (or sample) the points and pack them into chunks; traces nothing."""
    chunk_size = chunk_size or plan.chunk_size
    version = _version()
    fingerprint = model_fingerprint()
    wl_cols, hw_cols = _column_names(plan)
    skipped: Counter = Counter()
    blocks = []                                  # (offset, wl, hw, dtype, mode, layout, combos, batches, H)
    total = 0
    for wl in plan.workloads:
        combos = list(itertools.product(*(v for _, v in wl.knobs)))
        batches = plan.batches or (wl.input_shape[0],)
        for hw in plan.hardware:
            H = hw.grid_size
            for dt, md, ly in itertools.product(plan.dtypes, plan.modes, plan.layouts):
                size = len(combos) * len(batches) * H
                if dt not in hw.spec.dtypes:
                    skipped[f"dtype {dt} on {hw.preset} (supported: {', '.join(hw.spec.dtypes)})"] += size
                    continue
                if ly not in hw.spec.layouts:
                    skipped[f"layout {ly} on {hw.preset} (supported: {', '.join(hw.spec.layouts)})"] += size
                    continue
                blocks.append((total, wl, hw, dt, md, ly, combos, batches, H))
                total += size
    if total == 0:
        raise CodesignError(f"{plan.file}: every point of the sweep is skipped: "
                            + "; ".join(skipped))
    if plan.strategy == "random" and plan.samples < total:
        rng = np.random.default_rng(plan.seed)
        selected = np.sort(rng.choice(total, size=plan.samples, replace=False)).astype(np.int64)
    else:
        selected = np.arange(total, dtype=np.int64)

    variants: dict[str, Variant] = {}
    pieces: list[Piece] = []
    starts = np.searchsorted(selected, [b[0] for b in blocks] + [total])
    for bi, (offset, wl, hw, dt, md, ly, combos, batches, H) in enumerate(blocks):
        local = selected[starts[bi]:starts[bi + 1]] - offset
        if local.size == 0:
            continue
        groups = local // H
        h_index = local % H
        dims = tuple(len(v) for _, v in hw.knobs)
        grids = np.unravel_index(h_index, dims) if dims else ()
        knob_arrays = tuple(np.asarray(vals)[g] for (_, vals), g in zip(hw.knobs, grids))
        bounds = np.flatnonzero(np.diff(groups)) + 1
        for a, b in zip(np.r_[0, bounds], np.r_[bounds, local.size]):
            g = int(groups[a])
            combo, batch = combos[g // len(batches)], batches[g % len(batches)]
            shape = (int(batch),) + tuple(wl.input_shape[1:])
            knobs = tuple(zip(wl.knob_names, combo))
            vkey = _sha(json.dumps([wl.workload, [[k, _canon(v)] for k, v in knobs], shape]))
            variants.setdefault(vkey, Variant(vkey, wl.workload, knobs, shape))
            common = {"workload": wl.workload, "knobs": {k: _canon(v) for k, v in knobs},
                      "input": list(shape), "preset": hw.spec.name,
                      "preset_hash": hw.spec.spec_hash(), "dtype": dt, "mode": md, "layout": ly,
                      "engine": plan.engine}
            prefix = json.dumps(common, sort_keys=True)
            vals = tuple(v[a:b] for v in knob_arrays)
            names = hw.knob_names
            ids = tuple(
                _sha(prefix + json.dumps({k: _canon(x) for k, x in zip(names, row)}, sort_keys=True))
                for row in (zip(*(v.tolist() for v in vals)) if vals else [()] * int(b - a)))
            columns = (("workload", wl.workload),
                       *((wl_cols[(wl.index, k)], _cell(v)) for k, v in knobs),
                       ("batch", int(batch)), ("preset", hw.preset), ("dtype", dt), ("mode", md),
                       ("layout", ly), ("engine", plan.engine),
                       ("preset_hash", hw.spec.spec_hash()), ("codesign_version", version))
            pieces.append(Piece(vkey, hw.index, dt, md, ly,
                                tuple(hw_cols[(hw.index, k)] for k in names), names, vals,
                                selected[starts[bi] + a:starts[bi] + b], ids, columns))

    chunks: list[ChunkTask] = []
    current: list[Piece] = []
    room = chunk_size

    def close():
        nonlocal current, room
        if current:
            ids = "\n".join(i for p in current for i in p.config_ids)
            cid = _sha(f"{fingerprint}\n{plan.engine}\n{ids}")
            hws = {p.hardware: plan.hardware[p.hardware].spec for p in current}
            chunks.append(ChunkTask(cid, plan.engine, tuple(current), hws))
        current, room = [], chunk_size

    for p in pieces:
        a = 0
        while a < len(p):
            take = min(room, len(p) - a)
            current.append(p.slice(a, a + take))
            a += take
            room -= take
            if room == 0 or len(current) == PIECES_PER_CHUNK:
                close()
    close()
    types: dict[str, set] = {}
    for w in plan.workloads:
        for k, vals in w.knobs:
            types.setdefault(wl_cols[(w.index, k)], set()).update(
                str if isinstance(v, tuple) else type(v) for v in vals)
    for h in plan.hardware:
        for k, vals in h.knobs:
            types.setdefault(hw_cols[(h.index, k)], set()).update(type(v) for v in vals)
    return PointPlan(tuple(chunks), variants, int(selected.size), tuple(skipped.items()),
                     total, wl_cols, hw_cols, {k: frozenset(v) for k, v in types.items()})


# --------------------------------------------------------------------------- evaluation


def _full(x, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()


def _metrics_vectorized(graph, hw: HardwareSpec, piece: Piece) -> dict[str, np.ndarray]:
    """Analytical metrics of every point of ``piece`` in one estimate_costs call."""
    from codesign.simulation import estimate_costs, make_context

    n = len(piece)
    spec = hw.with_knobs(dict(zip(piece.knob_names, piece.knob_values))) if piece.knob_names else hw
    est = estimate_costs(graph, spec, make_context(spec, piece.dtype, piece.mode, piece.layout))
    parts = {"energy_compute_j": 0.0, "energy_sram_j": 0.0, "energy_dram_j": 0.0,
             "energy_static_j": 0.0}
    for e in est.energies:
        if e is not None:
            parts["energy_compute_j"] = parts["energy_compute_j"] + e.compute_j
            parts["energy_sram_j"] = parts["energy_sram_j"] + e.sram_j
            parts["energy_dram_j"] = parts["energy_dram_j"] + e.dram_j
            parts["energy_static_j"] = parts["energy_static_j"] + e.static_j
    out = {"latency_s": _full(est.latency_s, n), "energy_j": _full(est.energy_j, n),
           "dram_bytes": _full(est.dram_bytes, n)}
    out.update({k: _full(v, n) for k, v in parts.items()})
    return out


def _metrics_event(graph, hw: HardwareSpec, piece: Piece) -> dict[str, np.ndarray]:
    """Event-engine metrics, one simulate() per point."""
    from codesign.simulation import simulate

    cols: dict[str, list] = {k: [] for k in ("latency_s", "energy_j", "dram_bytes",
                                             "energy_compute_j", "energy_sram_j",
                                             "energy_dram_j", "energy_static_j")}
    for i in range(len(piece)):
        knobs = {k: v[i].item() for k, v in zip(piece.knob_names, piece.knob_values)}
        r = simulate(graph, hw.with_knobs(knobs) if knobs else hw, dtype=piece.dtype,
                     mode=piece.mode, engine="event", layout=piece.layout)
        cols["latency_s"].append(r.latency_s)
        cols["energy_j"].append(r.energy_j)
        cols["dram_bytes"].append(sum(x.dram_read_bytes + x.dram_write_bytes for x in r.rows))
        cols["energy_compute_j"].append(sum(x.energy_compute_j for x in r.rows))
        cols["energy_sram_j"].append(sum(x.energy_sram_j for x in r.rows))
        cols["energy_dram_j"].append(sum(x.energy_dram_j for x in r.rows))
        cols["energy_static_j"].append(r.static_energy_j)
    return {k: np.asarray(v, dtype=float) for k, v in cols.items()}


def _memory_columns(graph, hw: HardwareSpec, piece: Piece) -> dict[str, np.ndarray]:
    """Peak memory (independent of the hardware knobs) and whether it fits ``dram_bytes``,
    which may itself be a swept knob."""
    from codesign.results.memory import memory_footprint

    n = len(piece)
    peak = memory_footprint(graph, hw, piece.dtype).total_bytes
    knobs = dict(zip(piece.knob_names, piece.knob_values))
    device = np.asarray(knobs.get("dram_bytes", hw.dram_bytes), dtype=float)
    return {"peak_memory_bytes": np.full(n, peak, dtype=np.int64),
            "fits_memory": np.broadcast_to(peak <= device, (n,)).copy()}


def evaluate_chunk(task: ChunkTask, *graphs) -> "pd.DataFrame":
    """Evaluate one chunk; ``graphs`` are the OpGraphs of ``task.variants`` in that order.
    A pure function of its arguments: runs the same in-process, in a pool or on Dask."""
    import pandas as pd

    by_key = dict(zip(task.variants, graphs))
    frames = []
    for piece in task.pieces:
        graph = by_key[piece.variant]
        n = len(piece)
        evaluate = _metrics_event if task.engine == "event" else _metrics_vectorized
        m = evaluate(graph, task.hardware[piece.hardware], piece)
        cols = dict(piece.columns)
        lat = m["latency_s"]
        with np.errstate(divide="ignore", invalid="ignore"):
            m["throughput_per_s"] = np.where(lat > 0, cols["batch"] / lat, np.inf)
            m["power_w"] = np.where(lat > 0, m["energy_j"] / lat, np.nan)
        data: dict[str, Any] = {"point": piece.points, "config_id": list(piece.config_ids)}
        data.update({k: [v] * n for k, v in piece.columns})
        data.update(zip(piece.knob_columns, piece.knob_values))
        data.update({k: m[k] for k in METRIC_COLUMNS})
        data.update({"macs": graph.macs, "params": graph.params, "ops": len(graph.ops),
                     "unsupported_ops": len(graph.unsupported)})
        data.update(_memory_columns(graph, task.hardware[piece.hardware], piece))
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


# --------------------------------------------------------------------------- output folder


class _Store:
    """The output folder: part files (the done-list), manifest, lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts = root / "parts"

    def part(self, chunk_id: str) -> Path:
        return self.parts / f"{chunk_id}.parquet"

    def is_done(self, task: ChunkTask) -> bool:
        """A part counts as done when it exists and its footer reads with the expected rows
        (a file damaged from outside is recomputed, never trusted)."""
        p = self.part(task.chunk_id)
        if not p.is_file():
            return False
        try:
            import pyarrow.parquet as pq

            return pq.read_metadata(p).num_rows == task.points
        except Exception:  # noqa: BLE001 - any unreadable part is simply not done
            return False

    def write_atomic(self, path: Path, write: Callable[[Path], None]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            write(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def write_part(self, chunk_id: str, frame) -> None:
        self.write_atomic(self.part(chunk_id), lambda p: frame.to_parquet(p, index=False))

    def write_json(self, name: str, data: Mapping) -> None:
        text = json.dumps(data, indent=1, sort_keys=False, default=str)
        self.write_atomic(self.root / name, lambda p: p.write_text(text, encoding="utf-8"))

    def clean_temporaries(self) -> None:
        for d in (self.root, self.parts):
            for p in d.glob(".*.tmp"):
                p.unlink(missing_ok=True)

    @contextmanager
    def locked(self):
        self.parts.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")
        try:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # no fcntl (Windows): no protection against a second sweep
                pass
            except OSError:
                raise CodesignError(f"{self.root}: another sweep is writing to this folder") from None
            yield self
        finally:
            fh.close()


# --------------------------------------------------------------------------- backends


def _run_inprocess(tasks, graphs) -> Iterator[tuple[ChunkTask, Any]]:
    for t in tasks:
        yield t, evaluate_chunk(t, *(graphs[k] for k in t.variants))


def _run_processes(tasks, graphs, workers: int) -> Iterator[tuple[ChunkTask, Any]]:
    """Local worker processes started as ``python -m codesign.sweeps.workers``: they never
    import the caller's ``__main__`` (a plain script without a ``__main__`` guard works) and
    end when this process dies (see :mod:`codesign.sweeps.workers`)."""
    from codesign.sweeps.workers import run_local

    return run_local(tasks, graphs, workers)


_SCHEDULER_RE = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})/?$")


def check_scheduler_address(address: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a Dask scheduler address, or one line saying what is expected."""
    m = _SCHEDULER_RE.match(address.strip()) if isinstance(address, str) else None
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise CodesignError(f"--scheduler {address!r}: expected a Dask scheduler address "
                            "SCHEME://HOST:PORT, e.g. tcp://10.0.0.5:8786 (scheme tcp, tls, ws, "
                            "wss or ucx; port 1-65535)")
    return m.group(1) or "tcp", m.group(2).strip("[]"), int(m.group(3))


def probe_scheduler(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (one line) when nothing listens at the scheduler's host:port, before any
    tracing; Dask's own connect retries for its whole timeout and then raises a traceback."""
    import socket

    scheme, host, port = check_scheduler_address(address)
    if scheme == "ucx":
        return
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise CodesignError(f"cannot reach the Dask scheduler at {address} ({reason}); start "
                            "one (`dask scheduler`, then `dask worker ADDRESS`) or fix "
                            "--scheduler") from None


def _run_dask(tasks, graphs, address: str) -> Iterator[tuple[ChunkTask, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise CodesignError("--scheduler needs dask[distributed] installed") from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, ValueError... one line each
        raise CodesignError(f"cannot connect to Dask scheduler {address!r}: "
                            f"{type(e).__name__}: {e}") from None
    futures = []
    try:
        needed = list(dict.fromkeys(k for t in tasks for k in t.variants))
        scattered = dict(zip(needed, client.scatter([graphs[k] for k in needed], hash=False)))
        by_key = {}
        for t in tasks:
            f = client.submit(evaluate_chunk, t, *(scattered[k] for k in t.variants),
                              key=f"codesign-sweep-{t.chunk_id}-{uuid.uuid4().hex[:6]}",
                              pure=False, retries=2)
            futures.append(f)
            by_key[f.key] = t
        for f in as_completed(futures, loop=client.loop):
            try:
                frame = f.result()
            except CodesignError:
                raise
            except Exception as e:  # noqa: BLE001 - killed workers, a lost scheduler, ...
                raise SweepBackendError(
                    f"the Dask cluster at {address} failed ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else 'no message'}); finished chunks "
                    "are kept, rerun the same command to resume") from None
            yield by_key[f.key], frame
    except SweepBackendError:
        raise
    except CodesignError:
        raise
    except (OSError, TimeoutError) as e:       # the scheduler went away while scattering
        raise SweepBackendError(f"lost the Dask scheduler at {address} ({type(e).__name__}: "
                                f"{e}); finished chunks are kept, rerun the same command to "
                                "resume") from None
    finally:
        for f in futures:
            try:
                f.cancel()
            except Exception:  # noqa: BLE001 - the cluster may already be gone
                pass
        try:
            client.close(timeout=5)
        except Exception:  # noqa: BLE001 - the cluster may already be gone
            pass


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class SweepSummary:
    name: str
    output: Path
    points: int
    skipped: tuple[tuple[str, int], ...]
    chunks: int
    computed_chunks: int
    reused_chunks: int
    traced_variants: int
    elapsed_s: float
    objectives: tuple[str, ...]
    best: Mapping[str, Mapping[str, Any]]
    pareto_points: int
    backend: str
    stale_parts: int = 0                         # part files of an earlier spec / model, ignored
    unfit_points: int = 0                        # points whose peak memory exceeds the device's
    infeasible_points: int = 0                   # points the spec's constraints exclude

    @property
    def skipped_points(self) -> int:
        return sum(n for _, n in self.skipped)


@dataclass(frozen=True)
class SweepRun:
    frame: Any                                   # pandas.DataFrame, one row per point
    pareto: Any                                  # the rows on the Pareto front
    summary: SweepSummary
    plan: SweepPlan = field(repr=False)


#: seconds between progress lines when stderr is not a terminal (a log, CI, a pipe)
LINE_PROGRESS_INTERVAL_S = 5.0


class _LineProgress:
    """Progress as plain lines on stderr, at most one every ``LINE_PROGRESS_INTERVAL_S`` (plus
    the last), for output that is not a terminal: a sweep in a log or CI is never silent for
    minutes. The subset of rich.progress.Progress that run_sweep uses."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tasks: dict[int, list] = {}              # id -> [description, total, done]
        self.t0 = time.perf_counter()
        self.last = self.t0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float = 0) -> int:
        self.tasks[len(self.tasks)] = [description, total, 0]
        return len(self.tasks) - 1

    def advance(self, task: int, n: float = 1) -> None:
        t = self.tasks[task]
        t[2] += n
        now = time.perf_counter()
        if now - self.last >= LINE_PROGRESS_INTERVAL_S or (t[1] and t[2] >= t[1]):
            self.last = now
            pct = f" ({t[2] / t[1]:.0%})" if t[1] else ""
            print(f"{t[0]}: {int(t[2])}/{int(t[1])}{pct}, {now - self.t0:.0f} s elapsed",
                  file=self.stream, flush=True)


def _progress(enabled: Optional[bool]):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(file=sys.stderr)
    if enabled is None and not console.is_terminal:
        return _LineProgress()
    on = console.is_terminal if enabled is None else bool(enabled)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=console, disable=not on, transient=False)


def _trace(variants: Iterable[Variant], cache: Optional[TraceCache] = None) -> dict[str, Any]:
    """Trace each variant once (through ``cache`` for zoo workloads; user factories
    ``file.py:factory`` are never cached: their imports are unknown)."""
    from codesign.capture.references import trace_workload

    out = {}
    for v in variants:
        use = cache if cache is not None and cache.cacheable(v.workload) else None
        key = use.key(v.workload, v.input_shape, knobs=dict(v.knobs)) if use else ""
        graph = use.get(key) if use else None
        if graph is None:
            _, graph = trace_workload(v.workload, dict(v.knobs), v.input_shape)
            if use:
                use.put(key, graph)
        out[v.key] = graph
    return out


def _feasible(frame, constraints):
    """Boolean mask of the points the spec's ``constraints`` allow (None: no constraint)."""
    if constraints is None or not (constraints.fits_memory
                                   or constraints.max_peak_memory_bytes is not None):
        return None
    mask = np.ones(len(frame), dtype=bool)
    if constraints.fits_memory:
        mask &= frame["fits_memory"].astype(bool).to_numpy()
    if constraints.max_peak_memory_bytes is not None:
        mask &= frame["peak_memory_bytes"].astype(float).to_numpy() <= constraints.max_peak_memory_bytes
    return mask


def _tidy(frame, pp: PointPlan):
    """Knob columns NaN-filled across presets / workloads back to nullable ints or booleans
    where the spec gave only those; mixed-type knob columns to strings (Parquet needs one type)."""
    import pandas as pd

    for col, types in pp.column_types.items():
        s = frame[col]
        if len(types) > 1 and not types <= {int, float}:
            frame[col] = s.map(lambda x: None if pd.isna(x) else str(x)).astype(object)
        elif types == {int} and s.dtype.kind == "f":
            frame[col] = s.astype(pd.Int64Dtype())
        elif types == {bool} and s.dtype == object:
            frame[col] = s.astype(pd.BooleanDtype())
    return frame


def _order_columns(frame, plan: SweepPlan, pp: PointPlan):
    wl_cols = list(dict.fromkeys(pp.workload_columns.values()))
    hw_cols = list(dict.fromkeys(pp.hardware_columns.values()))
    order = (["point", "config_id", "workload", *wl_cols, "batch", "preset", *hw_cols, "dtype",
              "mode", "layout", "engine", *METRIC_COLUMNS, *GRAPH_COLUMNS, *MEMORY_COLUMNS,
              *PROVENANCE_COLUMNS])
    for c in order:
        if c not in frame:
            frame[c] = None
    return frame[order]


def run_sweep(spec: Union[str, os.PathLike, Mapping[str, Any]], workers: Optional[int] = None,
              scheduler: Optional[str] = None, output: Union[str, os.PathLike, None] = None,
              progress: Optional[bool] = None, *, chunk_size: Optional[int] = None,
              on_chunk: Optional[Callable[[str, int, int], None]] = None,
              trace_cache: Union[TraceCache, str, os.PathLike, None] = None) -> SweepRun:
    """Run (or resume) a sweep; see the module docstring. ``on_chunk(chunk_id, done, total)``
    is called after each newly computed chunk's part file is written."""
    import pandas as pd

    from codesign.results.pareto import pareto_front_by

    t0 = time.perf_counter()
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise CodesignError(f"workers = {workers!r}; expected a positive integer")
    if workers not in (None, 1) and scheduler:
        raise CodesignError("give either workers (local processes) or scheduler (a Dask cluster), not both")
    if chunk_size is not None and chunk_size < 1:
        raise CodesignError(f"chunk_size = {chunk_size!r}; expected a positive integer")
    if scheduler:
        probe_scheduler(scheduler)               # before the spec pulls in torch
    if output is not None:                       # before the spec pulls in torch
        check_output_dir(output, what="sweep output")
    plan = load_sweep_spec(spec)
    cache = TraceCache.of(trace_cache)
    out = Path(output if output is not None else (plan.output or Path("reports") / plan.name))
    check_output_dir(out, what="sweep output")
    pp = plan_points(plan, chunk_size)
    store = _Store(out)
    backend = f"dask {scheduler}" if scheduler else (f"{workers} processes" if workers and workers > 1
                                                      else "in-process")
    with store.locked():
        store.clean_temporaries()
        manifest = {
            **stamp(ResultKind.SWEEP, {"results": "results.parquet", "pareto": "pareto.parquet"}),
            "name": plan.name, "spec_file": plan.file, "spec": plan.raw,
            "codesign_version": _version(), "model_fingerprint": model_fingerprint(),
            "engine": plan.engine, "points": pp.points,
            "skipped": dict(pp.skipped), "chunks": [{"id": c.chunk_id, "points": c.points}
                                                    for c in pp.chunks],
        }
        store.write_json("manifest.json", manifest)
        current = {c.chunk_id for c in pp.chunks}
        stale = sum(1 for p in store.parts.glob("*.parquet") if p.stem not in current)
        pending = [c for c in pp.chunks if not store.is_done(c)]
        reused = len(pp.chunks) - len(pending)
        needed = {k for c in pending for k in c.variants}
        computed = 0
        with _progress(progress) as bar:
            graphs = {}
            if needed:
                tr = bar.add_task("tracing", total=len(needed))
                for key in sorted(needed, key=list(pp.variants).index):
                    graphs.update(_trace([pp.variants[key]], cache))
                    bar.advance(tr)
            task = bar.add_task(f"sweep {plan.name}", total=sum(c.points for c in pending))
            if scheduler:
                results = _run_dask(pending, graphs, scheduler)
            elif workers and workers > 1 and len(pending) > 1:
                results = _run_processes(pending, graphs, workers)
            else:
                results = _run_inprocess(pending, graphs)
            try:
                for chunk, frame in results:
                    store.write_part(chunk.chunk_id, frame)
                    computed += 1
                    bar.advance(task, chunk.points)
                    if on_chunk is not None:
                        on_chunk(chunk.chunk_id, computed, len(pending))
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()

        frames = [pd.read_parquet(store.part(c.chunk_id)) for c in pp.chunks]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        frame = frame.sort_values("point", kind="stable").reset_index(drop=True)
        frame = _order_columns(_tidy(frame, pp), plan, pp)
        feasible = _feasible(frame, plan.constraints)
        if feasible is not None:
            frame["feasible"] = feasible
        choosable = frame if feasible is None else frame[feasible]
        # one front per (workload, batch): different work is not comparable
        front = pareto_front_by(choosable, plan.objectives, METRICS).reset_index(drop=True)
        store.write_atomic(out / "results.parquet", lambda p: frame.to_parquet(p, index=False))
        store.write_atomic(out / "pareto.parquet", lambda p: front.to_parquet(p, index=False))
        store.write_atomic(out / "pareto.csv", lambda p: front.to_csv(p, index=False))
        best = {}
        for o in plan.objectives:
            col = choosable[o].astype(float) * METRICS[o]
            if col.notna().any():
                row = choosable.loc[col.idxmin()]
                keep = ("config_id", "workload", "batch", "preset", "dtype", "mode", "layout", o,
                        *pp.workload_columns.values(), *pp.hardware_columns.values())
                best[o] = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                           if k in keep and not (np.ndim(v) == 0 and pd.isna(v))}
        summary = SweepSummary(plan.name, out, len(frame), pp.skipped, len(pp.chunks), computed,
                               reused, len(needed), time.perf_counter() - t0, plan.objectives,
                               best, len(front), backend, stale,
                               int((~frame["fits_memory"].astype(bool)).sum())
                               if "fits_memory" in frame else 0,
                               0 if feasible is None else int((~feasible).sum()))
        manifest["summary"] = {
            "points": summary.points, "skipped_points": summary.skipped_points,
            "computed_chunks": computed, "reused_chunks": reused,
            "elapsed_s": round(summary.elapsed_s, 3), "pareto_points": len(front),
            "backend": backend, "complete": True,
        }
        store.write_json("manifest.json", manifest)
    return SweepRun(frame, front, summary, plan)


def sweep(spec_path_or_dict: Union[str, os.PathLike, Mapping[str, Any]],
          workers: Optional[int] = None, scheduler: Optional[str] = None,
          output: Union[str, os.PathLike, None] = None, progress: Optional[bool] = None,
          *, chunk_size: Optional[int] = None,
          on_chunk: Optional[Callable[[str, int, int], None]] = None,
          trace_cache: Union[TraceCache, str, os.PathLike, None] = None):
    """Run or resume the sweep ``spec_path_or_dict`` (YAML path or dict); return one row per
    point (pandas.DataFrame, sorted by ``point``). Results, the Pareto front and a manifest are
    written under ``output`` (default: the spec's ``output``, else ``reports/<name>``).

    ``workers=N`` evaluates on N local processes, ``scheduler="tcp://host:port"`` on an
    existing Dask cluster; ``progress`` None shows a bar when stderr is a terminal.
    ``trace_cache``: a :class:`~codesign.capture.cache.TraceCache` or folder for traced zoo
    graphs (default None: trace every run, write nothing outside ``output``)."""
    return run_sweep(spec_path_or_dict, workers, scheduler, output, progress,
                     chunk_size=chunk_size, on_chunk=on_chunk, trace_cache=trace_cache).frame


# --------------------------------------------------------------------------- CLI


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_summary(s: SweepSummary) -> str:
    lines = [f"sweep {s.name}: {s.points} points in {s.elapsed_s:.2f} s ({s.backend}); "
             f"{s.computed_chunks} chunks computed, {s.reused_chunks} reused, "
             f"{s.traced_variants} workload variants traced"]
    if s.skipped:
        lines.append(f"skipped {s.skipped_points} points: "
                     + "; ".join(f"{r} x{n}" for r, n in s.skipped))
    for o, row in s.best.items():
        rest = ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k not in (o, "config_id"))
        lines.append(f"best {o}: {_fmt(row[o])} ({rest}; config {row['config_id']})")
    lines.append(f"pareto front over {', '.join(s.objectives)} (per workload and batch): "
                 f"{s.pareto_points} points")
    if s.infeasible_points:
        lines.append(f"constraints excluded {s.infeasible_points} points from the front and the "
                     "best configurations (column feasible is false)")
    elif s.unfit_points:
        lines.append(f"warning: {s.unfit_points} points need more memory than their device has "
                     "(column fits_memory is false; filter them before choosing)")
    if s.stale_parts:
        lines.append(f"ignored {s.stale_parts} part files of an earlier spec or model version in "
                     f"{s.output / 'parts'} (safe to delete)")
    lines.append(f"results: {s.output / 'results.parquet'} (parts in {s.output / 'parts'}), "
                 f"pareto: {s.output / 'pareto.parquet'} and pareto.csv")
    return "\n".join(lines)


def resume_command(args) -> str:
    """The command line that resumes the sweep ``args`` describes."""
    argv = ["codesign", "sweep", str(args.spec)]
    if args.out:
        argv += ["--out", str(args.out)]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    if args.scheduler:
        argv += ["--scheduler", str(args.scheduler)]
    if args.chunk_size:
        argv += ["--chunk-size", str(args.chunk_size)]
    return " ".join(shlex.quote(a) for a in argv)


__all__ = ["sweep", "run_sweep", "plan_points", "evaluate_chunk",
           "format_summary", "SweepRun", "SweepSummary", "ChunkTask", "Piece", "PointPlan",
           "METRIC_COLUMNS"]
