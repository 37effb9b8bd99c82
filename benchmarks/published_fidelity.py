"""GPU fidelity against timm's published RTX 3090 measurements: the shipped preset, a plain
roofline, and the preset's efficiency/overhead parameters fitted to the rows (in-sample and
leave-family-out), per dataset.

    python benchmarks/published_fidelity.py                       # 4 timm datasets, 300 rows each
    python benchmarks/published_fidelity.py --limit 0             # every row (slow: hours here)
    python benchmarks/published_fidelity.py --datasets timm-rtx3090-infer-nchw --limit 100

``--limit N`` takes N rows spread evenly over each dataset (codesign.validation.published.
select_rows). Traced graphs are cached under ``--cache`` (default ~/.cache/codesign/traces), so a
rerun only simulates. Writes, per dataset, ``OUT/DATASET/{fitted.yaml, fit_rows.*,
parameters.csv, fit_summary.json}`` and the preset's validation report (report.md, plots).
Every figure printed is the full cost model evaluated at the stated parameters.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DATASETS = ("timm-rtx3090-infer-nchw", "timm-rtx3090-infer-nhwc", "timm-rtx3090-train-nchw",
            "timm-rtx3090-train-nhwc")


def _progress(tag: str):
    state = {"t": 0.0}

    def report(done: int, total: int, label: str) -> None:
        now = time.time()
        if now - state["t"] > 30 or done == total:
            state["t"] = now
            print(f"  [{tag}] {done}/{total} {label}", file=sys.stderr, flush=True)

    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--hw", default="rtx3090")
    ap.add_argument("--limit", type=int, default=300, help="rows per dataset (0: all)")
    ap.add_argument("--cache", default="~/.cache/codesign/traces")
    ap.add_argument("--out", default="reports/published")
    ap.add_argument("--no-lfo", action="store_true")
    args = ap.parse_args(argv)

    from codesign.calibration.published import calibrate_published, format_fit
    from codesign.capture.cache import TraceCache
    from codesign.reporting.published import write_published_report
    from codesign.validation.published import PublishedValidation

    cache = TraceCache(Path(args.cache).expanduser())
    table = []
    for ds in args.datasets:
        t0 = time.time()
        out = Path(args.out) / ds
        fit = calibrate_published(ds, args.hw, out=out / "fitted.yaml", cache=cache,
                                  limit=args.limit or None, lfo=not args.no_lfo,
                                  progress=_progress(ds))
        fit.write(out)
        base = fit.rows.rename(columns={"preset_predicted": "predicted"})
        write_published_report(PublishedValidation(ds, args.hw, base, 0.0), out / "preset",
                               title=f"{ds} on the shipped {args.hw} preset")
        print(format_fit(fit), flush=True)
        f = fit.figures()
        table.append((ds, len(fit.rows), fit.untraceable, f, time.time() - t0))
        print(flush=True)
    print(f"{'dataset':26s} {'rows':>5s}  {'roofline':>9s} {'preset':>9s} {'in-sample':>10s} "
          f"{'LFO':>9s} {'LFO<=10%':>9s} {'LFO bias':>9s} {'LFO rho':>8s}")
    for ds, n, bad, f, dt in table:
        lfo = f.get("leave_family_out", {})
        print(f"{ds:26s} {n:5d}  {f['roofline']['mape']:9.1%} {f['preset']['mape']:9.1%} "
              f"{f['in_sample']['mape']:10.1%} {lfo.get('mape', float('nan')):9.1%} "
              f"{lfo.get('within_10', float('nan')):9.1%} {lfo.get('bias', float('nan')):+9.1%} "
              f"{lfo.get('spearman', float('nan')):8.3f}   ({dt:.0f} s; not scored: {bad or 0})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
