"""ConvNeXt-T vs ResNet-50 on a100-sxm4-40gb, tf32, batch 128, inference (issue #3).

InceptionNeXt (CVPR 2024) reports ConvNeXt-T slower than ResNet-50 on A100 despite similar
MACs, because of the memory access cost of its 7x7 depthwise convolutions. This prints the
simulated throughput ratio and the depthwise rows of the per-op table with their bound.

Run: python benchmarks/convnext_vs_resnet.py [--mode eager|fused]
"""

import argparse

import pandas as pd

import codesign
from codesign.zoo import build_workload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="eager", choices=("eager", "fused"))
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    hw = codesign.load_hardware("a100-sxm4-40gb")
    res = {}
    for name in ("resnet50", "convnext_t"):
        g = codesign.trace(build_workload(name), (args.batch, 3, 224, 224))
        res[name] = codesign.simulate(g, hw, dtype="tf32", mode=args.mode)
        r = res[name]
        print(f"{name:12s} {g.macs / args.batch / 1e9:.2f} GMACs/img  latency {r.latency_s * 1e3:8.2f} ms  "
              f"throughput {r.throughput_per_s:8.1f} img/s  DRAM {r.dram_bytes / 1e9:.2f} GB")
    ratio = res["convnext_t"].throughput_per_s / res["resnet50"].throughput_per_s
    print(f"throughput ratio ConvNeXt-T / ResNet-50 = {ratio:.2f}")
    f = res["convnext_t"].to_frame()
    dw = f[f["variant"] == "depthwise"]
    share = dw["latency_s"].sum() / f["latency_s"].sum()
    print(f"depthwise convs: {len(dw)} ops, {share:.1%} of ConvNeXt-T latency, bound: "
          + ", ".join(f"{k} {v}" for k, v in dw["bound"].value_counts().items()))
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(dw[["name", "macs", "dram_read_bytes", "dram_write_bytes", "compute_s", "memory_s",
                  "latency_s", "bound"]].head(6).to_string(index=False))


if __name__ == "__main__":
    main()
