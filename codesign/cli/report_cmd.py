"""``codesign report``: arguments and printing for :mod:`codesign.reporting.document`."""

from __future__ import annotations

from pathlib import Path
import codesign.reporting.document as lib


def _cli_report(args) -> int:
    out = Path(args.out) if args.out else lib.default_out(args.results)
    path = lib.report(args.results, out=out)
    print(f"report written to {path} (and {path.with_suffix('.md').name} beside it)")
    return 0


def register_cli(subparsers) -> None:
    """Add ``codesign report RESULTS [--out DIR]``."""
    p = subparsers.add_parser(
        "report", help="write report.md + self-contained report.html from results",
        description="Turn a simulate, sweep or validate output folder (or a result table) into "
                    "report.md and a self-contained report.html with plots.")
    p.add_argument("results", help="results folder or table (.parquet/.csv) written by "
                                   "simulate --out, sweep or validate")
    p.add_argument("--out", default=None,
                   help="output folder (default: reports/<name of RESULTS>)")
    p.set_defaults(func=_cli_report)
