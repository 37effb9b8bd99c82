"""``codesign sweep``: arguments and printing for :mod:`codesign.sweeps.runner`."""

from __future__ import annotations

from codesign.capture.cache import default_trace_cache_dir
from codesign.sweeps.workers import SweepBackendError
import sys
import codesign.sweeps.runner as lib


def _cli(args) -> int:
    try:
        run = lib.run_sweep(args.spec, workers=args.workers, scheduler=args.scheduler,
                        output=args.out, progress=False if args.no_progress else None,
                        chunk_size=args.chunk_size,
                        trace_cache=None if args.no_trace_cache else default_trace_cache_dir())
    except SweepBackendError as e:
        raise SweepBackendError(f"{e}: {lib.resume_command(args)}") from None
    except KeyboardInterrupt:
        print("sweep interrupted: finished chunks are kept; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print(lib.format_summary(run.summary))
    return 0


def register_cli(subparsers) -> None:
    """Add ``codesign sweep SPEC [--workers N] [--scheduler ADDR] [--out DIR]``."""
    p = subparsers.add_parser(
        "sweep", help="run or resume a co-design sweep from a YAML spec",
        description="Run (or resume) a sweep over workload and hardware knobs from a YAML spec; "
                    "writes Parquet results and the Pareto front and prints a summary.")
    p.add_argument("spec", help="sweep spec YAML (see workloads/sweeps/)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: the spec's output, else reports/<name>)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="points per chunk (resume granularity; default 4096 analytical, 64 event)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-trace-cache", action="store_true",
                   help="trace every workload afresh (default: cache traced zoo graphs in "
                        "$CODESIGN_TRACE_CACHE or ~/.cache/codesign/graphs)")
    p.set_defaults(func=_cli)
