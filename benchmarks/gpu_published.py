"""ResNet-50 v1.5 on V100 and T4: simulated eager latency vs NVIDIA's published eager-PyTorch
figures (shared/reference/hardware.md section 4, NVIDIA DeepLearningExamples READMEs).

    python benchmarks/gpu_published.py            # table with % error; target within 20%

Rows are latency (ms) or throughput (img/s) as published; the simulation is
``simulate(trace(resnet50, (batch, 3, 224, 224)), preset, dtype, mode="eager")`` with dtype fp32
for FP32 and fp16 for AMP (autocast runs convs and GEMMs in fp16; its cast ops are not traced,
so AMP at batch 1 is expected to come out optimistic). Throughput = batch / latency. No number
here is tuned to these rows: the presets' efficiencies and dispatch cost are the shipped values.
"""

from __future__ import annotations

import sys
import warnings

# (device preset, precision, batch, metric, published value, source release)
PUBLISHED = (
    ("v100-sxm2", "fp32", 1, "latency_ms", 10.37, "21.03"),
    ("v100-sxm2", "fp32", 256, "throughput_img_s", 1261, "21.03"),
    ("v100-sxm2", "fp32", 256, "latency_ms", 214.48, "21.03"),
    ("v100-sxm2", "amp", 1, "latency_ms", 12.78, "21.03"),
    ("v100-sxm2", "amp", 32, "throughput_img_s", 2146, "21.03"),
    ("v100-sxm2", "amp", 256, "throughput_img_s", 3382, "21.03"),
    ("v100-sxm2", "amp", 256, "latency_ms", 84.14, "21.03"),
    ("v100-sxm2", "amp", 1, "latency_ms", 8.56, "19.10"),
    ("v100-sxm2", "amp", 128, "throughput_img_s", 2360.14, "19.10"),
    ("t4", "fp32", 1, "latency_ms", 10.7, "21.03"),
    ("t4", "fp32", 64, "throughput_img_s", 428, "21.03"),
    ("t4", "amp", 1, "latency_ms", 12.96, "21.03"),
    ("t4", "amp", 16, "throughput_img_s", 1050, "21.03"),
    ("t4", "amp", 256, "throughput_img_s", 1198, "21.03"),
    ("t4", "amp", 256, "latency_ms", 225.95, "21.03"),
    ("t4", "amp", 128, "throughput_img_s", 2083.90, "19.10"),
)


def simulate_row(hw_name: str, precision: str, batch: int, graphs: dict) -> float:
    """Simulated latency (s) of ResNet-50 at ``batch`` on preset ``hw_name``."""
    from codesign.capture.tracer import trace
    from codesign.simulation import simulate
    from codesign.hardware import load_hardware
    from codesign.zoo import build_workload

    if batch not in graphs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graphs[batch] = trace(build_workload("resnet50"), (batch, 3, 224, 224), name="resnet50")
    dtype = "fp32" if precision == "fp32" else "fp16"
    return simulate(graphs[batch], load_hardware(hw_name), dtype=dtype, mode="eager").latency_s


def main() -> int:
    graphs: dict = {}
    errs = []
    print(f"{'device':10s} {'prec':5s} {'batch':>5s} {'metric':17s} {'published':>10s} "
          f"{'simulated':>10s} {'error':>8s}  release")
    for hw_name, prec, batch, metric, value, rel in PUBLISHED:
        lat = simulate_row(hw_name, prec, batch, graphs)
        sim = lat * 1e3 if metric == "latency_ms" else batch / lat
        err = (sim - value) / value
        errs.append(abs(err))
        flag = "" if abs(err) <= 0.20 else "  <-- outside 20%"
        print(f"{hw_name:10s} {prec:5s} {batch:5d} {metric:17s} {value:10.2f} {sim:10.2f} "
              f"{err * 100:+7.1f}%  {rel}{flag}")
    within = sum(e <= 0.20 for e in errs)
    print(f"mean |error| {sum(errs) / len(errs) * 100:.1f}%, max {max(errs) * 100:.1f}%, "
          f"{within}/{len(errs)} rows within 20%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
