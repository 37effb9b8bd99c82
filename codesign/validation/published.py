"""Validate the simulator against published measurements (codesign.published).

``validate_published("timm-rtx3090-infer-nchw", "rtx3090", cache=TraceCache(dir))`` traces
every row's workload at the row's input shape and batch (once per distinct graph; through the
trace cache when one is given), simulates it with the row's settings and reports per row and in
total: MAPE, median APE, share within 10% / 20%, bias, Spearman (codesign.validation.metrics),
the same figures for a plain roofline from the same preset on the same rows, errors by model
family and by the dominant op class, and every row that could not be scored, counted by reason
(nothing is dropped silently).

Settings of a row (:func:`run_settings`):

* dtype: ``amp`` is CUDA autocast fp16; it is simulated as dtype ``"amp"`` when the cost
  model has that dtype (autocast semantics: fp32 norms/softmax, cast kernels) and as ``fp16``
  until then; fp32/fp16/bf16/int8 as themselves; a precision without a cost-model dtype
  (``w8a16``, mixed int16) is reported as ``unsupported_precision``.
* mode: ``eager`` for PyTorch rows (one kernel per op, host dispatch), ``fused`` for compiled
  runtimes (qnn, qnn_dlc, tflite, onnx).
* phase: training rows trace what timm's ``benchmark.py`` train loop runs: ``zero_grad()``,
  forward and cross-entropy loss under autocast, backward, a Nesterov-momentum SGD step
  (``create_optimizer_v2("sgd")``), no GradScaler.
* software: the row's PyTorch version picks a :class:`codesign.hardware.software.SoftwareProfile`
  (PyTorch 1.x: zero-filled gradients, per-parameter optimizer kernels, unfused attention, and
  that release's fitted efficiency factors applied to the preset).
* layout: the row's (``nchw`` / ``nhwc``); eager ``nhwc`` rows are traced with a
  channels-last model and input (``trace(..., channels_last=True)``, part of the trace cache
  key), as timm's ``benchmark.py --channels-last`` runs them.

Errors are computed on what the source measured (the ``metric`` column): throughput for timm,
latency for AI Hub. A positive signed error means the prediction is too high: too fast for a
throughput, too slow for a latency.

Plain roofline: the sum over the graph's ops of :func:`codesign.cost.roofline.roofline_floor`
(max of compute at peak and compulsory traffic at peak bandwidth per op, no overheads, no
fusion).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from codesign.errors import CodesignError
from codesign.validation.metrics import error_summary, grouped_summary

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

#: runtimes whose graphs are compiled ahead of time (fusion, no per-op host dispatch)
COMPILED_RUNTIMES = ("qnn", "qnn_dlc", "tflite", "onnx", "tensorrt")
#: the optimizer step of timm's benchmark.py train loop (create_optimizer_v2 default "sgd")
TRAIN_OPTIMIZER = "sgd"
Progress = Callable[[int, int, str], None]

RESULT_COLUMNS = (
    "status", "reason", "dtype", "mode", "sim_layout", "simulated_latency_s",
    "simulated_throughput_per_s", "roofline_latency_s", "measured", "predicted",
    "roofline_predicted", "ape", "signed_error", "roofline_ape", "roofline_signed_error",
    "dominant_class", "dominant_share", "macs", "ops", "uncosted_ops", "uncosted_names",
)


#: timm benchmark.py's train loop: nn.CrossEntropyLoss, create_optimizer_v2(opt="sgd") =
#: torch.optim.SGD(momentum=0.9, nesterov=True), weight decay 0
TRAIN_LOOP = (("loss", "cross_entropy"), ("nesterov", True))


@dataclass(frozen=True)
class RunSettings:
    """How one published row is traced and simulated."""

    dtype: str
    mode: str
    layout: str
    trace_phase: str          # tracer phase: "inference" | "train"
    optimizer: str | None
    software: str = ""        # the row's PyTorch version ("" = current)

    @property
    def profile(self):
        from codesign.hardware.software import software_profile

        return software_profile(self.software)

    def trace_options(self) -> dict:
        """Keyword arguments of :func:`codesign.capture.tracer.trace` for this row (the one
        place the benchmark scripts and ``validate --published`` take them from)."""
        kw: dict = {"phase": self.trace_phase}
        if self.dtype == "amp":  # traced under CUDA autocast: autocast's dtypes, casts are ops
            kw["autocast"] = "fp16"
        opts = self.profile.trace_options()
        kw["fused_attention"] = opts["fused_attention"]
        if self.layout == "nhwc" and self.mode == "eager":
            # PyTorch's channels-last runs (timm's benchmark.py --channels-last): the model
            # and input converted, so the trace holds the copies the layout causes
            kw["channels_last"] = True
        if self.trace_phase == "train":
            kw.update(optimizer=self.optimizer, foreach=opts["foreach"],
                      zero_grad=opts["zero_grad"], **dict(TRAIN_LOOP))
        return kw

    def cache_knobs(self) -> dict | None:
        """The trace options that differ from the tracer's defaults (the cache key's knobs)."""
        import inspect

        from codesign.capture.tracer import trace

        defaults = {k: p.default for k, p in inspect.signature(trace).parameters.items()}
        kw = {k: v for k, v in self.trace_options().items()
              if k not in ("phase", "optimizer") and defaults.get(k) != v}
        return kw or None

    def hardware(self, hw):
        """``hw`` with the row's software profile applied (its efficiency factors)."""
        return self.profile.apply(hw)


def _dtypes() -> tuple[str, ...]:
    from codesign.cost.base import DTYPES

    return tuple(DTYPES)


def run_settings(precision: str, runtime: str, layout: str, phase: str,
                 torch_version: str | None = None) -> RunSettings | str:
    """The simulation settings of a row, or the reason (str) it cannot be simulated."""
    dtypes = _dtypes()
    if precision == "amp":
        dtype = "amp" if "amp" in dtypes else "fp16"
    elif precision in dtypes:
        dtype = precision
    else:
        return (f"unsupported_precision: precision {precision!r} has no cost-model dtype "
                f"(have {', '.join(dtypes)})")
    mode = "fused" if runtime in COMPILED_RUNTIMES else "eager"
    sw = "" if runtime != "pytorch" or not isinstance(torch_version, str) else torch_version
    if phase == "training":
        return RunSettings(dtype, mode, layout, "train", TRAIN_OPTIMIZER, sw)
    return RunSettings(dtype, mode, layout, "inference", None, sw)


def _shape(row) -> tuple[int, ...]:
    from codesign.capture.references import parse_shape

    return (int(row.batch), *parse_shape(str(row.input_shape), "input_shape"))


def _category(reason: str) -> str:
    return reason.split(":", 1)[0] if reason else ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def select_rows(frame: pd.DataFrame, limit: int | None = None,
                family: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of ``family`` (one or several), then ``limit`` rows spread evenly over the
    dataset's order (a representative subset, not its head)."""
    if family:
        fams = {family} if isinstance(family, str) else set(family)
        unknown = fams - set(frame["family"])
        if unknown:
            from codesign.errors import did_you_mean

            f = min(unknown)
            raise CodesignError(f"family {f!r} not in the dataset{did_you_mean(f, set(frame['family']))}")
        frame = frame[frame["family"].isin(fams)]
    if limit is not None and 0 < limit < len(frame):
        idx = np.unique(np.linspace(0, len(frame) - 1, int(limit)).round().astype(int))
        frame = frame.iloc[idx]
    return frame


def trace_row_graph(workload: str, shape, settings: RunSettings, cache=None):
    """(graph, None) or (None, reason) for one workload at ``shape`` (with batch)."""
    from codesign.capture.references import trace_workload
    from codesign.errors import TraceError, WorkloadError

    key = None
    trace_kw = settings.trace_options()
    phase = trace_kw.pop("phase")
    optimizer = trace_kw.pop("optimizer", None)
    if cache is not None and cache.cacheable(workload):
        key = cache.key(workload, shape, settings.trace_phase, settings.optimizer,
                        knobs=settings.cache_knobs())
        graph = cache.get(key)
        if graph is not None:
            return graph, None
        failed = cache.get_failure(key)
        if failed is not None:
            return None, failed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, graph = trace_workload(workload, None, shape, phase=phase,
                                      optimizer=optimizer, **trace_kw)
    except WorkloadError as exc:
        reason = f"workload_error: {_one_line(exc)}"
    except TraceError as exc:
        reason = f"trace_error: {_one_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - a model that breaks under fake tensors
        reason = f"trace_error: {type(exc).__name__}: {_one_line(exc)}"
    else:
        if key is not None:
            cache.put(key, graph)
        return graph, None
    if key is not None:
        cache.put_failure(key, reason)
    return None, reason


def dominant_class(rows) -> tuple[str, float]:
    """The op class (kind, convs by variant) with the largest share of simulated latency."""
    acc: Counter = Counter()
    for r in rows:
        if r.latency_s > 0:
            cls = f"conv.{r.variant}" if r.kind == "conv" and r.variant else r.kind
            acc[cls] += r.latency_s
    total = sum(acc.values())
    if not total:
        return "", float("nan")
    cls, t = acc.most_common(1)[0]
    return cls, t / total


def roofline_latency_s(graph, hw: HardwareSpec, ctx) -> float:
    """Sum of the per-op roofline floors of the supported ops (see module docstring).

    Ops of equal :func:`codesign.cost.base.cost_key` (repeated blocks; ``graph.work_ids``
    numbers the keys once per graph, and the simulation of the row numbered them already) get
    one floor: the floor reads only what the key holds (kind, attrs, tensor shapes and dtypes),
    so the sum is the per-op sum, added op by op in graph order (issue 16: validating 300 rows
    from a warm cache spent a quarter of its time here)."""
    from codesign.cost.roofline import roofline_floor

    memo: dict = {}
    floors = []
    for op, key in zip(graph.ops, graph.work_ids):
        if not op.supported:
            continue
        f = memo.get(key)
        if f is None:
            f = memo[key] = float(np.asarray(roofline_floor(op, hw, ctx)))
        floors.append(f)
    return float(sum(floors))


def _load_hw(hardware, cache: dict):
    from codesign.hardware import load_hardware

    if not isinstance(hardware, str):
        return hardware
    if hardware not in cache:
        cache[hardware] = load_hardware(hardware)
    return cache[hardware]


@dataclass(frozen=True)
class PublishedValidation:
    """Per-row results of one validation run (a DataFrame: the dataset's columns plus
    :data:`RESULT_COLUMNS`) and how it was run."""

    dataset: str
    hardware: str
    rows: pd.DataFrame = field(repr=False)
    elapsed_s: float = 0.0

    @property
    def scored(self) -> pd.DataFrame:
        """Rows simulated and scored whose every layer ran on the accelerator (the headline
        figures; rows partly offloaded to CPU/GPU are in :attr:`offloaded`)."""
        return self.rows[(self.rows["status"] == "ok") & self.rows["on_accelerator"].astype(bool)]

    @property
    def offloaded(self) -> pd.DataFrame:
        """Scored rows where some layers ran off the accelerator (reported separately)."""
        return self.rows[(self.rows["status"] == "ok") & ~self.rows["on_accelerator"].astype(bool)]

    def untraceable(self) -> dict[str, int]:
        """Rows not scored, counted by reason category."""
        bad = self.rows[self.rows["status"] != "ok"]
        return dict(Counter(bad["status"]).most_common())

    def summary(self) -> dict:
        s = self.scored
        return {
            "dataset": self.dataset, "hardware": self.hardware, "rows": len(self.rows),
            "scored": len(s), "untraceable": self.untraceable(),
            "rows_with_uncosted_ops": int((s["uncosted_ops"] > 0).sum()),
            "model": error_summary(s["predicted"], s["measured"]),
            "roofline": error_summary(s["roofline_predicted"], s["measured"]),
            "offloaded": {"model": error_summary(self.offloaded["predicted"], self.offloaded["measured"]),
                          "roofline": error_summary(self.offloaded["roofline_predicted"],
                                                    self.offloaded["measured"])},
            "elapsed_s": self.elapsed_s,
        }

    def by_family(self) -> pd.DataFrame:
        return _grouped(self.scored, "family")

    def by_class(self) -> pd.DataFrame:
        return _grouped(self.scored, "dominant_class")

    def failures(self) -> pd.DataFrame:
        cols = ["workload", "input_shape", "batch", "precision", "status", "reason"]
        return self.rows[self.rows["status"] != "ok"][cols]

    def write(self, out: str | Path) -> tuple[str, ...]:
        """rows.parquet, rows.csv, summary.json, families.csv, classes.csv under ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rows = self.rows.copy()
        rows.to_parquet(out / "rows.parquet", index=False)
        rows.to_csv(out / "rows.csv", index=False)
        self.by_family().to_csv(out / "families.csv", index=False)
        self.by_class().to_csv(out / "classes.csv", index=False)
        (out / "summary.json").write_text(json.dumps(self.summary(), indent=1, default=_json))
        return tuple(str(out / f) for f in ("rows.parquet", "rows.csv", "summary.json",
                                            "families.csv", "classes.csv"))


def _json(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return str(x)


def _grouped(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    model = grouped_summary(frame, by, "predicted", "measured")
    roof = grouped_summary(frame, by, "roofline_predicted", "measured")[[by, "mape", "bias"]]
    roof = roof.rename(columns={"mape": "roofline_mape", "bias": "roofline_bias"})
    return model.merge(roof, on=by, how="left")


def simulate_rows(frame: pd.DataFrame, hardware=None, cache=None,
                  progress: Progress | None = None) -> pd.DataFrame:
    """``frame`` (published rows) plus :data:`RESULT_COLUMNS`: trace (grouped by distinct
    graph), simulate with each row's settings on ``hardware`` (a preset name, YAML path or
    HardwareSpec; None: each row's own ``hardware`` preset), roofline, errors."""
    from codesign.simulation import make_context, simulate

    frame = frame.reset_index(drop=True)
    n = len(frame)
    res: dict[str, list] = {c: [None] * n for c in RESULT_COLUMNS}
    tv = frame["torch_version"] if "torch_version" in frame.columns else [None] * n
    settings = [run_settings(r.precision, r.runtime, r.layout, r.phase, v)
                for r, v in zip(frame.itertuples(index=False), tv)]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(frame.itertuples(index=False)):
        s = settings[i]
        if isinstance(s, str):
            continue
        if not str(r.workload or "").strip():
            settings[i] = "no_workload: the source's model has no workload reference"
            continue
        try:
            shape = _shape(r)
        except CodesignError as exc:
            settings[i] = f"bad_row: {_one_line(exc)}"
            continue
        groups.setdefault((r.workload, shape, s.trace_phase, s.optimizer,
                           tuple(sorted((s.cache_knobs() or {}).items()))), []).append(i)
    for i, s in enumerate(settings):
        if isinstance(s, str):
            res["status"][i], res["reason"][i] = _category(s), s
    hw_cache: dict = {}
    done = 0
    total = len(groups)
    for (workload, shape, _phase, _opt, _knobs), idx in groups.items():
        if progress:
            progress(done, total, workload)
        graph, reason = trace_row_graph(workload, shape, settings[idx[0]], cache)
        done += 1
        if graph is None:
            for i in idx:
                res["status"][i], res["reason"][i] = _category(reason), reason
            continue
        uncosted = sorted({op.aten for op in graph.ops if not op.supported})
        for i in idx:
            r = frame.iloc[i]
            s = settings[i]
            try:
                hw = s.hardware(_load_hw(hardware if hardware is not None else r["hardware"],
                                         hw_cache))
                if s.dtype != "amp" and s.dtype not in hw.dtypes:
                    res["status"][i] = "unsupported_precision"
                    res["reason"][i] = (f"unsupported_precision: {hw.name} does not run "
                                        f"{s.dtype!r} (dtypes {', '.join(hw.dtypes)})")
                    continue
                sim = simulate(graph, hw, dtype=s.dtype, mode=s.mode, layout=s.layout)
                roof = roofline_latency_s(graph, hw, make_context(hw, s.dtype, s.mode, s.layout))
            except CodesignError as exc:
                res["status"][i], res["reason"][i] = "simulate_error", f"simulate_error: {_one_line(exc)}"
                continue
            lat = float(sim.latency_s)
            batch = float(r["batch"])
            cls, share = dominant_class(sim.rows)
            if r["metric"] == "latency_s":
                meas, pred, rpred = r["measured_latency_s"], lat, roof
            else:
                meas = r["measured_throughput_per_s"]
                pred = batch / lat if lat > 0 else float("nan")
                rpred = batch / roof if roof > 0 else float("nan")
            vals = {
                "status": "ok", "reason": "", "dtype": s.dtype, "mode": s.mode,
                "sim_layout": s.layout, "simulated_latency_s": lat,
                "simulated_throughput_per_s": batch / lat if lat > 0 else float("nan"),
                "roofline_latency_s": roof, "measured": float(meas), "predicted": float(pred),
                "roofline_predicted": float(rpred),
                "ape": abs(pred - meas) / meas, "signed_error": (pred - meas) / meas,
                "roofline_ape": abs(rpred - meas) / meas,
                "roofline_signed_error": (rpred - meas) / meas,
                "dominant_class": cls, "dominant_share": share, "macs": float(graph.macs),
                "ops": len(graph.ops), "uncosted_ops": sum(1 for op in graph.ops if not op.supported),
                "uncosted_names": ",".join(uncosted),
            }
            for k, v in vals.items():
                res[k][i] = v
    if progress:
        progress(total, total, "")
    out = frame.copy()
    for c in RESULT_COLUMNS:
        out[c] = res[c]
    for c in ("simulated_latency_s", "simulated_throughput_per_s", "roofline_latency_s",
              "measured", "predicted", "roofline_predicted", "ape", "signed_error",
              "roofline_ape", "roofline_signed_error", "dominant_share", "macs"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for c in ("ops", "uncosted_ops"):
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype(int)
    for c in ("status", "reason", "dtype", "mode", "sim_layout", "dominant_class", "uncosted_names"):
        out[c] = out[c].fillna("").astype(str)
    return out


def validate_published(dataset, hardware=None, *, cache=None, limit: int | None = None,
                       family: str | Sequence[str] | None = None,
                       progress: Progress | None = None) -> PublishedValidation:
    """Validate against ``dataset`` (a name of :func:`codesign.published.list_published`, a
    file, or a DataFrame of contract rows) on ``hardware`` (preset name, YAML, HardwareSpec;
    None: each row's ``hardware``). ``cache`` is a :class:`codesign.capture.cache.TraceCache`
    or None (trace everything, store nothing)."""
    from codesign.published import check_frame, load_published

    t0 = time.perf_counter()
    if isinstance(dataset, pd.DataFrame):
        frame, name = check_frame(dataset, "<frame>"), str(dataset["dataset"].iloc[0]) if len(dataset) else ""
    else:
        frame, name = load_published(dataset), str(dataset)
    frame = select_rows(frame, limit, family)
    hw_name = hardware if isinstance(hardware, str) else getattr(hardware, "name", "per-row")
    rows = simulate_rows(frame, hardware, cache, progress)
    return PublishedValidation(name, str(hw_name), rows, time.perf_counter() - t0)


def format_summary(result: PublishedValidation, top: int = 12) -> str:
    """The text table the CLI prints (also the head of the markdown report)."""
    s = result.summary()
    lines = [(f"dataset {s['dataset']} on {s['hardware']}: {s['rows']} rows, {s['scored']} scored"
              f" on the accelerator, {s['offloaded']['model']['n']} offloaded"
              f" ({s['rows_with_uncosted_ops']} with uncosted ops), {s['elapsed_s']:.1f} s")]
    if s["untraceable"]:
        lines.append("not scored: " + ", ".join(f"{k} {v}" for k, v in s["untraceable"].items()))
    hdr = f"{'':10s} {'n':>5s} {'MAPE':>8s} {'median':>8s} {'<=10%':>7s} {'<=20%':>7s} {'bias':>8s} {'Spearman':>8s}"
    lines.append(hdr)
    figures = [("model", s["model"]), ("roofline", s["roofline"])]
    if s["offloaded"]["model"]["n"]:
        figures += [("offloaded", s["offloaded"]["model"]),
                    ("  roofline", s["offloaded"]["roofline"])]
    for label, m in figures:
        lines.append(f"{label:10s} {m['n']:5d} {_pct(m['mape'])} {_pct(m['median_ape'])} "
                     f"{_pct(m['within_10'], 7)} {_pct(m['within_20'], 7)} {_pct(m['bias'], 8, True)} "
                     f"{m['spearman']:8.3f}")
    if s["offloaded"]["model"]["n"]:
        lines.append("(offloaded: rows where some layers ran off the accelerator; not in the "
                     "figures above or below)")
    for title, table, key in (("by family", result.by_family(), "family"),
                              ("by dominant op class", result.by_class(), "dominant_class")):
        if len(table) == 0:
            continue
        lines.append(f"{title} (worst {min(top, len(table))} of {len(table)} by MAPE; roofline MAPE beside):")
        for _, r in table.head(top).iterrows():
            lines.append(f"  {str(r[key])[:24]:24s} n {int(r['n']):4d}  MAPE {_pct(r['mape'])}  "
                         f"bias {_pct(r['bias'], 8, True)}  roofline {_pct(r['roofline_mape'])}")
    return "\n".join(lines)


def _pct(x, width: int = 8, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return f"{'-':>{width}s}"
    return f"{x * 100:+{width - 1}.1f}%" if sign else f"{x * 100:{width - 1}.1f}%"


__all__ = [
    "COMPILED_RUNTIMES",
    "PublishedValidation",
    "RunSettings",
    "dominant_class",
    "format_summary",
    "roofline_latency_s",
    "run_settings",
    "select_rows",
    "simulate_rows",
    "trace_row_graph",
    "validate_published",
]
