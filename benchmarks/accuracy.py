"""Calibrate this CPU from microbenchmarks, then validate the whole zoo at batch 1 and 8.

    python benchmarks/accuracy.py                      # full calibration + zoo, < 15 min
    python benchmarks/accuracy.py --quick              # quick calibration (< 60 s)
    python benchmarks/accuracy.py --hw host.yaml       # reuse a calibrated spec
    python benchmarks/accuracy.py --workloads resnet50 mobilenetv2 --batch 1
    python benchmarks/accuracy.py --large-kernel       # held-out large-kernel blocks (issue 15)

Prints one row per (workload, batch): measured and estimated latency, error, noise floor (two
interleaved measurement passes compared) and per-op Spearman; then MAPE, median, max error.
Reports (validation.md/json, ops.csv, scatter.png) go to ``--out`` (default
reports/accuracy). Calibration never sees the zoo: it times single-op microbenchmarks only.
Its rounds are interleaved with the validation rounds (``--calibration-rounds`` before the
first, one after each), so both sample the same machine states; the spec is fitted once, after
the last round, and written to ``--calibrated``. Measurements run under the host allocator
regime ``--allocator`` (default retain, see codesign/allocator.py).

Inputs: every workload runs at its zoo default input with the batch replaced, except the
heavy ones, which run at a smaller image so that the whole run stays under 15 minutes on a
2-core CPU (listed in SMALL_INPUTS; the op mix is the same, the spatial size is smaller).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# workload -> input shape used here (batch replaced), chosen to bound the run time
SMALL_INPUTS = {
    "resnet50": (1, 3, 160, 160),
    "resnet50_nl": (1, 3, 160, 160),
    "resnext50": (1, 3, 160, 160),
    "convnext_t": (1, 3, 160, 160),
    "inceptionnext_t": (1, 3, 160, 160),
    "c2d_resnet50_nl": (1, 3, 4, 112, 112),
    "tiny_yolov2": (1, 3, 288, 288),
    "tiny_yolov2_ccp": (1, 3, 288, 288),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", help="calibrated spec to use (skips calibration)")
    ap.add_argument("--quick", action="store_true", help="quick calibration")
    ap.add_argument("--calibrated", default="reports/accuracy/host.yaml",
                    help="where calibration writes the spec")
    ap.add_argument("--workloads", nargs="*", help="subset of the zoo (default: all but the "
                    "large-kernel seeds of codesign/zoo/large_kernel.py)")
    ap.add_argument("--large-kernel", action="store_true", help="validate the held-out "
                    "large-kernel and token-mixer blocks (zoo LARGE_KERNEL_BLOCKS) instead")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=4, help="validation rounds; one calibration "
                    "round runs after each")
    ap.add_argument("--calibration-rounds", type=int, default=2,
                    help="calibration rounds before the first validation round")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--clock", default="wall", help="wall | cpu (process CPU time; with --threads 1 "
                    "it is robust to other processes sharing the host)")
    ap.add_argument("--allocator", default="retain", help="retain | system: host malloc regime "
                    "for calibration and validation (see codesign.measurement.allocator)")
    ap.add_argument("--round-quantile", type=float, default=0.5, help="quantile of each "
                    "calibration benchmark's round times the fit takes (0.5: median)")
    ap.add_argument("--out", default="reports/accuracy")
    args = ap.parse_args(argv)

    import torch

    from codesign.calibration.host import Calibration
    from codesign.validation.host import format_table, validate
    from codesign.zoo import LARGE_KERNEL_BLOCKS, LARGE_KERNEL_WORKLOADS, WORKLOADS

    t0 = time.perf_counter()
    # the zoo-wide figure keeps the zoo it was established on; the large-kernel seeds are a
    # held-out set of their own (--large-kernel)
    names = args.workloads or (list(LARGE_KERNEL_BLOCKS) if args.large_kernel else
                               sorted(set(WORKLOADS) - set(LARGE_KERNEL_WORKLOADS)))
    if args.hw:
        hw, between = args.hw, None
    else:
        # Calibration rounds run before and between the validation rounds, so that the fit and
        # the measurements sample the same machine states (this host's speed drifts by tens of
        # percent over minutes). The spec is fitted after the last round.
        cal = Calibration(device="cpu", quick=args.quick, threads=args.threads,
                          clock=args.clock, allocator=args.allocator,
                          progress=lambda m: print(f"calibrate: {m}", file=sys.stderr, flush=True),
                          round_quantile=args.round_quantile)
        for _ in range(args.calibration_rounds):
            cal.run_round()

        def between(_round):
            cal.run_round()

        def hw():
            spec = cal.finish(args.calibrated)
            print(f"calibrated {args.calibrated} ({cal.runner.rounds} rounds interleaved with "
                  f"validation)", flush=True)
            return spec

    shapes = {n: SMALL_INPUTS[n] for n in names if n in SMALL_INPUTS}
    merged = validate(names, hardware=hw, device="cpu", batch=args.batch, rounds=args.rounds,
                      repeat=args.repeat, threads=args.threads, input_shape=shapes,
                      clock=args.clock, allocator=args.allocator, between_rounds=between,
                      progress=lambda m: print(f"validate: {m}", file=sys.stderr, flush=True))
    from dataclasses import replace

    w = merged.workloads.copy()
    w["input"] = ["x".join(map(str, shapes[n][1:])) if n in shapes else "default"
                  for n in w.workload]
    cal_note = () if args.hw else (
        f"Calibration: {cal.runner.rounds} rounds of microbenchmarks, {args.calibration_rounds} "
        f"before the first validation round and one after each; spec {args.calibrated} fitted "
        "after the last (python benchmarks/accuracy.py).",)
    merged = replace(merged, workloads=w, elapsed_s=time.perf_counter() - t0,
                     notes=merged.notes + cal_note + tuple(f"{k}: input {'x'.join(map(str, v[1:]))} "
                                                "(batch replaced)" for k, v in shapes.items()))
    files = merged.write(args.out)
    print(format_table(merged))
    for b in args.batch:
        w = merged.workloads[merged.workloads.batch == b]
        print(f"batch {b}: MAPE {w.ape.mean() * 100:.1f}%  median {w.ape.median() * 100:.1f}%  "
              f"max {w.ape.max() * 100:.1f}%  noise floor median {w.noise_floor.median() * 100:.1f}%"
              f"  op Spearman median {w.spearman.median():.3f}")
    print(f"allocator {args.allocator}, clock {args.clock}, threads {merged.threads}, torch {torch.__version__}, total "
          f"{time.perf_counter() - t0:.0f} s; wrote {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
