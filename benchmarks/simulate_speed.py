"""Analytical simulation speed (issue 16: one traced model on one preset under 50 ms).

ResNet-50 inference on each preset kind, then -- when timm is installed -- large timm
training graphs (forward, backward and the optimizer step under CUDA autocast, as timm's
``benchmark.py --amp`` trains) on the RTX 3090 with ``dtype="amp"``. Each line gives the
median over ``--runs`` calls of the wall time and of the process CPU time (on a shared host the
CPU time is what the simulator itself spends), and the first call's wall time. The garbage of
tracing is collected before the first call (``gc.collect()``): a full collection of a process
that just traced with torch takes a few hundred ms and is the tracer's, not the simulator's.

Run: python benchmarks/simulate_speed.py [--runs 20] [--no-timm]
"""

import argparse
import gc
import importlib.util
import statistics
import time

import codesign
from codesign.zoo import build_workload

PRESETS = [("a100-sxm4-40gb", "fp16"), ("hexagon-v68", "int8"), ("host-cpu", "fp32"),
           ("condensation-accelerator", "int8")]
#: (timm model, batch, optimizer): the largest training graphs of the families issue 16 names
#: (efficientnet_b7 at the batch of timm's RTX 3090 training rows)
TIMM_TRAIN = [("convnext_tiny", 64, "sgd"), ("swin_base_patch4_window7_224", 64, "adamw"),
              ("efficientnet_b3", 64, "sgd"), ("maxvit_tiny_tf_224", 32, "adamw"),
              ("efficientnet_b7", 8, "sgd")]


def timed(graph, hw, dtype: str, runs: int) -> tuple[float, float, float, object]:
    """(first-call wall, median wall, median CPU) seconds of ``simulate`` and its result."""
    gc.collect()
    t = time.perf_counter()
    r = codesign.simulate(graph, hw, dtype=dtype)
    first = time.perf_counter() - t
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        r = codesign.simulate(graph, hw, dtype=dtype)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return first, statistics.median(wall), statistics.median(cpu), r


def line(label: str, ops: int, first: float, wall: float, cpu: float, latency_s: float) -> str:
    return (f"{label:46s} {ops:5d} ops  median {wall * 1e3:6.1f} ms wall, {cpu * 1e3:6.1f} ms cpu"
            f"  (first call {first * 1e3:6.1f} ms)  -> latency {latency_s * 1e3:.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-timm", action="store_true", help="skip the timm training graphs")
    args = ap.parse_args()

    g = codesign.trace(build_workload("resnet50"), (1, 3, 224, 224))
    codesign.simulate(g, PRESETS[0][0], dtype=PRESETS[0][1])   # warm-up (imports, registry)
    for name, dtype in PRESETS:
        hw = codesign.load_hardware(name)
        first, wall, cpu, r = timed(g, hw, dtype, args.runs)
        print(line(f"resnet50 inference on {name} {dtype}", len(g.ops), first, wall, cpu, r.latency_s))
    if args.no_timm or importlib.util.find_spec("timm") is None:
        print("timm training graphs skipped (timm not installed or --no-timm)")
        return
    import timm

    hw = codesign.load_hardware("rtx3090")
    for model, batch, optimizer in TIMM_TRAIN:
        m = timm.create_model(model)
        shape = (batch, *m.default_cfg["input_size"])
        g = codesign.trace(m, shape, phase="train", optimizer=optimizer, autocast="fp16",
                           name=model)
        first, wall, cpu, r = timed(g, hw, "amp", args.runs)
        print(line(f"timm {model} train b{batch} {optimizer} rtx3090 amp", len(g.ops), first,
                   wall, cpu, r.latency_s))


if __name__ == "__main__":
    main()
