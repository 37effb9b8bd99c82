"""``codesign calibrate``: arguments and printing for :mod:`codesign.calibration.host`."""

from __future__ import annotations

import time
import codesign.calibration.host as lib


def cmd_calibrate(args) -> int:
    import sys

    def progress(msg):
        print(f"calibrate: {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    args.out = args.out or "host.yaml"
    spec = lib.calibrate(device=args.device, out=args.out, quick=args.quick, base=args.hw,
                     threads=args.threads, progress=progress, clock=args.clock,
                     allocator=args.allocator, round_quantile=args.round_quantile)
    fit_info = spec.provenance["fit"]
    print(f"wrote {args.out} ({spec.name}) in {time.perf_counter() - t0:.1f} s: "
          f"{len(spec.provenance['benchmarks'])} microbenchmarks, fit median |error| "
          f"{fit_info['median_abs_error'] * 100:.1f}%, max {fit_info['max_abs_error'] * 100:.1f}%")
    print(f"  eager overhead {spec.dispatch.eager_overhead_s * 1e6:.2f} us/op; "
          + ", ".join(f"{k} {v:.3g}" for k, v in spec.efficiency.items()))
    stab = spec.provenance.get("stability", {})
    if stab:
        print(f"  {stab['rounds']} rounds (limit {stab['max_rounds']}), "
              f"{'stable' if stab['stable'] else 'NOT stable'}, round-to-round spread "
              f"{stab['spread'] * 100:.1f}%")
        for w in stab.get("warnings", ()):
            print(f"warning: calibration untrustworthy: {w}", file=sys.stderr)
        if stab.get("warnings") and args.strict:
            print(f"calibrate: --strict: {len(stab['warnings'])} warning(s); {args.out} was "
                  "written but should not be used", file=sys.stderr)
            return 3
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="fit a hardware spec to this machine from microbenchmarks")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--out", default=None, help="where to write the fitted spec (YAML; default host.yaml)")
    p.add_argument("--quick", action="store_true",
                   help="fewer benchmarks and 2-4 rounds instead of 3-8 (measured on a shared "
                        "2-core host: ~40-150 s quick, several minutes full, longer when busy)")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when the calibration is untrustworthy (noisy host, "
                        "not stable within the round limit, implausible fitted values)")
    p.add_argument("--hw", default=None, help="preset or YAML to start from (default host-cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--clock", default="wall", help="wall | cpu (process CPU time; use with --threads 1)")
    p.add_argument("--allocator", default="retain", help="retain | system: host malloc regime "
                   "(retain keeps freed memory mapped; see codesign.measurement.allocator)")
    p.add_argument("--round-quantile", type=float, default=0.5, help="quantile of each "
                   "benchmark's round times to fit (0.5: median; lower on a busy shared host)")
    p.set_defaults(func=cmd_calibrate)
