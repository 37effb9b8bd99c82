"""``codesign demo``: the whole pipeline on a few zoo workloads, ending in one HTML report.

1. trace a non-local ResNet-50, MobileNetV2 with LightNL and the Condensation-style
   Tiny-YOLOv2 (cross-channel pooling);
2. simulate them on a GPU (a100-sxm4-40gb: fp16, eager and fused), a DSP (hexagon-v68: int8,
   fused) and an accelerator (condensation-accelerator: int8, fused), plus Tiny-YOLOv2 on the
   accelerator with the ccp layout off and on (eager, so only the layout differs);
3. one event-engine run (Tiny-YOLOv2 on the DSP) for the Gantt timeline;
4. a small sweep (Tiny-YOLOv2, hardware knobs on the three presets);
5. ``report`` over everything written: ``<out>/report.html``.

Every result is saved under ``<out>`` (``runs/<n>/`` simulate outputs, ``sweep/``), so
``codesign report <out>`` rebuilds the same report. Runs in well under two minutes on two cores
(tracing ResNet-50 dominates).
"""

from __future__ import annotations

import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from codesign.errors import CodesignError

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

WORKLOADS = ("resnet50_nl", "mobilenetv2_lightnl", "tiny_yolov2_ccp")
GPU, DSP, ACC = "a100-sxm4-40gb", "hexagon-v68", "condensation-accelerator"
#: (preset, dtype, mode, layout) for every workload
RUNS = ((GPU, "fp16", "eager", "nchw"), (GPU, "fp16", "fused", "nchw"),
        (DSP, "int8", "fused", "nchw"), (ACC, "int8", "fused", "nchw"))
#: Tiny-YOLOv2 with cross-channel pooling kept in DRAM (nchw) and fused before the store (ccp)
CCP_RUNS = ((ACC, "int8", "eager", "nchw"), (ACC, "int8", "eager", "ccp"))
EVENT_RUN = ("tiny_yolov2_ccp", DSP, "int8", "fused", "nchw")
#: swept hardware knobs, as multiples of each preset's own value
SWEEP_KNOBS = {
    GPU: {"sm_count": (0.5, 1.0), "dram_bandwidth_bytes_per_s": (0.5, 1.0, 2.0)},
    DSP: {"clock_hz": (0.75, 1.0, 1.25), "dram_bandwidth_bytes_per_s": (0.5, 1.0, 2.0),
          "vtcm_bytes": (0.5, 1.0, 2.0)},
    ACC: {"mac_count": (0.5, 1.0, 2.0), "dram_bandwidth_bytes_per_s": (0.5, 1.0, 2.0),
          "sram_bytes": (0.5, 1.0, 2.0)},
}


class _Progress:
    def __init__(self, stream=None):
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stdout

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}", file=self.stream, flush=True)


def _knob_value(hw: HardwareSpec, name: str):
    """Current value of a numeric knob on a preset (its leaf in the spec)."""
    section = getattr(hw, hw.kind, None)
    for obj in (hw, section, hw.energy, hw.dispatch):
        if obj is not None and hasattr(obj, name):
            return getattr(obj, name)
    raise CodesignError(f"demo: knob {name} not found on {hw.name}")


def sweep_spec(out: Path) -> dict:
    """The demo's sweep as a dict spec (what a workloads/sweeps/*.yaml file holds)."""
    from codesign.hardware import load_hardware

    hardware = []
    for preset, knobs in SWEEP_KNOBS.items():
        hw = load_hardware(preset)
        vals = {}
        for k, mults in knobs.items():
            base = _knob_value(hw, k)
            vals[k] = [int(round(base * m)) if isinstance(base, int) else float(base * m) for m in mults]
        hardware.append({"preset": preset, "knobs": vals})
    return {"name": "demo_sweep", "workloads": [{"workload": "tiny_yolov2_ccp"}],
            "hardware": hardware, "dtype": ["fp16", "int8"], "mode": ["fused"],
            "output": str(out)}


def run_demo(out="reports/demo", log=None, workloads=WORKLOADS) -> Path:
    """Trace, simulate, sweep and report; returns the path of report.html. ``workloads``
    narrows the zoo models simulated (tests use Tiny-YOLOv2 alone)."""
    from codesign.hardware import list_hardware

    from codesign.reporting.document import report, save_result
    from codesign.simulation import simulate
    from codesign.capture.references import trace_workload

    from codesign.results.paths import check_output_dir

    say = log or _Progress()
    out = check_output_dir(out)
    missing = [p for p in (GPU, DSP, ACC) if p not in list_hardware()]
    if missing:
        raise CodesignError(f"demo: hardware preset(s) {', '.join(missing)} not found in codesign/hardware/presets/")
    for sub in ("runs", "sweep"):  # only the folders the demo itself writes
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)

    graphs = {}
    for name in dict.fromkeys(tuple(workloads) + ("tiny_yolov2_ccp",)):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, graphs[name] = trace_workload(name)
        g = graphs[name]
        say(f"traced {name}: {len(g.ops)} ops, {g.macs / 1e9:.2f} GMACs "
            f"({time.perf_counter() - t:.1f} s)")

    plan = [(wl, *r) for wl in graphs for r in RUNS]
    plan += [("tiny_yolov2_ccp", *r) for r in CCP_RUNS]
    n = 0
    for wl, preset, dtype, mode, layout in plan:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = simulate(graphs[wl], preset, dtype=dtype, mode=mode, layout=layout)
        save_result(r, out / "runs" / f"{n:02d}")
        n += 1
        say(f"simulated {wl} on {preset} ({dtype}, {mode}, {layout}): "
            f"{r.latency_s * 1e3:.3f} ms, {r.energy_j * 1e3:.2f} mJ, "
            f"{r.dram_bytes / 1e6:.1f} MB DRAM")

    wl, preset, dtype, mode, layout = EVENT_RUN
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = simulate(graphs[wl], preset, dtype=dtype, mode=mode, layout=layout, engine="event")
    except ModuleNotFoundError as exc:
        say(f"event engine not available ({exc.name}); the report has no timeline")
    else:
        save_result(r, out / "runs" / f"{n:02d}")
        say(f"event engine: {wl} on {preset}: makespan {r.latency_s * 1e3:.3f} ms")

    try:
        from codesign.sweeps.runner import sweep
    except ModuleNotFoundError as exc:
        say(f"sweep module not available ({exc.name}); the report has no sweep section")
    else:
        from codesign.capture.cache import default_trace_cache_dir

        spec = sweep_spec(out / "sweep")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = sweep(spec, output=out / "sweep", progress=False,
                          trace_cache=default_trace_cache_dir())
        say(f"swept {len(frame)} configurations of tiny_yolov2_ccp on "
            f"{frame['preset'].nunique() if 'preset' in frame else '?'} presets")

    path = report(out, out=out, title="codesign demo: non-local, LightNL and Condensation "
                                      "workloads on a GPU, a DSP and an accelerator")
    say(f"report written: {path}")
    return path


def _cli_demo(args) -> int:
    t0 = time.perf_counter()
    path = run_demo(args.out)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; open {path}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``codesign demo [--out DIR]``."""
    p = subparsers.add_parser(
        "demo", help="trace, simulate, sweep and report a few zoo workloads (no arguments)",
        description="Trace a non-local ResNet-50, MobileNetV2 with LightNL and a "
                    "Condensation-style Tiny-YOLOv2, simulate them on a GPU, a DSP and an "
                    "accelerator, run a small sweep and write an HTML report.")
    p.add_argument("--out", default="reports/demo", help="output folder (default: reports/demo)")
    p.set_defaults(func=_cli_demo)


__all__ = ["run_demo", "sweep_spec", "register_cli"]
