"""The `codesign` command: a thin layer over the Python API (style rule 14).

A user mistake (any CodesignError) prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from typing import TYPE_CHECKING

from codesign.errors import CodesignError
from codesign.types import DType, Engine, Layout, Mode, values

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

# modules that add their own verbs with ``register_cli(subparsers)``
_PLUGINS = ("codesign.cli.measure_cmd", "codesign.cli.calibrate_cmd", "codesign.cli.validate_cmd",
            "codesign.cli.sweep_cmd", "codesign.cli.report_cmd", "codesign.cli.demo",
            "codesign.cli.reproduce_cmd")


def _fmt_num(x: float, unit: str = "") -> str:
    for div, pre in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3f} {pre}{unit}"
    return f"{x:.3g} {unit}".strip()


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} us"


def _add_workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("workload", help="zoo name (see `codesign workloads`), path/file.py:factory, "
                   "package.module:factory, or a hub model timm:NAME / torchvision:NAME[?kwarg=value]")
    p.add_argument("--input", help="input shape, e.g. 1,3,224,224 (default: the workload's)")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="workload knob (repeatable)")
    p.add_argument("--phase", default="inference", choices=("inference", "train"))
    p.add_argument("--optimizer", choices=("sgd", "adamw"), help="with --phase train: add an optimizer step")
    p.add_argument("--strict", action="store_true", help="fail on ops the tracer does not know")


def _trace_from_args(args):
    from codesign.capture.references import parse_knobs, trace_workload

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wl, graph = trace_workload(args.workload, parse_knobs(args.set), args.input,
                                   phase=args.phase, strict=args.strict, optimizer=args.optimizer)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return wl, graph


# --- verbs ------------------------------------------------------------------------------

def cmd_workloads(args) -> int:
    from codesign.zoo import WORKLOADS

    for name, e in sorted(WORKLOADS.items()):
        knobs = ", ".join(f"{k}={v}" for k, v in e.knobs.items()) or "-"
        shape = "x".join(map(str, e.default_input))
        print(f"{name:24s} input {shape:16s} knobs: {knobs}")
        if args.verbose:
            print(f"    {e.description} [{e.paper}]")
    return 0


def cmd_trace(args) -> int:
    _, graph = _trace_from_args(args)
    frame = graph.to_frame()
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
        return 0
    if args.format == "json":
        print(json.dumps({"summary": graph.summary(), "ops": frame.to_dict(orient="records")},
                         default=str, indent=1))
        return 0
    _print_trace_table(graph, frame)
    return 0


def _print_trace_table(graph, frame) -> None:
    import pandas as pd

    cols = ["index", "kind", "aten", "variant", "pattern", "output_shape", "macs", "read_bytes",
            "write_bytes", "supported"]
    with pd.option_context("display.max_rows", 10_000, "display.width", 200,
                           "display.max_colwidth", 40):
        for module, grp in frame.groupby("module", sort=False):
            print(f"[{module or '<root>'}] {grp['module_type'].iloc[0]}")
            print(grp[cols].to_string(index=False, header=True))
    s = graph.summary()
    print()
    print(f"workload      {graph.name} ({graph.phase})")
    print(f"ops           {s['ops']}")
    print(f"MACs          {s['macs']:,} ({_fmt_num(s['macs'], 'MAC')})")
    print(f"FLOPs         {s['flops']:,} ({_fmt_num(s['flops'], 'FLOP')})")
    print(f"params        {s['params']:,} ({_fmt_num(s['params'])})")
    print(f"activations   {_fmt_num(s['activation_bytes'], 'B')} written")
    print(f"coverage      {s['coverage']}")
    for p in graph.patterns:
        det = ", ".join(f"{k}={v}" for k, v in p.details)
        print(f"pattern       {p.name} in '{p.module or '<root>'}' ({det})")
    unsupported = frame[~frame["supported"]]
    if len(unsupported):
        print(f"UNSUPPORTED   {len(unsupported)} op(s) not costed:")
        for _, r in unsupported.iterrows():
            print(f"    {r['name']} ({r['aten']})")


def cmd_hw_list(args) -> int:
    from codesign.hardware import list_hardware, load_hardware

    for name in list_hardware():
        hw = load_hardware(name)
        print(f"{name:26s} {hw.kind:12s} DRAM {_fmt_num(hw.dram_bandwidth_bytes_per_s, 'B/s'):>12s}  "
              f"{hw.source[:70]}")
    return 0


def cmd_hw_show(args) -> int:
    from codesign.hardware import load_hardware

    print(load_hardware(args.name).to_yaml(), end="")
    return 0


def cmd_hw_check(args) -> int:
    from codesign.hardware import load_hardware

    hw = load_hardware(args.file)
    print(f"{args.file}: ok ({hw.kind} '{hw.name}', schema_version {hw.schema_version})")
    return 0


#: event-engine options of `simulate` and their defaults: given with the analytical engine they
#: would be ignored silently, so simulate warns and names them
_EVENT_ONLY = (("streams", 1, "--streams"), ("threads", 1, "--threads"),
               ("no_double_buffering", False, "--no-double-buffering"),
               ("issue_order", "program", "--issue-order"), ("trace_tiles", False, "--trace-tiles"))


def _ignored_options(args) -> list[str]:
    """Options the chosen engine does not use (issue 14, item 8)."""
    if args.engine == "event":
        return []
    return [f"{flag} {getattr(args, k)}" if not isinstance(d, bool) else flag
            for k, d, flag in _EVENT_ONLY if getattr(args, k) != d]


def _policy_from_args(args):
    if args.engine != "event":
        return None
    return {"streams": args.streams, "threads": args.threads,
            "double_buffering": not args.no_double_buffering, "issue_order": args.issue_order,
            "record_tiles": bool(args.trace_tiles)}


def cmd_simulate(args) -> int:
    from codesign.hardware import load_hardware

    from codesign.simulation import simulate

    _check_simulate_outputs(args)
    ignored = _ignored_options(args)
    if ignored:
        print(f"warning: {', '.join(ignored)} ignored by the analytical engine "
              "(add --engine event to use them)", file=sys.stderr)
    hw = load_hardware(args.hw)
    _, graph = _trace_from_args(args)
    res = simulate(graph, hw, dtype=args.dtype, mode=args.mode, engine=args.engine,
                   layout=args.layout, policy=_policy_from_args(args))
    frame = res.to_frame()
    if not args.quiet:
        import pandas as pd

        cols = ["index", "name", "kind", "variant", "unit", "macs", "dram_read_bytes",
                "dram_write_bytes", "latency_s", "bound", "energy_j"]
        if res.engine == "event":
            cols += ["engine", "start_s", "end_s"]
        with pd.option_context("display.max_rows", 10_000, "display.width", 220,
                               "display.max_colwidth", 48, "display.float_format", "{:.4g}".format):
            print(frame[cols].to_string(index=False))
        print()
    s = res.summary()
    print(f"workload      {res.workload} on {hw.name} ({hw.kind}), {res.dtype}, {res.mode}, "
          f"{res.layout}, engine {res.engine}, batch {res.batch}")
    print(f"latency       {_fmt_time(res.latency_s)}   throughput {s['throughput_per_s']:.2f} /s")
    print(f"DRAM traffic  {_fmt_num(res.dram_bytes, 'B')}   average bandwidth "
          f"{_fmt_num(res.dram_bandwidth_bytes_per_s, 'B/s')}")
    print(f"energy        {res.energy_j * 1e3:.4g} mJ   average power {res.power_w:.3g} W   " +
          ", ".join(f"{k} {v * 1e3:.3g} mJ" for k, v in res.energy_breakdown().items()))
    print("bound         " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(res.bound_breakdown().items())))
    print(f"fused ops     {res.fused_ops}")
    _print_memory(graph, hw, res.dtype)
    if res.unsupported:
        print(f"UNSUPPORTED   {len(res.unsupported)} op(s) not costed: " +
              ", ".join(sorted({r.name for r in res.unsupported})[:10]))
    if args.out:
        _write_result(res, args.out)
        print(f"results       {args.out}")
    if args.trace_out:
        if res.timeline is None:
            raise CodesignError("--trace-out needs --engine event")
        res.timeline.write_chrome_trace(args.trace_out)
        print(f"timeline      {args.trace_out} (open in https://ui.perfetto.dev)")
    return 0


def _check_simulate_outputs(args) -> None:
    """--out and --trace-out are checked before tracing (one line, exit 2), not after."""
    from codesign.results.paths import check_output_dir, check_output_file

    if args.trace_out and args.engine != "event":
        raise CodesignError("--trace-out needs --engine event")
    if args.out:
        if str(args.out).endswith((".csv", ".json")):
            check_output_file(args.out)
        else:
            check_output_dir(args.out)
    if args.trace_out:
        check_output_file(args.trace_out, what="--trace-out")


def _print_memory(graph, hw: HardwareSpec, dtype: str) -> None:
    """Peak memory line; a warning when it exceeds the device's memory (issue 14, item 8)."""
    from codesign.results.memory import memory_footprint

    m = memory_footprint(graph, hw, dtype)
    parts = [f"weights {_fmt_num(m.weights_bytes, 'B')}"]
    if m.gradients_bytes:
        parts.append(f"gradients {_fmt_num(m.gradients_bytes, 'B')}")
    parts.append(f"activations {_fmt_num(m.activations_peak_bytes, 'B')}")
    parts.append(f"workspace {_fmt_num(m.workspace_bytes, 'B')}")
    if m.optimizer_bytes:
        parts.append(f"optimizer {_fmt_num(m.optimizer_bytes, 'B')}")
    print(f"memory        peak {_fmt_num(m.total_bytes, 'B')} ({', '.join(parts)}) of "
          f"{_fmt_num(m.device_bytes, 'B')} on the device")
    if not m.fits:
        print(f"warning: the run needs {_fmt_num(m.total_bytes, 'B')} of memory but {hw.name} has "
              f"{_fmt_num(m.device_bytes, 'B')}: it would not run there (lower the batch)",
              file=sys.stderr)


def _write_result(res, out: str) -> None:
    from pathlib import Path

    path = Path(out)
    frame = res.to_frame()
    if path.suffix == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    elif path.suffix == ".json":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"summary": res.summary(),
                                    "ops": frame.to_dict(orient="records")}, default=str, indent=1))
    else:
        from codesign.reporting.document import save_result

        save_result(res, path)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other user mistake; the
    subcommand parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from codesign import __version__

    parser = _Parser(prog="codesign", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("workloads", help="list the workload zoo")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_workloads)

    p = sub.add_parser("trace", help="trace a model into an op graph and print it")
    _add_workload_args(p)
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))
    p.set_defaults(func=cmd_trace)

    hw = sub.add_parser("hw", help="hardware presets").add_subparsers(dest="hw_command", metavar="ACTION")
    p = hw.add_parser("list", help="list presets")
    p.set_defaults(func=cmd_hw_list)
    p = hw.add_parser("show", help="print a preset as YAML")
    p.add_argument("name")
    p.set_defaults(func=cmd_hw_show)
    p = hw.add_parser("check", help="validate a hardware YAML file")
    p.add_argument("file")
    p.set_defaults(func=cmd_hw_check)

    p = sub.add_parser("simulate", help="estimate latency, DRAM traffic and energy on hardware")
    _add_workload_args(p)
    p.add_argument("--hw", required=True, help="preset name or YAML path")
    p.add_argument("--dtype", default="fp32", choices=values(DType))
    p.add_argument("--mode", default="eager", choices=values(Mode))
    p.add_argument("--layout", default="nchw", choices=values(Layout))
    p.add_argument("--engine", default="analytical", choices=values(Engine))
    p.add_argument("--streams", type=int, default=1, help="event engine: GPU streams")
    p.add_argument("--threads", type=int, default=1, help="event engine: DSP/CPU threads")
    p.add_argument("--no-double-buffering", action="store_true")
    p.add_argument("--issue-order", default="program", help="event engine: program | critical_path")
    p.add_argument("--trace-out", help="event engine: write a Chrome trace JSON (Perfetto)")
    p.add_argument("--trace-tiles", action="store_true", help="event engine: record tiles")
    p.add_argument("--out", help="result.csv | result.json | a folder (for `codesign report`)")
    p.add_argument("-q", "--quiet", action="store_true", help="totals only")
    p.set_defaults(func=cmd_simulate)

    for name in _PLUGINS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register = getattr(mod, "register_cli", None)
        if register is not None:
            register(sub)
    from codesign.cli.published import extend_parsers

    extend_parsers(sub)      # validate/calibrate --published DATASET
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except CodesignError as exc:
        print(f"codesign: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:          # e.g. `codesign trace ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
