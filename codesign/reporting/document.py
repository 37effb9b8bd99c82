"""Reports: results (DataFrames or saved result folders) -> report.md + self-contained report.html.

    codesign.report("reports/sweep_nl", out="reports/x")      # a folder written by a command
    codesign.report(sim_result, out="reports/x")              # a SimResult, a list, a DataFrame

What is read (the report never simulates):

- simulate output, written by :func:`save_result` (``codesign simulate --out DIR``):
  ``DIR/result.parquet`` (``result.csv`` where pyarrow is missing) holding
  ``SimResult.to_frame()`` plus a ``sim_engine`` column, and ``DIR/summary.json`` holding
  ``SimResult.summary()`` plus ``hardware_kind``, ``makespan_s`` and the roofline peaks.
  Folders are searched recursively, so a folder of simulate outputs makes one report.
- sweep output: Parquet (or CSV) part files whose rows carry ``latency_s``, ``energy_j`` and
  knob columns (``config_id``, ``preset`` or ``hardware``, ``workload``, ...), plus an optional
  ``pareto.parquet``. Knob names come from a JSON file in the folder with a ``knobs`` list, from
  ``frame.attrs["knobs"]``, or else are the non-metric columns taking 2..50 distinct values.
- validate output: ``validation.json`` and a per-op frame with a measured latency column
  (``measured_latency_s``, or any ``*measured*_s``) beside the estimate (``estimated_latency_s``
  or ``latency_s``).

What is written to ``out``: ``report.md``, ``report.html`` (PNGs embedded as base64, inline
CSS, no network), the PNGs, and ``report.json`` (sections, tables and per-figure title / axis
labels / legend entries, for tests and tools).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from codesign.errors import CodesignError
from codesign.results.manifest import ResultKind, read_manifest, require_columns, write_manifest

RUN_KEYS = ("workload", "hardware", "dtype", "mode", "layout", "batch", "sim_engine")
OP_REQUIRED = ("name", "kind", "latency_s")
#: columns of sweep rows that are never knobs
SWEEP_NON_KNOBS = {
    "config_id", "workload", "preset", "hardware", "hardware_kind", "engine", "sim_engine",
    "latency_s", "energy_j", "dram_bytes", "throughput_per_s", "power_w", "macs", "flops",
    "ops", "fused_ops", "unsupported_ops", "compute_s", "memory_s", "overhead_s",
    "energy_compute_j", "energy_sram_j", "energy_dram_j", "energy_static_j", "pareto",
    "on_front", "is_pareto", "error", "status", "spec_hash", "elapsed_s", "wall_s", "makespan_s",
    "dram_read_bytes", "dram_write_bytes", "static_energy_j", "bound", "part", "seed",
    "point", "params", "preset_hash", "codesign_version", "peak_memory_bytes", "fits_memory",
    "feasible",
}
SWEEP_METRICS = ("latency_s", "energy_j", "dram_bytes")
MEASURED_NAMES = ("measured_latency_s", "latency_measured_s", "measured_s", "meas_latency_s")
ESTIMATED_NAMES = ("estimated_latency_s", "latency_estimated_s", "estimate_latency_s",
                   "est_latency_s", "predicted_latency_s", "estimated_s", "latency_s")
MAX_LAYER_GROUPS = 40
MAX_RUNS_PER_WORKLOAD = 4
MAX_TIMELINES = 4


# =========================================================================== saving

def save_result(result, out_dir) -> Path:
    """Write one SimResult as a simulate output folder (what ``codesign simulate --out`` writes):
    ``result.parquet`` (``result.csv`` without pyarrow) and ``summary.json``. Returns the folder."""
    from codesign.results.records import SimResult

    if not isinstance(result, SimResult):
        raise CodesignError(f"save_result expects a SimResult, got {type(result).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = result.to_frame()
    frame["sim_engine"] = result.engine
    try:
        table = out / "result.parquet"
        frame.to_parquet(table, index=False)
        (out / "result.csv").unlink(missing_ok=True)
    except ImportError:
        table = out / "result.csv"
        frame.to_csv(table, index=False)
    summary = dict(result.summary())
    summary.update(hardware_kind=result.hardware_kind, makespan_s=result.makespan_s,
                   format="codesign.simulate/1")
    roof = _roof_from_preset(result.hardware, result.dtype)
    if roof:
        summary["roofline"] = roof
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n")
    write_manifest(out, ResultKind.SIMULATION, {"ops": table.name}, summary="summary.json")
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            return x.item()
        except (ValueError, AttributeError):
            return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _roof_from_preset(hardware: str, dtype: str) -> dict | None:
    """Peak FLOP/s and DRAM bandwidth of a preset (None where it cannot be loaded)."""
    try:
        from codesign.hardware import load_hardware

        hw = load_hardware(hardware)
        peak = float(hw.peak_macs_per_s(dtype)) * 2
        try:
            vec = float(hw.vector_macs_per_s(dtype)) * 2
        except Exception:  # noqa: BLE001 - a preset without a vector rate still has a roof
            vec = None
        return {"dtype": dtype, "peak_flops_per_s": peak, "vector_flops_per_s": vec,
                "dram_bandwidth_bytes_per_s": float(hw.dram_bandwidth_bytes_per_s)}
    except Exception:  # noqa: BLE001 - unknown / custom hardware: the plot says "roofs unknown"
        return None


# =========================================================================== collecting

@dataclass
class Collected:
    """Everything found in the inputs, as DataFrames."""

    ops: list = field(default_factory=list)            # per-op frames
    summaries: list = field(default_factory=list)      # summary dicts (simulate)
    sweeps: list = field(default_factory=list)         # sweep row frames
    paretos: list = field(default_factory=list)        # pareto frames
    sweep_knobs: list = field(default_factory=list)    # explicit knob names
    validations: list = field(default_factory=list)    # per-op validation frames
    validation_meta: list = field(default_factory=list)
    sources: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.ops or self.sweeps or self.validations or self.validation_meta)


def _measured_col(cols) -> str | None:
    for c in MEASURED_NAMES:
        if c in cols:
            return c
    for c in cols:
        if "measured" in c and c.endswith("_s"):
            return c
    return None


def _estimated_col(cols, measured: str) -> str | None:
    for c in ESTIMATED_NAMES:
        if c in cols and c != measured:
            return c
    for c in cols:
        if ("estimat" in c or "predict" in c) and c.endswith("_s"):
            return c
    return None


def _classify(frame, col: Collected, source: str, is_pareto: bool = False) -> bool:
    cols = set(frame.columns)
    if is_pareto:
        col.paretos.append(frame)
    elif _measured_col(cols):
        col.validations.append(frame)
    elif set(OP_REQUIRED) <= cols:
        require_columns(frame, ResultKind.SIMULATION, "ops", source)
        col.ops.append(frame)
    elif {"latency_s", "energy_j"} <= cols:
        col.sweeps.append(frame)
        knobs = frame.attrs.get("knobs") if hasattr(frame, "attrs") else None
        if knobs:
            col.sweep_knobs.extend(str(k) for k in knobs)
    else:
        return False
    col.sources.append(source)
    return True


def _read_table(path: Path):
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except ImportError as exc:
        raise CodesignError(f"{path}: cannot read Parquet ({exc}); install pyarrow") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file is a user problem: one line
        raise CodesignError(f"{path}: cannot read results: {type(exc).__name__}: {exc}") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CodesignError(f"{path}: not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {"value": data}


def _manifest_knobs(data) -> list[str]:
    """Knob names from a JSON manifest: a ``knobs`` list, or a sweep manifest's ``spec``
    (workload and hardware knobs, and dtype / mode / layout / batch when listed)."""
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("knobs"), (list, dict)):
        return [str(k) for k in data["knobs"]]
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return []
    names: list[str] = []
    for section, prefix in (("workloads", "wl."), ("hardware", "hw.")):
        for item in spec.get(section) or ():
            if isinstance(item, dict) and isinstance(item.get("knobs"), dict):
                for k in item["knobs"]:
                    names += [str(k), prefix + str(k)]
    names += ["dtype", "mode", "layout", "batch"]
    return names


def _collect_manifest(m, col: Collected) -> None:
    """Read one folder by what its manifest says it holds (required columns checked)."""
    kind = m.kind
    if kind is ResultKind.SIMULATION:
        table = m.table("ops")
        frame = _read_table(table)
        require_columns(frame, kind, "ops", str(table))
        col.ops.append(frame)
        col.summaries.append(_read_json(m.folder / m.data.get("summary", "summary.json")))
        col.sources.append(str(table))
    elif kind is ResultKind.SWEEP:
        table = m.table("results")
        if table is not None and table.is_file():
            frames = [(table, _read_table(table))]
        else:  # an interrupted sweep: the finished chunks
            frames = [(t, _read_table(t)) for t in sorted((m.folder / "parts").glob("*.parquet"))]
        for t, frame in frames:
            require_columns(frame, kind, "results", str(t))
            col.sweeps.append(frame)
            col.sources.append(str(t))
        col.sweep_knobs.extend(_manifest_knobs(m.data))
        pareto = m.table("pareto")
        if pareto is not None and pareto.is_file():
            frame = _read_table(pareto)
            require_columns(frame, kind, "pareto", str(pareto))
            col.paretos.append(frame)
    elif kind is ResultKind.VALIDATION:
        col.validation_meta.append(_read_json(m.folder / m.data.get("summary", "validation.json")))
        col.sources.append(str(m.folder / m.data.get("summary", "validation.json")))
        table = m.table("ops")
        if table is not None and table.is_file():
            frame = _read_table(table)
            require_columns(frame, kind, "ops", str(table))
            col.validations.append(frame)


def _collect_dir(root: Path, col: Collected) -> None:
    used: set[Path] = set()
    # folders with a manifest are read by what it says they hold
    described: set[Path] = set()
    for mpath in sorted(root.rglob("manifest.json")):
        if any(p.startswith(".") for p in mpath.relative_to(root).parts):
            continue
        m = read_manifest(mpath)
        if m is not None:
            _collect_manifest(m, col)
            described.add(m.folder)
    if described:
        def under_described(p: Path) -> bool:
            return any(d == p or d in p.parents for d in described)
    else:
        def under_described(p: Path) -> bool:
            return False
    # folders written before manifests existed: recognised by their file names
    # simulate outputs
    for summ in sorted(root.rglob("summary.json")):
        if under_described(summ):
            continue
        for name in ("result.parquet", "result.csv"):
            table = summ.parent / name
            if table.is_file():
                frame = _read_table(table)
                meta = _read_json(summ)
                _classify(frame, col, str(table))
                col.summaries.append(meta)
                used.update({table, summ})
                break
    # validate outputs
    for vjson in sorted(root.rglob("validation.json")):
        if under_described(vjson):
            continue
        col.validation_meta.append(_read_json(vjson))
        col.sources.append(str(vjson))
        used.add(vjson)
    # sweep manifests with knob names
    for js in sorted(root.rglob("*.json")):
        if js in used or js.name in ("report.json",) or under_described(js):
            continue
        try:
            data = json.loads(js.read_text())
        except (OSError, ValueError):
            continue
        col.sweep_knobs.extend(_manifest_knobs(data))
    # every other table (sweep results or parts, pareto, validation frames); a sweep folder's
    # parts/ are skipped where its results.parquet (the same rows, tidied) exists
    for table in sorted(list(root.rglob("*.parquet")) + list(root.rglob("*.csv"))):
        if table in used or under_described(table) or any(
                p.startswith(".") for p in table.relative_to(root).parts):
            continue
        if table.parent.name == "parts" and (table.parent.parent / "results.parquet").is_file():
            continue
        _classify(_read_table(table), col, str(table), is_pareto=table.stem.startswith("pareto"))


def collect(results) -> Collected:
    """Gather frames from a folder / file / SimResult / DataFrame / list of those."""
    import pandas as pd

    from codesign.results.records import SimResult

    col = Collected()
    items = list(results) if isinstance(results, (list, tuple)) else [results]
    if not items:
        raise CodesignError("report: no results given")
    for item in items:
        if isinstance(item, SimResult):
            frame = item.to_frame()
            frame["sim_engine"] = item.engine
            col.ops.append(frame)
            summ = dict(item.summary())
            summ.update(hardware_kind=item.hardware_kind, makespan_s=item.makespan_s)
            col.summaries.append(summ)
            col.sources.append(f"SimResult {item.workload} on {item.hardware}")
        elif isinstance(item, pd.DataFrame):
            if not _classify(item, col, "DataFrame"):
                raise CodesignError(
                    "report: DataFrame not recognised; expected per-op rows (name, kind, "
                    "latency_s), sweep rows (latency_s, energy_j) or validation rows "
                    f"(measured_latency_s); got columns {', '.join(map(str, item.columns[:12]))}")
        elif isinstance(item, (str, Path)):
            path = Path(item)
            if not path.exists():
                raise CodesignError(f"{path}: no such file or directory")
            if path.is_dir():
                _collect_dir(path, col)
            elif path.suffix in (".parquet", ".csv"):
                if not _classify(_read_table(path), col, str(path), is_pareto=path.stem.startswith("pareto")):
                    raise CodesignError(f"{path}: no result columns found (per-op, sweep or validation rows)")
            elif path.name == "validation.json" or path.name == "summary.json":
                _collect_dir(path.parent, col)
            else:
                raise CodesignError(f"{path}: not a results folder or table (.parquet, .csv)")
        else:
            raise CodesignError(f"report: cannot read results of type {type(item).__name__}; "
                                "give a folder, a SimResult, a list of them or a DataFrame")
    if col.empty:
        where = ", ".join(str(i) for i in items if isinstance(i, (str, Path))) or "input"
        raise CodesignError(
            f"{where}: no results found (expected result.parquet + summary.json from simulate, "
            "Parquet parts from sweep, or validation.json from validate)")
    return col


# =========================================================================== shaping

def _fill_run_keys(frame):
    frame = frame.copy()
    for k in ("workload", "hardware", "dtype", "mode", "layout"):
        frame[k] = frame[k].fillna("?").astype(str)
    if "sim_engine" not in frame:  # a bare to_frame(): event runs are those with start times
        frame["sim_engine"] = "analytical"
        if "start_s" in frame:
            keys = ["workload", "hardware", "dtype", "mode", "layout", "batch"]
            timed = frame["start_s"].notna().groupby([frame[k] for k in keys]).transform("any")
            frame.loc[timed.astype(bool), "sim_engine"] = "event"
    for c in ("module", "engine"):
        if c in frame:
            frame[c] = frame[c].fillna("").astype(str)
    if "module" not in frame:
        frame["module"] = ""
    for c in ("macs", "flops", "read_bytes", "write_bytes", "dram_read_bytes", "dram_write_bytes",
              "latency_s", "compute_s", "memory_s", "overhead_s", "energy_j", "energy_compute_j",
              "energy_sram_j", "energy_dram_j", "energy_static_j"):
        frame[c] = frame[c].astype(float).fillna(0.0)   # unsupported ops have no cost: 0
    return frame


def run_label(row) -> str:
    eng = " · event" if row["sim_engine"] == "event" else ""
    batch = f" · b{row['batch']}" if str(row["batch"]) not in ("1", "1.0") else ""
    return f"{row['workload']} · {row['hardware']} · {row['dtype']} · {row['mode']} · {row['layout']}{batch}{eng}"


def layer_groups(modules, max_groups: int = MAX_LAYER_GROUPS, min_groups: int = 8):
    """Module paths -> layer labels: the shallowest prefix depth giving >= ``min_groups``
    groups, capped at ``max_groups`` (ResNet ``layer3.1``, MobileNetV2 ``blocks.7``)."""
    mods = modules.fillna("").astype(str).replace("", "(top)")
    parts = mods.str.split(".")
    depth_max = int(parts.str.len().max() or 1)
    chosen = None
    for d in range(1, depth_max + 1):
        g = parts.str[:d].str.join(".")
        n = g.nunique()
        if n > max_groups:
            break
        chosen = g
        if n >= min_groups:
            break
    return chosen if chosen is not None else parts.str[:1].str.join(".")


def op_frame(col: Collected):
    import pandas as pd

    frame = pd.concat([_fill_run_keys(f) for f in col.ops], ignore_index=True)
    frame["run"] = frame.apply(run_label, axis=1)
    frame["top_module"] = frame["module"].replace("", "(top)").str.split(".").str[0]
    frame["layer"] = ""
    for wl, idx in frame.groupby("workload").groups.items():
        frame.loc[idx, "layer"] = layer_groups(frame.loc[idx, "module"])
    return frame


def run_table(ops):
    """One row per run: totals recomputed from the per-op rows (SimResult semantics: the event
    engine's latency is its makespan and static energy scales with it)."""
    import pandas as pd

    rows = []
    for run, sub in ops.groupby("run", sort=False):
        first = sub.iloc[0]
        busy = float(sub["latency_s"].sum())
        static = float(sub["energy_static_j"].sum())
        if first["sim_engine"] == "event" and "end_s" in sub and sub["end_s"].notna().any():
            latency = float(sub["end_s"].max() - min(sub["start_s"].min(), 0.0))
            static = static * latency / busy if busy > 0 else 0.0
        else:
            latency = busy
        dyn = float((sub["energy_j"] - sub["energy_static_j"]).sum())
        total_lat = busy or 1.0
        bound = sub.groupby("bound")["latency_s"].sum() / total_lat
        rows.append({
            "run": run, **{k: first[k] for k in RUN_KEYS},
            "latency_s": latency, "energy_j": dyn + static,
            "energy_compute_j": float(sub["energy_compute_j"].sum()),
            "energy_sram_j": float(sub["energy_sram_j"].sum()),
            "energy_dram_j": float(sub["energy_dram_j"].sum()), "energy_static_j": static,
            "dram_bytes": float((sub["dram_read_bytes"] + sub["dram_write_bytes"]).sum()),
            "macs": float(sub["macs"].sum()), "ops": len(sub),
            "unsupported_ops": int((~sub["supported"].astype(bool)).sum()),
            "compute_bound": float(bound.get("compute", 0.0)),
            "memory_bound": float(bound.get("memory", 0.0)),
            "overhead_bound": float(bound.get("overhead", 0.0)),
        })
    return pd.DataFrame(rows)


def ccp_pairs(runs) -> list[dict]:
    """Runs that differ only in layout, one of them ``ccp``: the cross-channel-pooling saving."""
    pairs = []
    keys = ["workload", "hardware", "dtype", "mode", "batch", "sim_engine"]
    for _, grp in runs.groupby(keys, sort=False):
        ccp = grp[grp["layout"] == "ccp"]
        base = grp[grp["layout"] != "ccp"]
        if len(ccp) and len(base):
            b, c = base.iloc[0], ccp.iloc[0]
            pairs.append({"workload": b["workload"], "hardware": b["hardware"], "base": b["run"],
                          "ccp": c["run"], "base_layout": b["layout"], "ccp_layout": "ccp",
                          "base_bytes": b["dram_bytes"], "ccp_bytes": c["dram_bytes"],
                          "base_latency_s": b["latency_s"], "ccp_latency_s": c["latency_s"],
                          "base_energy_j": b["energy_j"], "ccp_energy_j": c["energy_j"]})
    return pairs


def roofs_for(hardware: str, dtypes, summaries) -> list[dict]:
    out = []
    for dt in dtypes:
        roof = _roof_from_preset(hardware, dt)
        if roof is None:
            for s in summaries:
                r = s.get("roofline")
                if s.get("hardware") == hardware and isinstance(r, dict) and r.get("dtype") == dt:
                    roof = r
                    break
        if roof:
            out.append(roof)
    return out


# --------------------------------------------------------------------------- sweeps

def _sweep_frame(col: Collected):
    import pandas as pd

    sweep = pd.concat(col.sweeps, ignore_index=True)
    if "config_id" in sweep:
        sweep = sweep.drop_duplicates(subset=[c for c in ("config_id", "workload") if c in sweep], keep="last")
    sweep = sweep[sweep["latency_s"].notna() & sweep["energy_j"].notna()].reset_index(drop=True)
    hw_col = "preset" if "preset" in sweep else ("hardware" if "hardware" in sweep else None)
    if hw_col is None:
        sweep["hardware"] = "(hardware)"
        hw_col = "hardware"
    sweep[hw_col] = sweep[hw_col].astype(str)
    if "workload" in sweep:
        sweep["workload"] = sweep["workload"].astype(str)
    return sweep, hw_col


def sweep_knobs(sweep, explicit) -> list[str]:
    knobs = [k for k in dict.fromkeys(explicit) if k in sweep]
    if not knobs:
        for c in sweep.columns:
            if c in SWEEP_NON_KNOBS or c.startswith("_"):
                continue
            n = sweep[c].nunique(dropna=True)
            if 2 <= n <= 50 and n < len(sweep):
                knobs.append(c)
    # a "knob" that never varies tells nothing
    return [k for k in knobs if sweep[k].nunique(dropna=True) >= 2]


def pareto_mask(sweep, paretos):
    """True for rows on the latency/energy front (from pareto files when given, else computed
    per workload: no other config is both faster and lower-energy)."""
    import numpy as np
    import pandas as pd

    mask = pd.Series(False, index=sweep.index)
    if "pareto" in sweep and sweep["pareto"].dtype == bool:
        return sweep["pareto"].fillna(False)
    if paretos and "config_id" in sweep:
        front = pd.concat(paretos, ignore_index=True)
        if "config_id" in front:
            keys = [c for c in ("config_id", "workload") if c in front and c in sweep]
            m = sweep[keys].merge(front[keys].drop_duplicates(), how="left", indicator=True)
            return pd.Series((m["_merge"] == "both").to_numpy(), index=sweep.index)
    keys = [c for c in ("workload", "batch") if c in sweep]          # one front per batch too
    groups = sweep.groupby(keys).groups if keys else {"": sweep.index}
    for _, idx in groups.items():
        sub = sweep.loc[idx].sort_values(["latency_s", "energy_j"])
        best = np.inf
        for i, e in zip(sub.index, sub["energy_j"]):
            if e < best:
                mask[i] = True
                best = e
    return mask


def sensitivity(sweep, hw_col: str, knobs: list, metrics: list):
    """knobs x metrics: median over (workload, hardware) groups of max/min of the metric's
    median per knob value (1 = the knob does not move the metric)."""
    import numpy as np
    import pandas as pd

    group_cols = [c for c in ("workload", hw_col) if c in sweep]
    table = pd.DataFrame(index=knobs, columns=metrics, dtype=float)
    for k in knobs:
        for m in metrics:
            ratios = []
            for _, sub in sweep.groupby(group_cols):
                sub = sub[sub[k].notna() & (sub[m] > 0)]
                if sub[k].nunique() < 2:
                    continue
                med = sub.groupby(k)[m].median()
                if med.min() > 0:
                    ratios.append(float(med.max() / med.min()))
            table.loc[k, m] = float(np.median(ratios)) if ratios else np.nan
    return table


# =========================================================================== formatting

def _sig(x, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "n/a"
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def _pct(x) -> str:
    return f"{float(x) * 100:.0f}%" if x == x else "n/a"


@dataclass
class Section:
    id: str
    title: str
    text: list = field(default_factory=list)
    tables: list = field(default_factory=list)       # (caption, DataFrame of strings)
    figures: list = field(default_factory=list)      # (png file name, title, caption)


def _table_md(frame) -> str:
    cols = [str(c) for c in frame.columns]

    def esc(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(esc(v) for v in row) + " |")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
color:#1d2330;background:#f6f7f9;line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:10px 32px;background:#e8edf4;font-size:13px}nav a{margin-right:14px;color:#1f3a5f}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:14px 20px;margin:16px 0}
h2{font-size:18px;margin:4px 0 10px;color:#1f3a5f}p{font-size:13px;margin:6px 0}
table{border-collapse:collapse;font-size:12px;margin:8px 0 14px;display:block;overflow-x:auto}
th,td{border:1px solid #dde2ea;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#eef2f7}td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;font-size:12px;padding:4px 0}
figure{margin:12px 0 18px}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555}
"""

_SCRIPT = """
function codesignCheckImages(){var imgs=Array.prototype.slice.call(document.images);
var ok=imgs.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;
document.body.dataset.imagesTotal=String(imgs.length);document.body.dataset.imagesOk=String(ok);
document.body.dataset.imagesLoaded=(ok===imgs.length)?"true":"false";}
if(document.readyState==="complete"){codesignCheckImages();}
else{window.addEventListener("load",codesignCheckImages);}
"""


def _html(title: str, subtitle: str, sections: list[Section], out: Path) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>",
             "<nav>" + "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
             + "</nav><main>"]
    for s in sections:
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        parts.extend(f"<p>{html.escape(t)}</p>" for t in s.text)
        for caption, frame in s.tables:
            body = frame.to_html(index=False, escape=True, border=0)
            body = body.replace('<table class="dataframe">',
                                f"<table><caption>{html.escape(caption)}</caption>", 1)
            parts.append(body)
        for png, ftitle, fcap in s.figures:
            data = base64.b64encode((out / png).read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(ftitle)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(ftitle)}" + (f" — {html.escape(fcap)}" if fcap else "")
                         + "</figcaption></figure>")
        parts.append("</section>")
    parts.append(f"</main><script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _markdown(title: str, subtitle: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", subtitle, "", "Contents: " + ", ".join(f"[{s.title}](#{s.id})" for s in sections), ""]
    for s in sections:
        lines += [f'<a id="{s.id}"></a>', "", f"## {s.title}", ""]
        for t in s.text:
            lines += [t, ""]
        for caption, frame in s.tables:
            lines += [f"**{caption}**", "", _table_md(frame), ""]
        for png, ftitle, fcap in s.figures:
            lines += [f"![{ftitle}]({png})", "", f"*{ftitle}*" + (f": {fcap}" if fcap else ""), ""]
    return "\n".join(lines)


# =========================================================================== building

class _Builder:
    def __init__(self, out: Path):
        self.out = out
        self.sections: list[Section] = []
        self.figures: dict[str, dict] = {}
        self.names: set[str] = set()

    def figure(self, section: Section, plot) -> None:
        from codesign.reporting import plots

        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", plot.name).strip("_") or "figure"
        name, i = stem, 2
        while name in self.names:
            name, i = f"{stem}_{i}", i + 1
        self.names.add(name)
        png = f"{name}.png"
        try:
            info = plots.save_png(plot, self.out / png)
        finally:
            plot.figure.clear()
        info.update(plot.info)
        self.figures[png] = {"section": section.id, **info}
        section.figures.append((png, plot.title, plot.caption))


def _simulate_sections(b: _Builder, col: Collected) -> None:
    from codesign.reporting import plots

    ops = op_frame(col)
    runs = run_table(ops)
    s = Section("summary", "Summary")
    s.text.append(f"{len(runs)} simulated run(s) of {ops['workload'].nunique()} workload(s) on "
                  f"{ops['hardware'].nunique()} hardware target(s). Latency and energy are per batch; "
                  "FLOPs = 2 x MACs.")
    table = runs.assign(
        latency_ms=runs["latency_s"].map(lambda v: _sig(v * 1e3)),
        throughput_per_s=(runs["batch"].astype(float) / runs["latency_s"]).map(_sig),
        energy_mj=runs["energy_j"].map(lambda v: _sig(v * 1e3)),
        power_w=(runs["energy_j"] / runs["latency_s"]).map(_sig),
        dram_mb=runs["dram_bytes"].map(lambda v: _sig(v * 1e-6)),
        gmacs=runs["macs"].map(lambda v: _sig(v * 1e-9)),
        compute_bound=runs["compute_bound"].map(_pct), memory_bound=runs["memory_bound"].map(_pct),
        overhead_bound=runs["overhead_bound"].map(_pct),
    )[["workload", "hardware", "dtype", "mode", "layout", "sim_engine", "batch", "latency_ms",
       "throughput_per_s", "energy_mj", "power_w", "dram_mb", "gmacs", "ops", "unsupported_ops",
       "compute_bound", "memory_bound", "overhead_bound"]]
    table = table.rename(columns={"sim_engine": "engine", "latency_ms": "latency (ms)",
                                  "throughput_per_s": "throughput (/s)", "energy_mj": "energy (mJ)",
                                  "power_w": "power (W)", "dram_mb": "DRAM (MB)", "gmacs": "GMACs",
                                  "unsupported_ops": "unsupported", "compute_bound": "compute-bound",
                                  "memory_bound": "memory-bound", "overhead_bound": "overhead-bound"})
    s.tables.append(("Runs (bound shares are shares of op latency)", table.astype(str)))
    unsup = ops[~ops["supported"].astype(bool)]
    if len(unsup):
        u = (unsup.groupby(["workload", "hardware", "kind"]).size().rename("ops").reset_index())
        s.text.append(f"{len(unsup)} op row(s) have no cost model and are counted as zero latency; "
                      "they are listed below, never hidden.")
        s.tables.append(("Unsupported ops", u.astype(str)))
    b.sections.append(s)
    b.figure(s, plots.summary_bars(runs))

    s = Section("breakdown", "Per-layer latency and energy")
    s.text.append("Layers are module groups (the shallowest module-path depth giving enough "
                  "groups). Fused ops carry zero cost; their work is in the op they were fused into.")
    for wl, wruns in runs.groupby("workload", sort=False):
        shown = wruns.head(MAX_RUNS_PER_WORKLOAD)
        note = (f"First {len(shown)} of {len(wruns)} runs shown." if len(wruns) > len(shown) else "")
        b.figure(s, plots.layer_breakdown(ops[ops["run"].isin(shown["run"])], wl, shown, note))
    b.figure(s, plots.share_by(ops, runs, "kind", "op kind"))
    b.figure(s, plots.share_by(ops, runs, "top_module", "top-level module"))
    b.sections.append(s)

    s = Section("roofline", "Roofline")
    s.text.append("Each op at its arithmetic intensity (FLOPs per modelled DRAM byte) and achieved "
                  "FLOP/s = FLOPs / latency, coloured by what bounds it. Roofs from the hardware "
                  "preset (peak MAC/s x 2 and DRAM bandwidth) for each dtype run on it.")
    for hw, sub in ops.groupby("hardware", sort=False):
        roofs = roofs_for(hw, list(dict.fromkeys(sub["dtype"])), col.summaries)
        b.figure(s, plots.roofline(sub[sub["bound"] != "fused"], hw, roofs))
    b.sections.append(s)

    s = Section("energy", "Energy breakdown")
    et = runs[["run", "energy_compute_j", "energy_sram_j", "energy_dram_j", "energy_static_j", "energy_j"]]
    et = et.assign(**{c: et[c].map(lambda v: _sig(v * 1e3)) for c in et.columns if c != "run"})
    et.columns = ["run", "compute (mJ)", "on-chip (mJ)", "DRAM (mJ)", "static (mJ)", "total (mJ)"]
    s.tables.append(("Energy per run", et))
    b.figure(s, plots.energy_breakdown(runs))
    b.sections.append(s)

    s = Section("dram", "DRAM traffic per layer")
    pairs = ccp_pairs(runs)
    if pairs:
        pt = [{"workload": p["workload"], "hardware": p["hardware"],
               "DRAM without ccp (MB)": _sig(p["base_bytes"] * 1e-6),
               "DRAM with ccp (MB)": _sig(p["ccp_bytes"] * 1e-6),
               "DRAM saved": _pct(1 - p["ccp_bytes"] / p["base_bytes"]) if p["base_bytes"] else "n/a",
               "latency change": _pct(p["ccp_latency_s"] / p["base_latency_s"] - 1) if p["base_latency_s"] else "n/a",
               "energy change": _pct(p["ccp_energy_j"] / p["base_energy_j"] - 1) if p["base_energy_j"] else "n/a"}
              for p in pairs]
        import pandas as pd

        s.text.append("Cross-channel pooling fused before the store (layout ccp) keeps the conv's "
                      "k x C output on chip and writes only the pooled C channels.")
        s.tables.append(("Saving from cross-channel pooling before the store", pd.DataFrame(pt)))
        for p in pairs:
            b.figure(s, plots.ccp_saving(ops[ops["run"].isin([p["base"], p["ccp"]])], p))
    else:
        s.text.append("No pair of runs differing only in layout ccp: the cross-channel-pooling "
                      "saving appears when both layouts of a workload are simulated.")
    for wl, wruns in runs.groupby("workload", sort=False):
        shown = wruns.head(MAX_RUNS_PER_WORKLOAD)
        b.figure(s, plots.dram_by_layer(ops[ops["run"].isin(shown["run"])], wl, shown))
    b.sections.append(s)

    event_runs = [r for r in runs["run"] if ops.loc[ops["run"] == r, "sim_engine"].iloc[0] == "event"]
    timed = [r for r in event_runs if "start_s" in ops and
             ops.loc[ops["run"] == r, "start_s"].notna().any()]
    if timed:
        s = Section("timeline", "Event-engine timeline")
        s.text.append("Gantt chart of the engines in the event simulation (DMA / compute units "
                      "overlap; static energy scales with the makespan).")
        for i, r in enumerate(timed[:MAX_TIMELINES]):
            plot = plots.gantt(ops, r)
            plot.name = f"timeline_{i + 1}"
            b.figure(s, plot)
        b.sections.append(s)


def _sweep_sections(b: _Builder, col: Collected) -> None:
    import pandas as pd

    from codesign.reporting import plots

    sweep, hw_col = _sweep_frame(col)
    if sweep.empty:
        raise CodesignError("sweep results hold no rows with latency_s and energy_j")
    knobs = sweep_knobs(sweep, col.sweep_knobs)
    metrics = [m for m in SWEEP_METRICS if m in sweep]
    front = pareto_mask(sweep, col.paretos)
    s = Section("sweep", "Sweep")
    s.text.append(f"{len(sweep)} configuration(s) on {sweep[hw_col].nunique()} hardware target(s)"
                  + (f", {sweep['workload'].nunique()} workload(s)" if "workload" in sweep else "")
                  + f"; swept knobs: {', '.join(knobs) or 'none found'}. {int(front.sum())} on the "
                  "latency/energy Pareto front.")
    kt = [{"knob": k, "values": ", ".join(_sig(v) for v in sorted(sweep[k].dropna().unique(), key=str)[:12])
           + (" ..." if sweep[k].nunique() > 12 else ""), "distinct": str(sweep[k].nunique())} for k in knobs]
    if kt:
        s.tables.append(("Knobs", pd.DataFrame(kt)))
    group = [c for c in ("workload", hw_col) if c in sweep]
    best = []
    for key, sub in sweep.groupby(group, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        fast, low = sub.loc[sub["latency_s"].idxmin()], sub.loc[sub["energy_j"].idxmin()]
        best.append({**dict(zip(group, key)), "configs": str(len(sub)),
                     "best latency (ms)": _sig(fast["latency_s"] * 1e3),
                     "its energy (mJ)": _sig(fast["energy_j"] * 1e3),
                     "best energy (mJ)": _sig(low["energy_j"] * 1e3),
                     "its latency (ms)": _sig(low["latency_s"] * 1e3)})
    s.tables.append(("Best configuration per hardware", pd.DataFrame(best)))
    fr = sweep[front].sort_values("latency_s")
    cols = [c for c in ("config_id", "workload", "batch", hw_col) if c in fr]
    cols += [k for k in knobs if k not in cols]
    ft = fr[cols].astype(str).copy()
    for k in cols:                                   # numbers as 3 significant digits, not repr
        if k != "config_id" and pd.api.types.is_numeric_dtype(fr[k]) and not pd.api.types.is_bool_dtype(fr[k]):
            ft[k] = fr[k].map(_sig)
    for m, scale, unit in (("latency_s", 1e3, "ms"), ("energy_j", 1e3, "mJ"), ("dram_bytes", 1e-6, "MB")):
        if m in fr:
            ft[f"{m.split('_')[0]} ({unit})"] = fr[m].map(lambda v, k=scale: _sig(v * k))
    s.tables.append((f"Pareto front (first {min(len(ft), 20)} of {len(ft)}, by latency)", ft.head(20)))
    b.sections.append(s)
    b.figure(s, plots.pareto(sweep, hw_col, front.to_numpy()))
    if knobs and metrics:
        s2 = Section("sensitivity", "Sensitivity to knobs")
        table = sensitivity(sweep, hw_col, knobs, metrics)
        st = table.map(lambda v: "n/a" if v != v else f"×{v:.2f}")
        st.insert(0, "knob", st.index)
        s2.text.append("Cell = max/min of the metric's median over the knob's values, within each "
                       "(workload, hardware) group, then the median over groups. ×1.00 = no effect.")
        s2.tables.append(("Sensitivity (max/min ratio of median)", st.reset_index(drop=True)))
        b.figure(s2, plots.sensitivity_heatmap(table))
        # at most 4 knobs side by side: wider small multiples get scaled down on the page and
        # their fonts fall below 9 px
        top = list(table.max(axis=1).sort_values(ascending=False, na_position="last").index[:4])
        b.figure(s2, plots.sensitivity_lines(sweep, hw_col, top, metrics))
        b.sections.append(s2)


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = ", ".join(map(str, v[:8])) + (" ..." if len(v) > 8 else "")
        else:
            out[key] = v
    return out


def _validation_sections(b: _Builder, col: Collected) -> None:
    import numpy as np
    import pandas as pd

    from codesign.reporting import plots

    s = Section("validation", "Validation: estimate vs measurement")
    for meta in col.validation_meta:
        scalars, lists = {}, []
        for key, value in meta.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                rows = pd.DataFrame(value)
                lists.append((f"validation.json: {key}", rows.map(
                    lambda v: _sig(v) if isinstance(v, float) else str(v))))
            elif isinstance(value, dict):
                scalars.update(_flat(value, "" if key == "summary" else key + "."))
            else:
                scalars[key] = value
        if scalars:
            s.tables.append(("validation.json", pd.DataFrame(
                {"key": list(scalars),
                 "value": [_sig(v) if isinstance(v, float) else str(v) for v in scalars.values()]})))
        s.tables.extend(lists)
    if col.validations:
        val = pd.concat(col.validations, ignore_index=True)
        meas = _measured_col(val.columns)
        est = _estimated_col(val.columns, meas)
        if est is None:
            raise CodesignError(f"validation rows have {meas!r} but no estimate column "
                                f"(one of {', '.join(ESTIMATED_NAMES)})")
        val = val.copy()
        val[meas] = pd.to_numeric(val[meas], errors="coerce")
        val[est] = pd.to_numeric(val[est], errors="coerce")
        if "kind" not in val:
            val["kind"] = "op"
        val["kind"] = val["kind"].astype(str)
        both = val[(val[meas] > 0) & (val[est] > 0)]
        rows = []
        for kind, sub in list(both.groupby("kind")) + [("all ops", both)]:
            ratio = sub[est] / sub[meas]
            err = (sub[est] - sub[meas]).abs() / sub[meas]
            rows.append({"op kind": kind, "ops": str(len(sub)),
                         "measured (ms)": _sig(sub[meas].sum() * 1e3),
                         "estimated (ms)": _sig(sub[est].sum() * 1e3),
                         "total error": _pct(sub[est].sum() / sub[meas].sum() - 1) if sub[meas].sum() else "n/a",
                         "MAPE per op": _pct(err.mean()) if len(sub) else "n/a",
                         "median est/meas": _sig(float(np.median(ratio))) if len(sub) else "n/a",
                         "within 2x": _pct(((ratio >= 0.5) & (ratio <= 2)).mean()) if len(sub) else "n/a"})
        s.text.append(f"{len(both)} op(s) with both an estimate ({est}) and a measurement ({meas}).")
        s.tables.append(("Error by op kind", pd.DataFrame(rows)))
        b.figure(s, plots.validation_scatter(val, est, meas))
    b.sections.append(s)


def default_out(results) -> Path:
    """Where ``codesign report RESULTS`` writes without --out: reports/<name of RESULTS>."""
    if isinstance(results, (str, Path)):
        p = Path(results)
        name = p.stem if p.is_file() else p.resolve().name
        cand = Path("reports") / (name or "report")
        if cand.resolve() == p.resolve():
            return p / "report"
        return cand
    return Path("reports") / "report"


def report(results, out="reports/report", title: str | None = None) -> Path:
    """Write ``report.md``, ``report.html`` (self-contained), the PNGs and ``report.json`` to
    ``out`` for ``results`` (a folder, a table file, a SimResult, a DataFrame or a list of
    those). Returns the path of ``report.html``. A folder without results raises CodesignError."""
    from codesign.results.paths import check_output_dir

    out = check_output_dir(out)
    col = collect(results)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    b = _Builder(out)
    kinds = []
    if col.ops:
        _simulate_sections(b, col)
        kinds.append("simulate")
    if col.sweeps:
        _sweep_sections(b, col)
        kinds.append("sweep")
    if col.validations or col.validation_meta:
        _validation_sections(b, col)
        kinds.append("validate")
    title = title or "codesign report: " + " + ".join(kinds)
    from codesign import __version__

    n_src = len(col.sources)
    subtitle = (f"codesign {__version__}; {n_src} result source(s): "
                + "; ".join(col.sources[:4]) + (" ..." if n_src > 4 else ""))
    (out / "report.md").write_text(_markdown(title, subtitle, b.sections) + "\n")
    page = _html(title, subtitle, b.sections, out)
    (out / "report.html").write_text(page)
    meta = {"title": title, "kinds": kinds, "sources": col.sources,
            "sections": [{"id": s.id, "title": s.title, "figures": [f for f, _, _ in s.figures],
                          "tables": [c for c, _ in s.tables]} for s in b.sections],
            "figures": b.figures}
    (out / "report.json").write_text(json.dumps(_jsonable(meta), indent=2) + "\n")
    return out / "report.html"


# =========================================================================== CLI


__all__ = ["report", "save_result", "collect", "default_out"]
