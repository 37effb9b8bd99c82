"""``codesign validate``: arguments and printing for :mod:`codesign.validation.host`."""

from __future__ import annotations

from codesign.errors import CodesignError
import codesign.validation.host as lib


def cmd_validate(args) -> int:
    import sys

    from codesign.capture.references import parse_knobs

    def progress(msg):
        print(f"validate: {msg}", file=sys.stderr, flush=True)

    if not args.workloads:
        raise CodesignError("validate needs workloads to measure here, or --published DATASET")
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show
        res = lib.validate(args.workloads, hardware=args.hw or "host-cpu", device=args.device, batch=args.batch,
                       dtype=args.dtype, rounds=args.rounds, repeat=args.repeat, out=args.out,
                       threads=args.threads, input_shape=args.input, knobs=parse_knobs(args.set),
                       progress=progress, clock=args.clock, allocator=args.allocator)
    print(lib.format_table(res))
    if res.files:
        print(f"wrote {', '.join(res.files)}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("validate", help="simulated vs measured latency on this machine")
    p.add_argument("workloads", nargs="*", help="zoo names or path/file.py:factory specs "
                   "(or --published DATASET instead)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--hw", default=None, help="preset name or YAML (e.g. from calibrate; "
                   "default host-cpu)")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes (default 1)")
    p.add_argument("--dtype", default="fp32", help="fp32 | tf32 | fp16 | bf16 (autocast)")
    p.add_argument("--input", help="input shape for every workload (batch is replaced)")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="workload knob")
    p.add_argument("--rounds", type=int, default=4, help="interleaved measurement rounds (>= 2)")
    p.add_argument("--repeat", type=int, default=5, help="timed passes per round")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--clock", default="wall", help="wall | cpu (process CPU time; use with --threads 1)")
    p.add_argument("--allocator", default="retain", help="retain | system: host malloc regime "
                   "of the measured runs (see codesign.measurement.allocator)")
    p.add_argument("--out", default=None, help="directory for validation.{json,md}, ops.csv, scatter.png")
    p.set_defaults(func=cmd_validate)
