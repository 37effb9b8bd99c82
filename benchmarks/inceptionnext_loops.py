"""InceptionNeXt ratios (A100, TF32, batch 128 training) under each training loop and software
profile (issue 16): what the reproduction's figures depend on that the paper does not state.

    python benchmarks/inceptionnext_loops.py

Loops: ``adamw-pt2`` is the reproduction's (AdamW, foreach kernels, sum-of-logits loss);
``timm-pt1`` is timm's benchmark.py train loop on PyTorch 1.x (zero-filled gradients, Nesterov
SGD per parameter, cross-entropy, unfused attention). Profiles: none, or the PyTorch 1.x
efficiency factors (``codesign.hardware.software.PYTORCH_1``). Paper: ConvNeXt-T / ResNet-50
0.59, InceptionNeXt-T / ConvNeXt-T 1.57.
"""

from __future__ import annotations

import warnings

from codesign.capture.references import trace_workload
from codesign.hardware import load_hardware
from codesign.hardware.software import PYTORCH_1
from codesign.simulation import simulate

LOOPS = {"adamw-pt2": {"optimizer": "adamw"},
         "timm-pt1": {"optimizer": "sgd", "nesterov": True, "loss": "cross_entropy",
                      **PYTORCH_1.trace_options()}}
MODELS = ("resnet50", "convnext_t", "inceptionnext_t")


def main() -> int:
    warnings.simplefilter("ignore")
    hw = load_hardware("a100-sxm4-40gb")
    print(f"{'loop':10s} {'profile':8s} " + " ".join(f"{m:>16s}" for m in MODELS)
          + "  cnx/r50  inx/cnx")
    for loop, kw in LOOPS.items():
        graphs = {m: trace_workload(m, None, (128, 3, 224, 224), phase="train", **kw)[1]
                  for m in MODELS}
        for prof, spec in (("none", hw), ("pt1", PYTORCH_1.apply(hw))):
            thr = {m: 128 / float(simulate(g, spec, dtype="tf32", mode="eager",
                                           layout="nchw").latency_s) for m, g in graphs.items()}
            print(f"{loop:10s} {prof:8s} " + " ".join(f"{thr[m]:12.0f} img/s" for m in MODELS)
                  + f"  {thr['convnext_t'] / thr['resnet50']:7.3f}  "
                  f"{thr['inceptionnext_t'] / thr['convnext_t']:7.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
