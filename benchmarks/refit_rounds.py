"""Refit a calibrated CPU spec from its recorded rounds at other quantiles, and re-estimate the
runs of a validation report against the same measurements (no new timing).

    python benchmarks/refit_rounds.py reports/validation/large-kernel        # 0.5 and 0.25
    python benchmarks/refit_rounds.py reports/validation/zoo-cpu1 --quantiles 0.5 0.25 0.0

The folder holds ``host.yaml`` (written by ``benchmarks/accuracy.py``: every microbenchmark's
round times are in its provenance) and ``validation.json`` (measured latency per workload and
batch). For each quantile the script fits the spec to that quantile of each benchmark's round
times (``codesign.calibration.host.round_statistic``), simulates every validated run with it and
prints MAPE, mean signed error, max error and the Spearman rank correlation over the runs.

Why: ``validate`` takes the fastest of its passes while calibration takes the median round; on
a host whose other processes inflate most rounds, the two then sample different machine states
and the estimates come out biased (issue 15 notes). This measures that bias on the same data.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="folder with host.yaml and validation.json")
    ap.add_argument("--quantiles", type=float, nargs="+", default=[0.5, 0.25])
    args = ap.parse_args(argv)

    import numpy as np
    import yaml

    from codesign.calibration.host import (
        Observation,
        _write_spec,
        cpu_benchmarks,
        fit,
        round_statistic,
    )
    from codesign.capture.tracer import trace
    from codesign.cost.base import CostContext
    from codesign.cost.roofline import roofline_floor
    from codesign.hardware import load_hardware
    from codesign.simulation import simulate
    from codesign.validation.host import spearman
    from codesign.zoo import WORKLOADS, build_workload

    warnings.simplefilter("ignore")
    folder = Path(args.folder)
    d = yaml.safe_load((folder / "host.yaml").read_text())
    rounds = {b["name"]: b["rounds_s"] for b in d["provenance"]["benchmarks"]}
    benches = []
    for b in cpu_benchmarks():
        if b.name in rounds:
            mod, xs = b.build()
            benches.append((b, tuple(trace(mod, *xs, name=b.name).ops)))
    keep = ("cores", "l1_bytes", "l2_bytes", "l3_bytes", "simd_width_bits",
            "page_fault_bytes_per_s", "mmap_threshold_bytes")
    base = load_hardware(d["provenance"]["base_preset"]).with_knobs(
        {**{k: d["cpu"][k] for k in keep}, "clock_hz": d["provenance"]["clock"]["reported_hz"]})
    runs = json.loads((folder / "validation.json").read_text())["workloads"]
    graphs = []
    for w in runs:
        e = WORKLOADS[w["workload"]]
        inp = w.get("input", "default")
        rest = tuple(e.default_input[1:]) if inp in (None, "default") else tuple(int(v) for v in inp.split("x"))
        graphs.append(trace(build_workload(w["workload"]), (w["batch"], *rest)))
    measured = np.array([w["measured_s"] for w in runs])
    for q in args.quantiles:
        obs = [Observation(b.name, b.group, round_statistic(rounds[b.name], q), ops,
                           tuple(rounds[b.name])) for b, ops in benches]
        res = fit(base, obs)
        spec = _write_spec(base, res, obs, "cpu", d["cpu"]["cores"], False, 0.0,
                           {"allocator": d["provenance"].get("allocator", "retain")}, None)
        est = np.array([simulate(g, spec, dtype="fp32", mode="eager").latency_s for g in graphs])
        err = est / measured - 1
        print(f"round quantile {q:.2f}: fit median |error| {res.median_abs_error * 100:.1f}%; "
              f"runs {len(runs)}: MAPE {np.mean(np.abs(err)) * 100:.1f}%, mean signed "
              f"{np.mean(err) * 100:+.1f}%, max {np.max(np.abs(err)) * 100:.1f}%, "
              f"Spearman {spearman(est, measured):.3f}")
        # plain roofline beside it: per op max(MACs at peak, compulsory bytes at peak DRAM
        # bandwidth) + the fitted eager dispatch overhead, no efficiencies, no CPU terms
        ctx = CostContext("fp32", "eager", "nchw")
        roof = np.array([sum(float(roofline_floor(op, spec, ctx)) + spec.dispatch.eager_overhead_s
                             for op in g.ops if op.supported) for g in graphs])
        rerr = roof / measured - 1
        print(f"  plain roofline (same spec): MAPE {np.mean(np.abs(rerr)) * 100:.1f}%, mean signed "
              f"{np.mean(rerr) * 100:+.1f}%, Spearman {spearman(roof, measured):.3f}")
        for w, e_s, r in zip(runs, est, err):
            print(f"    {w['workload']:24s} b{w['batch']}: measured {w['measured_s'] * 1e3:9.3f} ms, "
                  f"estimated {e_s * 1e3:9.3f} ms ({r * 100:+.1f}%), noise floor "
                  f"{w['noise_floor'] * 100:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
