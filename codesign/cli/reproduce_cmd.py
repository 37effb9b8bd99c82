"""``codesign reproduce``: arguments and printing for :mod:`codesign.reproductions.claims`."""

from __future__ import annotations

from pathlib import Path
import sys
import codesign.reproductions.claims as lib


def cmd_reproduce(args) -> int:
    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    claims = lib.reproduce(args.names or None, out=args.out, progress=progress)
    width = max(len(c.name) for c in claims)
    for c in claims:
        print(f"{c.name:{width}s}  {c.verdict:20s}  {c.ours}")
    print(f"report        {args.out} (+ {Path(args.out).with_suffix('.json')})")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="reproduce the papers' published claims and write a report",
        description="Compute each claim from the zoo and the presets; write Markdown + JSON. "
                    "Claims: " + ", ".join(lib.CLAIMS))
    p.add_argument("names", nargs="*", metavar="NAME", help="claims to run (default: all)")
    p.add_argument("--out", default="reports/reproduce/reproductions.md", help="Markdown report path "
                   "(the committed copy, reports/reproductions.md, is regenerated deliberately with "
                   "--out reports/reproductions.md); "
                   "the JSON goes beside it")
    p.set_defaults(func=cmd_reproduce)
