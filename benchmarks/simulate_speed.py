"""Analytical simulation speed: ResNet-50 after tracing (issue: < 50 ms), on each preset kind.

Run: python benchmarks/simulate_speed.py   (median of 20 runs per preset)
"""

import statistics
import time

import codesign
from codesign.zoo import build_workload

PRESETS = [("a100-sxm4-40gb", "fp16"), ("hexagon-v68", "int8"), ("host-cpu", "fp32"),
           ("condensation-accelerator", "int8")]


def main() -> None:
    g = codesign.trace(build_workload("resnet50"), (1, 3, 224, 224))
    print(f"resnet50: {len(g.ops)} ops")
    for name, dtype in PRESETS:
        hw = codesign.load_hardware(name)
        codesign.simulate(g, hw, dtype=dtype)           # warm-up (imports, registry)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            r = codesign.simulate(g, hw, dtype=dtype)
            times.append(time.perf_counter() - t)
        print(f"{name:26s} {dtype:5s} simulate median {statistics.median(times) * 1e3:7.2f} ms "
              f"(min {min(times) * 1e3:.2f} ms)  -> latency {r.latency_s * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
