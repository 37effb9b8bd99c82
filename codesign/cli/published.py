"""``codesign validate --published DATASET`` and ``codesign calibrate --published DATASET``:
the published-measurement flags added to the host verbs (argparse and printing stay in cli/)."""

from __future__ import annotations

import sys
from pathlib import Path

from codesign.errors import CodesignError

#: shown in --help; the folder itself comes from codesign.capture.cache.default_trace_cache_dir
DEFAULT_CACHE = "$CODESIGN_TRACE_CACHE or ~/.cache/codesign/graphs"


def _common(p) -> None:
    g = p.add_argument_group("published measurements (codesign.published)")
    g.add_argument("--published", metavar="DATASET",
                   help="a dataset name (timm-rtx3090-infer-nchw, qaihub-snapdragon8gen2, ...) "
                   "or a CSV/Parquet file of published rows; --hw is then the preset to check")
    g.add_argument("--limit", type=int, default=None, metavar="N",
                   help="N rows spread evenly over the dataset")
    g.add_argument("--family", action="append", metavar="F", help="only rows of family F (repeatable)")
    g.add_argument("--cache", default=None, metavar="DIR",
                   help=f"trace cache folder (default {DEFAULT_CACHE})")
    g.add_argument("--no-cache", action="store_true", help="trace every row, store nothing")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def extend_parsers(subparsers) -> None:
    """Add the --published flags to the ``validate`` and ``calibrate`` verbs when present."""
    choices = getattr(subparsers, "choices", {})
    if "validate" in choices:
        p = choices["validate"]
        _common(p)
        host = p.get_default("func")
        p.set_defaults(func=lambda a, host=host: cmd_validate_published(a) if a.published else host(a))
    if "calibrate" in choices:
        p = choices["calibrate"]
        _common(p)
        g = p.add_argument_group("published fit")
        g.add_argument("--no-lfo", action="store_true",
                       help="skip leave-family-out cross-validation (in-sample fit only)")
        g.add_argument("--report", default=None, metavar="DIR",
                       help="write the fit's per-row predictions and summary here")
        host = p.get_default("func")
        p.set_defaults(func=lambda a, host=host: cmd_calibrate_published(a) if a.published else host(a))


def _cache(args):
    if args.no_cache:
        return None
    from codesign.capture.cache import TraceCache, default_trace_cache_dir

    return TraceCache.of(Path(args.cache).expanduser() if args.cache else default_trace_cache_dir())


class _Bar:
    """A rich progress bar driven by ``progress(done, total, label)`` callbacks."""

    def __init__(self, enabled: bool, what: str) -> None:
        self.enabled = enabled
        self.what = what
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=sys.stderr)
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                                TimeRemainingColumn(), TextColumn("{task.fields[label]}"),
                                console=console, transient=False)
            self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task(self.what, total=total, label="")
        self.bar.update(self.task, completed=done, total=total, label=str(label)[:40])

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def cmd_validate_published(args) -> int:
    from codesign.reporting.published import write_published_report
    from codesign.validation.published import format_summary, validate_published

    if args.workloads:
        raise CodesignError("validate --published takes no workload names (the dataset names them)")
    with _Bar(not args.no_progress and sys.stderr.isatty(), "tracing") as bar:
        res = validate_published(args.published, args.hw, cache=_cache(args), limit=args.limit,
                                 family=args.family, progress=bar)
    print(format_summary(res))
    if args.out:
        files = write_published_report(res, args.out)
        print(f"wrote {', '.join(files)}")
    return 0


def cmd_calibrate_published(args) -> int:
    from codesign.calibration.published import calibrate_published, format_fit

    if not args.out:
        raise CodesignError("calibrate --published needs --out FILE.yaml for the fitted preset")
    if not args.hw:
        raise CodesignError("calibrate --published needs --hw PRESET (the preset to fit)")
    with _Bar(not args.no_progress and sys.stderr.isatty(), "calibrating") as bar:
        fit = calibrate_published(args.published, args.hw, out=args.out, cache=_cache(args),
                                  limit=args.limit, family=args.family, lfo=not args.no_lfo,
                                  progress=bar)
    print(format_fit(fit))
    if args.report:
        files = fit.write(args.report)
        print(f"wrote {', '.join(files)}")
    print(f"wrote {args.out}")
    return 0


__all__ = ["DEFAULT_CACHE", "cmd_calibrate_published", "cmd_validate_published", "extend_parsers"]
