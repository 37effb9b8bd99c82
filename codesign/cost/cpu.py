"""CPU cost model: cache-aware roofline per op class, eager dispatch overhead per op.

For one op on a CPU with ``P`` cores (all symbols are spec fields, so calibration can fit them
and sweeps can vary them):

    threads   = min(P, ceil(parallel_work / GRAIN))      MAC ops: P (oneDNN/BLAS split all)
    compute_s = (MACs + half_work[class]) / (peak_MAC/s * eff[class] * threads / P)
              + vector_ops / (vector_op/s * eff[class] * threads / P)
    memory_s  = max(traffic / (bw(level) * threads / P),  weights+outputs / peak DRAM bw)
    weight_s  = weight bytes / (DRAM bw * eff[memory])         conv / matmul with weights
    overhead_s = dispatch.eager_overhead_s (eager) | dispatch.graph_overhead_s (fused)
                + cold weight reads + first touch of fresh outputs >= the mmap threshold
                 + weight_s
    latency   = max(compute_s, memory_s) + overhead_s

* ``peak_MAC/s`` = cores x FMA pipes x SIMD lanes (width / element bits) x clock
  (``HardwareSpec.vector_macs_per_s``); ``vector_op/s`` counts one element op per MAC slot.
* ``eff[class]`` is the achieved/peak fraction fitted by ``codesign calibrate``: ``matmul``,
  ``conv.<variant>`` (pointwise, standard, depthwise, grouped, dilated, large_kernel, band, 3d,
  transposed), ``attention``, ``softmax``, ``norm``, ``reduction``, ``pool`` and ``vector``
  (elementwise, resample, cross-channel pooling).
* ``half_work[class]`` is ``cpu.half_work_macs[class]`` (0 when absent): the achieved
  efficiency of a MAC op is ``eff[class] x MACs / (MACs + half_work)``, so small GEMMs and
  convs (small spatial size or channel count, as in the late stages of a network at batch 1)
  run below the class's large-op efficiency; equivalently a fixed per-kernel cost of
  ``half_work / (peak x eff)`` that scales with the hardware rate (monotone in clock/cores).
  Both are fitted by calibration. A 1x1x1 conv3d is a GEMM like a 2-D pointwise conv, so it
  takes the ``conv.pointwise`` efficiency on a CPU (its ``variant`` stays ``3d``).
* ``weight_s``: in a network every layer's weights are cold (a model's weights do not stay in
  the caches between its forward passes) and PyTorch eager on CPU reorders/packs conv and
  linear weights in a pass of its own before the kernel (oneDNN reorder, BLAS packing), so the
  weight read from DRAM does not overlap the compute: it is added, at the achieved DRAM
  bandwidth. Calibration's conv/GEMM microbenchmarks rotate through weight copies larger than
  the last-level cache so they time the same regime.
* ``level`` is the smallest cache that holds the op's working set (inputs + weights + outputs):
  all cores' L2 (``cpu.l2_bytes * cores``) at ``cpu.l2_bandwidth_bytes_per_s``, the shared L3 at
  ``cpu.l3_bandwidth_bytes_per_s``, else DRAM at ``dram_bandwidth_bytes_per_s * eff[memory]``.
  In eager execution an op's inputs were written by the op just before, so they sit in the
  level that holds them; that is the cache-aware part. The second term is the compulsory
  DRAM traffic of the roofline floor (weights read and outputs stored once at peak bandwidth).
* ``GRAIN`` = 32768 elements is ATen's ``at::internal::GRAIN_SIZE``: ``at::parallel_for`` only
  splits elementwise/reduction loops into chunks of at least that size, so small vector ops run
  on one core (ATen source, ``aten/src/ATen/Parallel.h``).
* Traffic counts each tensor once; a data-movement op (copy, cat, pad, permute) is memory
  only. Attention (fused SDPA) streams Q, K, V and the output once (flash-style tiling) and
  does its softmax on the vector path.

Known limits: the size dependence of efficiency is one curve in MACs per class (no separate
M/N/K shape terms); weights are assumed cold, which overestimates ops of a model small enough
to stay in the LLC; no NUMA, no SMT, no frequency scaling; fp16/bf16/int8 use the
SIMD lane count of their element size.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import AttentionAttrs, Op, OpKind
from .base import DTYPE_BYTES, CostContext, OpCost, op_bytes, registrar
from .registry import REGISTRY

GRAIN = 32768                     # at::internal::GRAIN_SIZE (elements per parallel chunk)
SOFTMAX_OPS_PER_SCORE = 5         # max, subtract, exp, sum, divide per attention score

#: efficiency key per vector op kind
VECTOR_KEY = {
    OpKind.SOFTMAX: "softmax", OpKind.NORM: "norm", OpKind.REDUCTION: "reduction",
    OpKind.POOL: "pool", OpKind.ELEMENTWISE: "vector", OpKind.RESAMPLE: "vector",
    OpKind.CROSS_CHANNEL_POOL: "vector",
}


#: elementwise ops that evaluate a transcendental function per element (exp, tanh, erf, ...):
#: an order of magnitude more work per element than add/mul/relu on a SIMD unit
TRANSCENDENTAL = frozenset({
    "tanh", "exp", "exp2", "expm1", "log", "log1p", "log2", "sigmoid", "gelu", "silu", "erf",
    "erfc", "erfinv", "mish", "softplus", "elu", "selu", "celu", "pow", "sin", "cos", "tan",
    "atan", "asin", "acos", "sinh", "cosh", "logit", "tanh_backward", "sigmoid_backward",
    "gelu_backward", "silu_backward", "mish_backward", "softplus_backward", "elu_backward",
})


def _aten_name(op: Op) -> str:
    return op.aten.split("::")[-1].split(".")[0].rstrip("_")


def efficiency_key(op: Op) -> str:
    """The efficiency-table key that derates ``op``'s compute on a CPU."""
    if op.kind == OpKind.CONV:
        a = op.attrs
        if op.variant == "3d" and all(k == 1 for k in a.kernel) and a.groups == 1:
            return "conv.pointwise"        # a 1x1x1 conv3d is the same GEMM as a 1x1 conv2d
        return "conv." + op.variant
    if op.kind == OpKind.MATMUL:
        return "matmul"
    if op.kind == OpKind.ATTENTION:
        return "attention"
    if op.kind == OpKind.DATA_MOVEMENT:
        return "memory"
    if op.kind == OpKind.ELEMENTWISE and _aten_name(op) in TRANSCENDENTAL:
        return "vector.transcendental"
    return VECTOR_KEY.get(op.kind, "default")


def parallel_work(op: Op) -> int:
    """Elements ``at::parallel_for`` splits for a vector op (its largest tensor)."""
    sizes = [t.numel for t in op.inputs if not t.is_weight] + [t.numel for t in op.outputs]
    return max(sizes) if sizes else 1


def active_threads(op: Op, cores):
    """Cores an op keeps busy: all for MAC ops, ceil(work / GRAIN) capped at cores otherwise."""
    if op.kind in (OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION):
        return np.asarray(cores, dtype=float) * 1.0
    chunks = max(1, math.ceil(parallel_work(op) / GRAIN))
    return np.minimum(np.asarray(cores, dtype=float), float(chunks))


def cache_bandwidth(hw, working_set_bytes: float):
    """Bandwidth of the smallest level holding ``working_set_bytes`` (all cores together)."""
    c = hw.cpu
    l2_total = c.l2_bytes * c.cores
    dram = hw.dram_bandwidth_bytes_per_s * hw.eff("memory")
    return np.where(working_set_bytes <= l2_total, c.l2_bandwidth_bytes_per_s,
                    np.where(working_set_bytes <= l2_total + c.l3_bytes,
                             c.l3_bandwidth_bytes_per_s, dram))


def half_work(hw, key: str):
    """``cpu.half_work_macs[key]``, falling back to the family (``conv``), then 0."""
    table = hw.cpu.half_work_macs
    for k in (key, key.split(".", 1)[0]):
        if k in table:
            return table[k]
    return 0.0


def weight_stream_s(op: Op, hw, weight_bytes):
    """Seconds to read a conv/matmul's (cold) weights from DRAM in a pass of their own."""
    if op.kind not in (OpKind.CONV, OpKind.MATMUL):
        return 0.0
    return weight_bytes / (hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))


def first_touch_s(op: Op, hw, dtype: str):
    """Seconds the kernel spends faulting in fresh output pages: every output of an
    out-of-place op of at least ``cpu.mmap_threshold_bytes`` is a new mmap'ed buffer whose
    pages are zeroed on first write at ``cpu.page_fault_bytes_per_s`` (measured by calibrate)."""
    if op.inplace:
        return 0.0
    c = hw.cpu
    total = 0.0
    for t in op.outputs:
        size = DTYPE_BYTES[dtype] if t.dtype.startswith(("float", "bfloat")) else t.itemsize
        nbytes = float(t.numel * size)
        total = total + np.where(nbytes >= c.mmap_threshold_bytes,
                                 nbytes / c.page_fault_bytes_per_s, 0.0)
    return total


def dispatch_overhead(hw, ctx: CostContext):
    return hw.dispatch.eager_overhead_s if ctx.eager else hw.dispatch.graph_overhead_s


def _cpu_cost(op: Op, hw, ctx: CostContext) -> OpCost:
    """Cache-aware roofline of any modelled op on a CPU (formula in the module docstring)."""
    act, w, out = op_bytes(op, ctx.dtype)
    traffic = act + w + out
    threads = active_threads(op, hw.cpu.cores)
    share = threads / np.asarray(hw.cpu.cores, dtype=float)
    key = efficiency_key(op)
    macs = float(op.macs)
    vector_ops = float(op.vector_ops)
    rate = hw.vector_macs_per_s(ctx.dtype) * share
    compute = 0.0
    unit = "simd"
    if op.kind == OpKind.DATA_MOVEMENT:
        unit = "memory"
    elif macs:
        compute = (macs + half_work(hw, key)) / (rate * hw.eff(key))
        a = op.attrs
        if op.kind == OpKind.ATTENTION and isinstance(a, AttentionAttrs):
            # executed scores: the CPU flash kernel skips masked blocks of causal attention
            scores = a.batch * a.heads * a.q_len * a.kv_len * a.passes
            if a.causal:
                compute = compute / 2.0
                scores = scores / 2.0
            vector_ops = SOFTMAX_OPS_PER_SCORE * scores
            compute = compute + vector_ops / (rate * hw.eff("softmax"))
    else:
        compute = vector_ops / (rate * hw.eff(key))
    memory = traffic / (cache_bandwidth(hw, traffic) * share)
    memory = np.maximum(memory, (w + out) / hw.dram_bandwidth_bytes_per_s)
    spilled = traffic > hw.cpu.l2_bytes * hw.cpu.cores + hw.cpu.l3_bytes
    dram_read = np.where(spilled, act + w, w)
    dram_write = np.where(spilled, out, 0.0)
    return OpCost(
        compute_s=compute, memory_s=memory,
        overhead_s=(dispatch_overhead(hw, ctx) + weight_stream_s(op, hw, w)
                    + first_touch_s(op, hw, ctx.dtype)),
        dram_read_bytes=dram_read, dram_write_bytes=dram_write, onchip_bytes=traffic,
        l2_bytes=traffic, macs=macs, vector_ops=vector_ops, unit=unit,
        note=key,
    )


registrar(REGISTRY, tuple(k for k in OpKind if k is not OpKind.OTHER), "cpu")(_cpu_cost)

__all__ = ["efficiency_key", "active_threads", "cache_bandwidth", "parallel_work", "half_work",
           "weight_stream_s", "GRAIN"]
