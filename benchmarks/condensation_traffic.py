"""DRAM traffic saved by cross-channel pooling before the store (Condensation-Net, issue #3).

Condensation-style Tiny-YOLOv2 on `condensation-accelerator`, int8, eager: layout `nchw`
(the pre-pooling map is stored, then pooled) vs `ccp` (pooled before the store). Assumptions
(the paper publishes no architecture): cross-channel max pooling by 2 after each of the 8
hidden convs, 416x416 input, int8 activations and weights, see workloads/yolo.py.

Run: python benchmarks/condensation_traffic.py
"""

import codesign
from codesign.zoo import build_workload


def main() -> None:
    hw = codesign.load_hardware("condensation-accelerator")
    g = codesign.trace(build_workload("tiny_yolov2_ccp"), (1, 3, 416, 416))
    stored = codesign.simulate(g, hw, dtype="int8", layout="nchw").to_frame()
    fused = codesign.simulate(g, hw, dtype="int8", layout="ccp").to_frame()
    for f in (stored, fused):
        f["dram_bytes"] = f["dram_read_bytes"] + f["dram_write_bytes"]
        f["layer"] = f["module"].str.split(".").str[:2].str.join(".")
    a = stored.groupby("layer", sort=False)["dram_bytes"].sum()
    b = fused.groupby("layer", sort=False)["dram_bytes"].sum()
    print(f"{'layer':14s} {'stored MB':>10s} {'ccp MB':>10s} {'saved':>7s}")
    for layer in a.index:
        saved = 1 - b[layer] / a[layer] if a[layer] else 0.0
        print(f"{layer or '<root>':14s} {a[layer] / 1e6:10.3f} {b[layer] / 1e6:10.3f} {saved:7.1%}")
    total = 1 - b.sum() / a.sum()
    print(f"{'total':14s} {a.sum() / 1e6:10.3f} {b.sum() / 1e6:10.3f} {total:7.1%}   (paper: 26.5%)")


if __name__ == "__main__":
    main()
