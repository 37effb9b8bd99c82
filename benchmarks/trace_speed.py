"""Tracing speed and memory: ResNet-50 at batch 256, 224x224 (issue: < 3 s, < 1 GiB peak).

Run: python benchmarks/trace_speed.py   (prints median of 3 traces, peak RSS of this process)
"""

import resource
import statistics
import time

import codesign
from codesign.zoo import build_workload


def main() -> None:
    model = build_workload("resnet50")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    times = []
    for _ in range(3):
        t = time.perf_counter()
        g = codesign.trace(model, (256, 3, 224, 224))
        times.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"resnet50 batch 256: {len(g.ops)} ops, {g.macs / 1e9:.1f} GMACs")
    print(f"trace time   median {statistics.median(times):.3f} s  (runs: "
          + ", ".join(f"{t:.3f}" for t in times) + ")")
    print(f"peak RSS     {rss:.2f} GiB for the whole process (model weights included; "
          f"{rss0:.2f} GiB before tracing)")


if __name__ == "__main__":
    main()
