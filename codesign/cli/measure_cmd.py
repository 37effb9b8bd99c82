"""``codesign measure``: arguments and printing for :mod:`codesign.measurement.runner`."""

from __future__ import annotations

import codesign.measurement.runner as lib


def cmd_measure(args) -> int:
    from codesign.capture.references import parse_knobs, resolve_workload

    if args.csv:
        from codesign.results.paths import check_output_file

        check_output_file(args.csv, what="--csv")
    lib.check_threads(args.threads)
    wl = resolve_workload(args.workload, parse_knobs(args.set), args.input)
    m = lib.measure(wl.model, wl.input_shape, device=args.device, dtype=args.dtype,
                warmup=args.warmup, repeat=args.repeat, cuda_graphs=args.cuda_graphs,
                per_op=args.per_op or bool(args.csv), threads=args.threads, clock=args.clock,
                allocator=args.allocator)
    print(f"{wl.name} on {m.device} ({m.device_name}), {m.dtype}, {m.threads} thread(s), "
          f"torch {m.torch_version}, allocator {m.allocator}")
    print(f"latency: median {m.latency_s * 1e3:.3f} ms  p10 {m.p10_s * 1e3:.3f} ms  "
          f"p90 {m.p90_s * 1e3:.3f} ms  IQR {m.iqr_s * 1e3:.3f} ms  ({m.repeats} runs after "
          f"{m.warmup} warm-up)")
    if m.ops:
        frame = m.to_frame()
        print(f"per-op: {int(frame.matched.sum())}/{len(frame)} traced ops matched to profiler "
              f"events; {len(m.unmatched)} unmatched event(s)"
              + (": " + ", ".join(m.unmatched[:10]) + (" ..." if len(m.unmatched) > 10 else "")
                 if m.unmatched else ""))
        if args.csv:
            frame.to_csv(args.csv, index=False)
            print(f"wrote {args.csv}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("measure", help="time a real PyTorch run (end-to-end and per op)")
    p.add_argument("workload", help="zoo name or path/file.py:factory")
    p.add_argument("--input", help="input shape, e.g. 1,3,224,224 (default: the workload's)")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="workload knob (repeatable)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--dtype", default="fp32", help="fp32 | tf32 | fp16 | bf16 (autocast)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--cuda-graphs", action="store_true", help="time CUDA-graph replay")
    p.add_argument("--clock", default="wall", help="wall | cpu (process CPU time; use with --threads 1)")
    p.add_argument("--allocator", default="retain", help="retain | system: host malloc regime "
                   "(see codesign.measurement.allocator)")
    p.add_argument("--per-op", action="store_true", help="profile per-op times")
    p.add_argument("--csv", help="write per-op times to this CSV (implies --per-op)")
    p.set_defaults(func=cmd_measure)
