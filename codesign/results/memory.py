"""Peak memory footprint of a traced workload on a device (issue 14, item 8).

``memory_footprint(graph, hw, dtype)`` -> :class:`MemoryFootprint`:

* **weights**: every parameter tensor once (``TensorSpec.is_weight``), at the simulated
  dtype's width in inference; in training at 4 bytes (fp32 master weights, as autocast keeps
  them) plus as many bytes again for their gradients.
* **activations (peak)**: the largest total of non-weight tensors live at once when the ops run
  in program order. A tensor (identified by ``tid``; views share it) is live from the op that
  writes it (the start, for graph inputs) to the last op that reads it (the end, for graph
  outputs). This is what a caching allocator must hold at minimum; fragmentation and the
  framework's own buffers come on top.
* **workspace**: the largest scratch buffer one op needs: the im2col matrix of a non-1x1
  convolution lowered to a GEMM (``C_in/groups * k_h * k_w`` x ``H_out * W_out`` per sample
  and group), an upper bound of what cuDNN / oneDNN allocate (they pick smaller algorithms when
  memory is short).
* **optimizer state** in training with an optimizer step: SGD with momentum one fp32 buffer
  per parameter, AdamW two.

``fits`` compares the total with the device's ``dram_bytes``. The figures are lower bounds
for activations (no fragmentation, no framework overhead) and upper bounds for workspace; the
flag is meant for gross mismatches (batch 10^7 on a 40 GB GPU), not for the last gigabyte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codesign.errors import CodesignError

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}
#: fp32 state buffers per parameter kept by each optimizer
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}


@dataclass(frozen=True)
class MemoryFootprint:
    weights_bytes: int
    gradients_bytes: int
    activations_peak_bytes: int
    workspace_bytes: int
    optimizer_bytes: int
    device_bytes: float                 # the device's DRAM capacity (hw.dram_bytes)

    @property
    def total_bytes(self) -> int:
        return (self.weights_bytes + self.gradients_bytes + self.activations_peak_bytes
                + self.workspace_bytes + self.optimizer_bytes)

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.device_bytes

    def summary(self) -> dict:
        return {"weights_bytes": self.weights_bytes, "gradients_bytes": self.gradients_bytes,
                "activations_peak_bytes": self.activations_peak_bytes,
                "workspace_bytes": self.workspace_bytes, "optimizer_bytes": self.optimizer_bytes,
                "peak_memory_bytes": self.total_bytes, "device_memory_bytes": self.device_bytes,
                "fits_memory": self.fits}


def _optimizer(graph) -> str | None:
    for op in graph.ops:
        if op.module.split(".")[0] == "optimizer" or op.module_type in OPTIMIZER_STATES:
            name = op.module_type if op.module_type in OPTIMIZER_STATES else None
            if name:
                return name
            for key in OPTIMIZER_STATES:
                if key in op.module.lower():
                    return key
            return "sgd"
    return None


def _im2col_bytes(op, width: int) -> int:
    a = getattr(op, "attrs", None)
    kernel = getattr(a, "kernel", None)
    if kernel is None or not hasattr(a, "in_channels") or math.prod(kernel) <= 1:
        return 0
    if not op.outputs:
        return 0
    out = op.outputs[0].shape                       # [N, C_out, *spatial]
    spatial = math.prod(out[2:]) if len(out) > 2 else 1
    n = out[0] if out else 1
    return int(n * a.in_channels * math.prod(kernel) * spatial * width)


def memory_footprint(graph, hw: HardwareSpec, dtype: str = "fp32") -> MemoryFootprint:
    """Peak memory of ``graph`` run at ``dtype`` on ``hw`` (see the module docstring)."""
    if dtype not in DTYPE_BYTES:
        raise CodesignError(f"dtype = {dtype!r}; allowed: {', '.join(DTYPE_BYTES)}")
    width = DTYPE_BYTES[dtype]
    training = str(getattr(graph, "phase", "inference")).lower().startswith("train")

    weights: dict[int, int] = {}
    birth: dict[int, int] = {}
    death: dict[int, int] = {}
    size: dict[int, int] = {}
    end = len(graph.ops)
    for t in graph.inputs:
        if not t.is_weight:
            birth.setdefault(t.tid, -1)
            size[t.tid] = t.numel * width
    workspace = 0
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            if t.is_weight:
                weights[t.tid] = t.numel
                continue
            birth.setdefault(t.tid, i)
            size.setdefault(t.tid, t.numel * width)
            death[t.tid] = max(death.get(t.tid, i), i)
        for t in op.outputs:
            if t.is_weight:
                weights[t.tid] = t.numel
                continue
            birth.setdefault(t.tid, i)
            size[t.tid] = max(size.get(t.tid, 0), t.numel * width)
            death.setdefault(t.tid, i)
        workspace = max(workspace, _im2col_bytes(op, width))
    for t in graph.outputs:
        if not t.is_weight and t.tid in birth:
            death[t.tid] = end
    # sweep over op indices: +size at birth, -size after death
    delta = [0] * (end + 3)
    for tid, b in birth.items():
        d = death.get(tid, b)
        delta[b + 1] += size[tid]
        delta[d + 2] -= size[tid]
    live = peak = 0
    for x in delta:
        live += x
        peak = max(peak, live)

    params = sum(weights.values()) or int(getattr(graph, "params_count", 0) or 0)
    if training:
        weights_b, grads_b = params * 4, params * 4
        opt = _optimizer(graph)
        opt_b = params * 4 * OPTIMIZER_STATES.get(opt, 0) if opt else 0
    else:
        weights_b, grads_b, opt_b = params * width, 0, 0
    return MemoryFootprint(int(weights_b), int(grads_b), int(peak), int(workspace), int(opt_b),
                           float(getattr(hw, "dram_bytes", math.inf) or math.inf))


__all__ = ["MemoryFootprint", "memory_footprint"]
