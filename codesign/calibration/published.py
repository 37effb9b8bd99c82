"""Fit a preset's efficiency and overhead parameters to published end-to-end measurements.

``calibrate_published("timm-rtx3090-infer-nchw", "rtx3090", out="fitted.yaml",
cache=TraceCache(dir))`` fits the parameters the spec already has -- every ``efficiency.*`` key
of its table (per kernel class: ``conv.depthwise``, ``matmul``, ``norm``, ``memory``...) and the
dispatch overhead of the rows' mode (``eager_overhead_s`` for PyTorch rows,
``graph_overhead_s`` for compiled runtimes) -- to the measured latencies of the rows whose
every layer ran on the accelerator (others are counted, not fitted), and reports:

* **in-sample** figures (fit and score on the same rows),
* **leave-family-out** (LFO) figures: for each model family, fit on every other family and
  predict it -- the honest figure for an architecture the fit has not seen,
* the preset before fitting and a **plain roofline**, on the same rows.

No per-model or per-family factor exists: the parameters are the spec's own, shared by every
row. Bounds keep them physical: 0.02 <= efficiency <= 1 (an efficiency pinned at 1 says the
model misses a mechanism that makes real kernels faster than it predicts; at 0.02 one that
makes them slower), 0.5 us <= dispatch overhead <= 200 us. Parameters at a bound are flagged.

Method. Residuals are ``log(predicted latency) - log(measured latency)`` (symmetric in over- and
under-prediction; the same for throughput), solved by ``scipy.optimize.least_squares`` (trust
region reflective, bounds) over ``log(parameter)``, with a weak pull (weight
:data:`PRIOR_WEIGHT` per log unit) towards the preset's value so parameters the rows cannot
see stay where they are. The cost model is not differentiated directly: each row's per-op
costs are probed once with the spec vectorized over parameter settings
(``HardwareSpec.with_knobs`` arrays: the reference point and each parameter scaled by
:data:`PROBE_FACTOR`), which gives every op's compute, memory and overhead times and their
log-log sensitivity to each parameter. The fit runs on that per-op model: ``busy = max(compute,
memory)`` per op, summed with the overheads, or -- on GPUs -- through the asynchronous launch
queue in closed form, ``end = max_i (sum_{j<=i} overhead_j + sum_{j>=i} busy_j)`` (the
max-plus form of ``simulation.apply_launch_queue``). Anything the per-op model misses at the
reference point is kept as a constant per row. The probe is repeated at the fitted point
(:data:`OUTER_ITERATIONS`), and every figure reported is the full cost model evaluated at the
fitted parameters, not the per-op model.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from codesign.errors import CodesignError
from codesign.validation.metrics import error_summary

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

EFF_BOUNDS = (0.02, 1.0)
OVERHEAD_BOUNDS = (0.5e-6, 200e-6)
PRIOR_WEIGHT = 0.05
PROBE_FACTOR = 0.9
OUTER_ITERATIONS = 2
MIN_SENSITIVITY = 1e-4
Progress = Callable[[int, int, str], None]


def candidate_parameters(hw: HardwareSpec, modes: Sequence[str]) -> list[str]:
    """Knob names the fit may move: the spec's efficiency keys and the overhead of each mode."""
    names = [f"efficiency.{k}" for k in hw.efficiency]
    if "eager" in modes:
        names.append("eager_overhead_s")
    if "fused" in modes:
        names.append("graph_overhead_s")
    return names


def parameter_value(hw: HardwareSpec, name: str) -> float:
    if name.startswith("efficiency."):
        return float(hw.efficiency[name.split(".", 1)[1]])
    return float(getattr(hw.dispatch, name))


def bounds_of(name: str) -> tuple[float, float]:
    return EFF_BOUNDS if name.startswith("efficiency.") else OVERHEAD_BOUNDS


# ----------------------------------------------------------------------------- per-op model

@dataclass
class OpModel:
    """Per-op costs of many rows at a reference point and their log-sensitivities."""

    names: tuple[str, ...]
    x_ref: np.ndarray             # log parameters at the reference point [P]
    row_start: np.ndarray         # [R+1] op offsets of each row
    asynchronous: np.ndarray      # [R] bool: GPU launch queue
    c0: np.ndarray                # [N] compute_s
    m0: np.ndarray                # [N] memory_s
    o0: np.ndarray                # [N] overhead_s (raw dispatch)
    gc: object                    # sparse [N, P] d log compute / d log param
    gm: object
    go: object
    offset: np.ndarray            # [R] exact latency - per-op model at the reference point

    @property
    def rows(self) -> int:
        return len(self.row_start) - 1

    def _row_of(self) -> np.ndarray:
        return np.repeat(np.arange(self.rows), np.diff(self.row_start))

    def latency(self, x: np.ndarray, with_jacobian: bool = False):
        """Per-row latency [R] at log parameters ``x`` (and d latency / d x [R, P])."""
        from scipy import sparse

        d = np.asarray(x, float) - self.x_ref
        c = self.c0 * np.exp(self.gc @ d)
        m = self.m0 * np.exp(self.gm @ d)
        o = self.o0 * np.exp(self.go @ d)
        b = np.maximum(c, m)
        starts = self.row_start[:-1]
        n = len(b)
        # within-row cumulative sums
        cum_o = np.cumsum(o)
        cum_b = np.cumsum(b)
        row = self._row_of()
        base_o = np.concatenate([[0.0], cum_o])[self.row_start[:-1]][row]
        end_b = cum_b[self.row_start[1:] - 1][row]
        h = cum_o - base_o                       # sum_{j<=i} o_j
        tail = end_b - cum_b + b                 # sum_{j>=i} b_j
        score = h + tail
        nonempty = np.diff(self.row_start) > 0
        lat_async = np.zeros(self.rows)
        arg = np.zeros(self.rows, dtype=int)
        if n:
            lat_async[nonempty] = np.maximum.reduceat(score, starts[nonempty])
            # first index reaching the max within each row
            is_max = score >= lat_async[row] * (1 - 1e-12)
            first = np.where(is_max, np.arange(n), n)
            arg[nonempty] = np.minimum.reduceat(first, starts[nonempty])
        lat_sync = np.zeros(self.rows)
        if n:
            lat_sync[nonempty] = np.add.reduceat(b + o, starts[nonempty])
        lat = np.where(self.asynchronous, lat_async, lat_sync) + self.offset
        if not with_jacobian:
            return lat
        pos = np.arange(n)
        asyn = self.asynchronous[row]
        w_o = np.where(asyn, pos <= arg[row], True).astype(float)
        w_b = np.where(asyn, pos >= arg[row], True).astype(float)
        is_c = c >= m
        dc = sparse.diags(w_b * c * is_c) @ self.gc
        dm = sparse.diags(w_b * m * ~is_c) @ self.gm
        do = sparse.diags(w_o * o) @ self.go
        r_ind = sparse.csr_matrix((np.ones(n), (row, pos)), shape=(self.rows, n))
        jac = (r_ind @ (dc + dm + do)).toarray()
        return lat, jac

    def subset(self, keep: np.ndarray) -> OpModel:
        """The model of rows ``keep`` (bool [R])."""
        idx = np.flatnonzero(keep)
        spans = [np.arange(self.row_start[i], self.row_start[i + 1]) for i in idx]
        sel = np.concatenate(spans) if spans else np.zeros(0, dtype=int)
        lens = np.diff(self.row_start)[idx]
        return OpModel(self.names, self.x_ref, np.concatenate([[0], np.cumsum(lens)]),
                       self.asynchronous[idx], self.c0[sel], self.m0[sel], self.o0[sel],
                       self.gc[sel], self.gm[sel], self.go[sel], self.offset[idx])


def _costed(est):
    from codesign.simulation import ZERO

    return [c for c in est.costs if c is not None and c is not ZERO]


def probe_rows(items, hw: HardwareSpec, names: Sequence[str], x: np.ndarray,
               progress: Progress | None = None) -> OpModel:
    """Build the :class:`OpModel` of ``items`` [(graph, RunSettings)] at log parameters ``x``."""
    from scipy import sparse

    from codesign.simulation import (apply_launch_queue, async_dispatch, estimate_costs,
                                     make_context)

    P = len(names)
    theta = np.exp(np.asarray(x, float))
    grid = np.tile(theta, (P + 1, 1))                    # [P+1, P]
    for k in range(P):
        grid[k + 1, k] *= PROBE_FACTOR
    spec = hw.with_knobs({n: grid[:, k] for k, n in enumerate(names)})
    c0s, m0s, o0s, gcs, gms, gos, offs, starts = [], [], [], [], [], [], [], [0]
    logf = np.log(PROBE_FACTOR)
    for i, (graph, s) in enumerate(items):
        if progress:
            progress(i, len(items), graph.name)
        ctx = make_context(hw, s.dtype, s.mode, s.layout)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = _costed(estimate_costs(graph, s.hardware(spec), ctx, launch_queue=False))
        # the full model's latency at the reference point (column 0), launch queue included
        queued = apply_launch_queue(raw) if async_dispatch(hw.kind) else raw
        exact = float(np.sum([np.asarray(c.latency_s, float).reshape(-1)[0] for c in queued]))
        if raw:
            C = np.stack([np.broadcast_to(np.asarray(c.compute_s, float), (P + 1,)) for c in raw])
            M = np.stack([np.broadcast_to(np.asarray(c.memory_s, float), (P + 1,)) for c in raw])
            O = np.stack([np.broadcast_to(np.asarray(c.overhead_s, float), (P + 1,)) for c in raw])
        else:
            C = M = O = np.zeros((0, P + 1))

        def sens(A):
            ref = A[:, :1]
            with np.errstate(divide="ignore", invalid="ignore"):
                g = np.where(ref > 0, np.log(np.maximum(A[:, 1:], 1e-300) / np.where(ref > 0, ref, 1.0)) / logf, 0.0)
            g[np.abs(g) < MIN_SENSITIVITY] = 0.0
            return sparse.csr_matrix(g)

        c0s.append(C[:, 0])
        m0s.append(M[:, 0])
        o0s.append(O[:, 0])
        gcs.append(sens(C))
        gms.append(sens(M))
        gos.append(sens(O))
        starts.append(starts[-1] + len(raw))
        offs.append(exact)
    model = OpModel(
        tuple(names), np.asarray(x, float), np.asarray(starts),
        np.array([async_dispatch(hw.kind)] * len(items), dtype=bool),
        np.concatenate(c0s) if c0s else np.zeros(0), np.concatenate(m0s) if m0s else np.zeros(0),
        np.concatenate(o0s) if o0s else np.zeros(0),
        sparse.vstack(gcs).tocsr() if gcs else sparse.csr_matrix((0, P)),
        sparse.vstack(gms).tocsr() if gms else sparse.csr_matrix((0, P)),
        sparse.vstack(gos).tocsr() if gos else sparse.csr_matrix((0, P)),
        np.zeros(len(items)))
    model.offset = np.asarray(offs) - model.latency(model.x_ref)
    return model


def fit_model(model: OpModel, measured_latency: np.ndarray, x0: np.ndarray, x_prior: np.ndarray,
              lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Least squares in log space on the per-op model; returns the fitted log parameters."""
    from scipy.optimize import least_squares

    y = np.log(np.asarray(measured_latency, float))

    def resid(x):
        lat = np.maximum(model.latency(x), 1e-12)
        return np.concatenate([np.log(lat) - y, PRIOR_WEIGHT * (x - x_prior)])

    def jac(x):
        lat, j = model.latency(x, with_jacobian=True)
        lat = np.maximum(lat, 1e-12)
        return np.vstack([j / lat[:, None], PRIOR_WEIGHT * np.eye(len(x))])

    eps = 1e-9
    start = np.clip(x0, lower + eps, upper - eps)
    sol = least_squares(resid, start, jac=jac, bounds=(lower, upper), method="trf",
                        x_scale=1.0, max_nfev=200)
    return sol.x


# ----------------------------------------------------------------------------- result

@dataclass(frozen=True)
class PublishedFit:
    """Fitted parameters, per-row predictions (preset, in-sample, LFO, roofline) and figures."""

    dataset: str
    hardware: str
    parameters: pd.DataFrame = field(repr=False)      # name, preset, fitted, lower, upper, at_bound
    rows: pd.DataFrame = field(repr=False)
    untraceable: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    spec: object = field(default=None, repr=False)    # the fitted HardwareSpec

    def figures(self) -> dict:
        r = self.rows
        out = {"preset": error_summary(r["preset_predicted"], r["measured"]),
               "in_sample": error_summary(r["fit_predicted"], r["measured"]),
               "roofline": error_summary(r["roofline_predicted"], r["measured"])}
        if "lfo_predicted" in r and r["lfo_predicted"].notna().any():
            out["leave_family_out"] = error_summary(r["lfo_predicted"], r["measured"])
        return out

    def write(self, out: str | Path) -> tuple[str, ...]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.rows.to_parquet(out / "fit_rows.parquet", index=False)
        self.rows.to_csv(out / "fit_rows.csv", index=False)
        self.parameters.to_csv(out / "parameters.csv", index=False)
        (out / "fit_summary.json").write_text(json.dumps(
            {"dataset": self.dataset, "hardware": self.hardware, "figures": self.figures(),
             "untraceable": self.untraceable, "elapsed_s": self.elapsed_s}, indent=1, default=str))
        return tuple(str(out / f) for f in ("fit_rows.parquet", "fit_rows.csv", "parameters.csv",
                                            "fit_summary.json"))


def _predict(graph, s, hw: HardwareSpec, names, thetas: np.ndarray) -> np.ndarray:
    """Full-model latency of one row at each parameter vector of ``thetas`` [K, P]."""
    from codesign.simulation import estimate_costs, make_context

    spec = hw.with_knobs({n: thetas[:, k] for k, n in enumerate(names)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lat = estimate_costs(graph, s.hardware(spec),
                             make_context(hw, s.dtype, s.mode, s.layout)).latency_s
    return np.broadcast_to(np.asarray(lat, float), (thetas.shape[0],))


def _to_metric(row, latency):
    if row["metric"] == "latency_s":
        return latency
    return float(row["batch"]) / latency


def calibrate_published(dataset, hardware, *, out: str | Path | None = None, cache=None,
                        limit: int | None = None, family=None, lfo: bool = True,
                        parameters: Sequence[str] | None = None,
                        progress: Progress | None = None) -> PublishedFit:
    """Fit ``hardware``'s parameters to ``dataset`` (see the module docstring); write the
    fitted preset to ``out`` (YAML) when given."""
    from codesign.hardware import load_hardware
    from codesign.published import check_frame, load_published
    from codesign.validation.published import (
        run_settings,
        select_rows,
        simulate_rows,
        trace_row_graph,
    )

    t0 = time.perf_counter()
    hw = load_hardware(hardware) if isinstance(hardware, str) else hardware
    if isinstance(dataset, pd.DataFrame):
        frame, name = check_frame(dataset, "<frame>"), str(dataset["dataset"].iloc[0])
    else:
        frame, name = load_published(dataset), str(dataset)
    frame = select_rows(frame, limit, family)
    base = simulate_rows(frame, hw, cache, progress)          # preset figures + roofline
    on_acc = base["on_accelerator"].astype(bool)
    ok = base[(base["status"] == "ok") & on_acc].reset_index(drop=True)
    bad = base[base["status"] != "ok"]
    offloaded = int(((base["status"] == "ok") & ~on_acc).sum())
    if len(ok) < 3:
        raise CodesignError(f"{name}: only {len(ok)} row(s) could be simulated; a fit needs at least 3")
    modes = sorted(set(ok["mode"]))
    names = list(parameters) if parameters else candidate_parameters(hw, modes)
    x_prior = np.log([parameter_value(hw, n) for n in names])
    lower = np.log([bounds_of(n)[0] for n in names])
    upper = np.log([bounds_of(n)[1] for n in names])

    items = []
    for _, r in ok.iterrows():
        s = run_settings(r["precision"], r["runtime"], r["layout"], r["phase"],
                         r.get("torch_version"))
        shape = (int(r["batch"]), *(int(v) for v in str(r["input_shape"]).split("x")))
        graph, reason = trace_row_graph(r["workload"], shape, s, cache)
        if graph is None:  # pragma: no cover - simulate_rows just traced it
            raise CodesignError(f"{r['workload']}: {reason}")
        items.append((graph, s))
    meas_lat = ok["measured_latency_s"].to_numpy(float)

    x = np.clip(x_prior, lower, upper)
    model = None
    for _ in range(OUTER_ITERATIONS):
        model = probe_rows(items, hw, names, x, progress)
        x = fit_model(model, meas_lat, x, x_prior, lower, upper)
    # drop parameters no row is sensitive to from the report's "fitted" claim
    sensitive = np.asarray(abs(model.gc).sum(0) + abs(model.gm).sum(0) + abs(model.go).sum(0)).ravel() > 0

    fams = sorted(set(ok["family"]))
    x_lfo = {}
    if lfo:
        for i, f in enumerate(fams):
            if progress:
                progress(i, len(fams), f"leave out {f}")
            keep = (ok["family"] != f).to_numpy()
            if keep.sum() < 3:
                continue
            x_lfo[f] = fit_model(model.subset(keep), meas_lat[keep], x, x_prior, lower, upper)

    theta = np.exp(x)
    fit_pred, lfo_pred = [], []
    for i, ((graph, s), (_, r)) in enumerate(zip(items, ok.iterrows())):
        if progress:
            progress(i, len(items), "final predictions")
        thetas = [theta] + ([np.exp(x_lfo[r["family"]])] if r["family"] in x_lfo else [])
        lat = _predict(graph, s, hw, names, np.vstack(thetas))
        fit_pred.append(_to_metric(r, float(lat[0])))
        lfo_pred.append(_to_metric(r, float(lat[1])) if len(lat) > 1 else float("nan"))
    rows = ok.rename(columns={"predicted": "preset_predicted"}).copy()
    rows["fit_predicted"] = fit_pred
    rows["lfo_predicted"] = lfo_pred
    for col in ("fit", "lfo", "preset"):
        rows[f"{col}_ape"] = (rows[f"{col}_predicted"] - rows["measured"]).abs() / rows["measured"]
        rows[f"{col}_signed_error"] = (rows[f"{col}_predicted"] - rows["measured"]) / rows["measured"]

    lo_b = np.array([bounds_of(n)[0] for n in names])
    hi_b = np.array([bounds_of(n)[1] for n in names])
    params = pd.DataFrame({
        "name": names, "preset": np.exp(x_prior), "fitted": theta, "lower": lo_b, "upper": hi_b,
        "at_bound": np.where(theta <= lo_b * 1.01, "lower", np.where(theta >= hi_b * 0.99, "upper", "")),
        "identified": sensitive,
        **({"lfo_min": np.exp(np.min(list(x_lfo.values()), axis=0)),
            "lfo_max": np.exp(np.max(list(x_lfo.values()), axis=0))} if x_lfo else {}),
    })
    fitted = hw.with_knobs({n: float(v) for n, v in zip(names, theta)})
    skipped = {str(k): int(v) for k, v in bad["status"].value_counts().items()}
    if offloaded:
        skipped["offloaded (not fitted)"] = offloaded
    fit = PublishedFit(name, hw.name, params, rows, skipped, time.perf_counter() - t0, fitted)
    if out is not None:
        write_fitted_spec(fit, hw, out)
    return fit


def write_fitted_spec(fit: PublishedFit, hw: HardwareSpec, out: str | Path):
    """The preset with the fitted values, provenance "fitted to: DATASET rows N, date" and the
    figures (in-sample, leave-family-out, roofline) in ``provenance``; loads back (checked)."""
    from codesign.hardware import load_hardware, load_spec_dict

    d = hw.to_dict()
    for n, v in zip(fit.parameters["name"], fit.parameters["fitted"]):
        if n.startswith("efficiency."):
            d["efficiency"][n.split(".", 1)[1]] = round(float(v), 5)
        else:
            d["dispatch"][n] = float(f"{v:.4g}")
    figs = fit.figures()
    today = _dt.date.today().isoformat()
    line = (f"fitted to: {fit.dataset} rows {len(fit.rows)}, {today} "
            f"(codesign calibrate --published {fit.dataset} --hw {hw.name})")
    d["name"] = f"{hw.name}-fitted"
    d["source"] = f"{line}; base preset: {hw.source}"
    prov = dict(d.get("provenance") or {})
    prov["published_fit"] = {
        "fitted_to": fit.dataset, "rows": len(fit.rows), "date": today, "base": hw.name,
        "parameters": {n: {"preset": float(p), "fitted": float(v), "at_bound": str(b)}
                       for n, p, v, b in zip(fit.parameters["name"], fit.parameters["preset"],
                                             fit.parameters["fitted"], fit.parameters["at_bound"])},
        "figures": {k: {kk: (float(vv) if isinstance(vv, (int, float, np.floating)) else vv)
                        for kk, vv in v.items()} for k, v in figs.items()},
    }
    d["provenance"] = prov
    import yaml

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(_plain(d), sort_keys=False)
    out.write_text(f"# {line}\n" + text)
    load_spec_dict(yaml.safe_load(out.read_text()), str(out))
    return load_hardware(str(out))


def _plain(v):
    if isinstance(v, dict) or hasattr(v, "items"):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def format_fit(fit: PublishedFit) -> str:
    from codesign.validation.published import _pct

    lines = [f"fit of {fit.hardware} to {fit.dataset}: {len(fit.rows)} rows"
             + (f" (not scored: {', '.join(f'{k} {v}' for k, v in fit.untraceable.items())})"
                if fit.untraceable else "") + f", {fit.elapsed_s:.0f} s"]
    lines.append(f"{'':18s} {'n':>5s} {'MAPE':>8s} {'median':>8s} {'<=10%':>7s} {'<=20%':>7s} "
                 f"{'bias':>8s} {'Spearman':>8s}")
    for label, m in fit.figures().items():
        lines.append(f"{label:18s} {m['n']:5d} {_pct(m['mape'])} {_pct(m['median_ape'])} "
                     f"{_pct(m['within_10'], 7)} {_pct(m['within_20'], 7)} {_pct(m['bias'], 8, True)} "
                     f"{m['spearman']:8.3f}")
    lines.append("parameters (preset -> fitted" + (", LFO range" if "lfo_min" in fit.parameters else "") + "):")
    for _, p in fit.parameters.iterrows():
        rng = f"  [{p['lfo_min']:.4g}, {p['lfo_max']:.4g}]" if "lfo_min" in p else ""
        flag = f"  AT {p['at_bound'].upper()} BOUND" if p["at_bound"] else ""
        ident = "" if p["identified"] else "  (no row depends on it)"
        lines.append(f"  {p['name']:32s} {p['preset']:.4g} -> {p['fitted']:.4g}{rng}{flag}{ident}")
    return "\n".join(lines)


__all__ = [
    "EFF_BOUNDS",
    "OVERHEAD_BOUNDS",
    "OpModel",
    "PublishedFit",
    "calibrate_published",
    "candidate_parameters",
    "fit_model",
    "format_fit",
    "probe_rows",
    "write_fitted_spec",
]
