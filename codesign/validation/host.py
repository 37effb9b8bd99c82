"""Estimate vs measurement: per workload and per op errors of the simulator on a real device.

``validate(["resnet50", "mobilenetv2"], hardware="host.yaml", device="cpu", batch=(1, 8))``
traces and simulates each workload (eager mode, the spec given) and measures it with
:func:`codesign.measurement.runner.measure`, then reports:

* per workload: absolute percentage error ``|est - meas| / meas`` of the end-to-end latency,
  the noise floor (the same quantity between two measurement passes), and the error split by
  the bound of each op in the estimate: ``error_compute_s``, ``error_memory_s`` and
  ``error_overhead_s`` are sums of (estimated - measured) over matched ops whose estimate is
  compute-, memory- or overhead-bound; ``unattributed_s`` is measured time outside every
  profiled op (Python and module-call time between ops);
* per op (profiler times matched to traced ops): APE, Spearman rank correlation of estimated
  vs measured op times (per workload and pooled), and errors by op kind and conv variant;
* MAPE, median and max APE over workloads.

Measurement protocol (this host's timings drift 5-60% between processes): ``rounds`` rounds,
each timing every workload in turn (interleaved) with ``repeat`` passes after warm-up. The
measured latency is the minimum over all passes (interference only adds time); pass A =
even rounds, pass B = odd rounds, and the noise floor is ``|A - B| / min(A, B)``.

``write(out)`` produces ``validation.json``, ``validation.md``, ``ops.csv`` and ``scatter.png``.

GPU: ``codesign validate WORKLOAD --device cuda --hw <gpu preset> [--dtype fp16]`` times each
pass with CUDA events and a synchronize and takes per-op device times from the profiler's
CUDA activity. This path has NOT yet run on a real GPU (none was available while it was
written); the tests drive its logic on a CPU with an injected fake timer.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from codesign.errors import CodesignError, MeasureError
from codesign.results.manifest import ResultKind, write_manifest

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

WORKLOAD_COLUMNS = (
    "workload", "batch", "measured_s", "estimated_s", "ape", "noise_floor", "pass_a_s",
    "pass_b_s", "spearman", "ops", "matched_ops", "estimated_compute_s", "estimated_memory_s",
    "estimated_overhead_s", "error_compute_s", "error_memory_s", "error_overhead_s",
    "unattributed_s", "unmatched_events",
)
OP_COLUMNS = (
    "workload", "batch", "index", "name", "module", "kind", "variant", "bound", "estimated_s",
    "compute_s", "memory_s", "overhead_s", "measured_s", "ape", "error_s",
)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (scipy), NaN when fewer than 3 points or a constant side."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def ape(estimated: float, measured: float) -> float:
    """Absolute percentage error as a fraction: |est - meas| / meas."""
    return abs(estimated - measured) / measured if measured > 0 else float("nan")


def error_metrics(estimated: Sequence[float], measured: Sequence[float]) -> dict:
    """MAPE, median and max APE (fractions) and Spearman of paired estimates/measurements."""
    errs = [ape(e, m) for e, m in zip(estimated, measured)]
    errs = [e for e in errs if math.isfinite(e)]
    if not errs:
        return {"mape": float("nan"), "median_ape": float("nan"), "max_ape": float("nan"),
                "spearman": float("nan"), "n": 0}
    return {"mape": float(np.mean(errs)), "median_ape": float(np.median(errs)),
            "max_ape": float(np.max(errs)), "spearman": spearman(estimated, measured),
            "n": len(errs)}


@dataclass(frozen=True)
class Item:
    """One (workload, batch) to validate."""

    label: str
    batch: int
    model: Any
    inputs: tuple


@dataclass(frozen=True)
class ValidationResult:
    """Per-workload and per-op comparison; frames are tidy (one row per workload / op)."""

    workloads: Any            # pandas DataFrame, WORKLOAD_COLUMNS
    ops: Any                  # pandas DataFrame, OP_COLUMNS
    hardware: str
    device: str
    device_name: str
    dtype: str
    threads: int
    torch_version: str
    rounds: int
    repeat: int
    elapsed_s: float
    notes: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)

    @property
    def mape(self) -> float:
        return float(self.workloads.ape.mean())

    @property
    def median_ape(self) -> float:
        return float(self.workloads.ape.median())

    @property
    def max_ape(self) -> float:
        return float(self.workloads.ape.max())

    @property
    def noise_floor(self) -> float:
        """Median over workloads of the pass-to-pass difference."""
        return float(self.workloads.noise_floor.median())

    @property
    def op_spearman(self) -> float:
        """Median over workloads of the per-op Spearman correlation."""
        s = self.workloads.spearman.dropna()
        return float(s.median()) if len(s) else float("nan")

    @property
    def pooled_op_spearman(self) -> float:
        ok = self.ops.measured_s.notna()
        return spearman(self.ops.estimated_s[ok], self.ops.measured_s[ok])

    def by_kind(self):
        """Per op kind (conv split by variant): ops, measured and estimated time, op MAPE."""
        df = self.ops[self.ops.measured_s.notna()].copy()
        df["class"] = np.where(df.variant.astype(str) != "", "conv." + df.variant.astype(str),
                               df.kind)
        g = df.groupby("class")
        out = g.agg(ops=("ape", "size"), measured_s=("measured_s", "sum"),
                    estimated_s=("estimated_s", "sum"), op_mape=("ape", "mean"),
                    op_median_ape=("ape", "median"))
        out["sum_error"] = (out.estimated_s - out.measured_s) / out.measured_s
        return out.reset_index().sort_values("measured_s", ascending=False)

    def summary(self) -> dict:
        return {
            "hardware": self.hardware, "device": self.device, "device_name": self.device_name,
            "dtype": self.dtype, "threads": self.threads, "torch_version": self.torch_version,
            "rounds": self.rounds, "repeat": self.repeat, "workloads": len(self.workloads),
            "mape": self.mape, "median_ape": self.median_ape, "max_ape": self.max_ape,
            "noise_floor_median": self.noise_floor,
            "noise_floor_max": float(self.workloads.noise_floor.max()),
            "op_spearman_median": self.op_spearman, "op_spearman_pooled": self.pooled_op_spearman,
            "elapsed_s": self.elapsed_s, "notes": list(self.notes),
        }

    def to_frame(self):
        return self.workloads.copy()

    def write(self, out: str | Path) -> tuple[str, ...]:
        """Write validation.json, validation.md, ops.csv and scatter.png into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        payload = {"summary": summary,
                   "workloads": json.loads(self.workloads.to_json(orient="records")),
                   "by_kind": json.loads(self.by_kind().to_json(orient="records"))}
        (out / "validation.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
        self.ops.to_csv(out / "ops.csv", index=False)
        (out / "validation.md").write_text(self.markdown(), encoding="utf-8")
        self._scatter(out / "scatter.png")
        write_manifest(out, ResultKind.VALIDATION, {"ops": "ops.csv"}, summary="validation.json")
        return tuple(str(out / f) for f in ("validation.json", "validation.md", "ops.csv",
                                            "scatter.png"))

    def markdown(self) -> str:
        s = self.summary()
        lines = [
            "# Validation: estimate vs measurement", "",
            f"Hardware spec `{self.hardware}` on {self.device} ({self.device_name}), {self.dtype}, "
            f"{self.threads} thread(s), torch {self.torch_version}; {self.rounds} interleaved "
            f"rounds x {self.repeat} passes per workload, measured = fastest pass.", "",
            f"**End-to-end MAPE {s['mape'] * 100:.1f}%** (median {s['median_ape'] * 100:.1f}%, max "
            f"{s['max_ape'] * 100:.1f}%) over {s['workloads']} workload runs; noise floor (pass A vs "
            f"B) median {s['noise_floor_median'] * 100:.1f}%, max {s['noise_floor_max'] * 100:.1f}%. "
            f"Per-op Spearman: median over workloads {s['op_spearman_median']:.3f}, pooled "
            f"{s['op_spearman_pooled']:.3f}.", "",
            "| workload | batch | measured ms | estimated ms | error | noise floor | op Spearman | "
            "ops matched | err compute ms | err memory ms | err overhead ms | unattributed ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.workloads.itertuples():
            lines.append(
                f"| {r.workload} | {r.batch} | {r.measured_s * 1e3:.3f} | {r.estimated_s * 1e3:.3f} "
                f"| {(r.estimated_s / r.measured_s - 1) * 100:+.1f}% | {r.noise_floor * 100:.1f}% "
                f"| {r.spearman:.3f} | {r.matched_ops}/{r.ops} | {r.error_compute_s * 1e3:+.3f} "
                f"| {r.error_memory_s * 1e3:+.3f} | {r.error_overhead_s * 1e3:+.3f} "
                f"| {r.unattributed_s * 1e3:.3f} |")
        lines += ["", "## By op class (matched ops, summed over all runs)", "",
                  "| class | ops | measured ms | estimated ms | sum error | op MAPE | op median APE |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.by_kind().itertuples():
            lines.append(f"| {r._1} | {r.ops} | {r.measured_s * 1e3:.3f} | {r.estimated_s * 1e3:.3f} "
                         f"| {r.sum_error * 100:+.1f}% | {r.op_mape * 100:.1f}% "
                         f"| {r.op_median_ape * 100:.1f}% |")
        lines += ["", "Error split: `err compute/memory/overhead` sum (estimated - measured) over "
                  "the matched ops whose estimate is bound by that term; `unattributed` is "
                  "measured end-to-end time outside every profiled op (Python, module calls). "
                  "Per-op measured times come from torch.profiler (inclusive CPU time, device "
                  "time on CUDA) and carry the profiler's own overhead.", ""]
        if self.notes:
            lines += ["Notes:", ""] + [f"- {n}" for n in self.notes] + [""]
        lines += ["![estimate vs measured](scatter.png)", ""]
        return "\n".join(lines)

    def _scatter(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 5))
        ops = self.ops[self.ops.measured_s.notna() & (self.ops.measured_s > 0)]
        ax = axes[0]
        for kind, g in ops.groupby("kind"):
            ax.scatter(g.measured_s * 1e3, g.estimated_s * 1e3, s=8, alpha=0.6, label=kind)
        _diag(ax, ops.measured_s * 1e3, ops.estimated_s * 1e3)
        ax.set(xscale="log", yscale="log", xlabel="measured ms (profiler)", ylabel="estimated ms",
               title=f"per op (Spearman pooled {self.pooled_op_spearman:.3f})")
        ax.legend(fontsize=7, markerscale=2)
        ax = axes[1]
        w = self.workloads
        ax.scatter(w.measured_s * 1e3, w.estimated_s * 1e3, s=18)
        for r in w.itertuples():
            ax.annotate(f"{r.workload}/b{r.batch}", (r.measured_s * 1e3, r.estimated_s * 1e3),
                        fontsize=6)
        _diag(ax, w.measured_s * 1e3, w.estimated_s * 1e3)
        ax.set(xscale="log", yscale="log", xlabel="measured ms", ylabel="estimated ms",
               title=f"end to end (MAPE {self.mape * 100:.1f}%)")
        fig.suptitle(f"{self.hardware} on {self.device_name}")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _diag(ax, x, y) -> None:
    vals = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    if len(vals):
        lo, hi = vals.min() * 0.8, vals.max() * 1.25
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.plot([lo, hi], [lo * 1.15, hi * 1.15], "k:", lw=0.5)
        ax.plot([lo, hi], [lo / 1.15, hi / 1.15], "k:", lw=0.5)


# --- building items ------------------------------------------------------------------------

def _items(models, inputs, batches: Sequence[int], input_shape=None,
           knobs=None) -> list[Item]:
    """Workload specs (zoo name / file.py:factory) or modules -> items, one per batch size."""
    import torch

    from codesign.capture.references import resolve_workload

    if isinstance(models, (str, torch.nn.Module)):
        models = [models]
    items: list[Item] = []
    for m in models:
        if isinstance(m, str):
            shape_m = input_shape.get(m) if isinstance(input_shape, Mapping) else input_shape
            for b in batches:
                wl = resolve_workload(m, knobs, shape_m)
                shape = (int(b),) + tuple(wl.input_shape[1:])
                items.append(Item(m, int(b), wl.model.eval(), (shape,)))
        elif isinstance(m, torch.nn.Module):
            if not inputs:
                raise CodesignError("validate(model, ...) needs the model's inputs "
                                    "(tensors or shapes)")
            b = inputs[0].shape[0] if hasattr(inputs[0], "shape") else inputs[0][0]
            items.append(Item(type(m).__name__, int(b), m.eval(), tuple(inputs)))
        else:
            raise CodesignError(f"validate expects workload names, file.py:factory specs or "
                                f"nn.Modules, got {type(m).__name__}")
    return items


def _trace(item: Item):
    import warnings

    from codesign.capture.tracer import trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trace(item.model, *item.inputs, name=item.label)


#: the spec kind that describes each measured device
_DEVICE_KIND = {"cpu": "cpu", "cuda": "gpu"}


def warn_device_mismatch(hw: HardwareSpec, device: str) -> None:
    """Warn when the measured device is not the kind of hardware the spec describes (a CPU
    run against an A100 spec gives a large error that says nothing about the cost model)."""
    import warnings

    want = _DEVICE_KIND.get(str(device).split(":")[0])
    if want is not None and hw.kind != want:
        warnings.warn(f"measuring on {device} but --hw {hw.name!r} describes a {hw.kind}: the "
                      f"comparison is meaningless; use a {want} spec (e.g. "
                      f"{'a calibrated host.yaml or host-cpu' if want == 'cpu' else 'the preset of your GPU'})",
                      UserWarning, stacklevel=3)


def _simulate(graph, hw: HardwareSpec, dtype: str):
    from codesign.simulation import simulate

    return simulate(graph, hw, dtype=dtype, mode="eager")


def validate(models=None, *inputs, hardware=None, device: str = "cpu", batch=(1,),
             dtype: str = "fp32", rounds: int = 4, repeat: int = 5, warmup: int = 2,
             out: str | Path | None = None, threads: int | None = None, input_shape=None,
             knobs=None, timer=None, profile_runs: int = 3, clock: str = "wall",
             allocator: str | None = None,
             progress: Callable[[str], None] | None = None,
             between_rounds: Callable[[int], None] | None = None,
             published=None, cache=None, limit: int | None = None, family=None):
    """Compare simulated and measured latency of ``models`` (see module docstring).

    ``published``: instead of measuring here, check ``hardware`` against a dataset of published
    measurements (a name of :func:`codesign.published.list_published`, a file or a frame; see
    :func:`codesign.validation.published.validate_published`, which gets ``cache``, ``limit``,
    ``family`` and returns a ``PublishedValidation``); ``hardware`` None then means each row's own.

    ``models``: workload spec(s) (zoo names, ``file.py:factory``) built at every ``batch``, or
    an ``nn.Module`` with ``inputs``. ``hardware``: HardwareSpec, preset name or YAML path.
    ``timer``: injected timing source (tests drive the CUDA path with a fake one).
    ``clock``: "wall" or "cpu" (process CPU time, robust to other processes; threads=1).
    ``allocator``: host malloc regime for the measured runs (:mod:`codesign.measurement.allocator`);
    calibrate under the same one (a calibrated spec records it).
    ``input_shape``: one shape for every workload, or a mapping workload name -> shape (names
    not in it keep their default input); the batch is replaced either way.
    ``between_rounds(r)``: called after measurement round ``r``, e.g. to run a calibration
    round, so that calibration and validation sample the same machine states. ``hardware``
    may then be a zero-argument callable returning the spec: it is called once, after all
    measurement rounds (a spec fitted from those interleaved rounds).
    """
    if published is not None:
        from codesign.validation.published import validate_published

        if models is not None:
            raise CodesignError("validate: give models to measure here or published=DATASET, not both")
        result = validate_published(published, hardware, cache=cache, limit=limit, family=family)
        if out is not None:
            result.write(out)
        return result
    if models is None:
        raise CodesignError("validate needs models to measure here, or published=DATASET")
    hardware = "host-cpu" if hardware is None else hardware
    if out is not None:
        from codesign.results.paths import check_output_dir

        check_output_dir(out)
    import torch

    from codesign.hardware import load_hardware

    from codesign.measurement.runner import (check_device, cpu_name, make_timer, measure, profile_ops,
                                             torch_threads)

    from codesign.measurement import allocator as alloc

    t_start = time.perf_counter()
    hw = None if callable(hardware) else load_hardware(hardware)
    if timer is None:
        check_device(device)                     # an unavailable device is an error first
        timer = make_timer(device, clock)
    if hw is not None:
        warn_device_mismatch(hw, device)
    allocator = alloc.configure(allocator)
    if rounds < 2:
        raise CodesignError(f"rounds = {rounds}; validation needs >= 2 (two passes give the "
                            "noise floor)")
    batches = (batch,) if isinstance(batch, int) else tuple(batch)
    items = _items(models, inputs, batches, input_shape, knobs)
    graphs = [_trace(it) for it in items]
    samples: list[list[list[float]]] = [[[] for _ in range(rounds)] for _ in items]
    meta = None
    with torch_threads(threads):
        for r in range(rounds):
            for i, it in enumerate(items):
                m = measure(it.model, *it.inputs, device=device, dtype=dtype,
                            warmup=warmup if r == 0 else 1, repeat=repeat, timer=timer,
                            per_op=False, allocator=allocator)
                samples[i][r] = list(m.times_s)
                meta = m
            if progress:
                progress(f"round {r + 1}/{rounds}")
            if between_rounds is not None:
                between_rounds(r)
        per_op = []
        prof_device = getattr(timer, "device", device) if timer is not None else device
        for it, graph in zip(items, graphs):
            xs = _materialize(it.inputs, meta.device if meta else device, timer)
            model = it.model
            try:
                with torch.no_grad():
                    ops, unmatched = profile_ops(model, xs, graph, device=prof_device,
                                                 runs=profile_runs)
            except CodesignError:
                raise
            except Exception as exc:
                raise MeasureError(f"profiling {it.label} failed: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
            per_op.append((ops, unmatched))
        n_threads = torch.get_num_threads()
    if hw is None:
        hw = load_hardware(hardware())
    sims = [_simulate(g, hw, dtype) for g in graphs]
    wrows, orows = [], []
    for it, sim, s, (ops, unmatched) in zip(items, sims, samples, per_op):
        wrow, op_rows = _compare(it, sim, s, ops, unmatched)
        wrows.append(wrow)
        orows.extend(op_rows)
    import pandas as pd

    notes = [f"Host allocator: {allocator} (codesign.measurement.allocator)."]
    spec_alloc = hw.provenance.get("allocator")
    if spec_alloc and spec_alloc != allocator:
        notes.append(f"The spec was calibrated under allocator {spec_alloc!r}, this run measured "
                     f"under {allocator!r}: page-fault costs differ between the two.")
    if device == "cuda" and timer is None:
        notes.append("CUDA timings: CUDA events around each forward, synchronized.")
    if clock == "cpu":
        notes.append("End-to-end times are process CPU time (time.process_time): time spent "
                     "waiting for a core while other processes ran is excluded; per-op profiler "
                     "times are wall clock." + (" With more than one thread CPU time sums the "
                     "threads (spin-waits included)." if n_threads > 1 else ""))
    res = ValidationResult(
        workloads=pd.DataFrame(wrows, columns=list(WORKLOAD_COLUMNS)),
        ops=pd.DataFrame(orows, columns=list(OP_COLUMNS)), hardware=hw.name, device=device,
        device_name=meta.device_name if meta else cpu_name(), dtype=dtype, threads=n_threads,
        torch_version=meta.torch_version if meta else str(torch.__version__), rounds=rounds,
        repeat=repeat, elapsed_s=time.perf_counter() - t_start, notes=tuple(notes))
    if out is not None:
        files = res.write(out)
        res = ValidationResult(**{**res.__dict__, "files": files})
    return res


def _materialize(inputs, device, timer):
    import torch

    target = getattr(timer, "device", device) if timer is not None else device
    return [x.to(target) if isinstance(x, torch.Tensor) else torch.randn(tuple(x)).to(target)
            for x in inputs]


def _compare(it: Item, sim, samples: list[list[float]], ops, unmatched):
    all_s = [t for rnd in samples for t in rnd]
    a = [t for i, rnd in enumerate(samples) if i % 2 == 0 for t in rnd]
    b = [t for i, rnd in enumerate(samples) if i % 2 == 1 for t in rnd]
    measured = min(all_s)
    pa, pb = min(a), min(b)
    est = sim.latency_s
    rows = {r.index: r for r in sim.rows}
    op_rows = []
    split = {"compute": 0.0, "memory": 0.0, "overhead": 0.0}
    matched_meas = 0.0
    for o in ops:
        r = rows[o.index]
        meas = o.measured_s if o.matched else float("nan")
        err = r.latency_s - meas if o.matched else float("nan")
        if o.matched:
            matched_meas += meas
            if r.bound in split:
                split[r.bound] += err
        op_rows.append({
            "workload": it.label, "batch": it.batch, "index": o.index, "name": o.name,
            "module": o.module, "kind": o.kind, "variant": o.variant, "bound": r.bound,
            "estimated_s": r.latency_s, "compute_s": r.compute_s, "memory_s": r.memory_s,
            "overhead_s": r.overhead_s, "measured_s": meas,
            "ape": ape(r.latency_s, meas) if o.matched else float("nan"), "error_s": err,
        })
    matched = [(row["estimated_s"], row["measured_s"]) for row in op_rows
               if math.isfinite(row["measured_s"])]
    rho = spearman([e for e, _ in matched], [m for _, m in matched])
    # profiled op times carry the profiler's overhead; scale them to the unprofiled run
    wrow = {
        "workload": it.label, "batch": it.batch, "measured_s": measured, "estimated_s": est,
        "ape": ape(est, measured), "noise_floor": abs(pa - pb) / min(pa, pb), "pass_a_s": pa,
        "pass_b_s": pb, "spearman": rho, "ops": len(ops), "matched_ops": len(matched),
        "estimated_compute_s": float(sum(r.latency_s for r in sim.rows if r.bound == "compute")),
        "estimated_memory_s": float(sum(r.latency_s for r in sim.rows if r.bound == "memory")),
        "estimated_overhead_s": float(sum(r.latency_s for r in sim.rows if r.bound == "overhead")),
        "error_compute_s": split["compute"], "error_memory_s": split["memory"],
        "error_overhead_s": split["overhead"],
        "unattributed_s": max(0.0, measured - matched_meas),
        "unmatched_events": "; ".join(unmatched[:20]),
    }
    return wrow, op_rows


# --- CLI -----------------------------------------------------------------------------------


def format_table(res: ValidationResult) -> str:
    lines = [f"{'workload':24s} {'batch':>5s} {'measured ms':>12s} {'estimated ms':>13s} "
             f"{'error':>8s} {'noise':>7s} {'op rho':>7s}"]
    for r in res.workloads.itertuples():
        lines.append(f"{r.workload:24s} {r.batch:5d} {r.measured_s * 1e3:12.3f} "
                     f"{r.estimated_s * 1e3:13.3f} {(r.estimated_s / r.measured_s - 1) * 100:+7.1f}% "
                     f"{r.noise_floor * 100:6.1f}% {r.spearman:7.3f}")
    lines.append(f"MAPE {res.mape * 100:.1f}%  median {res.median_ape * 100:.1f}%  max "
                 f"{res.max_ape * 100:.1f}%  noise floor median {res.noise_floor * 100:.1f}%  "
                 f"op Spearman median {res.op_spearman:.3f} (pooled {res.pooled_op_spearman:.3f})"
                 f"  [{res.device_name}, {res.threads} thread(s)]")
    return "\n".join(lines)


__all__ = ["validate", "ValidationResult", "error_metrics", "spearman", "ape",
           "format_table"]
